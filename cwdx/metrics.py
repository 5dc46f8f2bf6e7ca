"""Indicators (指标计算, ``metrics.md``): per-applicant workload indicators and detail tables.

:func:`compute_institution` is pure: stored case and staff frames of one institution in,
:class:`InstitutionResults` out. :func:`compute_workspace` runs it for the institutions of a
workspace that passed the check and stores the tables (moving them to 已计算).

Means and percentages are exact rationals rounded half up (四舍五入) to two decimals; a mean or
ratio with a zero denominator is empty (NA), never 0; counts are always numbers for the
applicant's own 人员类别 and empty for the other kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

import cwdx
from cwdx import matching
from cwdx.errors import CwdxError, ErrorKind, Hint
from cwdx.log import get_logger
from cwdx.reference import TABLE_TITLES, Reference, load_reference
from cwdx.values import typed_column

if TYPE_CHECKING:
    from cwdx.workspace import Workspace

log = get_logger("cwdx.metrics")

# -- columns -----------------------------------------------------------------------------------

MATCHED = "已匹配"
UNMATCHED = "未匹配"

#: The applicant columns of 指标汇总, before the indicators (outputs.md).
IDENTITY_COLUMNS: tuple[str, ...] = (
    "组织机构代码",
    "医疗机构名称",
    "姓名",
    "执业证书编码",
    "所在科室",
    "人员类别",
    "申报专业",
    "拟申报级别",
    "现专业技术职务聘任时间",
    "提取工作量数据截止时间",
    "匹配状态",
    "说明",
)

#: Physician indicators with their definitions (口径说明), in metrics.md order.
PHYSICIAN_INDICATORS: dict[str, str] = {
    "出院患者人数": "评价周期内本人在本科室以主（副主）任医师、主治医师或住院医师身份出现的出院病案数（M）",
    "作为主（副主）任医师出院人数": "M 中主（副主）任医师为本人的病案数",
    "作为主治医师出院人数": "M 中主治医师为本人的病案数",
    "作为住院医师出院人数": "M 中住院医师为本人的病案数",
    "出院患者病种数": "M 中出院主要诊断编码前 3 位（ICD-10 类目）的不同个数",
    "平均住院日": "M 的住院天数平均值；住院天数取实际住院（天），为空时取出院日期减入院日期（至少 1 天）",
    "次均费用": "M 中住院总费用已填写病案的住院总费用平均值（元）",
    "死亡人数": "M 中离院方式为 5（死亡）的病案数",
    "死亡率(%)": "死亡人数 ÷ 出院患者人数 × 100",
    "手术患者人数": "本人为术者的手术（P）所在的不同病案数（一次住院多次手术计 1 人）",
    "手术例数": "评价周期内本人在本科室病案中作为术者的有效手术操作数（主要手术操作及其他手术操作1–5，编码在国临版3.0 内，P）",
    "三级手术例数": "P 中手术级别为 3 的手术数",
    "四级手术例数": "P 中手术级别为 4 的手术数",
    "四级手术占比(%)": "四级手术例数 ÷ 手术例数 × 100",
    "术种数": "P 中手术操作编码前 5 位（如 36.06）的不同个数",
    "作为Ⅰ助手术例数": "评价周期内本人在本科室病案中作为Ⅰ助的有效手术操作数（A）",
    "手术患者并发症例数": "手术患者中，有一个出院其他诊断编码在国临版2.0 内、以并发症目录前缀开头且其入院病情不为 1（有）的病案数；入院病情为空按不为 1 计",
    "手术患者并发症发生率(%)": "手术患者并发症例数 ÷ 手术患者人数 × 100",
}

#: Specialty catalogue indicators (physicians whose 申报专业 has groups of that kind).
CATALOGUE_INDICATORS: dict[str, str] = {
    "目录病种数": "申报专业在病种目录中的病种数；申报专业无病种目录时为空",
    "目录病种覆盖数": "至少有 1 例 M 病案的出院主要诊断编码以该病种任一编码前缀开头的目录病种数",
    "目录病种覆盖率(%)": "目录病种覆盖数 ÷ 目录病种数 × 100",
    "目录病种例数": "M 中出院主要诊断编码属于任一目录病种的病案数",
    "目录术种数": "申报专业在术种目录中的术种数；申报专业无术种目录时为空",
    "目录术种覆盖数": "至少有 1 例 P 手术的编码以该术种任一编码前缀开头的目录术种数",
    "目录术种覆盖率(%)": "目录术种覆盖数 ÷ 目录术种数 × 100",
    "目录术种例数": "P 中编码属于任一目录术种的手术数",
}

#: Nurse indicators with their definitions.
NURSE_INDICATORS: dict[str, str] = {
    "责任护理出院患者人数": "评价周期内本人在本科室作为责任护士的出院病案数（N）",
    "作为质控护师病例数": "评价周期内本人在本科室作为质控护师的出院病案数（Q）",
    "护理患者病种数": "N 中出院主要诊断编码前 3 位（ICD-10 类目）的不同个数",
    "护理患者平均住院日": "N 的住院天数平均值（住院天数取法同平均住院日）",
    "护理手术患者人数": "N 中至少有一个有效手术操作（编码在国临版3.0 内）的病案数",
    "护理死亡患者人数": "N 中离院方式为 5（死亡）的病案数",
}

#: Every indicator and its definition, in 指标汇总 column order.
INDICATOR_DEFINITIONS: dict[str, str] = {
    **PHYSICIAN_INDICATORS,
    **CATALOGUE_INDICATORS,
    **NURSE_INDICATORS,
}
INDICATOR_COLUMNS: tuple[str, ...] = tuple(INDICATOR_DEFINITIONS)
SUMMARY_COLUMNS: tuple[str, ...] = IDENTITY_COLUMNS + INDICATOR_COLUMNS

#: Indicator columns holding means or percentages (two decimals); the others are counts.
DECIMAL_COLUMNS: frozenset[str] = frozenset(
    {
        "平均住院日",
        "次均费用",
        "死亡率(%)",
        "四级手术占比(%)",
        "手术患者并发症发生率(%)",
        "目录病种覆盖率(%)",
        "目录术种覆盖率(%)",
        "护理患者平均住院日",
    }
)

#: Shared definitions (口径说明) of the matching itself.
MATCHING_DEFINITION = (
    "申报人员与病案的匹配：病案的组织机构代码与出院科别分别等于申报人员的组织机构代码与所在科室，"
    "出院日期在现专业技术职务聘任时间至提取工作量数据截止时间之间（两端含），且姓名（去空白、全角转半角后）"
    "出现在相应角色字段中（医师：主（副主）任医师、主治医师、住院医师、术者、Ⅰ助；护士：责任护士、质控护师）。"
    "参与计算的病案不含重复记录（W09 的后出现者）、出院主要诊断编码不在国临版2.0 内（W03）、"
    "出院时间或出院科别为空或无效的病案；编码不在国临版3.0 内的手术操作不计（W04/W05）。"
)
ROUNDING_DEFINITION = (
    "平均值与百分比按精确值四舍五入保留两位小数；分母为 0 时为空（不是 0）；计数项始终为数字。"
    "医师指标对护士为空，护士指标对医师为空。"
)
CATALOGUE_NOTE = (
    "随软件提供的专科病种/术种目录仅为示例，只覆盖心血管内科、普通外科、骨外科三个专业；"
    "正式评审请由省级主管部门替换为官方目录。"
)

#: Key (identity) columns of the detail tables.
DETAIL_KEYS: tuple[str, ...] = ("组织机构代码", "姓名", "执业证书编码", "所在科室", "人员类别")
DISEASE_COLUMNS: tuple[str, ...] = (*DETAIL_KEYS, "疾病类目", "病例数")
PROCEDURE_COLUMNS: tuple[str, ...] = (
    *DETAIL_KEYS,
    "术种",
    "手术例数",
    "一级手术例数",
    "二级手术例数",
    "三级手术例数",
    "四级手术例数",
    "级别未填例数",
)
YEAR_COLUMNS: tuple[str, ...] = (
    *DETAIL_KEYS,
    "出院年份",
    "出院患者人数",
    "手术例数",
    "责任护理出院患者人数",
)
CASE_LIST_COLUMNS: tuple[str, ...] = (
    *DETAIL_KEYS,
    "病案号",
    "住院次数",
    "出院时间",
    "角色",
    "文件",
    "行号",
)

#: Names of the stored result tables (``Workspace.save_results``).
SUMMARY = "指标汇总"
DISEASES = "病种明细"
PROCEDURES = "术种明细"
YEARS = "年度明细"
CASE_LIST = "病例清单"
PROVENANCE = "口径信息"


# -- exact half-up rounding ------------------------------------------------------------------


def half_up(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` rounded half up to two decimals, ``None`` when the
    denominator is 0. Exact on integers (no float or decimal intermediate rounding)."""
    if denominator == 0:
        return None
    sign = -1 if (numerator < 0) != (denominator < 0) else 1
    num, den = abs(int(numerator)), abs(int(denominator))
    hundredths = (200 * num + den) // (2 * den)
    return sign * hundredths / 100


def percent(count: int, total: int) -> float | None:
    """``count ÷ total × 100`` rounded half up to two decimals; ``None`` when total is 0."""
    return half_up(100 * int(count), int(total))


# -- per-row quantities ----------------------------------------------------------------------


_DECIMAL_RE = r"^(?P<sign>-?)(?P<whole>\d{1,12})(?:\.(?P<frac>\d{1,6}))?$"


def _scaled_decimal(series: pd.Series) -> tuple[pd.Series, int]:
    """Canonical decimal strings as exact integers of ``10**-scale`` (NA when empty/invalid).

    ``Int64`` when every value has at most 12 integer and 6 fraction digits and no sum can
    overflow (the usual case, done in Arrow); else Python integers (object dtype). Either
    way sums stay exact.
    """
    array = matching.arrow_strings(series)
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
    for k in range(1, 11):
        code = cases[f"出院其他诊断编码{k}"].astype("string")
        if code.notna().sum() == 0:
            continue
        present = cases[f"出院其他诊断入院病情{k}"].astype("string")
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


# -- results -----------------------------------------------------------------------------------


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


def _ids(staff: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """The detail key columns of the given staff positions."""
    return pd.DataFrame(
        {c: staff[c].astype("string").take(positions).reset_index(drop=True) for c in DETAIL_KEYS}
    )


def _empty_detail(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})


class _Pairs:
    """Credited pairs of one kind (positional arrays, sorted by staff then case)."""

    def __init__(self, staff_pos: np.ndarray, case_pos: np.ndarray, n_staff: int) -> None:
        self.staff = staff_pos
        self.case = case_pos
        self.n = n_staff

    def select(self, mask: np.ndarray) -> _Pairs:
        return _Pairs(self.staff[mask], self.case[mask], self.n)

    def distinct_cases(self) -> _Pairs:
        """One pair per (staff, case) (the arrays are sorted by staff, then case)."""
        return self.select(matching.first_of_runs(self.staff, self.case))

    def count(self) -> np.ndarray:
        return np.bincount(self.staff, minlength=self.n).astype("int64")

    def count_flag(self, flag_per_case: np.ndarray) -> np.ndarray:
        return self.select(flag_per_case[self.case]).count()

    def distinct(self, codes: np.ndarray) -> np.ndarray:
        """Number of distinct non-negative ``codes`` (one per pair) per staff."""
        staff_pos, _codes, _sizes = _counted(self.staff, codes)
        return np.bincount(staff_pos, minlength=self.n).astype("int64")

    def exact_mean(self, values: pd.Series, scale: int) -> list[float | None]:
        """Per staff mean of the filled per-case integer ``values`` (units of 10**-scale),
        rounded half up to two decimals; None when no value is filled."""
        taken = values.iloc[self.case]
        filled = taken.notna().to_numpy(dtype=bool)
        out: list[float | None] = [None] * self.n
        if not filled.any():
            return out
        staff = self.staff[filled]
        if values.dtype == object:
            sums = pd.Series(taken.to_numpy()[filled]).groupby(staff).sum()
        else:
            sums = pd.Series(taken.to_numpy(dtype="int64", na_value=0)[filled]).groupby(staff).sum()
        counts = np.bincount(staff, minlength=self.n)
        for pos, total in zip(sums.index, sums.to_numpy(), strict=True):
            out[int(pos)] = half_up(int(total), int(counts[pos]) * 10**scale)
        return out


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
    reference = reference or load_reference()
    cases = cases.reset_index(drop=True)
    staff = staff.reset_index(drop=True)
    n = len(staff)
    view = matching.case_view(cases, reference)
    lean, procedures = matching.credited_lean(cases, staff, reference, view)
    counts = matching.match_staff(cases, staff, reference, lean)
    lines = matching.explain(cases, staff, reference, counts, view=view)

    # per case row
    dx_codes, dx_labels = matching.factorize_strings(
        matching.arrow_strings(cases["出院主要诊断编码"])
    )
    cat3, cat3_labels = _prefix_codes(dx_codes, dx_labels, 3)
    los = pd.Series(length_of_stay(cases, view).to_numpy(dtype="float64", na_value=np.nan))
    los_values = los.where(los.notna()).astype("Int64")
    cost, cost_scale = _scaled_decimal(cases["住院总费用"])
    cost = cost.reset_index(drop=True)
    death = (cases["离院方式"].astype("string") == "5").fillna(False).to_numpy(dtype=bool)
    year = pd.Series(view.day).dt.year.fillna(-1).astype("int64").to_numpy()
    complication = _complication_rows(cases, reference)
    has_procedure = np.zeros(len(cases), dtype=bool)
    has_procedure[procedures["case_pos"].to_numpy(dtype="int64")] = True

    # per eligible procedure
    proc_codes, proc_labels = matching.factorize_strings(matching.arrow_strings(procedures["code"]))
    proc_sub, sub_labels = _prefix_codes(proc_codes, proc_labels, 5)
    level = procedures["level"].astype("string")
    proc_level = np.zeros(len(procedures), dtype="int64")  # 0 = 级别 empty or unknown
    for k in (1, 2, 3, 4):
        proc_level[(level == str(k)).fillna(False).to_numpy(dtype=bool)] = k

    # pairs by role
    kind = staff["人员类别"].astype("string")  # NA when empty: compare in pandas, then fill
    physician = (kind == matching.PHYSICIAN).fillna(False).to_numpy(dtype=bool)
    nurse = (kind == matching.NURSE).fillna(False).to_numpy(dtype=bool)
    role = lean["role"].to_numpy(dtype="int64")
    pairs = _Pairs(
        lean["staff_pos"].to_numpy(dtype="int64"), lean["case_pos"].to_numpy(dtype="int64"), n
    )
    proc_of_pair = lean["proc"].to_numpy(dtype="int64")
    roles = {name: i for i, name in enumerate(matching.ROLES)}
    m_roles = role < len(matching.PHYSICIAN_ROLES)
    m = pairs.select(m_roles).distinct_cases()
    p_mask = role == roles[matching.SURGEON]
    p = pairs.select(p_mask)
    p_proc = proc_of_pair[p_mask]
    p_patients = p.distinct_cases()
    nurse_pairs = pairs.select(role == roles["责任护士"])

    r: dict[str, object] = {}
    m_count = m.count()
    r["出院患者人数"] = m_count
    for column, name in zip(
        ("作为主（副主）任医师出院人数", "作为主治医师出院人数", "作为住院医师出院人数"),
        matching.PHYSICIAN_ROLES,
        strict=True,
    ):
        r[column] = pairs.select(role == roles[name]).count()
    r["出院患者病种数"] = m.distinct(cat3[m.case])
    r["平均住院日"] = m.exact_mean(los_values, 0)
    r["次均费用"] = m.exact_mean(cost, cost_scale)
    deaths = m.count_flag(death)
    r["死亡人数"] = deaths
    r["死亡率(%)"] = _ratios(deaths, m_count)
    p_count = p.count()
    level4 = p.select(proc_level[p_proc] == 4).count()
    r["手术患者人数"] = p_patients.count()
    r["手术例数"] = p_count
    r["三级手术例数"] = p.select(proc_level[p_proc] == 3).count()
    r["四级手术例数"] = level4
    r["四级手术占比(%)"] = _ratios(level4, p_count)
    r["术种数"] = p.distinct(proc_sub[p_proc])
    r["作为Ⅰ助手术例数"] = pairs.select(role == roles[matching.ASSISTANT]).count()
    complications = p_patients.count_flag(complication)
    r["手术患者并发症例数"] = complications
    r["手术患者并发症发生率(%)"] = _ratios(complications, p_patients.count())

    # specialty catalogue: prefix tests on the distinct codes only
    catalogue: dict[str, list[object]] = {c: [None] * n for c in CATALOGUE_INDICATORS}
    groups: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for spec, group_kind, _group, prefixes in reference.specialty_groups:
        groups.setdefault((spec, group_kind), []).append(prefixes)
    specialty = staff["申报专业"].astype("string").to_numpy(dtype=object)
    for (spec, group_kind), group_prefixes in groups.items():
        who = physician & (specialty == spec)
        if not who.any():
            continue
        if group_kind == "病种":
            own = m.select(who[m.staff])
            labels, per_pair = dx_labels, dx_codes[own.case]
        else:
            keep = who[p.staff]
            own = p.select(keep)
            labels, per_pair = proc_labels, proc_codes[p_proc[keep]]
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
    r.update(catalogue)

    r["责任护理出院患者人数"] = nurse_pairs.count()
    r["作为质控护师病例数"] = pairs.select(role == roles["质控护师"]).count()
    r["护理患者病种数"] = nurse_pairs.distinct(cat3[nurse_pairs.case])
    r["护理患者平均住院日"] = nurse_pairs.exact_mean(los_values, 0)
    r["护理手术患者人数"] = nurse_pairs.count_flag(has_procedure)
    r["护理死亡患者人数"] = nurse_pairs.count_flag(death)

    summary = pd.DataFrame({c: staff[c].astype("string") for c in IDENTITY_COLUMNS[:10]})
    summary["匹配状态"] = pd.array(
        np.where(counts["matched"].to_numpy(dtype=bool), MATCHED, UNMATCHED), dtype="string"
    )
    summary["说明"] = lines.where(lines != "")
    for column in INDICATOR_COLUMNS:
        own_kind = nurse if column in NURSE_INDICATORS else physician
        values = [v if keep else None for v, keep in zip(list(r[column]), own_kind, strict=True)]
        dtype = "Float64" if column in DECIMAL_COLUMNS else "Int64"
        summary[column] = pd.array(values, dtype=dtype)

    m_own = m.select(physician[m.staff])
    n_own = nurse_pairs.select(nurse[nurse_pairs.staff])
    diseases = _disease_detail(staff, m_own, n_own, cat3, cat3_labels)
    procedure_detail = _procedure_detail(staff, p, proc_sub[p_proc], sub_labels, proc_level[p_proc])
    years = _year_detail(staff, m_own, p.select(physician[p.staff]), n_own, year, physician)
    listing = _case_list(cases, staff, lean, procedures) if case_list else None
    from cwdx.check import _org_of  # the institution the rows are attributed to

    return InstitutionResults(
        _org_of(staff, cases), summary, diseases, procedure_detail, years, listing
    )


def _counted(staff_pos: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(staff, code, count) of each distinct (staff, code) pair, codes ≥ 0 only."""
    ok = codes >= 0
    width = int(codes.max()) + 1 if ok.any() else 1
    keys, sizes = np.unique(staff_pos[ok] * width + codes[ok], return_counts=True)
    return keys // width, keys % width, sizes


def _disease_detail(
    staff: pd.DataFrame,
    m: _Pairs,
    nurse_pairs: _Pairs,
    cat3: np.ndarray,
    labels: np.ndarray,
) -> pd.DataFrame:
    who = np.concatenate([m.staff, nurse_pairs.staff])
    codes = np.concatenate([cat3[m.case], cat3[nurse_pairs.case]])
    staff_pos, code, size = _counted(who, codes)
    if not len(staff_pos):
        return _empty_detail(DISEASE_COLUMNS)
    table = pd.DataFrame({"s": staff_pos, "c": labels[code], "n": size})
    table = table.sort_values(["s", "n", "c"], ascending=[True, False, True], kind="stable")
    out = _ids(staff, table["s"].to_numpy(dtype="int64"))
    out["疾病类目"] = pd.array(table["c"].tolist(), dtype="string")
    out["病例数"] = table["n"].to_numpy(dtype="int64")
    return out


def _procedure_detail(
    staff: pd.DataFrame, p: _Pairs, sub: np.ndarray, labels: np.ndarray, level: np.ndarray
) -> pd.DataFrame:
    if not len(p.staff):
        return _empty_detail(PROCEDURE_COLUMNS)
    width = int(sub.max()) + 1
    keys, inverse = np.unique(p.staff * width + sub, return_inverse=True)
    table = pd.DataFrame({"s": keys // width, "c": labels[keys % width]})
    table["手术例数"] = np.bincount(inverse, minlength=len(keys))
    for k, column in enumerate(
        ("级别未填例数", "一级手术例数", "二级手术例数", "三级手术例数", "四级手术例数")
    ):
        table[column] = np.bincount(inverse[level == k], minlength=len(keys))
    table = table.sort_values(["s", "手术例数", "c"], ascending=[True, False, True], kind="stable")
    out = _ids(staff, table["s"].to_numpy(dtype="int64"))
    out["术种"] = pd.array(table["c"].tolist(), dtype="string")
    for column in PROCEDURE_COLUMNS[len(DETAIL_KEYS) + 1 :]:
        out[column] = table[column].to_numpy(dtype="int64")
    return out


def _year_detail(
    staff: pd.DataFrame,
    m: _Pairs,
    p: _Pairs,
    nurse_pairs: _Pairs,
    year: np.ndarray,
    physician: np.ndarray,
) -> pd.DataFrame:
    parts = []
    for pairs, column in (
        (m, "出院患者人数"),
        (p, "手术例数"),
        (nurse_pairs, "责任护理出院患者人数"),
    ):
        staff_pos, years, size = _counted(pairs.staff, year[pairs.case])
        parts.append(
            pd.Series(size, index=pd.MultiIndex.from_arrays([staff_pos, years]), name=column)
        )
    table = pd.concat(parts, axis=1)
    if table.empty:
        return _empty_detail(YEAR_COLUMNS)
    table = table.sort_index()
    positions = table.index.get_level_values(0).to_numpy(dtype="int64")
    out = _ids(staff, positions)
    out["出院年份"] = table.index.get_level_values(1).to_numpy(dtype="int64")
    is_physician = physician[positions]
    for column, own in (
        ("出院患者人数", is_physician),
        ("手术例数", is_physician),
        ("责任护理出院患者人数", ~is_physician),
    ):
        values = table[column].fillna(0).astype("int64").to_numpy()
        out[column] = pd.array(
            [int(v) if keep else None for v, keep in zip(values, own, strict=True)],
            dtype="Int64",
        )
    return out


_SLOT_LABELS = ("主要手术操作",) + tuple(f"其他手术操作{k}" for k in range(1, 6))


def _case_list(
    cases: pd.DataFrame, staff: pd.DataFrame, lean: pd.DataFrame, procedures: pd.DataFrame
) -> pd.DataFrame:
    if lean.empty:
        return _empty_detail(CASE_LIST_COLUMNS)
    proc = lean["proc"].to_numpy(dtype="int64")
    slots = procedures["slot"].to_numpy(dtype="int64")
    labels = [
        matching.ROLES[role] if k < 0 else f"{matching.ROLES[role]}（{_SLOT_LABELS[slots[k]]}）"
        for role, k in zip(lean["role"].tolist(), proc.tolist(), strict=True)
    ]
    frame = pd.DataFrame(
        {"staff_pos": lean["staff_pos"], "case_pos": lean["case_pos"], "label": labels}
    )
    joined = (
        frame.groupby(["staff_pos", "case_pos"], sort=True)["label"]
        .agg(lambda s: "、".join(dict.fromkeys(s)))
        .reset_index()
    )
    case_pos = joined["case_pos"].to_numpy(dtype="int64")
    out = _ids(staff, joined["staff_pos"].to_numpy(dtype="int64"))

    def taken(values: pd.Series) -> pd.Series:
        return values.take(case_pos).reset_index(drop=True)

    out["病案号"] = taken(cases["病案号"].astype("string"))
    out["住院次数"] = taken(typed_column(cases["住院次数"], "int"))  # a number in the workbook
    out["出院时间"] = taken(cases["出院时间"].astype("string"))
    out["角色"] = pd.array(joined["label"].tolist(), dtype="string")
    if "_file" in cases.columns:
        out["文件"] = cases["_file"].astype("string").take(case_pos).reset_index(drop=True)
    else:
        out["文件"] = pd.array([None] * len(out), dtype="string")
    if "_row" in cases.columns:
        out["行号"] = cases["_row"].to_numpy(dtype="int64")[case_pos]
    else:
        out["行号"] = pd.array([None] * len(out), dtype="Int64")
    return out


# -- workspace ---------------------------------------------------------------------------------


#: Columns of the stored 口径信息 table (and of the 口径说明 sheet).
PROVENANCE_COLUMNS: tuple[str, ...] = ("类别", "名称", "说明", "行数", "SHA-256")


def provenance_table(
    ws: Workspace, org: str, cases: pd.DataFrame, staff: pd.DataFrame, computed_at: str
) -> pd.DataFrame:
    """口径信息 of one computation: versions, time, reference lists and input files.

    Input files are the imported files holding rows of this institution, with the file's SHA-256
    and row count (the institution's own rows in 说明).
    """
    rows: list[tuple[str, str, str, int | None, str | None]] = [
        ("版本", "口径版本", cwdx.METRICS_VERSION, None, None),
        ("版本", "软件版本", cwdx.__version__, None, None),
        ("计算时间", org, computed_at, None, None),
    ]
    rows += [("参考数据", f.file, "", f.rows, f.sha256) for f in load_reference().files]
    used: dict[int, int] = {}
    for frame in (cases, staff):
        if "_import" in frame.columns and len(frame):
            for import_id, count in frame["_import"].value_counts().items():
                used[int(import_id)] = used.get(int(import_id), 0) + int(count)
    for record in ws.imported_files():
        if record.id in used:
            title = TABLE_TITLES.get(record.table, record.table)
            rows.append(
                (
                    "输入文件",
                    record.file,
                    f"{title}；机构 {org} 的数据 {used[record.id]} 行",
                    int(record.rows),
                    record.sha256,
                )
            )
    return pd.DataFrame(
        {
            "类别": pd.array([r[0] for r in rows], dtype="string"),
            "名称": pd.array([r[1] for r in rows], dtype="string"),
            "说明": pd.array([r[2] for r in rows], dtype="string"),
            "行数": pd.array([r[3] for r in rows], dtype="Int64"),
            "SHA-256": pd.array([r[4] for r in rows], dtype="string"),
        }
    )


def compute_workspace(
    ws: Workspace,
    orgs: Iterable[str] | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    case_list: bool = False,
) -> dict[str, InstitutionResults]:
    """Compute and store the indicators of institutions that passed the check.

    ``orgs=None`` computes every institution at 已检测-通过. Named institutions are all checked
    first: if any of them is not at 已检测-通过 nothing is computed and :class:`CwdxError` says
    why for each (the workspace's own refusal text). Each institution's tables are stored with
    ``ws.save_results``, which moves it to 已计算.

    The whole computation holds the workspace's write lock (``ws.writing``): other writes
    (an unfreeze, a delete) are refused in Chinese until it ends.
    """
    with ws.writing("指标计算"):
        return _compute_locked(ws, orgs, on_progress, case_list)


def _compute_locked(
    ws: Workspace,
    orgs: Iterable[str] | None,
    on_progress: Callable[[int, int, str], None] | None,
    case_list: bool,
) -> dict[str, InstitutionResults]:
    """:func:`compute_workspace` while it holds the workspace's write lock."""
    from cwdx.workspace import STAGE_FAILED, STAGE_PASSED

    infos = {info.org: info for info in ws.institutions()}
    if orgs is None:
        targets = [org for org, info in infos.items() if info.stage == STAGE_PASSED]
        if not targets:
            raise CwdxError(
                "没有可以计算的机构：只有数据检测通过（已检测-通过）的机构才能计算，"
                "请先执行数据检测并按反馈表修改数据。",
                ErrorKind.CHECK_FAILED
                if any(i.stage == STAGE_FAILED for i in infos.values())
                else ErrorKind.REFUSED,
            )
    else:
        targets = list(dict.fromkeys(orgs))
        refusals = []
        hint: Hint | None = None
        failed = False
        for org in targets:
            try:
                ws.require_stage(org, "compute")
            except CwdxError as error:
                refusals.append(error.message)
                hint = error.hint if not refusals[:-1] else None  # one refusal: its next step
                failed = failed or (org in infos and infos[org].stage == STAGE_FAILED)
        if refusals:
            raise CwdxError(
                "".join(refusals), ErrorKind.CHECK_FAILED if failed else ErrorKind.REFUSED, hint
            )

    reference = load_reference()
    out: dict[str, InstitutionResults] = {}
    total = len(targets)
    for done, org in enumerate(targets):
        if on_progress:
            on_progress(done, total, f"计算 {org}")
        started = time.perf_counter()
        cases = ws.load("cases", [org])
        staff = ws.load("staff", [org])
        result = compute_institution(cases, staff, reference, case_list=case_list)
        result.org = org
        seconds = time.perf_counter() - started
        computed_at = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        result.extra = {PROVENANCE: provenance_table(ws, org, cases, staff, computed_at)}
        ws.save_results(org, result.tables())
        matched = int((result.summary["匹配状态"] == MATCHED).sum())
        log.info(
            "计算完成：机构 %s，病案 %d 行，申报人员 %d 人，已匹配 %d 人，用时 %.1f 秒",
            org,
            len(cases),
            len(staff),
            matched,
            seconds,
        )
        out[org] = result
    if on_progress:
        on_progress(total, total, "计算完成")
    return out
