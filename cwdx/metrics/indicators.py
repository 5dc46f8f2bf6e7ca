"""Per-applicant indicators of one institution (``metrics.md``), computed on integer arrays.

:func:`compute_institution` is pure: stored case and staff frames of one institution in,
:class:`InstitutionResults` out (指标汇总 and the detail tables of :mod:`.details`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx import matching
from cwdx.check import institution_of
from cwdx.columns import (
    ASSISTANT,
    CASE_MAIN_DIAG,
    CASE_NURSE_ROLES,
    CASE_OTHER_DIAGS,
    CASE_OTHER_DIAGS_ON_ADMISSION,
    CASE_PHYSICIAN_ROLES,
    KIND_NURSE,
    KIND_PHYSICIAN,
    STAFF_KIND,
    STAFF_SPECIALTY,
    SURGEON,
)
from cwdx.matching import ROLES
from cwdx.metrics.definitions import (
    CASE_LIST,
    CATALOGUE_INDICATORS,
    DECIMAL_COLUMNS,
    DISEASES,
    IDENTITY_COLUMNS,
    INDICATOR_COLUMNS,
    MATCHED,
    NURSE_INDICATORS,
    PROCEDURES,
    SUMMARY,
    UNMATCHED,
    YEARS,
)
from cwdx.metrics.details import case_list_table, disease_detail, procedure_detail, year_detail
from cwdx.metrics.pairs import Pairs, empty_detail, percent
from cwdx.reference import Reference, load_reference
from cwdx.values import arrow_strings, typed_column

NURSE_MAIN, NURSE_SECOND = CASE_NURSE_ROLES  # 责任护士, 质控护师
#: One indicator column: a count array, or a list of values (None = empty).
_Values = Sequence[object] | np.ndarray


_DECIMAL_RE = r"^(?P<sign>-?)(?P<whole>\d{1,12})(?:\.(?P<frac>\d{1,6}))?$"


def _scaled_decimal(series: pd.Series) -> tuple[pd.Series, int]:
    """Canonical decimal strings as exact integers of ``10**-scale`` (NA when empty/invalid).

    ``Int64`` when every value has at most 12 integer and 6 fraction digits and no sum can
    overflow (the usual case, done in Arrow); else Python integers (object dtype). Either
    way sums stay exact.
    """
    array = arrow_strings(series, large=True)
    parts = pc.extract_regex(array, _DECIMAL_RE)
    if len(array) and pc.sum(pc.and_(array.is_valid(), parts.is_null())).as_py() == 0:
        frac = pc.fill_null(pc.struct_field(parts, "frac"), "")
        scale = int(pc.max(pc.utf8_length(frac)).as_py() or 0)
        digits = pc.binary_join_element_wise(
            pc.struct_field(parts, "whole"),
            pc.utf8_rpad(frac, width=scale, padding="0"),
            pa.scalar("", pa.large_string()),
        )
        magnitude = pc.cast(digits, pa.int64())
        negative = pc.equal(pc.struct_field(parts, "sign"), "-")
        values = pc.if_else(negative, pc.negate(magnitude), magnitude)
        biggest = pc.max(pc.abs(values)).as_py() or 0
        if biggest * len(array) < 2**62:
            out = pd.Series(values.to_numpy(zero_copy_only=False), index=series.index)
            return out.astype("Int64").where(array.is_valid().to_numpy(zero_copy_only=False)), scale
    return _scaled_decimal_python(series)


def _scaled_decimal_python(series: pd.Series) -> tuple[pd.Series, int]:
    """The general path of :func:`_scaled_decimal`: exact Python integers (object dtype)."""
    typed = typed_column(series, "decimal")
    text = series.astype("string").where(typed.notna())
    exact = {v: Decimal(v) for v in text.dropna().unique()}
    scale = max([0, *(-int(d.as_tuple().exponent) for d in exact.values())])
    unique = {v: int(d.scaleb(scale)) for v, d in exact.items()}  # exact: scale covers all digits
    values = [
        None if v is pd.NA else unique[v] for v in text.astype(object).where(text.notna(), pd.NA)
    ]
    return pd.Series(values, index=series.index, dtype=object), scale


def _complication_rows(cases: pd.DataFrame, reference: Reference) -> np.ndarray:
    """Rows with an 出院其他诊断编码k in 国临版2.0 starting with a complication prefix whose
    出院其他诊断入院病情k is not 1 (an empty 入院病情 is not 1)."""
    prefixes = tuple(reference.complications)
    out = np.zeros(len(cases), dtype=bool)
    if not prefixes:
        return out
    for code_column, present_column in zip(
        CASE_OTHER_DIAGS, CASE_OTHER_DIAGS_ON_ADMISSION, strict=True
    ):
        code = cases[code_column].astype("string")
        if code.notna().sum() == 0:
            continue
        present = cases[present_column].astype("string")
        hit = (
            matching.isin_codes(code, reference.icd10).to_numpy()
            & code.str.startswith(prefixes).fillna(False).to_numpy(dtype=bool)
            & ~(present == "1").fillna(False).to_numpy(dtype=bool)
        )
        out |= hit
    return out


def length_of_stay(cases: pd.DataFrame, view: matching.CaseView | None = None) -> pd.Series:
    """LOS per row: 实际住院（天） when filled (0 stays 0), else max(1, 出院日期 − 入院日期)."""
    if view is None:
        view = matching.case_view(cases, load_reference())
    actual = typed_column(cases["实际住院（天）"], "int").astype("Float64")
    days = pd.Series((view.day - view.admit_day) / np.timedelta64(1, "D"), index=cases.index)
    return actual.fillna(days.astype("Float64").clip(lower=1))


@dataclass
class InstitutionResults:
    """The computed tables of one institution."""

    org: str
    #: 指标汇总: one row per applicant, columns :data:`SUMMARY_COLUMNS`.
    summary: pd.DataFrame
    #: 病种明细, 术种明细, 年度明细 (columns :data:`DISEASE_COLUMNS` …).
    diseases: pd.DataFrame
    procedures: pd.DataFrame
    years: pd.DataFrame
    #: 病例清单 (only when asked for), columns :data:`CASE_LIST_COLUMNS`.
    case_list: pd.DataFrame | None = None
    #: 口径信息 (:func:`provenance_table`), filled by :func:`compute_workspace`.
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables to store, by name (``Workspace.save_results``)."""
        out = {
            SUMMARY: self.summary,
            DISEASES: self.diseases,
            PROCEDURES: self.procedures,
            YEARS: self.years,
        }
        if self.case_list is not None:
            out[CASE_LIST] = self.case_list
        out.update(self.extra)
        return out

    @classmethod
    def of_tables(cls, org: str, tables: dict[str, pd.DataFrame]) -> InstitutionResults:
        """The results of ``org`` from its tables by name (the inverse of :meth:`tables`)."""
        own = {SUMMARY, DISEASES, PROCEDURES, YEARS, CASE_LIST}
        return cls(
            org,
            tables[SUMMARY],
            tables[DISEASES],
            tables[PROCEDURES],
            tables[YEARS],
            tables.get(CASE_LIST),
            {name: frame for name, frame in tables.items() if name not in own},
        )


def _ratios(numerators: np.ndarray, denominators: np.ndarray) -> list[float | None]:
    return [percent(a, b) for a, b in zip(numerators.tolist(), denominators.tolist(), strict=True)]


def _prefix_codes(
    codes: np.ndarray, labels: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of the first ``width`` characters of coded values (``codes`` index
    ``labels``; -1, an empty value, stays -1) and the distinct prefixes (ICD-10 类目, 术种)."""
    of_label, prefixes = matching.factorize_strings(
        pa.array([str(label)[:width] for label in labels], type=pa.large_string())
    )
    out = np.full(len(codes), -1, dtype="int64")
    filled = codes >= 0
    out[filled] = of_label[codes[filled]]
    return out, prefixes


def _group_hits(labels: np.ndarray, prefixes: tuple[str, ...]) -> np.ndarray:
    """For each distinct code, whether it starts with one of ``prefixes``."""
    return np.array([str(label).startswith(prefixes) for label in labels], dtype=bool)


def compute_institution(
    cases: pd.DataFrame,
    staff: pd.DataFrame,
    reference: Reference | None = None,
    case_list: bool = False,
) -> InstitutionResults:
    """Every indicator and detail table of one institution (pure).

    ``cases`` and ``staff`` are stored frames (``DESIGN.md``) of one institution; the result's
    rows follow the staff frame's order. Everything is computed on integer arrays of the
    credited pairs (:func:`cwdx.matching.credited_lean`), so it scales with the number of
    pairs, not with applicants × rows.
    """
    cases = cases.reset_index(drop=True)
    staff = staff.reset_index(drop=True)
    result = _compute(cases, staff, reference or load_reference(), case_list)
    for name in ("diseases", "procedures", "years", "case_list"):
        table = getattr(result, name)
        if table is not None:
            setattr(result, name, table.reset_index(drop=True))
    result.org = institution_of(staff, cases)
    return result


def compute_institutions(
    cases: pd.DataFrame,
    staff: pd.DataFrame,
    orgs: Sequence[str],
    reference: Reference | None = None,
    case_list: bool = False,
) -> dict[str, InstitutionResults]:
    """:func:`compute_institution` of each of ``orgs`` in one pass over their rows together.

    ``cases`` and ``staff`` hold the stored rows of ``orgs`` (their ``_org``). Matching and
    every indicator are keyed by the rows' own 组织机构代码, which is an institution's code
    wherever it is valid (``_org`` is the row's code when valid), so the rows of one
    institution never meet another's: computing them together and splitting the tables by
    each applicant's ``_org`` gives exactly the per-institution results, without the fixed
    cost of a computation per institution.
    """
    cases = cases.reset_index(drop=True)
    staff = staff.reset_index(drop=True)
    whole = _compute(cases, staff, reference or load_reference(), case_list)
    index = {org: k for k, org in enumerate(orgs)}
    owner = (
        staff["_org"].astype(object).map(index).fillna(-1).to_numpy(dtype="int64")
        if "_org" in staff
        else np.full(len(staff), -1, dtype="int64")
    )
    split = {
        name: _split(table, owner, len(orgs), None if name == "summary" else list(table.columns))
        for name in ("summary", "diseases", "procedures", "years", "case_list")
        if (table := getattr(whole, name)) is not None
    }
    return {
        org: InstitutionResults(
            org,
            split["summary"][k],
            split["diseases"][k],
            split["procedures"][k],
            split["years"][k],
            split["case_list"][k] if "case_list" in split else None,
        )
        for k, org in enumerate(orgs)
    }


def _split(
    table: pd.DataFrame, owner: np.ndarray, groups: int, empty: list[str] | None
) -> list[pd.DataFrame]:
    """``table`` (indexed by staff position, or aligned to the staff rows when ``empty`` is
    None) cut into the rows of each owner group 0..groups-1 (``owner``: per staff position),
    each with a fresh index; an empty detail part is :func:`empty_detail` of its columns, as
    a computation of that institution alone gives."""
    positions = np.arange(len(table)) if empty is None else table.index.to_numpy(dtype="int64")
    of_row = owner[positions] if len(positions) else np.zeros(0, dtype="int64")
    order = np.argsort(of_row, kind="stable")
    bounds = np.searchsorted(of_row[order], np.arange(groups + 1))
    out = []
    for k in range(groups):
        part = table.iloc[order[bounds[k] : bounds[k + 1]]].reset_index(drop=True)
        out.append(empty_detail(empty) if empty is not None and not len(part) else part)
    return out


def _compute(
    cases: pd.DataFrame, staff: pd.DataFrame, reference: Reference, case_list: bool
) -> InstitutionResults:
    """The tables of the institutions in ``cases`` / ``staff`` (fresh indexes); detail tables
    indexed by staff position, ``org`` left empty."""
    n = len(staff)
    view = matching.case_view(cases, reference)
    lean, procedures = matching.credited_lean(cases, staff, reference, view)
    counts = matching.match_staff(cases, staff, reference, lean)
    lines = matching.explain(cases, staff, reference, counts, view=view)
    q = _case_quantities(cases, reference, view, procedures)
    kind = staff[STAFF_KIND].astype("string")  # NA when empty: compare in pandas, then fill
    physician = (kind == KIND_PHYSICIAN).fillna(False).to_numpy(dtype=bool)
    nurse = (kind == KIND_NURSE).fillna(False).to_numpy(dtype=bool)
    sets = _RolePairs.of(lean, n)

    r = _physician_indicators(sets, q)
    r.update(_catalogue_indicators(staff, reference, physician, sets, q))
    r.update(_nurse_indicators(sets, q))
    summary = _summary(staff, counts, lines, r, physician, nurse)

    m, p, p_proc = sets.m, sets.p, sets.p_proc
    m_own = m.select(physician[m.staff])
    n_own = sets.nurse.select(nurse[sets.nurse.staff])
    diseases = disease_detail(staff, m_own, n_own, q.cat3, q.cat3_labels)
    procedure_table = procedure_detail(
        staff, p, q.proc_sub[p_proc], q.sub_labels, q.proc_level[p_proc]
    )
    years = year_detail(staff, m_own, p.select(physician[p.staff]), n_own, q.year, physician)
    listing = case_list_table(cases, staff, lean, procedures) if case_list else None
    return InstitutionResults("", summary, diseases, procedure_table, years, listing)


@dataclass(frozen=True)
class _CaseQuantities:
    """What the indicators aggregate, per case row and per eligible procedure."""

    #: 出院主要诊断编码 integer-coded (-1 when empty) and its distinct values
    dx_codes: np.ndarray
    dx_labels: np.ndarray
    #: its 3-character 类目, coded, and the distinct 类目
    cat3: np.ndarray
    cat3_labels: np.ndarray
    #: length of stay (whole days, Int64) and 住院总费用 in units of 10**-cost_scale
    los: pd.Series
    cost: pd.Series
    cost_scale: int
    death: np.ndarray
    #: year of 出院时间 (-1 when invalid)
    year: np.ndarray
    complication: np.ndarray
    has_procedure: np.ndarray
    #: per eligible procedure: code, 术种 (5 characters), 级别 (0 = empty or unknown)
    proc_codes: np.ndarray
    proc_labels: np.ndarray
    proc_sub: np.ndarray
    sub_labels: np.ndarray
    proc_level: np.ndarray


def _case_quantities(
    cases: pd.DataFrame,
    reference: Reference,
    view: matching.CaseView,
    procedures: pd.DataFrame,
) -> _CaseQuantities:
    """Parse once what the indicators aggregate (see :class:`_CaseQuantities`)."""
    dx_codes, dx_labels = matching.factorize_strings(
        arrow_strings(cases[CASE_MAIN_DIAG], large=True)
    )
    cat3, cat3_labels = _prefix_codes(dx_codes, dx_labels, 3)
    los = pd.Series(length_of_stay(cases, view).to_numpy(dtype="float64", na_value=np.nan))
    cost, cost_scale = _scaled_decimal(cases["住院总费用"])
    has_procedure = np.zeros(len(cases), dtype=bool)
    has_procedure[procedures["case_pos"].to_numpy(dtype="int64")] = True
    proc_codes, proc_labels = matching.factorize_strings(
        arrow_strings(procedures["code"], large=True)
    )
    proc_sub, sub_labels = _prefix_codes(proc_codes, proc_labels, 5)
    level = procedures["level"].astype("string")
    proc_level = np.zeros(len(procedures), dtype="int64")  # 0 = 级别 empty or unknown
    for k in (1, 2, 3, 4):
        proc_level[(level == str(k)).fillna(False).to_numpy(dtype=bool)] = k
    return _CaseQuantities(
        dx_codes=dx_codes,
        dx_labels=dx_labels,
        cat3=cat3,
        cat3_labels=cat3_labels,
        los=los.where(los.notna()).astype("Int64"),
        cost=cost.reset_index(drop=True),
        cost_scale=cost_scale,
        death=(cases["离院方式"].astype("string") == "5").fillna(False).to_numpy(dtype=bool),
        year=pd.Series(view.day).dt.year.fillna(-1).astype("int64").to_numpy(),
        complication=_complication_rows(cases, reference),
        has_procedure=has_procedure,
        proc_codes=proc_codes,
        proc_labels=proc_labels,
        proc_sub=proc_sub,
        sub_labels=sub_labels,
        proc_level=proc_level,
    )


@dataclass(frozen=True)
class _RolePairs:
    """The credited pairs by role."""

    pairs: Pairs
    #: per pair: index into :data:`~cwdx.matching.ROLES`
    role: np.ndarray
    #: M: one pair per distinct (applicant, case) among the physician roles
    m: Pairs
    #: P: the 术者 pairs, and the procedure row of each
    p: Pairs
    p_proc: np.ndarray
    #: N: the 责任护士 pairs
    nurse: Pairs

    @classmethod
    def of(cls, lean: pd.DataFrame, n_staff: int) -> _RolePairs:
        role = lean["role"].to_numpy(dtype="int64")
        pairs = Pairs(
            lean["staff_pos"].to_numpy(dtype="int64"),
            lean["case_pos"].to_numpy(dtype="int64"),
            n_staff,
        )
        p_mask = role == ROLES.index(SURGEON)
        return cls(
            pairs=pairs,
            role=role,
            m=pairs.select(role < len(CASE_PHYSICIAN_ROLES)).distinct_cases(),
            p=pairs.select(p_mask),
            p_proc=lean["proc"].to_numpy(dtype="int64")[p_mask],
            nurse=pairs.select(role == ROLES.index(NURSE_MAIN)),
        )

    def of_role(self, name: str) -> Pairs:
        """The pairs of one role (a name of :data:`~cwdx.matching.ROLES`)."""
        return self.pairs.select(self.role == ROLES.index(name))


def _physician_indicators(sets: _RolePairs, q: _CaseQuantities) -> dict[str, _Values]:
    """The physician indicators of ``metrics.md`` (before the specialty catalogue)."""
    m, p, p_proc = sets.m, sets.p, sets.p_proc
    p_patients = p.distinct_cases()
    r: dict[str, _Values] = {}
    m_count = m.count()
    r["出院患者人数"] = m_count
    for column, name in zip(
        ("作为主（副主）任医师出院人数", "作为主治医师出院人数", "作为住院医师出院人数"),
        CASE_PHYSICIAN_ROLES,
        strict=True,
    ):
        r[column] = sets.of_role(name).count()
    r["出院患者病种数"] = m.distinct(q.cat3[m.case])
    r["平均住院日"] = m.exact_mean(q.los, 0)
    r["次均费用"] = m.exact_mean(q.cost, q.cost_scale)
    deaths = m.count_flag(q.death)
    r["死亡人数"] = deaths
    r["死亡率(%)"] = _ratios(deaths, m_count)
    p_count = p.count()
    level4 = p.select(q.proc_level[p_proc] == 4).count()
    r["手术患者人数"] = p_patients.count()
    r["手术例数"] = p_count
    r["三级手术例数"] = p.select(q.proc_level[p_proc] == 3).count()
    r["四级手术例数"] = level4
    r["四级手术占比(%)"] = _ratios(level4, p_count)
    r["术种数"] = p.distinct(q.proc_sub[p_proc])
    r["作为Ⅰ助手术例数"] = sets.of_role(ASSISTANT).count()
    complications = p_patients.count_flag(q.complication)
    r["手术患者并发症例数"] = complications
    r["手术患者并发症发生率(%)"] = _ratios(complications, p_patients.count())
    return r


def _catalogue_indicators(
    staff: pd.DataFrame,
    reference: Reference,
    physician: np.ndarray,
    sets: _RolePairs,
    q: _CaseQuantities,
) -> dict[str, _Values]:
    """The specialty catalogue indicators: prefix tests on the distinct codes only."""
    n = len(staff)
    m, p, p_proc = sets.m, sets.p, sets.p_proc
    catalogue: dict[str, list[object]] = {c: [None] * n for c in CATALOGUE_INDICATORS}
    groups: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for spec, group_kind, _group, prefixes in reference.specialty_groups:
        groups.setdefault((spec, group_kind), []).append(prefixes)
    specialty = staff[STAFF_SPECIALTY].astype("string").to_numpy(dtype=object)
    for (spec, group_kind), group_prefixes in groups.items():
        who = physician & (specialty == spec)
        if not who.any():
            continue
        if group_kind == "病种":
            own = m.select(who[m.staff])
            labels, per_pair = q.dx_labels, q.dx_codes[own.case]
        else:
            keep = who[p.staff]
            own = p.select(keep)
            labels, per_pair = q.proc_labels, q.proc_codes[p_proc[keep]]
        covered = np.zeros(n, dtype="int64")
        any_hit = np.zeros(len(own.staff), dtype=bool)
        for prefixes in group_prefixes:
            hit_by_code = _group_hits(labels, prefixes)
            hit = hit_by_code[per_pair] if len(per_pair) else np.zeros(0, dtype=bool)
            any_hit |= hit
            covered += np.bincount(own.staff[hit], minlength=n) > 0
        examples = own.select(any_hit).count()
        total = len(group_prefixes)
        for pos in np.flatnonzero(who):
            catalogue[f"目录{group_kind}数"][pos] = total
            catalogue[f"目录{group_kind}覆盖数"][pos] = int(covered[pos])
            catalogue[f"目录{group_kind}覆盖率(%)"][pos] = percent(int(covered[pos]), total)
            catalogue[f"目录{group_kind}例数"][pos] = int(examples[pos])
    return dict(catalogue)


def _nurse_indicators(sets: _RolePairs, q: _CaseQuantities) -> dict[str, _Values]:
    """The nurse indicators of ``metrics.md``."""
    nurse_pairs = sets.nurse
    return {
        "责任护理出院患者人数": nurse_pairs.count(),
        "作为质控护师病例数": sets.of_role(NURSE_SECOND).count(),
        "护理患者病种数": nurse_pairs.distinct(q.cat3[nurse_pairs.case]),
        "护理患者平均住院日": nurse_pairs.exact_mean(q.los, 0),
        "护理手术患者人数": nurse_pairs.count_flag(q.has_procedure),
        "护理死亡患者人数": nurse_pairs.count_flag(q.death),
    }


def _summary(
    staff: pd.DataFrame,
    counts: pd.DataFrame,
    lines: pd.Series,
    indicators: dict[str, _Values],
    physician: np.ndarray,
    nurse: np.ndarray,
) -> pd.DataFrame:
    """指标汇总: identity columns, 匹配状态, 说明, then each indicator for the applicant's own
    人员类别 (empty for the other kind)."""
    summary = pd.DataFrame({c: staff[c].astype("string") for c in IDENTITY_COLUMNS[:10]})
    summary["匹配状态"] = pd.array(
        np.where(counts["matched"].to_numpy(dtype=bool), MATCHED, UNMATCHED), dtype="string"
    )
    summary["说明"] = lines.where(lines != "")
    for column in INDICATOR_COLUMNS:
        own_kind = nurse if column in NURSE_INDICATORS else physician
        values = [
            v if keep else None for v, keep in zip(list(indicators[column]), own_kind, strict=True)
        ]
        dtype = "Float64" if column in DECIMAL_COLUMNS else "Int64"
        summary[column] = pd.array(values, dtype=dtype)
    return summary
