"""The boundaries of ``cwdx.xlsx_guard``: the cheap ``<dimension>`` path (cell tags located with
NumPy in cache-sized blocks, references judged column-wise), chunk boundaries, the text-run
check, the cell count of the sparse check and the expansion ratio. Files are built by hand
(``hostile.xlsx_parts``) and the limits made small with monkeypatch where that reaches the
boundary with a small file."""

from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hostile.xlsx_parts import shared_strings_xml, sheet_xml, write_xlsx_parts

from cwdx import xlsx_guard
from cwdx.xlsx_guard import SheetExtent, inspect_workbook

SHEET = "xl/worksheets/sheet1.xml"
NAME = "测试.xlsx"


def _book(tmp_path: Path, sheet: str, shared: str | None = None) -> Path:
    return write_xlsx_parts(tmp_path / NAME, sheet, shared)


def _scan(path: Path) -> SheetExtent:
    with zipfile.ZipFile(path) as book:
        return xlsx_guard._scan_sheet(book, SHEET)


def _cells(*refs: str, separator: str = " ") -> str:
    return "".join(f'<c{separator}r="{ref}" t="n"><v>1</v></c>' for ref in refs)


# ------------------------------------------------------------------------------------------
# the <dimension> path: which cells send the scan to the exact reading
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "bound", "columns", "rows"),
    [
        ('<c r="BU2501"/>', True, 73, 9999),  # the dimension's own last cell
        ('<c r="BU9999"/>', True, 73, 9999),  # same digit count as 2501: within the bound
        ('<c r="A1"/>', True, 73, 9999),
        ('<c r="AZ7"/>', True, 73, 9999),  # as many letters, an earlier column
        ('<c r="BV7"/>', False, 74, 2501),  # as many letters, one column further
        ('<c r="CA7"/>', False, 79, 2501),
        ('<c r="ZZ7"/>', False, 702, 2501),
        ('<c r="AAA7"/>', False, 703, 2501),  # one letter more
        ('<c r="A10000"/>', False, 73, 10000),  # one row digit more
        ('<c r="BU10000"/>', False, 73, 10000),
        ('<c r="XFD1048576"/>', False, 16384, 1048576),
        ('<c t="n"><v>1</v></c>', False, 73, 2501),  # no reference: counted per row
        ("<c/>", False, 73, 2501),
        ('<c>r="A7"</c>', False, 73, 2501),  # text after <c>, no attribute
        ('<c rx"A7"/>', False, 73, 2501),  # not r="
        ('<c R="A7"/>', False, 73, 2501),
        ('<c s="1" r="BV7"/>', False, 74, 2501),  # r= not first: read exactly
        ('<c  r="BV7"/>', False, 74, 2501),  # two spaces
        ('<c\tr="BV7"/>', False, 74, 2501),  # a tab is a separator too
        ('<c\nr="BU7"/>', True, 73, 9999),
        ('<c\r\nr="BU7"/>', False, 73, 2501),  # two separators: not r= first
        ('<c r="bv7"/>', True, 73, 9999),  # lower case is no reference (as the exact reading)
        ('<c r="7"/>', True, 73, 9999),
        ('<cx r="XFD1"/>', True, 73, 9999),  # not a cell tag
        ('<col r="XFD1"/>', True, 73, 9999),
    ],
)
def test_dimension_path_sends_cells_outside_it_to_the_exact_reading(
    tmp_path: Path, cell: str, bound: bool, columns: int, rows: int
) -> None:
    sheet = sheet_xml([(1, _cells("A1")), (7, cell), (2501, _cells("BU2501"))], "A1:BU2501")
    extent = _scan(_book(tmp_path, sheet))
    assert (extent.bound, extent.columns, extent.rows) == (bound, columns, rows)


def test_cell_before_sheet_data_is_not_judged(tmp_path: Path) -> None:
    """``<c`` tags before ``<sheetData>`` (none in real files) are not cells of the sheet."""
    sheet = sheet_xml([(1, _cells("A1", "C3"))], "A1:C3").replace(
        "<sheetData>", '<c r="XFD1"/><sheetData>'
    )
    extent = _scan(_book(tmp_path, sheet))
    assert (extent.bound, extent.columns) == (True, 3)


@pytest.mark.parametrize(
    ("last", "inside", "outside"),
    [
        ("A1", "A9", "B1"),  # one letter, one digit
        ("Z9", "Z9", "AA1"),  # Z: no same-length column is later
        ("AZ99", "AZ99", "BA1"),
        ("GR1048576", "GR9999999", "GS1"),  # the widest allowed: 200 columns, 7 digits
        ("GR1048576", "A9999999", "A10000000"),
    ],
)
def test_dimension_edges(tmp_path: Path, last: str, inside: str, outside: str) -> None:
    for ref, bound in ((inside, True), (outside, False)):
        sheet = sheet_xml([(1, _cells(ref))], f"A1:{last}")
        assert _scan(_book(tmp_path, sheet)).bound is bound, ref


@pytest.mark.parametrize(
    "dimension",
    [None, "A1", "A1:GS3", "A1:A1048577", '"broken'],
    ids=["missing", "A1-only", "too-wide", "too-many-rows", "unreadable"],
)
def test_without_a_usable_dimension_every_reference_is_read(
    tmp_path: Path, dimension: str | None
) -> None:
    rows = [(1, _cells("A1", "B1")), (3, _cells("C3"))]
    extent = _scan(_book(tmp_path, sheet_xml(rows, dimension)))
    assert (extent.bound, extent.columns, extent.rows, extent.cells) == (False, 3, 3, 3)


@pytest.mark.parametrize("block", [3, 5, 1 << 17])
@pytest.mark.parametrize(
    ("cells", "columns", "rows", "count"),
    [
        (_cells("A1", "BU2501", "C3"), 73, 2501, 3),
        (_cells("A1", "GS9", separator="\t"), 201, 9, 2),  # whitespace before r
        (_cells("A1", "GS9", separator="\r\n"), 201, 9, 2),
        (_cells("A1") + '<c s="1" r="B9"/>', 2, 9, 2),  # r= not first
        (_cells("AAAA1"), 18279, 3, 1),  # 4 letters: beyond the NumPy window
        (_cells("XFD1048576", "A12345678"), 16384, 12345678, 2),  # 8 digits
        # not references: the range is the row's cell count
        (_cells("A1", "zz99999"), 2, 3, 2),
        (_cells("A1", "DD99999x"), 2, 3, 2),
        (_cells("9999999", "ZZ"), 2, 3, 2),
        ('<c r="A1"/>' + "<c/>" * 7, 8, 3, 8),  # no reference: the row's cell count
        ('<c r="A1"/><c r="B1"', 2, 3, 2),  # the last tag cut short by the end of the part
    ],
)
def test_exact_reading(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    block: int,
    cells: str,
    columns: int,
    rows: int,
    count: int,
) -> None:
    """Without a dimension every reference is read (NumPy for the usual ones, a regex for a
    chunk holding a longer one) and every row's cells are counted, across blocks."""
    monkeypatch.setattr(xlsx_guard, "_BLOCK", block)
    sheet = sheet_xml([(3, cells)])
    if cells.endswith('r="B1"'):
        sheet = sheet.split("</row>")[0]
    extent = _scan(_book(tmp_path, sheet))
    assert (extent.bound, extent.columns, extent.rows, extent.cells) == (
        False,
        columns,
        rows,
        count,
    )


def test_exact_reading_follows_row_numbers(tmp_path: Path) -> None:
    """A row without ``r`` follows the previous one; an empty row does not extend the range;
    ``r`` is read from the row's own tag only."""
    body = (
        '<row r="5"><c/></row><row><c/></row><row spans="1:2"\tr="9"><c/></row>'
        '<row r="20"></row><row><c/></row><rows r="99"></rows><row x=">" r="30"><c/></row>'
    )
    sheet = sheet_xml([]).replace("<sheetData>", f"<sheetData>{body}")
    extent = _scan(_book(tmp_path, sheet))
    assert (extent.bound, extent.rows, extent.columns, extent.cells) == (False, 100, 1, 5)


# ------------------------------------------------------------------------------------------
# chunk and block boundaries
# ------------------------------------------------------------------------------------------


def test_cell_tag_split_across_chunks_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cut of the stream inside ``<c r="BV7"/>`` (and around it) still finds the cell
    beyond the dimension; the same file with ``BU7`` stays on the cheap path."""
    far = _book(tmp_path, sheet_xml([(1, _cells("A1")), (7, '<c r="BV7"/>')], "A1:BU2501"))
    data = zipfile.ZipFile(far).read(SHEET)
    tag = data.index(b'<c r="BV7"')
    near = write_xlsx_parts(
        tmp_path / "near.xlsx", sheet_xml([(1, _cells("A1")), (7, '<c r="BU7"/>')], "A1:BU2501")
    )
    # the chunk must hold <dimension> and <sheetData> for the cheap path to be taken
    head = data.index(b"<sheetData") + len(b"<sheetData")
    assert head < tag
    for chunk in range(max(head, tag - 12), tag + 20):
        monkeypatch.setattr(xlsx_guard, "CHUNK", chunk)
        extent = _scan(far)
        assert (extent.bound, extent.columns) == (False, 74), chunk
        assert _scan(near).bound, chunk


def test_exact_reading_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of cells without references, cut into chunks at every place (a chunk may start
    with a cell tag, a row may continue into the next chunk)."""
    rows = [(n, "<c/>" * n + '<c t="n"><v>1</v></c>') for n in range(1, 9)]
    rows.append((9, _cells("A9", "B9")))
    path = _book(tmp_path, sheet_xml(rows))
    for chunk in range(20, 90):
        monkeypatch.setattr(xlsx_guard, "CHUNK", chunk)
        extent = _scan(path)
        assert (extent.rows, extent.columns, extent.cells) == (9, 9, 46), chunk


def test_tag_positions_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few bytes find exactly the tags a plain search finds (a tag may straddle
    the end of a block), with their separators."""
    rng = random.Random(7)
    pieces = [b"<c ", b"<c\t", b"<c\n", b"<c\r", b"<c>", b"<c/", b"<cx", b"<col", b"c", b"<", b"a"]
    data = b"".join(rng.choice(pieces) for _ in range(400)) + b"<c"
    expected = [m.start() for m in re.finditer(rb"<c[ \t\r\n>/]", data)]
    spaced = [data[i + 2 : i + 3] in (b" ", b"\t", b"\n", b"\r") for i in expected]
    for block in (1, 2, 3, 5, 64, 1 << 17):
        monkeypatch.setattr(xlsx_guard, "_BLOCK", block)
        tags, flags = xlsx_guard._cell_tag_positions(data)
        assert tags.tolist() == expected, block
        assert flags.tolist() == spaced, block
    assert [len(t) for t in xlsx_guard._cell_tag_positions(b"<c")] == [0, 0]


@pytest.mark.parametrize(
    ("tail", "beyond"),
    [
        (b'<c r="B', False),
        (b'<c r="BV', True),  # the reference ends with the chunk, still beyond
        (b'<c r="AAA', True),
        (b'<c r="A1234', False),
        (b'<c r="A12345', True),
        (b"<c r=", True),  # r=" cut short
        (b'<c r="', False),
    ],
)
def test_references_at_the_end_of_a_chunk(tail: bytes, beyond: bool) -> None:
    dimension = xlsx_guard._Dimension(last_col=73, letters=2, digits=4)
    data = b'<sheetData><row r="1"><c r="A1"/>' + tail
    tags, spaced = xlsx_guard._cell_tag_positions(data)
    assert len(tags) == 2
    assert xlsx_guard._beyond_dimension(data, tags, spaced, dimension) is beyond


def test_cells_are_counted_on_the_dimension_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond :data:`MIN_DENSE_CELLS` the cheap path counts every cell tag (whatever its
    separator), over every chunk."""
    monkeypatch.setattr(xlsx_guard, "MIN_DENSE_CELLS", 0)
    rows = [(n, _cells(f"A{n}", f"B{n}", separator="\n") + f'<c\tr="C{n}"/>') for n in range(1, 40)]
    path = _book(tmp_path, sheet_xml(rows, "A1:C39"))
    for chunk in (400, 1000, 1 << 20):
        monkeypatch.setattr(xlsx_guard, "CHUNK", chunk)
        extent = _scan(path)
        assert (extent.bound, extent.cells, extent.rows, extent.columns) == (True, 117, 99, 3)


# ------------------------------------------------------------------------------------------
# refusals
# ------------------------------------------------------------------------------------------


def _sparse_text(rows: int, letters: str, cells: int) -> str:
    return (
        f"文件“{NAME}”第一个Sheet“Sheet1”的数据区域大到第{rows}行、第{letters}列，但只有{cells}个单元格，"
        "未读取；请删除数据以外远处零散的单元格（在 Excel 中按 Ctrl+End 可找到最后一个单元格）后另存。"
    )


def test_stray_far_cell_within_an_honest_dimension_is_refused_as_sparse(tmp_path: Path) -> None:
    """The dimension covers the far cell, so the cheap path bounds the range at 9,999,999
    rows × 73 columns; the count (4 cells) is far too small, the exact reading gives the
    real extent for the sentence."""
    rows = [(1, _cells("A1", "B1", "C1")), (999_999, _cells("BU999999"))]
    path = _book(tmp_path, sheet_xml(rows, "A1:BU999999"))
    assert inspect_workbook(path) == _sparse_text(999_999, "BU", 4)


def test_stray_far_cell_beyond_a_small_dimension_is_refused_as_sparse(tmp_path: Path) -> None:
    rows = [(1, _cells("A1", "B1", "C1")), (999_999, _cells("BU999999"))]
    path = _book(tmp_path, sheet_xml(rows, "A1:C1"))
    assert inspect_workbook(path) == _sparse_text(999_999, "BU", 4)


def test_dense_enough_range_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Just at the budget (range = SPARSE_RATIO × cells) the file is read; one cell fewer and
    it is refused."""
    monkeypatch.setattr(xlsx_guard, "MIN_DENSE_CELLS", 10)
    monkeypatch.setattr(xlsx_guard, "SPARSE_RATIO", 5)
    filled = [(n, _cells(f"A{n}")) for n in range(1, 5)]
    # 5 cells in A1:E5: 25 = 5 × 5 is not beyond the budget
    path = _book(tmp_path, sheet_xml([*filled, (5, _cells("E5"))], "A1:E5"))
    assert inspect_workbook(path) is None
    path = _book(tmp_path, sheet_xml([*filled[:-1], (5, _cells("E5"))], "A1:E5"))
    assert inspect_workbook(path) == _sparse_text(5, "E", 4)


def test_wide_and_long_ranges_are_refused(tmp_path: Path) -> None:
    wide = _book(tmp_path, sheet_xml([(1, _cells("A1", "GS1"))], "A1:C1"))
    assert inspect_workbook(wide) == (
        f"文件“{NAME}”第一个Sheet“Sheet1”的数据区域宽到第GS列（201列），病案首页和申报人员数据最多只有"
        "200列，未读取；请删除表样以外的列和远处零散的单元格（在 Excel 中按 Ctrl+End 可找到最后一个"
        "单元格）后另存。"
    )
    assert inspect_workbook(_book(tmp_path, sheet_xml([(1, _cells("A1", "GR1"))], "A1:C1"))) is None
    long = _book(tmp_path, sheet_xml([(1, _cells("A1", "A1048577"))], "A1:A2"))
    assert inspect_workbook(long) == (
        f"文件“{NAME}”第一个Sheet“Sheet1”有1048577行，超过 Excel 的1048576行上限，不是 Excel 保存的正常"
        "文件，未读取；请在 Excel 中打开确认后另存为 .xlsx。"
    )


LONG_TEXT = (
    f"文件“{NAME}”中有超过 Excel 单元格上限（32767个字符）的超长内容，不是正常的数据文件，未读取；"
    "请在 Excel 中打开确认后另存为 .xlsx。"
)


@pytest.mark.parametrize("part", ["sheet", "shared"])
def test_text_run_limit_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part: str
) -> None:
    """A run of MAX_TEXT_RUN bytes without ``<`` is refused wherever the chunks cut it; a run
    under half of it is read wherever it lies (the check looks at aligned half-size windows)."""
    monkeypatch.setattr(xlsx_guard, "MAX_TEXT_RUN", 512)  # longer than every tag of the parts
    monkeypatch.setattr(xlsx_guard, "CHUNK", 1024)
    for length, refused in ((512, True), (255, False)):
        for shift in range(0, 600, 37):
            text = "x" * length
            pad = "<b/>" * (shift // 4) + "y" * (shift % 4)  # moves the run by shift bytes
            if part == "sheet":
                cell = f'<c r="A2" t="inlineStr"><is><t>{pad}</t><t>{text}</t></is></c>'
                path = _book(tmp_path, sheet_xml([(1, _cells("A1")), (2, cell)], "A1:A2"))
            else:
                shared = shared_strings_xml(2).replace(
                    "></sst>", f"><si><t>{pad}</t></si><si><t>{text}</t></si></sst>"
                )
                path = _book(tmp_path, sheet_xml([(1, _cells("A1"))], "A1:A1"), shared)
            assert inspect_workbook(path) == (LONG_TEXT if refused else None), (length, shift)


def test_expansion_ratio_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused only when the parts expand beyond MAX_EXPANDED_BYTES and more than
    MAX_EXPANSION_RATIO × the file size (both strictly)."""
    cell = '<c r="A2" t="inlineStr"><is><t>' + "甲" * 20_000 + "</t></is></c>"
    path = _book(tmp_path, sheet_xml([(1, _cells("A1")), (2, cell)], "A1:A2"))
    size = path.stat().st_size
    expanded = sum(info.file_size for info in zipfile.ZipFile(path).infolist())
    ratio = expanded // size
    assert ratio > 10
    expansion = (
        f"文件“{NAME}”解压后的内容远大于病案首页和申报人员数据可能的大小（压缩比异常），疑似异常文件，"
        "未读取；请在 Excel 中打开确认后另存为 .xlsx。"
    )
    monkeypatch.setattr(xlsx_guard, "MAX_EXPANDED_BYTES", expanded - 1)
    monkeypatch.setattr(xlsx_guard, "MAX_EXPANSION_RATIO", ratio)
    assert expanded > ratio * size
    assert inspect_workbook(path) == expansion
    monkeypatch.setattr(xlsx_guard, "MAX_EXPANSION_RATIO", ratio + 1)
    assert expanded <= (ratio + 1) * size
    assert inspect_workbook(path) is None
    monkeypatch.setattr(xlsx_guard, "MAX_EXPANSION_RATIO", ratio)
    monkeypatch.setattr(xlsx_guard, "MAX_EXPANDED_BYTES", expanded)  # not beyond it
    assert inspect_workbook(path) is None


def test_windows_read_zero_bytes_past_the_end() -> None:
    data = b"0123456789abcdef" * 3
    starts = np.array([0, 1, 30, 40, 47, 48])
    windows = xlsx_guard._windows(data, starts, 5)
    padded = data + bytes(5)
    assert [bytes(row) for row in windows] == [padded[s : s + 5] for s in starts]
