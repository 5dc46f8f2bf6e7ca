"""Tasks: checks, computes and other long operations recorded with their state, so every
window (and the next process) sees what runs, what finished and what failed.

A task runs either in the process that records it (:meth:`Tasks.task` as a ``with`` block) or
is queued for the dispatcher (:meth:`Tasks.enqueue_task`, ``pid`` 0 until the dispatcher claims
it with :meth:`Tasks.claim_task`; see :mod:`cwdx.tasks`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, overload

from cwdx.errors import CwdxError, ErrorKind
from cwdx.log import get_logger
from cwdx.workspace.db import now_text
from cwdx.workspace.lock import WriteLock, pid_alive
from cwdx.workspace.records import TaskRecord

log = get_logger("workspace")

TASK_QUEUED = "Queued"
TASK_RUNNING = "Running"
TASK_SUCCEEDED = "Succeeded"
TASK_FAILED = "Failed"


#: ``pid`` of a task queued for the dispatcher and not claimed yet (no process runs it).
UNCLAIMED_PID = 0


def _insert_task(
    con: sqlite3.Connection,
    kind: str,
    orgs: Sequence[str],
    started_by: str,
    state: str,
    start: str | None,
    params: dict[str, Any] | None = None,
    pid: int | None = None,
) -> int:
    """Record a new task of this process (queued now; ``start`` when it starts at once)."""
    cur = con.execute(
        "INSERT INTO tasks (kind, orgs, started_by, pid, queued, start, state, params)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            kind,
            json.dumps(list(orgs), ensure_ascii=False),
            started_by,
            os.getpid() if pid is None else pid,
            start or now_text(),
            start,
            state,
            json.dumps(params or {}, ensure_ascii=False, default=str),
        ),
    )
    return int(cur.lastrowid or 0)


def _record(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(
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
        params=json.loads(row["params"] or "{}"),
    )


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
        """An ``on_progress`` callback that stores progress in the task details
        (``details["progress"] = {"done", "total", "label"}``)."""
        self.update(progress={"done": done, "total": total, "label": label})


class Tasks(WriteLock):
    """Recorded tasks (mixed into :class:`~cwdx.workspace.Workspace`)."""

    def _fail_dead_tasks(self) -> None:
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, pid, details FROM tasks WHERE state IN (?, ?)",
                (TASK_RUNNING, TASK_QUEUED),
            ).fetchall()
            for row in rows:
                if pid_alive(int(row["pid"])) or int(row["pid"]) == UNCLAIMED_PID:
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

    def enqueue_task(
        self,
        kind: str,
        orgs: Sequence[str],
        started_by: str,
        params: dict[str, Any] | None = None,
    ) -> int:
        """Record a task as Queued for the dispatcher (no process owns it until
        :meth:`claim_task`); returns its id. Use :func:`cwdx.tasks.submit_task`, which checks
        the kind and parameters first."""
        if self.read_only:
            raise self._read_only_error("提交任务")
        with self._connect() as con:
            return _insert_task(
                con, kind, orgs, started_by, TASK_QUEUED, None, params, pid=UNCLAIMED_PID
            )

    def claim_task(self, task_id: int, pid: int | None = None) -> bool:
        """Mark a Queued task Running under ``pid`` (default: this process); ``False`` when it
        is no longer Queued (another dispatcher took it, or it was failed)."""
        with self._connect() as con:
            cur = con.execute(
                "UPDATE tasks SET state = ?, start = ?, pid = ? WHERE id = ? AND state = ?",
                (
                    TASK_RUNNING,
                    now_text(),
                    os.getpid() if pid is None else pid,
                    task_id,
                    TASK_QUEUED,
                ),
            )
            return cur.rowcount == 1

    def set_task_details(self, task_id: int, details: dict[str, Any]) -> None:
        """Replace the details of a task (progress, counts, outputs)."""
        with self._connect() as con:
            con.execute(
                "UPDATE tasks SET details = ? WHERE id = ?",
                (json.dumps(details, ensure_ascii=False, default=str), task_id),
            )

    def finish_task(self, task_id: int, state: str, details: dict[str, Any]) -> None:
        """End a task as Succeeded or Failed with its final details."""
        self._finish_task(task_id, state, details)

    @overload
    def task(self, kind: int) -> TaskRecord: ...

    @overload
    def task(
        self,
        kind: str,
        orgs: Sequence[str] = (),
        started_by: str = "",
        task_id: int | None = None,
        exclusive: bool = True,
    ) -> contextlib.AbstractContextManager[TaskHandle]: ...

    def task(
        self,
        kind: str | int,
        orgs: Sequence[str] = (),
        started_by: str = "",
        task_id: int | None = None,
        exclusive: bool = True,
    ) -> TaskRecord | contextlib.AbstractContextManager[TaskHandle]:
        """``ws.task(task_id)``: the :class:`TaskRecord` of that task (:class:`CwdxError` when
        there is none). ``with ws.task(kind, orgs, started_by) as handle:`` runs a block as a
        recorded task (see :meth:`running_task`)."""
        if isinstance(kind, int):
            return self.task_record(kind)
        return self.running_task(kind, orgs, started_by, task_id, exclusive)

    def task_record(self, task_id: int) -> TaskRecord:
        """The record of one task; :class:`CwdxError` when there is none."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM tasks WHERE id = ?", (int(task_id),)).fetchone()
        if row is None:
            raise CwdxError(
                f"没有编号为 {task_id} 的任务，请在后台任务日志中查看已有的任务。",
                ErrorKind.NOT_FOUND,
            )
        return _record(row)

    @contextlib.contextmanager
    def running_task(
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

    def tasks(
        self, limit: int | None = None, states: Sequence[str] | None = None
    ) -> list[TaskRecord]:
        """Recorded tasks, newest first (only those in ``states`` when given)."""
        query = "SELECT * FROM tasks"
        args: list[Any] = []
        if states:
            query += f" WHERE state IN ({', '.join('?' * len(states))})"
            args.extend(states)
        query += " ORDER BY id DESC"
        if limit:
            query += f" LIMIT {int(limit)}"
        with self._connect() as con:
            rows = con.execute(query, args).fetchall()
        return [_record(row) for row in rows]
