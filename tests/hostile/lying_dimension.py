"""``<dimension ref="A1:C1">`` but a cell at XFD1048576 inside row 1's element: only the cell
references tell the truth."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT
from hostile.xlsx_parts import header_cells, number_cell, sheet_xml, write_xlsx_parts

FILE_NAME = "表头范围不实.xlsx"
BOMB = True
EXPECTED = (
    f"文件“{FILE_NAME}”第一个Sheet“Sheet1”的数据区域宽到第XFD列（16384列），"
    "病案首页和申报人员数据最多只有200列，未读取；请删除表样以外的列和远处零散的单元格"
    f"（在 Excel 中按 Ctrl+End 可找到最后一个单元格）后另存。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder``."""
    rows = [(1, header_cells() + number_cell("XFD1048576", "1"))]
    return write_xlsx_parts(folder / FILE_NAME, sheet_xml(rows, dimension="A1:C1"))
