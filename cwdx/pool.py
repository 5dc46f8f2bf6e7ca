"""Helper processes for work too small to start a Dask cluster for.

A stage's pieces (:mod:`cwdx.fanout`) run in the calling process and in a few warm helper
processes side by side (:class:`HelperPool`): helpers take pieces from the front, the caller
runs pieces from the back while it waits for the next result, and the results still come out
in input order. The caller never waits for a helper to start: until the helpers are ready it
simply runs the pieces itself, as :func:`~cwdx.fanout.serial_map` does.

Where the caller is still clean (no other thread, no open database connection: the start of
a command, once it has imported what the pieces need) the helpers are forked from it
(:meth:`HelperPool.fork_here`) and are ready at once. Elsewhere they come from one
``multiprocessing`` fork server that has imported everything a piece needs and loaded the
reference lists (:mod:`cwdx.tasks.helper_warmup`). Never from a caller with an open SQLite
database: the copy inherits SQLite's per-process lock bookkeeping and reads the database as
damaged (measured), and the caller's threads and locks would come along too.

Like Dask workers, helpers only read the workspace and write files under temporary names; the
caller records their results. A helper that dies under a piece fails the stage with one Chinese
sentence (:data:`HELPER_DIED`), and the next stage starts new helpers. When the caller dies,
its helpers end at once (each watches it), and then the fork server.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from cwdx.errors import CwdxError, ErrorKind
from cwdx.fanout import Mapper, serial_map
from cwdx.log import get_logger

log = get_logger("pool")

#: Pools of this process not yet closed: the fork server stops with the last one.
_open_pools = 0
_pools_mutex = threading.Lock()

Piece = TypeVar("Piece")
Result = TypeVar("Result")

#: Work of fewer case rows than this runs in the calling process alone: a few pieces of a
#: second each are not worth a helper's start and its cold caches
#: (docs/SCALING.md, “Helper processes below the break-even”).
POOL_MIN_ROWS = 20_000
#: The module the fork server imports before it forks any helper.
WARMUP_MODULE = "cwdx.tasks.helper_warmup"
#: Pieces handed to each helper at once (the next one follows as soon as one ends).
QUEUED_PER_HELPER = 1

HELPER_DIED = (
    "辅助计算进程意外退出（可能是内存不足或被强行结束），本步骤未完成；"
    "未完成的机构保持开始前的状态，请检查内存后重新运行。"
)


def main_module_safe() -> bool:
    """Whether helper processes may start: they import the main script again, which is only
    harmless when it guards its work with ``if __name__ == "__main__"`` (the ``cwdx`` command,
    ``python -m cwdx.cli``, Jupyter kernels and pytest do; a plain analyst script may not)."""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if name == "__main__" or name.endswith(".__main__"):
        return True  # a package's __main__ (python -m cwdx.cli): multiprocessing skips it
    path = getattr(main, "__file__", None)
    if not path:
        return True  # interactive
    try:
        return "__main__" in Path(path).read_text(encoding="utf-8", errors="ignore")
    except OSError:
        return False


def pool_min_rows() -> int:
    """:data:`POOL_MIN_ROWS`, or the setting ``CWDX_POOL_MIN_ROWS`` (0: helpers for any work
    of two pieces or more; a very large number: never)."""
    try:
        return max(0, int(os.environ.get("CWDX_POOL_MIN_ROWS", POOL_MIN_ROWS)))
    except ValueError:
        return POOL_MIN_ROWS


def helpers_for(rows: int) -> int:
    """How many helpers work of ``rows`` case rows gets on this machine: one per core beyond
    the caller's, none for small work, on one core, or under an unguarded main script."""
    cores = os.cpu_count() or 1
    if cores < 2 or rows < pool_min_rows() or not main_module_safe():
        return 0
    return cores - 1


def _helper_started(caller: int) -> None:
    """Each helper's first act: end when the caller (process ``caller``) or the fork server
    ends, and keep its log records out of the terminal (the caller logs what pieces return).

    A helper cannot rely on its task queue to notice the caller's death (it holds both ends
    of the queue's pipe), nor the fork server on the helpers' (they hold its liveness pipe), so
    a thread watches the caller.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the fork server died
    except (OSError, AttributeError):  # not Linux
        pass
    threading.Thread(target=_end_with, args=(caller,), name="cwdx-watch", daemon=True).start()
    from cwdx.workspace.files import part_cache

    part_cache.keeps_written = False  # the caller renames what a helper writes
    cwdx_log = logging.getLogger("cwdx")
    for handler in list(cwdx_log.handlers):  # a forked helper's copies of the caller's files
        cwdx_log.removeHandler(handler)
    cwdx_log.addHandler(logging.NullHandler())
    cwdx_log.propagate = False


def _end_with(caller: int) -> None:
    """Wait for process ``caller`` to end, then end this process at once."""
    try:
        watched = os.pidfd_open(caller)
        select.select([watched], [], [])  # readable once the process has ended
    except (OSError, AttributeError):  # no pidfd (old kernel, not Linux): poll its pid
        while True:
            time.sleep(1.0)
            try:
                os.kill(caller, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                continue
    os._exit(1)


def _warm() -> int:
    """Run once in each new helper (the warm-up module, in case the fork server was started
    without it); returns the helper's process id."""
    __import__(WARMUP_MODULE)
    return os.getpid()


class HelperPool:
    """A :class:`~cwdx.fanout.Mapper` running pieces in the caller and ``helpers`` warm helper
    processes (see the module's text). Thread-safe: tasks of several threads may share it.

    The helpers start in the background at the first call (or :meth:`start`) and stay until
    :meth:`close`.
    """

    def __init__(self, helpers: int) -> None:
        self.helpers = max(1, helpers)
        #: runners of a stage (the caller and the helpers): stages cut at least this many pieces
        self.width = self.helpers + 1
        #: a check or computation in one batch per runner: each batch pays a fixed cost
        #: (reading every applicant, matching), and the caller starts at once
        self.batches_each = 1
        #: files to decode and workbooks to write: two pieces per runner (each piece pays a
        #: fixed cost, and the caller, running from the back, evens out the end)
        self.spread = 1
        self._executor: ProcessPoolExecutor | None = None
        self._ready = threading.Event()
        self._starter: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        #: pieces the helpers have run (the rest ran in the callers)
        self.helper_pieces = 0
        global _open_pools
        with _pools_mutex:
            _open_pools += 1

    def start(self) -> None:
        """Start the helpers in the background (no-op when they run or are starting)."""
        with self._lock:
            if self._closed or self._starter is not None:
                return
            self._starter = threading.Thread(
                target=self._start_helpers, name="cwdx-helpers", daemon=True
            )
            self._starter.start()

    def fork_here(self) -> None:
        """Start the helpers now as copies of this process (everything it has imported and
        loaded comes along, so they are ready at once and cost no start-up).

        Only where this process has no other thread and no open database connection (a
        forked copy would inherit SQLite's state of it: see the module's text), e.g. at the
        start of a command, once it has imported what its pieces need; later restarts use the
        fork server. No-op when helpers run or are starting.
        """
        if threading.active_count() > 1:  # not safe to fork: the fork server starts them
            self.start()
            return
        with self._lock:
            if self._closed or self._starter is not None:
                return
            self._starter = threading.current_thread()
        self._start_helpers("fork")

    def _start_helpers(self, method: str = "forkserver") -> None:
        try:
            context = multiprocessing.get_context(method)
            if method == "forkserver":
                context.set_forkserver_preload([WARMUP_MODULE])
            executor = ProcessPoolExecutor(
                self.helpers,
                mp_context=context,
                initializer=_helper_started,
                initargs=(os.getpid(),),
            )
            pids = [executor.submit(_warm) for _ in range(self.helpers)]
            started = {future.result() for future in pids}
        except Exception as exc:  # no helpers: the caller keeps running every piece itself
            log.warning("辅助计算进程未能启动（%s），改由本进程独自计算", type(exc).__name__)
            return
        with self._lock:
            if self._closed:
                executor.shutdown(wait=False, cancel_futures=True)
                return
            self._executor = executor
        log.info("已启动 %d 个辅助计算进程", len(started))
        self._ready.set()

    def _running(self) -> ProcessPoolExecutor | None:
        """The helpers' executor once they are ready (``None`` while they start)."""
        self.start()
        return self._executor if self._ready.is_set() else None

    def _broken(self, executor: ProcessPoolExecutor) -> None:
        """Forget a pool whose helper died; the next call starts new helpers."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
                self._ready.clear()
                self._starter = None
        executor.shutdown(wait=False, cancel_futures=True)

    def __call__(
        self, function: Callable[[Piece], Result], pieces: Sequence[Piece]
    ) -> Iterator[Result]:
        run = _Run(self, function, list(pieces))
        try:
            for wanted in range(len(run.pieces)):
                yield run.result(wanted)
        finally:
            run.abandon()

    def _result(self, future: Future[Result], executor: ProcessPoolExecutor | None) -> Result:
        """A helper's result (its exception re-raised); a dead helper is :data:`HELPER_DIED`."""
        try:
            return future.result()
        except BrokenProcessPool as exc:
            log.error("辅助计算进程意外退出：%s", type(exc).__name__)
            if executor is not None:
                self._broken(executor)
            raise CwdxError(HELPER_DIED, ErrorKind.IO) from exc

    def close(self) -> None:
        """Stop the helpers (a piece still running in one is abandoned)."""
        with self._lock:
            closing, self._closed = not self._closed, True
            starter, executor = self._starter, self._executor
            started = starter is not None
            self._executor = None
        if starter is not None and starter is not threading.current_thread():
            starter.join()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        global _open_pools
        with _pools_mutex:
            if closing:
                _open_pools -= 1
            if closing and _open_pools == 0 and started:
                _stop_fork_server()


class _Run:
    """One call of a :class:`HelperPool`: which pieces wait, which a helper has, which are done.

    Helpers get the first waiting pieces, one more each time one of theirs ends (in the
    executor's thread, :meth:`_feed`); the caller takes the piece it needs next when no helper
    has it, else the last waiting piece, else waits for the helper's result.
    """

    def __init__(self, pool: HelperPool, function: Callable[[Any], Any], pieces: list[Any]):
        self.pool = pool
        self.function = function
        self.pieces = pieces
        self.waiting = deque(range(len(pieces)))
        self.handed: dict[int, Future[Any]] = {}
        self.done: dict[int, Any] = {}
        self.executor: ProcessPoolExecutor | None = None
        self.abandoned = False
        self.lock = threading.RLock()  # a callback may run at once, in the thread adding it

    def result(self, wanted: int) -> Any:
        """The result of piece ``wanted``, running pieces in this thread while it waits."""
        while True:
            with self.lock:
                if wanted in self.done:
                    return self.done.pop(wanted)
                if self.executor is None and len(self.waiting) > 1:
                    self.executor = self.pool._running()
                    self._feed()
                future = self.handed.get(wanted)
                if future is None:
                    index: int | None = wanted
                    self.waiting.remove(wanted)
                elif future.done() or not self.waiting:
                    index = None
                else:
                    index = self.waiting.pop()
            if index is None:
                assert future is not None
                value = self.pool._result(future, self.executor)
                with self.lock:
                    del self.handed[wanted]
                return value
            value = self.function(self.pieces[index])
            if index == wanted:
                return value
            with self.lock:
                self.done[index] = value

    def _feed(self, _finished: Future[Any] | None = None) -> None:
        """Hand the first waiting pieces to idle helpers (called again as each one ends)."""
        with self.lock:
            executor = self.executor
            if executor is None or self.abandoned:
                return
            busy = sum(1 for future in self.handed.values() if not future.done())
            while self.waiting and busy < self.pool.helpers * QUEUED_PER_HELPER:
                index = self.waiting.popleft()
                try:
                    future = executor.submit(self.function, self.pieces[index])
                except (BrokenProcessPool, RuntimeError):  # died between pieces, or closed
                    self.waiting.appendleft(index)
                    self.executor = None
                    self.pool._broken(executor)
                    return
                self.handed[index] = future
                self.pool.helper_pieces += 1
                busy += 1
                future.add_done_callback(self._feed)

    def abandon(self) -> None:
        """Cancel what the helpers have not started (a failed or abandoned call)."""
        with self.lock:
            self.abandoned = True
            handed = list(self.handed.values())
        for future in handed:
            future.cancel()


def _stop_fork_server() -> None:
    """End this process's fork server and wait for it (its helpers have ended), so it leaves
    no process behind and its CPU time counts as this process's. It holds nothing to save:
    killed at once rather than left to tear its modules down. Python has no public call for
    it (``ForkServer._stop``, a test hook of the standard library since 3.8)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    stop = getattr(server, "_stop", None)
    if pid is None or stop is None:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):  # already reaped
        stop()


@contextlib.contextmanager
def local_mapper(rows: int) -> Iterator[Mapper]:
    """For a block of work of ``rows`` case rows in this process (a command run directly, not
    as a task): helpers as :func:`helpers_for` decides, stopped at the end of the block, or
    :func:`~cwdx.fanout.serial_map`. The helpers are forked at once
    (:meth:`HelperPool.fork_here`): call it where no database connection is open, once what
    the pieces need is imported."""
    helpers = helpers_for(rows)
    if not helpers:
        yield serial_map
        return
    pool = HelperPool(helpers)
    pool.fork_here()
    try:
        yield pool
    finally:
        pool.close()


def pool_mapper(workers: int) -> Mapper:
    """A :class:`~cwdx.fanout.Mapper` over the caller and ``workers`` - 1 helpers, started for
    each call and stopped after it (the library's ``workers=N``)."""
    return _CallPool(workers)


class _CallPool:
    """:func:`pool_mapper`'s mapper: a :class:`HelperPool` for the length of one call."""

    def __init__(self, workers: int) -> None:
        self.workers = max(2, workers)
        self.width = self.workers

    def __call__(
        self, function: Callable[[Piece], Result], pieces: Sequence[Piece]
    ) -> Iterator[Result]:
        pool = HelperPool(self.workers - 1)
        try:
            yield from pool(function, pieces)
        finally:
            pool.close()


__all__ = [
    "HELPER_DIED",
    "POOL_MIN_ROWS",
    "HelperPool",
    "helpers_for",
    "local_mapper",
    "main_module_safe",
    "pool_mapper",
]
