"""A cell at XFD5000: within the row limit, but 16,384 columns wide (3.1 GB to decode)."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT
from hostile.xlsx_parts import header_cells, number_cell, sheet_xml, write_xlsx_parts

FILE_NAME = "宽表.xlsx"
BOMB = True
EXPECTED = (
    f"文件“{FILE_NAME}”第一个Sheet“Sheet1”的数据区域宽到第XFD列（16384列），"
    "病案首页和申报人员数据最多只有200列，未读取；请删除表样以外的列和远处零散的单元格"
    f"（在 Excel 中按 Ctrl+End 可找到最后一个单元格）后另存。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder`` (no ``<dimension>``: the scan must find the cell)."""
    rows = [(1, header_cells()), (5000, number_cell("XFD5000", "1"))]
    return write_xlsx_parts(folder / FILE_NAME, sheet_xml(rows))
