"""Feedback workbooks (``outputs.md``): per institution 病案首页反馈表 and 申报人员反馈表
(检测结果汇总 / 问题明细 / 标注数据), and the all-institution 精简版反馈信息表.

Everything is built from the finding table of :mod:`cwdx.check` (plus the stored rows for the
标注数据 sheet) and written with :class:`cwdx.xlsx.Book`, so input text such as ``=1+1`` stays
text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cwdx.check import InstitutionCheck, from_record, summary_rows
from cwdx.errors import CwdxError
from cwdx.reference import TableName, load_reference
from cwdx.rules import RULE_IDS, RULES, SEVERITY_LABELS, severity_total
from cwdx.workspace import unknown_orgs_message
from cwdx.xlsx import Book, atomic_path

log = logging.getLogger("cwdx.feedback")

#: File names of the feedback workbooks.
FEEDBACK_FILES: dict[str, str] = {"cases": "病案首页反馈表.xlsx", "staff": "申报人员反馈表.xlsx"}
BRIEF_FILE = "精简版反馈信息表.xlsx"

SUMMARY_SHEET = "检测结果汇总"
DETAIL_SHEET = "问题明细"
MARKED_SHEET = "标注数据"
BRIEF_SHEET = "精简版反馈信息"

SUMMARY_COLUMNS = ("规则编号", "级别", "说明", "处理建议")
DETAIL_COLUMNS = ("文件", "行号", "列名", "原值", "规则编号", "级别", "说明")
MARKED_PREFIX = ("文件", "行号", "问题说明")
BRIEF_COLUMNS = (
    "组织机构代码",
    "医疗机构名称",
    "病案记录数",
    "申报人员数",
    "检测结果",
    "错误总数",
    "警告总数",
    *RULE_IDS,
)
#: 检测结果 labels of the 精简版.
STATUS_PASSED, STATUS_FAILED, STATUS_UNCHECKED = "通过", "不通过", "未检测"

#: Above this many data rows a workbook is streamed (xlsxwriter ``constant_memory``).
STREAM_ROWS = 200_000


def _sorted_findings(findings: pd.DataFrame, table: TableName) -> pd.DataFrame:
    """Findings of ``table`` sorted by file, row, column (template order; row-level first)."""
    sub = findings[findings["table"] == table]
    order = {spec.name: i for i, spec in enumerate(load_reference().columns(table))}
    rank = sub["column"].astype("object").map(lambda c: order.get(c, -1) if c else -1)
    rule_rank = sub["rule_id"].astype("object").map(RULE_IDS.index)
    return (
        sub.assign(_c=rank.to_numpy(), _r=rule_rank.to_numpy())
        .sort_values(["excel_file", "excel_row", "_c", "_r"], kind="stable")
        .drop(columns=["_c", "_r"])
        .reset_index(drop=True)
    )


def write_table_feedback(
    path: str | Path,
    table: TableName,
    check: InstitutionCheck,
    rows: pd.DataFrame | None,
) -> Path:
    """Write one feedback workbook (``table`` = cases → 病案首页反馈表, staff → 申报人员反馈表).

    ``rows`` are the institution's stored rows of that table (for 标注数据); ``check`` the
    result whose findings and counts are reported.
    """
    path = Path(path)
    reference = load_reference()
    columns = [spec.name for spec in reference.columns(table)]
    findings = _sorted_findings(check.findings, table)
    stream = len(findings) > STREAM_ROWS
    with atomic_path(path) as tmp, Book(tmp, constant_memory=stream) as book:
        red_font = book.workbook.add_format({"font_color": "#C00000"})

        # 说明 and 处理建议 wrap inside their 60-wide columns (long advice stays readable)
        red_wrap = book.workbook.add_format(
            {"font_color": "#C00000", "text_wrap": True, "valign": "top"}
        )
        summary = summary_rows(check, table)
        errors = [row["severity"] == "error" for row in summary]

        def summary_style(i: int, col: int):
            if col >= 2:
                return red_wrap if errors[i] else book.wrap
            return red_font if errors[i] else None

        book.write_table(
            SUMMARY_SHEET,
            SUMMARY_COLUMNS,
            ([row[c] for c in SUMMARY_COLUMNS] for row in summary),
            cell_style=summary_style,
            widths={2: 60, 3: 60},
        )

        labels = findings["severity"].astype("object").map(SEVERITY_LABELS)
        detail = zip(
            findings["excel_file"].astype("object"),
            findings["excel_row"].astype("int64"),
            _blank(findings["column"]),
            _blank(findings["value"]),
            findings["rule_id"].astype("object"),
            labels,
            findings["message"].astype("object"),
            strict=True,
        )
        detail_styles = [red_font if s == "error" else None for s in findings["severity"]]
        book.write_table(
            DETAIL_SHEET,
            DETAIL_COLUMNS,
            detail,
            cell_style=lambda i, col: detail_styles[i] if col in (4, 5) else None,
            widths={6: 60},
        )

        marked, marks = _marked_rows(findings, rows, columns)
        error_fmt, warning_fmt = book.error_fill, book.warning_fill
        offset = len(MARKED_PREFIX)

        def mark_style(i: int, col: int):
            severity = marks[i].get(col - offset) if col >= offset else None
            if severity == "error":
                return error_fmt
            if severity == "warning":
                return warning_fmt
            return None

        book.write_table(
            MARKED_SHEET,
            [*MARKED_PREFIX, *columns],
            marked,
            cell_style=mark_style,
            widths={2: 60},
        )
    log.info("反馈表：机构 %s，%s，%d 条发现", check.org, path.name, len(findings))
    return path


def _blank(series: pd.Series) -> pd.Series:
    """Text values with ``""`` as ``None`` (written as an empty cell)."""
    values = series.astype("object")
    return values.where(values.notna() & (values != ""), None)


def _marked_rows(
    findings: pd.DataFrame, rows: pd.DataFrame | None, columns: list[str]
) -> tuple[Iterator[list[Any]], list[dict[int, str]]]:
    """The 标注数据 rows (文件, 行号, 问题说明, template columns) of every input row with a
    finding, sorted by file and row (a generator, so big tables are not held as Python
    lists), and per row the severity to paint on each template column index."""
    if findings.empty:
        return iter(()), []
    position = {name: i for i, name in enumerate(columns)}
    notes: dict[tuple[str, int], list[str]] = {}
    marks: dict[tuple[str, int], dict[int, str]] = {}
    for file, row, rule_id, severity, message, cells in zip(
        findings["excel_file"].astype("object"),
        findings["excel_row"].astype("int64"),
        findings["rule_id"].astype("object"),
        findings["severity"].astype("object"),
        findings["message"].astype("object"),
        findings["cells"].astype("object"),
        strict=True,
    ):
        key = (file, int(row))
        notes.setdefault(key, []).append(f"{rule_id}：{message}" if message else rule_id)
        painted = marks.setdefault(key, {})
        for name in (cells or "").split("|"):
            if name in position and painted.get(position[name]) != "error":
                painted[position[name]] = severity
    order = sorted(notes, key=lambda k: (str(k[0]), k[1]))
    # the position of each wanted input row (the first one when a file name repeats)
    found: dict[tuple[str, int], int] = {}
    if rows is not None and len(rows):
        for pos, key in enumerate(
            zip(rows["_file"].astype("object"), rows["_row"].astype("int64"), strict=True)
        ):
            key = (key[0], int(key[1]))
            if key in notes and key not in found:
                found[key] = pos
    positions = [found[key] for key in order if key in found]
    data = None
    if positions:
        data = rows.iloc[positions].reindex(columns=columns).astype("object")  # type: ignore[union-attr]
        data = data.where(data.notna(), None)

    def generate() -> Iterator[list[Any]]:
        records = data.itertuples(index=False, name=None) if data is not None else iter(())
        empty = [None] * len(columns)
        for key in order:
            record = next(records) if key in found else empty
            yield [key[0], key[1], "；".join(notes[key]), *record]

    return generate(), [marks[key] for key in order]


@dataclass
class BriefEntry:
    """One row of the 精简版反馈信息表."""

    org: str
    name: str = ""
    cases: int = 0
    staff: int = 0
    checked: bool = False
    passed: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """通过 / 不通过 / 未检测."""
        if not self.checked:
            return STATUS_UNCHECKED
        return STATUS_PASSED if self.passed else STATUS_FAILED


def write_brief(path: str | Path, entries: Iterable[BriefEntry]) -> Path:
    """Write 精简版反馈信息表: one row per institution; non-zero error counts in red font."""
    path = Path(path)
    entries = list(entries)
    error_cols = {
        BRIEF_COLUMNS.index(rid) for rid in RULE_IDS if RULES[rid].severity == "error"
    } | {BRIEF_COLUMNS.index("错误总数")}
    table: list[list[Any]] = []
    for entry in entries:
        counts = [int(entry.counts.get(rid, 0)) if entry.checked else None for rid in RULE_IDS]
        errors = severity_total(entry.counts, "error")
        warnings = severity_total(entry.counts, "warning")
        table.append(
            [
                entry.org,
                entry.name,
                entry.cases,
                entry.staff,
                entry.status,
                errors if entry.checked else None,
                warnings if entry.checked else None,
                *counts,
            ]
        )
    with atomic_path(path) as tmp, Book(tmp) as book:
        red_font = book.workbook.add_format({"font_color": "#C00000", "bold": True})

        def style(i: int, col: int):
            value = table[i][col]
            return red_font if col in error_cols and value else None

        book.write_table(BRIEF_SHEET, BRIEF_COLUMNS, table, cell_style=style)
    log.info("精简版反馈信息表：%s，%d 个机构", path.name, len(entries))
    return path


def write_institution_feedback(
    folder: str | Path,
    check: InstitutionCheck,
    cases_df: pd.DataFrame | None,
    staff_df: pd.DataFrame | None,
) -> list[Path]:
    """Write 病案首页反馈表 and 申报人员反馈表 of one institution into ``folder``."""
    folder = Path(folder)
    return [
        write_table_feedback(folder / FEEDBACK_FILES["cases"], "cases", check, cases_df),
        write_table_feedback(folder / FEEDBACK_FILES["staff"], "staff", check, staff_df),
    ]


def export_feedback(ws: Any, out_dir: str | Path, orgs: list[str] | None = None) -> list[Path]:
    """Write the feedback of ``ws``: per checked institution (the named ones, default all)
    ``out_dir/<组织机构代码>/病案首页反馈表.xlsx`` and ``申报人员反馈表.xlsx``; at the top
    ``精简版反馈信息表.xlsx`` (every named institution, 未检测 included) and ``summary.json``.

    :class:`CwdxError` when a named institution is not in the workspace or when none of the
    named institutions has been checked (nothing is written then).
    """
    from cwdx.summary import write_summary

    infos = ws.institutions()
    wanted = list(dict.fromkeys(orgs)) if orgs else None
    if wanted is not None:
        known = {info.org for info in infos}
        missing = [org for org in wanted if org not in known]
        if missing:
            raise CwdxError(unknown_orgs_message(missing))
        infos = [info for info in infos if info.org in set(wanted)]
    if not any(info.checked for info in infos):
        raise CwdxError("所选机构还没有数据检测结果，没有反馈表可导出；请先执行数据检测。")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    entries: list[BriefEntry] = []
    for info in infos:
        entry = BriefEntry(org=info.org, name=info.name or "", cases=info.cases, staff=info.staff)
        record = ws.load_check(info.org)
        if record is not None:
            check = from_record(record, info.cases, info.staff)
            entry.checked = True
            entry.passed = bool(check.passed)
            entry.counts = dict(check.counts)
            written += write_institution_feedback(
                out / _folder_name(info.org),
                check,
                ws.load("cases", [info.org]),
                ws.load("staff", [info.org]),
            )
        entries.append(entry)
    written.append(write_brief(out / BRIEF_FILE, entries))
    written.append(write_summary(ws, out))
    return written


def _folder_name(org: str) -> str:
    """The per-institution folder: the 组织机构代码 (characters unsafe in paths replaced)."""
    return "".join("_" if ch in '\\/:*?"<>|' else ch for ch in org) or "_"
