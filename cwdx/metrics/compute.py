"""Computing a workspace: :func:`compute_workspace` runs :func:`compute_institution` for the
institutions that passed the check, under the workspace's write lock, and stores the tables
with their 口径信息 (:func:`provenance_table`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import pandas as pd

import cwdx
from cwdx.errors import CwdxError, ErrorKind, Hint
from cwdx.fanout import Mapper, serial_map
from cwdx.log import get_logger
from cwdx.metrics.definitions import MATCHED, PROVENANCE
from cwdx.metrics.indicators import InstitutionResults, compute_institution
from cwdx.reference import TABLE_TITLES, load_reference
from cwdx.workspace import STAGE_FAILED, STAGE_PASSED, Workspace

log = get_logger("cwdx.metrics")


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
    mapper: Mapper | None = None,
) -> dict[str, InstitutionResults]:
    """Compute and store the indicators of institutions that passed the check.

    ``orgs=None`` computes every institution at 已检测-通过. Named institutions are all checked
    first: if any of them is not at 已检测-通过 nothing is computed and :class:`CwdxError` says
    why for each (the workspace's own refusal text). Each institution's tables are stored with
    ``ws.save_results``, which moves it to 已计算.

    The whole computation holds the workspace's write lock (``ws.writing``): other writes
    (an unfreeze, a delete) are refused in Chinese until it ends. A ``mapper``
    (:mod:`cwdx.fanout`) computes the institutions (default: one by one in this process); this
    process stores each result as it comes.
    """
    with ws.writing("指标计算"):
        return _compute_locked(ws, orgs, on_progress, case_list, mapper or serial_map)


def _compute_one(piece: tuple[Workspace, str, bool]) -> tuple[InstitutionResults, int, int, float]:
    """Compute one ``(ws, org, case_list)`` piece (in this process or a worker): the results
    with their 口径信息, the case and applicant row counts, and the seconds it took."""
    ws, org, case_list = piece
    started = time.perf_counter()
    cases = ws.load("cases", [org])
    staff = ws.load("staff", [org])
    result = compute_institution(cases, staff, load_reference(), case_list=case_list)
    result.org = org
    seconds = time.perf_counter() - started
    computed_at = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    result.extra = {PROVENANCE: provenance_table(ws, org, cases, staff, computed_at)}
    return result, len(cases), len(staff), seconds


def _compute_locked(
    ws: Workspace,
    orgs: Iterable[str] | None,
    on_progress: Callable[[int, int, str], None] | None,
    case_list: bool,
    mapper: Mapper,
) -> dict[str, InstitutionResults]:
    """:func:`compute_workspace` while it holds the workspace's write lock."""
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

    out: dict[str, InstitutionResults] = {}
    total = len(targets)
    pieces: list[Any] = [(ws, org, case_list) for org in targets]
    computed = iter(mapper(_compute_one, pieces))  # lazy: each institution runs when asked
    for done, org in enumerate(targets):
        if on_progress:
            on_progress(done, total, f"计算 {org}")
        result, cases, staff, seconds = next(computed)
        ws.save_results(org, result.tables())
        matched = int((result.summary["匹配状态"] == MATCHED).sum())
        log.info(
            "计算完成：机构 %s，病案 %d 行，申报人员 %d 人，已匹配 %d 人，用时 %.1f 秒",
            org,
            cases,
            staff,
            matched,
            seconds,
        )
        out[org] = result
    if on_progress:
        on_progress(total, total, "计算完成")
    return out
