"""The dispatcher's scheduling: tasks on different institutions run side by side, tasks on
the same institution wait (oldest first), whole-workspace tasks wait for every other task."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from cwdx.errors import CwdxError
from cwdx.tasks import kinds, submit_task
from cwdx.tasks.dispatcher import Dispatcher
from cwdx.tasks.kinds import TaskContext
from cwdx.workspace import Workspace


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> dict[int, threading.Event]:
    """Replace the check runner by one that waits until the test opens its task's gate."""
    gates: dict[int, threading.Event] = {}

    def runner(ctx: TaskContext) -> None:
        gate = gates.setdefault(ctx.record.id, threading.Event())
        ctx.progress(0, 1, "等待")
        assert gate.wait(30)
        if ctx.record.params.get("fail"):
            raise CwdxError("模拟的失败原因。")
        for org in ctx.record.orgs:
            ctx.org_done(org, passed=True)

    monkeypatch.setitem(kinds.RUNNERS, "check", runner)
    monkeypatch.setitem(kinds.RUNNERS, "compute", runner)
    return gates


def _open(gates: dict[int, threading.Event], task_id: int, dispatcher: Dispatcher) -> None:
    gates.setdefault(task_id, threading.Event()).set()
    dispatcher.running[task_id].thread.join(10)


def _states(ws: Workspace) -> dict[int, str]:
    return {t.id: t.state for t in ws.tasks()}


def test_different_institutions_side_by_side_same_institution_waits(
    tmp_path: Path, gated: dict[int, threading.Event]
) -> None:
    ws = Workspace(tmp_path / "ws")
    a = submit_task(ws, "check", ["H001"], started_by="甲")
    b = submit_task(ws, "check", ["H002"], started_by="乙")
    c = submit_task(ws, "compute", ["H001"], started_by="甲")
    d = submit_task(ws, "check", ["H003"], started_by="丙")
    dispatcher = Dispatcher(ws.path, workers=1)
    assert dispatcher.step() == [a, b, d]  # c waits for a (same institution)
    assert _states(ws) == {a: "Running", b: "Running", c: "Queued", d: "Running"}
    _open(gated, b, dispatcher)
    assert dispatcher.step() == []
    assert _states(ws)[c] == "Queued"
    _open(gated, a, dispatcher)
    assert dispatcher.step() == [c]
    for task_id in (c, d):
        _open(gated, task_id, dispatcher)
    dispatcher.step()
    assert set(_states(ws).values()) == {"Succeeded"}
    record = ws.task(a)
    assert (record.details["orgs"], record.started_by, record.progress) == (
        {"H001": {"passed": True}},
        "甲",
        {"done": 0, "total": 1, "label": "等待"},
    )
    assert record.start is not None and record.end is not None


def test_whole_workspace_task_waits_for_all_and_all_wait_for_it(
    tmp_path: Path, gated: dict[int, threading.Event]
) -> None:
    ws = Workspace(tmp_path / "ws")
    a = submit_task(ws, "check", ["H001"], started_by="甲")
    everything = submit_task(ws, "check", None, started_by="乙")  # every institution
    later = submit_task(ws, "check", ["H009"], started_by="丙")
    dispatcher = Dispatcher(ws.path, workers=1)
    assert dispatcher.step() == [a]  # later touches another institution, but is younger
    _open(gated, a, dispatcher)
    assert dispatcher.step() == [everything]
    assert dispatcher.step() == []
    _open(gated, everything, dispatcher)
    assert dispatcher.step() == [later]
    _open(gated, later, dispatcher)
    dispatcher.step()
    assert _states(ws) == {a: "Succeeded", everything: "Succeeded", later: "Succeeded"}


def test_failed_task_records_its_reason_and_releases_its_institutions(
    tmp_path: Path, gated: dict[int, threading.Event]
) -> None:
    ws = Workspace(tmp_path / "ws")
    bad = submit_task(ws, "check", ["H001"], started_by="甲", params={"fail": True})
    after = submit_task(ws, "check", ["H001"], started_by="甲")
    dispatcher = Dispatcher(ws.path, workers=1)
    assert dispatcher.step() == [bad]
    _open(gated, bad, dispatcher)
    assert dispatcher.step() == [after]
    record = ws.task(bad)
    assert (record.state, record.error) == ("Failed", "模拟的失败原因。")
    _open(gated, after, dispatcher)
    dispatcher.step()


def test_a_task_that_ends_wakes_the_serve_loop_at_once(
    tmp_path: Path, gated: dict[int, threading.Event]
) -> None:
    """The command line's loop (``serve(until=...)``) waits on the running task, not on a poll:
    with polls 30 s apart, it still returns as soon as its task ends."""
    ws = Workspace(tmp_path / "ws")
    task_id = submit_task(ws, "check", ["H001"], started_by="甲")
    dispatcher = Dispatcher(ws.path, workers=1)
    loop = threading.Thread(
        target=dispatcher.serve, kwargs={"poll": 30.0, "until": lambda: ws.task(task_id).finished}
    )
    loop.start()
    deadline = time.monotonic() + 10
    while task_id not in dispatcher.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _states(ws)[task_id] == "Running"
    opened = time.monotonic()
    gated.setdefault(task_id, threading.Event()).set()
    loop.join(10)
    assert not loop.is_alive()
    assert time.monotonic() - opened < 5  # not the 30 s poll
    assert _states(ws) == {task_id: "Succeeded"}


def test_dispatcher_holds_the_write_lock_while_tasks_run(
    tmp_path: Path, gated: dict[int, threading.Event]
) -> None:
    ws = Workspace(tmp_path / "ws")
    task_id = submit_task(ws, "check", ["H001"], started_by="甲")
    dispatcher = Dispatcher(ws.path, workers=1)
    dispatcher.step()
    failures: list[str] = []

    def other_thread_is_let_in() -> None:  # the task threads write through the shared lock
        try:
            with Workspace(ws.path).writing("数据检测"):
                pass
        except CwdxError as exc:
            failures.append(exc.message)

    thread = threading.Thread(target=other_thread_is_let_in)
    thread.start()
    thread.join()
    assert failures == []
    _open(gated, task_id, dispatcher)
    dispatcher.step()
    deadline = time.monotonic() + 5
    while dispatcher._lock_held and time.monotonic() < deadline:
        dispatcher.step()
    assert not dispatcher._lock_held


def test_command_line_task_is_refused_while_another_write_runs(tmp_path: Path) -> None:
    """run_task in its own loop does not wait behind a direct write: refused as that write
    would refuse it, and recorded as Failed."""
    from cwdx.errors import ErrorKind
    from cwdx.tasks import run_task

    ws = Workspace(tmp_path / "ws")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ws.writing("导入病案首页数据"):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    try:
        with pytest.raises(CwdxError) as err:
            run_task(ws, "check", ["H001"], started_by="张三", workers=1)
    finally:
        release.set()
        thread.join()
    assert (err.value.message, err.value.kind) == (
        "工作区正在进行另一项写入操作（导入病案首页数据），为避免数据损坏，本次操作未执行；"
        "请等其完成后再试。",
        ErrorKind.BUSY,
    )
    assert [(t.kind, t.state) for t in ws.tasks()] == [("check", "Failed")]


def test_an_import_task_removes_its_upload_folder_but_not_other_files(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    saved = ws.path / "uploads" / "abc123"
    saved.mkdir(parents=True)
    (saved / "不是表样.xlsx").write_bytes(b"not a workbook")
    elsewhere = tmp_path / "命令行给的.xlsx"
    elsewhere.write_bytes(b"not a workbook either")
    files = [str(saved / "不是表样.xlsx"), str(elsewhere)]
    task_id = submit_task(
        ws, "import", started_by="张三", params={"table": "staff", "files": files}
    )
    dispatcher = Dispatcher(ws.path, workers=0)
    dispatcher.serve(poll=0.05, until=lambda: ws.task(task_id).finished)
    task = ws.task(task_id)
    assert [f["file"] for f in task.details["files"]] == ["不是表样.xlsx", "命令行给的.xlsx"]
    assert all(f.get("rejected") for f in task.details["files"])
    assert list((ws.path / "uploads").iterdir()) == []
    assert elsewhere.read_bytes() == b"not a workbook either"


def test_a_short_command_task_writes_no_monitor_sample_a_long_one_does(
    tmp_path: Path, gated: dict[int, threading.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line's own task (``run_task``) writes its first 监控 sample only after
    ``MONITOR_FIRST`` seconds: a task that ends sooner leaves no monitor.json (and does not
    load psutil); a longer one shows up in the panel, as a served dispatcher does at once."""
    from cwdx.tasks import monitor_snapshot, process, run_task

    ws = Workspace(tmp_path / "ws")
    for task_id in (1, 2):
        gated[task_id] = threading.Event()
    gated[1].set()
    monkeypatch.setattr(process, "MONITOR_FIRST", 1.0)
    assert run_task(ws, "check", ["H001"], started_by="甲", workers=1).state == "Succeeded"
    assert monitor_snapshot(ws.path) == {}
    threading.Timer(2.0, gated[2].set).start()
    assert run_task(ws, "check", ["H001"], started_by="甲", workers=1).state == "Succeeded"
    snapshot = monitor_snapshot(ws.path)
    assert snapshot["dispatcher"]["pid"] == os.getpid() and snapshot["machine"]["cpu_count"] > 0
    served = Dispatcher(ws.path, workers=1)  # `cwdx dispatch`, the 平台版: a sample at once
    served.monitor.maybe_write()
    assert monitor_snapshot(ws.path)["epoch"] > snapshot["epoch"]
