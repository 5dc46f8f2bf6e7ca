"""The Dask side of the dispatcher: which cluster runs the pieces of a task, and the
Dask-backed :class:`~cwdx.fanout.Mapper`.

Default: a ``distributed.LocalCluster`` with one worker process per core (``processes=True``),
started lazily, and only when a task's work is big enough to pay for starting it
(:data:`CLUSTER_MIN_ROWS`, measured: see ``docs/SCALING.md``); smaller work runs in the
dispatcher process, helped by warm helper processes (:class:`cwdx.pool.HelperPool`, one per
core beyond the first) once it holds :data:`cwdx.pool.POOL_MIN_ROWS` case rows, and alone
(:func:`cwdx.fanout.serial_map`) below that. ``--workers N`` asks for a local
cluster of N workers whatever the size (``1``: always in the dispatcher process);
``--scheduler tcp://HOST:PORT`` (or the workspace setting :data:`SCHEDULER_SETTING`) uses an
existing cluster whose workers see the workspace folder under the same path.

Only the dispatcher process imports Dask (``cwdx status`` and the page kernels never do).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cwdx.errors import CwdxError, ErrorKind
from cwdx.fanout import Mapper, serial_map
from cwdx.log import get_logger
from cwdx.pool import HelperPool, helpers_for

log = get_logger("tasks")

Piece = TypeVar("Piece")
Result = TypeVar("Result")

#: Work of fewer case rows than this runs in the dispatcher process when no cluster runs yet.
#: Measured with ``cwdx run --workers 1/2`` on the shared 2-core machine (docs/SCALING.md,
#: "Break-even"): 2 workers lose at 100,000 rows and win at 400,000; starting them costs about
#: 8–15 s, won back at about 5 s per 100,000 rows.
CLUSTER_MIN_ROWS = 170_000
#: About this many bytes of a workbook hold one 病案首页 row (measured on ``cwdx demo`` files:
#: 5,000 rows in 774 KB): how a task guesses the rows of files it has not decoded yet.
XLSX_BYTES_PER_ROW = 150
#: The workspace file naming the scheduler of an existing cluster (one line,
#: ``tcp://HOST:PORT``); ``--scheduler`` overrides it.
SCHEDULER_SETTING = "scheduler.txt"


def scheduler_setting(workspace: Path) -> str | None:
    """The scheduler address stored in the workspace (``WS/scheduler.txt``), if any."""
    try:
        text = (workspace / SCHEDULER_SETTING).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def rows_in_files(files: Sequence[str | os.PathLike[str]]) -> int:
    """The case rows workbooks not yet decoded probably hold (:data:`XLSX_BYTES_PER_ROW`), to
    choose where their import runs."""
    paths = [Path(f) for f in files]
    return sum(path.stat().st_size for path in paths if path.is_file()) // XLSX_BYTES_PER_ROW


def _killed_text() -> str:
    return (
        "执行任务的计算进程意外退出（可能是内存不足或被强行结束），任务未完成；"
        "未完成的机构保持任务开始前的状态，请检查服务器内存后重新提交任务。"
    )


class DaskMapper:
    """A :class:`~cwdx.fanout.Mapper` that submits every piece to a Dask cluster as a future
    and yields the results in input order, each as soon as it and all before it are done.

    A piece that raises re-raises its exception here; a worker that dies under a piece is a
    :class:`CwdxError` (the dispatcher records it as the task's error).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        #: pieces the cluster runs at once (its workers' threads): stages cut that many or more
        self.width = max(1, sum(client.nthreads().values()))

    def __call__(
        self, function: Callable[[Piece], Result], pieces: Sequence[Piece]
    ) -> Iterator[Result]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        pieces = list(pieces)
        if not pieces:
            return
        futures = self.client.map(function, pieces, pure=False)
        position = {future.key: i for i, future in enumerate(futures)}
        ready: dict[int, Any] = {}
        wanted = 0
        try:
            for future in as_completed(futures):
                try:
                    ready[position[future.key]] = future.result()
                except KilledWorker as exc:
                    log.error("计算进程意外退出：%s", type(exc).__name__)
                    raise CwdxError(_killed_text(), ErrorKind.IO) from exc
                while wanted in ready:
                    yield ready.pop(wanted)
                    wanted += 1
        finally:
            for future in futures:  # a failed or abandoned map leaves nothing queued
                future.cancel()


class Cluster:
    """The cluster of one dispatcher: nothing until :meth:`mapper` needs workers.

    ``workers``: ``None`` chooses (a local cluster of one worker per core for big work, the
    dispatcher process for small), ``1`` always runs in the dispatcher process, ``N`` > 1 a
    local cluster of N workers. ``scheduler``: the address of an existing cluster (used for
    all work, whatever its size).
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        self.workers = workers
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None
        self._helpers: HelperPool | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether a client is connected (a local cluster started, or the scheduler reached)."""
        return self._client is not None

    def wanted(self, rows: int) -> bool:
        """Whether work of ``rows`` case rows goes to Dask workers."""
        if self.scheduler:
            return True
        if self.workers is not None:
            return self.workers > 1
        if self.started:
            return True
        return (os.cpu_count() or 1) > 1 and rows >= CLUSTER_MIN_ROWS

    def helpers_wanted(self, rows: int) -> bool:
        """Whether work of ``rows`` case rows runs in this process with helpers."""
        return self.workers is None and not self.wanted(rows) and helpers_for(rows) > 0

    def prepare(self, rows: int) -> None:
        """Before work of ``rows`` case rows, where this process has no other thread and no
        open database connection: fork its helpers now (:meth:`HelperPool.fork_here`) if that
        work will want them, so they start as copies of this process."""
        if self.helpers_wanted(rows):
            helpers = helpers_for(rows)
            with self._lock:
                if self._helpers is None:
                    self._helpers = HelperPool(helpers)
                pool = self._helpers
            pool.fork_here()

    def mapper(self, rows: int) -> Mapper:
        """The mapper for work of ``rows`` case rows (starting the cluster if it is wanted)."""
        if self.wanted(rows):
            return DaskMapper(self.client())
        helpers = helpers_for(rows) if self.workers is None else 0
        if not helpers:
            return serial_map
        with self._lock:
            if self._helpers is None:
                self._helpers = HelperPool(helpers)
            self._helpers.start()
            return self._helpers

    def client(self) -> Any:
        """The ``distributed.Client`` (connecting or starting the local cluster once)."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        import dask
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise CwdxError(
                    f"无法连接计算集群的调度器 {self.scheduler}，请确认 dask scheduler 已启动、"
                    "地址和端口正确且网络可达。",
                    ErrorKind.NOT_FOUND,
                ) from exc
            log.info("已连接计算集群：%s", self.scheduler)
            return client
        count = self.workers or os.cpu_count() or 1
        # a worker killed under a piece fails the task (which says so) instead of re-running
        # the piece elsewhere: the dispatcher records every institution as checked or as it was
        dask.config.set({"distributed.scheduler.allowed-failures": 0})
        self._cluster = LocalCluster(
            n_workers=count,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
            silence_logs=40,
        )
        log.info("已启动本机计算集群：%d 个工作进程", count)
        return Client(self._cluster)

    def dashboard_link(self) -> str | None:
        """The Dask dashboard address (``None`` before the cluster starts)."""
        if self._client is None:
            return None
        try:
            return str(self._client.dashboard_link)
        except Exception:  # an external scheduler without the dashboard
            return None

    def worker_info(self) -> dict[str, dict[str, Any]]:
        """The scheduler's view of each worker (empty before the cluster starts)."""
        if self._client is None:
            return {}
        try:
            info = self._client.scheduler_info()
        except Exception:  # the scheduler went away: the next task says so
            return {}
        return dict(info.get("workers", {}))

    def close(self) -> None:
        """Disconnect and stop the local cluster (an external one keeps running)."""
        with self._lock:
            helpers, self._helpers = self._helpers, None
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None
        if helpers is not None:
            helpers.close()


__all__ = [
    "CLUSTER_MIN_ROWS",
    "XLSX_BYTES_PER_ROW",
    "Cluster",
    "DaskMapper",
    "rows_in_files",
    "scheduler_setting",
]
