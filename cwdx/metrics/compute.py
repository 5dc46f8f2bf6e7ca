"""Computing a workspace: :func:`compute_workspace` computes the institutions that passed the
check, under the workspace's write lock, and stores the tables with their 口径信息
(:func:`provenance_table`).

The institutions are cut into batches of at most :data:`BATCH_ROWS` case rows
(:class:`ComputePiece`); :func:`compute_piece` loads a batch's rows and computes them in one
pass (:func:`~cwdx.metrics.indicators.compute_institutions`). The pieces go through a
:data:`cwdx.fanout.Mapper` (in the calling process by default, Dask workers under the task
dispatcher, helper processes); a piece writes its tables under staged names
(``ws.stage_results``), and only the calling process renames and records them
(``ws.save_results``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

import cwdx
from cwdx.errors import CwdxError, ErrorKind, Hint
from cwdx.fanout import Mapper, batches_each, cut_batches, mapper_width, serial_map
from cwdx.log import get_logger
from cwdx.metrics.definitions import MATCHED, PROVENANCE
from cwdx.metrics.indicators import (
    InstitutionResults,
    compute_institution,
    compute_institutions,
)
from cwdx.reference import TABLE_TITLES, load_reference
from cwdx.workspace import STAGE_FAILED, STAGE_PASSED, ImportRecord, Workspace

log = get_logger("cwdx.metrics")

#: A batch of institutions computed in one pass holds at most this many case rows (an
#: institution larger than that is a batch of its own): bounds a worker's memory.
BATCH_ROWS = 200_000


def provenance_table(
    ws: Workspace,
    org: str,
    cases: pd.DataFrame,
    staff: pd.DataFrame,
    computed_at: str,
) -> pd.DataFrame:
    """口径信息 of one computation: versions, time, reference lists and input files.

    Input files are the imported files holding rows of this institution, with the file's SHA-256
    and row count (the institution's own rows in 说明).
    """
    used: dict[int, int] = {}
    for frame in (cases, staff):
        if "_import" in frame.columns and len(frame):
            for import_id, count in frame["_import"].value_counts().items():
                used[int(import_id)] = used.get(int(import_id), 0) + int(count)
    return _provenance(org, used, ws.imported_files(), computed_at)


def _provenance(
    org: str, used: dict[int, int], imported: Sequence[ImportRecord], computed_at: str
) -> pd.DataFrame:
    """:func:`provenance_table` from the institution's row count per import id."""
    rows: list[tuple[str, str, str, int | None, str | None]] = [
        ("版本", "口径版本", cwdx.METRICS_VERSION, None, None),
        ("版本", "软件版本", cwdx.__version__, None, None),
        ("计算时间", org, computed_at, None, None),
    ]
    rows += [("参考数据", f.file, "", f.rows, f.sha256) for f in load_reference().files]
    # case files before staff files, each in import order: the same files give the same list
    # whichever table the operator imported first (the inbox imports in file-name order)
    tables = {"cases": 0, "staff": 1}
    for record in sorted(imported, key=lambda r: (tables.get(r.table, 2), r.id)):
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


@dataclass(frozen=True)
class ComputePiece:
    """A batch of institutions to compute in one pass (picklable: handed to workers)."""

    workspace: str
    orgs: tuple[str, ...]
    case_list: bool = False
    #: the computation's token: starts the names of the tables the piece stages
    run: str = ""


@dataclass
class ComputedInstitution:
    """What :func:`compute_piece` returns per institution: the tables to store and the counts
    the calling process logs."""

    org: str
    tables: dict[str, pd.DataFrame]
    #: the tables as the piece wrote them (``Workspace.stage_results``)
    staged: dict[str, list[str]]
    cases: int
    staff: int
    matched: int
    seconds: float


def compute_piece(piece: ComputePiece) -> list[ComputedInstitution]:
    """Load the rows of ``piece.orgs`` (reading the workspace only) and compute them in one
    pass; per institution, in the order given, the tables with their 口径信息."""
    started = time.perf_counter()
    ws = Workspace(Path(piece.workspace), create=False, piece=True)
    orgs = list(piece.orgs)
    cases = ws.load("cases", orgs)
    staff = ws.load("staff", orgs)
    reference = load_reference()
    if len(orgs) == 1:  # one institution: nothing to split
        alone = compute_institution(cases, staff, reference, case_list=piece.case_list)
        alone.org = orgs[0]
        results = {orgs[0]: alone}
    else:
        results = compute_institutions(cases, staff, orgs, reference, piece.case_list)
    computed_at = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    imported = ws.imported_files()
    used: dict[str, dict[int, int]] = {org: {} for org in orgs}
    rows = {org: [0, 0] for org in orgs}
    for side, frame in enumerate((cases, staff)):
        if not len(frame):
            continue
        sizes = frame.groupby(["_org", "_import"], sort=False, observed=True).size()
        for (org, import_id), count in sizes.items():
            if org in used:
                used[org][int(import_id)] = used[org].get(int(import_id), 0) + int(count)
                rows[org][side] += int(count)
    seconds = (time.perf_counter() - started) / max(1, len(orgs))
    out = []
    for org in orgs:
        result = results[org]
        result.extra = {PROVENANCE: _provenance(org, used[org], imported, computed_at)}
        matched = int((result.summary["匹配状态"] == MATCHED).sum())
        cases_n, staff_n = rows[org]
        tables = result.tables()
        staged = ws.stage_results(org, tables, piece.run)  # written here, beside other pieces
        out.append(ComputedInstitution(org, tables, staged, cases_n, staff_n, matched, seconds))
    return out


def compute_workspace(
    ws: Workspace,
    orgs: Iterable[str] | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    case_list: bool = False,
    mapper: Mapper | None = None,
) -> dict[str, InstitutionResults]:
    """Compute and store the indicators of institutions that passed the check.

    ``orgs=None`` computes every institution at 已检测-通过. Named institutions are all checked
    first: if any of them is not at 已检测-通过 nothing is computed and :class:`CwdxError` says
    why for each (the workspace's own refusal text). Each institution's tables are stored with
    ``ws.save_results``, which moves it to 已计算.

    The whole computation holds the workspace's write lock (``ws.writing``): other writes
    (an unfreeze, a delete) are refused in Chinese until it ends. Batches of institutions
    (:func:`cwdx.fanout.cut_batches`) are computed by :func:`compute_piece` through ``mapper``
    (``None``: one after another in this process); each result is stored as it arrives.
    """
    with ws.writing("指标计算"):
        targets = _targets(ws, orgs)
        return _compute_locked(ws, targets, on_progress, case_list, mapper or serial_map)


def _targets(ws: Workspace, orgs: Iterable[str] | None) -> list[str]:
    """The institutions to compute; :class:`CwdxError` when none (or a named one) can be."""
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

    return targets


def _compute_locked(
    ws: Workspace,
    targets: list[str],
    on_progress: Callable[[int, int, str], None] | None,
    case_list: bool,
    mapper: Mapper,
) -> dict[str, InstitutionResults]:
    """:func:`compute_workspace` while it holds the workspace's write lock."""
    sizes = {info.org: info.cases for info in ws.institutions()}
    batches = cut_batches(
        [(org, sizes.get(org, 0)) for org in targets],
        BATCH_ROWS,
        mapper_width(mapper),
        batches_each(mapper),
    )
    run = secrets.token_hex(6)
    pieces = [ComputePiece(str(ws.path), batch, case_list, run) for batch in batches]
    out: dict[str, InstitutionResults] = {}
    total = len(targets)
    if on_progress:
        on_progress(0, total, f"计算 {targets[0]}")
    try:
        _store_computed(ws, mapper(compute_piece, pieces), out, targets, on_progress)
    finally:  # a computation that stopped part-way: what its pieces staged and nobody saved
        ws.drop_staged_results(run)
    if on_progress:
        on_progress(total, total, "计算完成")
    return out


def _store_computed(
    ws: Workspace,
    results: Iterable[list[ComputedInstitution]],
    out: dict[str, InstitutionResults],
    targets: list[str],
    on_progress: Callable[[int, int, str], None] | None,
) -> None:
    """Save each computed institution as its piece's result arrives (into ``out``)."""
    total = len(targets)
    for computed in results:
        for item in computed:
            ws.save_results(item.org, item.tables, item.staged)
            log.info(
                "计算完成：机构 %s，病案 %d 行，申报人员 %d 人，已匹配 %d 人，用时 %.1f 秒",
                item.org,
                item.cases,
                item.staff,
                item.matched,
                item.seconds,
            )
            out[item.org] = InstitutionResults.of_tables(item.org, item.tables)
            if on_progress and len(out) < total:
                on_progress(len(out), total, f"计算 {targets[len(out)]}")
