"""A folder given where a file is expected (named like a workbook, to get past the suffix)."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT

FILE_NAME = "病案首页.xlsx"
BOMB = False
EXPECTED = (
    f"“{FILE_NAME}”是文件夹，不是文件，请选择文件夹中的 .xlsx 文件（可一次选择多个）。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Make the folder inside ``folder``."""
    path = folder / FILE_NAME
    path.mkdir()
    (path / "说明.txt").write_text("数据在这里", encoding="utf-8")
    return path
