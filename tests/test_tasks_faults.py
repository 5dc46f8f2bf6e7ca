"""A check of 20 small institutions through the dispatcher process (``cwdx dispatch``): kill -9
of a worker, of a helper process or of the dispatcher in the middle leaves every institution either checked or as
it was, the task Failed with its reason, and a re-run completes with the in-process results.
And the same check on an external cluster (``dask scheduler`` + 2 ``dask worker``) through
``cwdx check --scheduler``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cwdx.check import check_workspace
from cwdx.demo import write_demo
from cwdx.pool import HELPER_DIED
from cwdx.tasks import run_task, start_dispatcher, submit_task
from cwdx.tasks.cluster import DaskMapper
from cwdx.workspace import TaskRecord, Workspace

INSTITUTIONS = 20
UPLOADED = "已上传"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with 20 demo institutions of 150 cases each, imported, not checked."""
    root = tmp_path_factory.mktemp("province")
    write_demo(root / "demo", institutions=INSTITUTIONS, cases=150, seed=11)
    ws = Workspace(root / "ws")
    ws.import_files("cases", sorted((root / "demo").glob("*/病案首页数据-*.xlsx")))
    ws.import_files("staff", sorted((root / "demo").glob("*/申报人员信息.xlsx")))
    return ws.path


def _state(ws: Workspace) -> dict[str, tuple]:
    return {i.org: (i.stage, i.errors, i.warnings, dict(i.counts or {})) for i in ws.institutions()}


@pytest.fixture(scope="module")
def reference(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """The check run in this process, one institution after another."""
    path = tmp_path_factory.mktemp("reference") / "ws"
    shutil.copytree(template, path)
    ws = Workspace(path)
    check_workspace(ws, workers=1)
    return _state(ws)


@pytest.fixture
def ws(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    # every check piece (in the dispatcher's workers, which inherit this environment) takes at
    # least 10 s, longer than the dispatcher takes to store a finished batch: the kill always
    # lands while both workers run a piece, however fast the machine
    monkeypatch.setenv("CWDX_TEST_PAUSE_AT", "check_piece")
    monkeypatch.setenv("CWDX_TEST_PAUSE_SECONDS", "10")
    shutil.copytree(template, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


def _wait_for(condition, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _midway(ws: Workspace, task_id: int) -> TaskRecord:
    """Wait until the task has stored its first batch (and is not done): both workers then run
    a piece of at least 10 s (the pause of the ``ws`` fixture)."""
    _wait_for(lambda: ws.task(task_id).progress.get("done", 0) >= 1 or ws.task(task_id).finished)
    record = ws.task(task_id)
    assert record.state == "Running" and record.progress["done"] < INSTITUTIONS, record
    return record


def _checked_or_as_before(ws: Workspace, reference: dict[str, tuple]) -> int:
    """Every institution is either checked (exactly as the reference) or untouched; returns
    how many were checked."""
    checked = 0
    for org, state in _state(ws).items():
        if state[0] == UPLOADED:
            assert ws.load_check(org) is None
        else:
            assert state == reference[org]
            checked += 1
    return checked


def _a_rerun_completes(ws: Workspace, reference: dict[str, tuple]) -> None:
    """A check submitted again succeeds and leaves every institution as the reference."""
    rerun = submit_task(ws, "check", started_by="测试")
    _wait_for(lambda: ws.task(rerun).finished)
    assert ws.task(rerun).state == "Succeeded", ws.task(rerun).error
    assert _state(ws) == reference


def _workers_of(pid: int) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(pid).children(recursive=True)
        if "spawn_main" in " ".join(child.cmdline())
        and "resource_tracker" not in " ".join(child.cmdline())
    ]


def test_kill_of_a_worker_fails_the_task_and_a_rerun_completes(
    ws: Workspace, reference: dict[str, tuple]
) -> None:
    dispatcher = start_dispatcher(ws.path, workers=2)
    try:
        assert dispatcher.pid is not None
        task_id = submit_task(ws, "check", started_by="测试")
        _midway(ws, task_id)
        victim = _workers_of(dispatcher.pid)[0]
        os.kill(victim.pid, signal.SIGKILL)
        _wait_for(lambda: ws.task(task_id).finished)
        failed = ws.task(task_id)
        assert (failed.state, failed.error) == (
            "Failed",
            "执行任务的计算进程意外退出（可能是内存不足或被强行结束），任务未完成；"
            "未完成的机构保持任务开始前的状态，请检查服务器内存后重新提交任务。",
        )
        assert 1 <= _checked_or_as_before(ws, reference) < INSTITUTIONS
        _a_rerun_completes(ws, reference)  # the rest; the nanny restarted the worker
    finally:
        dispatcher.stop()
    assert not dispatcher.alive()


def test_kill_of_the_dispatcher_fails_the_task_and_a_rerun_completes(
    ws: Workspace, reference: dict[str, tuple]
) -> None:
    dispatcher = start_dispatcher(ws.path, workers=2)
    assert dispatcher.pid is not None and dispatcher.popen is not None
    task_id = submit_task(ws, "check", started_by="测试")
    _midway(ws, task_id)
    workers = _workers_of(dispatcher.pid)
    assert len(workers) == 2
    os.kill(dispatcher.pid, signal.SIGKILL)
    dispatcher.popen.wait(30)
    gone, alive = psutil.wait_procs(workers, timeout=30)  # they exit with their parent
    assert alive == []
    reopened = Workspace(ws.path)  # marks the dead dispatcher's task Failed
    failed = reopened.task(task_id)
    assert (failed.state, failed.error) == ("Failed", "任务所在进程已意外终止，任务未完成。")
    assert 1 <= _checked_or_as_before(reopened, reference) < INSTITUTIONS
    done = run_task(reopened, "check", started_by="测试", workers=1)  # in this process
    assert done.state == "Succeeded"
    assert len(done.details["orgs"]) < INSTITUTIONS  # only those left unchecked
    assert _state(reopened) == reference


def _helpers_of(pid: int) -> list[psutil.Process]:
    """The helper processes (:mod:`cwdx.pool`) of process ``pid``: children of its fork server."""
    family = psutil.Process(pid).children(recursive=True)
    servers = {p.pid for p in family if "forkserver" in " ".join(p.cmdline()) and p.ppid() == pid}
    return [p for p in family if p.ppid() in servers]


def test_kill_of_a_helper_fails_the_task_and_a_rerun_completes(
    ws: Workspace, reference: dict[str, tuple], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CWDX_POOL_MIN_ROWS", "0")  # small work gets a helper process too
    paused = tmp_path / "paused"
    monkeypatch.setenv("CWDX_TEST_PAUSE_FILE", str(paused))
    dispatcher = start_dispatcher(ws.path)
    try:
        assert dispatcher.pid is not None
        # a first check of two institutions starts the dispatcher's helper, which stays
        first = submit_task(ws, "check", [i.org for i in ws.institutions()][:2], started_by="测试")
        _wait_for(lambda: ws.task(first).finished)
        paused.unlink()
        task_id = submit_task(ws, "check", started_by="测试")
        _wait_for(paused.exists)
        time.sleep(1)  # the helper runs one batch, the dispatcher the other: both pause 10 s
        [victim] = _helpers_of(dispatcher.pid)
        os.kill(victim.pid, signal.SIGKILL)
        _wait_for(lambda: ws.task(task_id).finished)
        failed = ws.task(task_id)
        assert (failed.state, failed.error) == ("Failed", HELPER_DIED)
        assert _checked_or_as_before(ws, reference) == 2  # the first task's
        _a_rerun_completes(ws, reference)  # new helpers start
    finally:
        dispatcher.stop()
    assert not dispatcher.alive()


def test_kill_of_the_dispatcher_ends_its_helpers(
    ws: Workspace, reference: dict[str, tuple], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWDX_POOL_MIN_ROWS", "0")
    dispatcher = start_dispatcher(ws.path)
    assert dispatcher.pid is not None and dispatcher.popen is not None
    task_id = submit_task(ws, "check", started_by="测试")
    _midway(ws, task_id)
    time.sleep(2)
    family = psutil.Process(dispatcher.pid).children(recursive=True)
    assert len(_helpers_of(dispatcher.pid)) == 1
    os.kill(dispatcher.pid, signal.SIGKILL)
    dispatcher.popen.wait(30)
    _, alive = psutil.wait_procs(family, timeout=30)  # helpers and their fork server
    assert alive == []
    reopened = Workspace(ws.path)
    assert reopened.task(task_id).state == "Failed"
    assert 1 <= _checked_or_as_before(reopened, reference) < INSTITUTIONS
    done = run_task(reopened, "check", started_by="测试", workers=1)
    assert done.state == "Succeeded" and _state(reopened) == reference


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def external_cluster(tmp_path: Path) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--dashboard-address", f"127.0.0.1:{_free_port()}"],
            **quiet,
        )
    ]  # fmt: skip
    for n in range(2):
        processes.append(
            subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--local-directory", str(tmp_path / f"w{n}")],
                **quiet,
            )
        )  # fmt: skip
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_check_on_an_external_scheduler(
    ws: Workspace, reference: dict[str, tuple], external_cluster: str
) -> None:
    from distributed import Client

    orgs = [info.org for info in ws.institutions()][:4]  # 4 of them: enough for 2 workers
    result = subprocess.run(
        [sys.executable, "-m", "cwdx.cli", "--quiet", "-w", str(ws.path), "check",
         "--org", *orgs, "--scheduler", external_cluster],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # some demo institutions fail their check
    assert result.stdout.count("：数据检测") == len(orgs)
    state = _state(Workspace(ws.path))
    assert {org: state[org] for org in orgs} == {org: reference[org] for org in orgs}
    assert {s[0] for org, s in state.items() if org not in orgs} == {UPLOADED}
    [task] = Workspace(ws.path).tasks()
    assert (task.kind, task.state, sorted(task.details["orgs"])) == ("check", "Succeeded", orgs)
    with Client(external_cluster) as client:
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
        assert len(executed) == 2 and sum(executed.values()) == len(orgs)
        # the mapper yields results in input order whatever order they finish in
        # (a lambda: cloudpickle sends it by value, the workers cannot import this module)
        slow = lambda seconds: (time.sleep(seconds), seconds)[1]  # noqa: E731
        assert list(DaskMapper(client)(slow, [0.6, 0.0, 0.3])) == [0.6, 0.0, 0.3]
