"""Tasks: checks, computes and other long operations recorded with their state, so every
window (and the next process) sees what runs, what finished and what failed."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from cwdx.errors import CwdxError
from cwdx.log import get_logger
from cwdx.workspace.db import now_text
from cwdx.workspace.lock import WriteLock, pid_alive
from cwdx.workspace.records import TaskRecord

log = get_logger("workspace")

TASK_QUEUED = "Queued"
TASK_RUNNING = "Running"
TASK_SUCCEEDED = "Succeeded"
TASK_FAILED = "Failed"


def _insert_task(
    con: sqlite3.Connection,
    kind: str,
    orgs: Sequence[str],
    started_by: str,
    state: str,
    start: str | None,
) -> int:
    """Record a new task of this process (queued now; ``start`` when it starts at once)."""
    cur = con.execute(
        "INSERT INTO tasks (kind, orgs, started_by, pid, queued, start, state)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            kind,
            json.dumps(list(orgs), ensure_ascii=False),
            started_by,
            os.getpid(),
            start or now_text(),
            start,
            state,
        ),
    )
    return int(cur.lastrowid or 0)


class TaskHandle:
    """Given by :meth:`Workspace.task`; ``update(**details)`` stores progress or counts."""

    def __init__(self, workspace: Tasks, task_id: int) -> None:
        self.workspace = workspace
        self.id = task_id
        self.details: dict[str, Any] = {}

    def update(self, **details: Any) -> None:
        """Merge ``details`` into the task's details and store them now."""
        self.details.update(details)
        with self.workspace._connect() as con:
            con.execute(
                "UPDATE tasks SET details = ? WHERE id = ?",
                (json.dumps(self.details, ensure_ascii=False, default=str), self.id),
            )

    def progress(self, done: int, total: int, label: str) -> None:
        """An ``on_progress`` callback that stores progress in the task details."""
        self.update(done=done, total=total, label=label)


class Tasks(WriteLock):
    """Recorded tasks (mixed into :class:`~cwdx.workspace.Workspace`)."""

    def _fail_dead_tasks(self) -> None:
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, pid, details FROM tasks WHERE state IN (?, ?)",
                (TASK_RUNNING, TASK_QUEUED),
            ).fetchall()
            for row in rows:
                if pid_alive(int(row["pid"])):
                    continue
                details = json.loads(row["details"] or "{}")
                details["error"] = "任务所在进程已意外终止，任务未完成。"
                con.execute(
                    "UPDATE tasks SET state = ?, end = ?, details = ? WHERE id = ?",
                    (TASK_FAILED, now_text(), json.dumps(details, ensure_ascii=False), row["id"]),
                )
                log.warning("任务 %d 的进程 %d 已不存在，标记为失败", row["id"], row["pid"])

    def queue_task(self, kind: str, orgs: Sequence[str], started_by: str) -> int:
        """Record a task as Queued (for apps that start it later with :meth:`task`)."""
        with self._connect() as con:
            return _insert_task(con, kind, orgs, started_by, TASK_QUEUED, start=None)

    @contextlib.contextmanager
    def task(
        self,
        kind: str,
        orgs: Sequence[str] = (),
        started_by: str = "",
        task_id: int | None = None,
        exclusive: bool = True,
    ) -> Iterator[TaskHandle]:
        """Run a block as a recorded task: Running, then Succeeded or Failed with details.

        With ``exclusive`` (default) the block holds the workspace's write lock, so a conflicting
        write from another process is refused while the task runs (and the task itself is
        refused when another write runs). ``task_id`` starts a task made by :meth:`queue_task`.
        The error of a failed task is stored in its details (``error``): the Chinese message of a
        :class:`CwdxError`, else a generic sentence (the traceback goes to the log).
        """
        with contextlib.ExitStack() as stack:
            if exclusive:
                try:
                    stack.enter_context(self._write_lock(kind))
                except CwdxError as exc:
                    if task_id is not None:
                        self._finish_task(task_id, TASK_FAILED, {"error": exc.message})
                    raise
            now = now_text()
            with self._connect() as con:
                if task_id is None:
                    task_id = _insert_task(con, kind, orgs, started_by, TASK_RUNNING, start=now)
                else:
                    con.execute(
                        "UPDATE tasks SET state = ?, start = ?, pid = ? WHERE id = ?",
                        (TASK_RUNNING, now, os.getpid(), task_id),
                    )
            handle = TaskHandle(self, task_id)
            log.info("任务 %d（%s）开始：%d 个机构", task_id, kind, len(orgs))
            try:
                yield handle
            except BaseException as exc:
                if isinstance(exc, CwdxError):
                    handle.details["error"] = exc.message
                else:
                    handle.details["error"] = "发生内部错误，详情已写入日志文件。"
                    log.exception("任务 %d（%s）内部错误", task_id, kind)
                self._finish_task(task_id, TASK_FAILED, handle.details)
                raise
            self._finish_task(task_id, TASK_SUCCEEDED, handle.details)

    def _finish_task(self, task_id: int, state: str, details: dict[str, Any]) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE tasks SET state = ?, end = ?, details = ? WHERE id = ?",
                (state, now_text(), json.dumps(details, ensure_ascii=False, default=str), task_id),
            )
        log.info("任务 %d 结束：%s", task_id, state)

    def tasks(self, limit: int | None = None) -> list[TaskRecord]:
        """Recorded tasks, newest first."""
        query = "SELECT * FROM tasks ORDER BY id DESC"
        if limit:
            query += f" LIMIT {int(limit)}"
        with self._connect() as con:
            rows = con.execute(query).fetchall()
        return [
            TaskRecord(
                id=row["id"],
                kind=row["kind"],
                orgs=json.loads(row["orgs"]),
                started_by=row["started_by"],
                pid=row["pid"],
                queued=row["queued"],
                start=row["start"],
                end=row["end"],
                state=row["state"],
                details=json.loads(row["details"] or "{}"),
            )
            for row in rows
        ]
