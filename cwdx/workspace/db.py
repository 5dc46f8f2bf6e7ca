"""The workspace database: schema and its upgrades, connections, transactions, and the
Chinese refusals for a damaged database, a full or a read-only disk."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cwdx.errors import CwdxError, ErrorKind, os_error_kind
from cwdx.log import get_logger
from cwdx.workspace.files import pause

log = get_logger("workspace")

DB_NAME = "cwdx.sqlite"
#: 1: the first schema; 2: ``pending`` (files of unfinished operations); 3: the error and
#: warning totals of a check (``checks.errors``/``checks.warnings``); 4: the parameters of a
#: task (``tasks.params``), for tasks queued for the dispatcher (:mod:`cwdx.tasks`);
#: 5: ``accounts`` (the 平台版's users, :mod:`cwdx.workspace.accounts`).
_SCHEMA_VERSION = 5
#: Where stored files live; ``pending`` paths outside them are never removed.
DATA_DIRS = ("data", "checks", "results")

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
    time TEXT NOT NULL,
    errors INTEGER NOT NULL DEFAULT 0,
    warnings INTEGER NOT NULL DEFAULT 0
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
    details TEXT NOT NULL DEFAULT '{}',
    params TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state);
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    changed TEXT NOT NULL
);
"""


#: Rule ids reporting errors, for upgrading checks stored before version 3 (which kept only
#: the counts per rule): the catalogue's error rules are E01–E16; W.. and X.. are warnings.
_ERROR_PREFIX = "E"


def _upgrade_to_3(con: sqlite3.Connection) -> None:
    """Add the error and warning totals to a version 1 or 2 ``checks`` table, summed from the
    stored counts per rule."""
    import json

    columns = {row[1] for row in con.execute("PRAGMA table_info(checks)")}
    if "errors" in columns:
        return
    con.execute("ALTER TABLE checks ADD COLUMN errors INTEGER NOT NULL DEFAULT 0")
    con.execute("ALTER TABLE checks ADD COLUMN warnings INTEGER NOT NULL DEFAULT 0")
    for org, counts in con.execute("SELECT org, counts FROM checks").fetchall():
        per_rule = {str(k): int(v) for k, v in json.loads(counts or "{}").items()}
        errors = sum(n for rid, n in per_rule.items() if rid.startswith(_ERROR_PREFIX))
        warnings = sum(n for rid, n in per_rule.items() if not rid.startswith(_ERROR_PREFIX))
        con.execute(
            "UPDATE checks SET errors = ?, warnings = ? WHERE org = ?", (errors, warnings, org)
        )


def _upgrade_to_4(con: sqlite3.Connection) -> None:
    """Add the parameters column to a version 1–3 ``tasks`` table (``{}`` for old tasks)."""
    columns = {row[1] for row in con.execute("PRAGMA table_info(tasks)")}
    if columns and "params" not in columns:  # no table yet: the schema creates it
        con.execute("ALTER TABLE tasks ADD COLUMN params TEXT NOT NULL DEFAULT '{}'")


def _file_id(path: Path) -> tuple[int, int] | None:
    """The device and inode of a file (``None`` when it does not exist)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _close_all(cons: list[sqlite3.Connection]) -> None:
    while cons:
        with contextlib.suppress(sqlite3.Error):
            cons.pop().close()


def now_text() -> str:
    """The local time as stored in the database (``2026-12-02 08:30:00``)."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


class Database:
    """The SQLite side of a workspace (mixed into :class:`~cwdx.workspace.Workspace`)."""

    path: Path
    db_path: Path
    read_only: bool
    #: the log file this process writes (in the workspace unless it is read-only)
    log_path: Path

    def _has_data_files(self) -> bool:
        """Whether the folder holds any stored file (data, checks or results)."""
        for top in DATA_DIRS:
            for _dirpath, _dirnames, filenames in os.walk(self.path / top):
                if filenames:
                    return True
        return False

    def _damaged(self, what: str) -> CwdxError:
        log.error("工作区已损坏：%s", what)
        return CwdxError(
            f"工作区 {self.path} 已损坏（{what}），为避免丢失数据，本次未做任何改动；"
            "请从备份中恢复整个工作区文件夹后重试，或另选一个新的文件夹作为工作区重新导入。",
            ErrorKind.DAMAGED,
        )

    def _read_only_error(self, operation: str) -> CwdxError:
        return CwdxError(
            f"工作区 {self.path} 所在的磁盘或文件夹为只读，不能{operation}；查看状态和导出到其他"
            "文件夹不受影响，如需修改请把工作区复制到可写的位置，或取消只读后重试。",
            ErrorKind.READ_ONLY,
        )

    def _storage_error(self, exc: OSError | sqlite3.Error, operation: str) -> CwdxError | None:
        """The Chinese refusal for a full or read-only disk, else ``None``."""

        if isinstance(exc, sqlite3.Error):
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            full, read_only = code == 13, code == 8  # SQLITE_FULL, SQLITE_READONLY
            # SQLITE_IOERR: e.g. the WAL index could not grow on a full disk
            full = full or (code == 10 and self._disk_nearly_full())
        else:
            kind = os_error_kind(exc)
            full, read_only = kind is ErrorKind.DISK_FULL, kind is ErrorKind.READ_ONLY
        if read_only:
            return self._read_only_error(operation)
        if full:
            log.error("%s：磁盘空间不足", operation)
            return CwdxError(
                f"工作区 {self.path} 所在的磁盘空间不足，{operation}未完成，工作区中已有的数据"
                "不受影响；请清理磁盘空间后重试。",
                ErrorKind.DISK_FULL,
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
                "请检查磁盘（空间、连接、权限）后重试。",
                ErrorKind.IO,
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
                con.execute("BEGIN IMMEDIATE")
                if version >= 1:  # the upgrades first: the schema's new indexes need the columns
                    _upgrade_to_3(con)
                    _upgrade_to_4(con)
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                con.execute("COMMIT")
        except sqlite3.Error as exc:
            if con.in_transaction:
                con.rollback()
            raise self._database_error(exc) or self._damaged("数据库文件无法读取") from exc
        finally:
            con.close()

    def __getstate__(self) -> dict[str, object]:
        """Pickled without this process's open connections (a piece reopens its own)."""
        state = dict(self.__dict__)
        state.pop("_idle", None)
        return state

    def _idle_connections(self) -> list[sqlite3.Connection]:
        """This thread's idle connections to the database (reused by :meth:`_connect`)."""
        pid, idle = self.__dict__.get("_idle") or (0, None)
        if idle is None or pid != os.getpid():  # new, or inherited through fork: not ours
            idle = threading.local()
            self.__dict__["_idle"] = (os.getpid(), idle)
        if not hasattr(idle, "cons"):
            idle.cons, idle.file = [], None
        file = _file_id(self.db_path)
        if file is None or file != idle.file:  # the database was replaced or removed
            _close_all(idle.cons)
            idle.file = file
        return idle.cons

    def _keeps_connections(self) -> bool:
        """Whether :meth:`_connect` keeps connections for reuse (while a write runs)."""
        return False

    def close(self) -> None:
        """Close this thread's idle database connections (they reopen when needed)."""
        pid, idle = self.__dict__.get("_idle") or (0, None)
        cons = getattr(idle, "cons", None) if pid == os.getpid() else None
        if cons:
            _close_all(cons)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation; writes run in ``BEGIN IMMEDIATE`` via :meth:`_txn`.

        A damaged database, a full or a read-only disk become one Chinese :class:`CwdxError`.
        While this process holds the workspace's write lock (:meth:`_keeps_connections`), the
        connections are kept open per thread and reused: opening one and closing the last one
        (which checkpoints the write-ahead log and syncs the file) cost milliseconds each, and
        a stage makes hundreds of small operations. A nested operation gets its own connection.
        Otherwise each operation closes its connection, so between writes the database is one
        file (a copy or a restored backup of ``cwdx.sqlite`` alone is complete).
        """
        idle = self._idle_connections()
        if idle and not self._keeps_connections():
            _close_all(idle)  # kept by a write that has ended
        con = idle.pop() if idle else None
        try:
            if con is None:
                con = self._open_db()
                con.row_factory = sqlite3.Row
                con.execute("PRAGMA busy_timeout = 30000")
                con.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            if con is not None:
                con.close()
            error = self._database_error(exc)
            if error is None:
                raise
            raise error from exc
        reusable = False
        try:
            yield con
            reusable = not con.in_transaction and self._keeps_connections()
        except sqlite3.Error as exc:
            error = self._database_error(exc)
            if error is None:
                raise
            raise error from exc
        finally:
            if reusable:
                idle.append(con)
            else:
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
            pause("before_commit")
            con.execute("COMMIT")
