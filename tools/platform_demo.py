"""Set up a demo province for the 平台版 (``make platform``).

``python tools/platform_demo.py DATA WS [--institutions N] [--cases N] [--user NAME]``:

1. writes ``cwdx demo`` workbooks of N institutions into DATA (once; kept between runs);
2. creates the platform workspace WS and puts every institution's files into ``WS/inbox/``
   (named ``<组织机构代码>-<file>``, so the page's 导入 inbox 文件夹中的文件 takes them in);
3. adds one operator account with a generated password and prints the password this one time
   (later runs say the account exists and how to set a new password).

Run it again on the same folders and it changes nothing.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
from pathlib import Path

from cwdx.demo import write_demo
from cwdx.errors import CwdxError
from cwdx.workspace import Workspace


def fill_inbox(data: Path, inbox: Path) -> int:
    """Copy each institution's workbooks of ``data`` into ``inbox``; the number copied (0 when
    the inbox was used before: it holds files or a ``done`` folder)."""
    if any(inbox.iterdir()):
        return 0
    copied = 0
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        for book in sorted(folder.glob("*.xlsx")):
            shutil.copy2(book, inbox / f"{folder.name}-{book.name}")
            copied += 1
    return copied


def operator_account(ws: Workspace, name: str) -> str | None:
    """Add the account ``name`` with a generated password and return the password, or
    ``None`` when the workspace has accounts already."""
    if ws.accounts():
        return None
    password = secrets.token_urlsafe(9)  # 12 characters
    ws.add_account(name, password)
    return password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="为平台版准备演示省份：演示数据、收件箱、操作员账户。"
    )
    parser.add_argument("data", type=Path, help="演示数据文件夹")
    parser.add_argument("workspace", type=Path, help="平台版工作区文件夹")
    parser.add_argument("--institutions", type=int, default=5, help="演示机构数（默认 5）")
    parser.add_argument("--cases", type=int, default=2000, help="每个机构的病案数（默认 2000）")
    parser.add_argument("--user", default="operator", help="操作员用户名（默认 operator）")
    args = parser.parse_args(argv)
    try:
        if not (args.data / "demo_manifest.json").is_file():
            print(f"正在生成 {args.institutions} 个机构的演示数据：{args.data}", flush=True)
            write_demo(args.data, institutions=args.institutions, cases=args.cases)
        ws = Workspace(args.workspace)
        copied = fill_inbox(args.data, ws.path / "inbox")
        if copied:
            print(f"已把 {copied} 个演示文件放进收件箱：{ws.path / 'inbox'}")
            print("打开平台版后，点“导入 inbox 文件夹中的文件”即可导入。")
        password = operator_account(ws, args.user)
    except CwdxError as exc:
        print(exc.message, file=sys.stderr)
        return exc.exit_code
    if password is None:
        print(
            f"平台版工作区 {ws.path} 已有登录用户（密码只在第一次显示）；"
            f'忘记密码时：cwdx -w "{ws.path}" user passwd 用户名'
        )
    else:
        print(f"已创建操作员账户，用户名：{args.user}  密码：{password}")
        print("密码只显示这一次，请记下来。")
    return 0


if __name__ == "__main__":
    sys.exit(main())
