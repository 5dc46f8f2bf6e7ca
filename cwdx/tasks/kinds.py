"""What each task kind does: the stages and writers of the rest of cwdx, called by the
dispatcher with the task's institutions, a :class:`~cwdx.fanout.Mapper` for their pieces and
a progress callback. Each runner fills the task's details (counts per institution, outputs)
and raises :class:`CwdxError` (Chinese) when the task fails.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwdx.errors import CwdxError, ErrorKind
from cwdx.fanout import Mapper
from cwdx.log import get_logger
from cwdx.tasks.cluster import rows_in_files
from cwdx.workspace import STAGE_PASSED, TaskRecord, Workspace

log = get_logger("tasks")

#: Where export and report tasks write their files: ``WS/downloads/<task id>/``.
DOWNLOADS = "downloads"
FEEDBACK_ZIPS = {"cases": "所有机构病案首页反馈表.zip", "staff": "所有机构申报人员信息反馈表.zip"}
RESULTS_ZIP = "所有机构计算结果表.zip"


@dataclass
class TaskContext:
    """What a runner gets: the workspace, the task, its details (filled by the runner), a
    ``mapper(rows)`` choosing where the pieces of work of that many case rows run, and
    ``progress(done, total, label)``."""

    ws: Workspace
    record: TaskRecord
    details: dict[str, Any]
    mapper: Callable[[int], Mapper]
    progress: Callable[[int, int, str], None]

    def org_done(self, org: str, **counts: Any) -> None:
        """Record what the task did for one institution (``details["orgs"][org]``)."""
        self.details.setdefault("orgs", {})[org] = counts

    def out_dir(self) -> Path:
        """``WS/downloads/<task id>/`` (created)."""
        folder = self.ws.path / DOWNLOADS / str(self.record.id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _allowed(ws: Workspace, org: str, action: str) -> bool:
    try:
        ws.require_stage(org, action)  # type: ignore[arg-type]
    except CwdxError:
        return False
    return True


def run_check(ctx: TaskContext) -> None:
    """Check the task's institutions (default: every one that can be checked)."""
    ws = ctx.ws
    infos = {info.org: info for info in ws.institutions()}
    if not infos:
        raise CwdxError(
            "工作区中还没有数据，请先导入病案首页数据和申报人员信息。", ErrorKind.REFUSED
        )
    targets = ctx.record.orgs or [org for org in infos if _allowed(ws, org, "check")]
    if not targets:
        raise CwdxError(
            "没有需要检测的机构：所有机构都已检测，数据已冻结（如需重新检测请先解冻）。",
            ErrorKind.REFUSED,
        )
    mapper = ctx.mapper(sum(infos[org].cases for org in targets if org in infos))
    from cwdx.check import check_workspace  # after the helpers (if any) start: 0.35 s

    checks = check_workspace(ws, targets, on_progress=ctx.progress, mapper=mapper)
    for org, check in checks.items():
        ctx.org_done(
            org,
            passed=bool(check.passed),
            errors=int(check.errors),
            warnings=int(check.warnings),
            failed_rules=sorted(check.failed_rules),
        )


def run_compute(ctx: TaskContext) -> None:
    """Compute the task's institutions (default: every one at 已检测-通过)."""
    ws = ctx.ws
    infos = {info.org: info for info in ws.institutions()}
    named = ctx.record.orgs or None
    wanted = named or [org for org, info in infos.items() if info.stage == STAGE_PASSED]
    mapper = ctx.mapper(sum(infos[org].cases for org in wanted if org in infos))
    from cwdx.metrics import compute_workspace  # after the helpers (if any) start
    from cwdx.metrics.definitions import MATCHED

    results = compute_workspace(
        ws,
        named,
        on_progress=ctx.progress,
        case_list=bool(ctx.record.params.get("case_list")),
        mapper=mapper,
    )
    for org, result in results.items():
        matched = int((result.summary["匹配状态"] == MATCHED).sum())
        ctx.org_done(
            org, staff=len(result.summary), matched=matched, unmatched=len(result.summary) - matched
        )


def run_import(ctx: TaskContext) -> None:
    """Import the task's files (each file's table recognised from its header row when the task
    names none), and with ``params["inbox"]`` every file of ``WS/inbox/`` through
    :func:`cwdx.inbox.import_inbox` (file-name order, imported ones moved to ``inbox/done/``).
    With ``params["single_institution"]`` (the 机构版) the files are imported by the 机构版's
    rules (one hospital per workspace, the template's sample rows flagged). Every file's whole
    outcome is recorded in ``details["files"]`` (:meth:`ImportOutcome.to_details`). Once the
    task ends, succeeded or failed, the upload folders of its files are removed
    (:func:`remove_uploads`): pages save uploads there only for the task to read them."""
    files = [Path(f) for f in ctx.record.params.get("files") or []]
    try:
        _import(ctx, files)
    finally:  # succeeded or failed, the uploaded copies have done their work
        remove_uploads(ctx.ws, files)


#: Where the pages save uploaded files until their import task reads them: ``WS/uploads/``.
UPLOADS = "uploads"


def remove_uploads(ws: Workspace, files: list[Path]) -> list[Path]:
    """Remove the upload folders (``WS/uploads/<folder>/``) holding ``files``; files elsewhere
    (a path given on the command line) are left alone. Returns the folders removed."""
    root = (ws.path / UPLOADS).resolve()
    folders = set()
    for path in files:
        try:
            relative = path.resolve().relative_to(root)
        except ValueError:
            continue
        if len(relative.parts) > 1:
            folders.add(root / relative.parts[0])
    for folder in sorted(folders):
        shutil.rmtree(folder, ignore_errors=True)
    if folders:
        log.info("已删除 %d 个上传文件夹（导入任务结束）", len(folders))
    return sorted(folders)


def _import(ctx: TaskContext, files: list[Path]) -> None:
    """:func:`run_import` on ``files`` (and the inbox)."""
    from cwdx.inbox import import_inbox, inbox_files
    from cwdx.workspace.imports import AUTO_TABLE

    params = ctx.record.params
    force = bool(params.get("force"))
    if not files and not (params.get("inbox") and inbox_files(ctx.ws)):
        raise CwdxError(
            "没有要导入的文件：请先上传文件，或把 .xlsx 文件放进工作区的 inbox 文件夹。",
            ErrorKind.NOT_FOUND,
        )
    outcomes = []
    if files:
        mapper = ctx.mapper(rows_in_files(files))
        table = params.get("table") or AUTO_TABLE
        single: dict[str, Any] = {}
        if params.get("single_institution"):  # the 机构版: one hospital, sample rows flagged
            from cwdx.templates import sample_identity

            sample = sample_identity("cases" if table == "cases" else "staff")
            single = {"single_institution": True, "sample": sample}
        outcomes += ctx.ws.import_files(
            table, files, force=force, on_progress=ctx.progress, mapper=mapper, **single
        )
    if params.get("inbox"):
        mapper = ctx.mapper(rows_in_files(inbox_files(ctx.ws)))
        outcomes += import_inbox(ctx.ws, force=force, on_progress=ctx.progress, mapper=mapper)
    per_org: dict[str, int] = {}
    for outcome in outcomes:
        for org, count in outcome.org_rows.items():
            per_org[org] = per_org.get(org, 0) + count
    for org, count in per_org.items():
        ctx.org_done(org, rows=count)
    ctx.details["files"] = [outcome.to_details() for outcome in outcomes]
    ctx.details["rows"] = sum(outcome.rows for outcome in outcomes)
    ctx.details["rejected"] = sum(1 for outcome in outcomes if not outcome.ok)


def _zip(target: Path, files: list[Path], root: Path) -> None:
    """Zip ``files`` (names relative to ``root``) into ``target`` under a temporary name."""
    from cwdx.xlsx import atomic_path

    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for path in files:
            archive.write(path, path.relative_to(root).as_posix())


def _export_feedback(ctx: TaskContext, infos: list[Any], what: str, out: Path, work: Path) -> None:
    """Feedback downloads: the workbooks written by :func:`cwdx.feedback.export_feedback` into
    ``work``, then offered as one workbook (one institution) or a zip (several)."""
    from cwdx.feedback import (
        BRIEF_FILE,
        FEEDBACK_FILES,
        brief_entries,
        export_feedback,
        write_brief,
    )

    tables = {"feedback_cases": ("cases",), "feedback_staff": ("staff",)}.get(
        what, () if what == "feedback_brief" else ("cases", "staff")
    )
    if not tables:
        write_brief(out / BRIEF_FILE, brief_entries(infos))
        return
    checked = [info for info in infos if info.checked]
    ctx.progress(0, 1, "反馈表")
    export_feedback(
        ctx.ws,
        work,
        [info.org for info in infos],
        mapper=ctx.mapper(sum(info.cases for info in checked)),
    )
    ctx.progress(1, 1, "反馈表")
    for table in tables:
        files = sorted(work.glob(f"*/{FEEDBACK_FILES[table]}"))
        if len(infos) == 1 and files:
            os.replace(files[0], out / f"{infos[0].org}-{FEEDBACK_FILES[table]}")
        elif files:
            _zip(out / FEEDBACK_ZIPS[table], files, work)
    if what == "all":
        os.replace(work / BRIEF_FILE, out / BRIEF_FILE)


def _export_results(ctx: TaskContext, orgs: list[str], out: Path, work: Path) -> None:
    """Results downloads: :func:`cwdx.results.export_results` into ``work``, then the workbook
    of all institutions and a zip of the per-institution ones (one institution: its workbook)."""
    from cwdx.results import RESULTS_FILE, computed_orgs, export_results

    targets = computed_orgs(ctx.ws, orgs)
    if not targets:
        raise CwdxError("所选机构还没有计算结果，没有计算结果表可导出；请先执行指标计算。")
    rows = sum(info.cases for info in ctx.ws.institutions() if info.org in set(targets))
    ctx.progress(0, 1, "计算结果表")
    export_results(ctx.ws, work, targets, mapper=ctx.mapper(rows))
    ctx.progress(1, 1, "计算结果表")
    if len(targets) == 1:
        os.replace(work / RESULTS_FILE, out / f"{targets[0]}-{RESULTS_FILE}")
        return
    os.replace(work / RESULTS_FILE, out / RESULTS_FILE)
    _zip(out / RESULTS_ZIP, sorted(work.glob(f"*/{RESULTS_FILE}")), work)


def _export_to_folder(ctx: TaskContext, what: str, folder: Path) -> None:
    """``cwdx export feedback|results DIR``: the command line's layout (one folder per
    institution, 精简版反馈信息表, summary.json), written by the same writers."""
    from cwdx.feedback import export_feedback
    from cwdx.results import export_results

    orgs = ctx.record.orgs or None
    rows = sum(i.cases for i in ctx.ws.institutions() if orgs is None or i.org in orgs)
    export = export_feedback if what == "feedback" else export_results
    ctx.progress(0, 1, "导出")
    written = export(ctx.ws, folder, orgs, mapper=ctx.mapper(rows))
    ctx.progress(1, 1, "导出完成")
    ctx.details["outputs"] = [Path(p).relative_to(folder).as_posix() for p in written]


def run_export(ctx: TaskContext) -> None:
    """Write the downloads the task asks for into ``WS/downloads/<task id>/``: feedback
    workbooks (one institution: the workbook; several: a zip of per-institution workbooks),
    精简版反馈信息表, 计算结果表 (one workbook of all, and a zip of per-institution ones), and
    with ``what="all"`` also ``summary.json``. The files are listed in ``details["outputs"]``.
    With ``params["dir"]`` (the command line) ``feedback`` or ``results`` go into that folder
    as ``cwdx export`` writes them."""
    from cwdx.workspace.records import unknown_orgs_message

    what = ctx.record.params.get("what", "all")
    if ctx.record.params.get("dir"):
        _export_to_folder(ctx, what, Path(ctx.record.params["dir"]))
        return
    infos = ctx.ws.institutions()
    if ctx.record.orgs:
        known = {info.org for info in infos}
        missing = [org for org in ctx.record.orgs if org not in known]
        if missing:
            raise CwdxError(unknown_orgs_message(missing), ErrorKind.NOT_FOUND)
        infos = [info for info in infos if info.org in set(ctx.record.orgs)]
    if not infos:
        raise CwdxError("工作区中还没有数据，没有可导出的内容。", ErrorKind.REFUSED)
    out = ctx.out_dir()
    work = out / ".work"  # workers write here; what is offered is moved or zipped out of it
    try:
        if what != "results":
            _export_feedback(ctx, infos, what, out, work)
        if what in ("results", "all"):
            _export_results(ctx, [info.org for info in infos], out, work)
        if what == "all":
            from cwdx.summary import write_summary

            write_summary(ctx.ws, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ctx.details["outputs"] = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def run_report(ctx: TaskContext) -> None:
    """Reports (:mod:`cwdx.reports`) into ``WS/downloads/<task id>/`` (or ``params["dir"]``):
    the province report (no institutions named, or ``params["province"]``), else one
    institution report per named institution (``params["all"]``: every institution). The
    lines the reports print are kept in ``details["lines"]``."""
    from cwdx.reports import run_reports

    params = ctx.record.params
    orgs = ctx.record.orgs or None
    every = bool(params.get("all"))
    province = bool(params.get("province")) or (orgs is None and not every)
    out = Path(params["dir"]) if params.get("dir") else ctx.out_dir()
    lines: list[str] = []
    code = run_reports(
        ctx.ws,
        out,
        orgs=orgs,
        province=province,
        fmt=str(params.get("format", "html")),
        on_progress=ctx.progress,
        report=lines.append,
    )
    ctx.details["lines"] = lines
    if not params.get("dir"):
        ctx.details["outputs"] = sorted(
            p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
        )
    if code:
        raise CwdxError("\n".join(lines) or "报告生成失败，详细信息已写入日志。", ErrorKind.IO)


def run_delete(ctx: TaskContext) -> None:
    """Delete cases, staff or both of the named institutions (refused when one is frozen,
    unless ``params["force"]``)."""
    params = ctx.record.params
    outcome = ctx.ws.delete(params["what"], orgs=ctx.record.orgs, force=bool(params.get("force")))
    for org, per in outcome.rows.items():
        ctx.org_done(org, **per)
    ctx.details["removed"] = list(outcome.removed)


def run_clear(ctx: TaskContext) -> None:
    """强制清空: every institution's cases, staff or both, frozen ones included."""
    outcome = ctx.ws.delete(ctx.record.params["what"], everything=True, force=True)
    for org, per in outcome.rows.items():
        ctx.org_done(org, **per)
    ctx.details["removed"] = list(outcome.removed)


def run_unfreeze(ctx: TaskContext) -> None:
    """Unfreeze the named institutions (default: all) at ``params["stage"]``."""
    changed = ctx.ws.unfreeze(
        orgs=ctx.record.orgs or None,
        everything=not ctx.record.orgs,
        stage=ctx.record.params.get("stage", "check"),
    )
    for org, (old, new) in changed.items():
        ctx.org_done(org, old=old, new=new)


#: What a task kind's pieces import: loaded before its helpers are forked (see ``task_rows``).
KIND_WORK = {"import", "check", "compute", "export", "report"}


def task_rows(ws: Workspace, record: TaskRecord) -> int:
    """About how many case rows a task of ``record`` works on (0 for the kinds whose work is
    not cut into pieces): what :meth:`Cluster.prepare` decides its helpers by."""
    if record.kind not in KIND_WORK:
        return 0
    if record.kind == "import":
        return rows_in_files(record.params.get("files") or [])
    wanted = set(record.orgs or [])
    return sum(info.cases for info in ws.institutions() if not wanted or info.org in wanted)


RUNNERS: dict[str, Callable[[TaskContext], None]] = {
    "import": run_import,
    "check": run_check,
    "compute": run_compute,
    "export": run_export,
    "report": run_report,
    "delete": run_delete,
    "unfreeze": run_unfreeze,
    "clear": run_clear,
}
