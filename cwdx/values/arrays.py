"""Vectorised values: whole columns in Arrow.

:func:`normalise_array` / :func:`normalise_series` apply the scalar rules of
:mod:`cwdx.values.cells` to a whole column over its *unique* values (Arrow dictionary
encoding), with Arrow-vectorised fast paths for the common already-canonical forms, and count
what changed for the import report. :func:`typed_column` parses canonical strings back for the
check and the indicators; :func:`arrow_strings` and the ``*_mask`` functions are the shared
Arrow helpers of the check and matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx.reference import ColumnSpec, Reference, load_reference
from cwdx.values.cells import (
    EMPTY_MARKS,
    EXCEL_ERROR_VALUES,
    LICENSE_CODE_PATTERN,
    NUMBER_RE,
    ORG_CODE_PATTERN,
    SCALAR_CANONICAL,
    UPPER_CASE_COLUMNS,
    cell_text,
    normalise_code,
)


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
    mask = pattern_array(arrow_strings(series), pattern)
    return pd.Series(mask, index=series.index, dtype=bool)


def excel_error_mask(series: pd.Series) -> pd.Series:
    """Vectorised: cells holding an Excel error value (``#N/A``, ``#DIV/0!``…)."""
    return pd.Series(excel_error_array(arrow_strings(series)), index=series.index, dtype=bool)


def too_long_mask(series: pd.Series, max_length: int | None) -> pd.Series:
    """Vectorised: filled cells longer than ``max_length`` characters (all False without a limit)."""
    if max_length is None:
        return pd.Series(False, index=series.index)
    return (series.str.len() > max_length).fillna(False).astype(bool)


# The same tests on an Arrow ``string`` array, as NumPy booleans (False for null): what the
# check's table state computes for every column at once.


def pattern_array(arr: pa.Array, pattern: str) -> np.ndarray:
    """Whether each string matches ``pattern`` (RE2, e.g. :data:`ORG_CODE_PATTERN`)."""
    return _booleans(pc.match_substring_regex(arr, pattern))


def excel_error_array(arr: pa.Array) -> np.ndarray:
    """Whether each string is an Excel error value (``#N/A``, ``#DIV/0!``…)."""
    return text_facts(arr, None)[2]


def too_long_array(arr: pa.Array, max_length: int | None) -> np.ndarray:
    """Whether each string is longer than ``max_length`` characters (all False without one)."""
    return text_facts(arr, max_length)[1]


def empty_array(arr: pa.Array) -> np.ndarray:
    """Whether each cell is empty: null, or only white space (what ``str.strip()`` on Arrow
    strings leaves empty)."""
    return text_facts(arr, None)[0]


def code_set_array(arr: pa.Array, codes: frozenset[str]) -> np.ndarray:
    """Whether each string is one of ``codes`` (a domain's codes: ~35,000 for the ICD lists,
    whose Arrow set is built once)."""
    return _booleans(pc.is_in(arr, value_set=_code_set(codes)))


def _may_be_space(first: np.ndarray) -> np.ndarray:
    """Whether a string starting with the byte ``first`` can be all white space: Arrow's
    ``utf8_is_space`` characters start with an ASCII byte up to the space, 0xC2 (U+0085,
    U+00A0), 0xE1 (U+1680), 0xE2 (U+2000–U+205F) or 0xE3 (U+3000)."""
    return (first <= ord(" ")) | (first == 0xC2) | ((first - np.uint8(0xE1)) <= 2)


def text_facts(arr: pa.Array, max_length: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell of a string column: (empty, longer than ``max_length`` characters, an Excel
    error value), read mostly from the strings' byte lengths and first bytes; the Arrow kernels
    (white space, character length, the error values) run only on the few strings that may
    need them."""
    if arr.null_count == len(arr):
        return np.ones(len(arr), dtype=bool), np.zeros(len(arr), bool), np.zeros(len(arr), bool)
    offsets, data = _string_bytes(arr)
    lengths = np.diff(offsets)
    if arr.null_count:
        lengths[~_valid(arr)] = 0
    filled = lengths > 0
    first = np.zeros(len(arr), dtype=np.uint8)
    if len(data):
        first = data[np.minimum(offsets[:-1], len(data) - 1)]
        first[~filled] = 0
    empty = ~filled
    maybe = np.flatnonzero(filled & _may_be_space(first))
    if len(maybe):
        empty[maybe] |= _booleans(pc.utf8_is_space(arr.take(maybe)))
    too_long = np.zeros(len(arr), dtype=bool)
    if max_length is not None:
        maybe = np.flatnonzero(lengths > max_length)  # a character takes at least one byte
        if len(maybe):
            too_long[maybe] = _booleans(pc.greater(pc.utf8_length(arr.take(maybe)), max_length))
    error = np.zeros(len(arr), dtype=bool)
    maybe = np.flatnonzero(first == ord("#"))
    if len(maybe):
        errors = _code_set(EXCEL_ERROR_VALUES)
        error[maybe] = _booleans(pc.is_in(arr.take(maybe), value_set=errors))
    return empty, too_long, error


def _valid(arr: pa.Array) -> np.ndarray:
    """The validity bitmap of an array with nulls, as booleans."""
    bits = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[arr.offset : arr.offset + len(arr)].astype(bool)


def _string_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The offsets (``n + 1``) and the UTF-8 bytes of a ``string`` array, without copying."""
    offsets = np.frombuffer(
        arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4
    )
    data = arr.buffers()[2]
    return offsets, np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(
        0, np.uint8
    )


def _booleans(mask: pa.Array, null: bool = False) -> np.ndarray:
    return pc.fill_null(mask, null).to_numpy(zero_copy_only=False)


@lru_cache(maxsize=64)
def _code_set(codes: frozenset[str]) -> pa.Array:
    return pa.array(sorted(codes), type=pa.string())


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


def _fast_canonical(values: pa.Array, type_: str) -> tuple[pa.Array, pa.Array]:
    """(mask, canonical) for the values of an int/decimal/date/datetime column Arrow can read
    without Python; the rest go scalar."""
    if type_ in ("datetime", "date"):
        mask, canonical = _vector_datetime(values)
        if type_ == "date":
            canonical = pc.utf8_slice_codeunits(canonical, 0, 10)
        return mask, canonical
    if type_ == "int":
        return pc.match_substring_regex(values, _FAST_INT), values
    if type_ == "decimal":
        return pc.match_substring_regex(values, _FAST_DECIMAL), values
    raise ValueError(f"no vectorised form for type {type_!r}")


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
    return normalise_arrays([raw], type_, domain, reference, upper, max_examples, quiet_forms)[0]


def _as_strings(raw: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks() if raw.num_chunks != 1 else raw.chunk(0)
    return raw if raw.type == pa.string() else raw.cast(pa.string())


def normalise_arrays(
    raws: Sequence[pa.Array | pa.ChunkedArray],
    type_: str,
    domain: str = "",
    reference: Reference | None = None,
    upper: bool = False,
    max_examples: int = 3,
    quiet_forms: bool = True,
) -> list[NormalisedColumn]:
    """:func:`normalise_array` of the same template column of many files in one pass: the
    distinct values of all of them are normalised once (the Arrow calls' fixed cost, which
    dominates for files of a few thousand rows, is paid once instead of once per file). Each
    file gets its own values (slices of one array) and its own changed count and examples,
    exactly as :func:`normalise_array` of that file alone gives them."""
    parts = [_as_strings(raw) for raw in raws]
    raw = parts[0] if len(parts) == 1 else pa.concat_arrays(parts)
    # Cells already in a canonical date shape (Excel date cells: most of a date column) are
    # stored without a counted change; only the others are dictionary-encoded and normalised.
    fast = _canonical_date_rows(raw, type_, quiet_forms)
    if fast is None:
        rest, fast_values = raw, pa.array([], pa.string())
    else:
        rest, fast_values = raw.filter(pa.array(~fast)), _stored_canonical_dates(raw, fast, type_)
    encoded = pc.dictionary_encode(rest)
    uniques: pa.Array = encoded.dictionary
    stored = _stored_uniques(uniques, type_, domain, reference, upper)
    # ids into ``fast_values`` then ``stored``; ``len(fast_values) + len(uniques)`` for null
    shift = len(fast_values)
    rest_ids = pc.fill_null(encoded.indices, len(uniques)).to_numpy(zero_copy_only=False) + shift
    if fast is None:
        ids = rest_ids
    else:
        ids = np.empty(len(raw), dtype=np.int64)
        ids[fast] = np.arange(shift)
        ids[~fast] = rest_ids
    null_id = shift + len(uniques)
    values = pa.concat_arrays([fast_values, stored]).take(
        pa.array(ids, mask=ids == null_id) if rest.null_count else pa.array(ids)
    )

    # Changes beyond white space and case, counted in cells.
    differs = pc.fill_null(pc.not_equal(_change_key(uniques), _change_key(stored)), False)
    if quiet_forms and type_ in ("date", "datetime"):
        # an Excel date cell in a date column, a date-only value in a date-time column
        form = r"^\d{4}-\d{2}-\d{2} 00:00:00$" if type_ == "date" else _FAST_DATE
        quiet = pc.fill_null(pc.match_substring_regex(uniques, form), False)
        differs = pc.and_(differs, pc.invert(quiet))
    # the fast cells and null: unchanged
    differs_np = np.concatenate(
        [np.zeros(shift, bool), differs.to_numpy(zero_copy_only=False), [False]]
    )
    any_change = bool(differs_np.any())
    out, start = [], 0
    for part in parts:
        stop = start + len(part)
        column = NormalisedColumn(values=values.slice(start, len(part)))
        if any_change:
            own = ids[start:stop]
            changed_cells = own[differs_np[own]]
            if len(changed_cells):
                column.changed = len(changed_cells)
                # the distinct changed values in order of first appearance in this file
                distinct, first = np.unique(changed_cells, return_index=True)
                shown = pa.array(distinct[np.argsort(first)][:max_examples] - shift)
                raw_list = uniques.take(shown).to_pylist()
                new_list = stored.take(shown).to_pylist()
                column.examples = [(r.strip(), n) for r, n in zip(raw_list, new_list, strict=True)]
        out.append(column)
        start = stop
    return out


def _canonical_date_rows(raw: pa.Array, type_: str, quiet_forms: bool) -> np.ndarray | None:
    """For a date/date-time column, the rows whose raw text is a valid ``YYYY-MM-DD`` or
    ``YYYY-MM-DD HH:MM:SS`` that normalisation stores without a counted change: the stored
    form itself, or (with ``quiet_forms``) a date-only value in a date-time column or a
    midnight date-time in a date column; ``None`` when there are none (or another type).

    A subset of what the general path reads (:func:`canonical_datetimes` accepts only days
    ``datetime64[ns]`` holds), so both paths store these cells alike."""
    if type_ not in ("date", "datetime") or len(raw) == raw.null_count:
        return None
    long = ~np.isnat(canonical_datetimes(raw, with_time=True))
    short = ~np.isnat(canonical_datetimes(raw, with_time=False))
    if type_ == "datetime":
        fast = long | short if quiet_forms else long
    elif quiet_forms and long.any():
        offsets, data = _string_bytes(raw)
        # the time part of a midnight value: characters 11-18 are "00:00:00"
        at = offsets[:-1][long][:, None] + np.array([11, 12, 14, 15, 17, 18])
        midnight = np.zeros(len(raw), dtype=bool)
        midnight[long] = (data[at] == ord("0")).all(axis=1)
        fast = short | midnight
    else:
        fast = short
    return fast if fast.any() else None


def _stored_canonical_dates(raw: pa.Array, fast: np.ndarray, type_: str) -> pa.Array:
    """The stored form of the rows :func:`_canonical_date_rows` picked, in row order."""
    values = raw.filter(pa.array(fast))
    if type_ == "date":
        return pc.utf8_slice_codeunits(values, 0, 10)
    short = pc.equal(pc.binary_length(values), 10)
    return pc.if_else(short, pc.binary_join_element_wise(values, " 00:00:00", ""), values)


def _stored_uniques(
    text_raw: pa.Array, type_: str, domain: str, reference: Reference | None, upper: bool
) -> pa.Array:
    """The stored form of each distinct raw value (null = empty)."""
    text = nfkc_strip_array(text_raw)
    if type_ == "name":
        return pc.replace_substring_regex(text, r"\s+", "")
    if type_ == "code":
        ref = reference or load_reference()
        return pa.array(
            [None if t is None else normalise_code(t, domain, ref) for t in text.to_pylist()],
            type=pa.string(),
        )
    if type_ in SCALAR_CANONICAL:
        mask, canon = _fast_canonical(text, type_)
        mask = pc.fill_null(mask, False)
        # the rest (unusual forms, values that do not read) one distinct value at a time
        rest = pc.and_(pc.invert(mask), pc.is_valid(text))
        slow = SCALAR_CANONICAL[type_]
        rest_values = [slow(v) or v for v in text.filter(rest).to_pylist()]
        return pc.replace_with_mask(
            pc.if_else(mask, canon, pa.scalar(None, pa.string())),
            rest,
            pa.array(rest_values, type=pa.string()),
        )
    return pc.utf8_upper(text) if upper else text


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

#: Dates and date-times must lie in this range (templates.md "Types"); the one copy of it.
DATE_MIN = pd.Timestamp("1900-01-01")
DATE_MAX = pd.Timestamp("2100-12-31 23:59:59.999999")


#: Character positions of the separators of ``YYYY-MM-DD HH:MM:SS`` (the rest are digits).
_SEPARATORS = {4: ord("-"), 7: ord("-"), 10: ord(" "), 13: ord(":"), 16: ord(":")}
#: The days ``datetime64[ns]`` holds (1677-09-22 up to, not including, 2262-04-10) as ``YYYYMMDD``.
_NS_RANGE = (16770922, 22620410)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype="int64")


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of valid proleptic Gregorian dates with years from 1 on."""
    year = year - (month <= 2)
    era = year // 400
    yoe = year - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def canonical_datetimes(arr: pa.Array, with_time: bool) -> np.ndarray:
    """``datetime64[ns]`` of canonical ``YYYY-MM-DD`` (``with_time``: ``YYYY-MM-DD HH:MM:SS``)
    strings, NaT for anything else: another shape, an impossible date or time
    (``2021-02-29``, ``24:00:00``), or a day outside what ``datetime64[ns]`` holds
    (before 1677-09-22, from 2262-04-10 on). Vectorised over the strings' bytes."""
    width = 19 if with_time else 10
    out = np.full(len(arr), np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    if len(arr) == arr.null_count:
        return out.view("datetime64[ns]")
    offsets, data = _string_bytes(arr)
    shaped = np.diff(offsets) == width
    if arr.null_count:
        shaped &= arr.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(shaped)
    # one row of characters per string, all gathered at once
    chars = data[offsets[rows][:, None] + np.arange(width)]
    seps = [at for at in _SEPARATORS if at < width]
    ok = (chars[:, seps] == np.array([_SEPARATORS[at] for at in seps], np.uint8)).all(axis=1)
    digits = np.delete(chars, seps, axis=1) - np.uint8(ord("0"))  # wraps below "0": not <= 9
    ok &= (digits <= 9).all(axis=1)
    # two-digit numbers: century, year in century, month, day (then hour, minute, second)
    pairs = digits[:, 0::2].astype(np.int64) * 10 + digits[:, 1::2]
    year, month, day = pairs[:, 0] * 100 + pairs[:, 1], pairs[:, 2], pairs[:, 3]
    ok &= (month >= 1) & (month <= 12) & (day >= 1)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    ok &= day <= _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ymd = year * 10000 + month * 100 + day
    ok &= (ymd >= _NS_RANGE[0]) & (ymd < _NS_RANGE[1])
    seconds = _days_from_civil(year, month, day) * 86400
    if with_time:
        hour, minute, second = pairs[:, 4], pairs[:, 5], pairs[:, 6]
        ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
        seconds += hour * 3600 + minute * 60 + second
    out[rows[ok]] = seconds[ok] * 1_000_000_000
    return out.view("datetime64[ns]")


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
        values = canonical_datetimes(arr, with_time=type_ == "datetime")
        return pd.Series(values, index=series.index, dtype="datetime64[ns]")
    if type_ == "int":
        ok = pc.fill_null(pc.match_substring_regex(arr, r"^-?\d{1,18}$"), False)
        parsed = pc.cast(pc.if_else(ok, arr, pa.scalar(None, pa.string())), pa.int64())
        return pd.Series(_masked(parsed, "int64"), index=series.index)
    ok = pc.fill_null(pc.match_substring_regex(arr, NUMBER_RE.pattern), False)
    parsed = pc.cast(pc.if_else(ok, arr, pa.scalar(None, pa.string())), pa.float64())
    return pd.Series(_masked(parsed, "float64"), index=series.index)


def discharged_before_admission(discharge: pd.Series, admission: pd.Series) -> np.ndarray:
    """Rows whose date of 出院时间 is earlier than the date of 入院时间 (``datetime64`` series
    from :func:`typed_column`; False where either is NaT): the E15 finding on 出院时间, and a
    reason a case is left out of the indicators (``metrics.md``)."""
    earlier = discharge.dt.normalize() < admission.dt.normalize()
    return earlier.fillna(False).to_numpy(dtype=bool)


def _masked(parsed: pa.Array, dtype: str) -> pd.api.extensions.ExtensionArray:
    """An Arrow int64/float64 array as a pandas ``Int64``/``Float64`` array (NA for null)."""
    missing = parsed.is_null().to_numpy(zero_copy_only=False)
    values = pc.fill_null(parsed, 0).to_numpy(zero_copy_only=False).astype(dtype, copy=True)
    if dtype == "int64":
        return pd.arrays.IntegerArray(values, missing)
    return pd.arrays.FloatingArray(values, missing)
