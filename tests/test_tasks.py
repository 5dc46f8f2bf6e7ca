"""Tasks end to end on a LocalCluster of 2 separate worker processes: import, check, compute,
export, unfreeze, delete and clear through the dispatcher, with results equal (exact counts,
every results table) to the same stages run in the test process."""

from __future__ import annotations

import os
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from cwdx.check import check_workspace
from cwdx.demo import write_demo
from cwdx.metrics import compute_workspace
from cwdx.tasks import monitor_snapshot, submit_task
from cwdx.tasks.dispatcher import Dispatcher
from cwdx.workspace import TaskRecord, Workspace

PROVENANCE = "口径信息"  # holds the computation time: compared without it

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "demo"
    write_demo(folder, institutions=3, cases=150, seed=7)
    return folder


def _files(demo: Path) -> tuple[list[Path], list[Path]]:
    return sorted(demo.glob("*/病案首页数据-*.xlsx")), sorted(demo.glob("*/申报人员信息.xlsx"))


def _state(ws: Workspace, stage: bool = True) -> dict[str, tuple]:
    return {
        i.org: (
            i.stage if stage else i.passed,
            i.cases,
            i.staff,
            i.errors,
            i.warnings,
            dict(i.counts or {}),
        )
        for i in ws.institutions()
    }


def _results(ws: Workspace) -> dict[str, dict[str, pd.DataFrame]]:
    out = {}
    for info in ws.institutions():
        if info.stage == "已计算":
            tables = ws.load_results(info.org)
            tables.pop(PROVENANCE, None)
            out[info.org] = tables
    return out


@pytest.fixture(scope="module")
def in_process(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The reference: the same stages run one by one in this process."""
    ws = Workspace(tmp_path_factory.mktemp("serial") / "ws")
    cases, staff = _files(demo)
    ws.import_files("cases", cases)
    ws.import_files("staff", staff)
    check_workspace(ws)
    compute_workspace(ws)
    return ws


@pytest.fixture(scope="module")
def dispatcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dispatcher]:
    path = tmp_path_factory.mktemp("dask") / "ws"
    Workspace(path)
    dispatcher = Dispatcher(path, workers=2, monitor_every=0.5)
    thread = threading.Thread(target=dispatcher.serve, kwargs={"poll": 0.1})
    thread.start()
    yield dispatcher
    dispatcher.stop()
    thread.join(60)


def _wait(ws: Workspace, task_id: int, timeout: float = 300) -> TaskRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = ws.task(task_id)
        if record.finished:
            return record
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


def test_tasks_on_a_local_cluster_equal_the_in_process_stages(
    demo: Path, in_process: Workspace, dispatcher: Dispatcher
) -> None:
    ws = dispatcher.ws
    cases, staff = _files(demo)
    files = [str(p) for p in cases + staff]
    imported = _wait(ws, submit_task(ws, "import", started_by="张三", params={"files": files}))
    assert imported.state == "Succeeded", imported.error
    assert [(f["file"], f["table"], f["rejected"]) for f in imported.details["files"]] == [
        (Path(f).name, "cases" if "病案" in f else "staff", None) for f in files
    ]
    assert imported.details["rows"] == sum(i.cases + i.staff for i in in_process.institutions())

    checked = _wait(ws, submit_task(ws, "check", started_by="张三"))
    assert checked.state == "Succeeded", checked.error
    assert checked.progress["done"] == checked.progress["total"] == 3
    assert _state(ws, stage=False) == _state(in_process, stage=False)
    assert checked.details["orgs"] == {
        i.org: {"passed": i.passed, "errors": i.errors, "warnings": i.warnings, "failed_rules": []}
        for i in in_process.institutions()
    }
    pids = dispatcher.cluster.client().run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values()  # separate worker processes

    computed = _wait(ws, submit_task(ws, "compute", started_by="张三"))
    assert computed.state == "Succeeded", computed.error
    assert _state(ws) == _state(in_process)
    ours, theirs = _results(ws), _results(in_process)
    assert sorted(ours) == sorted(theirs) and len(ours) == 1
    for org, tables in theirs.items():
        assert sorted(ours[org]) == sorted(tables)
        for name, frame in tables.items():
            pd.testing.assert_frame_equal(ours[org][name], frame)
    [org] = ours
    summary = theirs[org]["指标汇总"]
    matched = int((summary["匹配状态"] == "已匹配").sum())
    assert computed.details["orgs"] == {
        org: {"staff": len(summary), "matched": matched, "unmatched": len(summary) - matched}
    }


def test_export_tasks_write_downloads(dispatcher: Dispatcher) -> None:
    ws = dispatcher.ws
    orgs = [i.org for i in ws.institutions()]
    done = _wait(ws, submit_task(ws, "export", started_by="李四", params={"what": "all"}))
    assert done.state == "Succeeded", done.error
    [computed] = [i.org for i in ws.institutions() if i.stage == "已计算"]
    assert done.details["outputs"] == sorted(
        [
            "summary.json",
            "所有机构病案首页反馈表.zip",
            "所有机构申报人员信息反馈表.zip",
            f"{computed}-计算结果表.xlsx",
            "精简版反馈信息表.xlsx",
        ]
    )
    folder = ws.path / "downloads" / str(done.id)
    with zipfile.ZipFile(folder / "所有机构病案首页反馈表.zip") as archive:
        assert sorted(archive.namelist()) == [f"{org}/病案首页反馈表.xlsx" for org in sorted(orgs)]
    every = _wait(
        ws, submit_task(ws, "export", orgs, started_by="李四", params={"what": "results"})
    )
    assert every.details["outputs"] == [f"{computed}-计算结果表.xlsx"]
    one = _wait(
        ws,
        submit_task(ws, "export", [orgs[0]], started_by="李四", params={"what": "feedback_staff"}),
    )
    assert one.details["outputs"] == [f"{orgs[0]}-申报人员反馈表.xlsx"]
    assert not (ws.path / "downloads" / str(one.id) / ".work").exists()
    refused = _wait(ws, submit_task(ws, "export", ["X999"], started_by="李四"))
    assert (refused.state, refused.error) == (
        "Failed",
        "工作区中没有机构 X999，请用 status 命令（或机构列表）查看已导入的机构代码。",
    )
    assert not (ws.path / "downloads" / str(refused.id)).exists()

    snapshot = monitor_snapshot(ws.path)
    assert snapshot["alive"] and len(snapshot["workers"]) == 2
    assert snapshot["dashboard"].startswith("http://127.0.0.1:")
    assert snapshot["machine"]["memory_total"] > 0 and snapshot["history"]


def test_unfreeze_delete_and_clear_tasks(dispatcher: Dispatcher) -> None:
    ws = dispatcher.ws
    first, second, third = [i.org for i in ws.institutions()]
    undone = _wait(ws, submit_task(ws, "unfreeze", [first], started_by="王五"))
    assert undone.details["orgs"] == {first: {"old": "已检测-未通过", "new": "已上传"}}
    frozen = _wait(
        ws, submit_task(ws, "delete", [second], started_by="王五", params={"what": "cases"})
    )
    assert frozen.state == "Failed" and "冻结" in frozen.error
    deleted = _wait(
        ws, submit_task(ws, "delete", [first], started_by="王五", params={"what": "all"})
    )
    assert deleted.state == "Succeeded" and deleted.details["removed"] == [first]
    assert [i.org for i in ws.institutions()] == [second, third]
    cleared = _wait(ws, submit_task(ws, "clear", started_by="王五", params={"what": "all"}))
    assert cleared.state == "Succeeded" and ws.institutions() == []
    assert [(t.kind, t.started_by) for t in ws.tasks(limit=3)] == [
        ("clear", "王五"),
        ("delete", "王五"),
        ("delete", "王五"),
    ]


def test_command_line_submits_to_a_live_dispatcher_and_waits(
    demo: Path, in_process: Workspace, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from cwdx.tasks import run_task, start_dispatcher

    ws = Workspace(tmp_path / "ws")
    cases, staff = _files(demo)
    ws.import_files("cases", cases)
    ws.import_files("staff", staff)
    dispatcher = start_dispatcher(ws.path, workers=1)
    try:
        seen: list[tuple[int, int]] = []
        record = run_task(
            ws, "check", started_by="命令行", on_progress=lambda d, t, _: seen.append((d, t))
        )
        assert record.pid == dispatcher.pid != os.getpid()  # run by the dispatcher process
        assert seen and {total for _, total in seen} == {3}
        assert _state(ws, stage=False) == _state(in_process, stage=False)
        again = start_dispatcher(ws.path)
        assert again.popen is None and again.alive()
        second = subprocess.run(
            [sys.executable, "-m", "cwdx.cli", "-w", str(ws.path), "dispatch"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (second.returncode, second.stderr) == (
            2,
            f"工作区 {ws.path} 已有后台任务调度进程在运行，无需再启动；提交的任务会由它执行。\n",
        )
    finally:
        dispatcher.stop()
    assert not dispatcher.alive()
