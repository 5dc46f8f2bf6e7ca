"""计算结果表 workbooks (``outputs.md`` "Results") and the ``results`` list of summary.json.

``export_results(ws, out_dir, orgs=None)`` writes ``out_dir/<组织机构代码>/计算结果表.xlsx`` for
every computed institution (the named ones, default all) and ``out_dir/计算结果表.xlsx`` for
all of them together, then ``summary.json``. Sheets: 指标汇总, 病种明细, 术种明细, 年度明细,
(病例清单 when it was computed), 口径说明.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cwdx import metrics
from cwdx.errors import CwdxError
from cwdx.fanout import Mapper, cut_batches, serial_map, spread_width
from cwdx.reference import load_reference
from cwdx.sheet_values import code_names, icd10_category_names, procedure_group_names, typed_cells
from cwdx.xlsx import Book, atomic_path, publish_pieces, staged_name, staging

if TYPE_CHECKING:
    from cwdx.workspace import Workspace

log = logging.getLogger("cwdx.results")

RESULTS_FILE = "计算结果表.xlsx"
#: Sheets in workbook order (病例清单 only when present).
SHEETS: tuple[str, ...] = (
    metrics.SUMMARY,
    metrics.DISEASES,
    metrics.PROCEDURES,
    metrics.YEARS,
    metrics.CASE_LIST,
)
EXPLAIN_SHEET = "口径说明"
#: Above this many rows in all (病例清单 can be long) a workbook is streamed to disk
#: (xlsxwriter ``constant_memory``); below it, it is assembled in memory.
STREAM_ROWS = 200_000
_COLUMNS = {
    metrics.SUMMARY: metrics.SUMMARY_COLUMNS,
    metrics.DISEASES: metrics.DISEASE_COLUMNS,
    metrics.PROCEDURES: metrics.PROCEDURE_COLUMNS,
    metrics.YEARS: metrics.YEAR_COLUMNS,
    metrics.CASE_LIST: metrics.CASE_LIST_COLUMNS,
}
#: The name written right after a code column (an extra column: the columns of outputs.md and
#: metrics.md keep their order; docs/DECISIONS.md).
NAME_COLUMNS: dict[str, str] = {
    "所在科室": "所在科室名称",
    "人员类别": "人员类别名称",
    "拟申报级别": "拟申报级别名称",
    "疾病类目": "疾病类目名称",
    "术种": "术种名称",
}
_CODE_OF_NAME = {name: code for code, name in NAME_COLUMNS.items()}
#: Columns written as date cells where the stored text parses, with their template type.
DATE_COLUMNS: dict[str, str] = {
    "现专业技术职务聘任时间": "date",
    "提取工作量数据截止时间": "date",
    "出院时间": "datetime",
}


def sheet_columns(sheet: str) -> list[str]:
    """The columns of a result sheet as written: the stored ones, each code column followed by
    its name column (:data:`NAME_COLUMNS`)."""
    columns: list[str] = []
    for column in _COLUMNS[sheet]:
        columns.append(column)
        if column in NAME_COLUMNS:
            columns.append(NAME_COLUMNS[column])
    return columns


_NAME_LISTS: dict[int, tuple[object, dict[str, dict[str, str]]]] = {}


def _name_lists() -> dict[str, dict[str, str]]:
    """Per code column of :data:`NAME_COLUMNS`, code → name from the reference lists (built
    once per reference object: every workbook of an export uses them)."""
    reference = load_reference()
    cached = _NAME_LISTS.get(id(reference))
    if cached is not None and cached[0] is reference:
        return cached[1]
    lists = {
        column: reference.domains.get(reference.column("staff", column).domain, {})
        for column in ("所在科室", "人员类别", "拟申报级别")
    }
    lists["疾病类目"] = icd10_category_names(reference)
    lists["术种"] = procedure_group_names(reference)
    _NAME_LISTS.clear()
    _NAME_LISTS[id(reference)] = (reference, lists)
    return lists


def _shown(
    frame: pd.DataFrame, sheet: str, names: dict[str, dict[str, str]]
) -> dict[str, pd.Series]:
    """The columns of one sheet as written: name columns added, dates as date cells."""
    frame = frame.reindex(columns=list(_COLUMNS[sheet]))
    out: dict[str, pd.Series] = {}
    for column in sheet_columns(sheet):
        if column in DATE_COLUMNS:
            out[column] = typed_cells(frame[column], DATE_COLUMNS[column])
        elif column in frame.columns:
            out[column] = frame[column]
        else:
            code = _CODE_OF_NAME[column]
            out[column] = code_names(frame[code], names[code])
    return out


def computed_orgs(ws: Workspace, orgs: Iterable[str] | None = None) -> list[str]:
    """Codes of the computed institutions among ``orgs`` (default: all), in code order."""
    from cwdx.workspace import STAGE_COMPUTED

    wanted = None if orgs is None else set(orgs)
    return [
        info.org
        for info in ws.institutions()
        if info.stage == STAGE_COMPUTED and (wanted is None or info.org in wanted)
    ]


def _not_computed(ws: Workspace, orgs: Sequence[str]) -> str:
    """Why the named institutions have no results: one clause per institution."""
    from cwdx.workspace import unknown_orgs_message

    infos = {info.org: info for info in ws.institutions()}
    clauses = []
    for org in orgs:
        info = infos.get(org)
        if info is None:
            clauses.append(unknown_orgs_message([org]))
        else:
            clauses.append(
                f"机构 {info.display_name}处于「{info.stage}」阶段，没有计算结果可导出；"
                "只有通过数据检测并完成指标计算的机构才有计算结果。"
            )
    return "".join(clauses)


def results_records(ws: Workspace, orgs: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The ``results`` list of summary.json: one dict per applicant of every computed
    institution (the named ones, default all), keyed by the 指标汇总 column names, ``None``
    for an empty cell."""
    from cwdx.summary import results_records as records_of

    out: list[dict[str, Any]] = []
    for org in computed_orgs(ws, orgs):
        out += records_of(ws.load_results(org, [metrics.SUMMARY]).get(metrics.SUMMARY))
    return out


def _explain_rows(provenance: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The 口径说明 sheet: notes, rules, each indicator's definition, then the provenance
    (versions, computation times, reference lists and input files) of the institutions."""
    rows: list[tuple[Any, ...]] = [
        ("说明", "专科病种/术种目录", metrics.CATALOGUE_NOTE, None, None),
        ("口径", "匹配规则", metrics.MATCHING_DEFINITION, None, None),
        ("口径", "取整与空值", metrics.ROUNDING_DEFINITION, None, None),
    ]
    rows += [
        ("指标", name, text, None, None) for name, text in metrics.INDICATOR_DEFINITIONS.items()
    ]
    frame = pd.DataFrame(rows, columns=list(metrics.PROVENANCE_COLUMNS))
    if provenance:
        info = pd.concat(list(provenance), ignore_index=True)
        order = {"版本": 0, "计算时间": 1, "参考数据": 2, "输入文件": 3}
        info = info.drop_duplicates(["类别", "名称", "说明", "SHA-256"])
        info = info.assign(_o=info["类别"].map(order).fillna(9)).sort_values("_o", kind="stable")
        frame = pd.concat([frame, info.drop(columns="_o")], ignore_index=True)
    return frame


def _decimal_formats(book: Book, columns: Sequence[str]) -> dict[int, Any]:
    return {i: book.percent2 for i, c in enumerate(columns) if c in metrics.DECIMAL_COLUMNS}


def write_results_workbook(path: str | Path, tables: Sequence[dict[str, pd.DataFrame]]) -> Path:
    """Write one 计算结果表 from the stored tables of one or more institutions (under a
    temporary name first: a half-written workbook never appears under its real name)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        _write_sheets(tmp, tables)
    return path


def _write_sheets(target: Path, tables: Sequence[dict[str, pd.DataFrame]]) -> None:
    names = _name_lists()
    rows = sum(len(t[sheet]) for t in tables for sheet in SHEETS if sheet in t)
    with Book(target, constant_memory=rows > STREAM_ROWS, in_memory=True, render_rows=True) as book:
        for sheet in SHEETS:
            frames = [t[sheet] for t in tables if sheet in t]
            if sheet == metrics.CASE_LIST and not frames:
                continue
            stored = list(_COLUMNS[sheet])
            if len(frames) == 1:
                frame = frames[0]
            elif frames:
                frame = pd.concat(frames, ignore_index=True)
            else:
                frame = pd.DataFrame(columns=stored)
            shown = _shown(frame, sheet, names)
            columns = list(shown)
            text_columns = {
                i: book.text
                for i, c in enumerate(columns)
                if c not in DATE_COLUMNS and str(shown[c].dtype) in ("string", "object", "str")
            }
            book.write_columns(
                sheet,
                shown,
                column_formats=text_columns,
                cell_formats=_decimal_formats(book, columns),
            )
        explain = _explain_rows([t[metrics.PROVENANCE] for t in tables if metrics.PROVENANCE in t])
        book.write_frame(
            EXPLAIN_SHEET,
            explain,
            widths={0: 10, 1: 30, 2: 80, 3: 10, 4: 66},
            cell_formats={2: book.wrap},
            autofilter=False,
        )


@dataclass(frozen=True)
class ResultsPiece:
    """计算结果表 workbooks to write (picklable: handed to workers): one per institution of
    ``orgs`` and, when ``together`` names institutions, the one workbook of all of them at the
    top of ``out_dir``; written under staged names for the caller to rename."""

    workspace: str
    out_dir: str
    orgs: tuple[str, ...]
    together: tuple[str, ...] = ()


def results_piece(piece: ResultsPiece) -> list[tuple[str, str]]:
    """Write the workbooks of ``piece`` (reading the workspace only, each institution's tables
    once) under staged names; the ``(staged, final)`` pairs, for :func:`~cwdx.xlsx.publish`."""
    from cwdx.feedback import institution_folder
    from cwdx.workspace import Workspace

    ws = Workspace(piece.workspace, create=False, piece=True)
    out = Path(piece.out_dir)
    kept: dict[str, dict[str, pd.DataFrame]] = {}  # the tables the top workbook needs again
    with staging() as written:
        for org in piece.orgs:
            tables = ws.load_results(org)
            if org in piece.together:
                kept[org] = tables
            final = out / institution_folder(org) / RESULTS_FILE
            write_results_workbook(staged_name(final), [tables])
            written.append((str(staged_name(final)), str(final)))
        if piece.together:
            final = out / RESULTS_FILE
            every = [kept.get(org) or ws.load_results(org) for org in piece.together]
            write_results_workbook(staged_name(final), every)
            written.append((str(staged_name(final)), str(final)))
    return written


def export_results(
    ws: Workspace,
    out_dir: str | Path,
    orgs: Iterable[str] | None = None,
    mapper: Mapper | None = None,
    summary: bool = True,
) -> list[Path]:
    """Write the 计算结果表 workbooks and ``summary.json``; return the paths written.

    Per computed institution ``out_dir/<组织机构代码>/计算结果表.xlsx``; at the top
    ``out_dir/计算结果表.xlsx`` with every exported institution. Named institutions that are
    not computed are refused with :class:`CwdxError` before anything is written. The
    workbooks are written by :func:`results_piece` through ``mapper`` (``None``: in this
    process), each under a staged name this process renames. ``summary=False`` leaves
    ``summary.json`` out (a caller that writes it afterwards anyway).
    """
    from cwdx.summary import write_summary

    out = Path(out_dir)
    pieces = results_pieces(ws, out, orgs, mapper)
    written = publish_pieces(mapper or serial_map, results_piece, pieces)
    if summary:
        written.append(write_summary(ws, out))
    log.info("计算结果表：%d 个机构，%d 个文件", len(pieces[-1].together), len(written))
    return written


def results_pieces(
    ws: Workspace, out_dir: str | Path, orgs: Iterable[str] | None, mapper: Mapper | None
) -> list[ResultsPiece]:
    """The :class:`ResultsPiece` list of the computed institutions among ``orgs`` (default
    all) for ``mapper``; its last piece writes the top workbook. ``out_dir`` is created;
    :class:`CwdxError` for named institutions that are not computed, or none computed."""
    from cwdx.feedback import EXPORT_BATCH

    wanted = None if orgs is None else list(dict.fromkeys(orgs))
    targets = computed_orgs(ws, wanted)
    if wanted is not None:
        missing = [org for org in wanted if org not in targets]
        if missing:
            raise CwdxError(_not_computed(ws, missing))
    if not targets:
        raise CwdxError("工作区中还没有已计算的机构，没有计算结果可导出；请先执行指标计算。")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    path, out = str(ws.path), str(out_dir)
    # in this process one piece reads every table once; through a mapper, batches of
    # institutions and, last, the top workbook as a piece of its own (it holds as many rows as
    # all the others together: the caller of a helper pool runs it while helpers run the rest)
    if mapper is None:
        return [ResultsPiece(path, out, tuple(targets), tuple(targets))]
    batches = cut_batches([(org, 1) for org in targets], EXPORT_BATCH, spread_width(mapper))
    return [
        *(ResultsPiece(path, out, batch) for batch in batches),
        ResultsPiece(path, out, (), tuple(targets)),
    ]
