"""Report content: the report model (:class:`Report`, :class:`Section`) and the two builders.

:func:`build_institution_report` and :func:`build_province_report` assemble the tables of
:mod:`cwdx.reports.tables` and the charts of :mod:`cwdx.reports.charts` into sections with
one Chinese sentence wherever a step (check, compute) has not been done yet.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from cwdx.columns import ORG, STAFF_KIND, STAFF_LEVEL, STAFF_LICENSE, STAFF_NAME, STAFF_SPECIALTY
from cwdx.log import get_logger
from cwdx.metrics import SUMMARY, percent
from cwdx.reports.charts import CHART_INDICATORS, box_plots, figure_html, rule_bar_chart
from cwdx.reports.tables import (
    FULL_TABLE_ROWS,
    KIND_LABELS,
    MAX_TABLE_ROWS,
    MIN_GROUP,
    column_parts,
    indicator_tables,
    noted_applicants,
    open_workspace,
    outliers,
    province_problems,
    province_summary,
    rule_counts,
    stage_table,
    table_html,
    unmatched_applicants,
    volume_table,
    worst_columns,
)
from cwdx.workspace import STAGE_UPLOADED, CheckRecord, InstitutionInfo, Workspace

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = get_logger("cwdx.reports")

#: What a section holds, in order: HTML text (``str``), tables (``DataFrame``), matplotlib figures.
Block = Any


@dataclass
class Section:
    """One heading of a report and what follows it (HTML text, tables, figures)."""

    heading: str
    blocks: list[Block] = field(default_factory=list)

    def text(self, sentence: str) -> Section:
        """Append a paragraph (plain text, escaped)."""
        self.blocks.append(f"<p>{html.escape(sentence)}</p>")
        return self

    def subheading(self, text: str) -> Section:
        """Append a third-level heading (escaped)."""
        self.blocks.append(f"<h3>{html.escape(text)}</h3>")
        return self

    def table(
        self, frame: pd.DataFrame, limit: int = MAX_TABLE_ROWS, keys: Sequence[str] = ()
    ) -> Section:
        """Append a table (at most ``limit`` rows; a sentence says how many were left out).

        A table wider than :data:`MAX_TABLE_COLUMNS` is split into parts that each fit an A4
        page (:func:`column_parts`), each part repeating the ``keys`` columns."""
        shown = frame.head(limit) if len(frame) > limit else frame
        parts = column_parts(shown, keys)
        if len(parts) > 1:
            repeated = [k for k in keys if k in parts[1]]
            self.text(
                f"本表列数较多，分 {len(parts)} 段列出"
                + (f"，每段都列出{'、'.join(repeated)}。" if repeated else "。")
            )
        self.blocks.extend(parts)
        if len(frame) > limit:
            self.text(f"共 {len(frame)} 行，此处只列出前 {limit} 行。")
        return self

    def figure(self, figure: Figure | None) -> Section:
        """Append a chart (nothing when ``figure`` is None)."""
        if figure is not None:
            self.blocks.append(figure)
        return self

    def to_html(self) -> str:
        """The section as HTML (heading, paragraphs, tables, charts as inline PNG)."""
        parts = [f"<h2>{html.escape(self.heading)}</h2>"]
        for block in self.blocks:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, pd.DataFrame):
                parts.append(table_html(block))
            else:
                parts.append(figure_html(block))
        return "\n".join(parts)


@dataclass
class Report:
    """A report: a title, a line under it, and its sections."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def section(self, heading: str) -> Section:
        """Add and return a new section."""
        section = Section(heading)
        self.sections.append(section)
        return section

    def find(self, heading: str) -> Section:
        """The section with this heading (``KeyError`` when there is none)."""
        for section in self.sections:
            if section.heading == heading:
                return section
        raise KeyError(heading)

    def header_html(self) -> str:
        """Style, title and subtitle."""
        sub = f"<p class='cwdx-sub'>{html.escape(self.subtitle)}</p>" if self.subtitle else ""
        return f"{STYLE}<h1>{html.escape(self.title)}</h1>{sub}"

    def to_html(self) -> str:
        """The whole report as one HTML fragment."""
        return "\n".join([self.header_html(), *(s.to_html() for s in self.sections)])

    def display(self) -> None:
        """Show the report in a notebook: one HTML output per section."""
        # lazy: IPython is an optional dependency (the app extra), needed only in a notebook
        from IPython.display import HTML, display

        display(HTML(self.header_html()))
        for section in self.sections:
            display(HTML(section.to_html()))


#: The reports' style, shown with the first output of a report (so the notebook, the HTML page
#: and its PDF look the same): A4 pages with page numbers, wrapping tables in a smaller type
#: when printed, headings kept with what follows them.
STYLE = """<style>
@page { size: A4; margin: 15mm 12mm 16mm 12mm;
  @bottom-center { content: "第 " counter(page) " 页，共 " counter(pages) " 页";
    font-size: 8pt; color: #666; } }
.cwdx-report, h1, h2, h3, p, table.cwdx-table { font-family: "Microsoft YaHei", "PingFang SC",
  "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif; }
h1 { font-size: 22px; color: #1f3a5f; margin: 0.6em 0 0.2em 0; }
h2 { font-size: 17px; color: #1f3a5f; border-left: 4px solid #1f5fa8; padding-left: 8px;
  margin: 1.4em 0 0.5em 0; break-after: avoid; }
h3 { font-size: 14px; color: #333; margin: 1em 0 0.4em 0; break-after: avoid; }
p { font-size: 13px; line-height: 1.6; margin: 0.3em 0; }
p.cwdx-sub { color: #666; }
div.cwdx-scroll { overflow-x: auto; max-width: 100%; }
table.cwdx-table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 13px; }
table.cwdx-table th, table.cwdx-table td { border: 1px solid #c8d0da; padding: 3px 8px;
  min-width: 4.5em; max-width: 36em; white-space: normal; }
table.cwdx-table th { background: #eef3f8; text-align: center !important;
  vertical-align: bottom; }
table.cwdx-table td { text-align: left !important; vertical-align: top; }
table.cwdx-table tbody tr:nth-child(even) td { background: #f8fafc; }
img { max-width: 100%; height: auto; }
@media print {
  div.cwdx-scroll { overflow: visible; }
  table.cwdx-table { width: 100%; font-size: 8pt; }
  table.cwdx-table th, table.cwdx-table td { max-width: none; padding: 2px 3px; }
  table.cwdx-table th { min-width: 4em; overflow-wrap: anywhere; }
  table.cwdx-table td { min-width: 0; overflow-wrap: break-word; }
  img { max-height: 130mm; }
  table.cwdx-table thead { display: table-header-group; }
  table.cwdx-table tr, img { break-inside: avoid; }
  p { font-size: 10pt; }
}
</style>"""


#: Columns repeated in every part of a table split to fit the page.
KEY_COLUMNS = (STAFF_NAME, STAFF_LICENSE)

#: What the distribution charts show (said once above them).
CHART_NOTE = (
    f"分布图：有 {MIN_GROUP} 人及以上的组画箱线图（箱体为上下四分位数，中线为中位数，"
    "须线至 1.5 倍四分位距，其外的点为离群值）；不足 "
    f"{MIN_GROUP} 人的组逐个画出每人的数值点。"
)


def _now() -> str:
    """The time a report is generated, to the minute."""
    return datetime.now().strftime("%Y-%m-%d %H:%M")


def _check_section(report: Report, info: InstitutionInfo, record: CheckRecord | None) -> None:
    """检测结果 (verdict, counts by rule with a bar chart) and 问题最多的字段."""
    section = report.section("检测结果")
    if record is None:
        section.text(
            f"本机构尚未进行数据检测（当前阶段：{info.stage or STAGE_UPLOADED}），暂无检测结果；"
            "请先执行数据检测。"
        )
        report.section("问题最多的字段").text("本机构尚未进行数据检测，暂无此项。")
        return
    counts = {k: int(v) for k, v in record.counts.items()}
    errors, warns = info.errors or 0, info.warnings or 0
    verdict = "通过" if record.passed else "未通过"
    section.text(
        f"检测结论：{verdict}（检测时间 {record.time}）。共发现错误 {errors} 个、警告 {warns} 个。"
    )
    if record.failed_rules:
        section.text(
            f"有 {len(record.failed_rules)} 条规则运行出错、未能完成检测："
            + "、".join(str(item).partition("：")[0] for item in record.failed_rules)
            + "；详细信息已写入日志。"
        )
    frame = rule_counts(counts, info.cases)
    if frame.empty:
        section.text("未发现任何问题。")
    else:
        section.figure(rule_bar_chart(frame, "各规则问题数"))
        section.table(frame)
    worst = worst_columns(record.findings)
    columns = report.section("问题最多的字段")
    if worst.empty:
        columns.text("没有字段被检测出问题。")
    else:
        columns.text(
            "按字段统计的问题条数（只计指向具体字段的问题，整行问题不计），最多列出 10 个字段。"
        )
        columns.table(worst)


def _indicator_sections(
    report: Report, info: InstitutionInfo, summary: pd.DataFrame | None
) -> None:
    """申报人员指标 (tables and box plots per 人员类别) and 未匹配的申报人员."""
    section = report.section("申报人员指标")
    unmatched_section = report.section("未匹配的申报人员")
    if summary is None:
        sentence = (
            f"本机构尚未完成指标计算（当前阶段：{info.stage}）；"
            "数据检测通过并执行指标计算后，这里会列出申报人员的指标。"
        )
        section.text(sentence)
        unmatched_section.text("本机构尚未完成指标计算，暂无匹配结果。")
        return
    tables = indicator_tables(summary)
    if not tables:
        section.text("本机构没有申报人员。")
    for code, label in KIND_LABELS.items():
        if label not in tables:
            continue
        section.subheading(f"{label}（{len(tables[label])} 人）")
        section.table(tables[label], limit=FULL_TABLE_ROWS, keys=KEY_COLUMNS)
        rows = summary[summary[STAFF_KIND] == code]
        chart = box_plots(
            rows, STAFF_SPECIALTY, CHART_INDICATORS[code], f"{label}指标分布（按申报专业）"
        )
        if chart is not None:
            section.text(CHART_NOTE).figure(chart)
    unmatched = unmatched_applicants(summary)
    if unmatched.empty:
        unmatched_section.text("全部申报人员均已匹配到病案。")
    else:
        unmatched_section.text(
            f"共 {len(unmatched)} 人未匹配到任何病案，“说明”列给出原因和处理建议。"
        )
        unmatched_section.table(unmatched)
    noted = noted_applicants(summary)
    if not noted.empty:
        unmatched_section.text(f"另有 {len(noted)} 位已匹配的申报人员附有说明：")
        unmatched_section.table(noted)


def build_institution_report(workspace: Workspace | str | os.PathLike[str], org: str) -> Report:
    """The institution report (机构报告) of ``org``: data volume, finding counts by rule with a
    bar chart, the worst fields, the applicants' indicators with distribution charts by
    申报专业, and the unmatched applicants with their explain lines.

    Sections that need a check or a compute that has not been done say so in one sentence.
    Raises :class:`CwdxError` when the workspace or the institution does not exist.
    """
    ws = open_workspace(workspace)
    info = ws.institution(org)
    report = Report(f"机构报告：{info.display_name}", f"生成时间 {_now()}")
    volume = report.section("数据量")
    volume.text(
        f"病案首页数据 {info.cases} 行，申报人员信息 {info.staff} 行；当前阶段：{info.stage}。"
    )
    volume.table(volume_table([info]))
    record = ws.load_check(org)
    _check_section(report, info, record)
    results = ws.load_results(org)
    _indicator_sections(report, info, results.get(SUMMARY))
    log.info("机构报告已生成：机构 %s", org)
    return report


def build_province_report(workspace: Workspace | str | os.PathLike[str]) -> Report:
    """The province report (全省报告): institutions by stage, the pass rate, the most frequent
    problems, indicator distributions by 申报专业 and 拟申报级别 (box plots) and outliers
    (values beyond 1.5 IQR, :func:`outliers`)."""
    ws = open_workspace(workspace)
    infos = ws.institutions()
    report = Report("全省报告", f"生成时间 {_now()}")
    overview = report.section("机构与数据量")
    if not infos:
        overview.text("工作区中还没有任何机构的数据，请先导入数据。")
        return report
    overview.text(
        f"共 {len(infos)} 个机构，病案首页数据 {sum(i.cases for i in infos)} 行，"
        f"申报人员信息 {sum(i.staff for i in infos)} 行。"
    )
    overview.table(stage_table(infos))
    overview.table(volume_table(infos), limit=FULL_TABLE_ROWS)

    rate = report.section("检测通过率")
    checked = [i for i in infos if i.checked]
    if not checked:
        rate.text("还没有机构完成数据检测。")
    else:
        passed = sum(bool(i.passed) for i in checked)
        rate.text(
            f"已检测 {len(checked)} 个机构，通过 {passed} 个，未通过 {len(checked) - passed} 个，"
            f"通过率 {percent(passed, len(checked)):.2f}%；未检测 {len(infos) - len(checked)} 个。"
        )
    problems = report.section("全省最常见的问题")
    frequent = province_problems(infos)
    if not checked:
        problems.text("还没有机构完成数据检测，暂无此项。")
    elif frequent.empty:
        problems.text("已检测的机构均未发现问题。")
    else:
        problems.figure(rule_bar_chart(frequent, "全省各规则问题数"))
        problems.table(frequent)

    summary = province_summary(ws, infos)
    distribution = report.section("指标分布")
    spots = report.section("离群值")
    if summary.empty:
        distribution.text("还没有机构完成指标计算，暂无指标分布。")
        spots.text("还没有机构完成指标计算，暂无此项。")
        return report
    computed = summary[ORG].nunique()
    distribution.text(f"来自 {computed} 个已计算机构的 {len(summary)} 位申报人员。")
    distribution.text(CHART_NOTE)
    for code, label in KIND_LABELS.items():
        indicators = CHART_INDICATORS[code]
        rows = summary[summary[STAFF_KIND] == code]
        if rows.empty:
            continue
        distribution.figure(
            box_plots(rows, STAFF_SPECIALTY, indicators, f"{label}指标分布（按申报专业）")
        )
        distribution.figure(
            box_plots(rows, STAFF_LEVEL, indicators, f"{label}指标分布（按拟申报级别）")
        )
    found = outliers(summary)
    spots.text(
        "离群值：某项指标低于下四分位数减 1.5 倍四分位距、或高于上四分位数加 1.5 倍四分位距的数值。"
        f"在同一申报专业的申报人员中比较（参考范围按该专业计算）；该指标有数值的人数不足 {MIN_GROUP} 人、"
        "或数值没有差异的申报专业不判断。离群值不一定是错误，请核对原始数据。"
    )
    if found.empty:
        spots.text("未发现离群值。")
    else:
        spots.text(f"共发现 {len(found)} 个离群值。")
        spots.table(found, keys=KEY_COLUMNS)
    log.info("全省报告已生成：%d 个机构，%d 位申报人员", len(infos), len(summary))
    return report
