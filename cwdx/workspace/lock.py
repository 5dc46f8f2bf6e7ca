"""The write lock and the clean-up of unfinished operations.

Writes are serialised across processes by an exclusive ``flock`` on ``WS/.write.lock`` taken
without waiting (shared by every :class:`~cwdx.workspace.Workspace` object of one process for
the same folder). Before writing, an operation records its files in ``pending`` (:meth:`_claim`);
the writer after a dead one removes the ``pending`` files no committed row references.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cwdx.errors import CwdxError, ErrorKind
from cwdx.log import get_logger
from cwdx.workspace import files
from cwdx.workspace.db import DATA_DIRS, Database, now_text

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

if TYPE_CHECKING:
    import pyarrow as pa

log = get_logger("workspace")

LOCK_NAME = ".write.lock"


def pid_alive(pid: int) -> bool:
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


def try_lock_file(fd: int) -> bool:
    """Take an exclusive lock on the open file ``fd`` without waiting (``False`` when another
    open file holds it): the write lock's mechanism, also used for the dispatcher's lock."""
    return _try_lock(fd)


def unlock_file(fd: int) -> None:
    """Give back a lock taken with :func:`try_lock_file`."""
    _unlock(fd)


def _read_marker(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096)


def _write_marker(fd: int, data: bytes) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)


@dataclass
class _LockState:
    fd: int
    depth: int
    owner: int
    operation: str
    #: every thread of this process may enter (the dispatcher's tasks, see :meth:`sharing`)
    shared: bool = False


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


class WriteLock(Database):
    """The write lock and the bookkeeping of files being written or dropped (mixed into
    :class:`~cwdx.workspace.Workspace`)."""

    _key: str

    @contextlib.contextmanager
    def _write_lock(
        self, operation: str, cleanup: bool = False, shared: bool = False
    ) -> Iterator[None]:
        """Hold the workspace's exclusive write lock; refuse at once when another write runs.

        Re-entrant within one thread (within the process while a ``shared`` holder holds it).
        When the previous holder died mid-operation (its marker is
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
                if state.owner != me and not state.shared:
                    raise CwdxError(
                        f"工作区正在进行另一项写入操作（{state.operation}），为避免数据损坏，"
                        "本次操作未执行；请等其完成后再试。",
                        ErrorKind.BUSY,
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
                        "本次操作未执行；请等其完成后再试。",
                        ErrorKind.BUSY,
                    ) from None
                leftover = _read_marker(fd)
                marker = json.dumps(
                    {"pid": os.getpid(), "operation": operation, "since": now_text()},
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
                state = _LockState(fd=fd, depth=1, owner=me, operation=operation, shared=shared)
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
            if state.depth == 0:
                self.close()  # the connections kept during the write: the log goes to the file

    def _keeps_connections(self) -> bool:
        """Connections are kept while this process holds the write lock (see ``_connect``)."""
        with _registry_mutex:
            return self._key in _lock_registry

    def writing(self, operation: str) -> contextlib.AbstractContextManager[None]:
        """Hold the write lock for a whole operation made of several writes (a check, a compute):
        imports, deletes and other writes, from this or any other process or thread, are
        refused in Chinese until the block ends; refused itself when another write runs.

        ``operation`` names it in those refusals (``数据检测``). Re-entrant within one thread.
        """
        return self._write_lock(operation)

    def sharing(self, operation: str) -> contextlib.AbstractContextManager[None]:
        """Hold the write lock for this whole process: while the block runs, writes from other
        processes are refused, and every thread of this one may write (the dispatcher runs
        tasks on different institutions side by side in threads, and keeps them apart itself).
        Refused (:class:`CwdxError`) when another process writes."""
        return self._write_lock(operation, shared=True)

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
        now = now_text()
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
            if rel in refs or parts[0] not in DATA_DIRS or ".." in parts:
                continue
            with contextlib.suppress(OSError):
                (self.path / rel).unlink()
                removed += 1
        for top in DATA_DIRS:
            root = self.path / top
            for dirpath, dirnames, filenames in os.walk(root, topdown=False):
                for name in filenames:
                    if name.startswith(".") and ".tmp-" in name:  # write_parquet_atomic's
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
            "请解冻并删除相关机构的数据后重新导入。",
            ErrorKind.DAMAGED,
        )

    def _read_parquet(self, rel: str) -> pa.Table:
        """Read one stored file; a missing or damaged file is a :class:`CwdxError`."""
        # pyarrow costs ~0.15 s at start-up: only the data paths import it (``cwdx status`` doesn't)
        import pyarrow as pa

        try:
            return files.read_parquet(self.path / rel)
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
