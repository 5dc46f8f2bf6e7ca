"""Reading one 病案首页 / 申报人员 workbook into the stored row frame (templates.md "Reading a workbook").

:func:`read_workbook` never raises for bad input: a file that cannot be used is returned with
``rejected`` holding the one Chinese message the user sees. Cell data is read with fastexcel
(Rust, calamine) as strings; every column is normalised with :mod:`cwdx.values`.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import fastexcel
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx import stored_rows
from cwdx.errors import os_error_text
from cwdx.hashing import file_sha256
from cwdx.reference import TABLE_TITLES, ColumnSpec, Reference, load_reference
from cwdx.values import (
    EXCEL_ERRORS,
    cell_text,
    column_upper,
    nfkc_strip,
    nfkc_strip_array,
    normalise_arrays,
)
from cwdx.xlsx_guard import column_letters, inspect_workbook

log = logging.getLogger(__name__)

TableArg = Literal["cases", "staff"]

#: The sentence every rejection ends with (templates.md).
FIX_HINT = "请在系统中下载相关表样，重新整理数据后上传。"

ACCEPTED_SUFFIXES = (".xlsx", ".xlsm")

# Folds applied to header text after NFKC (which already maps Ⅰ→I, Ⅱ→II, （→( ).
_HEADER_FOLD = str.maketrans({"Ⅰ": "I", "Ⅱ": "II", "ⅰ": "I", "ⅱ": "II"})
_WS_RE = re.compile(r"\s+")


#: Other names of template columns found in older templates (header key → template column).
HEADER_ALIASES: dict[str, str] = {"质控护士": "质控护师"}


def header_key(text: str | None) -> str:
    """The form header cells compare in: NFKC, all white space removed, Roman numerals folded."""
    if text is None:
        return ""
    folded = unicodedata.normalize("NFKC", str(text)).translate(_HEADER_FOLD)
    key = _WS_RE.sub("", folded)
    return HEADER_ALIASES.get(key, key)


def column_letter(index: int) -> str:
    """Excel column letters of a 0-based column index (0 → A, 28 → AC)."""
    return column_letters(index + 1)


@dataclass
class ColumnChange:
    """What normalisation changed in one column (beyond white space and case)."""

    column: str
    changed: int
    examples: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class NormalisationReport:
    """The import report: per column, the cells normalisation changed and a few examples."""

    columns: list[ColumnChange] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Cells changed in all columns."""
        return sum(c.changed for c in self.columns)

    def to_frame(self) -> pd.DataFrame:
        """One row per changed column: 列名, 修改单元格数, 示例 (``0304 → 03.04；…``)."""
        return pd.DataFrame(
            {
                "列名": [c.column for c in self.columns],
                "修改单元格数": [c.changed for c in self.columns],
                "示例": ["；".join(f"{a} → {b}" for a, b in c.examples) for c in self.columns],
            },
            columns=["列名", "修改单元格数", "示例"],
        )

    def describe(self) -> str:
        """A short Chinese summary for the UI."""
        if not self.columns:
            return "读取时未改写任何单元格。"
        parts = [
            f"{c.column}{c.changed}个（如 {c.examples[0][0]} → {c.examples[0][1]}）"
            if c.examples
            else f"{c.column}{c.changed}个"
            for c in self.columns
        ]
        return f"读取时按规范改写了{self.total}个单元格：" + "；".join(parts) + "。"


@dataclass
class ReadResult:
    """One workbook as read: the stored row frame, or the reason it was rejected whole."""

    file: str
    path: Path
    sha256: str
    table: str
    #: the stored rows (:mod:`cwdx.stored_rows`), ``None`` when rejected
    rows_table: pa.Table | None = None
    rows: int = 0
    rejected: str | None = None
    report: NormalisationReport = field(default_factory=NormalisationReport)
    orgs: dict[str, int] = field(default_factory=dict)
    org_names: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the file was accepted."""
        return self.rejected is None

    @functools.cached_property
    def frame(self) -> pd.DataFrame | None:
        """The stored rows as the pandas row frame (made on first use), ``None`` when rejected."""
        return None if self.rows_table is None else stored_rows.to_frame(self.rows_table)


def display_name(path: str | os.PathLike[str]) -> str:
    """A file's name as shown, logged and stored: bytes that are not UTF-8 (a GBK name unpacked
    on Linux arrives as surrogate escapes, which cannot be printed or stored) become ``�``."""
    return os.fsencode(Path(path).name).decode("utf-8", errors="replace")


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as shown to the user, non-UTF-8 bytes as ``�`` (see :func:`display_name`)."""
    return os.fsencode(path).decode("utf-8", errors="replace")


def _reject(result: ReadResult, reason: str) -> ReadResult:
    result.rejected = f"{reason}{FIX_HINT}"
    result.rows_table = None
    result.rows = 0
    log.info("读取：文件 %s（%s）被拒绝", result.file, result.table)
    return result


def _decoder_source(path: Path) -> str | bytes:
    """What fastexcel is given: the path, or the file's bytes when the path is not valid UTF-8
    (fastexcel cannot take such a name; the guard has bounded the file's size)."""
    try:
        os.fsencode(path).decode("utf-8")
        str(path).encode("utf-8")
    except UnicodeError:
        return path.read_bytes()
    return str(path)


_ERROR_DETAIL_RE = re.compile(
    r"got '(?:Error\((\w+)\)|DateTime\(ExcelDateTime \{ value: ([^,]+),"
    r"|(?:DateTimeIso|DurationIso)\(\"(.*)\"\))"
)


def _unreadable_cell_text(detail: str) -> str | None:
    """The text of a cell fastexcel could not give as a string, from its error detail: an
    Excel error value (``#N/A``), or the number of a date cell outside the calendar (``1e+308``)."""
    match = _ERROR_DETAIL_RE.search(detail)
    if match is None:
        return None
    error, number, iso = match.groups()
    if error is not None:
        return EXCEL_ERRORS.get(error, f"#{error}")
    if number is not None:
        try:
            return cell_text(float(number))
        except ValueError:
            return number
    return iso


def _with_unreadable_cells(
    batch: pa.RecordBatch, errors: fastexcel.CellErrors | None
) -> pa.RecordBatch:
    """``batch`` with the cells fastexcel returned as null because they are no string (error
    values, dates outside the calendar) filled with their text, so they are format errors with
    their raw value instead of empty cells."""
    if errors is None or not errors.errors:
        return batch
    by_column: dict[int, dict[int, str]] = {}
    lost = 0
    for error in errors.errors:
        row, col = error.offset_position
        text = _unreadable_cell_text(error.detail)
        if text is None or not 0 <= col < batch.num_columns or not 0 <= row < batch.num_rows:
            lost += 1
            continue
        by_column.setdefault(col, {})[row] = text
    if lost:
        log.warning("读取：%d 个单元格的值无法识别，按空单元格处理", lost)
    columns = list(batch.columns)
    for col, cells in by_column.items():
        values = columns[col].to_pylist()
        for row, text in cells.items():
            values[row] = text
        columns[col] = pa.array(values, type=pa.string())
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _empty_mask(column: pa.Array) -> np.ndarray:
    """Cells that are empty (null, white space, dash) as a numpy bool array."""
    encoded = pc.dictionary_encode(column)
    empty_unique = pc.is_null(nfkc_strip_array(encoded.dictionary)).to_numpy(zero_copy_only=False)
    ids = pc.fill_null(encoded.indices, len(empty_unique)).to_numpy(zero_copy_only=False)
    return np.append(empty_unique, True)[ids]


def _sheet_header_keys(reader: fastexcel.ExcelReader, index: int) -> set[str]:
    sheet = reader.load_sheet(index, header_row=None, dtypes="string", skip_rows=0, n_rows=1)
    batch = sheet.to_arrow()
    if batch.num_rows == 0:
        return set()
    return {header_key(batch.column(i)[0].as_py()) for i in range(batch.num_columns)}


def _header_row_below(batch: pa.RecordBatch, keys: set[str], look: int = 10) -> int | None:
    """The Excel row (2…``look``) that holds template column names when row 1 does not."""
    for row in range(1, min(look, batch.num_rows)):
        cells = {header_key(batch.column(i)[row].as_py()) for i in range(batch.num_columns)}
        if cells & keys:
            return row + 1
    return None


def _quote_list(names: list[str]) -> str:
    return "、".join(f"“{name}”" for name in names)


def read_workbook(
    path: str | Path,
    table: TableArg | None,
    reference: Reference | None = None,
    sha256: str | None = None,
) -> ReadResult:
    """Read the first sheet of an .xlsx/.xlsm workbook as ``table`` ("cases" or "staff"), or,
    when ``table`` is ``None``, as the table its header row belongs to (:func:`recognise_table`;
    :attr:`ReadResult.table` then says which, ``""`` when the file was refused before).

    Returns a :class:`ReadResult`; ``rejected`` holds the full Chinese message when the file is
    rejected whole (wrong type, unreadable, wrong header, a header of neither table), and
    ``frame`` is then ``None``. (:func:`open_workbook` then :func:`normalise_workbooks`: a batch
    of files reads the same, with the columns of all its files normalised together.)
    """
    ref = reference or load_reference()
    result, header = open_workbook(path, table, ref, sha256)
    if header is not None:
        normalise_workbooks([(result, header)], ref)
    return result


def open_workbook(
    path: str | Path,
    table: TableArg | None,
    reference: Reference | None = None,
    sha256: str | None = None,
) -> tuple[ReadResult, SheetHeader | None]:
    """The first step of :func:`read_workbook`: the file decoded and its header row matched to
    the template. Returns the result and the matched sheet, or the result with ``rejected``
    set and ``None``."""
    if table is not None and table not in TABLE_TITLES:
        raise ValueError(f"unknown table {table!r}")
    ref = reference or load_reference()
    path = Path(path)
    name = display_name(path)
    result = ReadResult(file=name, path=path, sha256="", table=table or "")

    refusal = _path_refusal(path, name)
    if refusal is not None:
        return _reject(result, refusal), None
    digest = sha256 or file_sha256(path)
    if digest is None:
        return _reject(result, f"文件“{name}”无法打开（文件不存在或没有读取权限）。"), None
    result.sha256 = digest
    loaded = _load_first_sheet(path, name)
    if isinstance(loaded, str):
        return _reject(result, loaded), None
    reader, batch, absolute = loaded
    if table is None:
        table = recognise_table(_header_cells(batch), ref)
        if table is None:
            return _reject(result, _unrecognised(reader, batch, ref, name)), None
        result.table = table

    specs = ref.columns(table)
    header = _match_header(batch, absolute, {header_key(spec.name): spec for spec in specs})
    refusal = _header_refusal(header, reader, batch, ref, table, name)
    if refusal is not None:
        return _reject(result, refusal), None
    return result, header


def normalise_workbooks(
    opened: Sequence[tuple[ReadResult, SheetHeader]], reference: Reference | None = None
) -> None:
    """The second step of :func:`read_workbook` for files :func:`open_workbook` accepted:
    every template column of all the files of one table normalised in one pass
    (:func:`~cwdx.values.normalise_arrays`), then each result's frame, rows, normalisation
    report and institutions filled in, exactly as reading each file alone does."""
    ref = reference or load_reference()
    for table in dict.fromkeys(result.table for result, _ in opened):
        group = [(result, header) for result, header in opened if result.table == table]
        specs = ref.columns(table)  # type: ignore[arg-type]
        built = _normalised_frames(
            [header for _, header in group], specs, ref, [result.file for result, _ in group]
        )
        for (result, _), (rows, report) in zip(group, built, strict=True):
            result.rows_table = rows
            result.rows = rows.num_rows
            result.report = report
            result.orgs = stored_rows.org_counts(rows)
            result.org_names = stored_rows.org_names(rows)
            log.info(
                "读取：文件 %s（%s），%d 行，%d 个机构，规范化改写 %d 个单元格",
                result.file,
                table,
                result.rows,
                len(result.orgs),
                report.total,
            )


def _path_refusal(path: Path, name: str) -> str | None:
    """Why a path is not a workbook we read (a folder, a non-.xlsx name), or ``None``."""
    if path.is_dir():
        return f"“{name}”是文件夹，不是文件，请选择文件夹中的 .xlsx 文件（可一次选择多个）。"
    if path.suffix.lower() not in ACCEPTED_SUFFIXES:
        return (
            f"文件“{name}”不是 .xlsx 格式的 Excel 工作簿，系统只接受 .xlsx（或 .xlsm）文件，"
            "请在 Excel 中“另存为”Excel 工作簿（*.xlsx）。"
        )
    return None


def _load_first_sheet(
    path: Path, name: str
) -> tuple[fastexcel.ExcelReader, pa.RecordBatch, list[int]] | str:
    """``(reader, first sheet as strings, absolute column index of each batch column)``, or
    why the file cannot be read."""
    unreadable = (
        f"文件“{name}”不是可以读取的 Excel 工作簿（文件为空、已损坏、已加密或不是 .xlsx "
        "格式），请在 Excel 中打开确认，去掉密码后另存为 .xlsx。"
    )
    try:
        refusal = inspect_workbook(path, name)
    except OSError as exc:
        return f"文件“{name}”无法读取（{os_error_text(exc)}）。"
    if refusal is not None:
        return refusal
    try:
        reader = fastexcel.read_excel(_decoder_source(path))
        if not reader.sheet_names:
            return unreadable
        sheet = reader.load_sheet(0, header_row=None, dtypes="string", skip_rows=0)
        batch = _with_unreadable_cells(*sheet.to_arrow_with_errors())
        absolute = [info.absolute_index for info in sheet.available_columns()]
    except Exception:  # fastexcel raises its own error types for every unreadable file
        return unreadable
    return reader, batch, absolute


@dataclass
class SheetHeader:
    """Row 1 of the first sheet matched against a template's columns."""

    #: header cell text per batch column
    cells: list[str | None]
    #: the data rows (Excel row 2 on)
    data: pa.RecordBatch
    #: key (:func:`header_key`) -> template column
    by_key: dict[str, ColumnSpec]
    #: template column name -> batch column
    matched: dict[str, int] = field(default_factory=dict)
    #: columns not in the template (quoted header, or 第X列 for a filled unnamed column)
    extra: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def _match_header(
    batch: pa.RecordBatch, absolute: list[int], by_key: dict[str, ColumnSpec]
) -> SheetHeader:
    """Match the header cells (Excel row 1 = batch row 0) to the template's columns."""
    header = SheetHeader(
        cells=[
            batch.column(i)[0].as_py() if batch.num_rows else None for i in range(batch.num_columns)
        ],
        data=batch.slice(1) if batch.num_rows else batch,
        by_key=by_key,
    )
    extra_keys: set[str] = set()
    for i, cell in enumerate(header.cells):
        key = header_key(cell)
        if not key:
            if not _empty_mask(header.data.column(i)).all():
                header.extra.append(f"第{column_letter(absolute[i])}列")
            continue
        spec = by_key.get(key)
        if spec is None:
            shown = nfkc_strip(str(cell))
            if key not in extra_keys:
                extra_keys.add(key)
                header.extra.append(f"“{shown}”")
            elif shown not in header.duplicates:
                header.duplicates.append(shown)
        elif spec.name in header.matched:
            if spec.name not in header.duplicates:
                header.duplicates.append(spec.name)
        else:
            header.matched[spec.name] = i
    return header


def _header_refusal(
    header: SheetHeader,
    reader: fastexcel.ExcelReader,
    batch: pa.RecordBatch,
    ref: Reference,
    table: TableArg,
    name: str,
) -> str | None:
    """Why the header does not fit the template (and what the file is instead), or ``None``."""
    title = TABLE_TITLES[table]
    if not header.matched:
        return _no_template_column(reader, batch, set(header.by_key), title, name)
    missing = [spec.name for spec in ref.columns(table) if spec.name not in header.matched]
    if missing or header.extra:
        other: TableArg = "staff" if table == "cases" else "cases"
        header_keys = {header_key(cell) for cell in header.cells}
        if all(header_key(spec.name) in header_keys for spec in ref.columns(other)):
            return (
                f"文件“{name}”是《{TABLE_TITLES[other]}》的数据，不是《{title}》的数据，"
                f"请作为《{TABLE_TITLES[other]}》导入。"
            )
    problems = []
    if missing:
        problems.append(f"缺少{len(missing)}列：{_quote_list(missing)}")
    if header.extra:
        problems.append(f"多出{len(header.extra)}列：{'、'.join(header.extra)}")
    if header.duplicates:
        problems.append(f"列名重复：{_quote_list(header.duplicates)}")
    if problems:
        return f"文件“{name}”的列与《{title}》表样不一致，" + "；".join(problems) + "。"
    return None


def _header_cells(batch: pa.RecordBatch) -> list[str | None]:
    """The cells of Excel row 1 (the header row) of the first sheet."""
    if not batch.num_rows:
        return []
    return [batch.column(i)[0].as_py() for i in range(batch.num_columns)]


def _template_keys(ref: Reference, table: TableArg) -> set[str]:
    return {header_key(spec.name) for spec in ref.columns(table)}


def recognise_table(cells: list[str | None], ref: Reference | None = None) -> TableArg | None:
    """Which table a header row (the cells of Excel row 1) belongs to: the one with more of its
    own column names in it (names both templates have, such as 组织机构代码, do not count);
    ``None`` when neither has any, or both as many."""
    ref = ref or load_reference()
    keys = {header_key(cell) for cell in cells}
    cases, staff = _template_keys(ref, "cases"), _template_keys(ref, "staff")
    shared = cases & staff
    in_cases, in_staff = len((cases - shared) & keys), len((staff - shared) & keys)
    if in_cases == in_staff:
        return None
    return "cases" if in_cases > in_staff else "staff"


def _unrecognised(
    reader: fastexcel.ExcelReader, batch: pa.RecordBatch, ref: Reference, name: str
) -> str:
    """Why a file's table cannot be told from its header row: no template column in row 1
    (data on another sheet, header lower down, or neither table), or columns of both."""
    both = f"{TABLE_TITLES['cases']}》或《{TABLE_TITLES['staff']}"
    keys = _template_keys(ref, "cases") | _template_keys(ref, "staff")
    if not keys & {header_key(cell) for cell in _header_cells(batch)}:
        return _no_template_column(reader, batch, keys, both, name, "不是这两种表样的数据文件")
    return (
        f"文件“{name}”第一个Sheet“{reader.sheet_names[0]}”第1行的列名无法判断是《{both}》"
        "的数据（两种表样的列都有，或只有两种表样共有的列），未导入。"
    )


def _no_template_column(
    reader: fastexcel.ExcelReader,
    batch: pa.RecordBatch,
    keys: set[str],
    title: str,
    name: str,
    verdict: str = "不是该表样的数据文件",
) -> str:
    """Why row 1 holds no template column: the data is on another sheet, the header is lower
    down, or the file is not of this template (``verdict``)."""
    first_sheet = reader.sheet_names[0]
    for index, other_sheet in enumerate(reader.sheet_names[1:], start=1):
        try:
            sheet_keys = _sheet_header_keys(reader, index)
        except Exception:
            continue
        if sheet_keys & keys:
            return (
                f"文件“{name}”的数据不在数据文件的第一个Sheet中：第一个Sheet“{first_sheet}”"
                f"没有《{title}》表样的列，数据在Sheet“{other_sheet}”中，"
                "请把数据放到第一个Sheet。"
            )
    lower = _header_row_below(batch, keys)
    if lower is not None:
        return (
            f"文件“{name}”第一个Sheet“{first_sheet}”的表头不在第1行（在第{lower}行），"
            f"请删除表头上方的行，使第1行为表头。"
        )
    return (
        f"文件“{name}”第一个Sheet“{first_sheet}”的第1行没有《{title}》表样中的任何列名，{verdict}。"
    )


def _normalised_frames(
    headers: Sequence[SheetHeader],
    specs: tuple[ColumnSpec, ...],
    ref: Reference,
    names: Sequence[str],
) -> list[tuple[pa.Table, NormalisationReport]]:
    """The stored rows of each file (every template column normalised, rows whose cells
    are all empty skipped, bookkeeping ``_file``, ``_row``, ``_org``) and
    what normalisation changed in it; each column of all the files normalised in one pass."""
    columns: list[dict[str, pa.Array]] = [{} for _ in headers]
    reports = [NormalisationReport() for _ in headers]
    for spec in specs:
        normalised = normalise_arrays(
            [header.data.column(header.matched[spec.name]) for header in headers],
            spec.type,
            spec.domain,
            ref,
            upper=column_upper(spec),
        )
        for own, report, column in zip(columns, reports, normalised, strict=True):
            own[spec.name] = column.values
            if column.changed:
                report.columns.append(ColumnChange(spec.name, column.changed, column.examples))
    return [
        (stored_rows.stored_rows(header.data.num_rows, own, name), report)
        for header, own, report, name in zip(headers, columns, reports, names, strict=True)
    ]
