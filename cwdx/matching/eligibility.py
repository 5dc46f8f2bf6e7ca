"""Which case rows the indicators count (``metrics.md`` "Eligible records"), parsed once.

:func:`case_view` parses a case frame once (eligibility and why a row is left out, discharge
dates, eligible procedures); :func:`w09_later_duplicates` gives the rows W09 removes. The
small column helpers here (:func:`text_column`, :func:`datetime_column`, :func:`isin_codes`,
:func:`factorize_strings`, :func:`codes_in`) are shared by :mod:`cwdx.matching.pairing` and
:mod:`cwdx.matching.explain`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx.columns import (
    CASE_ADMIT,
    CASE_DEPT,
    CASE_DISCHARGE,
    CASE_MAIN_DIAG,
    CASE_NO,
    CASE_PROC_SLOTS,
    ORG,
)
from cwdx.reference import Reference
from cwdx.values import (
    DATE_MAX,
    DATE_MIN,
    arrow_strings,
    discharged_before_admission,
    typed_column,
    valid_org_code_mask,
)

#: Why a case row is left out of the indicators, by bit of ``CaseView.left_out`` (explain text).
LEFT_OUT_REASONS: tuple[str, ...] = (
    "出院主要诊断编码为空或不在国临版2.0内（W03）",
    "与先导入的病案重复（W09）",
    "出院时间为空、无效或早于入院时间",
    "出院科别为空或无效",
)


# -- small helpers -----------------------------------------------------------------------------


def text_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """A template column as an object-free string series (NA for empty)."""
    return frame[column].astype("string")


def datetime_column(
    frame: pd.DataFrame, column: str, kind: str, parsed: Mapping[str, pd.Series] | None = None
) -> pd.Series:
    """Typed date/datetime of a canonical column, NaT when invalid or out of range.

    ``parsed`` holds columns of ``frame`` already parsed as ``kind`` by
    :func:`~cwdx.values.typed_column` (the check's table state): they are not parsed again."""
    values = parsed[column] if parsed and column in parsed else typed_column(frame[column], kind)
    in_range = (values >= DATE_MIN) & (values <= DATE_MAX)
    return values.where(in_range.fillna(False).astype(bool))


@lru_cache(maxsize=32)
def _value_set(allowed: frozenset[str]) -> pa.Array:
    """A code set as an Arrow array (built once per set: the ICD lists hold ~35,000 codes)."""
    return pa.array(sorted(allowed), type=pa.large_string())


def isin_codes(series: pd.Series, allowed: frozenset[str] | set[str]) -> pd.Series:
    """Vectorised membership of a string column in a code set (False for NA); fast for the
    ~35,000-code ICD lists because the set's Arrow array is built once."""
    hit = pc.fill_null(
        pc.is_in(arrow_strings(series, large=True), value_set=_value_set(frozenset(allowed))), False
    )
    return pd.Series(hit.to_numpy(zero_copy_only=False), index=series.index, dtype=bool)


def _import_order(frame: pd.DataFrame) -> np.ndarray:
    """Positions of ``frame`` in import order ``(_import, _row)`` (stable)."""
    if "_import" in frame.columns and "_row" in frame.columns:
        keys = pd.DataFrame(
            {"i": frame["_import"].to_numpy(), "r": frame["_row"].to_numpy()},
        )
        return keys.sort_values(["i", "r"], kind="stable").index.to_numpy()
    return np.arange(len(frame))


# -- eligibility -------------------------------------------------------------------------------


def _w09(cases: pd.DataFrame, reference: Reference, admit: pd.Series) -> np.ndarray:
    """Positional W09 flags: later copies of a (组织机构代码, 病案号, 入院时间, 出院主要诊断编码)."""
    return _w09_repeated(cases, reference, admit) >= 0


def _w09_repeated(cases: pd.DataFrame, reference: Reference, admit: pd.Series) -> np.ndarray:
    """For each later copy W09 removes, the position of the row it repeats (the first of its
    group in import order); -1 for every other row."""
    org = text_column(cases, ORG)
    record = text_column(cases, CASE_NO)
    dx = text_column(cases, CASE_MAIN_DIAG)
    limit = reference.column("cases", CASE_NO).max_length or 50
    valid = (
        valid_org_code_mask(org).to_numpy(dtype=bool)
        & (record.str.len() <= limit).fillna(False).to_numpy(dtype=bool)
        & admit.notna().to_numpy(dtype=bool)
        & isin_codes(dx, reference.icd10).to_numpy(dtype=bool)
    )
    result = np.full(len(cases), -1, dtype="int64")
    if valid.sum() < 2:
        return result
    order = _import_order(cases)
    order = order[valid[order]]  # only fully valid keys form groups
    keys = pd.DataFrame(
        {
            "o": factorize_strings(arrow_strings(org, large=True))[0][order],
            "r": factorize_strings(arrow_strings(record, large=True))[0][order],
            "a": admit.to_numpy(dtype="datetime64[ns]").view("int64")[order],
            "d": factorize_strings(arrow_strings(dx, large=True))[0][order],
        }
    )
    group = keys.groupby(["o", "r", "a", "d"], sort=False).ngroup().to_numpy()
    _, first_index = np.unique(group, return_index=True)  # ngroup numbers groups 0..n-1
    later = keys.duplicated(keep="first").to_numpy()
    result[order[later]] = order[first_index][group[later]]
    return result


def factorize_strings(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for null) and the distinct values (object array) of a string array,
    built in Arrow."""
    encoded = pc.dictionary_encode(array)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype("int64")
    return codes, np.array(encoded.dictionary.to_pylist(), dtype=object)


def codes_in(values: pa.Array, dictionary: pa.Array) -> np.ndarray:
    """Index of each value in ``dictionary`` (-1 when absent or null)."""
    found = pc.index_in(values, value_set=dictionary)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype("int64")


def w09_later_duplicates(cases: pd.DataFrame, reference: Reference) -> pd.Series:
    """Rows W09 removes: later copies of (组织机构代码, 病案号, 入院时间, 出院主要诊断编码).

    A row joins a group only when all four key values are filled and valid; the first row of a
    group in import order ``(_import, _row)`` is kept (False), every later one is True.
    """
    admit = datetime_column(cases, CASE_ADMIT, "datetime")
    return pd.Series(_w09(cases, reference, admit), index=cases.index, name="W09")


def w09_repeated_rows(
    cases: pd.DataFrame, reference: Reference, parsed: Mapping[str, pd.Series] | None = None
) -> pd.Series:
    """For each row W09 removes (see :func:`w09_later_duplicates`), the position
    (``cases.iloc``) of the kept row it repeats; -1 for every other row. ``parsed``: datetime
    columns already parsed (see :func:`datetime_column`)."""
    admit = datetime_column(cases, CASE_ADMIT, "datetime", parsed)
    return pd.Series(_w09_repeated(cases, reference, admit), index=cases.index, name="W09")


@dataclass(frozen=True)
class CaseView:
    """What matching needs of a case frame, parsed once (see :func:`case_view`).

    Arrays are positional (``cases.iloc`` order).
    """

    #: eligible rows (``metrics.md``)
    eligible: np.ndarray
    #: why a row is not eligible: a bit mask of :data:`LEFT_OUT_REASONS` (0 when eligible)
    left_out: np.ndarray
    #: 组织机构代码 / 出院科别 as Arrow string arrays (nulls for empty)
    org: pa.Array
    dept: pa.Array
    #: date(出院时间) as ``datetime64[ns]`` (NaT when empty or invalid)
    day: np.ndarray
    #: date(入院时间) as ``datetime64[ns]`` (NaT when empty or invalid)
    admit_day: np.ndarray
    #: :func:`eligible_procedures`
    procedures: pd.DataFrame


def case_view(
    cases: pd.DataFrame,
    reference: Reference,
    repeated: np.ndarray | None = None,
    parsed: Mapping[str, pd.Series] | None = None,
) -> CaseView:
    """Parse the case frame once for :func:`credited`, :func:`match_staff` and :func:`explain`.

    ``repeated`` is :func:`w09_repeated_rows` of ``cases`` as positions, when the caller (the
    W09 rule) has already worked it out; otherwise the W09 grouping runs here. ``parsed``:
    datetime columns already parsed (see :func:`datetime_column`)."""
    admit = datetime_column(cases, CASE_ADMIT, "datetime", parsed)
    admit_day = admit.dt.normalize()
    discharge = datetime_column(cases, CASE_DISCHARGE, "datetime", parsed).dt.normalize()
    discharge_ok = discharge.notna().to_numpy(dtype=bool) & ~discharged_before_admission(
        discharge, admit_day
    )
    reasons = (
        ~isin_codes(text_column(cases, CASE_MAIN_DIAG), reference.icd10).to_numpy(dtype=bool),
        _w09(cases, reference, admit) if repeated is None else repeated >= 0,
        ~discharge_ok,
        ~isin_codes(text_column(cases, CASE_DEPT), reference.domain_codes("RC023")).to_numpy(
            dtype=bool
        ),
    )
    left_out = np.zeros(len(cases), dtype="int8")
    for bit, flagged in enumerate(reasons):
        left_out |= flagged.astype("int8") << bit
    eligible = left_out == 0
    return CaseView(
        eligible=eligible,
        left_out=left_out,
        org=arrow_strings(text_column(cases, ORG), large=True),
        dept=arrow_strings(text_column(cases, CASE_DEPT), large=True),
        day=discharge.to_numpy(dtype="datetime64[ns]"),
        admit_day=admit_day.to_numpy(dtype="datetime64[ns]"),
        procedures=procedures_of(cases, reference, eligible),
    )


def resolve_eligibility(
    cases: pd.DataFrame,
    reference: Reference,
    view: CaseView | None,
    eligible: pd.Series | None,
) -> tuple[CaseView, np.ndarray, pd.DataFrame]:
    """``(view, eligible rows, their procedures)``: the view is parsed when not given, and
    ``eligible`` (when given) overrides its eligibility."""
    if view is None:
        view = case_view(cases, reference)
    if eligible is None:
        return view, view.eligible, view.procedures
    elig = np.asarray(eligible, dtype=bool)
    return view, elig, procedures_of(cases, reference, elig)


def eligible_cases(cases: pd.DataFrame, reference: Reference) -> pd.Series:
    """Rows the indicators count (``metrics.md`` "Eligible records").

    False for a later W09 duplicate, for an empty or non-国临版2.0 出院主要诊断编码 (W03), and
    for an empty or invalid 出院时间 (not a date-time in 1900..2100, or a date before the date
    of 入院时间) or 出院科别 (not in RC023).
    """
    view = case_view(cases, reference)
    return pd.Series(view.eligible, index=cases.index, name="eligible")


def _empty_procedures() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_pos": pd.Series(dtype="int64"),
            "slot": pd.Series(dtype="int64"),
            "code": pd.Series(dtype="string"),
            "level": pd.Series(dtype="string"),
            "surgeon": pd.Series(dtype="string"),
            "assistant": pd.Series(dtype="string"),
        }
    )


def procedures_of(cases: pd.DataFrame, reference: Reference, eligible: np.ndarray) -> pd.DataFrame:
    parts = []
    for slot, (code_col, level_col, surgeon_col, assistant_col) in enumerate(CASE_PROC_SLOTS):
        code = text_column(cases, code_col)
        mask = eligible & isin_codes(code, reference.icd9).to_numpy(dtype=bool)
        if not mask.any():
            continue
        pos = np.flatnonzero(mask)
        parts.append(
            pd.DataFrame(
                {
                    "case_pos": pos,
                    "slot": slot,
                    "code": code.take(pos).reset_index(drop=True),
                    "level": text_column(cases, level_col).take(pos).reset_index(drop=True),
                    "surgeon": text_column(cases, surgeon_col).take(pos).reset_index(drop=True),
                    "assistant": text_column(cases, assistant_col).take(pos).reset_index(drop=True),
                }
            )
        )
    if not parts:
        return _empty_procedures()
    out = pd.concat(parts, ignore_index=True)
    for column in ("code", "level", "surgeon", "assistant"):
        out[column] = out[column].astype("string")
    return out.sort_values(["case_pos", "slot"], kind="stable", ignore_index=True)


def eligible_procedures(
    cases: pd.DataFrame, reference: Reference, eligible: pd.Series | None = None
) -> pd.DataFrame:
    """Eligible procedures, one row per filled slot whose code is in 国临版3.0 (eligible rows only).

    Columns: ``case_pos``, ``slot``, ``code``, ``level``, ``surgeon``, ``assistant``.
    """
    if eligible is None:
        return case_view(cases, reference).procedures
    return procedures_of(cases, reference, np.asarray(eligible, dtype=bool))
