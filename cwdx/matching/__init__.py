"""Matching applicants to case rows (``metrics.md`` "Eligible records" and "Matching").

Three modules: :mod:`~cwdx.matching.eligibility` (which rows count, W09 later copies, the
parsed :class:`CaseView`), :mod:`~cwdx.matching.pairing` (S(a) and M, P, A, N, Q) and
:mod:`~cwdx.matching.explain` (the explain lines); their public names are re-exported here.

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

from cwdx.columns import (
    ASSISTANT,
    SURGEON,
)
from cwdx.columns import CASE_NURSE_ROLES as NURSE_ROLES
from cwdx.columns import CASE_PHYSICIAN_ROLES as PHYSICIAN_ROLES
from cwdx.columns import CASE_PROC_SLOTS as SLOTS
from cwdx.columns import KIND_NURSE as NURSE
from cwdx.columns import KIND_PHYSICIAN as PHYSICIAN
from cwdx.matching.eligibility import (
    LEFT_OUT_REASONS,
    CaseView,
    case_view,
    eligible_cases,
    eligible_procedures,
    factorize_strings,
    isin_codes,
    w09_later_duplicates,
    w09_repeated_rows,
)
from cwdx.matching.explain import explain, similar_names
from cwdx.matching.pairing import (
    DENSE_JOIN_LIMIT,
    ROLES,
    StaffKeys,
    counts_from_pairs,
    credited,
    credited_lean,
    department_known,
    first_of_runs,
    match_staff,
    role_codes,
    staff_keys,
)

__all__ = [
    "ASSISTANT",
    "DENSE_JOIN_LIMIT",
    "LEFT_OUT_REASONS",
    "NURSE",
    "NURSE_ROLES",
    "PHYSICIAN",
    "PHYSICIAN_ROLES",
    "ROLES",
    "SLOTS",
    "SURGEON",
    "CaseView",
    "StaffKeys",
    "case_view",
    "counts_from_pairs",
    "credited",
    "credited_lean",
    "department_known",
    "eligible_cases",
    "eligible_procedures",
    "explain",
    "factorize_strings",
    "first_of_runs",
    "isin_codes",
    "match_staff",
    "role_codes",
    "similar_names",
    "staff_keys",
    "w09_later_duplicates",
    "w09_repeated_rows",
]
