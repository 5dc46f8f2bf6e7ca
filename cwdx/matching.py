"""Matching applicants to case rows (``metrics.md`` "Eligible records" and "Matching").

Shared by the check (W09 / W11 / W12 and the explain text of the 申报人员反馈表) and by the
indicators. Every function is pure and vectorised over the stored frames of ``DESIGN.md``
(template columns as normalised strings, bookkeeping ``_file``, ``_row``, ``_import``, ``_org``).

What each public function returns
---------------------------------

``w09_later_duplicates(cases, reference) -> Series[bool]`` (aligned to ``cases.index``)
    True for every W09 duplicate that is *not* the first of its group in import order
    ``(_import, _row)``; rows whose key (组织机构代码, 病案号, 入院时间, 出院主要诊断编码) is not
    all filled and valid never join a group.
``eligible_cases(cases, reference) -> Series[bool]`` (aligned to ``cases.index``)
    True when the row counts for the indicators: not a later W09 duplicate, 出院主要诊断编码 in
    国临版2.0, 出院时间 and 出院科别 filled and valid.
``case_view(cases, reference) -> CaseView``
    Everything above parsed once (eligibility, discharge dates, eligible procedures). Every
    function below takes an optional ``view=`` so a caller that needs several of them (W12 +
    explain, the indicators) parses the case frame only once.
``eligible_procedures(cases, reference, eligible=None) -> DataFrame``
    One row per eligible procedure (code in 国临版3.0, in an eligible row): ``case_pos``
    (positional index into ``cases``), ``slot`` (0 = 主要手术操作, 1..5 = 其他手术操作k),
    ``code``, ``level`` (RC029 code or NA), ``surgeon``, ``assistant`` (names or NA).
``department_known(cases, staff) -> Series[bool]`` (aligned to ``staff.index``)
    True when the applicant's 所在科室 is the 出院科别 of some case row (any row, eligible or
    not) of the same 组织机构代码: W11 flags applicants with a valid org and department where
    this is False.
``credited(cases, staff, reference, eligible=None, view=None) -> DataFrame``
    The (applicant, case row, role) pairs the indicators use: ``staff_pos``, ``case_pos``
    (positional indexes into ``staff`` / ``cases``), ``role`` (categorical, one of
    :data:`ROLES`), ``slot`` (procedure slot for 术者/Ⅰ助, -1 otherwise), ``code`` and
    ``level`` (procedure code and 级别 for 术者/Ⅰ助, NA otherwise). A row where the name holds
    two roles gives one pair per role; a procedure gives one pair per slot. Sorted by staff,
    case, role (ROLES order), slot. ``credited_lean`` is the same in integer form.
``match_staff(cases, staff, reference, pairs=None, view=None) -> DataFrame``
    Aligned to ``staff.index``: ``matched`` (bool: W12 flags applicants without error findings
    where it is False), ``M``, ``P``, ``A``, ``N``, ``Q`` (int counts of ``metrics.md``;
    M = distinct rows).
``explain(cases, staff, reference, counts=None, eligible=None, view=None) -> Series[str]``
    Aligned to ``staff.index``: the nearest-miss line of ``metrics.md`` "Explain" for
    applicants that are unmatched or whose main count (|M| for 医师, |N| for 护士) is 0;
    ``""`` for everybody else.

Typical use (W12)::

    view = case_view(cases, reference)
    counts = match_staff(cases, staff, reference, view=view)
    lines = explain(cases, staff, reference, counts, view=view)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx.reference import Reference
from cwdx.values import DATE_MAX, DATE_MIN, typed_column, valid_org_code_mask

# -- column names ----------------------------------------------------------------------------

ORG = "组织机构代码"
RECORD_NO = "病案号"
ADMIT = "入院时间"
DISCHARGE = "出院时间"
DEPT = "出院科别"
MAIN_DX = "出院主要诊断编码"
STAFF_NAME = "姓名"
STAFF_DEPT = "所在科室"
STAFF_KIND = "人员类别"
START = "现专业技术职务聘任时间"
END = "提取工作量数据截止时间"

PHYSICIAN = "1"
NURSE = "2"

#: Name columns of a case row per 人员类别.
PHYSICIAN_ROLES: tuple[str, ...] = ("主（副主）任医师", "主治医师", "住院医师")
NURSE_ROLES: tuple[str, ...] = ("责任护士", "质控护师")
SURGEON = "术者"
ASSISTANT = "Ⅰ助"
#: Every role a credited pair can carry.
ROLES: tuple[str, ...] = (*PHYSICIAN_ROLES, SURGEON, ASSISTANT, *NURSE_ROLES)


#: (编码, 级别, 术者, Ⅰ助) column names of slot 0 (主要手术操作) and slots 1..5 (其他手术操作k).
SLOTS: tuple[tuple[str, str, str, str], ...] = (
    ("主要手术操作编码", "主要手术操作级别", "主要手术操作术者", "主要手术操作Ⅰ助"),
    *(
        (
            f"其他手术操作编码{k}",
            f"其他手术操作级别{k}",
            f"其他手术操作术者{k}",
            f"其他手术操作Ⅰ助{k}",
        )
        for k in range(1, 6)
    ),
)

#: Why a case row is left out of the indicators, by bit of ``CaseView.left_out`` (explain text).
LEFT_OUT_REASONS: tuple[str, ...] = (
    "出院主要诊断编码为空或不在国临版2.0内（W03）",
    "与先导入的病案重复（W09）",
    "出院时间为空、无效或早于入院时间",
    "出院科别为空或无效",
)
#: Largest key space joined through dense lookup tables (2 × 8 bytes per key: 64 MB); larger
#: key spaces use a binary search over the applicants' sorted keys.
DENSE_JOIN_LIMIT = 4_000_000


# -- small helpers -----------------------------------------------------------------------------


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A template column as an object-free string series (NA for empty)."""
    return frame[column].astype("string")


def _datetime(frame: pd.DataFrame, column: str, kind: str) -> pd.Series:
    """Typed date/datetime of a canonical column, NaT when invalid or out of range."""
    values = typed_column(frame[column], kind)
    in_range = (values >= DATE_MIN) & (values <= DATE_MAX)
    return values.where(in_range.fillna(False).astype(bool))


@lru_cache(maxsize=32)
def _value_set(allowed: frozenset[str]) -> pa.Array:
    """A code set as an Arrow array (built once per set: the ICD lists hold ~35,000 codes)."""
    return pa.array(sorted(allowed), type=pa.large_string())


def arrow_strings(series: pd.Series) -> pa.Array:
    """A string column as one Arrow ``large_string`` array (nulls for NA)."""
    array = pa.array(series.astype("string").array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def isin_codes(series: pd.Series, allowed: frozenset[str] | set[str]) -> pd.Series:
    """Vectorised membership of a string column in a code set (False for NA); fast for the
    ~35,000-code ICD lists because the set's Arrow array is built once."""
    hit = pc.fill_null(
        pc.is_in(arrow_strings(series), value_set=_value_set(frozenset(allowed))), False
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
    org = _text(cases, ORG)
    record = _text(cases, RECORD_NO)
    dx = _text(cases, MAIN_DX)
    limit = reference.column("cases", RECORD_NO).max_length or 50
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
            "o": factorize_strings(arrow_strings(org))[0][order],
            "r": factorize_strings(arrow_strings(record))[0][order],
            "a": admit.to_numpy(dtype="datetime64[ns]").view("int64")[order],
            "d": factorize_strings(arrow_strings(dx))[0][order],
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


def w09_later_duplicates(cases: pd.DataFrame, reference: Reference) -> pd.Series:
    """Rows W09 removes: later copies of (组织机构代码, 病案号, 入院时间, 出院主要诊断编码).

    A row joins a group only when all four key values are filled and valid; the first row of a
    group in import order ``(_import, _row)`` is kept (False), every later one is True.
    """
    admit = _datetime(cases, ADMIT, "datetime")
    return pd.Series(_w09(cases, reference, admit), index=cases.index, name="W09")


def w09_repeated_rows(cases: pd.DataFrame, reference: Reference) -> pd.Series:
    """For each row W09 removes (see :func:`w09_later_duplicates`), the position
    (``cases.iloc``) of the kept row it repeats; -1 for every other row."""
    admit = _datetime(cases, ADMIT, "datetime")
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


def case_view(cases: pd.DataFrame, reference: Reference) -> CaseView:
    """Parse the case frame once for :func:`credited`, :func:`match_staff` and :func:`explain`."""
    admit = _datetime(cases, ADMIT, "datetime")
    admit_day = admit.dt.normalize()
    discharge = _datetime(cases, DISCHARGE, "datetime").dt.normalize()
    discharge_ok = discharge.notna().to_numpy(dtype=bool) & ~(discharge < admit_day).fillna(
        False
    ).to_numpy(dtype=bool)
    reasons = (
        ~isin_codes(_text(cases, MAIN_DX), reference.icd10).to_numpy(dtype=bool),
        _w09(cases, reference, admit),
        ~discharge_ok,
        ~isin_codes(_text(cases, DEPT), reference.domain_codes("RC023")).to_numpy(dtype=bool),
    )
    left_out = np.zeros(len(cases), dtype="int8")
    for bit, flagged in enumerate(reasons):
        left_out |= flagged.astype("int8") << bit
    eligible = left_out == 0
    return CaseView(
        eligible=eligible,
        left_out=left_out,
        org=arrow_strings(_text(cases, ORG)),
        dept=arrow_strings(_text(cases, DEPT)),
        day=discharge.to_numpy(dtype="datetime64[ns]"),
        admit_day=admit_day.to_numpy(dtype="datetime64[ns]"),
        procedures=_procedures(cases, reference, eligible),
    )


def _eligibility(
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
    return view, elig, _procedures(cases, reference, elig)


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


def _procedures(cases: pd.DataFrame, reference: Reference, eligible: np.ndarray) -> pd.DataFrame:
    parts = []
    for slot, (code_col, level_col, surgeon_col, assistant_col) in enumerate(SLOTS):
        code = _text(cases, code_col)
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
                    "level": _text(cases, level_col).take(pos).reset_index(drop=True),
                    "surgeon": _text(cases, surgeon_col).take(pos).reset_index(drop=True),
                    "assistant": _text(cases, assistant_col).take(pos).reset_index(drop=True),
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
    return _procedures(cases, reference, np.asarray(eligible, dtype=bool))


def department_known(cases: pd.DataFrame, staff: pd.DataFrame) -> pd.Series:
    """Whether each applicant's 所在科室 occurs as 出院科别 of a case row of its 组织机构代码."""
    seen = pd.DataFrame({"o": _text(cases, ORG), "d": _text(cases, DEPT)}).dropna()
    seen = seen.drop_duplicates()
    keys = pd.DataFrame(
        {"o": _text(staff, ORG).to_numpy(), "d": _text(staff, STAFF_DEPT).to_numpy()}
    )
    merged = keys.merge(seen.assign(hit=True), on=["o", "d"], how="left")
    return pd.Series(
        merged["hit"].fillna(False).astype(bool).to_numpy(), index=staff.index, name="W11"
    )


# -- matching ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffKeys:
    """The matching keys of the applicants whose keys are all valid."""

    #: columns staff_pos, org, dept, name, kind, start, end (one row per valid applicant)
    frame: pd.DataFrame
    #: per staff position: whether its keys are valid
    valid: np.ndarray


def staff_keys(staff: pd.DataFrame, reference: Reference) -> StaffKeys:
    """Valid matching keys: org, normalised name, RC023 department, 人员类别 1|2, both dates."""
    org = _text(staff, ORG)
    name = _text(staff, STAFF_NAME)
    dept = _text(staff, STAFF_DEPT)
    kind = _text(staff, STAFF_KIND)
    start = _datetime(staff, START, "date").dt.normalize()
    end = _datetime(staff, END, "date").dt.normalize()
    valid = (
        valid_org_code_mask(org)
        & name.notna()
        & isin_codes(dept, reference.domain_codes("RC023"))
        & isin_codes(kind, {PHYSICIAN, NURSE})
        & start.notna()
        & end.notna()
    ).to_numpy(dtype=bool)
    pos = np.flatnonzero(valid)
    frame = pd.DataFrame(
        {
            "staff_pos": pos,
            "org": org.to_numpy()[pos],
            "dept": dept.to_numpy()[pos],
            "name": name.to_numpy()[pos],
            "kind": kind.to_numpy()[pos],
            "start": start.to_numpy(dtype="datetime64[ns]")[pos],
            "end": end.to_numpy(dtype="datetime64[ns]")[pos],
        }
    )
    for column in ("org", "dept", "name", "kind"):
        frame[column] = frame[column].astype("string")
    return StaffKeys(frame, valid)


_ROLE_TYPE = pd.CategoricalDtype(list(ROLES))


def _empty_pairs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "staff_pos": pd.Series(dtype="int64"),
            "case_pos": pd.Series(dtype="int64"),
            "role": pd.Series(dtype=_ROLE_TYPE),
            "slot": pd.Series(dtype="int64"),
            "code": pd.Series(dtype="string"),
            "level": pd.Series(dtype="string"),
        }
    )


def _codes(values: pa.Array, dictionary: pa.Array) -> np.ndarray:
    """Index of each value in ``dictionary`` (-1 when absent or null)."""
    found = pc.index_in(values, value_set=dictionary)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype("int64")


def _empty_lean() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "staff_pos": np.zeros(0, dtype="int64"),
            "case_pos": np.zeros(0, dtype="int64"),
            "role": np.zeros(0, dtype="int8"),
            "proc": np.zeros(0, dtype="int64"),
        }
    )


def credited_lean(
    cases: pd.DataFrame,
    staff: pd.DataFrame,
    reference: Reference,
    view: CaseView | None = None,
    eligible: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`credited` in integer form, for the indicators: ``(pairs, procedures)``.

    ``pairs`` columns: ``staff_pos``, ``case_pos``, ``role`` (int8 index into :data:`ROLES`),
    ``proc`` (row of ``procedures`` for 术者/Ⅰ助, -1 otherwise); ``procedures`` is
    :func:`eligible_procedures` of the same eligibility.
    """
    view, elig, procedures = _eligibility(cases, reference, view, eligible)
    keys = staff_keys(staff, reference).frame
    if keys.empty or cases.empty:
        return _empty_lean(), procedures

    org_dict = pa.array(keys["org"].unique().tolist(), type=pa.large_string())
    dept_dict = pa.array(keys["dept"].unique().tolist(), type=pa.large_string())
    name_dict = pa.array(keys["name"].unique().tolist(), type=pa.large_string())
    n_dept, n_name = len(dept_dict), len(name_dict)

    def compose(org_c: np.ndarray, dept_c: np.ndarray, name_c: np.ndarray, kind: int) -> np.ndarray:
        return ((org_c * n_dept + dept_c) * n_name + name_c) * 2 + kind

    staff_key = compose(
        _codes(arrow_strings(keys["org"]), org_dict),
        _codes(arrow_strings(keys["dept"]), dept_dict),
        _codes(arrow_strings(keys["name"]), name_dict),
        0,
    ) + (keys["kind"] == NURSE).to_numpy(dtype="int64")
    staff_positions = keys["staff_pos"].to_numpy(dtype="int64")

    org_c = _codes(view.org, org_dict)
    dept_c = _codes(view.dept, dept_dict)
    base = elig & (org_c >= 0) & (dept_c >= 0)
    kinds_present = set(keys["kind"].dropna())
    role_id = {role: i for i, role in enumerate(ROLES)}
    # parts in ROLES order, each in case order (procedures: case, then slot), so that one
    # stable sort by (staff, case) gives the documented order
    parts: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]] = []
    if PHYSICIAN in kinds_present:
        for role in PHYSICIAN_ROLES:
            name_c = _codes(arrow_strings(_text(cases, role)), name_dict)
            pos = np.flatnonzero(base & (name_c >= 0))
            key = compose(org_c[pos], dept_c[pos], name_c[pos], 0)
            parts.append((key, pos, role_id[role], np.full(len(pos), -1, dtype="int64")))
        if len(procedures):
            proc_pos = procedures["case_pos"].to_numpy(dtype="int64")
            for role, column in ((SURGEON, "surgeon"), (ASSISTANT, "assistant")):
                name_c = _codes(arrow_strings(procedures[column]), name_dict)
                idx = np.flatnonzero(
                    (name_c >= 0) & (org_c[proc_pos] >= 0) & (dept_c[proc_pos] >= 0)
                )
                pos = proc_pos[idx]
                key = compose(org_c[pos], dept_c[pos], name_c[idx], 0)
                parts.append((key, pos, role_id[role], idx))
    if NURSE in kinds_present:
        for role in NURSE_ROLES:
            name_c = _codes(arrow_strings(_text(cases, role)), name_dict)
            pos = np.flatnonzero(base & (name_c >= 0))
            key = compose(org_c[pos], dept_c[pos], name_c[pos], 1)
            parts.append((key, pos, role_id[role], np.full(len(pos), -1, dtype="int64")))
    if not parts or not sum(len(p[1]) for p in parts):
        return _empty_lean(), procedures
    left_key = np.concatenate([p[0] for p in parts])
    left_case = np.concatenate([p[1] for p in parts])
    left_role = np.concatenate([np.full(len(p[1]), p[2], dtype="int8") for p in parts])
    left_proc = np.concatenate([p[3] for p in parts])

    # join on the integer key: sorted staff keys + searchsorted (several applicants may share
    # a key while the check has not ruled out duplicates: each gets its own pair)
    order = np.argsort(staff_key, kind="stable")
    sorted_keys = staff_key[order]
    space = len(org_dict) * n_dept * n_name * 2
    if space <= DENSE_JOIN_LIMIT:  # dense lookup tables: O(rows), no binary search
        first = np.zeros(space, dtype="int64")
        count = np.zeros(space, dtype="int64")
        distinct, starts, sizes = np.unique(sorted_keys, return_index=True, return_counts=True)
        first[distinct], count[distinct] = starts, sizes
        lo, width = first[left_key], count[left_key]
    else:
        lo = np.searchsorted(sorted_keys, left_key, side="left")
        width = np.searchsorted(sorted_keys, left_key, side="right") - lo
    hit = np.flatnonzero(width > 0)
    if not len(hit) or width.max() == 1:  # every key is one applicant's (the usual case)
        take = hit
        staff_pos = staff_positions[order[lo[hit]]]
    else:
        repeats = width[hit]
        take = np.repeat(hit, repeats)
        offsets = np.arange(len(take)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
        staff_pos = staff_positions[order[lo[take] + offsets]]
    case_pos = left_case[take]
    start_of = np.full(len(staff), np.datetime64("NaT"), dtype="datetime64[ns]")
    end_of = start_of.copy()
    start_of[staff_positions] = keys["start"].to_numpy("datetime64[ns]")
    end_of[staff_positions] = keys["end"].to_numpy("datetime64[ns]")
    day = view.day[case_pos]
    inside = (day >= start_of[staff_pos]) & (day <= end_of[staff_pos])  # NaT compares False
    take, staff_pos, case_pos = take[inside], staff_pos[inside], case_pos[inside]
    if not len(take):
        return _empty_lean(), procedures
    final = np.argsort(staff_pos * (len(cases) + 1) + case_pos, kind="stable")
    lean = pd.DataFrame(
        {
            "staff_pos": staff_pos[final],
            "case_pos": case_pos[final],
            "role": left_role[take][final],
            "proc": left_proc[take][final],
        }
    )
    return lean, procedures


def credited(
    cases: pd.DataFrame,
    staff: pd.DataFrame,
    reference: Reference,
    eligible: pd.Series | None = None,
    view: CaseView | None = None,
) -> pd.DataFrame:
    """The (applicant, case row, role) pairs behind M, P, A, N and Q.

    Built with joins, not per-applicant loops: org, department and every role column are
    coded as integers against the applicants' own values (Arrow ``index_in``), each role column
    of the eligible rows gives the rows whose (org, 出院科别, name, 人员类别) key is some
    applicant's (org, 所在科室, name, 人员类别) key, those are joined to the applicants on that
    one integer key, and the window ``现专业技术职务聘任时间 <= date(出院时间) <=
    提取工作量数据截止时间`` filters the result (both ends inclusive). Columns: see the module
    docstring (``role`` is categorical over :data:`ROLES`). Sorted by staff, case, role, slot.
    Pass ``view`` (:func:`case_view`) to reuse parsed columns; ``eligible`` overrides its
    eligibility.
    """
    lean, procedures = credited_lean(cases, staff, reference, view, eligible)
    if lean.empty:
        return _empty_pairs()
    proc = lean["proc"].to_numpy(dtype="int64")
    has_proc = proc >= 0
    take = pa.array(np.where(has_proc, proc, 0), mask=~has_proc)
    slots = np.full(len(proc), -1, dtype="int64")
    if has_proc.any():
        slots[has_proc] = procedures["slot"].to_numpy(dtype="int64")[proc[has_proc]]

    def proc_text(column: str) -> pd.Series:
        if not len(procedures):
            return pd.Series(pd.NA, index=range(len(proc)), dtype="string")
        values = arrow_strings(procedures[column]).take(take)
        return pd.Series(values.to_pandas(types_mapper=pd.ArrowDtype)).astype("string")

    return pd.DataFrame(
        {
            "staff_pos": lean["staff_pos"].to_numpy(dtype="int64"),
            "case_pos": lean["case_pos"].to_numpy(dtype="int64"),
            "role": pd.Categorical.from_codes(lean["role"].to_numpy(), dtype=_ROLE_TYPE),
            "slot": slots,
            "code": proc_text("code"),
            "level": proc_text("level"),
        }
    )


def role_codes(pairs: pd.DataFrame) -> np.ndarray:
    """The ``role`` column of :func:`credited` or :func:`credited_lean` as indexes into ROLES."""
    role = pairs["role"]
    if isinstance(role.dtype, pd.CategoricalDtype):
        return role.cat.codes.to_numpy(dtype="int64")
    return role.to_numpy(dtype="int64")


def first_of_runs(staff_pos: np.ndarray, case_pos: np.ndarray) -> np.ndarray:
    """True at the first pair of each run of equal (staff, case) in pairs sorted by staff, then
    case: selecting these gives one pair per distinct (applicant, case row)."""
    first = np.ones(len(staff_pos), dtype=bool)
    first[1:] = (staff_pos[1:] != staff_pos[:-1]) | (case_pos[1:] != case_pos[:-1])
    return first


def counts_from_pairs(pairs: pd.DataFrame, n_staff: int) -> pd.DataFrame:
    """M, P, A, N, Q per staff position (0..n_staff-1) from :func:`credited` (or lean) pairs."""
    staff_pos = pairs["staff_pos"].to_numpy(dtype="int64")
    case_pos = pairs["case_pos"].to_numpy(dtype="int64")
    role = role_codes(pairs)
    out = {}
    physician = role < len(PHYSICIAN_ROLES)
    # M: distinct (staff, case) among the physician roles; pairs are sorted by staff, case
    m_staff, m_case = staff_pos[physician], case_pos[physician]
    out["M"] = np.bincount(m_staff[first_of_runs(m_staff, m_case)], minlength=n_staff)
    for letter, name in (("P", SURGEON), ("A", ASSISTANT), ("N", "责任护士"), ("Q", "质控护师")):
        out[letter] = np.bincount(staff_pos[role == ROLES.index(name)], minlength=n_staff)
    return pd.DataFrame({k: v.astype("int64") for k, v in out.items()})


def match_staff(
    cases: pd.DataFrame,
    staff: pd.DataFrame,
    reference: Reference,
    pairs: pd.DataFrame | None = None,
    view: CaseView | None = None,
) -> pd.DataFrame:
    """Per applicant: ``matched`` and the counts M, P, A, N, Q (aligned to ``staff.index``).

    ``matched`` is what W12 tests: the applicant's sets are not all empty. Pass ``pairs`` (from
    :func:`credited` or :func:`credited_lean`) or ``view`` (from :func:`case_view`) to avoid
    computing them twice.
    """
    if pairs is None:
        pairs, _ = credited_lean(cases, staff, reference, view)
    counts = counts_from_pairs(pairs, len(staff))
    counts.index = staff.index
    counts.insert(0, "matched", counts[list("MPANQ")].sum(axis=1) > 0)
    return counts


# -- explain -----------------------------------------------------------------------------------


def _example(cases: pd.DataFrame, pos: int) -> str:
    """``（例：文件 第 n 行）`` for one case position, when the frame knows its file and row."""
    if "_file" in cases.columns and "_row" in cases.columns:
        file = cases["_file"].iloc[pos]
        row = cases["_row"].iloc[pos]
        if pd.notna(file) and pd.notna(row):
            return f"（例：{file} 第 {int(row)} 行）"
    return ""


def _within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance ≤ 1."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la == lb:
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def _strip_digits(name: str) -> str:
    return name.rstrip("0123456789")


def similar_names(name: str, candidates: dict[str, int], limit: int = 3) -> list[str]:
    """Up to ``limit`` names of ``candidates`` (name -> count) similar to ``name``.

    Similar: edit distance ≤ 1, or the same name once trailing digits are removed from both
    (``张三`` / ``张三12``). The name itself is not similar to itself. Most frequent first, then
    by name.
    """
    base = _strip_digits(name)
    hits = [
        other
        for other in candidates
        if other != name and (_within_one_edit(name, other) or _strip_digits(other) == base)
    ]
    hits.sort(key=lambda other: (-candidates[other], other))
    return hits[:limit]


def _fmt_day(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


_KIND_LABELS = {
    PHYSICIAN: ("主（副主）任医师、主治医师或住院医师", "术者或Ⅰ助"),
    NURSE: ("责任护士", "质控护师"),
}


def explain(
    cases: pd.DataFrame,
    staff: pd.DataFrame,
    reference: Reference,
    counts: pd.DataFrame | None = None,
    eligible: pd.Series | None = None,
    view: CaseView | None = None,
) -> pd.Series:
    """The nearest-miss line (``metrics.md`` "Explain") per applicant, ``""`` when not needed.

    A line is given to every applicant that is unmatched or whose main count (|M| for 医师,
    |N| for 护士) is 0. The name is looked up in the applicant's main role columns
    (主（副主）任医师/主治医师/住院医师, or 责任护士) of the institution's eligible rows, and the
    first that applies of these is given:

    0. the applicant's keys are invalid (cannot be matched at all);
    1. the name occurs, never with 出院科别 = 所在科室: its departments, with counts;
    2. name and department match but all outside the window: the nearest 出院时间;
    *  name, department and window match only in rows left out of computation, naming the
       reasons (W03, W09, invalid 出院时间);
    *  name, department and window match only in the secondary role (术者/Ⅰ助 of eligible
       procedures, 质控护师);
    *  name, department and window match only as 术者/Ⅰ助 of procedures left out (W04/W05);
    *  the name occurs only in the secondary role: steps 1 and 2 on those occurrences;
    3. the name never occurs: up to three similar names in that department;
    4. the department has no rows in the window;
    *  otherwise: the name does not occur and no similar name is found.

    Pass ``counts`` (from :func:`match_staff`) and ``view`` (from :func:`case_view`) to avoid
    recomputing them; ``eligible`` overrides the view's eligibility.
    """
    view, elig, procedures = _eligibility(cases, reference, view, eligible)
    if counts is None:
        lean, _ = credited_lean(cases, staff, reference, view, eligible)
        counts = match_staff(cases, staff, reference, lean)
    keys = staff_keys(staff, reference)
    # an empty 人员类别 is NA: compare in pandas and fill, never ``ndarray == NURSE`` on NA
    nurse = (_text(staff, STAFF_KIND) == NURSE).fillna(False).to_numpy(dtype=bool)
    main = np.where(nurse, counts["N"].to_numpy(), counts["M"].to_numpy())
    need = (~counts["matched"].to_numpy(dtype=bool)) | (main == 0)
    lines = np.full(len(staff), "", dtype=object)
    if not need.any():
        return pd.Series(lines, index=staff.index, name="说明", dtype="string")

    for pos in np.flatnonzero(need & ~keys.valid):
        lines[pos] = (
            "申报人员的组织机构代码、姓名、所在科室、人员类别或评价周期为空或有误，无法匹配病案"
        )

    todo = keys.frame[need[keys.frame["staff_pos"].to_numpy()]]
    if todo.empty:
        return pd.Series(lines, index=staff.index, name="说明", dtype="string")

    org_values = sorted(set(todo["org"]))
    dept_values = sorted(set(todo["dept"]))
    name_values = np.array(sorted(set(todo["name"])), dtype=object)
    org_c = _codes(view.org, pa.array(org_values, type=pa.large_string()))
    dept_c = _codes(view.dept, pa.array(dept_values, type=pa.large_string()))
    name_dict = pa.array(list(name_values), type=pa.large_string())
    org_np = np.array(org_values, dtype=object)
    in_org = org_c >= 0

    everywhere = np.arange(len(cases), dtype="int64")
    at_procedure = procedures["case_pos"].to_numpy(dtype="int64")

    def columns(*names: str) -> list[tuple[np.ndarray, pa.Array]]:
        return [(everywhere, arrow_strings(_text(cases, name))) for name in names]

    def occurrences(sources: list[tuple[np.ndarray, pa.Array]], rows: np.ndarray) -> pd.DataFrame:
        """(case_pos, name, org, dept, day) where a name of ``todo`` is one of the ``sources``
        (case positions with the names at them) in one of the ``rows``."""
        parts = [pd.DataFrame({"case_pos": np.zeros(0, dtype="int64"), "name_c": 0})]
        for positions, names in sources:
            name_c = _codes(names, name_dict)
            keep = (name_c >= 0) & rows[positions]
            parts.append(pd.DataFrame({"case_pos": positions[keep], "name_c": name_c[keep]}))
        frame = pd.concat(parts, ignore_index=True).drop_duplicates()
        at = frame["case_pos"].to_numpy(dtype="int64")
        return pd.DataFrame(
            {
                "case_pos": at,
                "name": name_values[frame["name_c"].to_numpy(dtype="int64")],
                "org": org_np[org_c[at]],
                "dept": view.dept.take(pa.array(at, type=pa.int64())).to_numpy(
                    zero_copy_only=False
                ),
                "day": view.day[at],
            }
        )

    main_columns = {PHYSICIAN: PHYSICIAN_ROLES, NURSE: ("责任护士",)}

    def sources(kind: str) -> tuple[list, list, list]:
        """Where the names of ``kind`` are looked up: the main roles; the secondary ones (术者/Ⅰ助
        of eligible procedures, or 质控护师); 术者/Ⅰ助 of procedures left out (W04/W05)."""
        if kind == NURSE:
            return columns(*main_columns[NURSE]), columns("质控护师"), []
        left_out_procedures = []
        for code_column, _level, surgeon, assistant in SLOTS:
            code = _text(cases, code_column)
            bad = np.flatnonzero(
                code.notna().to_numpy(dtype=bool)
                & ~isin_codes(code, reference.icd9).to_numpy(dtype=bool)
            )
            if len(bad):
                taken = pa.array(bad, type=pa.int64())
                for column in (surgeon, assistant):
                    names = arrow_strings(_text(cases, column)).take(taken)
                    left_out_procedures.append((bad, names))
        return (
            columns(*main_columns[PHYSICIAN]),
            [
                (at_procedure, arrow_strings(procedures["surgeon"])),
                (at_procedure, arrow_strings(procedures["assistant"])),
            ],
            left_out_procedures,
        )

    tables = {}
    for kind in (PHYSICIAN, NURSE):
        if not (todo["kind"] == kind).any():
            continue
        main_sources, second_sources, bad_sources = sources(kind)
        tables[kind] = (
            occurrences(main_sources, elig & in_org),
            occurrences(second_sources, elig & in_org),
            occurrences(main_sources, ~elig & in_org),
            occurrences(bad_sources, elig & in_org),
        )

    # eligible rows of the (org, dept) pairs in question: their days and main-role names
    pair_c = np.where(in_org & (dept_c >= 0), org_c * len(dept_values) + dept_c, -1)
    wanted_pairs = {
        org_values.index(o) * len(dept_values) + dept_values.index(d)
        for o, d in zip(todo["org"], todo["dept"], strict=True)
    }
    in_pair = elig & np.isin(pair_c, list(wanted_pairs))
    pair_pos = np.flatnonzero(in_pair)
    days_of: dict[int, np.ndarray] = {}
    if len(pair_pos):
        frame = pd.DataFrame({"pair": pair_c[pair_pos], "day": view.day[pair_pos]})
        for pair, group in frame.groupby("pair"):
            days_of[int(pair)] = np.sort(group["day"].to_numpy(dtype="datetime64[ns]"))
    names_of: dict[tuple[str, int], dict[str, tuple[int, int]]] = {}
    for kind in tables:
        main_cols = main_columns[kind]
        # the main-role names of those rows, integer-coded (one dictionary for all columns)
        taken = pa.array(pair_pos, type=pa.int64())
        names = pa.concat_arrays([arrow_strings(_text(cases, c)).take(taken) for c in main_cols])
        name_codes, labels = factorize_strings(names)
        long = pd.DataFrame(
            {
                "pair": np.tile(pair_c[pair_pos], len(main_cols)),
                "pos": np.tile(pair_pos, len(main_cols)),
                "name": name_codes,
            }
        )
        long = long[long["name"] >= 0].drop_duplicates()
        grouped = long.groupby(["pair", "name"])["pos"].agg(["size", "min"])
        for (pair, name), size, first in zip(
            grouped.index, grouped["size"], grouped["min"], strict=True
        ):
            names_of.setdefault((kind, int(pair)), {})[str(labels[name])] = (int(size), int(first))

    # one sub-frame per (org, name): each applicant then looks only at its own occurrences
    empty = {kind: tuple(t.iloc[:0] for t in frames) for kind, frames in tables.items()}
    by_name = {
        kind: tuple(dict(iter(t.groupby(["org", "name"], sort=False))) for t in frames)
        for kind, frames in tables.items()
    }
    for key in todo.itertuples(index=False):
        main_occ, second_occ, left_out, bad_procedures = (
            found.get((key.org, key.name), blank)
            for found, blank in zip(by_name[key.kind], empty[key.kind], strict=True)
        )
        pair = org_values.index(key.org) * len(dept_values) + dept_values.index(key.dept)
        lines[key.staff_pos] = _explain_one(
            cases,
            view,
            key,
            main_occ,
            second_occ,
            left_out,
            bad_procedures,
            days_of.get(pair, np.array([], dtype="datetime64[ns]")),
            names_of.get((key.kind, pair), {}),
        )
    return pd.Series(lines, index=staff.index, name="说明", dtype="string")


def _explain_one(
    cases: pd.DataFrame,
    view: CaseView,
    key,
    main_occ: pd.DataFrame,
    second_occ: pd.DataFrame,
    left_out: pd.DataFrame,
    bad_procedures: pd.DataFrame,
    dept_days: np.ndarray,
    dept_names: dict[str, tuple[int, int]],
) -> str:
    start, end = pd.Timestamp(key.start), pd.Timestamp(key.end)
    window = f"{_fmt_day(start)} 至 {_fmt_day(end)}"
    main_label, second_label = _KIND_LABELS[key.kind]

    def select(frame: pd.DataFrame, *, dept: bool = False, inside: bool = False) -> pd.DataFrame:
        """Rows of ``frame`` (already this applicant's org and name) in its department and/or
        window."""
        if frame.empty:
            return frame
        mask = np.ones(len(frame), dtype=bool)
        if dept:
            mask &= frame["dept"].to_numpy(dtype=object) == key.dept
        if inside:
            days = frame["day"].to_numpy(dtype="datetime64[ns]")
            mask &= (days >= np.datetime64(start, "ns")) & (days <= np.datetime64(end, "ns"))
        return frame[mask]

    def elsewhere(mine: pd.DataFrame, only: str = "") -> str | None:
        """Steps 1 and 2: the name occurs, but never in the department, or never in the window
        (``only``: the occurrences are in the secondary role)."""
        if mine.empty:
            return None
        mine_dept = select(mine, dept=True)
        if mine_dept.empty:
            depts = Counter(mine["dept"].dropna())
            ranked = sorted(depts.items(), key=lambda x: (-x[1], x[0]))[:5]
            listed = "、".join(d for d, _ in ranked) + ("等" if len(depts) > 5 else "")
            return (
                f"姓名在本机构病案中{only and '仅作为' + only}出现 {mine['case_pos'].nunique()} 次，"
                f"出院科别为 {listed}；申报科室为 {key.dept}"
                f"{_example(cases, int(mine['case_pos'].min()))}"
            )
        if not select(mine_dept, inside=True).empty:
            return None
        distance = np.minimum(
            (mine_dept["day"] - start).abs().to_numpy(),
            (mine_dept["day"] - end).abs().to_numpy(),
        )
        nearest = int(np.argmin(distance))
        return (
            f"姓名与申报科室 {key.dept} 在病案中同时出现 {mine_dept['case_pos'].nunique()} 次"
            f"{only and '（仅作为' + only + '）'}，但出院时间均不在评价周期 {window} 内，"
            f"最近的出院时间为 {_fmt_day(mine_dept['day'].to_numpy()[nearest])}"
            f"{_example(cases, int(mine_dept['case_pos'].to_numpy()[nearest]))}"
        )

    line = elsewhere(main_occ)
    if line:
        return line

    def in_window(frame: pd.DataFrame, text: str) -> str:
        """A line about rows of the department and window: ``text`` and the first example."""
        first = int(frame["case_pos"].min())
        return f"姓名在申报科室 {key.dept} 评价周期内的{text}{_example(cases, first)}"

    dropped = select(left_out, dept=True, inside=True)
    if not dropped.empty:
        bits = int(np.bitwise_or.reduce(view.left_out[dropped["case_pos"].to_numpy()]))
        reasons = "、".join(r for i, r in enumerate(LEFT_OUT_REASONS) if bits >> i & 1)
        return in_window(
            dropped,
            f" {dropped['case_pos'].nunique()} 条病案中出现，但这些病案因{reasons}，未参与计算",
        )
    second = select(second_occ, dept=True, inside=True)
    if not second.empty:
        return in_window(
            second,
            f"病案中仅作为{second_label}出现 {second['case_pos'].nunique()} 次，"
            f"未作为{main_label}出现",
        )
    bad = select(bad_procedures, dept=True, inside=True)
    if not bad.empty:
        return in_window(
            bad,
            f" {bad['case_pos'].nunique()} 条病案中作为{second_label}出现，"
            "但这些手术操作编码不在国临版3.0内（W04/W05），未计入",
        )
    if main_occ.empty:
        line = elsewhere(second_occ, second_label)
        if line:
            return line
        similar = similar_names(key.name, {n: c for n, (c, _) in dept_names.items()})
        if similar:
            listed = "、".join(f"{n}（{dept_names[n][0]} 次）" for n in similar)
            return (
                f"姓名在本机构病案中未出现；申报科室 {key.dept} 的病案中有相似姓名：{listed}"
                f"{_example(cases, dept_names[similar[0]][1])}"
            )
    start64, end64 = np.datetime64(start, "ns"), np.datetime64(end, "ns")
    in_window = int(
        np.searchsorted(dept_days, end64, side="right")
        - np.searchsorted(dept_days, start64, side="left")
    )
    if in_window == 0:
        return (
            f"申报科室 {key.dept} 在评价周期 {window} 内没有参与计算的出院病案"
            f"（该科室共有 {len(dept_days)} 条参与计算的病案）"
        )
    return (
        f"姓名在本机构病案中未出现，申报科室 {key.dept} 评价周期内的 {in_window} 条病案中"
        "也没有相似姓名"
    )
