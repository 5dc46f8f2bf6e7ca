"""Following a background task from a page: its progress as the task table records it, and
waiting for its end (shared by the 机构版 and the 平台版).

The pages never compute in their kernel: they queue a task (:func:`cwdx.tasks.submit_task`)
for the workspace's dispatcher (started by ``cwdx app``) and read its record
(``ws.task(task_id)``) until it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cwdx.errors import CwdxError, ErrorKind

if TYPE_CHECKING:
    from cwdx.workspace import Workspace
    from cwdx.workspace.records import TaskRecord

#: How often a page waiting for its task reads the task table (seconds).
WAIT_POLL_SECONDS = 0.3
#: How long a task may stay queued with no dispatcher serving the workspace (seconds).
NO_DISPATCHER_SECONDS = 5.0


def progress_of(task: TaskRecord) -> dict[str, Any]:
    """``{"done", "total", "label"}`` of a task (older records keep them at the top level)."""
    details = task.details or {}
    found = details.get("progress")
    if isinstance(found, dict):
        return found
    if "total" in details:
        return {k: details.get(k) for k in ("done", "total", "label")}
    return {}


def task_error(task: TaskRecord) -> CwdxError:
    """The failure of ``task`` as the :class:`CwdxError` it recorded (its Chinese text)."""
    details = task.details or {}
    text = str(details.get("error") or "后台任务失败，请查看日志后重试。")
    try:
        kind = ErrorKind(details.get("error_kind") or ErrorKind.BAD_INPUT.value)
    except ValueError:
        kind = ErrorKind.BAD_INPUT
    return CwdxError(text, kind)


def no_dispatcher_error() -> CwdxError:
    """Said when a page's task waits and no dispatcher serves the workspace."""
    return CwdxError(
        "后台任务调度进程没有运行，任务仍在排队：请关闭应用后用 cwdx app 重新启动"
        "（它会同时启动后台任务调度进程），再重试。",
        ErrorKind.REFUSED,
    )


def wait_for_task(
    ws: Workspace,
    task_id: int,
    on_progress: Callable[[int, int, str], None] | None = None,
    *,
    poll: float = WAIT_POLL_SECONDS,
) -> TaskRecord:
    """Read task ``task_id`` until it ends, passing its progress to ``on_progress``; returns
    the record of a task that succeeded and raises its :func:`task_error` when it failed.

    A task still queued after :data:`NO_DISPATCHER_SECONDS` while no dispatcher serves the
    workspace raises :func:`no_dispatcher_error` (it stays queued for the next dispatcher).
    """
    from cwdx.tasks import dispatcher_alive

    queued_since = time.monotonic()
    shown: tuple[int, int, str] | None = None
    while True:
        task = ws.task(task_id)
        p = progress_of(task)
        if on_progress is not None and p.get("total") and task.state != "Failed":
            now = (int(p.get("done") or 0), int(p["total"]), str(p.get("label") or ""))
            if now != shown:  # the last one too: a quick task may end between two reads
                on_progress(*now)
                shown = now
        if task.finished:
            if task.state != "Succeeded":
                raise task_error(task)
            return task
        if task.state != "Queued":
            queued_since = time.monotonic()
        elif time.monotonic() - queued_since > NO_DISPATCHER_SECONDS:
            if not dispatcher_alive(ws.path):
                raise no_dispatcher_error()
            queued_since = time.monotonic()
        time.sleep(poll)
