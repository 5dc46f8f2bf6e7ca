"""Pairing applicants with case rows (``metrics.md`` "Matching"): S(a) and M, P, A, N, Q.

:func:`credited` / :func:`credited_lean` join the applicants' (org, 所在科室, name, 人员类别)
keys to the role columns of the eligible case rows, inside each applicant's window;
:func:`match_staff` counts the pairs; :func:`department_known` is W11's test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from cwdx.columns import (
    ASSISTANT,
    CASE_DEPT,
    CASE_NURSE_ROLES,
    CASE_PHYSICIAN_ROLES,
    KIND_NURSE,
    KIND_PHYSICIAN,
    ORG,
    STAFF_DEPT,
    STAFF_END,
    STAFF_KIND,
    STAFF_NAME,
    STAFF_START,
    SURGEON,
)
from cwdx.matching.eligibility import (
    CaseView,
    codes_in,
    datetime_column,
    isin_codes,
    resolve_eligibility,
    text_column,
)
from cwdx.reference import Reference
from cwdx.values import arrow_strings, valid_org_code_mask

#: Every role a credited pair can carry.
ROLES: tuple[str, ...] = (*CASE_PHYSICIAN_ROLES, SURGEON, ASSISTANT, *CASE_NURSE_ROLES)
#: Largest key space joined through dense lookup tables (2 × 8 bytes per key: 64 MB); larger
#: key spaces use a binary search over the applicants' sorted keys.
DENSE_JOIN_LIMIT = 4_000_000


def department_known(cases: pd.DataFrame, staff: pd.DataFrame) -> pd.Series:
    """Whether each applicant's 所在科室 occurs as 出院科别 of a case row of its 组织机构代码."""
    seen = pd.DataFrame({"o": text_column(cases, ORG), "d": text_column(cases, CASE_DEPT)}).dropna()
    seen = seen.drop_duplicates()
    keys = pd.DataFrame(
        {"o": text_column(staff, ORG).to_numpy(), "d": text_column(staff, STAFF_DEPT).to_numpy()}
    )
    merged = keys.merge(seen.assign(hit=True), on=["o", "d"], how="left")
    return pd.Series(
        merged["hit"].fillna(False).astype(bool).to_numpy(), index=staff.index, name="W11"
    )


@dataclass(frozen=True)
class StaffKeys:
    """The matching keys of the applicants whose keys are all valid."""

    #: columns staff_pos, org, dept, name, kind, start, end (one row per valid applicant)
    frame: pd.DataFrame
    #: per staff position: whether its keys are valid
    valid: np.ndarray


def staff_keys(staff: pd.DataFrame, reference: Reference) -> StaffKeys:
    """Valid matching keys: org, normalised name, RC023 department, 人员类别 1|2, both dates."""
    org = text_column(staff, ORG)
    name = text_column(staff, STAFF_NAME)
    dept = text_column(staff, STAFF_DEPT)
    kind = text_column(staff, STAFF_KIND)
    start = datetime_column(staff, STAFF_START, "date").dt.normalize()
    end = datetime_column(staff, STAFF_END, "date").dt.normalize()
    valid = (
        valid_org_code_mask(org)
        & name.notna()
        & isin_codes(dept, reference.domain_codes("RC023"))
        & isin_codes(kind, {KIND_PHYSICIAN, KIND_NURSE})
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
    view, elig, procedures = resolve_eligibility(cases, reference, view, eligible)
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
        codes_in(arrow_strings(keys["org"], large=True), org_dict),
        codes_in(arrow_strings(keys["dept"], large=True), dept_dict),
        codes_in(arrow_strings(keys["name"], large=True), name_dict),
        0,
    ) + (keys["kind"] == KIND_NURSE).to_numpy(dtype="int64")
    staff_positions = keys["staff_pos"].to_numpy(dtype="int64")

    org_c = codes_in(view.org, org_dict)
    dept_c = codes_in(view.dept, dept_dict)
    base = elig & (org_c >= 0) & (dept_c >= 0)
    kinds_present = set(keys["kind"].dropna())
    role_id = {role: i for i, role in enumerate(ROLES)}
    # parts in ROLES order, each in case order (procedures: case, then slot), so that one
    # stable sort by (staff, case) gives the documented order
    parts: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]] = []
    if KIND_PHYSICIAN in kinds_present:
        for role in CASE_PHYSICIAN_ROLES:
            name_c = codes_in(arrow_strings(text_column(cases, role), large=True), name_dict)
            pos = np.flatnonzero(base & (name_c >= 0))
            key = compose(org_c[pos], dept_c[pos], name_c[pos], 0)
            parts.append((key, pos, role_id[role], np.full(len(pos), -1, dtype="int64")))
        if len(procedures):
            proc_pos = procedures["case_pos"].to_numpy(dtype="int64")
            for role, column in ((SURGEON, "surgeon"), (ASSISTANT, "assistant")):
                name_c = codes_in(arrow_strings(procedures[column], large=True), name_dict)
                idx = np.flatnonzero(
                    (name_c >= 0) & (org_c[proc_pos] >= 0) & (dept_c[proc_pos] >= 0)
                )
                pos = proc_pos[idx]
                key = compose(org_c[pos], dept_c[pos], name_c[idx], 0)
                parts.append((key, pos, role_id[role], idx))
    if KIND_NURSE in kinds_present:
        for role in CASE_NURSE_ROLES:
            name_c = codes_in(arrow_strings(text_column(cases, role), large=True), name_dict)
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
        values = arrow_strings(procedures[column], large=True).take(take)
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
    physician = role < len(CASE_PHYSICIAN_ROLES)
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
