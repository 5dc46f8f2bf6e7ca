"""The dispatcher: takes Queued tasks from the workspace's task table and runs them.

One dispatcher per workspace (an ``flock`` on ``WS/.dispatcher.lock`` held for its life). Tasks
run in threads of the dispatcher process, oldest first; a task starts when no running or
older waiting task touches one of its institutions (a task without institutions, an import or
a clear waits for every other task, and every later task waits for it). Their pieces of work
go to Dask workers through :class:`~cwdx.tasks.cluster.Cluster`; only this process writes the
workspace database (the workers read the stored files and write files under temporary names).

While any task runs, the dispatcher holds the workspace's write lock for its whole process
(:meth:`~cwdx.workspace.Workspace.sharing`): writes from other processes are refused in
Chinese, and they should be submitted as tasks instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwdx.errors import CwdxError, ErrorKind
from cwdx.log import get_logger
from cwdx.tasks.cluster import Cluster, scheduler_setting
from cwdx.tasks.kinds import DOWNLOADS, RUNNERS, TaskContext
from cwdx.tasks.monitor import Monitor
from cwdx.tasks.queue import KIND_LABELS, conflicts, scope_of
from cwdx.workspace import (
    TASK_FAILED,
    TASK_QUEUED,
    TASK_SUCCEEDED,
    TaskRecord,
    Workspace,
)
from cwdx.workspace.lock import try_lock_file, unlock_file

log = get_logger("tasks")

DISPATCHER_LOCK = ".dispatcher.lock"
#: At most this many tasks run at once (each fans its pieces out to the same workers).
MAX_RUNNING = 4
#: Progress is written to the database at most this often (seconds), and at the end.
PROGRESS_EVERY = 0.5

ProgressCallback = Callable[[int, int, str], None]


def error_text(exc: BaseException) -> str:
    """The Chinese error text a failed task records."""
    if isinstance(exc, CwdxError):
        return exc.message
    if type(exc).__module__.split(".")[0] in ("distributed", "tornado") or isinstance(
        exc, (ConnectionError, TimeoutError)
    ):
        return (
            "与计算集群的连接中断，任务未完成；未完成的机构保持任务开始前的状态。"
            "请确认调度器和工作进程仍在运行后重新提交任务。"
        )
    return "发生内部错误，任务未完成，详情已写入日志文件；请把日志文件发给技术支持。"


def try_dispatcher_lock(workspace: Path) -> int | None:
    """The fd of the workspace's dispatcher lock when this process could take it, else
    ``None`` (a dispatcher serves that workspace)."""
    fd = os.open(workspace / DISPATCHER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    if try_lock_file(fd):
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}".encode())
        return fd
    os.close(fd)
    return None


def release_dispatcher_lock(fd: int) -> None:
    """Give the dispatcher lock back."""
    os.ftruncate(fd, 0)
    unlock_file(fd)
    os.close(fd)


#: How often :meth:`Dispatcher.serve` looks for new Queued tasks while tasks run (a running
#: task's end wakes it at once).
RUNNING_POLL = 0.5


@dataclass
class _Running:
    record: TaskRecord
    scope: frozenset[str] | None
    thread: threading.Thread


class Dispatcher:
    """Runs the Queued tasks of one workspace (see the module docstring).

    ``workers``/``scheduler``: see :class:`~cwdx.tasks.cluster.Cluster` (the workspace's
    ``scheduler.txt`` is used when ``scheduler`` is not given). ``on_progress`` receives
    ``(task_id, done, total, label)`` of every task this dispatcher runs. While another process
    writes the workspace, tasks wait; task ``refuse_busy`` (the command line's own task, run
    by its own loop) fails at once instead, with the refusal a direct write would get.
    """

    def __init__(
        self,
        workspace: str | os.PathLike[str],
        *,
        workers: int | None = None,
        scheduler: str | None = None,
        on_progress: Callable[[int, int, int, str], None] | None = None,
        monitor_every: float = 3.0,
        monitor_first: float = 0.0,
        refuse_busy: int | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.ws = Workspace(Path(workspace), create=False)
        self.cluster = cluster or Cluster(workers, scheduler or scheduler_setting(self.ws.path))
        self.monitor = Monitor(
            self.ws.path, self.cluster, every=monitor_every, first_after=monitor_first
        )
        self.on_progress = on_progress
        self.refuse_busy = refuse_busy
        self._refusal: CwdxError | None = None
        self.running: dict[int, _Running] = {}
        self._lock = contextlib.ExitStack()
        self._lock_held = False
        self._stop = threading.Event()
        #: set by :meth:`stop` and whenever a task's thread ends: wakes :meth:`serve` at once
        self._wake = threading.Event()

    # -- the loop ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`serve` to return (after the running tasks end)."""
        self._stop.set()
        self._wake.set()

    def serve(self, poll: float = 0.5, until: Callable[[], bool] | None = None) -> None:
        """Run tasks until :meth:`stop` (or ``until()`` is true), then wait for the running
        ones and stop the cluster."""
        log.info("任务调度开始：工作区 %s，进程 %d", self.ws.path, os.getpid())
        try:
            while True:
                self._wake.clear()  # first: a task that ends from now on wakes the wait below
                if self._stop.is_set() or (until and until()):
                    break
                self.step()
                self.monitor.maybe_write()
                # while tasks run, their end wakes the loop: polling faster would only take CPU
                # (and the GIL) from them; new Queued tasks still start within RUNNING_POLL
                self._wake.wait(max(poll, RUNNING_POLL) if self.running else poll)
            while self.running:  # the running tasks end (their threads, not a poll)
                for running in list(self.running.values()):
                    running.thread.join()
                self._reap()
        finally:
            self._reap()
            self._release_lock()
            self.monitor.close()
            self.cluster.close()
            log.info("任务调度结束：工作区 %s", self.ws.path)

    def step(self) -> list[int]:
        """Reap finished tasks and start the runnable Queued ones; returns the ids started."""
        self._reap()
        started: list[int] = []
        waiting: list[frozenset[str] | None] = []
        held = [r.scope for r in self.running.values()]
        for record in reversed(self.ws.tasks(states=[TASK_QUEUED])):
            scope = scope_of(record.kind, record.orgs)
            blocked = any(conflicts(scope, other) for other in held + waiting)
            if blocked or len(self.running) >= MAX_RUNNING:
                waiting.append(scope)
                continue
            if not self._take_lock():
                if record.id != self.refuse_busy or self._refusal is None:
                    break  # another process writes: try again at the next step
                if self.ws.claim_task(record.id):
                    refusal = {"error": self._refusal.message, "error_kind": "busy"}
                    self.ws.finish_task(record.id, TASK_FAILED, refusal)
                continue
            if not self.ws.claim_task(record.id):
                continue
            self._start(self.ws.task(record.id), scope)
            held.append(scope)
            started.append(record.id)
        if not self.running:
            self._release_lock()
        return started

    def _take_lock(self) -> bool:
        if self._lock_held:
            return True
        try:
            self._lock.enter_context(self.ws.sharing("后台任务"))
        except CwdxError as exc:
            log.info("工作区正被其他进程写入，任务未开始：%s", exc.message)
            self._refusal = exc
            return False
        self._lock_held = True
        return True

    def _release_lock(self) -> None:
        if self._lock_held:
            self._lock.close()
            self._lock = contextlib.ExitStack()
            self._lock_held = False

    def _reap(self) -> None:
        for task_id, running in list(self.running.items()):
            if not running.thread.is_alive():
                running.thread.join()
                del self.running[task_id]

    def _start(self, record: TaskRecord, scope: frozenset[str] | None) -> None:
        def run() -> None:
            try:
                self.run_task(record)
            finally:
                self._wake.set()

        thread = threading.Thread(target=run, name=f"cwdx-task-{record.id}", daemon=True)
        self.running[record.id] = _Running(record, scope, thread)
        thread.start()

    # -- one task --------------------------------------------------------------------------

    def _progress(self, record: TaskRecord, details: dict[str, Any]) -> ProgressCallback:
        last = [0.0]

        def progress(done: int, total: int, label: str) -> None:
            details["progress"] = {"done": done, "total": total, "label": label}
            now = time.monotonic()
            if done >= total or now - last[0] >= PROGRESS_EVERY:
                last[0] = now
                self.ws.set_task_details(record.id, details)
            if self.on_progress:
                self.on_progress(record.id, done, total, label)

        return progress

    def run_task(self, record: TaskRecord) -> TaskRecord:
        """Run one claimed (Running) task to its end and record it: Succeeded, or Failed with
        its Chinese error text (what finished before the failure stays recorded)."""
        details: dict[str, Any] = {}
        label = KIND_LABELS.get(record.kind, record.kind)
        log.info("任务 %d（%s）开始：%d 个机构", record.id, label, len(record.orgs))
        started = time.perf_counter()
        context = TaskContext(
            ws=self.ws,
            record=record,
            details=details,
            mapper=self.cluster.mapper,
            progress=self._progress(record, details),
        )
        try:
            runner = RUNNERS.get(record.kind)
            if runner is None:
                raise CwdxError(f"未知的任务类型 {record.kind}。", ErrorKind.BAD_INPUT)
            runner(context)
            state = TASK_SUCCEEDED
        except BaseException as exc:  # recorded: the thread has nobody to raise it to
            details["error"] = error_text(exc)
            if isinstance(exc, CwdxError):
                details["error_kind"] = exc.kind.value
            else:
                log.error("任务 %d（%s）出错", record.id, label, exc_info=exc)
            if record.kind in ("export", "report"):  # half-written downloads are not offered
                import shutil

                shutil.rmtree(self.ws.path / DOWNLOADS / str(record.id), ignore_errors=True)
            state = TASK_FAILED
        details["seconds"] = round(time.perf_counter() - started, 3)
        self.ws.finish_task(record.id, state, details)
        log.info("任务 %d（%s）%s，用时 %.1f 秒", record.id, label, state, details["seconds"])
        return self.ws.task(record.id)


__all__ = ["DISPATCHER_LOCK", "Dispatcher", "error_text", "try_dispatcher_lock"]
