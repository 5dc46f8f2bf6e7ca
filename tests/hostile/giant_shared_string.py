"""One 1.5 GB shared string, deflated to about 1.5 MB (the decoder aborts on it)."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT
from hostile.xlsx_parts import (
    base_entries,
    header_cells,
    repeated_entry,
    sheet_xml,
    write_raw_zip,
)

FILE_NAME = "超长文字.xlsx"
BOMB = True
BLOCK = b"a" * (16 * 1024 * 1024)
TIMES = 96  # 1.5 GiB
EXPECTED = (
    f"文件“{FILE_NAME}”解压后的内容远大于病案首页和申报人员数据可能的大小（压缩比异常），"
    f"疑似异常文件，未读取；请在 Excel 中打开确认后另存为 .xlsx。{FIX_HINT}"
)


def build(folder: Path) -> Path:
    """Write the file into ``folder`` (the string is never built in memory)."""
    rows = [(1, header_cells() + '<c r="D1" t="s"><v>0</v></c>')]
    shared = repeated_entry(
        "xl/sharedStrings.xml",
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'count="1" uniqueCount="1"><si><t>',
        BLOCK,
        TIMES,
        b"</t></si></sst>",
    )
    return write_raw_zip(folder / FILE_NAME, [*base_entries(sheet_xml(rows)), shared])
