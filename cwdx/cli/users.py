"""``cwdx -w WS user add|passwd|list|disable|enable``: the accounts of the 平台版.

Passwords are typed twice without echo (``getpass``) or read from the first line of standard
input with ``--password-stdin`` (for scripts: ``make platform`` uses it); they are never shown,
logged or passed on the command line.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any

from cwdx.cli.rendering import format_table, say
from cwdx.errors import EXIT_OK, CwdxError, ErrorKind

if TYPE_CHECKING:
    from cwdx.workspace import Workspace


def add_user_commands(sub: Any) -> None:
    """The ``user`` command and its subcommands on the ``cwdx`` subparsers ``sub``."""
    p = sub.add_parser(
        "user",
        help="管理平台版的登录用户",
        description="管理平台版（cwdx app platform）的登录用户；用户保存在工作区中，密码只保存其 argon2 散列值。",
        epilog="示例：cwdx -w 工作区 user add zhangsan；cwdx -w 工作区 user list",
    )
    actions = p.add_subparsers(dest="user_command", metavar="操作", parser_class=type(p))
    actions.required = True

    q = actions.add_parser("add", help="添加用户（输入两次密码）", description="添加一个用户。")
    q.add_argument("name", metavar="用户名")
    _password_argument(q)
    q.set_defaults(handler=cmd_user_add)

    q = actions.add_parser(
        "passwd", help="重设用户的密码", description="重设密码；该用户已登录的会话随即失效。"
    )
    q.add_argument("name", metavar="用户名")
    _password_argument(q)
    q.set_defaults(handler=cmd_user_passwd)

    q = actions.add_parser("list", help="列出用户", description="列出用户及其状态。")
    q.set_defaults(handler=cmd_user_list)

    q = actions.add_parser(
        "disable", help="停用用户", description="停用用户：不能再登录，已登录的会话随即失效。"
    )
    q.add_argument("name", metavar="用户名")
    q.set_defaults(handler=cmd_user_disable)

    q = actions.add_parser("enable", help="重新启用已停用的用户", description="重新启用用户。")
    q.add_argument("name", metavar="用户名")
    q.set_defaults(handler=cmd_user_enable)


def _password_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="从标准输入的第一行读取密码（供脚本使用），不再提示输入",
    )


def read_password(args: argparse.Namespace, name: str) -> str:
    """The new password of ``name``: the first line of standard input with
    ``--password-stdin``, else typed twice without echo (both must match)."""
    from cwdx.workspace.accounts import check_password

    if args.password_stdin:
        line = sys.stdin.readline()
        return check_password(line.rstrip("\r\n"))
    try:
        first = getpass.getpass(f"请输入用户“{name}”的密码：")
        check_password(first)
        second = getpass.getpass("请再输入一次：")
    except EOFError:
        raise CwdxError(
            "没有读到密码：请在终端中运行并按提示输入，或用 --password-stdin 从标准输入提供密码。"
        ) from None
    if first != second:
        raise CwdxError("两次输入的密码不一致，没有做任何修改，请重新运行命令。")
    return first


def _open(args: argparse.Namespace, create: bool = False) -> Workspace:
    from cwdx.cli.commands import open_workspace

    return open_workspace(args, create=create)


def cmd_user_add(args: argparse.Namespace) -> int:
    """``cwdx -w WS user add NAME [--password-stdin]``."""
    from cwdx.workspace.accounts import check_name

    name = check_name(args.name)
    ws = _open(args, create=True)
    if ws.account(name) is not None:  # before asking for a password that would be refused
        raise CwdxError(
            f"用户“{name}”已存在；如需重设密码，请用 user passwd {name}。", ErrorKind.REFUSED
        )
    ws.add_account(name, read_password(args, name))
    say(f"已添加用户“{name}”，可以用它登录平台版（cwdx app platform）。")
    return EXIT_OK


def cmd_user_passwd(args: argparse.Namespace) -> int:
    """``cwdx -w WS user passwd NAME [--password-stdin]``."""
    ws = _open(args)
    if ws.account(args.name) is None:
        raise CwdxError(
            f"没有用户“{args.name}”，请用 user list 查看已有的用户。", ErrorKind.NOT_FOUND
        )
    ws.set_password(args.name, read_password(args, args.name))
    say(f"已重设用户“{args.name}”的密码；该用户已登录的会话需要重新登录。")
    return EXIT_OK


def cmd_user_list(args: argparse.Namespace) -> int:
    """``cwdx -w WS user list``."""
    ws = _open(args)
    accounts = ws.accounts()
    if not accounts:
        say("还没有平台版用户。添加用户：cwdx -w 工作区 user add 用户名")
        return EXIT_OK
    rows = [(a.name, a.state_text, a.created[:19], a.changed[:19]) for a in accounts]
    say(format_table(("用户名", "状态", "创建时间", "最近修改"), rows))
    return EXIT_OK


def cmd_user_disable(args: argparse.Namespace) -> int:
    """``cwdx -w WS user disable NAME``."""
    _open(args).disable_account(args.name)
    say(f"已停用用户“{args.name}”：不能再登录，已登录的会话随即失效。")
    return EXIT_OK


def cmd_user_enable(args: argparse.Namespace) -> int:
    """``cwdx -w WS user enable NAME``."""
    _open(args).enable_account(args.name)
    say(f"已重新启用用户“{args.name}”。")
    return EXIT_OK
