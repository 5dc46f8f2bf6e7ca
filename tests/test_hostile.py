"""Hostile files (``tests/hostile/``): each is refused whole with its exact Chinese sentence by
``read_workbook`` and by ``cwdx -w WS import``, exit 2, the workspace's data untouched; bombs
run in a subprocess whose address space is capped, so a regression cannot take the machine
down. Also: unreadable cells (error values, dates outside the calendar) and file names that
are not UTF-8."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import xlsxwriter
from frames_helper import CASE_OK, STAFF_OK
from hostile import MODULES, xlsx_parts
from ws_helper import staff_book

from cwdx.check import check_frames
from cwdx.cli import main
from cwdx.reader import read_workbook
from cwdx.reference import load_reference
from cwdx.workspace import Workspace

#: Address-space cap of the subprocesses (importing pandas/pyarrow/DuckDB takes about 1.5 GB
#: of it; an unguarded bomb asks for 3 GB to 512 GB).
MEMORY_CAP = 2 * 1024**3
TESTS = Path(__file__).parent
CLI = Path(sys.executable).with_name("cwdx")


def _hostile(name: str) -> ModuleType:
    return importlib.import_module(f"hostile.{name}")


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _capped(argv: list[str | bytes], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CWDX_LOG_DIR": str(tmp_path / "log"), "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        argv,
        preexec_fn=_cap_memory,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


_READ_SCRIPT = """
import json, os, sys
from cwdx.reader import read_workbook
result = read_workbook(sys.argv[1], "cases")
print(json.dumps({'rejected': result.rejected, 'rows': result.rows}))
"""


def _data_snapshot(ws: Path) -> dict[str, str]:
    """Every stored data file of the workspace with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(ws)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((ws / "data").rglob("*"))
        if p.is_file()
    }


def _imported(ws: Path) -> list[tuple[str, int]]:
    return [(r.file, r.rows) for r in Workspace(ws).imported_files() if r.rejected is None]


@pytest.mark.parametrize("name", MODULES)
def test_read_workbook_refuses_hostile_file(name: str, tmp_path: Path) -> None:
    module = _hostile(name)
    path = module.build(tmp_path)
    if path.is_file():
        assert path.stat().st_size < 2 * 1024 * 1024  # each hostile file is small on disk
    if module.BOMB:
        done = _capped([sys.executable, "-c", _READ_SCRIPT, os.fsencode(path)], tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout) == {"rejected": module.EXPECTED, "rows": 0}
    else:
        result = read_workbook(path, "cases")
        assert result.rejected == module.EXPECTED
        assert result.frame is None and result.rows == 0


@pytest.mark.parametrize("name", MODULES)
def test_cli_import_refuses_hostile_file_and_keeps_the_workspace(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = _hostile(name)
    ws = tmp_path / "ws"
    staff = staff_book(tmp_path / "人员.xlsx", "H001", "H002")
    assert main(["-w", str(ws), "--quiet", "import", "staff", str(staff)]) == 0
    before = (_data_snapshot(ws), _imported(ws))
    capsys.readouterr()
    path = module.build(tmp_path)
    if module.BOMB:
        done = _capped([str(CLI), "-w", str(ws), "--quiet", "import", "cases", path], tmp_path)
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        code = main(["-w", str(ws), "--quiet", "import", "cases", os.fsdecode(path)])
        out, err = capsys.readouterr()
    assert code == 2, err[-2000:]
    assert err == f"未导入：{module.EXPECTED}\n"
    assert out == "共 1 个文件：导入 0 个（0 行），未导入 1 个。\n"
    assert (_data_snapshot(ws), _imported(ws)) == before


def test_corpus_lists_every_builder() -> None:
    builders = {p.stem for p in (TESTS / "hostile").glob("*.py")} - {"__init__", "xlsx_parts"}
    assert builders == set(MODULES)


# ------------------------------------------------------------------------------------------
# cells fastexcel cannot give as text
# ------------------------------------------------------------------------------------------


def _book_with_unreadable_cells(path: Path, table: str, cells: dict[tuple[int, str], str]) -> Path:
    """A template workbook with two valid rows, then cells replaced by unreadable ones:
    ``"1e308"`` a date-styled number far outside the calendar, ``"#N/A"``/``"#DIV/0!"`` a
    formula whose cached value is that error."""
    ref = load_reference()
    columns = [spec.name for spec in ref.columns(table)]  # type: ignore[arg-type]
    base = CASE_OK if table == "cases" else STAFF_OK
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Sheet1")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for col, name in enumerate(columns):
        sheet.write_string(0, col, name)
    for row in (1, 2):
        record = {**base, "病案号": f"BA{row:05d}"} if table == "cases" else base
        for col, name in enumerate(columns):
            special = cells.get((row, name))
            if special == "1e308":
                sheet.write_number(row, col, 1e308, date_format)
            elif special == "#N/A":
                sheet.write_formula(row, col, "=NA()", None, "#N/A")
            elif special == "#DIV/0!":
                sheet.write_formula(row, col, "=1/0", None, "#DIV/0!")
            elif record.get(name) is not None:
                sheet.write_string(row, col, str(record[name]))
    book.close()
    return path


def _findings(result, rule_id: str) -> list[tuple[int, str, str]]:
    sub = result.findings[result.findings["rule_id"] == rule_id]
    return sorted(
        zip(
            sub["excel_row"].astype(int),
            sub["column"].astype(str),
            sub["value"].astype(str),
            strict=True,
        )
    )


def test_unreadable_staff_cells_are_format_errors_with_their_raw_value(tmp_path: Path) -> None:
    path = _book_with_unreadable_cells(
        tmp_path / "人员.xlsx",
        "staff",
        {(1, "出生日期"): "1e308", (1, "姓名"): "#N/A", (2, "现专业技术职务聘任时间"): "#DIV/0!"},
    )
    result = read_workbook(path, "staff")
    assert result.ok, result.rejected
    frame = result.frame.set_index("_row")
    assert frame.loc[2, "出生日期"] == "1e+308"
    assert frame.loc[2, "姓名"] == "#N/A"
    assert frame.loc[3, "现专业技术职务聘任时间"] == "#DIV/0!"
    checked = check_frames(None, result.frame, None, load_reference(), dt.date(2025, 6, 1))
    assert _findings(checked, "E02") == [
        (2, "出生日期", "1e+308"),
        (2, "姓名", "#N/A"),
        (3, "现专业技术职务聘任时间", "#DIV/0!"),
    ]
    assert _findings(checked, "E01") == []


def test_unreadable_case_date_is_e15_not_empty(tmp_path: Path) -> None:
    path = _book_with_unreadable_cells(
        tmp_path / "病案.xlsx",
        "cases",
        {(1, "入院时间"): "1e308", (2, "住院总费用"): "#N/A", (2, "医疗机构名称"): "#DIV/0!"},
    )
    result = read_workbook(path, "cases")
    assert result.ok, result.rejected
    checked = check_frames(result.frame, None, None, load_reference(), dt.date(2025, 6, 1))
    e15 = _findings(checked, "E15")
    assert (2, "入院时间", "1e+308") in e15
    assert e15 == [
        (2, "入院时间", "1e+308"),
        (3, "住院总费用", "#N/A"),
        (3, "医疗机构名称", "#DIV/0!"),
    ]
    assert _findings(checked, "E16") == []


# ------------------------------------------------------------------------------------------
# file names that are not UTF-8
# ------------------------------------------------------------------------------------------


def test_gbk_named_workbook_imports_with_a_printable_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = "人员".encode("gbk") + b".xlsx"
    path = staff_book(tmp_path / os.fsdecode(raw), "H001")
    shown = raw.decode("utf-8", errors="replace")
    ws = tmp_path / "ws"
    code = main(["-w", str(ws), "--quiet", "import", "staff", str(path)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"文件 {shown}：导入 1 行（H001 1 行）。"
    assert _imported(ws) == [(shown, 1)]
    log_text = (ws / "logs" / "cwdx.log").read_text(encoding="utf-8")
    assert "Traceback" not in log_text and "内部错误" not in log_text
    assert f"文件 {shown}：导入编号 1" in log_text


# ------------------------------------------------------------------------------------------
# what the guard must not refuse
# ------------------------------------------------------------------------------------------


def test_long_formatted_but_empty_range_is_read(tmp_path: Path) -> None:
    """Empty cell elements down to row 700,000 (borders drawn far below the data): the used
    range is 9.1 million cells, beyond the always-fine size, but every one of them is in the
    file, so it is no bomb; the decoder skips empty cells and the one data row is read."""
    ref = load_reference()
    columns = [spec.name for spec in ref.columns("staff")]
    letters = [xlsx_parts.column_letters(i + 1) for i in range(len(columns))]
    header = "".join(
        xlsx_parts.text_cell(f"{c}1", name) for c, name in zip(letters, columns, strict=True)
    )
    data = "".join(
        xlsx_parts.text_cell(f"{c}2", str(STAFF_OK[name]))
        for c, name in zip(letters, columns, strict=True)
    )
    rows = [(1, header), (2, data)]
    rows += [(n, f'<c r="{letters[-1]}{n}"/>') for n in range(3, 700_001)]
    dimension = f"A1:{letters[-1]}700000"
    path = xlsx_parts.write_xlsx_parts(
        tmp_path / "带边框.xlsx", xlsx_parts.sheet_xml(rows, dimension=dimension)
    )
    result = read_workbook(path, "staff")
    assert result.ok, result.rejected
    assert result.rows == 1
    assert result.frame["姓名"].tolist() == [STAFF_OK["姓名"]]


@pytest.mark.parametrize(
    ("dimension", "with_refs"),
    [("A1", True), (None, True), (None, False)],
    ids=["dimension-A1-like-streaming-writers", "no-dimension", "no-cell-references"],
)
def test_plain_files_without_a_true_dimension_are_read(
    tmp_path: Path, dimension: str | None, with_refs: bool
) -> None:
    """Streaming writers put ``<dimension ref="A1"/>`` or none, some omit cell references:
    the guard then reads every reference (or counts cells per row) and lets the file through."""
    columns = [spec.name for spec in load_reference().columns("staff")]
    letters = [xlsx_parts.column_letters(i + 1) for i in range(len(columns))]

    def row(number: int, values: list[str]) -> str:
        if with_refs:
            return "".join(
                xlsx_parts.text_cell(f"{c}{number}", v)
                for c, v in zip(letters, values, strict=True)
            )
        return "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values)

    rows = [(1, row(1, columns))]
    rows += [
        (n, row(n, [str({**STAFF_OK, "姓名": f"甲{n}"}[name]) for name in columns]))
        for n in range(2, 5)
    ]
    path = xlsx_parts.write_xlsx_parts(
        tmp_path / "人员.xlsx", xlsx_parts.sheet_xml(rows, dimension=dimension)
    )
    result = read_workbook(path, "staff")
    assert result.ok, result.rejected
    assert result.frame["姓名"].tolist() == ["甲2", "甲3", "甲4"]
    assert result.frame["_row"].tolist() == [2, 3, 4]
