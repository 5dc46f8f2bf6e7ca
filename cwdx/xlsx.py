"""Shared xlsxwriter helpers: every workbook cwdx writes goes through :class:`Book`.

Rules kept here so no output can go wrong:

- a string is always written with ``write_string`` (``=1+1`` stays text, never a formula, URL
  or number); numbers as numbers; dates and date-times as real date cells with a
  ``yyyy-mm-dd`` / ``yyyy-mm-dd hh:mm:ss`` format; ``None``/NA/NaN as an empty cell;
- header row in a bold, filled format, frozen, with column widths from the header and the
  first rows (CJK characters count double);
- a table longer than one sheet (1,048,576 rows including the header) continues on sheets
  named ``名称(2)``, ``名称(3)``… each with the same header.

Example::

    with Book(path) as book:
        book.write_frame("反馈信息", frame)
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from cwdx.display import display_width
from cwdx.sheet_xml import RowSheet, StreamSheet, is_missing, plain_value

#: Rows of one Excel worksheet (header included).
EXCEL_MAX_ROWS = 1_048_576
#: Longest sheet name Excel accepts.
SHEET_NAME_MAX = 31
_SHEET_NAME_BAD = set("[]:*?/\\")
#: Rows looked at when sizing columns.
WIDTH_SAMPLE_ROWS = 200
MIN_WIDTH = 6.0
MAX_WIDTH = 60.0

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
#: Number format of the cells of a template column type, when written as a date cell.
DATE_FORMATS: dict[str, str] = {"date": DATE_FORMAT, "datetime": DATETIME_FORMAT}
#: Cell fills of the feedback tables: an error (light red, dark red font) or a warning (yellow).
FILLS: dict[str, dict[str, str]] = {
    "error": {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
    "warning": {"bg_color": "#FFEB9C", "font_color": "#9C5700"},
}


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary name (``.<name>.tmp``) next to ``path`` to write the output to: renamed to
    ``path`` when the block succeeds, removed otherwise, so a half-written workbook (or
    ``summary.json``, demo file…) never appears under its real name. The folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with suppress(OSError):  # never hide the error that stopped the write
            tmp.unlink(missing_ok=True)


def staged_name(path: str | Path) -> Path:
    """Where a worker writes the output ``path`` (``.<name>.part`` next to it, written through
    :func:`atomic_path`, so it too is complete whenever it exists); :func:`publish` renames it."""
    path = Path(path)
    return path.with_name(f".{path.name}.part")


@contextmanager
def staging() -> Iterator[list[tuple[str, str]]]:
    """Collect ``(staged, final)`` name pairs of a piece's outputs (see :func:`staged_name`);
    when the block fails, the staged files written so far are removed."""
    written: list[tuple[str, str]] = []
    try:
        yield written
    except BaseException:
        for staged, _final in written:
            with suppress(OSError):
                Path(staged).unlink(missing_ok=True)
        raise


def publish(written: Iterable[tuple[str, str]]) -> list[Path]:
    """Rename staged outputs to their real names (in the calling process); the final paths."""
    out = []
    for staged, final in written:
        os.replace(staged, final)
        out.append(Path(final))
    return out


def publish_pieces(
    mapper: Callable[[Callable[[Any], Any], Sequence[Any]], Iterable[Any]],
    function: Callable[[Any], list[tuple[str, str]]],
    pieces: Sequence[Any],
) -> list[Path]:
    """Run ``pieces`` through ``mapper`` and :func:`publish` each one's staged outputs as its
    result comes (in input order); the final paths."""
    written: list[Path] = []
    for staged in mapper(function, pieces):
        written += publish(staged)
    return written


def safe_sheet_name(name: str, suffix: str = "") -> str:
    """A valid Excel sheet name: forbidden characters replaced by ``_``, cut to 31 characters
    so that ``suffix`` (e.g. ``(2)``) still fits."""
    cleaned = "".join("_" if ch in _SHEET_NAME_BAD else ch for ch in name).strip("'") or "Sheet"
    return cleaned[: SHEET_NAME_MAX - len(suffix)] + suffix


def _cell_text(value: object) -> str:
    """How a value reads in a cell, for column sizing."""
    if isinstance(value, dt.datetime):
        return (
            "0000-00-00 00:00:00"
            if (value.hour, value.minute, value.second) != (0, 0, 0)
            else "0000-00-00"
        )
    if isinstance(value, dt.date):
        return "0000-00-00"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


#: Rows of a frame turned into Python values at a time by :meth:`Book.write_frame`: what a
#: streamed (``constant_memory``) sheet holds of its rows at once.
FRAME_BLOCK_ROWS = 50_000


def column_rows(columns: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of equally long ``columns`` (pandas Series) as tuples, a block of
    :data:`FRAME_BLOCK_ROWS` rows at a time and a column at a time within a block (without the
    per-value cost of iterating an Arrow-backed column)."""
    length = len(columns[0]) if columns else 0
    for start in range(0, length, FRAME_BLOCK_ROWS):
        stop = start + FRAME_BLOCK_ROWS
        yield from zip(*(column.iloc[start:stop].tolist() for column in columns), strict=True)


class Book:
    """An xlsxwriter workbook with cwdx's formats and the text-as-text writing rules.

    ``constant_memory=True`` streams rows to disk (rows must then be written top to bottom,
    one sheet after another), for tables of hundreds of thousands of rows.
    ``in_memory=True`` (ignored when streaming) assembles the file in memory instead of
    writing and deleting a temporary file per part (about 12 per workbook, slow on a busy
    disk); the cells are the same, the zip container's bytes differ, so files whose hash is
    recorded elsewhere (the demo inputs) keep the default.
    ``render_rows=True`` (ignored when streaming) keeps the rows of :meth:`write_table` as
    values and renders them to the sheet's XML when the book closes
    (:class:`cwdx.sheet_xml.RowSheet`, text as inline strings): the same cells, several times
    faster than xlsxwriter's cell table.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        constant_memory: bool = False,
        in_memory: bool = False,
        render_rows: bool = False,
    ) -> None:
        self.path = Path(path)
        self.constant_memory = constant_memory
        self.render_rows = render_rows and not constant_memory
        self.workbook = xlsxwriter.Workbook(
            str(self.path),
            {
                "constant_memory": constant_memory,
                "in_memory": in_memory and not constant_memory,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "default_date_format": DATE_FORMAT,
            },
        )
        wb = self.workbook
        self.header = wb.add_format(
            {
                "bold": True,
                "bg_color": "#D9E1F2",
                "border": 1,
                "text_wrap": True,
                "valign": "vcenter",
            }
        )
        #: Header of a required column: red bold on a light red fill.
        self.required_header = wb.add_format(
            {
                "bold": True,
                "font_color": "#C00000",
                "bg_color": "#FCE4D6",
                "border": 1,
                "text_wrap": True,
                "valign": "vcenter",
            }
        )
        self.text = wb.add_format({"num_format": "@"})
        self.date = wb.add_format({"num_format": DATE_FORMAT})
        self.datetime = wb.add_format({"num_format": DATETIME_FORMAT})
        self.bold = wb.add_format({"bold": True})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        self.percent2 = wb.add_format({"num_format": "0.00"})
        self._fills: dict[tuple[str, str | None], Format] = {}
        self._names: set[str] = set()

    def fill(self, severity: str, number_format: str | None = None) -> Format:
        """The fill of an ``error`` / ``warning`` cell (:data:`FILLS`), with ``number_format``
        when given (a painted date cell keeps reading as a date); one format per combination."""
        key = (severity, number_format)
        if key not in self._fills:
            self._fills[key] = self.workbook.add_format(
                {**FILLS[severity], **({"num_format": number_format} if number_format else {})}
            )
        return self._fills[key]

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> Book:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Write the file. A file that cannot be created raises the underlying :class:`OSError`
        (xlsxwriter wraps it in ``FileCreateError``), so callers handle one exception type."""
        for sheet in self.workbook.worksheets():
            if isinstance(sheet, RowSheet):
                sheet.settle()
        try:
            self.workbook.close()
        except FileCreateError as exc:
            cause = exc.args[0] if exc.args else None
            if isinstance(cause, OSError):
                raise cause from exc
            raise OSError(str(exc)) from exc

    # -- sheets ----------------------------------------------------------------------------
    def add_sheet(self, name: str) -> Worksheet:
        """Add a worksheet with a valid, unique name (``name``, else ``name(2)``…)."""
        candidate = safe_sheet_name(name)
        n = 2
        while candidate.lower() in self._names:
            candidate = safe_sheet_name(name, f"({n})")
            n += 1
        self._names.add(candidate.lower())
        if self.constant_memory:
            return self.workbook.add_worksheet(candidate, worksheet_class=StreamSheet)
        if not self.render_rows:
            return self.workbook.add_worksheet(candidate)
        sheet = self.workbook.add_worksheet(candidate, worksheet_class=RowSheet)
        sheet.date_format, sheet.datetime_format = self.date, self.datetime
        sheet.write_through = self._write_row
        return sheet

    def write_cell(
        self, sheet: Worksheet, row: int, col: int, value: Any, fmt: Format | None = None
    ) -> None:
        """Write one value by its Python type; strings always as text (never a formula)."""
        self._write_row(sheet, row, (value,), (fmt,), range(col, col + 1))

    def _write_other(
        self, sheet: Worksheet, row: int, col: int, value: Any, fmt: Format | None
    ) -> None:
        """The cells :meth:`_write_row` does not write itself: missing values (NaN, NA, NaT),
        booleans, date-times with a time zone, other numbers (Decimal, numpy), subclasses."""
        value = plain_value(value)
        if value is None:
            if fmt is not None:
                sheet.write_blank(row, col, None, fmt)
        elif isinstance(value, bool):
            sheet.write_boolean(row, col, value, fmt)
        elif isinstance(value, str):
            sheet.write_string(row, col, value, fmt)
        elif isinstance(value, float):
            sheet.write_number(row, col, value, fmt)
        elif isinstance(value, dt.datetime):
            sheet.write_datetime(row, col, value, fmt or self.datetime)
        else:  # a date
            sheet.write_datetime(
                row, col, dt.datetime(value.year, value.month, value.day), fmt or self.date
            )

    def write_header(
        self,
        sheet: Worksheet,
        columns: Sequence[str],
        formats: Sequence[Format | None] | None = None,
    ) -> None:
        """Row 1: the column names, each in ``formats[i]`` (default: :attr:`header`)."""
        for col, name in enumerate(columns):
            fmt = formats[col] if formats and formats[col] is not None else self.header
            sheet.write_string(0, col, str(name), fmt)

    def write_table(
        self,
        sheet_name: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        header_formats: Sequence[Format | None] | None = None,
        column_formats: Mapping[int, Format] | None = None,
        cell_formats: Mapping[int, Format] | None = None,
        row_styles: Callable[[int], Mapping[int, Format | None] | None] | None = None,
        widths: Mapping[int, float] | None = None,
        autofilter: bool = True,
        max_rows: int = EXCEL_MAX_ROWS,
    ) -> list[Worksheet]:
        """Write a header and rows to ``sheet_name`` (continued on ``sheet_name(2)``… when
        more than ``max_rows - 1`` data rows) and return the sheets written.

        ``column_formats`` set a column's default format (e.g. :attr:`text` so typed values stay
        text); ``cell_formats`` format the written cells of a column; ``row_styles(i)``
        (``i`` = 0-based data row, called once per row) may return ``{column: format}`` for
        cells of that row, overriding ``cell_formats`` where the format is not ``None``
        (per-cell highlighting of feedback tables); ``widths`` override the computed widths.
        Every sheet gets a frozen header row and (``autofilter``) a filter.
        """
        if max_rows < 2:
            raise ValueError("max_rows must leave room for the header and one row")
        per_sheet = max_rows - 1
        iterator = iter(rows)
        sample: list[Sequence[Any]] = []
        for row in iterator:
            sample.append(row)
            if len(sample) >= WIDTH_SAMPLE_ROWS:
                break
        computed = self._widths(columns, sample)
        if widths:
            computed.update(widths)

        sheets: list[Worksheet] = []
        sheet: Worksheet | None = None
        row_in_sheet = per_sheet  # forces a new sheet on the first row
        ncols = len(columns)

        def start_sheet() -> Worksheet:
            name = sheet_name if not sheets else safe_sheet_name(sheet_name, f"({len(sheets) + 1})")
            new = self.add_sheet(name)
            for col in range(ncols):
                new.set_column(
                    col, col, computed.get(col, MIN_WIDTH), (column_formats or {}).get(col)
                )
            new.freeze_panes(1, 0)
            self.write_header(new, columns, header_formats)
            sheets.append(new)
            return new

        def finish(current: Worksheet, n_rows: int) -> None:
            if autofilter and ncols:
                current.autofilter(0, 0, max(n_rows, 1), ncols - 1)

        # each row's cell formats as a list (one look-up per cell, not a call)
        cells = cell_formats or {}
        width = max([ncols, *(col + 1 for col in cells)])
        base: list[Format | None] = [cells.get(col) for col in range(width)]
        positions = range(width)
        for data_index, row in enumerate(itertools.chain(sample, iterator)):
            if row_in_sheet >= per_sheet:
                if sheet is not None:
                    finish(sheet, row_in_sheet)
                sheet = start_sheet()
                row_in_sheet = 0
            row_in_sheet += 1
            formats, where = base, positions
            if len(row) > width:  # more values than columns: no cell format beyond them
                formats, where = [*base, *([None] * (len(row) - width))], range(len(row))
            style = row_styles(data_index) if row_styles is not None else None
            if style:
                formats = list(formats)
                for col, fmt in style.items():
                    if fmt is not None and col < len(formats):
                        formats[col] = fmt
            if isinstance(sheet, RowSheet):
                sheet.add_row(row_in_sheet, row, formats, where)
            else:
                self._write_row(sheet, row_in_sheet, row, formats, where)
        if sheet is None:
            sheet = start_sheet()
            row_in_sheet = 0
        finish(sheet, row_in_sheet)
        return sheets

    def _write_row(
        self,
        sheet: Worksheet,
        row: int,
        values: Sequence[Any],
        formats: Sequence[Format | None],
        positions: range,
    ) -> None:
        """Write ``values`` at ``positions`` of ``row``, each in its format: the common types
        (text, ``None``, finite numbers, naive dates and date-times) here, inline, the rest
        through :meth:`_write_other`."""
        # xlsxwriter's typed writers without the wrapper of their public names, which
        # accepts "A1" cell references (a third of the cost of writing a cell); the public
        # ones where a version lacks them
        write_string = getattr(sheet, "_write_string", sheet.write_string)
        write_number = getattr(sheet, "_write_number", sheet.write_number)
        write_datetime = getattr(sheet, "_write_datetime", sheet.write_datetime)
        # a short row leaves its last cells unwritten
        for value, fmt, col in zip(values, formats, positions, strict=False):
            kind = type(value)
            if kind is str:
                write_string(row, col, value, fmt)
            elif value is None:
                if fmt is not None:
                    sheet.write_blank(row, col, None, fmt)
            elif kind is float:
                if math.isfinite(value):
                    write_number(row, col, value, fmt)
                else:
                    self._write_other(sheet, row, col, value, fmt)
            elif kind is int:
                write_number(row, col, float(value), fmt)
            elif kind is dt.datetime and value.tzinfo is None:
                write_datetime(row, col, value, fmt or self.datetime)
            elif kind is dt.date:
                write_datetime(
                    row, col, dt.datetime(value.year, value.month, value.day), fmt or self.date
                )
            else:
                self._write_other(sheet, row, col, value, fmt)

    def write_frame(self, sheet_name: str, frame: Any, **kwargs: Any) -> list[Worksheet]:
        """:meth:`write_table` for a pandas DataFrame (its columns and rows, index dropped)."""
        columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
        names = [str(c) for c in frame.columns]
        return self.write_table(sheet_name, names, column_rows(columns), **kwargs)

    def write_columns(
        self, sheet_name: str, columns: Mapping[str, Any], **kwargs: Any
    ) -> list[Worksheet]:
        """:meth:`write_table` for equally long columns (pandas Series) by header."""
        return self.write_table(
            sheet_name, list(columns), column_rows(list(columns.values())), **kwargs
        )

    @staticmethod
    def _widths(columns: Sequence[str], sample: Sequence[Sequence[Any]]) -> dict[int, float]:
        widths: dict[int, float] = {}
        for col, name in enumerate(columns):
            texts: set[str] = set()
            for row in sample:
                value = row[col] if col < len(row) else None
                if type(value) is str:
                    texts.add(value)
                elif value is not None and not is_missing(value):
                    texts.add(_cell_text(value))
            width = max([display_width(str(name)), *map(display_width, texts)]) + 2
            widths[col] = float(min(max(width, MIN_WIDTH), MAX_WIDTH))
        return widths
