"""``cwdx app platform`` around the server: the task dispatcher started and stopped with it,
and the demo province of ``make platform`` (tools/platform_demo.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cwdx import app
from cwdx.workspace import Workspace
from cwdx.workspace.accounts import password_matches

ROOT = Path(__file__).resolve().parents[1]


class FakeDispatcher:
    def __init__(self) -> None:
        self.stopped = False

    def alive(self) -> bool:
        return not self.stopped

    def stop(self) -> None:
        self.stopped = True


def test_the_platform_starts_its_dispatcher_and_stops_it_with_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.add_account("operator", "password-1")
    started: list[tuple[Path, int | None, str | None]] = []
    dispatcher = FakeDispatcher()
    commands: list[list[str]] = []
    running_beside: list[bool] = []

    def fake_start(folder: Path, workers: int | None, scheduler: str | None) -> FakeDispatcher:
        started.append((folder, workers, scheduler))
        return dispatcher

    def fake_run(command: list[str], folder: Path) -> int:
        running_beside.append(bool(started) and not dispatcher.stopped)
        commands.append(command)
        return 0

    monkeypatch.setattr(app, "start_task_dispatcher", fake_start)
    monkeypatch.setattr(app, "_run_server", fake_run)
    address = "tcp://10.0.0.5:8786"
    assert app.serve("platform", ws.path, None, workers=3, scheduler=address) == 0
    assert started == [(ws.path, 3, address)] and dispatcher.stopped
    assert running_beside == [True]  # the dispatcher ran while the server did
    (command,) = commands
    assert "--port=8867" in command and "--Voila.ip=127.0.0.1" in command
    assert "--Voila.identity_provider_class=cwdx.login.CwdxIdentityProvider" in command
    assert command[3].endswith("platform.ipynb")
    # the 机构版 has no login; it starts its workspace's dispatcher too (its page submits tasks)
    started.clear()
    dispatcher.stopped = False
    assert app.serve("institution", tmp_path / "inst", None) == 0
    assert started == [((tmp_path / "inst").resolve(), None, None)] and dispatcher.stopped
    assert running_beside[-1] is True and "--port=8866" in commands[-1]
    assert not any("identity_provider" in part for part in commands[-1])


def test_platform_demo_fills_the_inbox_and_prints_the_password_once(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "tools" / "platform_demo.py")]
    folders = [str(tmp_path / "data"), str(tmp_path / "ws")]
    first = subprocess.run(
        [*command, *folders, "--institutions", "2", "--cases", "150"],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"已创建操作员账户，用户名：operator  密码：(\S+)\n", first.stdout)
    assert match is not None, first.stdout
    inbox = sorted(p.name for p in (tmp_path / "ws" / "inbox").iterdir())
    assert len(inbox) == 6 and all(re.fullmatch(r"\w+-.+\.xlsx", name) for name in inbox)
    assert "已把 6 个演示文件放进收件箱" in first.stdout
    (account,) = Workspace(tmp_path / "ws").accounts()
    assert account.name == "operator" and password_matches(account.password_hash, match[1])
    second = subprocess.run([*command, *folders], capture_output=True, text=True, check=True)
    assert match[1] not in second.stdout and "已有登录用户（密码只在第一次显示）" in second.stdout
    assert "放进收件箱" not in second.stdout
