"""The database side of the task contract: submit_task, task records, the v3 → v4 upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cwdx.errors import CwdxError
from cwdx.tasks import submit_task
from cwdx.workspace import Workspace

_V3_TASKS = """
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    orgs TEXT NOT NULL,
    started_by TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queued TEXT NOT NULL,
    start TEXT,
    end TEXT,
    state TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
)
"""


def _v3_workspace(path: Path) -> None:
    """A workspace as version 3 left it: tasks without ``params``, one finished task."""
    Workspace(path)
    con = sqlite3.connect(path / "cwdx.sqlite")
    con.execute("DROP INDEX IF EXISTS tasks_state")
    con.execute("DROP TABLE tasks")
    con.execute(_V3_TASKS)
    con.execute(
        "INSERT INTO tasks (kind, orgs, started_by, pid, queued, start, end, state, details)"
        " VALUES ('数据检测', '[\"H001\"]', '命令行', 1, '2026-01-01 08:00:00',"
        " '2026-01-01 08:00:00', '2026-01-01 08:00:05', 'Succeeded', '{\"done\": 1}')"
    )
    con.execute("PRAGMA user_version = 3")
    con.commit()
    con.close()


def test_v3_workspace_opens_and_is_upgraded(tmp_path: Path) -> None:
    _v3_workspace(tmp_path / "ws")
    ws = Workspace(tmp_path / "ws")
    con = sqlite3.connect(ws.db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 5
    columns = [row[1] for row in con.execute("PRAGMA table_info(tasks)")]
    con.close()
    assert columns[-1] == "params"
    [old] = ws.tasks()
    assert (old.kind, old.orgs, old.state, old.params, old.seconds) == (
        "数据检测",
        ["H001"],
        "Succeeded",
        {},
        5.0,
    )
    task_id = submit_task(ws, "check", ["H001"], started_by="平台管理员")
    assert [t.id for t in Workspace(tmp_path / "ws").tasks()] == [task_id, old.id]


def test_submit_task_queues_a_record(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    task_id = submit_task(
        ws, "export", ["H002", "H001", "H002"], started_by="张三", params={"what": "results"}
    )
    record = ws.task(task_id)
    assert (record.kind, record.orgs, record.started_by, record.state) == (
        "export",
        ["H002", "H001"],
        "张三",
        "Queued",
    )
    assert record.params == {"what": "results", "orgs": ["H002", "H001"]}
    assert (record.start, record.end, record.seconds, record.progress, record.error) == (
        None,
        None,
        None,
        {},
        None,
    )
    # a queued task waits for the dispatcher: reopening the workspace does not fail it
    assert Workspace(tmp_path / "ws").task(task_id).state == "Queued"
    assert submit_task(str(ws.path), "check", started_by="李四") == task_id + 1
    assert ws.task(task_id + 1).orgs == []


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("sort", {}, "未知的任务类型 'sort'，可用的类型：import、check、compute、export、report、"
         "delete、unfreeze、clear。"),
        ("export", {"what": "pdf"}, "导出任务的参数 what='pdf' 无效，只能是 feedback_cases、"
         "feedback_staff、feedback_brief、results、all、feedback 之一。"),
        ("import", {"files": ["a.xlsx"]}, "导入任务的文件路径必须是完整路径：a.xlsx"),
        ("import", {}, "导入任务没有要导入的文件：请上传文件，或选择导入 inbox 文件夹中的文件。"),
        ("import", {"files": ["/a.xlsx"], "single_institution": True}, "机构版的导入任务"
         "（single_institution）需要指定表：cases 或 staff。"),
        ("delete", {"what": "cases"}, "删除任务需要指定机构；清空整个工作区请用“清空数据”（clear）"
         "任务。"),
        ("unfreeze", {"stage": "upload"}, "解冻任务的参数 stage='upload' 无效，只能是 check、"
         "compute 之一。"),
    ],
)  # fmt: skip
def test_submit_task_refuses_wrong_parameters(
    tmp_path: Path, kind: str, params: dict, message: str
) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(CwdxError) as err:
        submit_task(ws, kind, started_by="张三", params=params)
    assert err.value.message == message
    assert ws.tasks() == []


def test_task_of_unknown_id_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(CwdxError) as err:
        ws.task(7)
    assert err.value.message == "没有编号为 7 的任务，请在后台任务日志中查看已有的任务。"


def test_claimed_task_of_a_dead_dispatcher_fails(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    task_id = submit_task(ws, "check", started_by="张三")
    assert ws.claim_task(task_id, pid=2**22 + 12345)  # a pid no process has
    assert not ws.claim_task(task_id)
    record = Workspace(tmp_path / "ws").task(task_id)
    assert (record.state, record.error) == ("Failed", "任务所在进程已意外终止，任务未完成。")
