"""The one exception type whose message is meant for users."""

from __future__ import annotations

import os
from pathlib import Path


class CwdxError(Exception):
    """An expected failure with one plain Chinese sentence saying what is wrong and what to do.

    The CLI prints ``str(error)`` and exits with :attr:`exit_code`; the apps show it in the page.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


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


def make_output_dir(path: str | os.PathLike[str]) -> Path:
    """Create the output folder ``path`` (with parents); a failure is one Chinese sentence."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CwdxError(
            f"无法创建输出文件夹 {folder}（{os_error_text(exc)}），请换一个可写的文件夹。"
        ) from exc
    return folder
