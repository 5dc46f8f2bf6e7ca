"""A cell whose inline text is 3 MB long (Excel cells hold at most 32,767 characters); the file
compresses to a few KB but below the expansion limit, so only the text-run check stops it."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT
from hostile.xlsx_parts import header_cells, sheet_xml, write_xlsx_parts

FILE_NAME = "超长单元格.xlsx"
BOMB = False
EXPECTED = (
    f"文件“{FILE_NAME}”中有超过 Excel 单元格上限（32767个字符）的超长内容，不是正常的数据文件，"
    f"未读取；请在 Excel 中打开确认后另存为 .xlsx。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder``."""
    cell = '<c r="A2" t="inlineStr"><is><t>' + "甲" * 1_000_000 + "</t></is></c>"
    return write_xlsx_parts(folder / FILE_NAME, sheet_xml([(1, header_cells()), (2, cell)]))
