"""A CSV file renamed to .xlsx."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT

FILE_NAME = "其实是文本.xlsx"
BOMB = False
EXPECTED = (
    f"文件“{FILE_NAME}”不是 Excel 工作簿（可能是其他类型的文件改了扩展名），"
    f"请在 Excel 中打开确认后“另存为”Excel 工作簿（*.xlsx）。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder``."""
    path = folder / FILE_NAME
    path.write_text("组织机构代码,医疗机构名称\nH001,测试医院\n", encoding="utf-8")
    return path
