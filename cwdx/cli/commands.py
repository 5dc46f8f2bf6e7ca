"""The handlers of the ``cwdx`` commands: each takes the parsed arguments and returns the exit
status; a :class:`~cwdx.errors.CwdxError` they raise is printed by :func:`cwdx.cli.main`.

The workspace and the engines are imported inside the handler that uses them (plain
function-level imports): the engines pull in pandas and pyarrow, and ``cwdx --help`` must answer
at once. Measured import times (best of 3, ``import cwdx.X`` on the 2-core test machine under
load, 2026-12-02): templates 1.1 s, check 1.6 s, metrics 1.1 s, feedback 1.8 s, results 0.9 s,
reports 2.3 s, demo 1.8 s, run 0.08 s, app 0.05 s. The workspace itself imports pandas and
pyarrow only in its data paths (0.1 s instead of 1.0 s), so ``cwdx -w WS status`` never loads
them; ``tests/test_startup.py`` keeps it so.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwdx.cli.rendering import (
    TABLE_WORDS,
    ProgressBar,
    error_text,
    format_table,
    say,
    say_error,
    with_hint,
)
from cwdx.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    CwdxError,
    make_output_dir,
    os_error_text,
)
from cwdx.log import get_logger

if TYPE_CHECKING:
    from cwdx.workspace import Action, Workspace

log = get_logger("cli")


def _started_by() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "?"
    return f"命令行（{user}）"


def _through_tasks(args: argparse.Namespace) -> bool:
    """Whether a command runs as a task: ``--workers``/``--scheduler`` given, or a dispatcher
    serves the workspace (its write lock would refuse a direct write)."""
    if getattr(args, "workers", None) or getattr(args, "scheduler", None):
        return True
    from cwdx.tasks.process import dispatcher_alive

    return dispatcher_alive(_workspace_path(args))


def _run_task(args: argparse.Namespace, ws: Workspace, kind: str, orgs: Any, **params: Any) -> Any:
    """Run a task for a command through :func:`cwdx.tasks.run_task`, with a progress bar."""
    from cwdx.tasks import run_task

    bar = ProgressBar(not args.quiet)
    try:
        return run_task(
            ws,
            kind,
            orgs,
            started_by=_started_by(),
            params=params,
            workers=getattr(args, "workers", None),
            scheduler=getattr(args, "scheduler", None),
            on_progress=bar,
        )
    finally:
        bar.close()


def _workspace_path(args: argparse.Namespace) -> str:
    path = args.workspace or os.environ.get("CWDX_WORKSPACE")
    if not path:
        raise CwdxError("请用 -w 指定工作区文件夹，例如：cwdx -w 工作区 status。")
    return str(path)


def _open(args: argparse.Namespace, create: bool = False) -> Workspace:
    from cwdx.workspace import Workspace  # 0.1 s, no pandas: see the module docstring

    ws = Workspace(_workspace_path(args), create=create)
    args._log_path = ws.log_path
    return ws


def open_workspace(args: argparse.Namespace, create: bool = False) -> Workspace:
    """The workspace ``-w`` (or ``CWDX_WORKSPACE``) names, for the other command modules;
    ``create`` makes a missing one."""
    return _open(args, create)


@contextlib.contextmanager
def _working(args: argparse.Namespace, label: str) -> Iterator[None]:
    """A ticking one-step progress bar around a call that reports no progress itself."""
    bar = ProgressBar(not args.quiet)
    bar(0, 1, label)
    try:
        yield
        bar(1, 1, label)
    finally:
        bar.close()


@contextlib.contextmanager
def _writing_files() -> Iterator[None]:
    """Turn a failed file write (disk full, no permission, file open in Excel) into one
    Chinese sentence naming the file."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        where = "输出文件"
        if exc.filename:
            # name the workbook, not the temporary ``.name.tmp`` it is first written to
            path = Path(str(exc.filename))
            name = path.name
            if name.startswith(".") and name.endswith(".tmp"):
                path = path.with_name(name[1:-4])
            where = f"文件 {path}"
        raise CwdxError(
            f"无法写入{where}（{os_error_text(exc)}），请关闭已打开的同名文件、"
            "检查磁盘空间和权限，或换一个输出文件夹后重试。"
        ) from exc


def cmd_template(args: argparse.Namespace) -> int:
    """``cwdx template cases|staff -o FILE.xlsx``."""
    from cwdx.templates import write_template  # 1.1 s

    path = write_template(args.table, args.output)
    say(f"已写入{TABLE_WORDS[args.table]}表样：{path}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """``cwdx run --cases F… --staff F… --out DIR``: file lines on standard error, the verdict
    (each institution, the totals, where the outputs are) on standard output."""
    from cwdx.run import run_oneshot

    bar = ProgressBar(not args.quiet)
    verdict: list[str] = []
    try:
        with _writing_files():
            return int(
                run_oneshot(
                    cases=args.cases,
                    staff=args.staff,
                    out_dir=args.out,
                    on_progress=bar,
                    report=bar.println,
                    case_list=args.case_list,
                    workers=args.workers,
                    scheduler=args.scheduler,
                    verdict=verdict.append,
                )
            )
    finally:
        bar.close()
        for line in verdict:
            say(line)


def cmd_import(args: argparse.Namespace) -> int:
    """``cwdx -w WS import cases|staff F… [--force]`` and ``cwdx -w WS import inbox [--force]``."""
    inbox = args.table == "inbox"
    ws = _open(args, create=not inbox)
    if _through_tasks(args):
        return _import_as_task(args, ws)
    import cwdx.workspace.decode  # noqa: F401 - what the helpers need, before they are forked
    from cwdx.pool import local_mapper
    from cwdx.reference import load_reference
    from cwdx.tasks.cluster import rows_in_files

    load_reference()
    bar = ProgressBar(not args.quiet)
    try:
        if inbox:
            from cwdx.inbox import import_inbox, inbox_files

            with local_mapper(rows_in_files(inbox_files(ws))) as mapper:
                outcomes = import_inbox(ws, force=args.force, on_progress=bar, mapper=mapper)
        else:
            with local_mapper(rows_in_files(args.files)) as mapper:
                outcomes = ws.import_files(
                    args.table, args.files, force=args.force, on_progress=bar, mapper=mapper
                )
    finally:
        bar.close()
    if inbox and not outcomes:
        say(f"inbox 文件夹 {ws.path / 'inbox'} 中没有要导入的文件，请先把 .xlsx 文件放进去。")
        return EXIT_OK
    rejected = 0
    for outcome in outcomes:
        rejected += not outcome.ok
        lines = outcome.lines()
        if not outcome.ok:
            lines[0] = with_hint(lines[0], outcome.hint, ws.path)
        elif inbox:
            where = (
                f"已移到 {outcome.moved_to}"
                if outcome.moved_to
                else "但未能移到 inbox/done，请手工移走（原因见日志）"
            )
            lines.insert(1, f"  按表头识别为{TABLE_WORDS[outcome.table]}，{where}。")
        for line in lines:
            (say if outcome.ok else say_error)(line)
    imported = len(outcomes) - rejected
    rows = sum(o.rows for o in outcomes)
    reasons = "，原因见 inbox/未导入原因.txt。" if inbox else "。"
    say(
        f"共 {len(outcomes)} 个文件：导入 {imported} 个（{rows} 行）"
        + (f"，未导入 {rejected} 个{reasons}" if rejected else "。")
    )
    return EXIT_USAGE if rejected else EXIT_OK


def _import_as_task(args: argparse.Namespace, ws: Workspace) -> int:
    """``cwdx import`` through a task (``--workers``/``--scheduler``, or a live dispatcher)."""
    if args.table == "inbox":
        record = _run_task(args, ws, "import", None, inbox=True, force=args.force)
    else:
        files = [str(Path(f).resolve()) for f in args.files]
        record = _run_task(
            args, ws, "import", None, table=args.table, files=files, force=args.force
        )
    entries = record.details.get("files", [])
    rejected = 0
    for entry in entries:
        if entry["rejected"]:
            rejected += 1
            say_error(entry["rejected"])
        else:
            say(f"{entry['file']}：导入 {entry['rows']} 行。")
    say(
        f"共 {len(entries)} 个文件：导入 {len(entries) - rejected} 个（{record.details.get('rows', 0)} 行）"
        + (f"，未导入 {rejected} 个。" if rejected else "。")
    )
    return EXIT_USAGE if rejected else EXIT_OK


def cmd_dispatch(args: argparse.Namespace) -> int:
    """``cwdx -w WS dispatch [--workers N] [--scheduler ADDR]``: serve the task queue."""
    from cwdx.tasks.process import serve_dispatcher

    serve_dispatcher(_workspace_path(args), workers=args.workers, scheduler=args.scheduler, say=say)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """``cwdx -w WS status``: institutions with counts, stage and frozen flag."""
    from cwdx.workspace import TASK_QUEUED, TASK_RUNNING

    ws = _open(args)
    infos = ws.institutions()
    say(f"工作区：{ws.path}")
    if not infos:
        say("工作区中还没有数据。")
    else:
        rows = [
            (
                i.org,
                i.name,
                i.cases,
                i.staff,
                i.stage,
                "是" if i.frozen else "否",
                "" if i.errors is None else i.errors,
                "" if i.warnings is None else i.warnings,
            )
            for i in infos
        ]
        header = (
            "组织机构代码",
            "医疗机构名称",
            "病案记录数",
            "申报人员数",
            "阶段",
            "冻结",
            "错误",
            "警告",
        )
        say(format_table(header, rows))
        say(
            f"共 {len(infos)} 个机构；病案记录 {sum(i.cases for i in infos)} 行，"
            f"申报人员 {sum(i.staff for i in infos)} 行。"
        )
    files = ws.imported_files()
    bad = [f for f in files if f.rejected]
    if files:
        say(
            f"已导入文件 {len(files) - len(bad)} 个"
            + (f"，未导入文件 {len(bad)} 个：" if bad else "。")
        )
        for record in bad:
            say(f"  {record.file}：{record.rejected}")
    running = [t for t in ws.tasks(limit=50) if t.state in (TASK_RUNNING, TASK_QUEUED)]
    from cwdx.tasks.queue import KIND_LABELS

    for task in running:
        kind = KIND_LABELS.get(task.kind, task.kind)
        if task.state == TASK_QUEUED:
            say(f"排队中的任务 #{task.id}：{kind}（{task.started_by}，提交于 {task.queued}）")
        else:
            say(f"进行中的任务 #{task.id}：{kind}（{task.started_by}，开始于 {task.start}）")
    return EXIT_OK


def _split_targets(
    ws: Workspace, orgs: Sequence[str] | None, action: Action
) -> tuple[list[str], list[str]]:
    """(allowed, refused) institutions for ``action``; refusals are printed."""
    wanted = list(dict.fromkeys(orgs)) if orgs else [i.org for i in ws.institutions()]
    allowed, refused = [], []
    for org in wanted:
        try:
            ws.require_stage(org, action)
            allowed.append(org)
        except CwdxError as exc:
            refused.append(org)
            if orgs:
                say_error(error_text(exc, ws.path))
    return allowed, refused


def cmd_check(args: argparse.Namespace) -> int:
    """``cwdx -w WS check [--org ORG…]``."""
    ws = _open(args)
    if not ws.institutions():
        raise CwdxError("工作区中还没有数据，请先导入病案首页数据和申报人员信息。")
    targets, refused = _split_targets(ws, args.org, "check")
    if args.org and refused and not targets:
        return EXIT_USAGE
    results: dict[str, Any] = {}
    if targets:
        results = _run_task(args, ws, "check", targets).details.get("orgs", {})
    infos = {i.org: i for i in ws.institutions()}  # after the check: the new stages
    if not args.org:
        for org in refused:
            info = infos[org]
            say(
                f"机构 {info.display_name}：已处于「{info.stage}」，未重新检测（如需重新检测请先解冻）。"
            )
    failed = False
    for org in targets:
        info = infos[org]
        verdict = "数据检测通过" if info.passed else "数据检测不通过"
        failed |= not info.passed
        crashed = (results.get(org) or {}).get("failed_rules") or []
        note = (
            f"；{len(crashed)} 条规则运行出错（{'、'.join(crashed)}），详细信息已写入日志 {ws.log_path}"
            if crashed
            else ""
        )
        say(
            f"机构 {info.display_name}：{verdict}（错误 {info.errors}，警告 {info.warnings}{note}）。"
        )
    if not args.org:
        failed |= any(infos[org].passed is False for org in refused)
    if args.org and refused:
        return EXIT_USAGE
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def cmd_compute(args: argparse.Namespace) -> int:
    """``cwdx -w WS compute [--org ORG…]``: compute the named institutions that passed."""
    from cwdx.workspace import STAGE_COMPUTED, STAGE_FAILED, STAGE_UPLOADED

    ws = _open(args)
    infos = {i.org: i for i in ws.institutions()}
    if not infos:
        raise CwdxError("工作区中还没有数据，请先导入并通过数据检测。")
    targets, refused = _split_targets(ws, args.org, "compute")
    failed = any(infos[o].stage == STAGE_FAILED for o in refused if o in infos)
    if not args.org:
        for org in refused:
            info = infos[org]
            if info.stage == STAGE_FAILED:
                say(f"机构 {info.display_name}：数据检测未通过，不能计算。")
            elif info.stage == STAGE_UPLOADED:
                say(f"机构 {info.display_name}：尚未进行数据检测，未计算。")
            elif info.stage == STAGE_COMPUTED:
                say(f"机构 {info.display_name}：已计算（如需重新计算请先解冻计算）。")
    if not targets:
        if failed:
            return EXIT_CHECK_FAILED
        if args.org:
            return EXIT_USAGE
        if all(i.stage == STAGE_COMPUTED for i in infos.values()):
            return EXIT_OK
        raise CwdxError("没有可计算的机构：只有数据检测通过的机构才能计算，请先执行数据检测。")
    record = _run_task(args, ws, "compute", targets, case_list=args.case_list)
    results = record.details.get("orgs", {})
    for org in targets:
        info = infos[org]
        counts = results.get(org)
        if counts:
            detail = (
                f"申报人员 {counts['staff']} 人，已匹配 {counts['matched']} 人，"
                f"未匹配 {counts['unmatched']} 人"
            )
        else:
            detail = f"申报人员 {info.staff} 人"
        say(f"机构 {info.display_name}：指标计算完成（{detail}）。")
    if failed:
        return EXIT_CHECK_FAILED
    return EXIT_USAGE if args.org and refused else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """``cwdx -w WS export feedback|results DIR [--org ORG…]``."""
    ws = _open(args)
    if args.what == "feedback":
        from cwdx.feedback import export_feedback as export  # 1.8 s

        label = "反馈表"
    else:
        from cwdx.results import export_results as export  # 0.9 s

        label = "计算结果表"
    orgs = list(dict.fromkeys(args.org)) if args.org else None
    for org in orgs or []:
        ws.institution(org)
    make_output_dir(args.dir)
    if _through_tasks(args):
        folder = str(Path(args.dir).resolve())
        with _writing_files():
            _run_task(args, ws, "export", orgs, what=args.what, dir=folder)
    else:
        from cwdx.pool import local_mapper
        from cwdx.reference import load_reference

        load_reference()  # before the helpers are forked: they get it too
        rows = sum(i.cases for i in ws.institutions() if orgs is None or i.org in orgs)
        with _working(args, f"正在写出{label}"), _writing_files(), local_mapper(rows) as mapper:
            export(ws, args.dir, orgs=orgs, mapper=mapper)
    say(f"已写入{label}和 summary.json：{Path(args.dir).resolve()}")
    return EXIT_OK


def _display_names(ws: Workspace) -> dict[str, str]:
    """``ORG（名称）`` of every institution, as the other commands name them."""
    return {info.org: info.display_name for info in ws.institutions()}


def cmd_delete(args: argparse.Namespace) -> int:
    """``cwdx -w WS delete cases|staff|all --org ORG… | --everything``."""
    ws = _open(args)
    names = _display_names(ws)  # before the delete, which may remove institutions
    outcome = ws.delete(args.table, orgs=args.org, everything=args.everything)
    for org, per in outcome.rows.items():
        parts = "，".join(f"{TABLE_WORDS[t]} {n} 行" for t, n in per.items())
        say(f"机构 {names.get(org, org)}：已删除{parts}。")
    for org in outcome.removed:
        say(f"机构 {names.get(org, org)}已没有数据，已从工作区移除。")
    if not outcome.rows:
        say("工作区中没有可删除的数据。")
    return EXIT_OK


def cmd_unfreeze(args: argparse.Namespace) -> int:
    """``cwdx -w WS unfreeze --org ORG… | --everything [--stage check|compute]``."""
    ws = _open(args)
    changed = ws.unfreeze(orgs=args.org, everything=args.everything, stage=args.stage)
    names = _display_names(ws)
    for org, (old, new) in changed.items():
        say(f"机构 {names.get(org, org)}：{old} → {new}")
    if not changed:
        say("没有需要解冻的机构（所选机构未处于可解冻的阶段）。")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """``cwdx -w WS report --org ORG… | --all | --province -o DIR [--format html|pdf|ipynb]``."""
    ws = _open(args)
    from cwdx.reports import run_reports  # 2.3 s

    orgs = None if (args.all or args.province) else list(dict.fromkeys(args.org))
    if _through_tasks(args):
        folder = str(Path(args.output).resolve())
        record = _run_task(
            args,
            ws,
            "report",
            orgs,
            dir=folder,
            format=args.format,
            province=args.province,
            all=args.all,
        )
        for line in record.details.get("lines", []):
            say(line)
        return EXIT_OK
    bar = ProgressBar(not args.quiet)
    try:
        return int(
            run_reports(
                ws,
                args.output,
                orgs=orgs,
                province=args.province,
                fmt=args.format,
                on_progress=bar,
                report=bar.println,
            )
        )
    finally:
        bar.close()


def cmd_app(args: argparse.Namespace) -> int:
    """``cwdx app institution|platform [--port N] [--host H] [--workers N] [--scheduler A]``."""
    from cwdx.app import serve

    workspace = args.workspace or os.environ.get("CWDX_WORKSPACE")
    if args.edition != "platform" and (args.workers or args.scheduler):
        raise CwdxError("--workers 和 --scheduler 只用于平台版（cwdx app platform）。")
    options = {"host": args.host, "workers": args.workers, "scheduler": args.scheduler}
    code = int(serve(args.edition, workspace, args.port, args.max_kernels, **options) or 0)
    if code != EXIT_OK:  # the server's own status would not be one of ours
        log.error("网页服务异常退出，退出码 %d", code)
        say_error("网页服务意外停止，请重新启动应用；如仍不能启动，请把日志文件发给技术支持。")
        return EXIT_INTERNAL
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``cwdx demo DIR [--institutions N --cases N --seed N]``."""
    from cwdx.demo import write_demo  # 1.8 s

    options = {"institutions": args.institutions, "cases": args.cases}
    if args.seed is not None:
        options["seed"] = args.seed
    with _working(args, "正在生成演示数据"):
        write_demo(args.dir, **options)
    say(f"已写入演示数据：{Path(args.dir).resolve()}")
    return EXIT_OK
