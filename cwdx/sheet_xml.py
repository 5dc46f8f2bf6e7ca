"""A worksheet whose data rows are kept as values and rendered straight to the sheet's XML.

xlsxwriter stores every cell in a table (a tuple, a shared-string look-up) and writes the table
out cell by cell when the workbook closes: about 6 µs a cell, most of the time of a results
workbook. :class:`RowSheet` keeps the rows a table writes (values and their formats, as
:meth:`cwdx.xlsx.Book.write_table` hands them over) and, when the workbook closes, renders
them in one pass: text as inline strings (as xlsxwriter's own ``constant_memory`` mode writes
it), numbers, dates and date-times as numbers in their format, blanks that carry a format.
The cells read back the same as xlsxwriter's; every other part of the sheet (header, widths,
frozen panes, filters, notes written beside the table) is still xlsxwriter's.

Text is always escaped and never taken as markup: where xlsxwriter would write a text that
starts with ``<r>`` and ends with ``</r>`` raw (its rich-string convention), here it stays the
text it is. :class:`StreamSheet` does the same for the sheets xlsxwriter streams to disk
(``constant_memory``: the very large exports).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter.format import Format
from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

#: Columns of a worksheet (XFD).
MAX_COLUMNS = 16_384
#: Longest text of one cell, in UTF-16 units (what Excel keeps; xlsxwriter cuts the same).
MAX_TEXT = 32_767
#: What in a text needs more than writing it as is: XML's special characters, control
#: characters (written ``_xHHHH_``), a literal ``_xHHHH_`` (its underscore escaped), the two
#: non-characters, and whitespace at either end (kept with ``xml:space="preserve"``).
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")

#: One row as :meth:`cwdx.xlsx.Book.write_table` hands it over: the 0-based row, its values,
#: each value's cell format (``None``: the column's), and the columns they go to.
Row = tuple[int, Sequence[Any], Sequence[Format | None], range]


def is_missing(value: object) -> bool:
    """True for ``None``, pandas NA/NaT and float NaN: values written as an empty cell.

    (Not the templates' notion of an empty cell, which also covers blanks and dashes:
    that is :func:`cwdx.values.is_empty`.)
    """
    if value is None:
        return True
    if type(value) is float:
        return value != value
    if isinstance(value, str | bytes | bool | int):
        return False
    result = pd.isna(value)
    return isinstance(result, bool | np.bool_) and bool(result)


def plain_value(value: Any) -> Any:
    """A value of a type the writers handle directly (``None``, ``str``, ``bool``, finite
    ``float``, naive ``datetime``, ``date``) that writes the same cell as ``value``: missing
    values (NaN, NA, NaT) become ``None``, time zones are dropped, other real numbers become
    floats (not finite: their text), anything else its text."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime):  # pandas Timestamp is a datetime
        return dt.datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
        )
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    if isinstance(value, numbers.Real | Decimal):
        number = float(value)
        return number if math.isfinite(number) else str(value)
    return str(value)


def style_attribute(fmt: Format | None) -> str:
    """The ``s`` attribute of a cell in ``fmt`` (nothing without a format)."""
    return f' s="{fmt._get_xf_index()}"' if fmt is not None else ""


def inline_text_cell(ref: str, style: str, text: str) -> str:
    """The ``<c>`` element of ``text`` as an inline string at ``ref`` (``style``: its ``s``
    attribute): cut to :data:`MAX_TEXT`, escaped the way xlsxwriter escapes a string (control
    characters as ``_xHHHH_``, edge spaces kept) and always XML-escaped, never markup."""
    if len(text) > MAX_TEXT // 2 and _utf16_len(text) > MAX_TEXT:
        text = _utf16_truncate(text, MAX_TEXT)
    space = ""
    if _SPECIAL.search(text):
        text = Worksheet._escape_control_characters(text)
        space = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'


class RowSheet(Worksheet):
    """An xlsxwriter worksheet that also holds rows of values (:meth:`add_row`) and renders
    them when the workbook closes (see the module's text)."""

    def __init__(self) -> None:
        super().__init__()
        self.held_rows: list[Row] = []
        #: Formats of date and date-time values whose cell has none (set by the book).
        self.date_format: Format | None = None
        self.datetime_format: Format | None = None
        #: Writes one held row through xlsxwriter's table (set by the book): used when cells
        #: were written into the held rows' range by other means.
        self.write_through: Callable[[Worksheet, int, Sequence[Any], Sequence[Any], range], None]
        self.write_through = _no_write_through

    def add_row(
        self, row: int, values: Sequence[Any], formats: Sequence[Format | None], positions: range
    ) -> None:
        """Hold one row (0-based ``row``, rows in ascending order) to be rendered at close."""
        values = tuple(values)
        self.held_rows.append((row, values, formats, positions))
        if values and len(positions):
            self._check_dimensions(row, positions[0])
            self._check_dimensions(row, positions[min(len(values), len(positions)) - 1])

    def settle(self) -> None:
        """Before the workbook closes: when cells were written into the held rows' range by
        other means, hand the held rows to xlsxwriter's table after all (the cells written
        by other means, written later, stay on top)."""
        held = self.held_rows
        if not held:
            return
        first, last = held[0][0], held[-1][0]
        if not self._written_inside(first, last):
            return
        later = {row: dict(cells) for row, cells in self.table.items() if first <= row <= last}
        for row, values, formats, positions in held:
            self.write_through(self, row, values, formats, positions)
        for row, cells in later.items():
            self.table[row].update(cells)
        self.held_rows = []

    def _written_inside(self, first: int, last: int) -> bool:
        """Whether a cell, row setting or comment of xlsxwriter's lies in rows first..last."""
        return any(
            first <= row <= last and (rows is not self.table or bool(self.table[row]))
            for rows in (self.table, self.row_info, self.comments)
            for row in list(rows)
        )

    # -- at close --------------------------------------------------------------------------
    def _write_sheet_data(self) -> None:
        held = self.held_rows
        if not held:
            super()._write_sheet_data()
            return
        first, last = held[0][0], held[-1][0]
        if self._written_inside(first, last):
            raise RuntimeError("RowSheet.settle() must run before the workbook closes")
        # the rows before and after the held ones are xlsxwriter's: written by its own loop over
        # a narrowed row range (its dimension attributes, read and set through the instance's
        # dict: xlsxwriter gives them no declared type)
        dims: dict[str, Any] = self.__dict__
        low, high = dims["dim_rowmin"], dims["dim_rowmax"]
        self._xml_start_tag("sheetData")
        if low is not None and low < first:
            dims["dim_rowmax"] = first - 1
            self._write_rows()
        self.fh.write(self._render(held))
        if high is not None and high > last:
            dims["dim_rowmin"], dims["dim_rowmax"] = last + 1, high
            self._write_rows()
        dims["dim_rowmin"], dims["dim_rowmax"] = low, high
        self._xml_end_tag("sheetData")

    def _render(self, held: list[Row]) -> str:
        """The ``<row>`` elements of the held rows."""
        widest = min(MAX_COLUMNS, 1 + max((p[-1] for _, _, _, p in held if len(p)), default=0))
        letters = [xl_col_to_name(col) for col in range(widest)]
        column_xf = {
            col: info.column_format._get_xf_index()
            for col, info in self.col_info.items()
            if info.column_format is not None
        }
        date_xf = style_attribute(self.date_format)
        datetime_xf = style_attribute(self.datetime_format)
        # (s attribute of each cell, s of a date cell, s of a blank cell) per formats list
        attributes: dict[int, tuple[list[str], list[str], list[str], list[str]]] = {}
        out: list[str] = []
        append = out.append
        for row, values, formats, positions in held:
            key = id(formats)  # every formats list is alive in ``held``: ids are unique
            attrs = attributes.get(key)
            if attrs is None:
                attrs = attributes[key] = self._attributes(
                    formats, positions, column_xf, date_xf, datetime_xf
                )
            own, dates, datetimes, blanks = attrs
            number = row + 1
            append(f'<row r="{number}">')
            for i, value in enumerate(values):
                if i >= len(positions) or positions[i] >= MAX_COLUMNS:
                    break  # beyond the sheet's last column: xlsxwriter writes nothing there
                kind = type(value)
                if kind is not str and kind is not float and kind is not int:
                    value = plain_value(value)
                    kind = type(value)
                ref = f"{letters[positions[i]]}{number}"
                if kind is str:
                    append(inline_text_cell(ref, own[i], value))
                elif kind is float:
                    if math.isfinite(value):
                        append(f'<c r="{ref}"{own[i]}><v>{value:.16G}</v></c>')
                    elif value != value:  # NaN: missing
                        if blanks[i]:
                            append(f'<c r="{ref}"{blanks[i]}/>')
                    else:  # infinite: its text, as xlsxwriter cannot write it as a number
                        append(inline_text_cell(ref, own[i], str(value)))
                elif kind is int:
                    append(f'<c r="{ref}"{own[i]}><v>{float(value):.16G}</v></c>')
                elif value is None:
                    if blanks[i]:
                        append(f'<c r="{ref}"{blanks[i]}/>')
                elif kind is bool:
                    append(f'<c r="{ref}"{own[i]} t="b"><v>{int(value)}</v></c>')
                elif kind is dt.datetime:
                    serial = self._convert_date_time(value)
                    append(f'<c r="{ref}"{datetimes[i]}><v>{serial:.16G}</v></c>')
                else:  # a date
                    moment = dt.datetime(value.year, value.month, value.day)
                    serial = self._convert_date_time(moment)
                    append(f'<c r="{ref}"{dates[i]}><v>{serial:.16G}</v></c>')
            append("</row>")
        return "".join(out)

    def _attributes(
        self,
        formats: Sequence[Format | None],
        positions: range,
        column_xf: dict[int, int],
        date_xf: str,
        datetime_xf: str,
    ) -> tuple[list[str], list[str], list[str], list[str]]:
        """For each position: the ``s`` attribute of a value (its cell format, else its
        column's), of a date and of a date-time (the cell format, else the book's date or
        date-time format) and of a blank (only a cell format: a blank without one is not
        written)."""
        own, dates, datetimes, blanks = [], [], [], []
        for i, col in enumerate(positions):
            fmt = formats[i] if i < len(formats) else None
            cell = style_attribute(fmt)
            column = f' s="{column_xf[col]}"' if col in column_xf else ""
            own.append(cell or column)
            dates.append(cell or date_xf)
            datetimes.append(cell or datetime_xf)
            blanks.append(cell)
        return own, dates, datetimes, blanks


def _no_write_through(
    sheet: Worksheet, row: int, values: Sequence[Any], formats: Sequence[Any], positions: range
) -> None:
    raise RuntimeError("RowSheet.write_through is not set")


class StreamSheet(Worksheet):
    """An xlsxwriter worksheet for streamed books (``constant_memory``) that writes a text
    starting with ``<r>`` and ending with ``</r>`` as the text it is (xlsxwriter would write
    it raw, as rich-text markup); every other cell as xlsxwriter does."""

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        string = getattr(cell, "string", None)
        if not (
            self.constant_memory
            and type(cell).__name__ == "String"
            and isinstance(string, str)
            and string.startswith("<r>")
            and string.endswith("</r>")
        ):
            super()._write_cell(row, col, cell)
            return
        fmt = cell.format
        if fmt is None and col in self.col_info:
            fmt = self.col_info[col].column_format
        ref = f"{xl_col_to_name(col)}{row + 1}"
        self.fh.write(inline_text_cell(ref, style_attribute(fmt), string))
