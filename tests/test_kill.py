"""Kill safety: an import (or delete) killed at any point leaves the workspace as it was."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ws_helper import staff_book, staff_row, write_book

from cwdx.workspace import Workspace

BIG_ROWS = 3000
ORGS = ("H001", "H002", "H003")


def _state(path: Path) -> tuple:
    """Everything a user could see of the workspace, plus its data files."""
    ws = Workspace(path)
    files = sorted(
        p.relative_to(path).as_posix()
        for top in ("data", "checks", "results")
        for p in (path / top).rglob("*")
        if p.is_file()
    )
    return (
        [(i.org, i.stage, i.frozen, i.cases, i.staff) for i in ws.institutions()],
        [(r.id, r.file, r.rows, r.current_rows, r.rejected) for r in ws.imported_files()],
        len(ws.load("staff")),
        files,
    )


def _cwdx(path: Path, *argv: str, pause: str | None = None, marker: Path | None = None):
    env = dict(os.environ)
    env.pop("CWDX_TEST_PAUSE_AT", None)
    if pause:
        env["CWDX_TEST_PAUSE_AT"] = pause
        env["CWDX_TEST_PAUSE_FILE"] = str(marker)
    exe = Path(sys.executable).with_name("cwdx")
    return subprocess.Popen(
        [str(exe), "-w", str(path), "--quiet", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_at(path: Path, marker: Path, pause: str, *argv: str) -> None:
    marker.unlink(missing_ok=True)
    proc = _cwdx(path, *argv, pause=pause, marker=marker)
    deadline = time.monotonic() + 90
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"never reached {pause}: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, f"timeout waiting for {pause}"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def big_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kill")
    rows = [staff_row(ORGS[i % 3], f"乙{i}", cert=f"K{i:07d}") for i in range(BIG_ROWS)]
    return write_book(folder / "大文件.xlsx", "staff", rows)


@pytest.mark.slow
def test_import_killed_at_every_point(tmp_path: Path, big_book: Path) -> None:
    ws = tmp_path / "ws"
    Workspace(ws).import_files("staff", [staff_book(tmp_path / "small.xlsx", "H001", "H009")])
    before = _state(ws)
    marker = tmp_path / "paused"
    for point in ("after_read", "after_write", "after_rename", "before_commit"):
        _kill_at(ws, marker, point, "import", "staff", str(big_book))
        assert _state(ws) == before, point

    # killed right after the commit: the import is complete
    _kill_at(ws, marker, "after_commit", "import", "staff", str(big_book))
    after = _state(ws)
    assert after[0] == [
        ("H001", "已上传", False, 0, 1 + 1000),
        ("H002", "已上传", False, 0, 1000),
        ("H003", "已上传", False, 0, 1000),
        ("H009", "已上传", False, 0, 1),
    ]
    assert after[2] == 2 + BIG_ROWS

    # a delete killed after its commit but before removing files: no stray files on open
    _kill_at(ws, marker, "delete_after_commit", "delete", "staff", "--org", "H002", "H003")
    state = _state(ws)
    assert [row[0] for row in state[0]] == ["H001", "H009"]
    assert not any("/H002/" in f or "/H003/" in f for f in state[3])

    # clean up and re-import the big file normally
    Workspace(ws).delete("staff", everything=True)
    proc = _cwdx(ws, "import", "staff", str(big_book))
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    final = _state(ws)
    assert final[2] == BIG_ROWS
    assert [(org, staff) for org, _, _, _, staff in final[0]] == [
        ("H001", 1000),
        ("H002", 1000),
        ("H003", 1000),
    ]


@pytest.mark.slow
def test_import_killed_after_random_delays(tmp_path: Path, big_book: Path) -> None:
    ws = tmp_path / "ws"
    Workspace(ws)
    empty = _state(ws)
    rng = random.Random(7)
    for _ in range(3):
        proc = _cwdx(ws, "import", "staff", str(big_book))
        time.sleep(rng.uniform(0.3, 2.0))
        proc.kill()
        proc.wait()
        state = _state(ws)
        if state[2]:  # the import got to its commit: it is all there
            assert state[2] == BIG_ROWS and len(state[1]) == 1
            Workspace(ws).delete("staff", everything=True)
            state = _state(ws)
        assert (state[0], state[2], state[3]) == (empty[0], empty[2], empty[3])
    [out] = Workspace(ws).import_files("staff", [big_book])
    assert out.ok and out.rows == BIG_ROWS


@pytest.mark.slow
def test_check_task_killed_leaves_institutions_as_they_were(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    Workspace(ws).import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001", "H002")])
    before = _state(ws)
    marker = tmp_path / "paused"
    for point in ("after_write", "before_commit"):
        _kill_at(ws, marker, point, "check")
        assert _state(ws) == before, point
        task = Workspace(ws).tasks()[0]
        assert (task.kind, task.state, task.details["error"]) == (
            "check",
            "Failed",
            "任务所在进程已意外终止，任务未完成。",
        )
    proc = _cwdx(ws, "check")
    assert proc.wait(timeout=120) in (0, 1), proc.stderr.read().decode()
    assert all(stage.startswith("已检测") for _, stage, *_ in _state(ws)[0])


@pytest.mark.slow
def test_second_writer_is_refused_while_an_import_runs(tmp_path: Path, big_book: Path) -> None:
    ws = tmp_path / "ws"
    Workspace(ws)
    marker = tmp_path / "paused"
    first = _cwdx(ws, "import", "staff", str(big_book), pause="after_read", marker=marker)
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        second = subprocess.run(
            [
                str(Path(sys.executable).with_name("cwdx")),
                "-w",
                str(ws),
                "delete",
                "all",
                "--everything",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert second.stderr.startswith(
            f"工作区正在进行另一项写入操作（导入申报人员信息自然表，进程 {first.pid}，开始于 "
        )
        assert second.stderr.endswith("），为避免数据损坏，本次操作未执行；请等其完成后再试。\n")
    finally:
        first.kill()
        first.wait()
    assert _state(ws)[0] == []
