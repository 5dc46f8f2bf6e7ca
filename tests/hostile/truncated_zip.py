"""A real workbook cut in half (a copy that did not finish)."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT
from hostile.xlsx_parts import header_cells, sheet_xml, write_xlsx_parts

FILE_NAME = "没复制完.xlsx"
BOMB = False
EXPECTED = (
    f"文件“{FILE_NAME}”已损坏或不完整（可能没有下载或复制完），"
    f"请重新获取完整的文件，在 Excel 中能正常打开后再导入。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder``."""
    path = write_xlsx_parts(folder / FILE_NAME, sheet_xml([(1, header_cells())]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
