"""Report tables and texts: plain pandas, no matplotlib (used by the notebooks and tests).

Volumes by institution, finding counts by rule, the worst fields, the applicants' indicators
split by 人员类别, unmatched applicants with their explain lines, outliers, and the province
summaries. :func:`table_html` renders any of them as escaped HTML.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cwdx import metrics
from cwdx.columns import (
    KIND_NURSE,
    KIND_PHYSICIAN,
    ORG,
    ORG_NAME,
    STAFF_DEPT,
    STAFF_KIND,
    STAFF_LEVEL,
    STAFF_LICENSE,
    STAFF_NAME,
    STAFF_SPECIALTY,
)
from cwdx.errors import CwdxError
from cwdx.metrics import DECIMAL_COLUMNS, MATCHED, SUMMARY, SUMMARY_COLUMNS, UNMATCHED
from cwdx.rules import RULES
from cwdx.workspace import (
    STAGE_COMPUTED,
    STAGE_FAILED,
    STAGE_PASSED,
    STAGE_UPLOADED,
    InstitutionInfo,
    Workspace,
)
from cwdx.xlsx import is_missing

#: Tables shown in full up to this many rows (longer ones are cut with a sentence saying so).
MAX_TABLE_ROWS = 200
#: Tables a report must show whole (the applicants of an institution, the institutions).
FULL_TABLE_ROWS = 20_000

#: 数据表 names of the stored tables, and the words for 人员类别 and 拟申报级别 codes.
TABLE_LABELS = {"cases": "病案首页数据", "staff": "申报人员信息"}
KIND_LABELS = {KIND_PHYSICIAN: "医师", KIND_NURSE: "护士"}
LEVEL_LABELS = {"1": "正高级", "2": "副高级"}


def _cell_text(value: object) -> str:
    """A cell as the report shows it: blank when missing, decimals with two places."""
    if is_missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table_html(frame: pd.DataFrame) -> str:
    """A table as escaped HTML (no index; empty cells blank; decimals with two places)."""
    if frame.empty:
        return "<p>（无）</p>"
    body = frame.astype(object).map(_cell_text)
    table = body.to_html(index=False, escape=True, border=0, classes="cwdx-table")
    return f"<div class='cwdx-scroll'>{table}</div>"


def open_workspace(workspace: Workspace | str | os.PathLike[str]) -> Workspace:
    """``workspace`` itself, or the existing workspace at that folder."""
    if isinstance(workspace, Workspace):
        return workspace
    if not workspace or not Path(workspace).is_dir():
        raise CwdxError(f"找不到工作区文件夹 {workspace}，请用 -w 指定已有的工作区。")
    return Workspace(workspace, create=False)


def volume_table(infos: Sequence[InstitutionInfo]) -> pd.DataFrame:
    """One row per institution: 组织机构代码, 医疗机构名称, 当前阶段, 病案首页数据（行）,
    申报人员（人）, 错误, 警告, 检测时间, 计算时间 (blank when not checked / computed)."""
    return pd.DataFrame(
        {
            ORG: [i.org for i in infos],
            ORG_NAME: [i.name for i in infos],
            "当前阶段": [i.stage for i in infos],
            "病案首页数据（行）": [i.cases for i in infos],
            "申报人员（人）": [i.staff for i in infos],
            "错误": [i.errors for i in infos],
            "警告": [i.warnings for i in infos],
            "检测时间": [i.checked_at or "" for i in infos],
            "计算时间": [i.computed_at or "" for i in infos],
        }
    )


def rule_counts(
    counts: dict[str, int], case_rows: int = 0, institutions: dict[str, int] | None = None
) -> pd.DataFrame:
    """Rules with a non-zero count, most frequent first (ties in catalogue order): 规则编号,
    级别, 问题数, (涉及机构数 when ``institutions`` gives it per rule), 说明, 处理建议."""
    rows = []
    for rule in RULES.values():
        count = int(counts.get(rule.id, 0))
        if count <= 0:
            continue
        row: dict[str, Any] = {"规则编号": rule.id, "级别": rule.severity_label, "问题数": count}
        if institutions is not None:
            row["涉及机构数"] = institutions.get(rule.id, 0)
        row["说明"] = rule.summary(count, case_rows)
        row["处理建议"] = rule.advice
        rows.append(row)
    columns = ["规则编号", "级别", "问题数"]
    columns += ["涉及机构数"] if institutions is not None else []
    frame = pd.DataFrame(rows, columns=[*columns, "说明", "处理建议"])
    if frame.empty:
        return frame
    order = frame["问题数"].rank(method="first", ascending=False)
    return frame.iloc[order.argsort()].reset_index(drop=True)


def worst_columns(findings: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The fields with the most findings: 数据表, 字段, 问题数, 涉及规则 (row-level findings,
    which name no field, are left out)."""
    columns = ["数据表", "字段", "问题数", "涉及规则"]
    if findings.empty:
        return pd.DataFrame(columns=columns)
    named = findings[findings["column"].fillna("").astype(str) != ""]
    if named.empty:
        return pd.DataFrame(columns=columns)
    grouped = named.groupby(["table", "column"], sort=False)
    frame = pd.DataFrame(
        {
            "问题数": grouped.size(),
            "涉及规则": grouped["rule_id"].agg(lambda s: "、".join(sorted(set(map(str, s))))),
        }
    ).reset_index()
    frame = frame.sort_values(["问题数", "table", "column"], ascending=[False, True, True])
    frame["数据表"] = frame["table"].map(lambda t: TABLE_LABELS.get(t, t))
    frame["字段"] = frame["column"]
    return frame[columns].head(top).reset_index(drop=True)


def labelled_applicants(summary: pd.DataFrame) -> pd.DataFrame:
    """指标汇总 with 人员类别 and 拟申报级别 shown as words (医师/护士, 正高级/副高级)."""
    frame = summary.copy()
    for column, labels in ((STAFF_KIND, KIND_LABELS), (STAFF_LEVEL, LEVEL_LABELS)):
        if column in frame:
            frame[column] = frame[column].map(lambda v, labels=labels: labels.get(v, v))
    return frame


def indicator_tables(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The applicants' indicators split by 人员类别: ``{"医师": …, "护士": …}`` (only kinds
    present), each with the identity columns (姓名, 执业证书编码, 所在科室, 申报专业, 拟申报级别,
    匹配状态: the institution is the report's own) and that kind's own indicators."""
    identity = [
        STAFF_NAME,
        STAFF_LICENSE,
        STAFF_DEPT,
        STAFF_SPECIALTY,
        STAFF_LEVEL,
        "匹配状态",
    ]
    own = {
        KIND_PHYSICIAN: [*metrics.PHYSICIAN_INDICATORS, *metrics.CATALOGUE_INDICATORS],
        KIND_NURSE: list(metrics.NURSE_INDICATORS),
    }
    out: dict[str, pd.DataFrame] = {}
    frame = labelled_applicants(summary)
    for code, label in KIND_LABELS.items():
        rows = frame[summary[STAFF_KIND] == code]
        if not rows.empty:
            out[label] = rows[[c for c in identity + own[code] if c in rows]].reset_index(drop=True)
    return out


#: Columns of the lists of applicants with an explain line.
EXPLAINED_COLUMNS = (
    ORG,
    STAFF_NAME,
    STAFF_LICENSE,
    STAFF_DEPT,
    STAFF_KIND,
    STAFF_SPECIALTY,
    "说明",
)


def _explained(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of 指标汇总 as listed with their explain line: :data:`EXPLAINED_COLUMNS`, labelled."""
    rows = labelled_applicants(rows)
    return rows[[c for c in EXPLAINED_COLUMNS if c in rows]].reset_index(drop=True)


def unmatched_applicants(summary: pd.DataFrame) -> pd.DataFrame:
    """Applicants whose 匹配状态 is 未匹配, with their explain line (说明)."""
    return _explained(summary[summary["匹配状态"] == UNMATCHED])


def noted_applicants(summary: pd.DataFrame) -> pd.DataFrame:
    """Matched applicants that still carry an explain line (e.g. a nurse seen only as 质控护师)."""
    notes = summary["说明"].fillna("").astype(str) != ""
    return _explained(summary[(summary["匹配状态"] == MATCHED) & notes])


#: The fewest applicants a group (one 申报专业) needs for a box plot and for outliers: below it a
#: chart shows each value as a point, and no value is called an outlier.
MIN_GROUP = 5


def _specialty_groups(summary: pd.DataFrame) -> pd.Series:
    """Each applicant's 申报专业 (``（空）`` when blank; one group when the column is absent)."""
    if STAFF_SPECIALTY not in summary:
        return pd.Series("", index=summary.index, dtype=object)
    return summary[STAFF_SPECIALTY].map(lambda v: "（空）" if is_missing(v) or v == "" else str(v))


def outliers(summary: pd.DataFrame, indicators: Iterable[str] | None = None) -> pd.DataFrame:
    """Values beyond 1.5 IQR of their indicator, judged within each 申报专业.

    For each 申报专业 and each indicator (default: the physician and nurse indicators; the
    catalogue ones are fixed per specialty) the quartiles Q1, Q3 are taken over that
    specialty's non-empty values; a value below Q1 − 1.5·IQR or above Q3 + 1.5·IQR is listed
    with that specialty's range. A specialty with fewer than :data:`MIN_GROUP` values of an
    indicator, or with IQR 0, is not judged for it (no spread to compare against); these are
    the whiskers of the report's box plots, so the points beyond them are the rows listed.
    Rows in specialty order, then indicator order. Columns: 组织机构代码, 医疗机构名称, 姓名,
    执业证书编码, 申报专业, 指标, 数值, 参考范围.
    """
    names = (
        list(indicators)
        if indicators is not None
        else [*metrics.PHYSICIAN_INDICATORS, *metrics.NURSE_INDICATORS]
    )
    columns = [
        ORG,
        ORG_NAME,
        STAFF_NAME,
        STAFF_LICENSE,
        STAFF_SPECIALTY,
        "指标",
        "数值",
        "参考范围",
    ]
    groups = _specialty_groups(summary)
    rows = []
    for _, members in summary.groupby(groups, sort=True):
        for indicator in names:
            if indicator not in members:
                continue
            values = pd.to_numeric(members[indicator], errors="coerce").astype("float64")
            present = values.dropna()
            if len(present) < MIN_GROUP:
                continue
            q1, q3 = present.quantile(0.25), present.quantile(0.75)
            iqr = q3 - q1
            if iqr <= 0:
                continue
            low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
            for index, value in values[(values < low) | (values > high)].items():
                row = members.loc[index]
                rows.append(
                    {
                        ORG: row.get(ORG),
                        ORG_NAME: row.get(ORG_NAME),
                        STAFF_NAME: row.get(STAFF_NAME),
                        STAFF_LICENSE: row.get(STAFF_LICENSE),
                        STAFF_SPECIALTY: row.get(STAFF_SPECIALTY),
                        "指标": indicator,
                        "数值": _number_text(indicator, float(value)),
                        "参考范围": f"{max(low, 0):.2f}–{high:.2f}",
                    }
                )
    return pd.DataFrame(rows, columns=columns)


#: At most this many columns in one printed table (wider ones are split, the key columns repeated),
#: so that every table fits the width of an A4 page.
MAX_TABLE_COLUMNS = 10


def column_parts(
    frame: pd.DataFrame, keys: Sequence[str] = (), width: int = MAX_TABLE_COLUMNS
) -> list[pd.DataFrame]:
    """``frame`` cut into tables of at most ``width`` columns, so that each fits an A4 page.

    A frame that fits (or has no rows) is returned whole. Otherwise the first part holds the first ``width``
    columns and each further part the ``keys`` present (e.g. 姓名, 执业证书编码, to tell the rows
    apart) followed by the next columns; the columns after the first part are spread evenly
    over as few parts as possible.
    """
    columns = list(frame.columns)
    if len(columns) <= width or frame.empty:
        return [frame]
    head = columns[:width]
    keep = [k for k in keys if k in columns][: max(0, width - 1)]
    rest = [c for c in columns[width:] if c not in keep]
    room = width - len(keep)
    count = -(-len(rest) // room)  # ceiling
    size = -(-len(rest) // count)
    parts = [frame[head]]
    for start in range(0, len(rest), size):
        parts.append(frame[keep + rest[start : start + size]])
    return parts


def _number_text(indicator: str, value: float) -> str:
    """An indicator value as text: two decimals for the decimal indicators, else whole."""
    return f"{value:.2f}" if indicator in DECIMAL_COLUMNS else str(round(value))


def province_summary(ws: Workspace, infos: Sequence[InstitutionInfo] | None = None) -> pd.DataFrame:
    """The 指标汇总 of every computed institution, one table (empty when none is computed)."""
    frames = []
    for info in infos if infos is not None else ws.institutions():
        table = ws.load_results(info.org).get(SUMMARY)
        if table is not None and not table.empty:
            frames.append(table)
    if not frames:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def stage_table(infos: Sequence[InstitutionInfo]) -> pd.DataFrame:
    """Institutions by stage (every stage, zeros included): 阶段, 机构数."""
    stages = [STAGE_UPLOADED, STAGE_FAILED, STAGE_PASSED, STAGE_COMPUTED]
    stages += sorted({i.stage for i in infos} - set(stages))
    return pd.DataFrame(
        {"阶段": stages, "机构数": [sum(i.stage == s for i in infos) for s in stages]}
    )


def province_problems(infos: Sequence[InstitutionInfo], top: int = 15) -> pd.DataFrame:
    """The most frequent problems across the checked institutions (rule_counts with
    涉及机构数), at most ``top`` rules."""
    totals: dict[str, int] = {}
    spread: dict[str, int] = {}
    cases = 0
    for info in infos:
        if not info.checked:
            continue
        cases += info.cases
        for rule_id, count in info.counts.items():
            if int(count) > 0:
                totals[rule_id] = totals.get(rule_id, 0) + int(count)
                spread[rule_id] = spread.get(rule_id, 0) + 1
    return rule_counts(totals, cases, spread).head(top)
