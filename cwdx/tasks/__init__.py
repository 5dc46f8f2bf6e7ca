"""Background tasks: queued in the workspace's task table, run by the dispatcher on Dask.

Contract (``TASKS_API.md``): :func:`submit_task` queues a task and returns its id;
``ws.tasks()`` / ``ws.task(task_id)`` read task records; :func:`run_task` drives a task to its
end for the command line; :func:`start_dispatcher` starts ``cwdx -w WS dispatch`` as a separate
process for the apps; :func:`monitor_snapshot` reads the machine and worker numbers the
dispatcher writes.

Modules: :mod:`.queue` (kinds, parameters, scopes, :func:`submit_task`), :mod:`.cluster` (the
Dask cluster and the Dask-backed :class:`~cwdx.fanout.Mapper`), :mod:`.kinds` (what each kind
does, reusing the stages), :mod:`.dispatcher` (the loop), :mod:`.process` (the dispatcher
process and :func:`run_task`), :mod:`.monitor` (machine and worker numbers).

Importing this package is light (no pandas, no Dask): the heavy modules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from cwdx.tasks.queue import KIND_LABELS, KINDS, submit_task

_LAZY = {
    "run_task": "cwdx.tasks.process",
    "start_dispatcher": "cwdx.tasks.process",
    "DispatcherProcess": "cwdx.tasks.process",
    "dispatcher_alive": "cwdx.tasks.process",
    "monitor_snapshot": "cwdx.tasks.monitor",
    "Dispatcher": "cwdx.tasks.dispatcher",
    "DaskMapper": "cwdx.tasks.cluster",
}

__all__ = ["KINDS", "KIND_LABELS", "submit_task", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
