"""Feedback workbooks (``outputs.md``): per institution 病案首页反馈表 and 申报人员反馈表
(检测结果汇总 / 问题明细 / 标注数据), and the all-institution 精简版反馈信息表.

Everything is built from the finding table of :mod:`cwdx.check` (plus the stored rows for the
标注数据 sheet) and written with :class:`cwdx.xlsx.Book`, so input text such as ``=1+1`` stays
text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx.check import InstitutionCheck, from_record, summary_rows
from cwdx.errors import CwdxError
from cwdx.fanout import Mapper, cut_batches, serial_map, spread_width
from cwdx.reference import TableName, load_reference
from cwdx.rules import RULE_IDS, RULES, SEVERITY_LABELS, severity_total
from cwdx.sheet_values import marked_values, typed_frame
from cwdx.values import arrow_strings
from cwdx.workspace import unknown_orgs_message
from cwdx.xlsx import DATE_FORMATS, FILLS, Book, atomic_path, publish_pieces, staged_name, staging

log = logging.getLogger("cwdx.feedback")

#: File names of the feedback workbooks.
FEEDBACK_FILES: dict[str, str] = {"cases": "病案首页反馈表.xlsx", "staff": "申报人员反馈表.xlsx"}
BRIEF_FILE = "精简版反馈信息表.xlsx"

SUMMARY_SHEET = "检测结果汇总"
DETAIL_SHEET = "问题明细"
MARKED_SHEET = "标注数据"
BRIEF_SHEET = "精简版反馈信息"

#: outputs.md's four columns, then 数量 (the rule's count; docs/DECISIONS.md).
SUMMARY_COLUMNS = ("规则编号", "级别", "说明", "处理建议", "数量")
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

#: Above this many findings a workbook is streamed (xlsxwriter ``constant_memory``).
STREAM_ROWS = 200_000
#: At most this many findings are listed on 问题明细, and this many input rows on 标注数据, per
#: workbook (``docs/DECISIONS.md``): the rest is counted in a note under the table and under
#: 检测结果汇总, whose counts (like the 精简版) stay complete.
DETAIL_ROW_CAP = 200_000
MARKED_ROW_CAP = 100_000
#: Institutions per :class:`FeedbackPiece` (and per results piece): a worker's unit of work.
EXPORT_BATCH = 10
#: Findings converted to Python objects at a time (bounds the export's memory).
CHUNK_ROWS = 50_000
#: 标注数据 rows (each with every template column) converted to Python objects at a time.
MARKED_CHUNK_ROWS = 5_000

#: The note under a capped 问题明细 / 标注数据 (and under 检测结果汇总).
DETAIL_CAP_NOTE = (
    "注：本表共有问题 {total} 条，只列出按文件、行号排列的前 {shown} 条，其余 {rest} 条未列出。"
    "各规则的完整问题数见“检测结果汇总”工作表和《精简版反馈信息表》；"
    "请先按规则成批更正数据，重新导入并检测后再查看其余问题。"
)
MARKED_CAP_NOTE = (
    "注：有问题的数据共 {total} 行，“标注数据”只列出按文件、行号排列的前 {shown} 行，"
    "其余 {rest} 行未列出。各规则的完整问题数见“检测结果汇总”工作表和《精简版反馈信息表》；"
    "请先按规则成批更正数据，重新导入并检测后再查看其余问题。"
)


class _RowValues:
    """Per-row values (formats, marks) of a streamed table for ``row_styles``: pushed when the
    row is generated, dropped once :meth:`Book.write_table` has moved past the row (it reads a
    sample of rows ahead), so only a few hundred are held at a time."""

    def __init__(self) -> None:
        self._values: dict[int, Any] = {}
        self._next = 0
        self._current = -1

    def push(self, value: Any) -> None:
        self._values[self._next] = value
        self._next += 1

    def get(self, index: int) -> Any:
        if index != self._current:
            self._values.pop(self._current, None)
            self._current = index
        return self._values.get(index)


#: Columns of the finding table the feedback workbooks show.
SHOWN_COLUMNS = ("excel_file", "excel_row", "column", "value", "rule_id", "severity", "message")
#: A source of findings: called with column names, yields Arrow tables of those columns (the
#: findings of one table, in stored order; e.g. :meth:`Workspace.findings_batches`).
FindingBatches = Callable[[list[str]], Iterable[pa.Table]]


def _batches_of(check: InstitutionCheck, table: TableName) -> FindingBatches:
    """The findings of ``table`` in ``check`` as one Arrow batch."""
    frame = check.findings
    frame = frame[frame["table"] == table] if len(frame) else frame
    whole = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    return lambda columns: [whole.select([c for c in columns if c in whole.column_names])]


def _ranks(column: pa.ChunkedArray | pa.Array, values: list[str]) -> np.ndarray:
    """Index of each value of ``column`` in ``values`` (-1 when absent, empty or null)."""
    found = pc.index_in(column, value_set=pa.array(values, type=pa.string()))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype("int64")


@dataclass
class _Sorted:
    """The findings of one table in 问题明细 order (file, row, column in template order with
    row-level findings first, rule) and the input-row groups of 标注数据."""

    total: int
    #: per group (one input row with findings, in order): its file's index in ``files``, row
    files: list[str]
    group_file: np.ndarray
    group_row: np.ndarray
    #: position in the sorted findings where each group starts
    group_start: np.ndarray
    #: the first findings in order (as many as the capped sheets show), all columns shown, in
    #: stored order; ``head_order`` lists them in sorted order
    head: pa.Table
    head_order: np.ndarray


def _sort_findings(batches: FindingBatches, table: TableName, shown: int, groups: int) -> _Sorted:
    """Sort the findings on small integer keys (a few bytes per finding, never a Python object
    per finding), then read again only the first ones in order: the ``shown`` of 问题明细 and
    the findings of the first ``groups`` input rows of 标注数据."""
    columns = [spec.name for spec in load_reference().columns(table)]
    file_ids: dict[str, int] = {}
    keys: dict[str, list[np.ndarray]] = {"file": [], "row": [], "column": [], "rule": []}
    for batch in batches(["excel_file", "excel_row", "column", "rule_id"]):
        for name in pc.unique(batch["excel_file"]).to_pylist():
            file_ids.setdefault("" if name is None else str(name), len(file_ids))
        keys["file"].append(_ranks(batch["excel_file"], list(file_ids)).astype("int32"))
        keys["row"].append(batch["excel_row"].to_numpy().astype("int64"))
        keys["column"].append(_ranks(batch["column"], columns).astype("int16"))
        keys["rule"].append(_ranks(batch["rule_id"], list(RULE_IDS)).astype("int8"))
    files = sorted(file_ids)
    to_sorted = np.array([files.index(name) for name in file_ids] + [-1], dtype="int32")
    file_rank = to_sorted[np.concatenate(keys.pop("file") or [np.zeros(0, "int32")])]
    row = np.concatenate(keys.pop("row") or [np.zeros(0, "int64")])
    order = np.lexsort(
        (
            np.concatenate(keys.pop("rule") or [np.zeros(0, "int8")]),
            np.concatenate(keys.pop("column") or [np.zeros(0, "int16")]),
            row,
            file_rank,
        )
    )
    sorted_file, sorted_row = file_rank[order], row[order]
    del file_rank, row
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (sorted_file[1:] != sorted_file[:-1]) | (sorted_row[1:] != sorted_row[:-1])
    start = np.flatnonzero(new_group)
    end = start[groups] if groups < len(start) else len(order)
    head, head_order = _read_positions(batches, order[: max(shown, end)])
    return _Sorted(
        len(order), files, sorted_file[start], sorted_row[start], start, head, head_order
    )


def _read_positions(batches: FindingBatches, positions: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """The findings at ``positions`` (indexes in stored order), in stored order, and their
    rows in the order given (not taken at once: that would copy them)."""
    wanted = np.sort(positions)
    pieces, offset = [], 0
    for batch in batches([*SHOWN_COLUMNS, "cells"]):
        if "cells" not in batch.column_names:  # stored before cells existed
            batch = batch.append_column("cells", batch["column"])
        lo, hi = np.searchsorted(wanted, [offset, offset + len(batch)])
        if hi > lo:
            pieces.append(batch.take(pa.array(wanted[lo:hi] - offset)))
        offset += len(batch)
    if not pieces:
        fields = [
            pa.field(c, pa.int64() if c == "excel_row" else pa.string()) for c in SHOWN_COLUMNS
        ]
        empty = pa.schema([*fields, pa.field("cells", pa.string())]).empty_table()
        return empty, np.zeros(0, dtype="int64")
    return pa.concat_tables(pieces), np.searchsorted(wanted, positions)


def _chunks(ordered: _Sorted, stop: int, names: tuple[str, ...]) -> Iterator[list]:
    """The ``names`` columns of the first ``stop`` sorted findings as Python lists, chunk by
    chunk."""
    selected = ordered.head.select(list(names))
    for begin in range(0, stop, CHUNK_ROWS):
        part = selected.take(pa.array(ordered.head_order[begin : min(begin + CHUNK_ROWS, stop)]))
        yield [part[name].to_pylist() for name in names]


def write_table_feedback(
    path: str | Path,
    table: TableName,
    check: InstitutionCheck,
    rows: pd.DataFrame | Callable[[], pd.DataFrame] | None,
    findings: FindingBatches | None = None,
) -> Path:
    """Write one feedback workbook (``table`` = cases → 病案首页反馈表, staff → 申报人员反馈表).

    ``rows`` are the institution's stored rows of that table (for 标注数据), or a function
    returning them (called only when the table has findings); ``check`` the
    result whose counts are reported, and whose findings unless ``findings`` (a
    :data:`FindingBatches` of that table's findings) is given. Rows are
    written top to bottom from sorted positions, a chunk at a time, so memory stays bounded
    however many findings there are; 问题明细 and 标注数据 are capped at
    :data:`DETAIL_ROW_CAP` / :data:`MARKED_ROW_CAP` rows with a note saying how many are left
    out.
    """
    path = Path(path)
    reference = load_reference()
    columns = [spec.name for spec in reference.columns(table)]
    ordered = _sort_findings(
        findings or _batches_of(check, table), table, DETAIL_ROW_CAP, MARKED_ROW_CAP
    )
    if callable(rows):
        rows = rows() if ordered.total else None
    total, groups = ordered.total, len(ordered.group_start)
    detail_shown, marked_shown = min(total, DETAIL_ROW_CAP), min(groups, MARKED_ROW_CAP)
    notes = []
    if detail_shown < total:
        notes.append(
            DETAIL_CAP_NOTE.format(total=total, shown=detail_shown, rest=total - detail_shown)
        )
    if marked_shown < groups:
        notes.append(
            MARKED_CAP_NOTE.format(total=groups, shown=marked_shown, rest=groups - marked_shown)
        )
    with (
        atomic_path(path) as tmp,
        Book(tmp, constant_memory=total > STREAM_ROWS, in_memory=True, render_rows=True) as book,
    ):
        red_font = book.workbook.add_format({"font_color": "#C00000"})
        note_format = book.workbook.add_format({"font_color": "#C00000", "bold": True})

        # 说明 and 处理建议 wrap inside their 60-wide columns (long advice stays readable)
        red_wrap = book.workbook.add_format(
            {"font_color": "#C00000", "text_wrap": True, "valign": "top"}
        )
        summary = summary_rows(check, table)
        error_row = {0: red_font, 1: red_font, 2: red_wrap, 3: red_wrap, 4: red_font}
        other_row = {2: book.wrap, 3: book.wrap}
        styles = [error_row if row["severity"] == "error" else other_row for row in summary]

        sheet = book.write_table(
            SUMMARY_SHEET,
            SUMMARY_COLUMNS,
            ([*(row[c] for c in SUMMARY_COLUMNS[:4]), row["count"]] for row in summary),
            row_styles=styles.__getitem__,
            widths={2: 60, 3: 60},
        )[-1]
        for i, note in enumerate(notes):
            sheet.write_string(len(summary) + 2 + i, 0, note, note_format)

        detail_groups = int(np.searchsorted(ordered.group_start, detail_shown))
        source = _source_positions(ordered, max(detail_groups, marked_shown), rows)
        detail_formats = _RowValues()
        sheet = book.write_table(
            DETAIL_SHEET,
            DETAIL_COLUMNS,
            _detail_rows(ordered, detail_shown, detail_formats, red_font, rows, source),
            row_styles=lambda i: dict.fromkeys((4, 5), detail_formats.get(i)),
            widths={6: 60},
        )[-1]
        if detail_shown < total:
            sheet.write_string(detail_shown + 2, 0, notes[0], note_format)

        marks = _RowValues()
        offset = len(MARKED_PREFIX)
        types = {spec.name: spec.type for spec in reference.columns(table)}
        fills = _mark_formats(book, [types[name] for name in columns])

        def mark_style(i: int) -> dict[int, Any]:
            return {
                offset + col: fills[col].get(severity) for col, severity in marks.get(i).items()
            }

        sheet = book.write_table(
            MARKED_SHEET,
            [*MARKED_PREFIX, *columns],
            _marked_rows(ordered, marked_shown, rows, columns, marks, source, types),
            row_styles=mark_style,
            widths={2: 60},
        )[-1]
        if marked_shown < groups:
            sheet.write_string(marked_shown + 2, 0, notes[-1], note_format)
    log.info("反馈表：机构 %s，%s，%d 条发现", check.org, path.name, total)
    return path


def _mark_formats(book: Book, types: list[str]) -> list[dict[str, Any]]:
    """Per template column (of template type ``types[i]``), the 标注数据 format of an error /
    warning cell: its fill, with the date format on ``date`` / ``datetime`` columns."""
    return [
        {severity: book.fill(severity, DATE_FORMATS.get(kind)) for severity in FILLS}
        for kind in types
    ]


def _detail_rows(
    ordered: _Sorted,
    stop: int,
    formats: _RowValues,
    red_font: Any,
    rows: pd.DataFrame | None,
    source: np.ndarray,
) -> Iterator[list[Any]]:
    """The 问题明细 rows of the first ``stop`` sorted findings; pushes each row's 规则编号/级别
    format to ``formats``. A finding without a column (a row-level rule) is shown with the
    columns it marks (its ``cells``) as 列名 and, when it carries no value, their values in the
    input row as 原值 (``docs/DECISIONS.md``)."""
    begin = 0
    for chunk in _chunks(ordered, stop, (*SHOWN_COLUMNS, "cells")):
        group = np.searchsorted(
            ordered.group_start, np.arange(begin, begin + len(chunk[0])), "right"
        )
        cell_values = marked_values(rows, source[group - 1], chunk[2], chunk[3], chunk[7])
        begin += len(chunk[0])
        for (file, row, column, value, rule_id, severity, message, cells), shown in zip(
            zip(*chunk, strict=True), cell_values, strict=True
        ):
            formats.push(red_font if severity == "error" else None)
            names = "、".join(cells.split("|")) if not column and cells else column
            yield [
                file,
                row,
                names or None,
                value or shown,
                rule_id,
                SEVERITY_LABELS.get(severity),
                message,
            ]


def _source_positions(ordered: _Sorted, shown: int, rows: pd.DataFrame | None) -> np.ndarray:
    """Per shown group, the position in ``rows`` of its input row (the first one when a file
    name repeats), -1 when it is not there."""
    if rows is None or not len(rows):
        return np.full(shown, -1, dtype="int64")
    shift = np.int64(1) << 32
    file_rank = _ranks(arrow_strings(rows["_file"]), ordered.files)
    row = pd.to_numeric(rows["_row"]).to_numpy().astype("int64")
    source = np.where(file_rank >= 0, file_rank * shift + row, -1)
    keys, first = np.unique(source, return_index=True)
    wanted = ordered.group_file[:shown] * shift + ordered.group_row[:shown]
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, first[at], -1)


def _marked_rows(
    ordered: _Sorted,
    shown: int,
    rows: pd.DataFrame | None,
    columns: list[str],
    marks: _RowValues,
    source: np.ndarray,
    types: dict[str, str],
) -> Iterator[list[Any]]:
    """The 标注数据 rows (文件, 行号, 问题说明, template columns) of the first ``shown`` input rows
    with a finding, in order; pushes per row the severity to paint on each template column
    index to ``marks``. Input rows are taken from ``rows`` (at ``source``) a chunk at a time;
    numbers and dates are written as such where they parse (``types``: template types)."""
    if not shown:
        return
    position = {name: i for i, name in enumerate(columns)}
    end = ordered.group_start[shown] if shown < len(ordered.group_start) else ordered.total
    empty = [None] * len(columns)
    pending: list[tuple[str, int, list[str], dict[int, str]]] = []
    done = 0

    def flush() -> Iterator[list[Any]]:
        nonlocal done
        at = source[done : done + len(pending)]
        records: Iterator[tuple] = iter(())
        if rows is not None and (at >= 0).any():
            data = rows.iloc[at[at >= 0]].reindex(columns=columns)
            records = typed_frame(data, types).itertuples(index=False, name=None)
        for (file, row, texts, painted), pos in zip(pending, at, strict=True):
            marks.push(painted)
            yield [file, row, "；".join(texts), *(next(records) if pos >= 0 else empty)]
        done += len(pending)
        pending.clear()

    current: tuple[Any, int] | None = None
    names = ("excel_file", "excel_row", "rule_id", "severity", "message", "cells")
    for chunk in _chunks(ordered, int(end), names):
        for file, row, rule_id, severity, message, cells in zip(*chunk, strict=True):
            if (file, row) != current:
                if len(pending) >= MARKED_CHUNK_ROWS:
                    yield from flush()
                current = (file, row)
                pending.append((file, row, [], {}))
            _, _, texts, painted = pending[-1]
            texts.append(f"{rule_id}：{message}" if message else rule_id)
            for name in (cells or "").split("|"):
                if name in position and painted.get(position[name]) != "error":
                    painted[position[name]] = severity
    yield from flush()


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
    with atomic_path(path) as tmp, Book(tmp, in_memory=True, render_rows=True) as book:
        red_font = book.workbook.add_format({"font_color": "#C00000", "bold": True})

        def style(i: int) -> dict[int, Any]:
            return {col: red_font for col in error_cols if table[i][col]}

        book.write_table(BRIEF_SHEET, BRIEF_COLUMNS, table, row_styles=style)
    log.info("精简版反馈信息表：%s，%d 个机构", path.name, len(entries))
    return path


def write_institution_feedback(
    folder: str | Path,
    check: InstitutionCheck,
    cases_df: pd.DataFrame | None,
    staff_df: pd.DataFrame | None,
) -> list[Path]:
    """Write 病案首页反馈表 and 申报人员反馈表 of one institution into ``folder``."""
    frames: dict[TableName, pd.DataFrame | None] = {"cases": cases_df, "staff": staff_df}
    return [
        write_table_feedback(Path(folder) / FEEDBACK_FILES[t], t, check, frames[t]) for t in frames
    ]


@dataclass(frozen=True)
class FeedbackPiece:
    """The feedback workbooks of a batch of checked institutions (picklable: handed to
    workers): written under staged names in ``out_dir`` for the caller to rename."""

    workspace: str
    out_dir: str
    orgs: tuple[str, ...]


def feedback_piece(piece: FeedbackPiece) -> list[tuple[str, str]]:
    """Write 病案首页反馈表 and 申报人员反馈表 of each institution of ``piece`` (reading the
    workspace only) under staged names; the ``(staged, final)`` pairs, for :func:`publish`."""
    from cwdx.workspace import Workspace

    ws = Workspace(piece.workspace, create=False, piece=True)
    infos = {info.org: info for info in ws.institutions()}
    with staging() as written:
        for org in piece.orgs:
            record = ws.load_check(org, findings=False)
            if record is None:
                continue
            info = infos[org]
            check = from_record(record, info.cases, info.staff)
            # a table at a time (findings stay Arrow, rows freed before the next); rows are read
            # only for findings (标注数据, 原值), the findings only when a rule counted any
            found = any(check.counts.values())
            for table, file_name in FEEDBACK_FILES.items():
                final = Path(piece.out_dir) / institution_folder(org) / file_name
                write_table_feedback(
                    staged_name(final),
                    table,  # type: ignore[arg-type]
                    check,
                    partial(ws.load, table, [org]),
                    partial(ws.findings_batches, org, table) if found else lambda _columns: [],
                )
                written.append((str(staged_name(final)), str(final)))
    return written


def brief_entries(infos: Iterable[Any]) -> list[BriefEntry]:
    """The 精简版反馈信息表 lines of ``ws.institutions()`` items (未检测 ones included)."""
    return [
        BriefEntry(
            org=info.org,
            name=info.name or "",
            cases=info.cases,
            staff=info.staff,
            checked=info.checked,
            passed=bool(info.passed),
            counts=dict.fromkeys(RULE_IDS, 0) | {k: int(v) for k, v in info.counts.items()},
        )
        for info in infos
    ]


def export_feedback(
    ws: Any,
    out_dir: str | Path,
    orgs: list[str] | None = None,
    mapper: Mapper | None = None,
    summary: bool = True,
) -> list[Path]:
    """Write the feedback of ``ws``: per checked institution (the named ones, default all)
    ``out_dir/<组织机构代码>/病案首页反馈表.xlsx`` and ``申报人员反馈表.xlsx`` (the pieces of
    :func:`feedback_pieces`, through ``mapper``; ``None``: in this process); at the top
    ``精简版反馈信息表.xlsx`` (every named institution, 未检测 included) and ``summary.json``
    (unless ``summary=False``: a caller that writes it afterwards anyway)."""
    from cwdx.summary import write_summary

    pieces, infos = feedback_pieces(ws, out_dir, orgs, mapper)
    out = Path(out_dir)
    written = publish_pieces(mapper or serial_map, feedback_piece, pieces)
    written.append(write_brief(out / BRIEF_FILE, brief_entries(infos)))
    if summary:
        written.append(write_summary(ws, out))
    return written


def feedback_pieces(
    ws: Any, out_dir: str | Path, orgs: list[str] | None, mapper: Mapper | None
) -> tuple[list[FeedbackPiece], list[Any]]:
    """The :class:`FeedbackPiece` batches (of :data:`EXPORT_BATCH` checked institutions at
    most, cut for ``mapper``) of the named institutions (default all), and their
    ``ws.institutions()`` items (for 精简版反馈信息表); ``out_dir`` is created.
    :class:`CwdxError` when a named institution is not in the workspace or none of them has
    been checked (nothing is written then)."""
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
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    checked = [info.org for info in infos if info.checked]
    batches = cut_batches([(org, 1) for org in checked], EXPORT_BATCH, spread_width(mapper))
    return [FeedbackPiece(str(ws.path), str(out_dir), batch) for batch in batches], infos


def institution_folder(org: str) -> str:
    """The per-institution folder: the 组织机构代码 (characters unsafe in paths replaced)."""
    return "".join("_" if ch in '\\/:*?"<>|' else ch for ch in org) or "_"
