"""Look at an .xlsx file before it is decoded, and refuse hostile or broken ones.

fastexcel (calamine) builds the first sheet as a dense rows × columns grid of 32-byte cells and
trusts the zip directory, so a 2 KB file with one cell at ``XFD1048576`` asks for 512 GiB and
aborts the process. :func:`inspect_workbook` reads only the zip directory and streams the first
sheet's XML (and the shared strings) in small chunks, bounded memory, looking at cell
references, and returns the one Chinese sentence saying why the file must not be decoded, or
``None`` when it is safe.

The limits are what a 病案首页 / 申报人员 file can be (the templates have 73 and 13 columns):

- at most :data:`MAX_COLUMNS` columns and :data:`MAX_ROWS` rows in the used range;
- a used range (rows × columns) of at most :data:`MIN_DENSE_CELLS` or
  :data:`SPARSE_RATIO` × the cells the sheet really holds (a stray cell far away is refused
  with the advice to delete it);
- an expansion of at most :data:`MAX_EXPANSION_RATIO` × beyond :data:`MAX_EXPANDED_BYTES`;
- no text run longer than :data:`MAX_TEXT_RUN` bytes (a cell holds at most 32,767 characters).

The ``<dimension>`` element is only a hint: when present, each chunk's cell tags are located
with NumPy (in cache-sized blocks) and the bytes after them compared column-wise, checking that
no cell lies beyond it (rows by digit count, so a bound at most 10× the real one) and that every
cell has a reference, without Python work per cell; otherwise every reference and each row's
cell count are read (references located the same way, only the rows walked in Python).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

#: Most columns a used range may span (the widest template has 73).
MAX_COLUMNS = 200
#: Most rows of one Excel worksheet.
MAX_ROWS = 1_048_576
#: A used range of up to this many cells (about 256 MB in the decoder) is always fine.
MIN_DENSE_CELLS = 8_000_000
#: Beyond that, the used range may be at most this many times the cells the sheet holds.
SPARSE_RATIO = 40
#: Uncompressed size beyond which an expansion over :data:`MAX_EXPANSION_RATIO` is refused.
MAX_EXPANDED_BYTES = 512 * 1024 * 1024
MAX_EXPANSION_RATIO = 40
#: Longest run of XML text without markup (32,767 characters, each up to 8 bytes as ``&#x…;``).
MAX_TEXT_RUN = 1024 * 1024
#: Most bytes read of the small parts (workbook.xml and its relationships).
MAX_SMALL_PART = 16 * 1024 * 1024
CHUNK = 4 * 1024 * 1024
#: Bytes per NumPy pass when locating cell tags (fits the CPU cache).
_BLOCK = 128 * 1024

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
_DIMENSION_RE = re.compile(
    rb'<dimension\s+ref="([A-Za-z]{1,3})?(\d{1,7})?(?::([A-Za-z]{1,3})(\d{1,7}))?"'
)
_REF_RE = re.compile(rb'[ \t\r\n]r="([A-Z]+)(\d+)"')
_ROW_NUMBER_RE = re.compile(rb'[ \t\r\n]r="(\d+)"')
_ROW_TAG_RE = re.compile(rb"<row")


def column_number(letters: str | bytes) -> int:
    """1-based column number of Excel column letters (``A`` → 1, ``XFD`` → 16384)."""
    if isinstance(letters, bytes):
        letters = letters.decode("ascii")
    number = 0
    for ch in letters.upper():
        number = number * 26 + ord(ch) - 64
    return number


def column_letters(number: int) -> str:
    """Excel column letters of a 1-based column number (``28`` → ``AB``)."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass
class SheetExtent:
    """What the scan found in one worksheet part."""

    rows: int = 0
    columns: int = 0
    cells: int = 0
    #: The extent is an upper bound (rows from digit counts), not exact.
    bound: bool = False


class Refusal(Exception):
    """The file must not be decoded; ``args[0]`` says why (:data:`_LONG_TEXT` or
    ``"expansion"``), turned into the Chinese sentence by :func:`_refusal_text`."""


_LONG_TEXT = "long_text"


def _chunks(book: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    """The part's bytes in chunks of about :data:`CHUNK`, each cut before its last ``<`` so no
    tag is split. A run of :data:`MAX_TEXT_RUN` bytes without ``<`` is refused (:class:`Refusal`):
    such a run always covers one aligned window of half that size, which is what is checked."""
    window = MAX_TEXT_RUN // 2
    carry = b""
    with book.open(name) as stream:
        while block := stream.read(CHUNK):
            for offset in range(0, len(block) - window + 1, window):
                if block.find(b"<", offset, offset + window) < 0:
                    raise Refusal(_LONG_TEXT)
            data = carry + block
            cut = data.rfind(b"<")
            if cut <= 0:
                carry = data if cut == 0 else b""
                continue
            carry = data[cut:]
            yield data[:cut]
    if carry:
        yield carry


def _scan_sheet(book: zipfile.ZipFile, name: str) -> SheetExtent:
    """The used range of one worksheet part, streamed.

    Cheap path (the usual file): the ``<dimension>`` is read before ``<sheetData>``; then the
    cell tags of each chunk are located at once with NumPy (no per-cell Python work) and
    :func:`_beyond_dimension` looks for one that is not ``<c r="…`` within the dimension: a
    reference beyond its last column or with more row digits than its last row, or a cell
    without a leading reference (it sits after the previous cell, so only a per-row count
    bounds it). Such a cell, or no dimension, switches to :func:`_exact_extent`. Cells are
    counted only when the bound exceeds :data:`MIN_DENSE_CELLS` (below it the count does not
    matter).
    """
    extent = SheetExtent()
    dimension: _Dimension | None = None
    count_cells = False
    for data in _chunks(book, name):
        start = 0
        if dimension is None:
            start = data.find(b"<sheetData")
            if start < 0:
                continue
            match = _DIMENSION_RE.search(data, 0, start)
            last_col = column_number(match.group(3) or match.group(1) or b"") if match else 0
            last_row = int(match.group(4) or match.group(2) or 0) if match else 0
            if not (match and 0 < last_col <= MAX_COLUMNS and 0 < last_row <= MAX_ROWS):
                return _exact_extent(book, name)
            digits = len(str(last_row))
            dimension = _Dimension(last_col, len(column_letters(last_col)), digits)
            extent.columns = last_col
            extent.rows = min(10**digits - 1, MAX_ROWS)
            extent.bound = True
            count_cells = extent.rows * extent.columns > MIN_DENSE_CELLS
        tags, spaced = _cell_tag_positions(data)
        inside = tags >= start
        if _beyond_dimension(data, tags[inside], spaced[inside], dimension):
            return _exact_extent(book, name)
        if count_cells:
            extent.cells += len(tags)
    return extent


@dataclass(frozen=True)
class _Dimension:
    """The last cell of a ``<dimension>``: its column, that column's letter count and the
    digit count of its row."""

    last_col: int
    letters: int
    digits: int

    @property
    def width(self) -> int:
        """Bytes read after ``<c `` to judge a reference: ``r="``, one letter more than the
        last column has (a longer reference is beyond it) and one digit more than its row."""
        return 3 + self.letters + 1 + self.digits


def _cell_tag_positions(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Where the cell tags of ``data`` start (the ``<`` of ``<c `` / ``<c>`` / ``<c/``, a tab
    or line break counting as the space), ascending, and whether each is followed by
    whitespace (attributes follow)."""
    array = np.frombuffer(data, dtype=np.uint8)
    found: list[np.ndarray] = [np.zeros(0, dtype=np.intp)]
    flags: list[np.ndarray] = [np.zeros(0, dtype=bool)]
    # blocks that stay in the CPU cache: one pass over a whole chunk per operation is slower
    for low in range(0, len(array) - 2, _BLOCK):
        block = array[low : low + _BLOCK + 2]  # a tag's two bytes after the block's last byte
        tags = np.flatnonzero((block[:-2] == 60) & (block[1:-1] == 99))  # "<c"
        third = block[tags + 2]
        spaced = (third == 32) | (third == 9) | (third == 10) | (third == 13)
        keep = spaced | (third == 62) | (third == 47)  # ">" "/"
        found.append(tags[keep] + low)
        flags.append(spaced[keep])
    return np.concatenate(found), np.concatenate(flags)


def _beyond_dimension(
    data: bytes, tags: np.ndarray, spaced: np.ndarray, dimension: _Dimension
) -> bool:
    """Whether one of the cell tags at ``tags`` (ascending) is not ``<c r="…`` within
    ``dimension``: it has no leading reference, more capitals than the last column or as many
    and a later column, or (with 1 to that many capitals) more row digits than the last row."""
    if not spaced.all():
        return True  # <c> or <c/>
    letters, digits = dimension.letters, dimension.digits
    window = _windows(data, tags + 3, dimension.width)
    byte = list(np.ascontiguousarray(window.T))  # one contiguous row per byte: fast SIMD passes
    if not ((byte[0] == 114) & (byte[1] == 61) & (byte[2] == 34)).all():
        return True  # the first attribute is not r="
    ref = byte[3:]
    upper = [(b >= 65) & (b <= 90) for b in ref[: letters + 1]]
    digit = [(b >= 48) & (b <= 57) for b in ref[1:]]
    # leading[k] says "at least k + 1 leading capitals"
    leading = [upper[0]]
    for is_upper in upper[1:]:
        leading.append(leading[-1] & is_upper)
    if leading[letters].any():
        return True
    exactly = [leading[k - 1] & ~upper[k] for k in range(1, letters + 1)]  # exactly k capitals
    number = np.zeros(len(tags), dtype=np.int64)
    for b in ref[:letters]:
        number = number * 26 + b.astype(np.int64) - 64
    if (exactly[letters - 1] & (number > dimension.last_col)).any():
        return True
    for k in range(1, letters + 1):
        follows = exactly[k - 1]
        for is_digit in digit[k - 1 : k + digits]:
            follows = follows & is_digit
        if follows.any():
            return True
    return False


def _windows(data: bytes, starts: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes of ``data`` from each of ``starts`` (ascending, at most
    ``len(data)``) as rows, zero bytes beyond its end."""
    cut = max(0, len(data) - 2 * width)
    near_end = int(np.searchsorted(starts, cut))
    windows = np.empty((len(starts), width), dtype=np.uint8)
    if near_end:
        windows[:near_end] = _sliding(data, width)[starts[:near_end]]
    windows[near_end:] = _sliding(data[cut:] + bytes(width), width)[starts[near_end:] - cut]
    return windows


def _sliding(buffer: bytes, width: int) -> np.ndarray:
    """Every ``width`` bytes of ``buffer`` from each offset, as rows of one read-only view
    (what ``sliding_window_view`` gives, without its per-call checks)."""
    shape = (len(buffer) - width + 1, width)
    return np.ndarray(shape, dtype=np.uint8, buffer=buffer, strides=(1, 1))


def _exact_extent(book: zipfile.ZipFile, name: str) -> SheetExtent:
    """The used range from every cell reference (``r="XFD1048576"``) and every row, streamed.

    A cell without a reference follows the previous cell of its row, in the row its ``<row>``
    names (or the one after the previous row), so each row's cell count bounds its width.
    Cell tags and references are located with NumPy; only the rows are walked in Python.
    """
    extent = SheetExtent()
    row_cells = 0  # cells so far in the current row (a row may continue into the next chunk)
    row_number = 0
    for data in _chunks(book, name):
        tags, _ = _cell_tag_positions(data)
        extent.cells += len(tags)
        columns, rows = _reference_extent(data)
        extent.columns = max(extent.columns, columns)
        extent.rows = max(extent.rows, rows)
        starts = [m.start() for m in _ROW_TAG_RE.finditer(data)]
        # cells of each "<row" segment: before the first row, then from each row to the next
        counts = np.diff(np.searchsorted(tags, [0, *starts, len(data)])).tolist()
        row_cells += counts[0]
        for i, start in enumerate(starts):
            extent.columns = max(extent.columns, row_cells)
            row_cells = counts[i + 1]
            end = starts[i + 1] if i + 1 < len(starts) else len(data)
            close = data.find(b">", start + 4, end)
            number = _ROW_NUMBER_RE.search(data, start + 4, close + 1) if close >= 0 else None
            row_number = int(number.group(1)) if number else row_number + 1
            if row_cells:
                extent.rows = max(extent.rows, row_number)
        if extent.columns > MAX_COLUMNS or extent.rows > MAX_ROWS:
            return extent  # refused already; no need to read further
    extent.columns = max(extent.columns, row_cells)
    return extent


def _reference_extent(data: bytes) -> tuple[int, int]:
    """(widest column, last row) of the cell references `` r="AB12"`` in ``data`` (any
    whitespace before ``r``), 0 without any. References of up to 3 letters and 7 digits (every
    one within Excel's grid) are read with NumPy; a chunk with a longer one is read by regex."""
    array = np.frombuffer(data, dtype=np.uint8)
    found = [np.zeros(0, dtype=np.intp)]
    for low in range(0, len(array) - 3, _BLOCK):
        block = array[low : low + _BLOCK + 3]
        at = (block[1:-2] == 114) & (block[2:-1] == 61) & (block[3:] == 34)  # r="
        space = block[:-3]
        at &= (space == 32) | (space == 9) | (space == 10) | (space == 13)
        found.append(np.flatnonzero(at) + low)
    starts = np.concatenate(found) + 4
    if not len(starts):
        return 0, 0
    byte = np.ascontiguousarray(_windows(data, starts, 3 + 7 + 1).T)  # a row per byte
    upper = [(b >= 65) & (b <= 90) for b in byte[:4]]
    digit = [(b >= 48) & (b <= 57) for b in byte]
    # at least 1, 2, 3 leading letters
    leading = [upper[0], upper[0] & upper[1], upper[0] & upper[1] & upper[2]]
    letters = leading[0].astype(np.intp) + leading[1] + leading[2]
    longer = leading[2] & upper[3]
    digits = np.zeros(len(starts), dtype=np.intp)
    row = np.zeros(len(starts), dtype=np.int64)
    for count in range(1, 4):  # the digits after `count` letters (a reference has one)
        here = letters == count
        if not here.any():
            continue
        run = here
        for j in range(7):
            run = run & digit[count + j]
            digits += run
            row = np.where(run, row * 10 + byte[count + j] - 48, row)
        longer |= run & digit[count + 7]
    if longer.any():
        refs = _REF_RE.findall(data)  # a reference longer than the window: read it whole
        if not refs:
            return 0, 0
        widest = max((letters for letters, _ in refs), key=lambda text: (len(text), text))
        return column_number(widest), max(int(row) for _, row in refs)
    quoted = byte[letters + digits, np.arange(len(starts))] == 34
    valid = (letters > 0) & (digits > 0) & quoted
    if not valid.any():
        return 0, 0
    column = np.zeros(len(starts), dtype=np.int64)
    for j in range(3):
        column = np.where(leading[j], column * 26 + byte[j] - 64, column)
    return int(column[valid].max()), int(row[valid].max())


def _first_sheet(book: zipfile.ZipFile, names: set[str]) -> tuple[str, str] | None:
    """(sheet name, part name) of the workbook's first sheet, as the decoder finds it; ``None``
    when the workbook does not say (namespaces are ignored, so strict OOXML reads too)."""
    workbook = ElementTree.fromstring(_small_part(book, "xl/workbook.xml"))
    sheet = next((e for e in workbook.iter() if _local(e.tag) == "sheet"), None)
    if sheet is None:
        return None
    sheet_name = sheet.get("name") or "Sheet1"
    rel_id = next((v for k, v in sheet.attrib.items() if _local(k) == "id"), None)
    if not rel_id or "xl/_rels/workbook.xml.rels" not in names:
        return None
    rels = ElementTree.fromstring(_small_part(book, "xl/_rels/workbook.xml.rels"))
    for rel in rels.iter():
        if _local(rel.tag) == "Relationship" and rel.get("Id") == rel_id:
            target = rel.get("Target") or ""
            joined = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            return sheet_name, posixpath.normpath(joined)
    return None


def _local(tag: str) -> str:
    """An XML name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def _small_part(book: zipfile.ZipFile, name: str) -> bytes:
    with book.open(name) as stream:
        data = stream.read(MAX_SMALL_PART + 1)
    if len(data) > MAX_SMALL_PART:
        raise Refusal("expansion")
    return data


def _is_encrypted(path: Path) -> bool:
    """Whether an OLE2 compound file holds an encrypted workbook (its ``EncryptionInfo``
    stream), read in bounded chunks."""
    tail = b""
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            if _ENCRYPTION_INFO in tail + block:
                return True
            tail = block[-len(_ENCRYPTION_INFO) :]
    return False


def inspect_workbook(path: str | Path, name: str | None = None) -> str | None:
    """Why the workbook at ``path`` must not be decoded (one Chinese sentence naming the file
    and what to do, without the closing hint), or ``None`` when it is safe to decode.

    Reads the zip directory, then streams the first sheet and the shared strings; memory stays
    within a few chunks whatever the file. ``OSError`` from opening the file propagates.
    """
    path = Path(path)
    name = name or path.name
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head:
        return f"文件“{name}”是空文件（0 字节），请重新导出或复制完整的文件后再导入。"
    if head == _CFB_MAGIC:
        if _is_encrypted(path):
            return (
                f"文件“{name}”设有打开密码（已加密），系统无法读取，请在 Excel 中打开该文件，"
                "在“文件→信息→保护工作簿→用密码进行加密”中清空密码后另存为 .xlsx。"
            )
        return (
            f"文件“{name}”是旧版 Excel 97-2003 工作簿（.xls）改成了 .xlsx 扩展名，"
            "请在 Excel 中打开后“另存为”Excel 工作簿（*.xlsx）。"
        )
    corrupt = (
        f"文件“{name}”已损坏或不完整（可能没有下载或复制完），"
        "请重新获取完整的文件，在 Excel 中能正常打开后再导入。"
    )
    try:
        with zipfile.ZipFile(path) as book:
            return _inspect_zip(book, name, path.stat().st_size)
    except Refusal as refusal:
        return _refusal_text(name, refusal)
    except (zipfile.BadZipFile, EOFError, ElementTree.ParseError, ValueError, NotImplementedError):
        if head.startswith(b"PK"):
            return corrupt
        return (
            f"文件“{name}”不是 Excel 工作簿（可能是其他类型的文件改了扩展名），"
            "请在 Excel 中打开确认后“另存为”Excel 工作簿（*.xlsx）。"
        )
    except zipfile.LargeZipFile:
        return _refusal_text(name, Refusal("expansion"))


def _inspect_zip(book: zipfile.ZipFile, name: str, size: int) -> str | None:
    infos = book.infolist()
    expanded = sum(info.file_size for info in infos)
    if expanded > MAX_EXPANDED_BYTES and expanded > MAX_EXPANSION_RATIO * max(size, 1):
        raise Refusal("expansion")
    names = set(book.namelist())
    if "xl/workbook.xml" not in names:
        return (
            f"文件“{name}”是压缩包，但不是 Excel 工作簿（找不到工作表），"
            "请在 Excel 中打开确认后“另存为”Excel 工作簿（*.xlsx）。"
        )
    for part_name in names:
        if part_name.lower().endswith("sharedstrings.xml"):
            for _ in _chunks(book, part_name):  # only the text-run check
                pass
    first = _first_sheet(book, names)
    if first is None or first[1] not in names:
        # the decoder will say whether the workbook reads; every worksheet is checked meanwhile
        parts = sorted(n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))
        for part in parts:
            refusal = _judge(name, first[0] if first else "Sheet1", book, part)
            if refusal:
                return refusal
        return None
    return _judge(name, first[0], book, first[1])


def _judge(name: str, sheet_name: str, book: zipfile.ZipFile, part: str) -> str | None:
    """The refusal for one worksheet part whose used range is too big, or ``None``."""
    extent = _scan_sheet(book, part)
    if extent.columns > MAX_COLUMNS:
        return (
            f"文件“{name}”第一个Sheet“{sheet_name}”的数据区域宽到第{column_letters(extent.columns)}列"
            f"（{extent.columns}列），病案首页和申报人员数据最多只有{MAX_COLUMNS}列，未读取；"
            "请删除表样以外的列和远处零散的单元格（在 Excel 中按 Ctrl+End 可找到最后一个单元格）后另存。"
        )
    if extent.rows > MAX_ROWS:
        return (
            f"文件“{name}”第一个Sheet“{sheet_name}”有{extent.rows}行，超过 Excel 的{MAX_ROWS}行上限，"
            "不是 Excel 保存的正常文件，未读取；请在 Excel 中打开确认后另存为 .xlsx。"
        )
    dense = extent.rows * extent.columns
    budget = max(MIN_DENSE_CELLS, SPARSE_RATIO * extent.cells)
    if dense > budget and extent.bound:
        extent = _exact_extent(book, part)
        dense = extent.rows * extent.columns
        budget = max(MIN_DENSE_CELLS, SPARSE_RATIO * extent.cells)
    if dense > budget:
        return (
            f"文件“{name}”第一个Sheet“{sheet_name}”的数据区域大到第{extent.rows}行、"
            f"第{column_letters(extent.columns)}列，但只有{extent.cells}个单元格，未读取；"
            "请删除数据以外远处零散的单元格（在 Excel 中按 Ctrl+End 可找到最后一个单元格）后另存。"
        )
    return None


def _refusal_text(name: str, refusal: Refusal) -> str:
    if refusal.args and refusal.args[0] == _LONG_TEXT:
        return (
            f"文件“{name}”中有超过 Excel 单元格上限（32767个字符）的超长内容，不是正常的数据文件，"
            "未读取；请在 Excel 中打开确认后另存为 .xlsx。"
        )
    return (
        f"文件“{name}”解压后的内容远大于病案首页和申报人员数据可能的大小（压缩比异常），"
        "疑似异常文件，未读取；请在 Excel 中打开确认后另存为 .xlsx。"
    )
