"""Cell normalisation, one value at a time: emptiness, NFKC, names, codes, RC023, ICD, numbers
and dates (``templates.md`` "Types", "Emptiness", "Normalisation").

These scalar functions (:func:`normalise_value`, :func:`canonical_date`,
:func:`canonical_rc023`, …) define the rules for one value; :mod:`cwdx.values.arrays` applies
them to whole columns.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata

import numpy as np
import pandas as pd

from cwdx.reference import Reference, load_reference

# --------------------------------------------------------------------------------------------
# Emptiness and plain text
# --------------------------------------------------------------------------------------------

#: What an otherwise empty cell may hold, after NFKC and strip (``－`` is NFKC ``-``).
EMPTY_MARKS: frozenset[str] = frozenset({"", "-", "－", "—"})

#: Columns whose values are compared upper-case (templates.md "Normalisation").
UPPER_CASE_COLUMNS: frozenset[str] = frozenset({"组织机构代码", "执业证书编码"})

#: Domains whose codes are coded integers (``1``, ``1.0`` and ``"1"`` are one code).
_NON_INTEGER_DOMAINS: frozenset[str] = frozenset({"RC023", "ICD10-NC2", "ICD9CM3-NC3", "SPECIALTY"})

_WS_RE = re.compile(r"\s+")

#: Excel's error values by their calamine names, as Excel shows them. A cell holding one
#: (``=VLOOKUP(…)`` that found nothing) is a format error in every column, never empty.
EXCEL_ERRORS: dict[str, str] = {
    "NA": "#N/A",
    "Div0": "#DIV/0!",
    "Name": "#NAME?",
    "Null": "#NULL!",
    "Num": "#NUM!",
    "Ref": "#REF!",
    "Value": "#VALUE!",
    "GettingData": "#GETTING_DATA",
}
EXCEL_ERROR_VALUES: frozenset[str] = frozenset(EXCEL_ERRORS.values())


def nfkc_strip(value: str) -> str:
    """Unicode NFKC, then strip leading/trailing white space (incl. ``\\u3000``)."""
    return unicodedata.normalize("NFKC", value).strip()


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and np.isnan(value)


def cell_text(value: object) -> str | None:
    """A Python cell value as the string fastexcel gives for it (``None`` when missing).

    Integral numbers as digits (``123456.0`` → ``123456``), other numbers in their shortest form,
    date-times as ``YYYY-MM-DD HH:MM:SS``, booleans as ``true``/``false``, text unchanged.
    """
    if _is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, _dt.date):
        return value.strftime("%Y-%m-%d 00:00:00")
    return str(value)


def is_empty(value: object) -> bool:
    """Whether a cell counts as empty: missing, blank, white space only, or only ``-``/``－``/``—``."""
    text = cell_text(value)
    return text is None or nfkc_strip(text) in EMPTY_MARKS


def normalise_text(value: object) -> str | None:
    """A text cell: NFKC + strip; ``None`` when empty (numbers read as :func:`cell_text` does)."""
    text = cell_text(value)
    if text is None:
        return None
    text = nfkc_strip(text)
    return None if text in EMPTY_MARKS else text


def normalise_name(value: object) -> str | None:
    """A name cell: NFKC, all white space removed (``张三１``/``张三 1`` → ``张三1``); ``None`` when empty."""
    text = normalise_text(value)
    if text is None:
        return None
    return _WS_RE.sub("", text)


# --------------------------------------------------------------------------------------------
# Codes
# --------------------------------------------------------------------------------------------

_RC023_DIGITS_RE = re.compile(r"^A?(\d{1,6})$", re.ASCII)
_RC023_DOTTED_RE = re.compile(r"^A?(\d{1,2})\.(\d{1,2})$", re.ASCII)
_RC023_THREE_RE = re.compile(r"^A?(\d{1,2})\.(\d{1,2})\.(\d{1,2})$", re.ASCII)
_CODED_INT_RE = re.compile(r"^([+-]?\d+)\.0+$", re.ASCII)
_ICD9_NUMERIC_RE = re.compile(r"^(\d{1,2})(?:\.(\d{1,4}))?$", re.ASCII)


def canonical_rc023(value: str) -> str | None:
    """The canonical RC023 form (``03.04``) of a department code, or ``None`` if it is no RC023 form.

    ``value`` should already be NFKC-stripped and upper-cased. Accepted: ``03.04``, ``A03.04``,
    ``0304``, ``A0304``, digits-only text of 2, 4 or 6 digits split into pairs (``040101`` →
    ``04.01.01``); the number forms Excel makes of a typed code: ``3.04`` → ``03.04``,
    ``3.1`` → ``03.10`` (fraction padded on the right), ``2`` → ``02``; a digits-only value of
    odd length lost its leading zero to Excel and gets it back (``304`` → ``03.04``).
    """
    match = _RC023_DIGITS_RE.match(value)
    if match:
        digits = match.group(1)
        if len(digits) % 2:
            digits = "0" + digits
        return ".".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    match = _RC023_DOTTED_RE.match(value)
    if match:
        return f"{match.group(1).zfill(2)}.{match.group(2).ljust(2, '0')}"
    match = _RC023_THREE_RE.match(value)
    if match:
        return ".".join(part.zfill(2) for part in match.groups())
    return None


def canonical_icd10(value: str, reference: Reference | None = None) -> str:
    """Upper-cased ICD-10 code; a code written without its dagger/asterisk part becomes the full code.

    ``A01.000x003`` → ``A01.000X003+G01*`` when the list holds that code. Unknown codes are
    returned upper-cased (the check reports them).
    """
    ref = reference or load_reference()
    code = value.upper()
    if code in ref.icd10:
        return code
    return ref.icd10_by_base.get(code, code)


def canonical_icd9(value: str, reference: Reference | None = None) -> str:
    """Upper-cased ICD-9-CM-3 code; a code Excel turned into a number gets its zeros back.

    ``0.01`` → ``00.0100`` when ``00.0100`` is in the list and ``0.01`` is not.
    """
    ref = reference or load_reference()
    code = value.upper()
    if code in ref.icd9:
        return code
    match = _ICD9_NUMERIC_RE.match(code)
    if match:
        padded = f"{match.group(1).zfill(2)}.{(match.group(2) or '').ljust(4, '0')}"
        if padded in ref.icd9:
            return padded
    return code


def normalise_code(value: object, domain: str, reference: Reference | None = None) -> str | None:
    """A code cell in ``domain``: NFKC, strip, upper-case, then the domain's canonical form.

    RC023 → :func:`canonical_rc023`; ``ICD10-NC2`` → :func:`canonical_icd10`; ``ICD9CM3-NC3`` →
    :func:`canonical_icd9`; coded-integer domains read ``1.0`` as ``1``. A value that fits no
    form is returned NFKC-stripped and upper-cased; ``None`` when empty.
    """
    text = normalise_text(value)
    if text is None:
        return None
    code = text.upper()
    if domain == "RC023":
        return canonical_rc023(code) or code
    if domain == "ICD10-NC2":
        return canonical_icd10(code, reference)
    if domain == "ICD9CM3-NC3":
        return canonical_icd9(code, reference)
    if domain not in _NON_INTEGER_DOMAINS:
        match = _CODED_INT_RE.match(code)
        if match:
            return str(int(match.group(1)))
    return code


#: The code rules as patterns Python ``re`` and Arrow (RE2, vectorised) both read.
ORG_CODE_PATTERN = r"^[A-Za-z0-9-]{1,30}$"
LICENSE_CODE_PATTERN = r"^[A-Za-z0-9]{1,30}$"
_ORG_CODE_RE = re.compile(ORG_CODE_PATTERN, re.ASCII)
_LICENSE_CODE_RE = re.compile(LICENSE_CODE_PATTERN, re.ASCII)


def is_valid_org_code(value: object) -> bool:
    """组织机构代码: ASCII letters, digits and ``-``, 1–30 characters (compared upper-case)."""
    return isinstance(value, str) and bool(_ORG_CODE_RE.fullmatch(value))


def is_valid_license_code(value: object) -> bool:
    """执业证书编码: ASCII letters and digits, 1–30 characters (compared upper-case)."""
    return isinstance(value, str) and bool(_LICENSE_CODE_RE.fullmatch(value))


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

_INT_RE = re.compile(r"^[+-]?\d+(?:\.0*)?$", re.ASCII)
NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)


def canonical_int(value: str) -> str | None:
    """``45``, ``+45``, ``045``, ``45.0`` → ``45``; ``None`` if not an integer."""
    if not _INT_RE.match(value):
        return None
    return str(int(value.split(".", 1)[0]))


def canonical_decimal(value: str) -> str | None:
    """A number in its shortest form (``1234.50`` → ``1234.5``, ``12.0`` → ``12``); else ``None``."""
    if not NUMBER_RE.match(value):
        return None
    number = float(value)
    if not np.isfinite(number):
        return None
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

_DATE_SEP_RE = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(.*)$", re.ASCII | re.DOTALL)
_DATE_CN_RE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日(.*)$", re.ASCII | re.DOTALL)
_DATE_8_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(.*)$", re.ASCII | re.DOTALL)
_TIME_RE = re.compile(
    r"^(?:[ T]|\s+)\s*(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?$", re.ASCII | re.DOTALL
)
_SERIAL_RE = re.compile(r"^\d+(?:\.\d+)?$", re.ASCII)
_MAX_SERIAL = 2958465  # 9999-12-31
_EXCEL_EPOCH = _dt.date(1899, 12, 30)


def _excel_serial(number: float) -> tuple[_dt.date, float] | None:
    """An Excel (1900 system) serial day number as (day, seconds into the day)."""
    days = int(number)
    if days <= 0 or days > _MAX_SERIAL or days == 60:  # 60 is Excel's 1900-02-29
        return None
    base = _EXCEL_EPOCH if days > 60 else _EXCEL_EPOCH + _dt.timedelta(days=1)
    return base + _dt.timedelta(days=days), (number - days) * 86400


def _parse_time(rest: str) -> float | None:
    """Seconds into the day of a time part (``H:MM`` / ``H:MM:SS[.fff]``) after a space or T."""
    if not rest:
        return 0.0
    match = _TIME_RE.match(rest)
    if not match:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour * 3600 + minute * 60 + second + float(match.group(4) or 0)


def _parse_date_time(value: str) -> tuple[_dt.date, float] | None:
    """(day, seconds into the day) of one NFKC-stripped cell, or ``None`` if it does not read."""
    match = _DATE_SEP_RE.match(value)
    if match:
        year, _, month, day, rest = match.groups()
    else:
        match = _DATE_CN_RE.match(value)
        if match:
            year, month, day, rest = match.groups()
        else:
            match = _DATE_8_RE.match(value)
            if match and not match.group(4)[:1].isdigit() and not match.group(4).startswith("."):
                year, month, day, rest = match.groups()
            elif _SERIAL_RE.match(value):
                return _excel_serial(float(value))
            else:
                return None
    seconds = _parse_time(rest)
    if seconds is None:
        return None
    try:
        return _dt.date(int(year), int(month), int(day)), seconds
    except ValueError:
        return None


def parse_datetime_text(value: str) -> _dt.datetime | None:
    """Read one NFKC-stripped cell as a date-time per the Types table; ``None`` if it does not read.

    Text ``YYYY-M-D`` / ``YYYY/M/D`` / ``YYYY.M.D`` / ``YYYYMMDD`` / ``YYYY年M月D日``, each with an
    optional time ``H:MM`` or ``H:MM:SS`` after a space or ``T``; a number that is an 8-digit
    integer as ``YYYYMMDD``; any other positive number as an Excel serial date (fraction = time).
    The time is rounded to the second (Excel stores ``08:30`` as ``08:29:59.999…``).
    """
    parsed = _parse_date_time(value)
    if parsed is None:
        return None
    day, seconds = parsed
    try:
        return _dt.datetime(day.year, day.month, day.day) + _dt.timedelta(seconds=round(seconds))
    except OverflowError:
        return None


def _fmt_date(moment: _dt.date) -> str:
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"


def canonical_date(value: str) -> str | None:
    """``YYYY-MM-DD`` of a date cell (a time part is dropped), or ``None`` if it does not read."""
    parsed = _parse_date_time(value)
    return None if parsed is None else _fmt_date(parsed[0])


def canonical_datetime(value: str) -> str | None:
    """``YYYY-MM-DD HH:MM:SS`` of a date-time cell (date only = midnight), or ``None``."""
    moment = parse_datetime_text(value)
    if moment is None:
        return None
    return f"{_fmt_date(moment)} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"


# --------------------------------------------------------------------------------------------
# One value of a template column
# --------------------------------------------------------------------------------------------

SCALAR_CANONICAL = {
    "int": canonical_int,
    "decimal": canonical_decimal,
    "date": canonical_date,
    "datetime": canonical_datetime,
}


def normalise_value(
    value: object,
    type_: str,
    domain: str = "",
    reference: Reference | None = None,
    upper: bool = False,
) -> str | None:
    """The stored form of one cell of a column of ``type_`` (text/name/code/int/decimal/date/datetime).

    ``None`` when empty; the canonical string when the cell reads as its type; otherwise the raw
    text after NFKC + strip. ``upper`` upper-cases text (组织机构代码, 执业证书编码).
    """
    if type_ == "name":
        return normalise_name(value)
    if type_ == "code":
        return normalise_code(value, domain, reference)
    text = normalise_text(value)
    if text is None:
        return None
    if type_ in SCALAR_CANONICAL:
        return SCALAR_CANONICAL[type_](text) or text
    return text.upper() if upper else text
