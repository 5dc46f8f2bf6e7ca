"""What :class:`cwdx.xlsx.Book` writes, cell by cell: types, formats, blanks, per-row styles,
text that must never become a formula or a link, and tables continued on more sheets."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from cwdx.xlsx import DATE_FORMAT, DATETIME_FORMAT, FILLS, Book

HOSTILE = ("=1+1", '=HYPERLINK("http://example.com","点我")', "+1", "-1", "@SUM(A1)", "0012")


@pytest.fixture(params=[False, True], ids=["cell_table", "rendered_rows"])
def render_rows(request: pytest.FixtureRequest) -> bool:
    """Both ways a book writes a table's rows: xlsxwriter's cell table, or the rows rendered
    straight to the sheet's XML (``render_rows``)."""
    return bool(request.param)


def _read(path: Path, sheet: str) -> openpyxl.worksheet.worksheet.Worksheet:
    return openpyxl.load_workbook(path)[sheet]


def test_values_keep_their_types_and_formats(tmp_path: Path, render_rows: bool) -> None:
    path = tmp_path / "t.xlsx"
    when = dt.datetime(2024, 3, 5, 14, 30, 15)
    rows = [
        ["文本", 7, 1.25, dt.date(2024, 1, 5), when, True, Decimal("2.5"), np.int64(9)],
        [None, float("nan"), pd.NA, pd.NaT, None, None, None, np.float64(0.5)],
        ["长" * 5000, -3, float("inf"), dt.date(1900, 3, 1), dt.datetime(2024, 1, 1), False, 0, 0],
    ]
    with Book(path, render_rows=render_rows) as book:
        book.write_table("表", [f"列{i}" for i in range(8)], rows)
    sheet = _read(path, "表")
    first = [c.value for c in sheet[2]]
    assert first == ["文本", 7, 1.25, dt.datetime(2024, 1, 5), when, True, 2.5, 9]
    assert [c.data_type for c in sheet[2]] == ["s", "n", "n", "d", "d", "b", "n", "n"]
    assert sheet["D2"].number_format == DATE_FORMAT
    assert sheet["E2"].number_format == DATETIME_FORMAT
    # missing values (None, NaN, NA, NaT) are empty cells
    assert [c.value for c in sheet[3]][:7] == [None] * 7
    assert sheet["H3"].value == 0.5
    # long text is kept whole, a non-finite number reads as its text, dates stay dates
    assert sheet["A4"].value == "长" * 5000
    assert sheet["C4"].value == "inf" and sheet["C4"].data_type == "s"
    assert sheet["D4"].value == dt.datetime(1900, 3, 1)
    assert sheet["E4"].value == dt.datetime(2024, 1, 1)
    assert sheet["E4"].number_format == DATETIME_FORMAT


def test_text_never_becomes_a_formula_or_a_link(tmp_path: Path, render_rows: bool) -> None:
    path = tmp_path / "t.xlsx"
    fill = None
    with Book(path, render_rows=render_rows) as book:
        fill = book.fill("error")
        book.write_table("表", ["原值", "标注"], [[text, text] for text in HOSTILE],
                         row_styles=lambda i: {1: fill})  # fmt: skip
        book.write_frame("框", pd.DataFrame({"值": pd.Series(HOSTILE, dtype="string")}))
    book_read = openpyxl.load_workbook(path)
    for name in ("表", "框"):
        sheet = book_read[name]
        values = [row[0].value for row in sheet.iter_rows(min_row=2)]
        assert values == list(HOSTILE)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type == "s" and cell.hyperlink is None
    assert book_read["表"]["B2"].fill.fgColor.rgb.endswith(FILLS["error"]["bg_color"][1:])


def test_row_styles_paint_single_cells_over_cell_formats(tmp_path: Path, render_rows: bool) -> None:
    path = tmp_path / "t.xlsx"
    rows = [[1, dt.date(2024, 1, 2), "甲", None], [2, dt.date(2024, 1, 3), "乙", None]]
    with Book(path, render_rows=render_rows) as book:
        error_date = book.fill("error", DATE_FORMAT)
        warning = book.fill("warning")
        styles = [{1: error_date, 3: warning}, {2: None}]
        book.write_table(
            "表",
            ["数", "日期", "文字", "空"],
            rows,
            cell_formats={0: book.percent2},
            row_styles=styles.__getitem__,
        )
    sheet = _read(path, "表")
    assert sheet["A2"].number_format == "0.00" and sheet["A3"].number_format == "0.00"
    # the painted date keeps reading as a date; an empty painted cell is written, blank
    assert sheet["B2"].fill.fgColor.rgb.endswith("FFC7CE")
    assert sheet["B2"].number_format == DATE_FORMAT
    assert sheet["B3"].fill.fgColor.rgb in (None, "00000000")
    assert sheet["B3"].number_format == DATE_FORMAT
    assert sheet["D2"].value is None and sheet["D2"].fill.fgColor.rgb.endswith("FFEB9C")
    # a None style leaves the cell as it was
    assert sheet["C3"].value == "乙" and sheet["C3"].fill.fgColor.rgb in (None, "00000000")


def test_frame_columns_keep_their_types(tmp_path: Path, render_rows: bool) -> None:
    path = tmp_path / "t.xlsx"
    frame = pd.DataFrame(
        {
            "文本": pd.Series(["a", None, "=1+1"], dtype="string"),
            "整数": pd.Series([1, None, 3], dtype="Int64"),
            "小数": pd.Series([0.5, None, 2.25], dtype="Float64"),
            "计数": pd.Series([4, 5, 6], dtype="int64"),
            "时间": pd.Series([dt.datetime(2024, 1, 1, 8), None, dt.date(2020, 2, 29)]),
        }
    )
    with Book(path, render_rows=render_rows) as book:
        book.write_frame(
            "框", frame, column_formats={0: book.text}, cell_formats={2: book.percent2}
        )
    sheet = _read(path, "框")
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=1)] == [
        ["文本", "整数", "小数", "计数", "时间"],
        ["a", 1, 0.5, 4, dt.datetime(2024, 1, 1, 8)],
        [None, None, None, 5, None],
        ["=1+1", 3, 2.25, 6, dt.datetime(2020, 2, 29)],
    ]
    assert sheet["C2"].number_format == "0.00"
    assert sheet["E2"].number_format == DATETIME_FORMAT
    assert sheet["E4"].number_format == DATE_FORMAT
    assert all(isinstance(sheet[f"B{r}"].value, int | float) for r in (2, 4))


def test_long_table_continues_on_numbered_sheets(tmp_path: Path, render_rows: bool) -> None:
    path = tmp_path / "t.xlsx"
    rows = [[f"第{i}行", i, dt.date(2024, 1, 1) + dt.timedelta(days=i)] for i in range(7)]
    with Book(path, render_rows=render_rows) as book:
        sheets = book.write_table(
            "明细", ["名称", "序号", "日期"], rows, max_rows=4, cell_formats={1: book.percent2}
        )
    assert [sheet.name for sheet in sheets] == ["明细", "明细(2)", "明细(3)"]
    workbook = openpyxl.load_workbook(path)
    seen = []
    for name in ("明细", "明细(2)", "明细(3)"):
        sheet = workbook[name]
        assert [c.value for c in sheet[1]] == ["名称", "序号", "日期"]
        assert sheet.freeze_panes == "A2"
        for row in sheet.iter_rows(min_row=2):
            seen.append(row[1].value)
            assert row[1].number_format == "0.00"
            assert row[2].number_format == DATE_FORMAT
    assert seen == list(range(7))


def test_short_and_long_rows(tmp_path: Path, render_rows: bool) -> None:
    """A row shorter than the header leaves its last cells empty; a longer one is written
    whole (the extra cells without a column format, but a row style still reaches them)."""
    path = tmp_path / "t.xlsx"
    with Book(path, render_rows=render_rows) as book:
        book.write_table(
            "表",
            ["甲", "乙"],
            [["x"], ["y", 1, "多"], ["z", 2, "再多"]],
            cell_formats={1: book.percent2},
            row_styles=lambda i: {2: book.fill("error")} if i == 2 else None,
        )
    sheet = _read(path, "表")
    assert [c.value for c in sheet[2]] == ["x", None, None]
    assert [c.value for c in sheet[3]] == ["y", 1, "多"]
    assert sheet["B3"].number_format == "0.00" and sheet["C3"].number_format == "General"
    assert sheet["C3"].fill.fgColor.rgb in (None, "00000000")
    assert sheet["C4"].fill.fgColor.rgb.endswith(FILLS["error"]["bg_color"].lstrip("#"))


def test_widths_follow_the_text(tmp_path: Path, render_rows: bool) -> None:
    path = tmp_path / "t.xlsx"
    with Book(path, render_rows=render_rows) as book:
        book.write_table(
            "表",
            ["名", "很长的列名称", "时间"],
            [["演示市第一人民医院", 1.0, dt.datetime(2024, 1, 1, 8)]],
        )
    sheet = _read(path, "表")
    widths = [sheet.column_dimensions[c].width for c in "ABC"]
    assert widths[0] > widths[1] > 6  # CJK text counts double
    assert math.isclose(widths[2], len("0000-00-00 00:00:00") + 2, abs_tol=1)


@pytest.mark.parametrize("constant_memory", [False, True])
def test_streamed_and_in_memory_books_read_alike(tmp_path: Path, constant_memory: bool) -> None:
    path = tmp_path / "t.xlsx"
    with Book(path, constant_memory=constant_memory, in_memory=True) as book:
        book.write_table("表", ["文字", "数"], [["=1+1", 1], [None, 2.5]])
    sheet = _read(path, "表")
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=2)] == [
        ["=1+1", 1],
        [None, 2.5],
    ]
    assert sheet["A2"].data_type == "s"


def test_a_frame_is_written_a_block_of_rows_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed sheet does not hold the whole frame as Python values: the columns are turned
    into values a block of rows at a time (``FRAME_BLOCK_ROWS``), and every row across the
    blocks' edges is written."""
    from cwdx import xlsx

    monkeypatch.setattr(xlsx, "FRAME_BLOCK_ROWS", 10)
    converted: list[int] = []
    real_tolist = pd.Series.tolist

    def counting_tolist(series: pd.Series) -> list:
        converted.append(len(series))
        return real_tolist(series)

    monkeypatch.setattr(pd.Series, "tolist", counting_tolist)
    frame = pd.DataFrame(
        {"编号": pd.Series([f"N{i}" for i in range(35)], dtype="string"), "数": range(35)}
    )
    path = tmp_path / "s.xlsx"
    with Book(path, constant_memory=True) as book:
        book.write_frame("表", frame)
    assert converted == [10, 10, 10, 10, 10, 10, 5, 5]  # two columns, four blocks
    values = [[c.value for c in row] for row in _read(path, "表").iter_rows(min_row=2)]
    assert values == [[f"N{i}", i] for i in range(35)]


TRICKY_TEXT = (
    "控制\x01字符",
    "_x0041_ 字面",
    " 前有空格",
    "后有空格 ",
    "\u3000全角空格",
    "<r><t>不是富文本</t></r>",
    "a&b<c>d\"e'",
    "换行\n与\t制表",
    "非字符\ufffe",
    "",
)


def _cells(path: Path, sheet: str) -> tuple[list[list[object]], list[list[tuple[str, str]]]]:
    """A sheet's cells: their values as calamine (what cwdx reads with; it undoes Excel's
    ``_xHHHH_`` escapes in shared and inline strings alike, openpyxl only in shared ones) reads
    them as text, and each cell's (data type, number format) as openpyxl reads them."""
    import fastexcel

    table = fastexcel.read_excel(path).load_sheet(sheet, header_row=None, dtypes="string")
    values = [list(row) for row in zip(*table.to_arrow().to_pydict().values(), strict=True)]
    types = [
        [(c.data_type, c.number_format) for c in row] for row in _read(path, sheet).iter_rows()
    ]
    return values, types


def test_rendered_rows_read_like_the_cell_table(tmp_path: Path) -> None:
    """Rows rendered straight to XML give the cells xlsxwriter's table gives: tricky text
    (control characters, a literal ``_x0041_``, edge spaces, markup), text over Excel's
    32,767 characters cut the same, missing values of every kind, numbers of every kind,
    dates with and without a time zone, with notes written below the table."""
    rows = [[text, i] for i, text in enumerate(TRICKY_TEXT)]
    rows += [
        ["长" * 40_000, np.int64(3)],
        [pd.NA, np.float64(2.5)],
        [float("nan"), float("-inf")],
        [pd.Timestamp("2024-05-06 07:08:09"), dt.datetime(2024, 1, 2, tzinfo=dt.UTC)],
        [pd.NaT, Decimal("1.25")],
        [np.bool_(True), dt.date(1900, 2, 28)],
        [dt.date(2024, 2, 29), 1e20],
    ]
    written = {}
    for render in (False, True):
        path = tmp_path / f"{render}.xlsx"
        with Book(path, in_memory=True, render_rows=render) as book:
            sheet = book.write_table("表", ["文字", "值"], rows, cell_formats={1: book.percent2})[0]
            sheet.write_string(len(rows) + 2, 0, "注：表下的说明")
        written[render] = _cells(path, "表")
    markup = 1 + TRICKY_TEXT.index("<r><t>不是富文本</t></r>")
    # xlsxwriter's table writes a text in <r>…</r> raw, as rich text (only 不是富文本 shows);
    # rendered, it stays the text it is
    assert written[False][0][markup][0] == "不是富文本"
    del written[False][0][markup], written[True][0][markup]
    assert written[True] == written[False]
    values = [row[0] for row in written[True][0][1:]]
    values.insert(markup - 1, "<r><t>不是富文本</t></r>")
    # a non-character cannot be in XML: both write (and calamine reads) its escape
    expected = [text.replace("\ufffe", "_xFFFE_") for text in TRICKY_TEXT[:-1]]
    assert values[: len(TRICKY_TEXT) - 1] == expected
    assert values[len(TRICKY_TEXT)] == "长" * 32_767
    assert values[-1] == "注：表下的说明"


def test_a_cell_written_inside_rendered_rows_is_kept(tmp_path: Path) -> None:
    """A cell written into the range of rendered rows by other means (here a note on row 3):
    the rows go through xlsxwriter's table instead, and both are there."""
    path = tmp_path / "t.xlsx"
    with Book(path, render_rows=True) as book:
        sheet = book.write_table("表", ["甲", "乙"], [["a", 1], ["b", 2], ["c", 3]])[0]
        sheet.write_string(2, 1, "改写")
    assert [[c.value for c in row] for row in _read(path, "表").iter_rows()] == [
        ["甲", "乙"],
        ["a", 1],
        ["b", "改写"],
        ["c", 3],
    ]


@pytest.mark.parametrize("mode", ["streamed", "rendered_rows"])
def test_markup_in_text_stays_text_in_exports(tmp_path: Path, mode: str) -> None:
    """An input text shaped like xlsxwriter's rich-string markup (``<r>…</r>``) is written as
    the text it is by the two ways exports write rows (xlsxwriter alone would write it raw
    into the sheet's XML)."""
    path = tmp_path / "t.xlsx"
    hostile = ["<r><t>伪造</t></r>", '<r><t>x</t></r><c r="A9"><v>1</v></c></r>']
    options = {"constant_memory": True} if mode == "streamed" else {"render_rows": True}
    with Book(path, in_memory=True, **options) as book:
        book.write_table(
            "表", ["文字"], [[text] for text in hostile], column_formats={0: book.text}
        )
    values, _ = _cells(path, "表")
    assert [row[0] for row in values[1:]] == hostile


def test_frames_with_repeated_names_and_tables_without_columns(
    tmp_path: Path, render_rows: bool
) -> None:
    """A frame whose columns share a name keeps every column; a table without columns writes
    an empty sheet."""
    path = tmp_path / "t.xlsx"
    frame = pd.DataFrame([[1, 2, "x"]], columns=["甲", "甲", 1])
    with Book(path, render_rows=render_rows) as book:
        book.write_frame("框", frame)
        book.write_table("空", [], [(), ()])
    assert [[c.value for c in row] for row in _read(path, "框").iter_rows()] == [
        ["甲", "甲", "1"],
        [1, 2, "x"],
    ]
    assert [[c.value for c in row] for row in _read(path, "空").iter_rows()] == []
