"""The 平台版's accounts: the workspace table, its upgrade, and ``cwdx -w WS user …``."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from cwdx.cli import main
from cwdx.errors import CwdxError, ErrorKind
from cwdx.workspace import Workspace
from cwdx.workspace.accounts import hash_password, password_matches


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_accounts_store_argon2_hashes_never_the_password(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert ws.accounts() == [] and not ws.has_active_account()
    record = ws.add_account("张三", "geheim-123")
    assert record.password_hash.startswith("$argon2id$")
    assert [(a.name, a.disabled, a.state_text) for a in ws.accounts()] == [("张三", False, "正常")]
    assert ws.has_active_account()
    raw = (tmp_path / "ws" / "cwdx.sqlite").read_bytes()
    assert b"geheim-123" not in raw
    stored = ws.account("张三")
    assert stored is not None
    assert password_matches(stored.password_hash, "geheim-123")
    assert not password_matches(stored.password_hash, "geheim-124")
    assert not password_matches("not a hash", "geheim-123")
    # two hashes of one password differ (salted)
    assert hash_password("geheim-123") != hash_password("geheim-123")


def test_passwd_and_disable_change_the_stamp_sessions_compare(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    first = ws.add_account("li", "password-1")
    ws.set_password("li", "password-2")
    second = ws.account("li")
    assert second is not None and second.changed != first.changed
    assert password_matches(second.password_hash, "password-2")
    assert not password_matches(second.password_hash, "password-1")
    ws.disable_account("li")
    third = ws.account("li")
    assert third is not None and third.disabled and third.changed != second.changed
    assert not ws.has_active_account()
    ws.enable_account("li")
    assert ws.has_active_account()


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        (
            "",
            "password-1",
            "用户名不能为空，请给出用户名，例如：cwdx -w 工作区 user add zhangsan。",
        ),
        (
            "a b",
            "password-1",
            "用户名“a b”不可用：用户名最多 32 个字符，只能包含汉字、字母、数字和 . _ -，请换一个用户名。",
        ),
        ("ok", "short", "密码太短：至少需要 8 个字符，请重新设置。"),
        ("ok", "tab\tin-password", "密码中不能有控制字符（如换行、制表符），请重新设置。"),
    ],
)
def test_unusable_names_and_passwords_are_refused(
    tmp_path: Path, name: str, password: str, message: str
) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(CwdxError) as caught:
        ws.add_account(name, password)
    assert caught.value.message == message
    assert ws.accounts() == []


def test_duplicate_and_unknown_names_are_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.add_account("wang", "password-1")
    with pytest.raises(CwdxError) as caught:
        ws.add_account("wang", "password-2")
    assert caught.value.kind is ErrorKind.REFUSED
    assert caught.value.message == "用户“wang”已存在；如需重设密码，请用 user passwd wang。"
    for change in (ws.disable_account, ws.enable_account):
        with pytest.raises(CwdxError) as caught:
            change("nobody")
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert caught.value.message == "没有用户“nobody”，请用 user list 查看已有的用户。"


def test_a_version_4_workspace_gains_the_accounts_table(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    Workspace(folder).import_files  # noqa: B018 - created at the current version
    con = sqlite3.connect(folder / "cwdx.sqlite")
    con.execute("DROP TABLE accounts")
    con.execute("PRAGMA user_version = 4")
    con.commit()
    con.close()
    ws = Workspace(folder)
    ws.add_account("zhao", "password-1")
    con = sqlite3.connect(folder / "cwdx.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == 5
    con.close()
    assert [a.name for a in ws.accounts()] == ["zhao"]


def test_user_commands_with_password_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ws = str(tmp_path / "平台")
    monkeypatch.setattr("sys.stdin", io.StringIO("first-pass\n"))
    assert run(capsys, "-w", ws, "user", "add", "张三", "--password-stdin") == (
        0,
        "已添加用户“张三”，可以用它登录平台版（cwdx app platform）。\n",
        "",
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("other-pass\n"))
    code, out, err = run(capsys, "-w", ws, "user", "add", "张三", "--password-stdin")
    assert (code, out) == (2, "")
    assert err == "用户“张三”已存在；如需重设密码，请用 user passwd 张三。\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("second-pass\n"))
    assert run(capsys, "-w", ws, "user", "passwd", "张三", "--password-stdin") == (
        0,
        "已重设用户“张三”的密码；该用户已登录的会话需要重新登录。\n",
        "",
    )
    account = Workspace(ws).account("张三")
    assert account is not None and password_matches(account.password_hash, "second-pass")
    assert run(capsys, "-w", ws, "user", "disable", "张三") == (
        0,
        "已停用用户“张三”：不能再登录，已登录的会话随即失效。\n",
        "",
    )
    code, out, _ = run(capsys, "-w", ws, "user", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["用户名", "状态", "创建时间", "最近修改"]
    assert lines[1].split()[:2] == ["张三", "已停用"] and len(lines) == 2
    code, _, err = run(capsys, "-w", ws, "user", "disable", "李四")
    assert (code, err) == (2, "没有用户“李四”，请用 user list 查看已有的用户。\n")


def test_user_add_asks_twice_and_refuses_a_mismatch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ws = str(tmp_path / "ws")
    answers = iter(["password-1", "password-2"])
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    code, out, err = run(capsys, "-w", ws, "user", "add", "zhou")
    assert (code, out) == (2, "")
    assert err == "两次输入的密码不一致，没有做任何修改，请重新运行命令。\n"
    assert prompts == ["请输入用户“zhou”的密码：", "请再输入一次："]
    assert Workspace(ws).accounts() == []
    answers = iter(["password-1", "password-1"])
    assert run(capsys, "-w", ws, "user", "add", "zhou")[0] == 0
    assert [a.name for a in Workspace(ws).accounts()] == ["zhou"]


def test_user_list_without_accounts_says_how_to_add_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    Workspace(tmp_path / "ws")
    assert run(capsys, "-w", str(tmp_path / "ws"), "user", "list") == (
        0,
        "还没有平台版用户。添加用户：cwdx -w 工作区 user add 用户名\n",
        "",
    )
