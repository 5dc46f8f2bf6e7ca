"""The workspace: one folder holding imported rows, check results, results, tasks and logs.

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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cwdx import reader
from cwdx.errors import CwdxError, os_error_text
from cwdx.log import attach_log_file, default_log_path, get_logger
from cwdx.reader import BOOKKEEPING_COLUMNS, file_sha256
from cwdx.reference import TABLE_TITLES, UNKNOWN_ORG, load_reference

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

log = get_logger("workspace")

# Stages (apps.md "Workspace and stages").
STAGE_UPLOADED = "已上传"
STAGE_PASSED = "已检测-通过"
STAGE_FAILED = "已检测-未通过"
STAGE_COMPUTED = "已计算"
STAGES: tuple[str, ...] = (STAGE_UPLOADED, STAGE_PASSED, STAGE_FAILED, STAGE_COMPUTED)
FROZEN_STAGES = frozenset({STAGE_PASSED, STAGE_FAILED, STAGE_COMPUTED})

# Unfreeze actions as the apps name them.
UNFREEZE_CHECK = "在上传阶段解冻数据检测"
UNFREEZE_COMPUTE = "解冻数据检测和计算"
UNFREEZE_ALL = "解冻所有数据"

# Task states.
TASK_QUEUED = "Queued"
TASK_RUNNING = "Running"
TASK_SUCCEEDED = "Succeeded"
TASK_FAILED = "Failed"

Action = Literal["import", "delete", "check", "compute"]
_ACTION_WORDS = {"import": "导入数据", "delete": "删除数据", "check": "重新检测", "compute": "计算"}

DB_NAME = "cwdx.sqlite"
LOCK_NAME = ".write.lock"
_SCHEMA_VERSION = 2
#: Where stored files live; ``pending`` paths outside them are never removed.
_DATA_DIRS = ("data", "checks", "results")
_BOOKKEEPING_INT = ("_row", "_import")

ProgressCallback = Callable[[int, int, str], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS institutions (
    org TEXT PRIMARY KEY,
    name TEXT,
    stage TEXT NOT NULL,
    frozen INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
    id INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    rows INTEGER NOT NULL,
    time TEXT NOT NULL,
    rejected TEXT,
    forced INTEGER NOT NULL DEFAULT 0,
    cleared INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS imports_sha ON imports (tbl, sha256);
CREATE TABLE IF NOT EXISTS parts (
    import_id INTEGER NOT NULL REFERENCES imports (id),
    org TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    rows INTEGER NOT NULL,
    PRIMARY KEY (import_id, org)
);
CREATE INDEX IF NOT EXISTS parts_org ON parts (org);
CREATE TABLE IF NOT EXISTS checks (
    org TEXT PRIMARY KEY,
    passed INTEGER NOT NULL,
    counts TEXT NOT NULL,
    findings_path TEXT NOT NULL,
    failed_rules TEXT NOT NULL,
    time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    org TEXT PRIMARY KEY,
    paths TEXT NOT NULL,
    time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    path TEXT PRIMARY KEY,
    operation TEXT NOT NULL,
    since TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    orgs TEXT NOT NULL,
    started_by TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queued TEXT NOT NULL,
    start TEXT,
    end TEXT,
    state TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
"""


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
            start or _now(),
            start,
            state,
        ),
    )
    return int(cur.lastrowid or 0)


def institution_label(org: str, name: str) -> str:
    """How an institution is named to users: ``ORG（名称）``, or just the code without a name."""
    return f"{org}（{name}）" if name else org


def unknown_orgs_message(orgs: Sequence[str]) -> str:
    """The refusal for institution codes the workspace does not hold."""
    return (
        f"工作区中没有机构 {'、'.join(orgs)}，请用 status 命令（或机构列表）查看已导入的机构代码。"
    )


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def org_dirname(org: str) -> str:
    """A file-system-safe folder name for an institution code (stable, unique per code)."""
    if re.fullmatch(r"[A-Za-z0-9-]{1,60}", org):
        return org
    return "_" + hashlib.sha1(org.encode("utf-8")).hexdigest()[:16]


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (on this machine)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would send Ctrl+C there
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: Windows locks a byte range; the locked byte lies beyond the holder text.
_LOCK_OFFSET = 1 << 20


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` without waiting; ``False`` when someone holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)  # pragma: no cover - Windows
    try:  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # pragma: no cover
        return False
    return True  # pragma: no cover


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _read_marker(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096)


def _write_marker(fd: int, data: bytes) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)


def _pause(point: str) -> None:
    """Test hook: sleep at a named point when ``CWDX_TEST_PAUSE_AT`` names it.

    ``CWDX_TEST_PAUSE_FILE`` (optional) is created when the pause starts, so a test can kill
    the process at exactly that point.
    """
    if os.environ.get("CWDX_TEST_PAUSE_AT") != point:
        return
    marker = os.environ.get("CWDX_TEST_PAUSE_FILE")
    if marker:
        Path(marker).write_text(point, encoding="utf-8")
    time.sleep(float(os.environ.get("CWDX_TEST_PAUSE_SECONDS", "60")))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_parquet_atomic(table: pa.Table, target: Path) -> None:
    """Write ``table`` to ``target`` via a fsynced temporary file and a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk: give the space back at once
            tmp.unlink()
        raise
    _pause("after_write")
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The stored row frame as Arrow: every column a string except ``_row``/``_import``."""
    fields = [
        pa.field(str(c), pa.int64() if c in _BOOKKEEPING_INT else pa.string())
        for c in frame.columns
    ]
    return pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)


def _text_or_none(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _any_frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A result or finding table as Arrow; object columns of mixed types are stored as text."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        fixed = frame.copy()
        for name in fixed.columns:
            if fixed[name].dtype == object:
                fixed[name] = fixed[name].map(_text_or_none)
        return pa.Table.from_pandas(fixed, preserve_index=False)


def _split_by_org(arrow: pa.Table, org_rows: dict[str, int]) -> Iterator[tuple[str, pa.Table]]:
    """The rows of each institution, in file order: one stable sort, then zero-copy slices."""
    if len(org_rows) == 1:
        yield next(iter(org_rows)), arrow
        return
    ordered = arrow.take(pc.sort_indices(arrow, sort_keys=[("_org", "ascending")]))
    offset = 0
    for org in sorted(org_rows):
        part = ordered.slice(offset, org_rows[org])
        offset += org_rows[org]
        column = part["_org"]
        if column[0].as_py() != org or column[-1].as_py() != org:  # pragma: no cover
            raise RuntimeError(f"rows of institution {org} are not contiguous after sorting")
        yield org, part
    if offset != arrow.num_rows:  # pragma: no cover
        raise RuntimeError("institution row counts do not add up to the file's rows")


# --------------------------------------------------------------------------------------------
# Public records


@dataclass
class ImportOutcome:
    """What happened to one file of :meth:`Workspace.import_files`."""

    file: str
    path: str
    table: str
    sha256: str
    rows: int = 0
    #: institution -> rows imported for it (empty when rejected)
    org_rows: dict[str, int] = field(default_factory=dict)
    #: institution -> name as read from the file
    org_names: dict[str, str] = field(default_factory=dict)
    #: the full Chinese message when the file was rejected, else ``None``
    rejected: str | None = None
    #: why it was rejected: ``duplicate`` (same content already imported), ``frozen`` (rows of
    #: frozen institutions, listed in :attr:`frozen_orgs`) or ``file`` (the file itself)
    rejected_kind: str | None = None
    frozen_orgs: list[str] = field(default_factory=list)
    #: ``(file name, import time)`` of the earlier import with the same content
    duplicate_of: tuple[str, str] | None = None
    #: the reader's normalisation report (has ``describe()``), ``None`` when not read
    report: Any = None
    import_id: int | None = None
    forced: bool = False

    @property
    def ok(self) -> bool:
        """Whether the file was imported."""
        return self.rejected is None

    def describe(self) -> str:
        """One Chinese line for the user: rows per file, or ``未导入：`` and the rejection."""
        if self.rejected:
            return f"未导入：{self.rejected}"
        orgs = "、".join(f"{org} {n} 行" for org, n in self.org_rows.items())
        text = f"文件 {self.file}：导入 {self.rows} 行"
        return f"{text}（{orgs}）。" if orgs else f"{text}。"

    def lines(self) -> list[str]:
        """What the command line shows for this file: :meth:`describe`, then (indented) what
        reading rewrote beyond white space and case (``0304 → 03.04``), if anything."""
        lines = [self.describe()]
        report = self.report
        if self.ok and report is not None and getattr(report, "columns", None):
            lines.append("  " + report.describe())
        return lines


@dataclass
class InstitutionInfo:
    """One institution of the workspace with its counts, stage and last check."""

    org: str
    name: str
    stage: str
    frozen: bool
    cases: int
    staff: int
    created: str
    updated: str
    checked: bool = False
    passed: bool | None = None
    errors: int | None = None
    warnings: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    checked_at: str | None = None
    computed_at: str | None = None

    @property
    def display_name(self) -> str:
        """``ORG（名称）`` or just the code when no name is known."""
        return institution_label(self.org, self.name)


@dataclass
class ImportRecord:
    """One row of the import history (also the rejected files)."""

    id: int
    table: str
    file: str
    sha256: str
    rows: int
    time: str
    rejected: str | None
    forced: bool
    #: rows of this import still in the workspace (deletes reduce it)
    current_rows: int


@dataclass
class CheckRecord:
    """The stored last check of one institution."""

    org: str
    passed: bool
    counts: dict[str, int]
    findings: pd.DataFrame | None
    failed_rules: list[str]
    time: str


@dataclass
class DeleteOutcome:
    """What :meth:`Workspace.delete` removed."""

    #: institution -> table -> rows deleted
    rows: dict[str, dict[str, int]]
    #: institutions left with no rows, hence removed
    removed: list[str]

    @property
    def total(self) -> int:
        """All rows deleted."""
        return sum(n for per in self.rows.values() for n in per.values())


@dataclass
class TaskRecord:
    """One background task (check, compute, import, ...)."""

    id: int
    kind: str
    orgs: list[str]
    started_by: str
    pid: int
    queued: str
    start: str | None
    end: str | None
    state: str
    details: dict[str, Any]

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (``None`` while not finished)."""
        if not self.start or not self.end:
            return None
        fmt = "%Y-%m-%d %H:%M:%S"
        delta = datetime.strptime(self.end, fmt) - datetime.strptime(self.start, fmt)
        return delta.total_seconds()


class TaskHandle:
    """Given by :meth:`Workspace.task`; ``update(**details)`` stores progress or counts."""

    def __init__(self, workspace: Workspace, task_id: int) -> None:
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


# --------------------------------------------------------------------------------------------
# The write lock (shared by every Workspace object of one process for the same folder)


@dataclass
class _LockState:
    fd: int
    depth: int
    owner: int
    operation: str


_lock_registry: dict[str, _LockState] = {}
_registry_mutex = threading.Lock()


def _holder_text(raw: str) -> str:
    try:
        info = json.loads(raw)
        return (
            f"{info.get('operation', '写入')}，进程 {info.get('pid')}，开始于 {info.get('since')}"
        )
    except (ValueError, AttributeError):
        return "另一项写入操作"


# --------------------------------------------------------------------------------------------


class Workspace:
    """One cwdx workspace folder (see the module docstring for its layout).

    ``Workspace(path)`` opens the folder, creating it when ``create`` is true. Opening removes
    the files of operations that did not finish and marks tasks of dead processes as failed; a
    folder with data files but a missing, empty or damaged database is refused
    (:class:`CwdxError`) and left untouched. All methods are safe to call from several processes
    at once: writes take an exclusive lock without waiting and are refused with a
    :class:`CwdxError` while another write runs; reads never wait for writes. On a read-only
    disk or folder (:attr:`read_only`) reads work and writes are refused.
    """

    def __init__(self, path: str | os.PathLike[str], create: bool = True) -> None:
        self.path = Path(path).expanduser().resolve()
        self.db_path = self.path / DB_NAME
        self._key = str(self.path)
        if not self.db_path.exists():
            if self._has_data_files():
                raise self._damaged("数据库文件 cwdx.sqlite 缺失")
            if not create:
                raise CwdxError(
                    f"工作区 {self.path} 不存在或不是 cwdx 工作区，请检查 -w 指定的文件夹，"
                    "或先用 import 导入数据以创建工作区。"
                )
            if self.path.exists() and not self.path.is_dir():
                raise CwdxError(f"{self.path} 是一个文件，不能作为工作区，请指定一个文件夹。")
            if self.path.is_dir() and any(self.path.iterdir()):
                raise CwdxError(
                    f"文件夹 {self.path} 不是空文件夹，也不是 cwdx 工作区；"
                    "请指定一个新的或空的文件夹作为工作区。"
                )
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CwdxError(
                    f"无法创建工作区文件夹 {self.path}（{os_error_text(exc)}），请检查路径和权限。"
                ) from exc
        #: whether the disk or folder cannot be written: reads work, writes are refused
        self.read_only = not os.access(self.path, os.W_OK) or (
            self.db_path.exists() and not os.access(self.db_path, os.W_OK)
        )
        if self.read_only:
            self.log_path = attach_log_file(default_log_path())
        else:
            with contextlib.suppress(OSError):  # a full disk: the writes will say so
                for sub in ("data", "checks", "results", "logs", "inbox"):
                    (self.path / sub).mkdir(exist_ok=True)
            self.log_path = attach_log_file(self.path / "logs" / "cwdx.log")
        self._init_db()
        if not self.read_only:
            self._fail_dead_tasks()
            with contextlib.suppress(CwdxError), self._write_lock("打开工作区", cleanup=True):
                pass

    # ---------------------------------------------------------------- basics

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release (connections are per operation); kept for ``with`` blocks."""

    def _has_data_files(self) -> bool:
        """Whether the folder holds any stored file (data, checks or results)."""
        for top in _DATA_DIRS:
            for _dirpath, _dirnames, filenames in os.walk(self.path / top):
                if filenames:
                    return True
        return False

    def _damaged(self, what: str) -> CwdxError:
        log.error("工作区已损坏：%s", what)
        return CwdxError(
            f"工作区 {self.path} 已损坏（{what}），为避免丢失数据，本次未做任何改动；"
            "请从备份中恢复整个工作区文件夹后重试，或另选一个新的文件夹作为工作区重新导入。"
        )

    def _read_only_error(self, operation: str) -> CwdxError:
        return CwdxError(
            f"工作区 {self.path} 所在的磁盘或文件夹为只读，不能{operation}；查看状态和导出到其他"
            "文件夹不受影响，如需修改请把工作区复制到可写的位置，或取消只读后重试。"
        )

    def _storage_error(self, exc: OSError | sqlite3.Error, operation: str) -> CwdxError | None:
        """The Chinese refusal for a full or read-only disk, else ``None``."""
        import errno

        if isinstance(exc, sqlite3.Error):
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            full, read_only = code == 13, code == 8  # SQLITE_FULL, SQLITE_READONLY
            # SQLITE_IOERR: e.g. the WAL index could not grow on a full disk
            full = full or (code == 10 and self._disk_nearly_full())
        else:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            read_only = exc.errno == errno.EROFS
        if read_only:
            return self._read_only_error(operation)
        if full:
            log.error("%s：磁盘空间不足", operation)
            return CwdxError(
                f"工作区 {self.path} 所在的磁盘空间不足，{operation}未完成，工作区中已有的数据"
                "不受影响；请清理磁盘空间后重试。"
            )
        return None

    def _database_error(self, exc: sqlite3.Error) -> CwdxError | None:
        """The Chinese message for a damaged, full or read-only database, else ``None``."""
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
            return self._damaged("数据库文件 cwdx.sqlite 内容损坏")
        if code == 14 and self.read_only:  # SQLITE_CANTOPEN
            return self._read_only_error("打开工作区")
        error = self._storage_error(exc, "写入工作区")
        if error is None and code == 10:  # SQLITE_IOERR
            log.error("读写工作区数据库出错：%s", getattr(exc, "sqlite_errorname", exc))
            return CwdxError(
                f"读写工作区 {self.path} 的数据库时发生磁盘错误，本次操作未完成；"
                "请检查磁盘（空间、连接、权限）后重试。"
            )
        return error

    def _disk_nearly_full(self) -> bool:
        """Whether the workspace's disk has less than 1 MiB free."""
        import shutil

        try:
            return shutil.disk_usage(self.path).free < 1 << 20
        except OSError:
            return False

    def _open_db(self) -> sqlite3.Connection:
        """A new connection; read-only (``immutable`` if need be) on a read-only workspace."""
        if not self.read_only:
            return sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        uri = self.db_path.as_uri()
        try:
            con = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None)
            con.execute("PRAGMA user_version").fetchone()
            return con
        except sqlite3.OperationalError:  # a WAL database without its -shm file
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30, isolation_level=None)

    def _init_db(self) -> None:
        """Check the database (refusing a damaged one, or an empty one beside data files),
        then create or upgrade its schema."""
        try:
            con = self._open_db()
        except sqlite3.Error as exc:
            raise self._database_error(exc) or self._damaged("数据库文件无法打开") from exc
        try:
            con.execute("PRAGMA busy_timeout = 30000")
            version = con.execute("PRAGMA user_version").fetchone()[0]
            tables = con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            if tables == 0 and self._has_data_files():  # a 0-byte copy, a sync tool
                raise self._damaged("数据库文件 cwdx.sqlite 是空的")
            problems = [row[0] for row in con.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                log.error("数据库检查：%s", "; ".join(problems[:5]))
                raise self._damaged("数据库文件 cwdx.sqlite 内容损坏")
            if self.read_only:
                if version < 1:
                    raise self._read_only_error("创建工作区")
                return
            con.execute("PRAGMA journal_mode = WAL")
            if version < _SCHEMA_VERSION:
                con.executescript(
                    f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {_SCHEMA_VERSION};COMMIT;"
                )
        except sqlite3.Error as exc:
            if con.in_transaction:
                con.rollback()
            raise self._database_error(exc) or self._damaged("数据库文件无法读取") from exc
        finally:
            con.close()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation; writes run in ``BEGIN IMMEDIATE`` via :meth:`_txn`.

        A damaged database, a full or a read-only disk become one Chinese :class:`CwdxError`.
        """
        try:
            con = self._open_db()
        except sqlite3.Error as exc:
            error = self._database_error(exc)
            if error is None:
                raise
            raise error from exc
        try:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA busy_timeout = 30000")
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        except sqlite3.Error as exc:
            error = self._database_error(exc)
            if error is None:
                raise
            raise error from exc
        finally:
            con.close()

    @contextlib.contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed at the end of the block, rolled back on error."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                if con.in_transaction:  # SQLite rolls back by itself on a full disk
                    con.execute("ROLLBACK")
                raise
            _pause("before_commit")
            con.execute("COMMIT")

    # ---------------------------------------------------------------- the write lock

    @contextlib.contextmanager
    def _write_lock(self, operation: str, cleanup: bool = False) -> Iterator[None]:
        """Hold the workspace's exclusive write lock; refuse at once when another write runs.

        Re-entrant within one thread. When the previous holder died mid-operation (its marker is
        still in the lock file), or ``cleanup`` is set, the files of unfinished operations are
        removed. A full or read-only disk met inside the block is one Chinese
        :class:`CwdxError` naming ``operation``.
        """
        if self.read_only:
            raise self._read_only_error(operation)
        me = threading.get_ident()
        with _registry_mutex:
            state = _lock_registry.get(self._key)
            if state is not None:
                if state.owner != me:
                    raise CwdxError(
                        f"工作区正在进行另一项写入操作（{state.operation}），为避免数据损坏，"
                        "本次操作未执行；请等其完成后再试。"
                    )
                state.depth += 1
                acquired = False
                leftover = b""
            else:
                try:
                    fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
                except OSError as exc:
                    error = self._storage_error(exc, operation)
                    if error is None:
                        raise
                    raise error from exc
                if not _try_lock(fd):
                    raw = _read_marker(fd).decode("utf-8", "replace")
                    os.close(fd)
                    raise CwdxError(
                        f"工作区正在进行另一项写入操作（{_holder_text(raw)}），为避免数据损坏，"
                        "本次操作未执行；请等其完成后再试。"
                    ) from None
                leftover = _read_marker(fd)
                marker = json.dumps(
                    {"pid": os.getpid(), "operation": operation, "since": _now()},
                    ensure_ascii=False,
                ).encode("utf-8")
                try:
                    _write_marker(fd, marker)
                except OSError as exc:  # a full disk: give the lock back at once
                    _unlock(fd)
                    os.close(fd)
                    error = self._storage_error(exc, operation)
                    if error is None:
                        raise
                    raise error from exc
                state = _LockState(fd=fd, depth=1, owner=me, operation=operation)
                _lock_registry[self._key] = state
                acquired = True
        try:
            if acquired and (cleanup or leftover):
                if leftover:
                    log.warning(
                        "上一次写入操作未正常结束（%s），清理未提交的文件",
                        _holder_text(leftover.decode("utf-8", "replace")),
                    )
                self._remove_orphans()
            yield
        except OSError as exc:
            error = self._storage_error(exc, operation)
            if error is None:
                raise
            raise error from exc
        finally:
            with _registry_mutex:
                state.depth -= 1
                if state.depth == 0:
                    del _lock_registry[self._key]
                    os.ftruncate(state.fd, 0)
                    _unlock(state.fd)
                    os.close(state.fd)

    def writing(self, operation: str) -> contextlib.AbstractContextManager[None]:
        """Hold the write lock for a whole operation made of several writes (a check, a compute):
        imports, deletes and other writes, from this or any other process or thread, are
        refused in Chinese until the block ends; refused itself when another write runs.

        ``operation`` names it in those refusals (``数据检测``). Re-entrant within one thread.
        """
        return self._write_lock(operation)

    def _referenced_files(self) -> set[str]:
        with self._connect() as con:
            refs = {row[0] for row in con.execute("SELECT path FROM parts")}
            refs |= {row[0] for row in con.execute("SELECT findings_path FROM checks")}
            for (paths,) in con.execute("SELECT paths FROM results"):
                refs |= set(json.loads(paths).values())
        return refs

    def _claim(self, rel_paths: Iterable[str], operation: str) -> None:
        """Record (committed) the files an operation is about to write, before writing them:
        if it dies before its commit, the next writer removes them."""
        with self._txn() as con:
            self._discard(con, rel_paths, operation)

    @staticmethod
    def _settle(con: sqlite3.Connection, rel_paths: Iterable[str]) -> None:
        """In the transaction that commits them: the claimed files are no longer pending."""
        con.executemany("DELETE FROM pending WHERE path = ?", [(rel,) for rel in rel_paths])

    @staticmethod
    def _discard(con: sqlite3.Connection, rel_paths: Iterable[str], operation: str) -> list[str]:
        """Record in ``con``'s transaction files that are garbage unless a committed row
        references them: files this transaction drops (removed after its commit), or files an
        operation is about to write (see :meth:`_claim`). Returns them as a list."""
        doomed = list(rel_paths)
        now = _now()
        con.executemany(
            "INSERT OR REPLACE INTO pending (path, operation, since) VALUES (?, ?, ?)",
            [(rel, operation, now) for rel in doomed],
        )
        return doomed

    def _remove_orphans(self) -> int:
        """Remove the files of unfinished operations: ``pending`` files that no committed row
        references, and temporary files. Files no record claims are left alone."""
        refs = self._referenced_files()
        with self._connect() as con:
            pending = [row[0] for row in con.execute("SELECT path FROM pending")]
        removed = 0
        for rel in pending:
            parts = rel.split("/")
            if rel in refs or parts[0] not in _DATA_DIRS or ".." in parts:
                continue
            with contextlib.suppress(OSError):
                (self.path / rel).unlink()
                removed += 1
        for top in _DATA_DIRS:
            root = self.path / top
            for dirpath, dirnames, filenames in os.walk(root, topdown=False):
                for name in filenames:
                    if name.startswith(".") and ".tmp-" in name:  # _write_parquet_atomic's
                        with contextlib.suppress(OSError):
                            (Path(dirpath) / name).unlink()
                            removed += 1
                if Path(dirpath) != root and not dirnames and not os.listdir(dirpath):
                    with contextlib.suppress(OSError):
                        os.rmdir(dirpath)
        if pending:
            with self._txn() as con:
                self._settle(con, pending)
        if removed:
            log.info("清理未完成操作留下的文件 %d 个", removed)
        return removed

    def _broken_file(self, rel: str) -> CwdxError:
        log.error("数据文件缺失或损坏：%s", rel)
        parts = rel.split("/")
        what = (
            "检测结果" if parts[0] == "checks" else "计算结果" if parts[0] == "results" else "数据"
        )
        return CwdxError(
            f"工作区中的{what}文件 {rel} 缺失或已损坏（可能被手工删除或改动）；"
            "请解冻并删除相关机构的数据后重新导入。"
        )

    def _read_parquet(self, rel: str) -> pa.Table:
        """Read one stored file; a missing or damaged file is a :class:`CwdxError`."""
        try:
            return pq.read_table(self.path / rel)
        except (OSError, pa.ArrowException) as exc:
            raise self._broken_file(rel) from exc

    def _unlink(self, rel_paths: Iterable[str]) -> None:
        """Remove files after the transaction that dropped them committed (or after their
        operation failed), and their ``pending`` records."""
        rels = list(rel_paths)
        for rel in rels:
            full = self.path / rel
            with contextlib.suppress(OSError):
                full.unlink()
            parent = full.parent
            with contextlib.suppress(OSError):
                if parent != self.path and not any(parent.iterdir()):
                    parent.rmdir()
        if rels:
            try:
                with self._txn() as con:
                    self._settle(con, rels)
            except CwdxError:  # a full disk: the next writer's clean-up forgets them
                log.warning("未能清除 %d 个文件的待清理记录", len(rels))

    # ---------------------------------------------------------------- institutions

    def institutions(self) -> list[InstitutionInfo]:
        """Every institution, ordered by code, with row counts, stage and last check."""
        from cwdx.rules import severity_total  # builds the rule catalogue: only when needed

        with self._connect() as con:
            rows = con.execute(
                """
                SELECT i.org, i.name, i.stage, i.frozen, i.created, i.updated,
                  (SELECT COALESCE(SUM(p.rows), 0) FROM parts p JOIN imports m
                     ON m.id = p.import_id WHERE p.org = i.org AND m.tbl = 'cases') AS cases,
                  (SELECT COALESCE(SUM(p.rows), 0) FROM parts p JOIN imports m
                     ON m.id = p.import_id WHERE p.org = i.org AND m.tbl = 'staff') AS staff,
                  c.passed, c.counts, c.time AS checked_at, r.time AS computed_at
                FROM institutions i
                LEFT JOIN checks c ON c.org = i.org
                LEFT JOIN results r ON r.org = i.org
                ORDER BY i.org
                """
            ).fetchall()
        out = []
        for row in rows:
            counts = json.loads(row["counts"]) if row["counts"] else {}
            checked = row["passed"] is not None
            out.append(
                InstitutionInfo(
                    org=row["org"],
                    name=row["name"] or "",
                    stage=row["stage"],
                    frozen=bool(row["frozen"]),
                    cases=int(row["cases"]),
                    staff=int(row["staff"]),
                    created=row["created"],
                    updated=row["updated"],
                    checked=checked,
                    passed=bool(row["passed"]) if checked else None,
                    errors=severity_total(counts, "error") if checked else None,
                    warnings=severity_total(counts, "warning") if checked else None,
                    counts=counts,
                    checked_at=row["checked_at"],
                    computed_at=row["computed_at"],
                )
            )
        return out

    def institution(self, org: str) -> InstitutionInfo:
        """One institution; :class:`CwdxError` naming it when the workspace does not hold it."""
        for info in self.institutions():
            if info.org == org:
                return info
        raise CwdxError(unknown_orgs_message([org]))

    def _stage_of(self, con: sqlite3.Connection, org: str) -> tuple[str, str] | None:
        row = con.execute("SELECT stage, name FROM institutions WHERE org = ?", (org,)).fetchone()
        return (row["stage"], row["name"] or "") if row else None

    def _cli_unfreeze(self, orgs: Sequence[str], stage: str) -> str:
        opt = " ".join(shlex.quote(org) for org in orgs)
        return f"cwdx -w {shlex.quote(str(self.path))} unfreeze --org {opt} --stage {stage}"

    def _refusal(self, org: str, name: str, stage: str, action: Action) -> str | None:
        """The Chinese refusal for ``action`` on an institution at ``stage``, or ``None``."""
        who = f"机构 {institution_label(org, name)}"
        if action == "compute":
            if stage == STAGE_PASSED:
                return None
            if stage == STAGE_UPLOADED:
                return f"{who}尚未进行数据检测，不能计算；请先执行数据检测。"
            if stage == STAGE_FAILED:
                return (
                    f"{who}数据检测未通过，不能计算；请按反馈表修改数据，"
                    f"「{UNFREEZE_CHECK}」（命令行：{self._cli_unfreeze([org], 'check')}）后"
                    "删除并重新导入数据，再检测。"
                )
            return (
                f"{who}已计算，数据已冻结；如需重新计算，请先「{UNFREEZE_COMPUTE}」"
                f"（命令行：{self._cli_unfreeze([org], 'compute')}）。"
            )
        if stage not in FROZEN_STAGES:
            return None
        return (
            f"{who}处于「{stage}」阶段，数据已冻结，不能{_ACTION_WORDS[action]}；"
            f"请先「{UNFREEZE_CHECK}」（命令行：{self._cli_unfreeze([org], 'check')}）"
            "后再操作。"
        )

    def require_stage(self, org: str, action: Action) -> str:
        """Raise :class:`CwdxError` when ``action`` is not allowed for ``org`` at its stage.

        ``action`` is ``import``, ``delete``, ``check`` (all refused while frozen) or
        ``compute`` (allowed only at 已检测-通过). The message names the unfreeze action and its
        command-line form. Returns the institution's stage.
        """
        with self._connect() as con:
            found = self._stage_of(con, org)
        if found is None:
            raise CwdxError(unknown_orgs_message([org]))
        stage, name = found
        message = self._refusal(org, name, stage, action)
        if message:
            raise CwdxError(message)
        return stage

    # ---------------------------------------------------------------- imports

    def import_files(
        self,
        table: str,
        paths: Sequence[str | os.PathLike[str]],
        force: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> list[ImportOutcome]:
        """Append the files to ``table`` (``cases`` or ``staff``) in the given order.

        Each file is independent and all-or-nothing. A file is rejected (and recorded with its
        message) when the reader rejects it, when the same content (SHA-256) is already in the
        workspace for this table and ``force`` is false, or when it holds rows of a frozen
        institution. Raises :class:`CwdxError` when the workspace is busy, read-only or damaged,
        or its disk is full (then naming the files this call had already imported).
        """
        _check_table(table)
        outcomes: list[ImportOutcome] = []
        total = len(paths)
        with self._write_lock(f"导入{TABLE_TITLES[table]}"):
            for index, raw_path in enumerate(paths):
                path = Path(raw_path)
                if on_progress:
                    on_progress(index, total, f"正在导入 {reader.display_name(path)}")
                try:
                    outcome = self._import_one(table, path, force)
                except OSError as exc:
                    error = self._storage_error(exc, f"导入文件“{reader.display_name(path)}”")
                    if error is None:
                        raise
                    raise _after_imported(outcomes, error) from exc
                except CwdxError as exc:
                    if not any(o.ok for o in outcomes):
                        raise
                    raise _after_imported(outcomes, exc) from exc
                outcomes.append(outcome)
            if on_progress:
                on_progress(total, total, "导入完成")
        return outcomes

    def _import_one(self, table: str, path: Path, force: bool) -> ImportOutcome:
        started = time.monotonic()
        shown = reader.display_name(path)  # a GBK name on Linux cannot be printed or stored
        outcome = ImportOutcome(file=shown, path=reader.display_path(path), table=table, sha256="")
        if not path.is_file() and not path.is_dir():  # the reader explains a folder
            outcome.rejected = (
                f"找不到文件 {reader.display_path(path)}，请检查文件名和路径后重新导入。"
            )
            return self._record_rejection(outcome)
        outcome.sha256 = file_sha256(path) or ""
        if not force:
            with self._connect() as con:
                dup = con.execute(
                    """SELECT m.file, m.time FROM imports m WHERE m.tbl = ? AND m.sha256 = ?
                       AND m.rejected IS NULL
                       AND EXISTS (SELECT 1 FROM parts p WHERE p.import_id = m.id)
                       ORDER BY m.id LIMIT 1""",
                    (table, outcome.sha256),
                ).fetchone()
            if dup is not None:
                outcome.rejected_kind = "duplicate"
                outcome.duplicate_of = (dup["file"], dup["time"])
                outcome.rejected = (
                    f"文件“{shown}”与 {dup['time']} 已导入的文件“{dup['file']}”内容完全相同，"
                    "为避免重复数据未再次导入；如确需重复导入，请确认后强制导入（命令行加 --force）。"
                )
                return self._record_rejection(outcome)
        try:
            result = reader.read_workbook(path, table, sha256=outcome.sha256 or None)
        except Exception:
            log.exception("读取文件 %s（%s）时发生内部错误", shown, table)
            outcome.rejected = (
                f"文件“{shown}”读取时发生内部错误，未导入；详情已写入日志文件 {self.log_path}。"
            )
            return self._record_rejection(outcome)
        _pause("after_read")
        outcome.report = result.report
        outcome.sha256 = result.sha256 or outcome.sha256
        if result.rejected:
            outcome.rejected = result.rejected
            return self._record_rejection(outcome)
        org_rows = {str(k): int(v) for k, v in dict(result.orgs).items() if int(v) > 0}
        org_names = {str(k): str(v) for k, v in dict(result.org_names or {}).items() if v}
        with self._connect() as con:
            frozen = []
            for org in org_rows:
                found = self._stage_of(con, org)
                if found and found[0] in FROZEN_STAGES:
                    frozen.append((org, found[1] or org_names.get(org, ""), found[0]))
        if frozen:
            names = "、".join(
                f"{org}（{name}，{stage}）" if name else f"{org}（{stage}）"
                for org, name, stage in frozen
            )
            orgs = [org for org, _, _ in frozen]
            outcome.rejected_kind = "frozen"
            outcome.frozen_orgs = orgs
            outcome.rejected = (
                f"文件“{shown}”含有已冻结机构 {names}的数据，整个文件未导入；如需导入，"
                f"请先对该机构「{UNFREEZE_CHECK}」（命令行：{self._cli_unfreeze(orgs, 'check')}），"
                "或从文件中删去该机构的行后重新导入。"
            )
            return self._record_rejection(outcome)

        with self._connect() as con:
            import_id = con.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM imports").fetchone()[0]
        frame = result.frame
        stored = frame.assign(_import=import_id)
        tail = list(BOOKKEEPING_COLUMNS)
        stored = stored[[c for c in stored.columns if c not in tail] + tail]
        arrow = _frame_to_arrow(stored)
        written: list[tuple[str, str, int]] = []  # (org, rel path, rows)
        claimed = [f"data/{table}/{org_dirname(org)}/{import_id}.parquet" for org in org_rows]
        self._claim(claimed, f"导入 {import_id}")
        try:
            for org, part in _split_by_org(arrow, org_rows):
                rows = part.num_rows
                rel = f"data/{table}/{org_dirname(org)}/{import_id}.parquet"
                _write_parquet_atomic(part, self.path / rel)
                written.append((org, rel, rows))
            _pause("after_rename")
            now = _now()
            with self._txn() as con:
                con.execute(
                    "INSERT INTO imports (id, tbl, file, sha256, rows, time, rejected, forced)"
                    " VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                    (
                        import_id,
                        table,
                        shown,
                        outcome.sha256,
                        int(result.rows),
                        now,
                        int(force),
                    ),
                )
                self._settle(con, claimed)
                for org, rel, rows in written:
                    con.execute(
                        "INSERT INTO parts (import_id, org, path, rows) VALUES (?, ?, ?, ?)",
                        (import_id, org, rel, rows),
                    )
                    con.execute(
                        """INSERT INTO institutions (org, name, stage, frozen, created, updated)
                           VALUES (?, ?, ?, 0, ?, ?)
                           ON CONFLICT (org) DO UPDATE SET updated = excluded.updated,
                             name = COALESCE(NULLIF(institutions.name, ''), excluded.name)""",
                        (org, org_names.get(org, ""), STAGE_UPLOADED, now, now),
                    )
        except BaseException:
            self._unlink(claimed)
            raise
        _pause("after_commit")
        outcome.rows = int(result.rows)
        outcome.org_rows = org_rows
        outcome.org_names = org_names
        outcome.import_id = import_id
        outcome.forced = force
        log.info(
            "导入 %s 文件 %s：导入编号 %d，%d 行，%d 个机构，用时 %.1f 秒%s",
            table,
            shown,
            import_id,
            outcome.rows,
            len(org_rows),
            time.monotonic() - started,
            "（强制重复导入）" if force else "",
        )
        return outcome

    def _record_rejection(self, outcome: ImportOutcome) -> ImportOutcome:
        outcome.rejected_kind = outcome.rejected_kind or "file"
        with self._txn() as con:
            cur = con.execute(
                "INSERT INTO imports (tbl, file, sha256, rows, time, rejected, forced)"
                " VALUES (?, ?, ?, 0, ?, ?, 0)",
                (outcome.table, outcome.file, outcome.sha256, _now(), outcome.rejected),
            )
            outcome.import_id = int(cur.lastrowid or 0)
        log.info("文件 %s（%s）未导入，导入编号 %s", outcome.file, outcome.table, outcome.import_id)
        return outcome

    def imported_files(self, include_cleared: bool = False) -> list[ImportRecord]:
        """The import history in import order, rejected files included.

        By default, imports whose rows were all deleted are left out, and rejected files are
        left out after a delete of everything in their table (``include_cleared`` keeps all).
        """
        with self._connect() as con:
            rows = con.execute(
                """SELECT m.*, (SELECT COALESCE(SUM(p.rows), 0) FROM parts p
                                WHERE p.import_id = m.id) AS current_rows
                   FROM imports m ORDER BY m.id"""
            ).fetchall()
        out = []
        for row in rows:
            record = ImportRecord(
                id=row["id"],
                table=row["tbl"],
                file=row["file"],
                sha256=row["sha256"],
                rows=row["rows"],
                time=row["time"],
                rejected=row["rejected"],
                forced=bool(row["forced"]),
                current_rows=int(row["current_rows"]),
            )
            if not include_cleared:
                if record.rejected is None and record.current_rows == 0 and record.rows > 0:
                    continue
                if row["cleared"]:
                    continue
            out.append(record)
        return out

    def load(self, table: str, orgs: Iterable[str] | None = None) -> pd.DataFrame:
        """The stored rows of ``table`` (all or the given institutions) in import order.

        Columns: the template columns (strings, NA when empty), then ``_file``, ``_row``,
        ``_import``, ``_org``.
        """
        _check_table(table)
        wanted = None if orgs is None else list(dict.fromkeys(orgs))
        with self._connect() as con:
            query = (
                "SELECT p.path FROM parts p JOIN imports m ON m.id = p.import_id WHERE m.tbl = ?"
            )
            params: list[Any] = [table]
            if wanted is not None:
                if not wanted:
                    return _empty_frame(table)
                query += f" AND p.org IN ({','.join('?' * len(wanted))})"
                params += wanted
            paths = [row[0] for row in con.execute(query + " ORDER BY p.import_id, p.org", params)]
        if not paths:
            return _empty_frame(table)
        tables = [self._read_parquet(rel) for rel in paths]
        combined = pa.concat_tables(tables, promote_options="default")
        if len(tables) > 1:
            combined = combined.sort_by([("_import", "ascending"), ("_row", "ascending")])
        return combined.to_pandas()

    def head(self, table: str, n: int = 100) -> pd.DataFrame:
        """The first ``n`` stored rows of ``table`` in import order (the apps' previews).

        Same columns as :meth:`load`, but reads only the first ``n`` rows of the first imports'
        files, so it stays fast however much data the workspace holds.
        """
        _check_table(table)
        with self._connect() as con:
            parts = con.execute(
                "SELECT p.import_id, p.path, p.rows FROM parts p JOIN imports m"
                " ON m.id = p.import_id WHERE m.tbl = ? ORDER BY p.import_id, p.org",
                (table,),
            ).fetchall()
        tables, total, last_import = [], 0, None
        for part in parts:
            if total >= n and part["import_id"] != last_import:
                break  # earlier imports already give n rows
            try:
                batches = pq.ParquetFile(self.path / part["path"]).iter_batches(batch_size=n)
            except (OSError, pa.ArrowException) as exc:
                raise self._broken_file(part["path"]) from exc
            first = next(batches, None)
            if first is not None:
                tables.append(pa.Table.from_batches([first]))
            total += int(part["rows"])
            last_import = part["import_id"]
        if not tables:
            return _empty_frame(table)
        combined = pa.concat_tables(tables, promote_options="default")
        combined = combined.sort_by([("_import", "ascending"), ("_row", "ascending")])
        return combined.slice(0, n).to_pandas()

    # ---------------------------------------------------------------- deletes and unfreezing

    def _target_orgs(
        self, con: sqlite3.Connection, orgs: Iterable[str] | None, everything: bool, what: str
    ) -> list[str]:
        known = [row[0] for row in con.execute("SELECT org FROM institutions ORDER BY org")]
        if everything:
            return known
        wanted = list(dict.fromkeys(orgs or []))
        if not wanted:
            raise CwdxError(
                f"请指定要{what}的机构（--org 机构代码），或选择全部机构（--everything）。"
            )
        missing = [org for org in wanted if org not in known]
        if missing:
            raise CwdxError(unknown_orgs_message(missing))
        return wanted

    def delete(
        self,
        table: str,
        orgs: Iterable[str] | None = None,
        everything: bool = False,
        force: bool = False,
    ) -> DeleteOutcome:
        """Delete the rows of ``table`` (``cases``, ``staff`` or ``all``) of some institutions.

        ``everything`` selects every institution. Refused (nothing deleted) when one of them is
        frozen, unless ``force`` (the platform's 强制清空), which also drops its check and
        results. An institution left with no rows disappears.
        """
        if table not in ("cases", "staff", "all"):
            raise CwdxError(f"未知的数据表 {table}，请选择 cases、staff 或 all。")
        tables = ["cases", "staff"] if table == "all" else [table]
        with self._write_lock("删除数据"), self._txn() as con:
            targets = self._target_orgs(con, orgs, everything, "删除数据")
            refusals = []
            for org in targets:
                stage, name = self._stage_of(con, org) or (STAGE_UPLOADED, "")
                message = self._refusal(org, name, stage, "delete")
                if message and not force:
                    refusals.append((org, name, stage))
            if refusals:
                raise CwdxError(self._frozen_refusal(refusals, "删除数据"))
            marks = ",".join("?" * len(tables))
            doomed: list[str] = []
            deleted: dict[str, dict[str, int]] = {}
            removed: list[str] = []
            now = _now()
            for org in targets:
                parts = con.execute(
                    f"""SELECT p.import_id, p.path, p.rows, m.tbl FROM parts p
                        JOIN imports m ON m.id = p.import_id
                        WHERE p.org = ? AND m.tbl IN ({marks})""",
                    [org, *tables],
                ).fetchall()
                per = deleted.setdefault(org, {t: 0 for t in tables})
                for part in parts:
                    per[part["tbl"]] += int(part["rows"])
                    doomed.append(part["path"])
                    con.execute(
                        "DELETE FROM parts WHERE import_id = ? AND org = ?",
                        (part["import_id"], org),
                    )
                left = con.execute("SELECT COUNT(*) FROM parts WHERE org = ?", (org,)).fetchone()[0]
                stage = (self._stage_of(con, org) or (STAGE_UPLOADED, ""))[0]
                if left == 0 or (stage in FROZEN_STAGES and parts):
                    doomed += self._drop_check_and_results(con, org)
                if left == 0:
                    con.execute("DELETE FROM institutions WHERE org = ?", (org,))
                    removed.append(org)
                elif parts:
                    con.execute(
                        "UPDATE institutions SET stage = ?, frozen = 0, updated = ? WHERE org = ?",
                        (STAGE_UPLOADED, now, org),
                    )
            if everything:
                con.execute(
                    f"UPDATE imports SET cleared = 1 WHERE tbl IN ({marks}) AND rejected IS NOT NULL",
                    tables,
                )
            self._discard(con, doomed, "删除数据")
        _pause("delete_after_commit")
        self._unlink(doomed)
        result = DeleteOutcome(rows=deleted, removed=removed)
        log.info(
            "删除 %s：%d 个机构，%d 行，移除机构 %d 个%s",
            table,
            len(targets),
            result.total,
            len(removed),
            "（全部）" if everything else "",
        )
        return result

    def _frozen_refusal(self, refusals: list[tuple[str, str, str]], what: str) -> str:
        if len(refusals) == 1:
            org, name, stage = refusals[0]
            action: Action = "delete" if what == "删除数据" else "check"
            return self._refusal(org, name, stage, action) or ""
        names = "、".join(f"{org}（{stage}）" for org, _, stage in refusals)
        orgs = [org for org, _, _ in refusals]
        return (
            f"机构 {names}的数据已冻结，不能{what}，本次操作未执行；请先「{UNFREEZE_CHECK}」"
            f"（命令行：{self._cli_unfreeze(orgs, 'check')}）后再操作。"
        )

    def _drop_results(self, con: sqlite3.Connection, org: str) -> list[str]:
        """Delete the results row of ``org``; returns its files to unlink."""
        row = con.execute("SELECT paths FROM results WHERE org = ?", (org,)).fetchone()
        con.execute("DELETE FROM results WHERE org = ?", (org,))
        return list(json.loads(row[0]).values()) if row else []

    def _drop_check_and_results(self, con: sqlite3.Connection, org: str) -> list[str]:
        """Delete the check and results rows of ``org``; returns their files to unlink."""
        doomed = self._drop_results(con, org)
        row = con.execute("SELECT findings_path FROM checks WHERE org = ?", (org,)).fetchone()
        if row:
            doomed.append(row[0])
        con.execute("DELETE FROM checks WHERE org = ?", (org,))
        return doomed

    def unfreeze(
        self,
        orgs: Iterable[str] | None = None,
        everything: bool = False,
        stage: Literal["check", "compute"] = "check",
    ) -> dict[str, tuple[str, str]]:
        """Unfreeze institutions; returns ``{org: (old stage, new stage)}`` for those changed.

        ``stage="check"`` (在上传阶段解冻数据检测): back to 已上传, check and results dropped.
        ``stage="compute"`` (解冻数据检测和计算): 已计算 back to 已检测-通过, results dropped;
        institutions not at 已计算 are left as they are. ``everything`` selects all institutions.
        """
        if stage not in ("check", "compute"):
            raise CwdxError(f"未知的解冻阶段 {stage}，请选择 check 或 compute。")
        changed: dict[str, tuple[str, str]] = {}
        doomed: list[str] = []
        with self._write_lock("解冻数据"), self._txn() as con:
            targets = self._target_orgs(con, orgs, everything, "解冻")
            now = _now()
            for org in targets:
                old = (self._stage_of(con, org) or (STAGE_UPLOADED, ""))[0]
                if stage == "check" and old != STAGE_UPLOADED:
                    doomed += self._drop_check_and_results(con, org)
                    new = STAGE_UPLOADED
                elif stage == "compute" and old == STAGE_COMPUTED:
                    doomed += self._drop_results(con, org)
                    new = STAGE_PASSED
                else:
                    continue
                con.execute(
                    "UPDATE institutions SET stage = ?, frozen = ?, updated = ? WHERE org = ?",
                    (new, int(new in FROZEN_STAGES), now, org),
                )
                changed[org] = (old, new)
            self._discard(con, doomed, "解冻数据")
        self._unlink(doomed)
        log.info("解冻（%s）：%d 个机构", stage, len(changed))
        return changed

    # ---------------------------------------------------------------- check and results storage

    def save_check(
        self,
        org: str,
        passed: bool,
        counts: dict[str, int],
        findings: pd.DataFrame,
        failed_rules: list[str],
    ) -> None:
        """Store an institution's check and move it to 已检测-通过 / 已检测-未通过 (frozen).

        Refused (:class:`CwdxError`) when the institution is frozen.
        """
        with self._write_lock("保存检测结果"):
            self.require_stage(org, "check")
            rel = f"checks/{org_dirname(org)}/findings-{secrets.token_hex(6)}.parquet"
            table = _any_frame_to_arrow(findings)
            new = STAGE_PASSED if passed else STAGE_FAILED
            self._claim([rel], f"保存检测结果 {org}")
            try:
                _write_parquet_atomic(table, self.path / rel)
                with self._txn() as con:
                    self._settle(con, [rel])
                    doomed = self._discard(
                        con, self._drop_check_and_results(con, org), "保存检测结果"
                    )
                    con.execute(
                        "INSERT INTO checks (org, passed, counts, findings_path, failed_rules, time)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            org,
                            int(bool(passed)),
                            json.dumps({k: int(v) for k, v in counts.items()}),
                            rel,
                            json.dumps(list(failed_rules)),
                            _now(),
                        ),
                    )
                    con.execute(
                        "UPDATE institutions SET stage = ?, frozen = 1, updated = ? WHERE org = ?",
                        (new, _now(), org),
                    )
            except BaseException:
                self._unlink([rel])
                raise
            self._unlink(doomed)
        log.info("保存检测结果：机构 %s，%s，发现 %d 条", org, new, len(findings))

    def load_check(self, org: str, *, findings: bool = True) -> CheckRecord | None:
        """The stored last check of ``org``, or ``None`` when it has not been checked
        (``findings=False``: the finding table is not read and ``findings`` is ``None``)."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM checks WHERE org = ?", (org,)).fetchone()
        if row is None:
            return None
        return CheckRecord(
            org=org,
            passed=bool(row["passed"]),
            counts=json.loads(row["counts"]),
            findings=self._read_parquet(row["findings_path"]).to_pandas() if findings else None,
            failed_rules=json.loads(row["failed_rules"]),
            time=row["time"],
        )

    def findings_batches(
        self, org: str, table: str, columns: list[str], batch_rows: int = 100_000
    ) -> Iterator[pa.Table]:
        """The findings of ``table`` in ``org``'s last check, a batch at a time (big feedback
        exports never hold them all): the ``columns`` the stored file has, in Arrow. Nothing
        when ``org`` has not been checked; a missing or damaged file is a :class:`CwdxError`."""
        with self._connect() as con:
            row = con.execute("SELECT findings_path FROM checks WHERE org = ?", (org,)).fetchone()
        if row is None:
            return
        try:
            source = pq.ParquetFile(self.path / row[0])
            names = [c for c in columns if c in source.schema_arrow.names]
            for batch in source.iter_batches(batch_rows, columns=[*names, "table"]):
                part = pa.Table.from_batches([batch])
                yield part.filter(pc.equal(part["table"], table)).select(names)
        except (OSError, pa.ArrowException) as exc:
            raise self._broken_file(row[0]) from exc

    def save_results(self, org: str, tables: dict[str, pd.DataFrame]) -> None:
        """Store an institution's computed tables and move it to 已计算 (frozen).

        Allowed only from 已检测-通过 (:class:`CwdxError` otherwise).
        """
        with self._write_lock("保存计算结果"):
            self.require_stage(org, "compute")
            token = secrets.token_hex(6)
            paths = {
                name: f"results/{org_dirname(org)}/{token}-{index}.parquet"
                for index, name in enumerate(tables)
            }
            self._claim(paths.values(), f"保存计算结果 {org}")
            try:
                for name, frame in tables.items():
                    _write_parquet_atomic(_any_frame_to_arrow(frame), self.path / paths[name])
                with self._txn() as con:
                    self._settle(con, paths.values())
                    con.execute(
                        "INSERT OR REPLACE INTO results (org, paths, time) VALUES (?, ?, ?)",
                        (org, json.dumps(paths, ensure_ascii=False), _now()),
                    )
                    con.execute(
                        "UPDATE institutions SET stage = ?, frozen = 1, updated = ? WHERE org = ?",
                        (STAGE_COMPUTED, _now(), org),
                    )
            except BaseException:
                self._unlink(paths.values())
                raise
        log.info("保存计算结果：机构 %s，%d 张表", org, len(tables))

    def load_results(self, org: str) -> dict[str, pd.DataFrame]:
        """The stored computed tables of ``org`` by name (empty when not computed)."""
        with self._connect() as con:
            row = con.execute("SELECT paths FROM results WHERE org = ?", (org,)).fetchone()
        if row is None:
            return {}
        return {
            name: self._read_parquet(rel).to_pandas() for name, rel in json.loads(row[0]).items()
        }

    # ---------------------------------------------------------------- tasks

    def _fail_dead_tasks(self) -> None:
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, pid, details FROM tasks WHERE state IN (?, ?)",
                (TASK_RUNNING, TASK_QUEUED),
            ).fetchall()
            for row in rows:
                if _pid_alive(int(row["pid"])):
                    continue
                details = json.loads(row["details"] or "{}")
                details["error"] = "任务所在进程已意外终止，任务未完成。"
                con.execute(
                    "UPDATE tasks SET state = ?, end = ?, details = ? WHERE id = ?",
                    (TASK_FAILED, _now(), json.dumps(details, ensure_ascii=False), row["id"]),
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
            now = _now()
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
                (state, _now(), json.dumps(details, ensure_ascii=False, default=str), task_id),
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


# --------------------------------------------------------------------------------------------


def _after_imported(outcomes: Sequence[ImportOutcome], error: CwdxError) -> CwdxError:
    """``error`` preceded by the files already imported, so the user knows what to redo."""
    done = [o.file for o in outcomes if o.ok]
    if not done:
        return error
    return CwdxError(f"已导入文件 {'、'.join(done)}；{error.message}", error.exit_code)


def _check_table(table: str) -> None:
    if table not in ("cases", "staff"):
        raise CwdxError(
            f"未知的数据表 {table}，请选择 cases（病案首页数据）或 staff（申报人员信息）。"
        )


def _empty_frame(table: str) -> pd.DataFrame:
    columns = [spec.name for spec in load_reference().columns(table)]  # type: ignore[arg-type]
    return pd.DataFrame(
        {
            c: pd.Series([], dtype="int64" if c in _BOOKKEEPING_INT else "str")
            for c in [*columns, *BOOKKEEPING_COLUMNS]
        }
    )


__all__ = [
    "STAGES",
    "STAGE_COMPUTED",
    "STAGE_FAILED",
    "STAGE_PASSED",
    "STAGE_UPLOADED",
    "UNKNOWN_ORG",
    "CheckRecord",
    "DeleteOutcome",
    "ImportOutcome",
    "ImportRecord",
    "InstitutionInfo",
    "TaskHandle",
    "TaskRecord",
    "Workspace",
    "file_sha256",
    "institution_label",
    "org_dirname",
    "unknown_orgs_message",
]
