"""The :class:`Workspace` facade: opening (or creating) a workspace folder; the operations
come from :mod:`~cwdx.workspace.imports`, :mod:`~cwdx.workspace.stages`,
:mod:`~cwdx.workspace.tasks` and :mod:`~cwdx.workspace.accounts`."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cwdx.errors import CwdxError, ErrorKind, os_error_kind, os_error_text
from cwdx.log import attach_log_file, default_log_path
from cwdx.workspace.accounts import Accounts
from cwdx.workspace.db import DB_NAME
from cwdx.workspace.imports import Imports
from cwdx.workspace.stages import Stages
from cwdx.workspace.tasks import Tasks


class Workspace(Imports, Stages, Tasks, Accounts):
    """One cwdx workspace folder (see the module docstring for its layout).

    ``Workspace(path)`` opens the folder, creating it when ``create`` is true. Opening removes
    the files of operations that did not finish and marks tasks of dead processes as failed; a
    folder with data files but a missing, empty or damaged database is refused
    (:class:`CwdxError`) and left untouched. All methods are safe to call from several processes
    at once: writes take an exclusive lock without waiting and are refused with a
    :class:`CwdxError` while another write runs; reads never wait for writes. On a read-only
    disk or folder (:attr:`read_only`) reads work and writes are refused.

    ``piece=True`` opens it for a stage's piece running in a worker (:mod:`cwdx.fanout`),
    which only reads: the repairs on opening (failing tasks of processes that look dead, which
    a worker on another machine cannot tell, and removing unfinished files) are left to the
    calling process.
    """

    def __init__(
        self, path: str | os.PathLike[str], create: bool = True, *, piece: bool = False
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self.db_path = self.path / DB_NAME
        self._key = str(self.path)
        if not self.db_path.exists():
            if self._has_data_files():
                raise self._damaged("数据库文件 cwdx.sqlite 缺失")
            if not create:
                raise CwdxError(
                    f"工作区 {self.path} 不存在或不是 cwdx 工作区，请检查 -w 指定的文件夹，"
                    "或先用 import 导入数据以创建工作区。",
                    ErrorKind.NOT_FOUND,
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
                    f"无法创建工作区文件夹 {self.path}（{os_error_text(exc)}），请检查路径和权限。",
                    os_error_kind(exc),
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
        if not self.read_only and not piece:
            self._fail_dead_tasks()
            with contextlib.suppress(CwdxError), self._write_lock("打开工作区", cleanup=True):
                pass

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
