"""200 cells without an ``r`` reference in row 1,048,576: the decoder places them one after the
other in that row (200 columns × 1,048,576 rows, 6.7 GB); no cell reference tells."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT
from hostile.xlsx_parts import header_cells, sheet_xml, write_xlsx_parts

FILE_NAME = "没有单元格地址.xlsx"
BOMB = True
EXPECTED = (
    f"文件“{FILE_NAME}”第一个Sheet“Sheet1”的数据区域大到第1048576行、第GR列，但只有203个单元格，"
    "未读取；请删除数据以外远处零散的单元格（在 Excel 中按 Ctrl+End 可找到最后一个单元格）后另存。"
    f"{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder`` (with an honest-looking small dimension)."""
    rows = [(1, header_cells()), (1048576, "<c><v>1</v></c>" * 200)]
    return write_xlsx_parts(folder / FILE_NAME, sheet_xml(rows, dimension="A1:C1"))
