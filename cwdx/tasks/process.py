"""The dispatcher as a process: ``cwdx -w WS dispatch`` (:func:`serve_dispatcher`), started
for the apps by :func:`start_dispatcher`; and :func:`run_task`, the command line's way to run a
task to its end (in its own process, or through the live dispatcher of the workspace).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cwdx.errors import CwdxError, ErrorKind
from cwdx.log import get_logger
from cwdx.tasks.dispatcher import DISPATCHER_LOCK, release_dispatcher_lock, try_dispatcher_lock
from cwdx.tasks.queue import submit_task
from cwdx.workspace import TASK_FAILED, TASK_QUEUED, TaskRecord, Workspace
from cwdx.workspace.lock import try_lock_file, unlock_file

log = get_logger("tasks")

#: How long :func:`start_dispatcher` waits for the new process to take the workspace.
START_TIMEOUT = 60.0
#: Seconds into a command's own task (``run_task``) before its first 监控 sample is written.
MONITOR_FIRST = 3.0


def dispatcher_alive(workspace_path: str | os.PathLike[str]) -> bool:
    """Whether a dispatcher (of any process, this one included) serves the workspace."""
    lock = Path(workspace_path).expanduser().resolve() / DISPATCHER_LOCK
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        if try_lock_file(fd):
            unlock_file(fd)
            return False
        return True
    finally:
        os.close(fd)


def _dispatch_command(path: Path, workers: int | None, scheduler: str | None) -> list[str]:
    command = [sys.executable, "-m", "cwdx.cli", "--quiet", "-w", str(path), "dispatch"]
    if workers:
        command += ["--workers", str(workers)]
    if scheduler:
        command += ["--scheduler", scheduler]
    return command


class DispatcherProcess:
    """A dispatcher serving a workspace: one this call started (``popen``), or one found
    running (then :meth:`stop` leaves it alone)."""

    def __init__(self, workspace: Path, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.workspace = workspace
        self.popen = popen

    @property
    def pid(self) -> int | None:
        """The process id of a dispatcher this object started."""
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        """Whether the dispatcher still serves the workspace."""
        if self.popen is not None and self.popen.poll() is not None:
            return False
        return dispatcher_alive(self.workspace)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop a dispatcher this object started: it finishes its running tasks first (killed
        after ``timeout`` seconds; its unfinished tasks are then marked Failed)."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def start_dispatcher(
    workspace_path: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
) -> DispatcherProcess:
    """Start ``cwdx -w WS dispatch`` as a separate process unless a dispatcher already serves
    the workspace; return once it serves it. :class:`CwdxError` when it could not start."""
    path = Workspace(Path(workspace_path), create=False).path
    if dispatcher_alive(path):
        return DispatcherProcess(path)
    popen = subprocess.Popen(
        _dispatch_command(path, workers, scheduler),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl+C in the app's terminal does not kill running tasks
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if dispatcher_alive(path):
            log.info("任务调度进程已启动：进程 %d", popen.pid)
            return DispatcherProcess(path, popen)
        if popen.poll() is not None:
            break
        time.sleep(0.1)
    if popen.poll() is None:
        popen.kill()
    raise CwdxError(
        f"后台任务调度进程未能启动，详细信息见日志 {path / 'logs' / 'cwdx.log'}；"
        "请检查工作区文件夹的权限后重试。",
        ErrorKind.IO,
    )


def serve_dispatcher(
    workspace_path: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the workspace's task queue until SIGTERM or Ctrl+C (``cwdx dispatch``);
    refused when another dispatcher serves it."""
    from cwdx.tasks.dispatcher import Dispatcher

    path = Workspace(Path(workspace_path), create=False).path
    fd = try_dispatcher_lock(path)
    if fd is None:
        raise CwdxError(
            f"工作区 {path} 已有后台任务调度进程在运行，无需再启动；提交的任务会由它执行。",
            ErrorKind.BUSY,
        )
    try:
        dispatcher = Dispatcher(path, workers=workers, scheduler=scheduler)
        signal.signal(signal.SIGTERM, lambda *_: dispatcher.stop())
        say(f"后台任务调度已启动（工作区 {path}），按 Ctrl+C 停止。")
        try:
            dispatcher.serve()
        except KeyboardInterrupt:
            dispatcher.stop()
        say("后台任务调度已停止。")
    finally:
        release_dispatcher_lock(fd)


def _serve_until_done(
    path: Path,
    task_id: int,
    workers: int | None,
    scheduler: str | None,
    on_progress: Callable[[int, int, str], None] | None,
) -> None:
    from cwdx.tasks.cluster import Cluster, scheduler_setting
    from cwdx.tasks.dispatcher import Dispatcher
    from cwdx.tasks.kinds import task_rows

    cluster = Cluster(workers, scheduler or scheduler_setting(path))
    ws = Workspace(path, create=False)
    rows = task_rows(ws, ws.task(task_id))
    if cluster.helpers_wanted(rows):
        # this process has no other thread and no open database connection yet: its helpers
        # are forked now, with what the pieces need already imported and loaded
        import cwdx.tasks.helper_warmup  # noqa: F401

        cluster.prepare(rows)

    def progress(tid: int, done: int, total: int, label: str) -> None:
        if on_progress and tid == task_id:
            on_progress(done, total, label)

    # a command's own task: the 监控 panel hears of it only if it lasts (a check of a few seconds
    # does not pay for loading psutil and sampling the machine)
    dispatcher = Dispatcher(
        path,
        workers=workers,
        scheduler=scheduler,
        on_progress=progress,
        refuse_busy=task_id,
        monitor_first=MONITOR_FIRST,
        cluster=cluster,
    )
    check = dispatcher.ws
    dispatcher.serve(poll=0.05, until=lambda: check.task(task_id).finished)


def run_task(
    ws: Workspace | str | os.PathLike[str],
    kind: str,
    orgs: Iterable[str] | None = None,
    *,
    started_by: str,
    params: dict[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> TaskRecord:
    """Submit a task and drive it to its end; return its record (Succeeded).

    When a dispatcher serves the workspace, the task is submitted to it and this call waits,
    reporting its progress; otherwise this process serves the queue itself (with ``workers``
    and ``scheduler``, see :class:`~cwdx.tasks.cluster.Cluster`) until the task ends. A failed
    task raises :class:`CwdxError` with the task's Chinese error text.
    """
    workspace = ws if isinstance(ws, Workspace) else Workspace(Path(ws), create=False)
    task_id = submit_task(workspace, kind, orgs, started_by=started_by, params=params)
    shown: tuple[Any, ...] = ()
    while True:
        record = workspace.task(task_id)
        if record.finished:
            break
        progress = record.progress
        if on_progress and progress and tuple(progress.values()) != shown:
            shown = tuple(progress.values())
            on_progress(int(progress["done"]), int(progress["total"]), str(progress["label"]))
        if record.state == TASK_QUEUED:
            fd = try_dispatcher_lock(workspace.path)
            if fd is not None:
                try:
                    _serve_until_done(workspace.path, task_id, workers, scheduler, on_progress)
                finally:
                    release_dispatcher_lock(fd)
                continue
        time.sleep(0.2)
    if record.state == TASK_FAILED:
        kind_value = record.details.get("error_kind")
        error_kind = ErrorKind(kind_value) if kind_value else ErrorKind.IO
        raise CwdxError(record.error or "任务未完成。", error_kind)
    return record


__all__ = [
    "DispatcherProcess",
    "dispatcher_alive",
    "run_task",
    "serve_dispatcher",
    "start_dispatcher",
]
