"""The workspace package: one folder holding imported rows, check results, results, tasks and logs.

Layout (see ``docs/DESIGN.md``)::

    WS/
      cwdx.sqlite                               state (SQLite, WAL)
      data/<table>/<org>/<import_id>.parquet    rows of one import for one institution
      checks/<org>/findings-<token>.parquet     finding table of the last check
      results/<org>/<token>-<i>.parquet         tables of the last compute
      logs/cwdx.log                             counts, ids and file names only
      inbox/                                    big files for the platform app

Every data file is written under a temporary name, flushed, fsynced and renamed, and only then
recorded in SQLite, all files of one operation in one transaction. Before writing, an operation
records the files it will write in the ``pending`` table (committed first); files an operation
drops are added to ``pending`` in the transaction that drops them. When the workspace opens (and
when a writer finds that the previous writer died), the ``pending`` files no committed row
references are removed, with the temporary files: a kill at any moment leaves the workspace as it
was before the operation. A data file no record claims is never removed, and a folder whose
database is missing, empty or damaged is refused (nothing is created or removed in it).

Writes are serialised across processes by an exclusive ``flock`` on ``WS/.write.lock`` taken
without waiting: a write that conflicts with a running write is refused with a Chinese message.
Reads never take the lock, so a read-only workspace (read-only disk or folder) can still be
read and exported; its writes are refused in Chinese.

Modules: :mod:`.db` (schema, upgrades, transactions), :mod:`.lock` (write lock, clean-up),
:mod:`.files` (atomic files), :mod:`.records`, :mod:`.imports`, :mod:`.stages` (stages,
refusals, checks and results), :mod:`.tasks`, :mod:`.accounts` (users of the 平台版), and :mod:`.core` (the :class:`Workspace`
facade). The workspace does not know the rules: a check's error and warning totals are
given to :meth:`Workspace.save_check` and stored.
"""

from __future__ import annotations

from cwdx.hashing import file_sha256
from cwdx.reference import UNKNOWN_ORG
from cwdx.workspace.accounts import AccountRecord
from cwdx.workspace.core import Workspace
from cwdx.workspace.db import DB_NAME
from cwdx.workspace.files import org_dirname
from cwdx.workspace.imports import ProgressCallback
from cwdx.workspace.lock import LOCK_NAME
from cwdx.workspace.records import (
    CheckRecord,
    DeleteOutcome,
    ImportOutcome,
    ImportRecord,
    InstitutionInfo,
    TaskRecord,
    institution_label,
    unknown_orgs_message,
)
from cwdx.workspace.stages import (
    FROZEN_STAGES,
    STAGE_COMPUTED,
    STAGE_FAILED,
    STAGE_PASSED,
    STAGE_UPLOADED,
    STAGES,
    UNFREEZE_ALL,
    UNFREEZE_CHECK,
    UNFREEZE_COMPUTE,
    Action,
    unfreeze_hint,
)
from cwdx.workspace.tasks import (
    TASK_FAILED,
    TASK_QUEUED,
    TASK_RUNNING,
    TASK_SUCCEEDED,
    TaskHandle,
)

__all__ = [
    "DB_NAME",
    "FROZEN_STAGES",
    "LOCK_NAME",
    "STAGES",
    "STAGE_COMPUTED",
    "STAGE_FAILED",
    "STAGE_PASSED",
    "STAGE_UPLOADED",
    "TASK_FAILED",
    "TASK_QUEUED",
    "TASK_RUNNING",
    "TASK_SUCCEEDED",
    "UNFREEZE_ALL",
    "UNFREEZE_CHECK",
    "UNFREEZE_COMPUTE",
    "UNKNOWN_ORG",
    "AccountRecord",
    "Action",
    "CheckRecord",
    "DeleteOutcome",
    "ImportOutcome",
    "ImportRecord",
    "InstitutionInfo",
    "ProgressCallback",
    "TaskHandle",
    "TaskRecord",
    "Workspace",
    "file_sha256",
    "institution_label",
    "org_dirname",
    "unfreeze_hint",
    "unknown_orgs_message",
]
