"""xlsx writing benchmark: cwdx's :class:`cwdx.xlsx.Book` against a bare xlsxwriter yardstick
(on demand, not in pytest).

    .venv/bin/python benchmarks/bench_xlsx.py [--rows 20000] [--rounds 5]

Two workloads, each written to a workbook in memory-assembled mode (as the exports do):

- **feedback**: a 标注数据-like table (文件, 行号, 问题说明 and the 73 病案首页 template columns:
  text, codes, numbers, dates, date-times, blanks, text such as ``=1+1``) with one to three
  painted cells per row (error / warning fills, with the date format on date columns), and a
  问题明细-like table of seven columns whose 规则编号/级别 are in red on error rows;
- **results**: a 病例清单/指标汇总-like DataFrame (pyarrow strings, ``Int64`` and ``Float64``
  with missing values, object columns of dates and date-times; text columns formatted as text,
  decimal columns with ``0.00``) written with :meth:`Book.write_frame`.

The yardstick writes the same cells with the same formats through xlsxwriter's typed
methods (``write_string`` / ``write_number`` / ``write_datetime`` / ``write_blank``, chosen
by an inline check of the value's type: the least a plain loop does), from the same rows (a
DataFrame through ``itertuples``), and closes the workbook the same way; its time includes ``close()`` (the XML and the zip), which is the same work in both.
Rounds alternate yardstick and cwdx; printed are the medians of the CPU seconds
(``time.process_time``) and their ratio, plus the yardstick's ``close()`` share.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import math
import numbers
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter

from cwdx.reference import load_reference
from cwdx.xlsx import DATE_FORMATS, FILLS, Book

SEVERITIES = tuple(FILLS)
TEXT = ("张三", "内科", "=1+1", "A01.001", "急性心肌梗死,其他的", "0012", "-", " 空格 ")


def _value(kind: str, rng: random.Random) -> Any:
    """One synthetic cell of template type ``kind`` (about one in six empty)."""
    if rng.random() < 0.16:
        return None
    if kind == "int":
        return rng.randint(0, 120) if rng.random() < 0.95 else "五十"
    if kind == "decimal":
        return round(rng.uniform(100, 90000), 2)
    if kind == "date":
        return dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 30000))
    if kind == "datetime":
        return dt.datetime(2023, 1, 1, 8) + dt.timedelta(minutes=5 * rng.randint(0, 200000))
    return rng.choice(TEXT) + str(rng.randint(0, 999))


class Table:
    """One sheet to write: columns, row tuples, per-row {column: format key} and per-column
    cell format keys (resolved to each workbook's own formats)."""

    def __init__(
        self,
        name: str,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        styles: list[dict[int, str]] | None = None,
        column_text: Sequence[int] = (),
        cell_keys: dict[int, str] | None = None,
        frame: pd.DataFrame | None = None,
    ) -> None:
        self.name, self.columns, self.rows = name, list(columns), rows
        self.styles, self.column_text = styles, tuple(column_text)
        self.cell_keys, self.frame = cell_keys or {}, frame


def feedback_tables(n: int, seed: int = 1) -> list[Table]:
    """标注数据-like and 问题明细-like tables of ``n`` rows each."""
    rng = random.Random(seed)
    specs = load_reference().columns("cases")
    kinds = [spec.type for spec in specs]
    marked_rows, marked_styles = [], []
    for i in range(n):
        values = [_value(kind, rng) for kind in kinds]
        marked_rows.append(
            (f"病案首页数据-{i % 2 + 1}.xlsx", i + 2, "E16：性别不在范围内", *values)
        )
        painted = {3 + rng.randrange(len(kinds)): rng.choice(SEVERITIES) for _ in range(3)}
        marked_styles.append({c: f"{s}|{kinds[c - 3]}" for c, s in painted.items()})
    detail_rows, detail_styles = [], []
    for i in range(n):
        severity = rng.choice(SEVERITIES)
        detail_rows.append(
            (
                "病案首页数据-1.xlsx",
                i + 2,
                rng.choice(("性别", "主要诊断编码", None)),
                rng.choice(TEXT),
                "E16",
                "错误" if severity == "error" else "警告",
                "“性别”不在规定取值范围内（RC001），请改为列表中的代码",
            )
        )
        detail_styles.append({4: "red", 5: "red"} if severity == "error" else {})
    marked_columns = ["文件", "行号", "问题说明", *(spec.name for spec in specs)]
    detail_columns = ["文件", "行号", "列名", "原值", "规则编号", "级别", "说明"]
    return [
        Table("标注数据", marked_columns, marked_rows, marked_styles),
        Table("问题明细", detail_columns, detail_rows, detail_styles),
    ]


def results_tables(n: int, seed: int = 2) -> list[Table]:
    """A 病例清单/指标汇总-like DataFrame of ``n`` rows."""
    rng = random.Random(seed)
    data: dict[str, pd.Series] = {}
    for j in range(8):
        data[f"文本{j}"] = pd.Series(
            [None if rng.random() < 0.1 else rng.choice(TEXT) for _ in range(n)], dtype="string"
        )
    for j in range(4):
        data[f"整数{j}"] = pd.Series(
            [None if rng.random() < 0.1 else rng.randint(0, 500) for _ in range(n)], dtype="Int64"
        )
    data["计数"] = pd.Series([rng.randint(0, 50) for _ in range(n)], dtype="int64")
    for j in range(3):
        data[f"比例{j}"] = pd.Series(
            [None if rng.random() < 0.2 else rng.uniform(0, 100) for _ in range(n)],
            dtype="Float64",
        )
    data["出院时间"] = pd.Series([_value("datetime", rng) for _ in range(n)], dtype="object")
    data["聘任时间"] = pd.Series([_value("date", rng) for _ in range(n)], dtype="object")
    frame = pd.DataFrame(data)
    columns = list(frame.columns)
    return [
        Table(
            "病例清单",
            columns,
            list(frame.itertuples(index=False, name=None)),
            column_text=[i for i, c in enumerate(columns) if c.startswith("文本")],
            cell_keys={i: "percent2" for i, c in enumerate(columns) if c.startswith("比例")},
            frame=frame,
        )
    ]


def _formats(book: Book) -> Callable[[str | None], Any]:
    """Format key → the format of ``book`` (``red``, ``percent2``, ``severity|type``)."""
    red = book.workbook.add_format({"font_color": "#C00000"})

    def resolve(key: str | None) -> Any:
        if key is None:
            return None
        if key == "red":
            return red
        if key == "percent2":
            return book.percent2
        severity, _, kind = key.partition("|")
        return book.fill(severity, DATE_FORMATS.get(kind))

    return resolve


def write_cwdx(path: Path, tables: list[Table]) -> None:
    """Write ``tables`` through :class:`Book` as the exports do."""
    with Book(path, in_memory=True) as book:
        fmt = _formats(book)
        row_styles = "row_styles" in inspect.signature(book.write_table).parameters
        for table in tables:
            cells = {c: fmt(k) for c, k in table.cell_keys.items()}
            texts = {c: book.text for c in table.column_text}
            if table.frame is not None:
                book.write_frame(table.name, table.frame, column_formats=texts, cell_formats=cells)
                continue
            styles = [{c: fmt(k) for c, k in s.items()} for s in table.styles or []]
            if row_styles:
                book.write_table(
                    table.name, table.columns, table.rows, row_styles=styles.__getitem__
                )
            else:  # the writer before row_styles: one call per cell
                book.write_table(
                    table.name,
                    table.columns,
                    table.rows,
                    cell_style=lambda i, c, styles=styles: styles[i].get(c),
                )


def write_yardstick(path: Path, tables: list[Table]) -> None:
    """The same cells with bare xlsxwriter (same workbook options and formats)."""
    book = Book(path, in_memory=True)  # for its formats and options only
    fmt = _formats(book)
    for table in tables:
        sheet = book.workbook.add_worksheet(table.name)
        for col, name in enumerate(table.columns):
            sheet.set_column(col, col, 12, book.text if col in table.column_text else None)
            sheet.write_string(0, col, name, book.header)
        sheet.freeze_panes(1, 0)
        write_string, write_number = sheet.write_string, sheet.write_number
        write_datetime, write_blank = sheet.write_datetime, sheet.write_blank
        date, datetime = book.date, book.datetime
        cells = [fmt(table.cell_keys.get(c)) for c in range(len(table.columns))]
        styles = [{c: fmt(k) for c, k in s.items()} for s in table.styles or []]
        rows = table.rows if table.frame is None else table.frame.itertuples(False, None)
        for i, row in enumerate(rows):
            r, formats = i + 1, cells
            if styles and styles[i]:
                formats = [styles[i].get(c) or f for c, f in enumerate(cells)]
            for col, value in enumerate(row):
                f = formats[col]
                kind = type(value)
                if kind is str:
                    write_string(r, col, value, f)
                elif value is None:
                    if f is not None:
                        write_blank(r, col, None, f)
                elif kind is dt.datetime:
                    write_datetime(r, col, value, f or datetime)
                elif kind is dt.date:
                    write_datetime(
                        r, col, dt.datetime(value.year, value.month, value.day), f or date
                    )
                elif kind is float or isinstance(value, numbers.Real):
                    if math.isfinite(value):
                        write_number(r, col, float(value), f)
                    elif f is not None:
                        write_blank(r, col, None, f)
                elif f is not None:  # pd.NA
                    write_blank(r, col, None, f)
        sheet.autofilter(0, 0, len(table.rows), len(table.columns) - 1)
    book.close()


def measure(write: Callable[[Path, list[Table]], None], tables: list[Table], folder: Path) -> float:
    """CPU seconds of one write (close included)."""
    path = folder / "out.xlsx"
    start = time.process_time()
    write(path, tables)
    spent = time.process_time() - start
    path.unlink()
    return spent


def close_share(tables: list[Table], folder: Path) -> float:
    """CPU seconds of the yardstick's ``close()`` alone (XML of the sheets and the zip)."""
    closing: list[float] = []
    original = xlsxwriter.Workbook.close

    def timed_close(self: xlsxwriter.Workbook) -> None:
        start = time.process_time()
        original(self)
        closing.append(time.process_time() - start)

    xlsxwriter.Workbook.close = timed_close  # type: ignore[method-assign]
    try:
        measure(write_yardstick, tables, folder)
    finally:
        xlsxwriter.Workbook.close = original  # type: ignore[method-assign]
    return closing[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per table")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args(argv)
    workloads = {"feedback": feedback_tables(args.rows), "results": results_tables(args.rows)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, tables in workloads.items():
            cells = sum(len(t.rows) * len(t.columns) for t in tables)
            yard, ours = [], []
            measure(write_cwdx, tables, folder)  # warm-up (imports, caches)
            for _ in range(args.rounds):
                yard.append(measure(write_yardstick, tables, folder))
                ours.append(measure(write_cwdx, tables, folder))
            closing = close_share(tables, folder)
            y, o = statistics.median(yard), statistics.median(ours)
            print(
                f"{name:9s} {cells:>9,} cells | yardstick {y:6.2f} s CPU "
                f"(close {closing:.2f} s) | cwdx {o:6.2f} s CPU | ratio {o / y:.2f}"
                f" | min {min(ours) / min(yard):.2f}"
            )
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
