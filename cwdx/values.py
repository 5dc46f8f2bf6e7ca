"""Cell normalisation: emptiness, NFKC, names, codes, RC023, ICD, numbers and dates.

Everything the reader stores, the check compares and the indicators use goes through here, so
every part agrees on what a cell *is* (``templates.md`` "Types", "Emptiness", "Normalisation").

Two layers:

- scalar functions (:func:`normalise_value`, :func:`canonical_date`, :func:`canonical_rc023`,
  …) that define the rules for one value;
- :func:`normalise_array` / :func:`normalise_series`, which apply them to a whole column over its
  *unique* values (Arrow dictionary encoding), with Arrow-vectorised fast paths for the common
  already-canonical forms, and count what changed for the import report.

A filled cell is stored as its canonical string when it reads as its type; otherwise as its raw
text after NFKC + strip, so the check can report the raw value as a format error.
:func:`typed_column` parses canonical strings back (vectorised) for the check and indicators.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx.reference import ColumnSpec, Reference, load_reference

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


def valid_org_code_mask(series: pd.Series) -> pd.Series:
    """Vectorised :func:`is_valid_org_code` (False for NA)."""
    return _pattern_mask(series, ORG_CODE_PATTERN)


def valid_license_code_mask(series: pd.Series) -> pd.Series:
    """Vectorised :func:`is_valid_license_code` (False for NA)."""
    return _pattern_mask(series, LICENSE_CODE_PATTERN)


def arrow_strings(series: pd.Series, *, large: bool = False) -> pa.Array:
    """A Series of strings (any string dtype or object, NA/None/NaN for missing) as one Arrow
    ``string`` array (``large_string`` with ``large=True``, what matching's joins use)."""
    type_ = pa.large_string() if large else pa.string()
    if isinstance(series.dtype, pd.StringDtype):
        try:
            arr = pa.array(series.array)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            return arr.cast(type_)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass
    obj = series.astype(object).where(series.notna(), None)
    return pa.array([None if v is None else str(v) for v in obj], type=type_)


def _pattern_mask(series: pd.Series, pattern: str) -> pd.Series:
    arr = arrow_strings(series)
    mask = pc.fill_null(pc.match_substring_regex(arr, pattern), False)
    return pd.Series(mask.to_numpy(zero_copy_only=False), index=series.index, dtype=bool)


def excel_error_mask(series: pd.Series) -> pd.Series:
    """Vectorised: cells holding an Excel error value (``#N/A``, ``#DIV/0!``…)."""
    arr = arrow_strings(series)
    mask = pc.fill_null(pc.is_in(arr, value_set=pa.array(sorted(EXCEL_ERROR_VALUES))), False)
    return pd.Series(mask.to_numpy(zero_copy_only=False), index=series.index, dtype=bool)


def too_long_mask(series: pd.Series, max_length: int | None) -> pd.Series:
    """Vectorised: filled cells longer than ``max_length`` characters (all False without a limit)."""
    if max_length is None:
        return pd.Series(False, index=series.index)
    return (series.str.len() > max_length).fillna(False).astype(bool)


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

_INT_RE = re.compile(r"^[+-]?\d+(?:\.0*)?$", re.ASCII)
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)


def canonical_int(value: str) -> str | None:
    """``45``, ``+45``, ``045``, ``45.0`` → ``45``; ``None`` if not an integer."""
    if not _INT_RE.match(value):
        return None
    return str(int(value.split(".", 1)[0]))


def canonical_decimal(value: str) -> str | None:
    """A number in its shortest form (``1234.50`` → ``1234.5``, ``12.0`` → ``12``); else ``None``."""
    if not _NUMBER_RE.match(value):
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

_SCALAR_CANONICAL = {
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
    if type_ in _SCALAR_CANONICAL:
        return _SCALAR_CANONICAL[type_](text) or text
    return text.upper() if upper else text


# --------------------------------------------------------------------------------------------
# Whole columns
# --------------------------------------------------------------------------------------------


@dataclass
class NormalisedColumn:
    """A normalised column: Arrow strings (null = empty) and what normalisation changed."""

    values: pa.Array
    #: cells whose stored value differs from the raw text beyond white space and case
    changed: int = 0
    #: up to ``max_examples`` distinct ``(raw, stored)`` pairs, in order of first appearance
    examples: list[tuple[str, str]] = field(default_factory=list)


_FAST_DATETIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
_FAST_DATE = r"^\d{4}-\d{2}-\d{2}$"
_FAST_INT = r"^(0|-?[1-9]\d*)$"
_FAST_DECIMAL = r"^(0|-?[1-9]\d{0,14})(\.\d*[1-9])?$|^-?0\.\d*[1-9]$"


def _valid_canonical_dates(values: pa.Array, fmt: str) -> pa.Array:
    """Which ``YYYY-MM-DD[ HH:MM:SS]``-shaped strings are real dates and times.

    Arrow's strptime rolls impossible values over (``2020-02-30`` → ``2020-03-01``), so the
    parsed components are compared with the written ones.
    """
    shape = _FAST_DATE if fmt == "%Y-%m-%d" else _FAST_DATETIME
    shaped = pc.fill_null(pc.match_substring_regex(values, shape), False)
    text = pc.if_else(shaped, values, pa.scalar(None, pa.string()))
    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)

    def written(start: int, stop: int) -> pa.Array:
        return pc.cast(pc.utf8_slice_codeunits(text, start, stop), pa.int64())

    checks = [(pc.year, 0, 4), (pc.month, 5, 7), (pc.day, 8, 10)]
    if fmt != "%Y-%m-%d":
        checks += [(pc.hour, 11, 13), (pc.minute, 14, 16), (pc.second, 17, 19)]
    ok = pc.is_valid(parsed)
    for component, start, stop in checks:
        ok = pc.and_(ok, pc.equal(component(parsed), written(start, stop)))
    return pc.fill_null(ok, False)


#: The text date forms with an optional ``H:MM[:SS]`` time, for Arrow (RE2 has no back-references,
#: so the separators are captured and compared afterwards).
_VECTOR_DATE = (
    r"^(?P<y>\d{4})(?P<s1>[-/.年])(?P<m>\d{1,2})(?P<s2>[-/.月])(?P<d>\d{1,2})(?P<s3>日?)"
    r"(?:(?:[ T]\s*|\s+)(?P<hh>\d{1,2}):(?P<mi>\d{2})(?::(?P<ss>\d{2}))?)?$"
)
_VECTOR_DATE_8 = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"


def _vector_datetime(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(mask, ``YYYY-MM-DD HH:MM:SS``) for the common text forms, vectorised.

    Covers ``YYYY-M-D`` / ``YYYY/M/D`` / ``YYYY.M.D`` / ``YYYY年M月D日`` (same separator twice) with an
    optional ``H:MM[:SS]``, and ``YYYYMMDD``; other forms (fractional seconds, serial numbers) are
    left to the scalar rules. Impossible dates and times are not in the mask.
    """
    parts = pc.extract_regex(values, _VECTOR_DATE)
    get = {
        name: pc.struct_field(parts, name)
        for name in ("y", "s1", "m", "s2", "d", "s3", "hh", "mi", "ss")
    }
    same_sep = pc.and_(
        pc.equal(get["s1"], get["s2"]),
        pc.and_(pc.not_equal(get["s1"], "年"), pc.equal(get["s3"], "")),
    )
    chinese = pc.and_(
        pc.and_(pc.equal(get["s1"], "年"), pc.equal(get["s2"], "月")), pc.equal(get["s3"], "日")
    )
    ok = pc.fill_null(pc.or_(same_sep, chinese), False)

    def pad(array: pa.Array, default: str) -> pa.Array:
        filled = pc.if_else(pc.equal(array, ""), default, array)
        return pc.utf8_lpad(filled, width=2, padding="0")

    canonical = pc.binary_join_element_wise(get["y"], pad(get["m"], "0"), pad(get["d"], "0"), "-")
    time = pc.binary_join_element_wise(
        pad(get["hh"], "0"), pad(get["mi"], "0"), pad(get["ss"], "0"), ":"
    )
    canonical = pc.binary_join_element_wise(canonical, time, " ")

    eight = pc.extract_regex(values, _VECTOR_DATE_8)
    canonical8 = pc.binary_join_element_wise(
        pc.struct_field(eight, "y"),
        pc.struct_field(eight, "m"),
        pc.struct_field(eight, "d"),
        "-",
    )
    canonical8 = pc.binary_join_element_wise(canonical8, "00:00:00", " ")
    is8 = pc.is_valid(eight)
    canonical = pc.if_else(ok, canonical, pc.if_else(is8, canonical8, pa.scalar(None, pa.string())))
    valid = _valid_canonical_dates(pc.fill_null(canonical, "x"), "%Y-%m-%d %H:%M:%S")
    return pc.and_(pc.fill_null(pc.or_(ok, is8), False), valid), canonical


def _fast_canonical(values: pa.Array, type_: str) -> tuple[pa.Array, pa.Array] | None:
    """(mask, canonical) for the values Arrow can read without Python; the rest go scalar."""
    if type_ in ("datetime", "date"):
        mask, canonical = _vector_datetime(values)
        if type_ == "date":
            canonical = pc.utf8_slice_codeunits(canonical, 0, 10)
        return mask, canonical
    if type_ == "int":
        return pc.match_substring_regex(values, _FAST_INT), values
    if type_ == "decimal":
        return pc.match_substring_regex(values, _FAST_DECIMAL), values
    return None


def _change_key(values: pa.Array) -> pa.Array:
    """Raw/stored comparison key: white space (ASCII and Unicode, e.g. full-width ``\u3000``
    and no-break spaces) removed, lower-case."""
    return pc.utf8_lower(pc.replace_substring_regex(values, r"[\s\p{Z}]+", ""))


def nfkc_strip_array(values: pa.Array) -> pa.Array:
    """Vectorised :func:`normalise_text` on strings: NFKC + strip, null for an empty cell
    (null, blank, white space, ``-``/``－``/``—``)."""
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(values, form="NFKC"))
    empty = pc.is_in(text, value_set=pa.array(sorted(EMPTY_MARKS)))
    return pc.if_else(empty, pa.scalar(None, pa.string()), text)


def normalise_array(
    raw: pa.Array | pa.ChunkedArray,
    type_: str,
    domain: str = "",
    reference: Reference | None = None,
    upper: bool = False,
    max_examples: int = 3,
    quiet_forms: bool = True,
) -> NormalisedColumn:
    """Normalise a column of raw cell strings (nulls allowed) as :func:`normalise_value` does.

    Works on the unique values (Arrow dictionary encoding): Arrow kernels for NFKC, strip, empty
    marks, name white space, upper-case and the already-canonical number/date forms; Python
    only for the remaining distinct values. ``quiet_forms`` keeps two routine forms out of the
    changed count: an Excel date cell in a date column (``2020-01-05 00:00:00`` → ``2020-01-05``)
    and a plain date in a date-time column (``2020-01-05`` → ``2020-01-05 00:00:00``).
    """
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks() if raw.num_chunks != 1 else raw.chunk(0)
    if raw.type != pa.string():
        raw = raw.cast(pa.string())
    encoded = pc.dictionary_encode(raw)
    uniques: pa.Array = encoded.dictionary
    indices = encoded.indices

    text = nfkc_strip_array(uniques)

    if type_ == "name":
        stored = pc.replace_substring_regex(text, r"\s+", "")
    elif type_ == "code":
        ref = reference or load_reference()
        stored = pa.array(
            [None if t is None else normalise_code(t, domain, ref) for t in text.to_pylist()],
            type=pa.string(),
        )
    elif type_ in _SCALAR_CANONICAL:
        mask, canon = _fast_canonical(text, type_)
        mask = pc.fill_null(mask, False)
        # the rest (unusual forms, values that do not read) one distinct value at a time
        rest = pc.and_(pc.invert(mask), pc.is_valid(text))
        slow = _SCALAR_CANONICAL[type_]
        rest_values = [slow(v) or v for v in text.filter(rest).to_pylist()]
        stored = pc.replace_with_mask(
            pc.if_else(mask, canon, pa.scalar(None, pa.string())),
            rest,
            pa.array(rest_values, type=pa.string()),
        )
    else:
        stored = pc.utf8_upper(text) if upper else text

    # Changes beyond white space and case, counted in cells.
    differs = pc.fill_null(pc.not_equal(_change_key(uniques), _change_key(stored)), False)
    if quiet_forms and type_ in ("date", "datetime"):
        # an Excel date cell in a date column, a date-only value in a date-time column
        form = r"^\d{4}-\d{2}-\d{2} 00:00:00$" if type_ == "date" else _FAST_DATE
        quiet = pc.fill_null(pc.match_substring_regex(uniques, form), False)
        differs = pc.and_(differs, pc.invert(quiet))
    changed_ids = np.flatnonzero(differs.to_numpy(zero_copy_only=False))
    changed = 0
    examples: list[tuple[str, str]] = []
    if changed_ids.size:
        ids = pc.fill_null(indices, len(uniques)).to_numpy(zero_copy_only=False)
        counts = np.bincount(ids, minlength=len(uniques) + 1)
        changed = int(counts[changed_ids].sum())
        raw_list = uniques.take(pa.array(changed_ids[:max_examples])).to_pylist()
        new_list = stored.take(pa.array(changed_ids[:max_examples])).to_pylist()
        examples = [(r.strip(), n) for r, n in zip(raw_list, new_list, strict=True)]

    return NormalisedColumn(values=stored.take(indices), changed=changed, examples=examples)


def column_upper(spec: ColumnSpec) -> bool:
    """Whether a template column is stored upper-case (组织机构代码, 执业证书编码)."""
    return spec.name in UPPER_CASE_COLUMNS


def to_string_series(values: pa.Array, index: pd.Index | None = None) -> pd.Series:
    """Arrow strings as a pandas ``string[pyarrow]`` Series (NA for null)."""
    return pd.Series(pd.arrays.ArrowStringArray(values), index=index, copy=False)


def normalise_series(
    series: pd.Series | Iterable[object],
    spec: ColumnSpec,
    reference: Reference | None = None,
) -> pd.Series:
    """Normalise any iterable of raw cells as the template column ``spec`` (``string`` dtype)."""
    raw = pa.array([cell_text(v) for v in series], type=pa.string())
    column = normalise_array(raw, spec.type, spec.domain, reference, upper=column_upper(spec))
    index = series.index if isinstance(series, pd.Series) else None
    return to_string_series(column.values, index)


# --------------------------------------------------------------------------------------------
# Parsing canonical strings
# --------------------------------------------------------------------------------------------

_MIN_NS = "1677-09-22"
_MAX_NS = "2262-04-10"


def typed_column(series: pd.Series, type_: str) -> pd.Series:
    """Parse a stored (canonical) column: ``date``/``datetime`` → ``datetime64[ns]``, ``int`` →
    ``Int64``, ``decimal`` → ``Float64``; anything else unchanged.

    A value that is not canonical parses to NA (NaT): a filled cell with an NA typed value is a
    format error. Dates outside what ``datetime64[ns]`` holds (before 1677-09-22, after
    2262-04-10) also parse to NaT; they are outside 1900–2100 anyway.
    """
    if type_ not in ("date", "datetime", "int", "decimal"):
        return series
    arr = arrow_strings(series)
    if type_ in ("date", "datetime"):
        fmt = "%Y-%m-%d" if type_ == "date" else "%Y-%m-%d %H:%M:%S"
        head = pc.utf8_slice_codeunits(arr, 0, 10)
        in_ns = pc.and_(pc.greater_equal(head, _MIN_NS), pc.less(head, _MAX_NS))
        ok = pc.and_(_valid_canonical_dates(arr, fmt), pc.fill_null(in_ns, False))
        parsed = pc.strptime(
            pc.if_else(ok, arr, pa.scalar(None, pa.string())), format=fmt, unit="s"
        )
        values = parsed.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        return pd.Series(values, index=series.index, dtype="datetime64[ns]")
    if type_ == "int":
        ok = pc.fill_null(pc.match_substring_regex(arr, r"^-?\d{1,18}$"), False)
        parsed = pc.cast(pc.if_else(ok, arr, pa.scalar(None, pa.string())), pa.int64())
        return pd.Series(pd.array(parsed.to_pylist(), dtype="Int64"), index=series.index)
    ok = pc.fill_null(pc.match_substring_regex(arr, _NUMBER_RE.pattern), False)
    parsed = pc.cast(pc.if_else(ok, arr, pa.scalar(None, pa.string())), pa.float64())
    return pd.Series(pd.array(parsed.to_pylist(), dtype="Float64"), index=series.index)
