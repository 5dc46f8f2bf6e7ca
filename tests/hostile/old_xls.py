"""An Excel 97-2003 workbook (OLE2 compound file) renamed to .xlsx."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT
from hostile.encrypted import CFB_MAGIC, _directory_entry

FILE_NAME = "旧版表格.xlsx"
BOMB = False
EXPECTED = (
    f"文件“{FILE_NAME}”是旧版 Excel 97-2003 工作簿（.xls）改成了 .xlsx 扩展名，"
    f"请在 Excel 中打开后“另存为”Excel 工作簿（*.xlsx）。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder``."""
    header = (CFB_MAGIC + b"\0" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00").ljust(512, b"\xff")
    directory = _directory_entry("Root Entry") + _directory_entry("Workbook")
    path = folder / FILE_NAME
    path.write_bytes(header + directory.ljust(512, b"\0") + b"\0" * 4096)
    return path
