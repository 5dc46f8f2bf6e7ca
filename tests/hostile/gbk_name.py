"""A broken workbook whose name is GBK bytes (a zip made on Chinese Windows unpacked on Linux):
Python sees surrogate escapes; the message must still be one printable sentence."""

from __future__ import annotations

import os
from pathlib import Path

from hostile import FIX_HINT

#: ``病案首页.xlsx`` in GBK, as Linux hands it to Python.
FILE_NAME = os.fsdecode("病案首页".encode("gbk") + b".xlsx")
#: How the name is shown: each undecodable byte as U+FFFD.
SHOWN_NAME = "病案首页".encode("gbk").decode("utf-8", errors="replace") + ".xlsx"
BOMB = False
EXPECTED = (
    f"文件“{SHOWN_NAME}”不是 Excel 工作簿（可能是其他类型的文件改了扩展名），"
    f"请在 Excel 中打开确认后“另存为”Excel 工作簿（*.xlsx）。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder``."""
    path = folder / FILE_NAME
    path.write_bytes(b"not a workbook")
    return path
