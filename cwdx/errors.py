"""The one exception type whose message is meant for users, with its kind and next step."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import NamedTuple


class ErrorKind(Enum):
    """What sort of failure a :class:`CwdxError` is; the command line's exit code derives
    from it (:attr:`CwdxError.exit_code`)."""

    #: the operation is not allowed now (a frozen institution, nothing to compute)
    REFUSED = "refused"
    #: refused because some institution failed its data check (exit code 1)
    CHECK_FAILED = "check failed"
    #: another write runs in the same workspace
    BUSY = "busy"
    #: a file, folder, workspace or institution does not exist
    NOT_FOUND = "not found"
    #: the user's input (a file, an option, a folder) cannot be used
    BAD_INPUT = "bad input"
    #: stored data is missing or damaged
    DAMAGED = "damaged"
    #: the disk is full
    DISK_FULL = "disk full"
    #: the disk or folder cannot be written
    READ_ONLY = "read-only"
    #: a disk or system error while reading or writing
    IO = "io"


#: The documented exit codes (README, docs/DECISIONS.md), shared by every command.
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class Hint(NamedTuple):
    """The next step a refusal suggests, as data: each front end renders it its own way (the
    command line as a command, the apps as a button).

    ``action`` is ``"unfreeze"`` (``orgs`` at ``stage`` ``check`` or ``compute``) or
    ``"force_import"`` (import the same content again on purpose). A named tuple, not a
    dataclass: ``dataclasses`` would add about 10 ms to every ``cwdx`` start.
    """

    action: str
    orgs: tuple[str, ...] = ()
    stage: str = ""


class CwdxError(Exception):
    """An expected failure with one plain Chinese sentence saying what is wrong and what to do.

    ``kind`` says what sort of failure it is (the command line's exit code derives from it);
    ``hint`` is the suggested next step, if any. The message never holds a command line: the
    CLI renders the hint as one, the apps as a button.
    """

    def __init__(
        self, message: str, kind: ErrorKind = ErrorKind.BAD_INPUT, hint: Hint | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.hint = hint

    @property
    def exit_code(self) -> int:
        """The command line's exit status: 1 for a failed check, 2 for everything else."""
        return EXIT_CHECK_FAILED if self.kind is ErrorKind.CHECK_FAILED else EXIT_USAGE


#: Chinese wording of the operating-system errors users meet when writing files.
_OS_ERRORS = {
    "ENOENT": "路径不存在",
    "EACCES": "没有权限，或文件正被其他程序（如 Excel）打开",
    "EPERM": "没有权限",
    "EEXIST": "已有同名文件",
    "ENOTDIR": "路径中有一部分是文件而不是文件夹",
    "EISDIR": "这是一个文件夹",
    "ENOSPC": "磁盘空间不足",
    "EDQUOT": "超出磁盘配额",
    "EROFS": "磁盘为只读",
    "ENAMETOOLONG": "文件名或路径太长",
    "EBUSY": "文件正被占用",
}


def os_error_text(exc: OSError) -> str:
    """What went wrong in a file operation, in Chinese (``strerror`` is English on most
    systems): e.g. ``磁盘空间不足``; unknown errors as ``系统错误（编号 5）``."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    if name in _OS_ERRORS:
        return _OS_ERRORS[name]
    return f"系统错误（编号 {exc.errno}）" if exc.errno else "系统错误"


def os_error_kind(exc: OSError) -> ErrorKind:
    """The :class:`ErrorKind` of a failed file operation."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ErrorKind.DISK_FULL
    if exc.errno == errno.EROFS:
        return ErrorKind.READ_ONLY
    if exc.errno == errno.ENOENT:
        return ErrorKind.NOT_FOUND
    return ErrorKind.IO


def make_output_dir(path: str | os.PathLike[str]) -> Path:
    """Create the output folder ``path`` (with parents); a failure is one Chinese sentence."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CwdxError(
            f"无法创建输出文件夹 {folder}（{os_error_text(exc)}），请换一个可写的文件夹。",
            os_error_kind(exc),
        ) from exc
    return folder
