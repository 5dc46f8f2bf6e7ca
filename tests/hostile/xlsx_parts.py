"""Write a minimal .xlsx by hand (zipfile), so hostile parts can be put in place exactly."""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)


def column_letters(number: int) -> str:
    """Excel column letters of a 1-based column number (``28`` → ``AB``)."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def text_cell(ref: str, text: str) -> str:
    """An inline-string cell."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def number_cell(ref: str, value: str) -> str:
    """A number cell holding ``value`` as written."""
    return f'<c r="{ref}"><v>{value}</v></c>'


def sheet_xml(rows: Iterable[tuple[int, str]], dimension: str | None = None) -> str:
    """A worksheet part: ``rows`` are (row number, cells XML)."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    body = "".join(f'<row r="{number}">{cells}</row>' for number, cells in rows)
    return f"{_SHEET_HEAD}{dim}<sheetData>{body}</sheetData></worksheet>"


def shared_strings_xml(count: int = 0) -> str:
    """An empty shared strings part (a hostile one is streamed by the builder itself)."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{count}" uniqueCount="{count}"></sst>'
    )


def header_cells() -> str:
    """Row 1 of a 病案首页 file: its first three template columns (A1:C1)."""
    return "".join(
        text_cell(ref, name)
        for ref, name in (("A1", "组织机构代码"), ("B1", "医疗机构名称"), ("C1", "病案号"))
    )


def write_xlsx_parts(
    path: Path, sheet: str, shared: str | None = None, with_shared: bool = True
) -> Path:
    """A deflated .xlsx of the fixed parts plus ``sheet`` and (``with_shared``) the ``shared``
    strings part (empty by default)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        book.writestr("xl/worksheets/sheet1.xml", sheet)
        if with_shared:
            book.writestr("xl/sharedStrings.xml", shared or shared_strings_xml())
    return path


@dataclass
class RawEntry:
    """One zip member as raw deflate data with its CRC-32 and uncompressed size."""

    name: str
    deflated: bytes
    crc: int
    size: int


def deflated_entry(name: str, text: str) -> RawEntry:
    """A member holding ``text`` (UTF-8)."""
    data = text.encode("utf-8")
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return RawEntry(name, packer.compress(data) + packer.flush(), zlib.crc32(data), len(data))


def repeated_entry(name: str, prefix: bytes, block: bytes, times: int, suffix: bytes) -> RawEntry:
    """A member holding ``prefix + block * times + suffix`` without ever building it: ``block``
    is deflated once after a full flush (which resets the history), so its compressed form can
    simply be repeated. Deflate stops at about 1:1000, so 1.5 GB takes about 1.5 MB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = packer.compress(prefix) + packer.flush(zlib.Z_FULL_FLUSH)
    segment = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.compress(suffix) + packer.flush()
    crc = zlib.crc32(prefix)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(suffix, crc)
    size = len(prefix) + len(block) * times + len(suffix)
    return RawEntry(name, head + segment * times + tail, crc, size)


def write_raw_zip(path: Path, entries: Sequence[RawEntry]) -> Path:
    """Write ``entries`` as a plain (non-zip64) zip archive, by hand."""
    directory = []
    with open(path, "wb") as out:
        for entry in entries:
            offset = out.tell()
            name = entry.name.encode("utf-8")
            fields = (20, 0, 8, 0, 0x21, entry.crc, len(entry.deflated), entry.size, len(name))
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name)
            out.write(entry.deflated)
            directory.append(
                struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0, offset)
                + name
            )
        start = out.tell()
        central = b"".join(directory)
        out.write(central)
        out.write(
            struct.pack(
                "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), start, 0
            )
        )
    return path


def base_entries(sheet: str) -> list[RawEntry]:
    """The fixed parts and ``sheet`` as :class:`RawEntry` members (no shared strings)."""
    return [
        deflated_entry("[Content_Types].xml", CONTENT_TYPES),
        deflated_entry("_rels/.rels", ROOT_RELS),
        deflated_entry("xl/workbook.xml", WORKBOOK),
        deflated_entry("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        deflated_entry("xl/worksheets/sheet1.xml", sheet),
    ]
