"""The ``cwdx`` argument parser, with argparse's own texts in Chinese."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from cwdx import __version__
from cwdx.cli import commands, users
from cwdx.errors import EXIT_USAGE

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
def chinese_argparse() -> Iterator[None]:
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
    choices: tuple[str, ...]
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


def _cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` and ``--scheduler ADDRESS`` (where the pieces of the work run)."""
    parser.add_argument(
        "--workers",
        type=_positive,
        metavar="个数",
        help="用本机几个工作进程并行处理（默认：数据量大时每个处理器核一个，数据量小时在本进程中）",
    )
    parser.add_argument(
        "--scheduler",
        metavar="地址",
        help="使用已有的 Dask 计算集群，例如 tcp://10.0.0.5:8786（各工作进程须能以相同路径访问工作区）",
    )


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    """Exactly one of ``--org ORG…`` and ``--everything`` (delete, unfreeze)."""
    group = parser.add_mutually_exclusive_group(required=True)
    _org_argument(group)
    group.add_argument("--everything", action="store_true", help="全部机构")


def build_parser() -> argparse.ArgumentParser:
    """The ``cwdx`` argument parser (build inside :func:`chinese_argparse` for Chinese help)."""
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
    common = _Parser(add_help=False)
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

    sub.add_parser = add_parser  # type: ignore[method-assign,assignment]
    _add_data_commands(sub, common)
    _add_workspace_commands(sub)
    _add_tool_commands(sub)
    users.add_user_commands(sub)
    return parser


def _add_data_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``template``, ``run``, ``import`` and ``status``."""
    p = sub.add_parser("template", help="生成表样工作簿", description="生成可下载的表样工作簿。")
    _table_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="文件.xlsx", help="输出文件")
    p.set_defaults(handler=commands.cmd_template)

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
    _cluster_arguments(p)
    p.set_defaults(handler=commands.cmd_run)

    p = sub.add_parser(
        "import",
        help="向工作区追加导入数据文件",
        description="把数据文件追加导入工作区（工作区不存在时自动创建）。同一文件重复导入会被拒绝，除非加 --force。",
    )
    kinds = p.add_subparsers(dest="table", metavar="cases|staff|inbox", parser_class=_Parser)
    kinds.required = True
    for table, words in (("cases", "病案首页数据"), ("staff", "申报人员信息")):
        k = kinds.add_parser(
            table,
            parents=[common],
            help=f"导入{words}文件",
            description=f"把{words}文件按给出的顺序追加导入工作区（工作区不存在时自动创建）。"
            "同一文件重复导入会被拒绝，除非加 --force。",
        )
        k.add_argument("files", nargs="+", metavar="文件", help=".xlsx 文件，按给出的顺序导入")
        k.add_argument("--force", action="store_true", help="确认重复导入内容相同的文件")
        _cluster_arguments(k)
    k = kinds.add_parser(
        "inbox",
        parents=[common],
        help="导入工作区 inbox 文件夹中的全部文件",
        description="按文件名顺序导入工作区 inbox 文件夹中的全部文件，按表头识别是病案首页数据"
        "还是申报人员信息；导入的文件移到 inbox/done，未导入的留在原处，原因写在 "
        "inbox/未导入原因.txt。",
    )
    k.add_argument("--force", action="store_true", help="确认重复导入内容相同的文件")
    _cluster_arguments(k)
    k.set_defaults(files=[])
    p.set_defaults(handler=commands.cmd_import)

    p = sub.add_parser(
        "status",
        help="查看机构、记录数、阶段和冻结状态",
        description="列出工作区中的机构及其记录数、阶段和冻结状态。",
    )
    p.set_defaults(handler=commands.cmd_status)


def _add_workspace_commands(sub: Any) -> None:
    """``check``, ``compute``, ``export``, ``delete`` and ``unfreeze``."""
    p = sub.add_parser(
        "check", help="数据检测", description="检测指定机构（默认：全部未冻结的机构）。"
    )
    _org_argument(p)
    _cluster_arguments(p)
    p.set_defaults(handler=commands.cmd_check)

    p = sub.add_parser(
        "compute", help="指标计算", description="计算指定机构（默认：全部检测通过的机构）的指标。"
    )
    _org_argument(p)
    _case_list_argument(p)
    _cluster_arguments(p)
    p.set_defaults(handler=commands.cmd_compute)

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
    _cluster_arguments(p)
    p.set_defaults(handler=commands.cmd_export)

    p = sub.add_parser(
        "delete",
        help="删除数据（冻结的机构不能删除）",
        description="删除指定机构或全部机构的数据；已冻结的机构会被拒绝。",
    )
    _table_argument(p, with_all=True)
    _scope_arguments(p)
    p.set_defaults(handler=commands.cmd_delete)

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
    p.set_defaults(handler=commands.cmd_unfreeze)


def _add_tool_commands(sub: Any) -> None:
    """``report``, ``app`` and ``demo``."""
    p = sub.add_parser(
        "report",
        help="批量报告（papermill）",
        description="用 papermill 运行报告笔记本，导出不含代码的 HTML 网页或 A4 的 pdf 文件（pdf 由本机的 Chromium 生成）。",
    )
    group = p.add_mutually_exclusive_group(required=True)
    _org_argument(group, "这些机构的机构报告")
    group.add_argument("--all", action="store_true", help="每个机构一份机构报告")
    group.add_argument("--province", action="store_true", help="全省报告")
    p.add_argument("-o", "--output", required=True, metavar="文件夹", help="输出文件夹")
    p.add_argument(
        "--format",
        choices=("html", "pdf", "ipynb"),
        default="html",
        help="输出格式：html、pdf（A4，需要本机安装 Chromium）或 ipynb（默认 html）",
    )
    _cluster_arguments(p)
    p.set_defaults(handler=commands.cmd_report)

    p = sub.add_parser(
        "dispatch",
        help="后台任务调度（两个网页版的任务由它执行）",
        description=(
            "持续执行工作区中排队的后台任务（导入、检测、计算、导出、报告等），直到按 Ctrl+C。"
            "数据量大时在本机启动每个处理器核一个工作进程，或用 --scheduler 使用已有的计算集群。"
        ),
    )
    _cluster_arguments(p)
    p.set_defaults(handler=commands.cmd_dispatch)

    p = sub.add_parser(
        "app",
        help="启动浏览器应用（机构版或平台版）",
        description="启动 Voilà 应用。平台版需要先添加登录用户：cwdx -w 工作区 user add 用户名。",
    )
    p.add_argument(
        "edition",
        choices=("institution", "platform"),
        metavar="institution|platform",
        help="institution（机构版）或 platform（平台版）",
    )
    p.add_argument(
        "--port", type=_positive, metavar="端口", help="端口（默认：机构版 8866，平台版 8867）"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="地址",
        help="监听地址（默认 127.0.0.1，只有本机能打开；平台版给其他电脑用时填本机的 IP 地址）",
    )
    _cluster_arguments(p)  # 平台版: where its task dispatcher runs the pieces
    p.add_argument(
        "--max-kernels",
        type=_positive,
        metavar="个数",
        help="最多同时打开的页面数（每个页面占用约 220 MB 内存；默认 4）",
    )
    p.set_defaults(handler=commands.cmd_app)

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
    p.set_defaults(handler=commands.cmd_demo)
