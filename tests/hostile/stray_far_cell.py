"""One stray cell at GR1048576: 200 columns (allowed) × 1,048,576 rows of nothing (6.7 GB)."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT
from hostile.xlsx_parts import header_cells, number_cell, sheet_xml, write_xlsx_parts

FILE_NAME = "远处的单元格.xlsx"
BOMB = True
EXPECTED = (
    f"文件“{FILE_NAME}”第一个Sheet“Sheet1”的数据区域大到第1048576行、第GR列，但只有4个单元格，"
    "未读取；请删除数据以外远处零散的单元格（在 Excel 中按 Ctrl+End 可找到最后一个单元格）后另存。"
    f"{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder``."""
    rows = [(1, header_cells()), (1048576, number_cell("GR1048576", "1"))]
    return write_xlsx_parts(folder / FILE_NAME, sheet_xml(rows, dimension="A1:GR1048576"))
