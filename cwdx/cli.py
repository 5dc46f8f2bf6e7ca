"""The ``cwdx`` command line (``outputs.md`` "Command line").

Every handler turns a :class:`~cwdx.errors.CwdxError` into its one Chinese sentence on standard
error and the error's exit code; any other exception into one Chinese sentence naming the log
file, with the traceback only in that file. Exit status (``outputs.md``): 0 ok, 1 some
institution failed its check, 2 usage error, refused or unfinished operation (busy, frozen,
damaged or read-only workspace, full disk, interrupted) or nothing could be read, 3 internal
error (a bug; the log holds the details).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from cwdx import __version__
from cwdx.errors import CwdxError, make_output_dir, os_error_text
from cwdx.log import attach_log_file, default_log_path, get_logger

log = get_logger("cli")

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

TABLE_WORDS = {"cases": "病案首页数据", "staff": "申报人员信息", "all": "全部数据"}

# --------------------------------------------------------------------------------------------
# Chinese argparse

_ARGPARSE_ZH = {
    "usage: ": "用法：",
    "positional arguments": "位置参数",
    "options": "选项",
    "show this help message and exit": "显示本帮助并退出",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "one of the arguments %s is required": "必须给出以下参数之一：%s",
    "not allowed with argument %s": "不能与参数 %s 同时使用",
    "expected one argument": "需要一个值",
    "expected at most one argument": "最多需要一个值",
    "expected at least one argument": "至少需要一个值",
    "invalid choice: %(value)r (choose from %(choices)s)": "无效的选项 %(value)r（可选：%(choices)s）",
    "invalid %(type)s value: %(value)r": "无效的数值 %(value)r",
    "ambiguous option: %(option)s could match %(matches)s": "选项 %(option)s 有歧义，可能是 %(matches)s",
    "ignored explicit argument %r": "多余的参数值 %r",
    "unexpected option string: %s": "意外的选项 %s",
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
}


@contextlib.contextmanager
def _chinese_argparse() -> Iterator[None]:
    """Translate argparse's built-in texts to Chinese while the parser is built and used."""
    original = argparse._  # type: ignore[attr-defined]

    def translate(text: str) -> str:
        return _ARGPARSE_ZH.get(text, original(text))

    argparse._ = translate  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._ = original  # type: ignore[attr-defined]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors end with a hint to ``--help`` (and exit 2)."""

    def error(self, message: str) -> Any:  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}：错误：{message}。请用 {self.prog} --help 查看用法。\n")


# --------------------------------------------------------------------------------------------
# Progress


class ProgressBar:
    """A one-line progress bar on standard error, usable as an ``on_progress`` callback.

    Shows ``[#####.....] done/total label（已用 N 秒）`` and redraws every half second, so a
    long step (one big file) still shows that work goes on. Silent with ``--quiet`` and when
    standard error is not a terminal.
    """

    WIDTH = 30

    def __init__(self, enabled: bool, stream: TextIO | None = None, tick: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._state: tuple[int, int, str] | None = None
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tick = tick
        self._thread: threading.Thread | None = None

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._state = (done, total, label)
            self._draw()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _draw(self) -> None:
        if self._state is None:
            return
        done, total, label = self._state
        filled = self.WIDTH if total <= 0 else min(self.WIDTH, int(self.WIDTH * done / total))
        bar = "#" * filled + "." * (self.WIDTH - filled)
        seconds = int(time.monotonic() - self._started)
        self.stream.write(f"\r[{bar}] {done}/{total} {label}（已用 {seconds} 秒）\x1b[K")
        self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            with self._lock:
                self._draw()

    def println(self, text: str) -> None:
        """Write a line of text on standard error without mixing it into the bar."""
        with self._lock:
            if self.enabled and self._state is not None:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
            self.stream.flush()
            self._draw()

    def close(self) -> None:
        """Stop redrawing and end the bar's line (if one was drawn)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._state is not None:
                self.stream.write("\n")
                self.stream.flush()
                self._state = None


# --------------------------------------------------------------------------------------------
# Helpers


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table aligned for Chinese (wide) characters."""
    from cwdx.xlsx import display_width  # wide characters count 2, as in Excel

    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell + " " * max(0, widths[i] - display_width(cell)) for i, cell in enumerate(row)
        ).rstrip()
        for row in cells
    )


def _started_by() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "?"
    return f"命令行（{user}）"


def _engine(module: str, name: str, what: str) -> Callable[..., Any]:
    """Import ``cwdx.<module>.<name>`` lazily; a missing part is a clear CwdxError."""
    import importlib

    try:
        mod = importlib.import_module(f"cwdx.{module}")
        return getattr(mod, name)  # type: ignore[no-any-return]
    except (ModuleNotFoundError, AttributeError) as exc:
        missing = getattr(exc, "name", "") or ""
        if isinstance(exc, ModuleNotFoundError) and not missing.startswith("cwdx"):
            raise
        raise CwdxError(
            f"当前安装的 cwdx 不包含{what}功能（cwdx.{module}），请安装完整版本。"
        ) from exc


def _workspace_path(args: argparse.Namespace) -> str:
    path = args.workspace or os.environ.get("CWDX_WORKSPACE")
    if not path:
        raise CwdxError("请用 -w 指定工作区文件夹，例如：cwdx -w 工作区 status。")
    return str(path)


def _open(args: argparse.Namespace, create: bool = False) -> Any:
    from cwdx.workspace import Workspace

    ws = Workspace(_workspace_path(args), create=create)
    args._log_path = ws.log_path
    return ws


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


def _printable(text: str) -> str:
    """``text`` with file-name bytes that are not UTF-8 (surrogate escapes, e.g. a GBK name on
    Linux) shown as ``�``: printing them would raise instead of showing the message."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _out(text: str) -> None:
    print(_printable(text), flush=True)


def _err(text: str) -> None:
    print(_printable(text), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Handlers


def cmd_template(args: argparse.Namespace) -> int:
    """``cwdx template cases|staff -o FILE.xlsx``."""
    write_template = _engine("templates", "write_template", "表样")
    path = write_template(args.table, args.output)
    _out(f"已写入{TABLE_WORDS[args.table]}表样：{path}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """``cwdx run --cases F… --staff F… --out DIR``."""
    run_oneshot = _engine("run", "run_oneshot", "一键运行")
    bar = ProgressBar(not args.quiet)
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
                )
            )
    finally:
        bar.close()


def cmd_import(args: argparse.Namespace) -> int:
    """``cwdx -w WS import cases|staff F… [--force]``."""
    ws = _open(args, create=True)
    bar = ProgressBar(not args.quiet)
    try:
        outcomes = ws.import_files(args.table, args.files, force=args.force, on_progress=bar)
    finally:
        bar.close()
    rejected = 0
    for outcome in outcomes:
        rejected += not outcome.ok
        for line in outcome.lines():
            (_out if outcome.ok else _err)(line)
    imported = len(outcomes) - rejected
    rows = sum(o.rows for o in outcomes)
    _out(
        f"共 {len(outcomes)} 个文件：导入 {imported} 个（{rows} 行）"
        + (f"，未导入 {rejected} 个。" if rejected else "。")
    )
    return EXIT_USAGE if rejected else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """``cwdx -w WS status``: institutions with counts, stage and frozen flag."""
    from cwdx.workspace import TASK_QUEUED, TASK_RUNNING

    ws = _open(args)
    infos = ws.institutions()
    _out(f"工作区：{ws.path}")
    if not infos:
        _out("工作区中还没有数据。")
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
        _out(format_table(header, rows))
        _out(
            f"共 {len(infos)} 个机构；病案记录 {sum(i.cases for i in infos)} 行，"
            f"申报人员 {sum(i.staff for i in infos)} 行。"
        )
    files = ws.imported_files()
    bad = [f for f in files if f.rejected]
    if files:
        _out(
            f"已导入文件 {len(files) - len(bad)} 个"
            + (f"，未导入文件 {len(bad)} 个：" if bad else "。")
        )
        for record in bad:
            _out(f"  {record.file}：{record.rejected}")
    running = [t for t in ws.tasks(limit=50) if t.state in (TASK_RUNNING, TASK_QUEUED)]
    for task in running:
        _out(f"进行中的任务 #{task.id}：{task.kind}（{task.started_by}，开始于 {task.start}）")
    return EXIT_OK


def _split_targets(ws: Any, orgs: Sequence[str] | None, action: str) -> tuple[list[str], list[str]]:
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
                _err(exc.message)
    return allowed, refused


def cmd_check(args: argparse.Namespace) -> int:
    """``cwdx -w WS check [--org ORG…]``."""
    ws = _open(args)
    if not ws.institutions():
        raise CwdxError("工作区中还没有数据，请先导入病案首页数据和申报人员信息。")
    targets, refused = _split_targets(ws, args.org, "check")
    if args.org and refused and not targets:
        return EXIT_USAGE
    check_workspace = _engine("check", "check_workspace", "数据检测")
    results: dict[str, Any] = {}
    if targets:
        bar = ProgressBar(not args.quiet)
        try:
            with ws.task("数据检测", targets, _started_by()) as task:
                results = check_workspace(ws, targets, on_progress=bar)
                task.update(passed=sum(1 for r in results.values() if r.passed), total=len(results))
        finally:
            bar.close()
    infos = {i.org: i for i in ws.institutions()}  # after the check: the new stages
    if not args.org:
        for org in refused:
            info = infos[org]
            _out(
                f"机构 {info.display_name}：已处于「{info.stage}」，未重新检测（如需重新检测请先解冻）。"
            )
    failed = False
    for org in targets:
        info = infos[org]
        verdict = "数据检测通过" if info.passed else "数据检测不通过"
        failed |= not info.passed
        crashed = getattr(results.get(org), "failed_rules", None) or {}
        note = (
            f"；{len(crashed)} 条规则运行出错（{'、'.join(crashed)}），详细信息已写入日志 {ws.log_path}"
            if crashed
            else ""
        )
        _out(
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
                _out(f"机构 {info.display_name}：数据检测未通过，不能计算。")
            elif info.stage == STAGE_UPLOADED:
                _out(f"机构 {info.display_name}：尚未进行数据检测，未计算。")
            elif info.stage == STAGE_COMPUTED:
                _out(f"机构 {info.display_name}：已计算（如需重新计算请先解冻计算）。")
    if not targets:
        if failed:
            return EXIT_CHECK_FAILED
        if args.org:
            return EXIT_USAGE
        if all(i.stage == STAGE_COMPUTED for i in infos.values()):
            return EXIT_OK
        raise CwdxError("没有可计算的机构：只有数据检测通过的机构才能计算，请先执行数据检测。")
    compute_workspace = _engine("metrics", "compute_workspace", "指标计算")
    bar = ProgressBar(not args.quiet)
    try:
        with ws.task("指标计算", targets, _started_by()) as task:
            results = (
                compute_workspace(ws, targets, on_progress=bar, case_list=args.case_list) or {}
            )
            task.update(computed=len(targets))
    finally:
        bar.close()
    for org in targets:
        info = infos[org]
        summary = getattr(results.get(org), "summary", None)
        if summary is not None and "匹配状态" in getattr(summary, "columns", ()):
            matched = int((summary["匹配状态"] == "已匹配").sum())
            detail = f"申报人员 {len(summary)} 人，已匹配 {matched} 人，未匹配 {len(summary) - matched} 人"
        else:
            detail = f"申报人员 {info.staff} 人"
        _out(f"机构 {info.display_name}：指标计算完成（{detail}）。")
    if failed:
        return EXIT_CHECK_FAILED
    return EXIT_USAGE if args.org and refused else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """``cwdx -w WS export feedback|results DIR [--org ORG…]``."""
    ws = _open(args)
    if args.what == "feedback":
        export = _engine("feedback", "export_feedback", "反馈表导出")
        label = "反馈表"
    else:
        export = _engine("results", "export_results", "计算结果导出")
        label = "计算结果表"
    orgs = list(dict.fromkeys(args.org)) if args.org else None
    for org in orgs or []:
        ws.institution(org)
    make_output_dir(args.dir)
    with _working(args, f"正在写出{label}"), _writing_files():
        export(ws, args.dir, orgs=orgs)
    _out(f"已写入{label}和 summary.json：{Path(args.dir).resolve()}")
    return EXIT_OK


def _display_names(ws: Any) -> dict[str, str]:
    """``ORG（名称）`` of every institution, as the other commands name them."""
    return {info.org: info.display_name for info in ws.institutions()}


def cmd_delete(args: argparse.Namespace) -> int:
    """``cwdx -w WS delete cases|staff|all --org ORG… | --everything``."""
    ws = _open(args)
    names = _display_names(ws)  # before the delete, which may remove institutions
    outcome = ws.delete(args.table, orgs=args.org, everything=args.everything)
    for org, per in outcome.rows.items():
        parts = "，".join(f"{TABLE_WORDS[t]} {n} 行" for t, n in per.items())
        _out(f"机构 {names.get(org, org)}：已删除{parts}。")
    for org in outcome.removed:
        _out(f"机构 {names.get(org, org)}已没有数据，已从工作区移除。")
    if not outcome.rows:
        _out("工作区中没有可删除的数据。")
    return EXIT_OK


def cmd_unfreeze(args: argparse.Namespace) -> int:
    """``cwdx -w WS unfreeze --org ORG… | --everything [--stage check|compute]``."""
    ws = _open(args)
    changed = ws.unfreeze(orgs=args.org, everything=args.everything, stage=args.stage)
    names = _display_names(ws)
    for org, (old, new) in changed.items():
        _out(f"机构 {names.get(org, org)}：{old} → {new}")
    if not changed:
        _out("没有需要解冻的机构（所选机构未处于可解冻的阶段）。")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """``cwdx report --org ORG… | --all | --province -o DIR [--format html|ipynb]``."""
    ws = _open(args)
    run_reports = _engine("reports", "run_reports", "批量报告")
    orgs = None if (args.all or args.province) else list(dict.fromkeys(args.org))
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
    """``cwdx app institution|platform [--port N]``."""
    serve = _engine("app", "serve", "应用")
    workspace = args.workspace or os.environ.get("CWDX_WORKSPACE")
    code = int(serve(args.edition, workspace, args.port, args.max_kernels) or 0)
    if code != EXIT_OK:  # the server's own status would not be one of ours
        log.error("网页服务异常退出，退出码 %d", code)
        _err("网页服务意外停止，请重新启动应用；如仍不能启动，请把日志文件发给技术支持。")
        return EXIT_INTERNAL
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``cwdx demo DIR [--institutions N --cases N --seed N]``."""
    write_demo = _engine("demo", "write_demo", "演示数据")
    options = {"institutions": args.institutions, "cases": args.cases}
    if args.seed is not None:
        options["seed"] = args.seed
    with _working(args, "正在生成演示数据"):
        write_demo(args.dir, **options)
    _out(f"已写入演示数据：{Path(args.dir).resolve()}")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# Parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} 不是整数") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} 必须是正整数")
    return value


def _table_argument(parser: argparse.ArgumentParser, with_all: bool = False) -> None:
    """The positional ``cases|staff`` (``cases|staff|all`` for delete)."""
    if with_all:
        choices, help_text = ("cases", "staff", "all"), "cases、staff 或 all（两张表）"
    else:
        choices, help_text = ("cases", "staff"), "cases（病案首页数据）或 staff（申报人员信息）"
    parser.add_argument("table", choices=choices, metavar="|".join(choices), help=help_text)


def _org_argument(parser: Any, help_text: str = "组织机构代码") -> None:
    """``--org 机构代码 [机构代码 ...]`` on a parser or an argument group."""
    parser.add_argument("--org", nargs="+", metavar="机构代码", help=help_text)


def _case_list_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--case-list",
        action="store_true",
        help="计算结果表另附“病例清单”：每位申报人员被计入的每条病案（病案号、住院次数、出院时间、角色）",
    )


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    """Exactly one of ``--org ORG…`` and ``--everything`` (delete, unfreeze)."""
    group = parser.add_mutually_exclusive_group(required=True)
    _org_argument(group)
    group.add_argument("--everything", action="store_true", help="全部机构")


def build_parser() -> argparse.ArgumentParser:
    """The ``cwdx`` argument parser (build inside :func:`_chinese_argparse` for Chinese help)."""
    parser = _Parser(
        prog="cwdx",
        description="cwdx 临床工作数据提取：导入病案首页数据和申报人员信息，数据检测，指标计算，导出反馈表和计算结果表。",
        epilog="示例：cwdx -w 工作区 import cases 病案首页.xlsx；cwdx -w 工作区 check；cwdx -w 工作区 status",
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"cwdx {__version__}", help="显示版本号并退出"
    )
    parser.add_argument(
        "-w", "--workspace", metavar="工作区", help="工作区文件夹（也可用环境变量 CWDX_WORKSPACE）"
    )
    parser.add_argument("--quiet", action="store_true", help="不显示进度条")
    # -w and --quiet are also accepted after the command (``cwdx import cases F --quiet``).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-w", "--workspace", metavar="工作区", default=argparse.SUPPRESS, help="工作区文件夹"
    )
    common.add_argument(
        "--quiet", action="store_true", default=argparse.SUPPRESS, help="不显示进度条"
    )
    sub = parser.add_subparsers(dest="command", metavar="命令", parser_class=_Parser)
    sub.required = True
    plain_add = sub.add_parser

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return plain_add(name, parents=[common], **kwargs)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    p = sub.add_parser("template", help="生成表样工作簿", description="生成可下载的表样工作簿。")
    _table_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="文件.xlsx", help="输出文件")
    p.set_defaults(handler=cmd_template)

    p = sub.add_parser(
        "run",
        help="一键运行：导入、检测、计算并写出全部结果",
        description="在新的临时工作区中导入、检测、计算每个通过检测的机构，并把全部输出写到输出文件夹。",
    )
    p.add_argument(
        "--cases",
        nargs="+",
        required=True,
        metavar="文件",
        help="病案首页数据文件（按给出的顺序导入）",
    )
    p.add_argument("--staff", nargs="+", required=True, metavar="文件", help="申报人员信息文件")
    p.add_argument("--out", required=True, metavar="文件夹", help="输出文件夹")
    _case_list_argument(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser(
        "import",
        help="向工作区追加导入数据文件",
        description="把数据文件追加导入工作区（工作区不存在时自动创建）。同一文件重复导入会被拒绝，除非加 --force。",
    )
    _table_argument(p)
    p.add_argument("files", nargs="+", metavar="文件", help=".xlsx 文件，按给出的顺序导入")
    p.add_argument("--force", action="store_true", help="确认重复导入内容相同的文件")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser(
        "status",
        help="查看机构、记录数、阶段和冻结状态",
        description="列出工作区中的机构及其记录数、阶段和冻结状态。",
    )
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser(
        "check", help="数据检测", description="检测指定机构（默认：全部未冻结的机构）。"
    )
    _org_argument(p)
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser(
        "compute", help="指标计算", description="计算指定机构（默认：全部检测通过的机构）的指标。"
    )
    _org_argument(p)
    _case_list_argument(p)
    p.set_defaults(handler=cmd_compute)

    p = sub.add_parser(
        "export",
        help="导出反馈表或计算结果表",
        description="把反馈表或计算结果表以及 summary.json 写到文件夹。",
    )
    p.add_argument(
        "what",
        choices=("feedback", "results"),
        metavar="feedback|results",
        help="feedback（反馈表）或 results（计算结果表）",
    )
    p.add_argument("dir", metavar="文件夹", help="输出文件夹")
    _org_argument(p, "只导出这些机构")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "delete",
        help="删除数据（冻结的机构不能删除）",
        description="删除指定机构或全部机构的数据；已冻结的机构会被拒绝。",
    )
    _table_argument(p, with_all=True)
    _scope_arguments(p)
    p.set_defaults(handler=cmd_delete)

    p = sub.add_parser(
        "unfreeze",
        help="解冻机构",
        description=(
            "--stage check：在上传阶段解冻数据检测（回到已上传，检测结果和计算结果作废）；"
            "--stage compute：解冻数据检测和计算（已计算回到已检测-通过，计算结果作废）；"
            "--everything：解冻所有数据。"
        ),
    )
    _scope_arguments(p)
    p.add_argument(
        "--stage",
        choices=("check", "compute"),
        default="check",
        help="解冻到哪个阶段（默认 check）",
    )
    p.set_defaults(handler=cmd_unfreeze)

    p = sub.add_parser(
        "report",
        help="批量报告（papermill）",
        description="用 papermill 运行报告笔记本并导出 HTML。",
    )
    group = p.add_mutually_exclusive_group(required=True)
    _org_argument(group, "这些机构的机构报告")
    group.add_argument("--all", action="store_true", help="每个机构一份机构报告")
    group.add_argument("--province", action="store_true", help="全省报告")
    p.add_argument("-o", "--output", required=True, metavar="文件夹", help="输出文件夹")
    p.add_argument(
        "--format", choices=("html", "ipynb"), default="html", help="输出格式（默认 html）"
    )
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser(
        "app", help="启动浏览器应用（机构版；平台版尚未提供）", description="启动 Voilà 应用。"
    )
    p.add_argument(
        "edition",
        choices=("institution", "platform"),
        metavar="institution|platform",
        help="institution（机构版）或 platform（平台版）",
    )
    p.add_argument("--port", type=_positive, default=8866, metavar="端口", help="端口（默认 8866）")
    p.add_argument(
        "--max-kernels",
        type=_positive,
        metavar="个数",
        help="最多同时打开的页面数（每个页面占用约 220 MB 内存；默认 4）",
    )
    p.set_defaults(handler=cmd_app)

    p = sub.add_parser(
        "demo", help="生成演示数据", description="生成带有预置问题的演示数据工作簿。"
    )
    p.add_argument("dir", metavar="文件夹", help="输出文件夹")
    p.add_argument(
        "--institutions", type=_positive, default=3, metavar="个数", help="机构数（默认 3）"
    )
    p.add_argument(
        "--cases",
        type=_positive,
        default=2000,
        metavar="条数",
        help="每个机构的病案数（默认 2000，至少 150）",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="种子",
        help="随机种子（同一种子生成相同的数据）",
    )
    p.set_defaults(handler=cmd_demo)
    return parser


def _log_unraisable(unraisable: Any) -> None:
    """Errors Python cannot raise (e.g. a half-written workbook's ``ZipFile`` closed by the
    garbage collector on a full disk) go to the log file, never to the terminal."""
    log.warning(
        "已忽略的错误 %s（发生于 %r）",
        getattr(unraisable.exc_type, "__name__", "?"),
        unraisable.object,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cwdx`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    import gc

    previous_hook = sys.unraisablehook
    sys.unraisablehook = _log_unraisable
    try:
        return _main(argv)
    finally:
        gc.collect()  # objects of a failed write are finalised while the hook still logs
        sys.unraisablehook = previous_hook


def _main(argv: Sequence[str] | None) -> int:
    with _chinese_argparse():
        parser = build_parser()
        try:
            args = parser.parse_args(list(argv) if argv is not None else None)
        except SystemExit as exc:  # --help / --version (0) or a usage error (2)
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args._log_path = None
    try:
        code = int(args.handler(args))
        log.info("命令 %s 结束，退出码 %d", args.command, code)
        return code
    except CwdxError as exc:
        _err(exc.message)
        log.info("命令 %s 被拒绝或未完成，退出码 %d", args.command, exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        _err("操作已中断，未完成的操作不会留下数据；如需完成，请重新运行该命令。")
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception:
        path = args._log_path or attach_log_file(default_log_path())
        log.exception("命令 %s 发生内部错误", args.command)
        _err(f"发生内部错误，详情已写入日志文件 {path}。")
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
