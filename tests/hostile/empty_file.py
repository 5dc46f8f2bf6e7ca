"""A 0-byte .xlsx (an interrupted download)."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT

FILE_NAME = "空文件.xlsx"
BOMB = False
EXPECTED = f"文件“{FILE_NAME}”是空文件（0 字节），请重新导出或复制完整的文件后再导入。{FIX_HINT}"


def build(folder: Path) -> Path:
    """Write the file into ``folder``."""
    path = folder / FILE_NAME
    path.write_bytes(b"")
    return path
