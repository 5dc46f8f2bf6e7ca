"""Machine and worker numbers for the 平台版 监控 panel.

The dispatcher writes ``WS/logs/monitor.json`` every few seconds (atomically): CPU, memory and
disk of the machine (psutil), of the dispatcher process, and of each Dask worker (the
scheduler's worker metrics), a short history of the machine's CPU and memory, and the Dask
dashboard link. :func:`monitor_snapshot` reads it (cheap: no psutil, no Dask).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cwdx.log import get_logger

log = get_logger("tasks")

MONITOR_FILE = "monitor.json"
#: Samples kept in the history (at one every 3 s: the last 3 minutes).
HISTORY = 60


def monitor_path(workspace: Path) -> Path:
    """Where the dispatcher writes the numbers of ``workspace``."""
    return workspace / "logs" / MONITOR_FILE


def monitor_snapshot(workspace_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The latest numbers the dispatcher wrote: ``time``, ``machine`` (cpu_percent,
    memory_total/used/percent, disk_total/used/percent), ``dispatcher`` (pid, cpu_percent,
    memory_rss), ``workers`` (one dict per worker: name, host, cpu_percent, memory, memory_limit,
    nthreads, executing, disk_read_bps, disk_write_bps), ``history`` ([{time, cpu_percent,
    memory_percent}]), ``dashboard`` (the Dask dashboard link or ``None``) and ``alive``
    (whether the dispatcher wrote them in the last 15 seconds). Empty dict when no dispatcher
    ever ran for the workspace."""
    path = monitor_path(Path(workspace_path).expanduser().resolve())
    try:
        snapshot = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    snapshot["alive"] = time.time() - float(snapshot.get("epoch", 0)) < 15
    return dict(snapshot)


def _worker_numbers(address: str, info: dict[str, Any]) -> dict[str, Any]:
    metrics = info.get("metrics") or {}
    disk = metrics.get("host_disk_io") or {}
    return {
        "name": str(info.get("name", address)),
        "address": address,
        "host": info.get("host"),
        "nthreads": info.get("nthreads"),
        "cpu_percent": metrics.get("cpu"),
        "memory": metrics.get("memory"),
        "memory_limit": info.get("memory_limit"),
        "executing": (metrics.get("task_counts") or {}).get("executing", 0),
        "disk_read_bps": disk.get("read_bps"),
        "disk_write_bps": disk.get("write_bps"),
    }


class Monitor:
    """Writes :data:`MONITOR_FILE` for the dispatcher every ``every`` seconds, the first time
    ``first_after`` seconds after it was made (0: at the first :meth:`maybe_write`)."""

    def __init__(
        self, workspace: Path, cluster: Any, every: float = 3.0, first_after: float = 0.0
    ) -> None:
        self.path = monitor_path(workspace)
        self.workspace = workspace
        self.cluster = cluster
        self.every = every
        self.history: list[dict[str, Any]] = []
        self._last = time.monotonic() - every + first_after
        self._process: Any = None

    def maybe_write(self) -> None:
        """Write the numbers when the last write is older than ``every`` seconds."""
        if time.monotonic() - self._last < self.every:
            return
        self._last = time.monotonic()
        try:
            self.write()
        except Exception:  # the panel misses one sample; the tasks go on
            log.warning("写入监控数据失败", exc_info=True)

    def snapshot(self) -> dict[str, Any]:
        """The numbers now (see :func:`monitor_snapshot`)."""
        import psutil

        if self._process is None:
            self._process = psutil.Process()
            self._process.cpu_percent(None)
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(str(self.workspace))
        now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        machine = {
            "cpu_count": psutil.cpu_count(),
            "cpu_percent": psutil.cpu_percent(None),
            "memory_total": memory.total,
            "memory_used": memory.total - memory.available,
            "memory_percent": memory.percent,
            "disk_total": disk.total,
            "disk_used": disk.used,
            "disk_percent": disk.percent,
        }
        self.history.append(
            {
                "time": now,
                "cpu_percent": machine["cpu_percent"],
                "memory_percent": memory.percent,
            }
        )
        del self.history[:-HISTORY]
        workers = [_worker_numbers(a, i) for a, i in sorted(self.cluster.worker_info().items())]
        return {
            "time": now,
            "epoch": time.time(),
            "machine": machine,
            "dispatcher": {
                "pid": os.getpid(),
                "cpu_percent": self._process.cpu_percent(None),
                "memory_rss": self._process.memory_info().rss,
            },
            "workers": workers,
            "history": list(self.history),
            "dashboard": self.cluster.dashboard_link(),
        }

    def write(self) -> None:
        """Write the numbers now (atomically: a reader never sees half a file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.snapshot(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)

    def close(self) -> None:
        """Mark the numbers as stale (the dispatcher stopped)."""
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text(encoding="utf-8"))
            data["epoch"] = 0
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.path)
