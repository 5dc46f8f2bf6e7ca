"""A zip archive of a CSV, renamed to .xlsx."""

from __future__ import annotations

import zipfile
from pathlib import Path

from hostile import FIX_HINT

FILE_NAME = "压缩包.xlsx"
BOMB = False
EXPECTED = (
    f"文件“{FILE_NAME}”是压缩包，但不是 Excel 工作簿（找不到工作表），"
    f"请在 Excel 中打开确认后“另存为”Excel 工作簿（*.xlsx）。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder``."""
    path = folder / FILE_NAME
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as book:
        book.writestr("病案首页.csv", "组织机构代码,医疗机构名称\nH001,测试医院\n")
    return path
