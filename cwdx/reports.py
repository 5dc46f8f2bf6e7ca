"""Batch reports (批量报告, ``apps.md`` "Batch reports (papermill)").

Two parameterised notebooks, ``notebooks/report_institution.ipynb`` (parameters ``workspace``,
``org``) and ``notebooks/report_province.ipynb`` (parameter ``workspace``), are thin: they call
:func:`build_institution_report` / :func:`build_province_report` and display the result. All
the logic (tables, charts, texts) is here, as plain tested Python.

:func:`run_reports` runs the notebooks with papermill, a bounded number at a time, each in its
own kernel (the Python of this process), and exports HTML without code cells
(``out_dir/<组织机构代码>/机构报告.html``, ``out_dir/全省报告.html``) or keeps the executed
notebooks (``--format ipynb``). One failed report does not stop the others; the failures are
listed at the end, each as one Chinese sentence.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cwdx.app import NOTEBOOK_DIR, PROJECT_DIR
from cwdx.errors import CwdxError, make_output_dir, os_error_text
from cwdx.log import get_logger
from cwdx.xlsx import atomic_path, is_missing

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cwdx.workspace import CheckRecord, InstitutionInfo, Workspace

log = get_logger("cwdx.reports")

INSTITUTION_NOTEBOOK = "report_institution.ipynb"
PROVINCE_NOTEBOOK = "report_province.ipynb"

#: Output names (without suffix): ``out_dir/<org>/机构报告.html``, ``out_dir/全省报告.html``.
INSTITUTION_REPORT = "机构报告"
PROVINCE_REPORT = "全省报告"
FORMATS = ("html", "ipynb")

#: At most this many notebooks run at once (each in its own kernel process).
MAX_PARALLEL = 2
#: Seconds a kernel may take to start, and a whole report to run.
START_TIMEOUT = 120
EXECUTION_TIMEOUT = 1800

#: Chinese fonts tried in order (only installed ones are used, so matplotlib never warns).
CHINESE_FONTS: tuple[str, ...] = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
)
FALLBACK_FONT = "DejaVu Sans"

#: Indicators shown as distribution charts (physicians, nurses).
PHYSICIAN_CHART_INDICATORS: tuple[str, ...] = ("出院患者人数", "手术例数", "平均住院日", "次均费用")
NURSE_CHART_INDICATORS: tuple[str, ...] = ("责任护理出院患者人数", "护理患者平均住院日")
#: The charted indicators per 人员类别 code.
CHART_INDICATORS: dict[str, tuple[str, ...]] = {
    "1": PHYSICIAN_CHART_INDICATORS,
    "2": NURSE_CHART_INDICATORS,
}

#: Tables shown in full up to this many rows (longer ones are cut with a sentence saying so).
MAX_TABLE_ROWS = 200
#: Tables a report must show whole (the applicants of an institution, the institutions).
FULL_TABLE_ROWS = 20_000

TABLE_LABELS = {"cases": "病案首页数据", "staff": "申报人员信息"}
KIND_LABELS = {"1": "医师", "2": "护士"}
LEVEL_LABELS = {"1": "正高级", "2": "副高级"}

ProgressCallback = Callable[[int, int, str], None]


# --------------------------------------------------------------------------------------------
# Report model and rendering

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

    def table(self, frame: pd.DataFrame, limit: int = MAX_TABLE_ROWS) -> Section:
        """Append a table (at most ``limit`` rows; a sentence says how many were left out)."""
        self.blocks.append(frame.head(limit) if len(frame) > limit else frame)
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
        from IPython.display import HTML, display

        display(HTML(self.header_html()))
        for section in self.sections:
            display(HTML(section.to_html()))


STYLE = """<style>
.cwdx-report, h1, h2, h3, p, table.cwdx-table { font-family: "Microsoft YaHei", "PingFang SC",
  "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif; }
div.cwdx-scroll { overflow-x: auto; max-width: 100%; }
table.cwdx-table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 13px; }
table.cwdx-table th, table.cwdx-table td { border: 1px solid #ccc; padding: 3px 8px;
  min-width: 4.5em; max-width: 36em; white-space: normal; }
table.cwdx-table th { background: #f0f4f8; text-align: center !important;
  vertical-align: bottom; }
table.cwdx-table td { text-align: left !important; vertical-align: top; }
p.cwdx-sub { color: #666; }
</style>"""


def _cell_text(value: object) -> str:
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


def chart_rc() -> dict[str, Any]:
    """matplotlib settings for Chinese text: the installed Chinese fonts first, then a
    fallback font, and an ASCII minus sign (CJK fonts lack U+2212)."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    families = [name for name in CHINESE_FONTS if name in installed] + [FALLBACK_FONT]
    return {"font.family": families, "axes.unicode_minus": False, "figure.dpi": 100}


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib figure that is not tied to pyplot (no global state, any backend)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_html(figure: Figure) -> str:
    """A figure as an inline PNG ``<img>`` (rendered with :func:`chart_rc`)."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(chart_rc()):
        figure.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    suptitle = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) else ""
    alt = suptitle or next((ax.get_title() for ax in figure.axes), "") or "图表"
    return f"<img alt='{html.escape(alt, quote=True)}' src='data:image/png;base64,{data}'/>"


# --------------------------------------------------------------------------------------------
# Tables and charts (pure; used by the notebooks and the tests)


def open_workspace(workspace: Workspace | str | os.PathLike[str]) -> Workspace:
    """``workspace`` itself, or the existing workspace at that folder."""
    from cwdx.workspace import Workspace

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
            "组织机构代码": [i.org for i in infos],
            "医疗机构名称": [i.name for i in infos],
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
    from cwdx.rules import RULES

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


def rule_bar_chart(frame: pd.DataFrame, title: str) -> Figure | None:
    """Horizontal bars of 问题数 by 规则编号 (errors red, warnings orange); None when empty."""
    if frame.empty:
        return None
    import matplotlib
    from matplotlib.patches import Patch

    data = frame.iloc[::-1]
    with matplotlib.rc_context(chart_rc()):
        figure = new_figure(8, max(2.0, 0.32 * len(data) + 1))
        ax = figure.add_subplot()
        colors = ["#d9534f" if level == "错误" else "#f0ad4e" for level in data["级别"]]
        bars = ax.barh(data["规则编号"].astype(str), data["问题数"].astype(int), color=colors)
        ax.bar_label(bars, padding=2, fontsize=8)
        levels = set(data["级别"])
        handles = [
            Patch(color=color, label=label)
            for label, color in (("错误", "#d9534f"), ("警告", "#f0ad4e"))
            if label in levels
        ]
        ax.legend(handles=handles, loc="lower right")
        ax.set_xlabel("问题数")
        ax.set_title(title)
    return figure


def labelled_applicants(summary: pd.DataFrame) -> pd.DataFrame:
    """指标汇总 with 人员类别 and 拟申报级别 shown as words (医师/护士, 正高级/副高级)."""
    frame = summary.copy()
    for column, labels in (("人员类别", KIND_LABELS), ("拟申报级别", LEVEL_LABELS)):
        if column in frame:
            frame[column] = frame[column].map(lambda v, labels=labels: labels.get(v, v))
    return frame


def indicator_tables(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The applicants' indicators split by 人员类别: ``{"医师": …, "护士": …}`` (only kinds
    present), each with the identity columns and that kind's own indicators."""
    from cwdx import metrics

    identity = [
        "组织机构代码",
        "姓名",
        "执业证书编码",
        "所在科室",
        "申报专业",
        "拟申报级别",
        "匹配状态",
    ]
    own = {
        "1": [*metrics.PHYSICIAN_INDICATORS, *metrics.CATALOGUE_INDICATORS],
        "2": list(metrics.NURSE_INDICATORS),
    }
    out: dict[str, pd.DataFrame] = {}
    frame = labelled_applicants(summary)
    for code, label in KIND_LABELS.items():
        rows = frame[summary["人员类别"] == code]
        if not rows.empty:
            out[label] = rows[[c for c in identity + own[code] if c in rows]].reset_index(drop=True)
    return out


#: Columns of the lists of applicants with an explain line.
EXPLAINED_COLUMNS = (
    "组织机构代码",
    "姓名",
    "执业证书编码",
    "所在科室",
    "人员类别",
    "申报专业",
    "说明",
)


def _explained(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of 指标汇总 as listed with their explain line: :data:`EXPLAINED_COLUMNS`, labelled."""
    rows = labelled_applicants(rows)
    return rows[[c for c in EXPLAINED_COLUMNS if c in rows]].reset_index(drop=True)


def unmatched_applicants(summary: pd.DataFrame) -> pd.DataFrame:
    """Applicants whose 匹配状态 is 未匹配, with their explain line (说明)."""
    from cwdx.metrics import UNMATCHED

    return _explained(summary[summary["匹配状态"] == UNMATCHED])


def noted_applicants(summary: pd.DataFrame) -> pd.DataFrame:
    """Matched applicants that still carry an explain line (e.g. a nurse seen only as 质控护师)."""
    from cwdx.metrics import MATCHED

    notes = summary["说明"].fillna("").astype(str) != ""
    return _explained(summary[(summary["匹配状态"] == MATCHED) & notes])


@functools.cache
def _horizontal_boxes() -> dict[str, Any]:
    """``boxplot`` keyword for horizontal boxes (``orientation`` since matplotlib 3.10)."""
    import inspect

    from matplotlib.axes import Axes

    if "orientation" in inspect.signature(Axes.boxplot).parameters:
        return {"orientation": "horizontal"}
    return {"vert": False}


def box_plots(
    summary: pd.DataFrame, by: str, indicators: Sequence[str], title: str
) -> Figure | None:
    """Horizontal box plots of ``indicators`` grouped by column ``by``: one panel per
    indicator side by side, one row per group (labelled ``名称（n 人）``, groups in name order;
    groups without any value in any panel are left out). None when no indicator has a value.
    Horizontal so that the ~60 申报专业 of a province stay readable."""
    import matplotlib

    frame = labelled_applicants(summary)
    groups = frame[by].fillna("（空）").astype(str) if by in frame else pd.Series(dtype=str)
    panels: list[tuple[str, pd.Series]] = []
    for indicator in indicators:
        if indicator in frame:
            values = pd.to_numeric(frame[indicator], errors="coerce").astype("float64")
            if values.notna().any():
                panels.append((indicator, values))
    if not panels:
        return None
    names = sorted({g for _, v in panels for g in groups[v.notna()]}, reverse=True)
    sizes = groups.value_counts()
    with matplotlib.rc_context(chart_rc()):
        figure = new_figure(2.0 + 3.2 * len(panels), 1.4 + 0.32 * len(names))
        axes = figure.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for ax, (indicator, values) in zip(axes, panels, strict=True):
            data = [values[groups == name].dropna().to_numpy() for name in names]
            ax.boxplot(data, widths=0.6, **_horizontal_boxes())
            ax.set_title(indicator, fontsize=10)
            ax.grid(axis="x", alpha=0.3)
            ax.tick_params(axis="x", labelsize=8)
        axes[0].set_yticks(
            range(1, len(names) + 1), [f"{name}（{sizes.get(name, 0)} 人）" for name in names]
        )
        figure.suptitle(title)
    return figure


def outliers(summary: pd.DataFrame, indicators: Iterable[str] | None = None) -> pd.DataFrame:
    """Values beyond 1.5 IQR of their indicator's distribution over all applicants given.

    For each indicator (default: the physician and nurse indicators; the catalogue ones are
    fixed per specialty) the quartiles Q1, Q3 are taken over the non-empty values; a value
    below Q1 − 1.5·IQR or above Q3 + 1.5·IQR is listed. Indicators with IQR 0 or fewer than 4
    values are skipped (no spread to compare against). Columns: 组织机构代码, 医疗机构名称, 姓名,
    执业证书编码, 申报专业, 指标, 数值, 参考范围.
    """
    from cwdx import metrics

    names = (
        list(indicators)
        if indicators is not None
        else [
            *metrics.PHYSICIAN_INDICATORS,
            *metrics.NURSE_INDICATORS,
        ]
    )
    columns = [
        "组织机构代码",
        "医疗机构名称",
        "姓名",
        "执业证书编码",
        "申报专业",
        "指标",
        "数值",
        "参考范围",
    ]
    rows = []
    for indicator in names:
        if indicator not in summary:
            continue
        values = pd.to_numeric(summary[indicator], errors="coerce").astype("float64")
        present = values.dropna()
        if len(present) < 4:
            continue
        q1, q3 = present.quantile(0.25), present.quantile(0.75)
        iqr = q3 - q1
        if iqr <= 0:
            continue
        low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
        hit = values[(values < low) | (values > high)]
        for index, value in hit.items():
            row = summary.loc[index]
            rows.append(
                {
                    "组织机构代码": row.get("组织机构代码"),
                    "医疗机构名称": row.get("医疗机构名称"),
                    "姓名": row.get("姓名"),
                    "执业证书编码": row.get("执业证书编码"),
                    "申报专业": row.get("申报专业"),
                    "指标": indicator,
                    "数值": _number_text(indicator, float(value)),
                    "参考范围": f"{max(low, 0):.2f}–{high:.2f}",
                }
            )
    return pd.DataFrame(rows, columns=columns)


def _number_text(indicator: str, value: float) -> str:
    from cwdx.metrics import DECIMAL_COLUMNS

    return f"{value:.2f}" if indicator in DECIMAL_COLUMNS else str(round(value))


# --------------------------------------------------------------------------------------------
# The two reports


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M")


def _check_section(report: Report, info: InstitutionInfo, record: CheckRecord | None) -> None:
    from cwdx.workspace import STAGE_UPLOADED

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
        section.table(tables[label], limit=FULL_TABLE_ROWS)
        rows = summary[summary["人员类别"] == code]
        section.figure(
            box_plots(rows, "申报专业", CHART_INDICATORS[code], f"{label}指标分布（按申报专业）")
        )
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
    from cwdx.metrics import SUMMARY

    ws = open_workspace(workspace)
    info = ws.institution(org)
    report = Report(f"机构报告：{info.display_name}", f"生成时间 {_now()}；工作区 {ws.path}")
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


def province_summary(ws: Workspace, infos: Sequence[InstitutionInfo] | None = None) -> pd.DataFrame:
    """The 指标汇总 of every computed institution, one table (empty when none is computed)."""
    from cwdx.metrics import SUMMARY, SUMMARY_COLUMNS

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
    from cwdx.workspace import STAGE_COMPUTED, STAGE_FAILED, STAGE_PASSED, STAGE_UPLOADED

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


def build_province_report(workspace: Workspace | str | os.PathLike[str]) -> Report:
    """The province report (全省报告): institutions by stage, the pass rate, the most frequent
    problems, indicator distributions by 申报专业 and 拟申报级别 (box plots) and outliers
    (values beyond 1.5 IQR, :func:`outliers`)."""
    from cwdx.metrics import percent

    ws = open_workspace(workspace)
    infos = ws.institutions()
    report = Report("全省报告", f"生成时间 {_now()}；工作区 {ws.path}")
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
    computed = summary["组织机构代码"].nunique()
    distribution.text(f"来自 {computed} 个已计算机构的 {len(summary)} 位申报人员。")
    for code, label in KIND_LABELS.items():
        indicators = CHART_INDICATORS[code]
        rows = summary[summary["人员类别"] == code]
        if rows.empty:
            continue
        distribution.figure(
            box_plots(rows, "申报专业", indicators, f"{label}指标分布（按申报专业）")
        )
        distribution.figure(
            box_plots(rows, "拟申报级别", indicators, f"{label}指标分布（按拟申报级别）")
        )
    found = outliers(summary)
    spots.text(
        "离群值：某项指标低于下四分位数减 1.5 倍四分位距、或高于上四分位数加 1.5 倍四分位距的数值"
        "（在全部已计算申报人员中比较；数值没有差异的指标不判断）。离群值不一定是错误，请核对原始数据。"
    )
    if found.empty:
        spots.text("未发现离群值。")
    else:
        spots.text(f"共发现 {len(found)} 个离群值。")
        spots.table(found)
    log.info("全省报告已生成：%d 个机构，%d 位申报人员", len(infos), len(summary))
    return report


# --------------------------------------------------------------------------------------------
# Running the notebooks (papermill)


@dataclass
class ReportJob:
    """One report to produce: its label, notebook, parameters and output path."""

    label: str
    notebook: Path
    parameters: dict[str, str]
    output: Path
    error: str | None = None
    seconds: float = 0.0


def _kernel_manager_class() -> type:
    """An async kernel manager that always starts ``sys.executable -m ipykernel_launcher`` so
    the report kernel runs in this environment (where cwdx is installed), whatever kernel
    specs the user's Jupyter folders hold."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class CwdxKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kwargs: Any) -> None:  # type: ignore[override]
            # the kernel's own chatter (transport warnings, shutdown notices) is not for users
            kwargs.setdefault("stdout", subprocess.DEVNULL)
            kwargs.setdefault("stderr", subprocess.DEVNULL)
            # the kernel imports this very cwdx, even when it runs from a source folder (the
            # project folder holds the package)
            env = dict(kwargs.get("env") or os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(PROJECT_DIR), env.get("PYTHONPATH", "")) if p
            )
            kwargs["env"] = env
            await super().start_kernel(**kwargs)

        @property
        def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (cwdx)",
                language="python",
                env={},
            )

    return CwdxKernelManager


def _failure_text(job: ReportJob, exc: BaseException) -> str:
    """One Chinese sentence for a failed report (the notebook's CwdxError message if any)."""
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename == "CwdxError" and evalue:
        return f"{job.label}未生成：{evalue}"
    if isinstance(exc, CwdxError):
        return f"{job.label}未生成：{exc.message}"
    if isinstance(exc, OSError) and not ename:
        return (
            f"{job.label}未生成：无法写入 {job.output}（{os_error_text(exc)}），"
            "请检查磁盘空间和权限，或换一个输出文件夹后重试。"
        )
    if type(exc).__name__ in ("DeadKernelError", "CellTimeoutError") or isinstance(
        exc, TimeoutError
    ):
        return (
            f"{job.label}未生成：运行报告的 Python 内核未能启动、意外退出或超时"
            "（可能是内存不足），请关闭其他程序后重试；详情已写入日志文件。"
        )
    return f"{job.label}未生成：生成报告时发生内部错误，详情已写入日志文件。"


def _export_html(notebook: Any, title: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        language_code="zh",
    )
    notebook.metadata["title"] = title
    body, _ = exporter.from_notebook_node(notebook)
    return body


def _run_job(job: ReportJob, fmt: str) -> None:
    """Execute one notebook and write its output (HTML or executed notebook)."""
    import nbformat
    import papermill

    started = time.perf_counter()
    notebook = papermill.execute_notebook(
        str(job.notebook),
        None,
        parameters=job.parameters,
        kernel_name="python3",
        language="python",
        progress_bar=False,
        log_output=False,
        start_timeout=START_TIMEOUT,
        execution_timeout=EXECUTION_TIMEOUT,
        kernel_manager_class=_kernel_manager_class(),
    )
    text = _export_html(notebook, job.label) if fmt == "html" else nbformat.writes(notebook)
    with atomic_path(job.output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    job.seconds = time.perf_counter() - started


#: Packages the batch reports need beyond cwdx's core (the ``app`` extra).
REPORT_PACKAGES = ("papermill", "nbconvert", "nbformat", "ipykernel", "matplotlib", "IPython")


def _require_packages() -> None:
    """:class:`CwdxError` naming the missing packages when the report extras are absent."""
    import importlib.util

    missing = [name for name in REPORT_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise CwdxError(
            f"批量报告需要的组件未安装（{'、'.join(missing)}），"
            '请执行 pip install "cwdx[app]" 后重试。'
        )


def _notebook(name: str) -> Path:
    path = NOTEBOOK_DIR / name
    if not path.is_file():
        raise CwdxError(f"找不到报告笔记本 {path}，请确认 cwdx 安装完整后重试。")
    return path


def plan_reports(
    ws: Workspace,
    out_dir: str | os.PathLike[str],
    orgs: Iterable[str] | None = None,
    province: bool = False,
    fmt: str = "html",
) -> tuple[list[ReportJob], list[str]]:
    """The reports to run and the failures known beforehand (unknown institution codes).

    ``orgs=None`` and not ``province``: every institution of the workspace. Raises
    :class:`CwdxError` for a wrong format or an empty workspace.
    """
    from cwdx.feedback import _folder_name

    if fmt not in FORMATS:
        raise CwdxError(f"未知的报告格式“{fmt}”，请使用 html 或 ipynb。")
    out = Path(out_dir).resolve()
    suffix = f".{fmt}"
    infos = {info.org: info for info in ws.institutions()}
    workspace = str(Path(ws.path).resolve())
    jobs: list[ReportJob] = []
    failures: list[str] = []
    if province:
        jobs.append(
            ReportJob(
                PROVINCE_REPORT,
                _notebook(PROVINCE_NOTEBOOK),
                {"workspace": workspace},
                out / f"{PROVINCE_REPORT}{suffix}",
            )
        )
        return jobs, failures
    if orgs is None:
        if not infos:
            raise CwdxError("工作区中还没有任何机构的数据，请先导入数据后再生成机构报告。")
        targets = list(infos)
    else:
        targets = list(dict.fromkeys(orgs))
    notebook = _notebook(INSTITUTION_NOTEBOOK)
    for org in targets:
        label = f"机构 {org} 的{INSTITUTION_REPORT}"
        if org not in infos:
            failures.append(
                f"{label}未生成：工作区中没有机构 {org}，请用 status 命令查看已导入的机构代码。"
            )
            continue
        jobs.append(
            ReportJob(
                f"机构 {infos[org].display_name}的{INSTITUTION_REPORT}",
                notebook,
                {"workspace": workspace, "org": org},
                out / _folder_name(org) / f"{INSTITUTION_REPORT}{suffix}",
            )
        )
    return jobs, failures


def run_reports(
    ws: Workspace,
    out_dir: str | os.PathLike[str],
    orgs: Iterable[str] | None = None,
    province: bool = False,
    fmt: str = "html",
    on_progress: ProgressCallback | None = None,
    report: Callable[[str], None] | None = None,
) -> int:
    """Run the report notebooks with papermill and write them to ``out_dir``.

    ``province``: the province report ``out_dir/全省报告.html``; otherwise one institution
    report ``out_dir/<组织机构代码>/机构报告.html`` for each of ``orgs`` (default: every
    institution). ``fmt="ipynb"`` keeps the executed notebooks instead of HTML. At most
    :data:`MAX_PARALLEL` notebooks run at once, each in its own kernel; a failed report does
    not stop the others. ``report(line)`` receives one line per report written and, at the
    end, one Chinese sentence per failed report (default: standard output / standard error).
    ``on_progress(done, total, label)`` is called as reports finish.

    Returns 0 when every report was written, 1 when any failed; raises :class:`CwdxError`
    (exit code 2) for usage problems (format, output folder, empty workspace).
    """
    say = report or (lambda line: print(line, flush=True))
    shout = report or (lambda line: print(line, file=sys.stderr, flush=True))
    jobs, failures = plan_reports(ws, out_dir, orgs, province, fmt)
    _require_packages()
    make_output_dir(out_dir)
    total = len(jobs)
    done = 0
    if on_progress:
        on_progress(0, total, "正在生成报告")
    workers = max(1, min(MAX_PARALLEL, os.cpu_count() or 1, total))
    log.info("批量报告：%d 份，%d 个并行，格式 %s", total, workers, fmt)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cwdx-report")
    try:
        futures = {pool.submit(_run_job, job, fmt): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            what = job.parameters.get("org") or PROVINCE_REPORT
            try:
                future.result()
                say(f"已生成{job.label}：{job.output}")
                log.info("报告已生成：%s，用时 %.1f 秒", what, job.seconds)
            except Exception as exc:  # one failed report does not stop the others
                job.error = _failure_text(job, exc)
                # a notebook error's traceback may quote data: log only its exception name
                ename = getattr(exc, "ename", None)
                log.error(
                    "报告未生成：%s（%s）",
                    what,
                    ename or type(exc).__name__,
                    exc_info=None if ename else exc,
                )
            done += 1
            if on_progress:
                on_progress(done, total, f"已完成{job.label}")
    except BaseException:
        # Ctrl-C: start no further report; the running ones end on their own
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    failures += [job.error for job in jobs if job.error]
    written = sum(job.error is None for job in jobs)
    say(
        f"共 {written + len(failures)} 份报告：已生成 {written} 份"
        + (f"，未生成 {len(failures)} 份：" if failures else "。")
    )
    for line in failures:
        shout(line)
    return 1 if failures else 0
