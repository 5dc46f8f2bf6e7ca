"""导入 inbox 文件夹中的文件 (cwdx.inbox), the table recognised from the header row, and
imports whose pieces run in other processes (the fanout mapper)."""

from __future__ import annotations

import multiprocessing
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from ws_helper import case_book, staff_book

from cwdx.cli import main
from cwdx.inbox import REASONS_FILE, import_inbox, inbox_files
from cwdx.reader import FIX_HINT, read_workbook, recognise_table
from cwdx.workspace import AUTO_TABLE, Workspace

NEITHER = (
    "文件“02-名单.xlsx”第一个Sheet“Sheet1”的第1行没有《病案首页数据》或《申报人员信息自然表》"
    "表样中的任何列名，不是这两种表样的数据文件。" + FIX_HINT
)
NOT_XLSX = (
    "文件“说明.txt”不是 .xlsx 格式的 Excel 工作簿，系统只接受 .xlsx（或 .xlsm）文件，"
    "请在 Excel 中“另存为”Excel 工作簿（*.xlsx）。" + FIX_HINT
)
TIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"


def write_xlsx(
    path: Path, rows: list[list[str]], more_sheets: dict[str, list[list[str]]] | None = None
) -> Path:
    """A workbook of text cells: ``rows`` on ``Sheet1``, then ``more_sheets``."""
    book = xlsxwriter.Workbook(str(path))
    for name, content in [("Sheet1", rows), *(more_sheets or {}).items()]:
        sheet = book.add_worksheet(name)
        for r, row in enumerate(content):
            for c, value in enumerate(row):
                sheet.write_string(r, c, value)
    book.close()
    return path


def _neither(path: Path) -> Path:
    return write_xlsx(path, [["编号", "备注"], ["1", "不是表样的文件"]])


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


def _fill_inbox(ws: Workspace) -> Path:
    """The mixed inbox: cases, a file of neither table, staff, a copy of the cases file, a
    text file, and files an inbox import skips (Excel's lock file, a hidden file)."""
    inbox = ws.path / "inbox"
    cases = case_book(inbox / "01-病案首页.xlsx", "H001", "H001")
    _neither(inbox / "02-名单.xlsx")
    staff_book(inbox / "03-申报人员.xlsx", "H001", "H001", "H002")
    shutil.copy(cases, inbox / "04-病案首页-重复.xlsx")
    (inbox / "说明.txt").write_text("大文件放在这里", encoding="utf-8")
    shutil.copy(cases, inbox / "~$01-病案首页.xlsx")
    shutil.copy(cases, inbox / ".隐藏.xlsx")
    (inbox / "done").mkdir()
    (inbox / "done" / "01-病案首页.xlsx").write_bytes(b"an earlier run's file")
    return inbox


def test_mixed_inbox_imports_in_name_order_and_moves_what_it_imported(ws: Workspace) -> None:
    inbox = _fill_inbox(ws)
    assert [p.name for p in inbox_files(ws)] == [
        "01-病案首页.xlsx",
        "02-名单.xlsx",
        "03-申报人员.xlsx",
        "04-病案首页-重复.xlsx",
        "说明.txt",
    ]
    outcomes = import_inbox(ws)
    assert [(o.file, o.table, o.ok, o.rows, o.org_rows, o.moved_to) for o in outcomes] == [
        ("01-病案首页.xlsx", "cases", True, 2, {"H001": 2}, "inbox/done/01-病案首页 (2).xlsx"),
        ("02-名单.xlsx", "", False, 0, {}, None),
        (
            "03-申报人员.xlsx",
            "staff",
            True,
            3,
            {"H001": 2, "H002": 1},
            "inbox/done/03-申报人员.xlsx",
        ),
        ("04-病案首页-重复.xlsx", "cases", False, 0, {}, None),
        ("说明.txt", "", False, 0, {}, None),
    ]
    duplicate = outcomes[3]
    assert duplicate.rejected_kind == "duplicate"
    assert duplicate.duplicate_of is not None
    assert duplicate.duplicate_of[0] == "01-病案首页.xlsx"
    assert duplicate.rejected == (
        f"文件“04-病案首页-重复.xlsx”与 {duplicate.duplicate_of[1]} 已导入的文件“01-病案首页.xlsx”"
        "内容完全相同，为避免重复数据未再次导入；如确需重复导入，请确认后强制导入。"
    )
    assert [o.rejected for o in outcomes[1::3]] == [NEITHER, NOT_XLSX]

    # imported files moved (the earlier file of the same name kept), refused ones left
    assert sorted(p.name for p in inbox.iterdir()) == sorted(
        [".隐藏.xlsx", "02-名单.xlsx", "04-病案首页-重复.xlsx", "done", "~$01-病案首页.xlsx"]
        + ["未导入原因.txt", "说明.txt"]
    )
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [
        "01-病案首页 (2).xlsx",
        "01-病案首页.xlsx",
        "03-申报人员.xlsx",
    ]
    assert (inbox / "done" / "01-病案首页.xlsx").read_bytes() == b"an earlier run's file"
    reasons = (inbox / REASONS_FILE).read_text(encoding="utf-8-sig").split("\n")
    assert re.fullmatch(
        f"以下 3 个文件未导入（{TIME}），仍留在 inbox 文件夹中；请按原因修改后再次导入，"
        "不需要的文件请移走。",
        reasons[0],
    )
    assert reasons[1:] == [
        "",
        "02-名单.xlsx",
        f"    {NEITHER}",
        "",
        "04-病案首页-重复.xlsx",
        f"    {duplicate.rejected}",
        "",
        "说明.txt",
        f"    {NOT_XLSX}",
        "",
    ]

    # the rows and the history: a file of neither table has no record
    assert [(i.org, i.cases, i.staff) for i in ws.institutions()] == [
        ("H001", 2, 2),
        ("H002", 0, 1),
    ]
    assert [(r.id, r.table, r.file, r.rows, r.rejected) for r in ws.imported_files()] == [
        (1, "cases", "01-病案首页.xlsx", 2, None),
        (3, "staff", "03-申报人员.xlsx", 3, None),
        (4, "cases", "04-病案首页-重复.xlsx", 0, duplicate.rejected),
    ]
    assert list(ws.load("cases")["_file"]) == ["01-病案首页.xlsx"] * 2


def test_a_later_run_takes_what_is_left_and_clears_the_reasons(ws: Workspace) -> None:
    inbox = _fill_inbox(ws)
    import_inbox(ws)
    (inbox / "02-名单.xlsx").unlink()
    (inbox / "说明.txt").unlink()
    staff_book(inbox / "05-补充人员.xlsx", "H003")

    second = import_inbox(ws)
    assert [(o.file, o.table, o.ok, o.rows, o.moved_to) for o in second] == [
        ("04-病案首页-重复.xlsx", "cases", False, 0, None),
        ("05-补充人员.xlsx", "staff", True, 1, "inbox/done/05-补充人员.xlsx"),
    ]
    assert second[0].duplicate_of == ("01-病案首页.xlsx", ws.imported_files()[0].time)
    reasons = (inbox / REASONS_FILE).read_text(encoding="utf-8-sig")
    assert reasons.startswith("以下 1 个文件未导入（")
    assert "04-病案首页-重复.xlsx" in reasons and "02-名单.xlsx" not in reasons

    # forced: the copy is imported after all; an empty inbox leaves no reasons file
    [forced] = import_inbox(ws, force=True)
    assert (forced.file, forced.ok, forced.forced, forced.rows) == (
        "04-病案首页-重复.xlsx",
        True,
        True,
        2,
    )
    assert not (inbox / REASONS_FILE).exists()
    assert import_inbox(ws) == []
    assert [(i.org, i.cases, i.staff) for i in ws.institutions()] == [
        ("H001", 4, 2),
        ("H002", 0, 1),
        ("H003", 0, 1),
    ]


def test_cli_import_inbox(capsys: pytest.CaptureFixture[str], ws: Workspace) -> None:
    inbox = ws.path / "inbox"
    case_book(inbox / "a-病案.xlsx", "H001", "H001")
    _neither(inbox / "b-名单.xlsx")
    code = main(["-w", str(ws.path), "--quiet", "import", "inbox"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == (
        "文件 a-病案.xlsx：导入 2 行（H001 2 行）。\n"
        "  按表头识别为病案首页数据，已移到 inbox/done/a-病案.xlsx。\n"
        "共 2 个文件：导入 1 个（2 行），未导入 1 个，原因见 inbox/未导入原因.txt。\n"
    )
    assert err == "未导入：" + NEITHER.replace("02-名单", "b-名单") + "\n"

    (inbox / "b-名单.xlsx").unlink()
    code = main(["-w", str(ws.path), "--quiet", "import", "inbox"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (
        0,
        f"inbox 文件夹 {inbox} 中没有要导入的文件，请先把 .xlsx 文件放进去。\n",
        "",
    )
    assert main(["-w", str(ws.path), "import", "inbox", "x.xlsx"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "cwdx：错误：无法识别的参数：x.xlsx。请用 cwdx --help 查看用法。"
    )
    assert main(["-w", str(ws.path), "import", "cases"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "cwdx import cases：错误：缺少必需的参数：文件。请用 cwdx import cases --help 查看用法。"
    )


def test_header_row_tells_the_table(tmp_path: Path) -> None:
    cases = case_book(tmp_path / "c.xlsx", "H001")
    staff = staff_book(tmp_path / "s.xlsx", "H001")
    assert read_workbook(cases, None).table == "cases"
    assert read_workbook(staff, None).table == "staff"
    assert recognise_table(["组织机构代码", "病案号", "姓名", "执业证书编码"]) == "staff"
    assert recognise_table(["组织机构代码", "医疗机构名称", "性别"]) is None  # shared only
    assert recognise_table(["病案号", "姓名"]) is None  # one of each

    # a header mostly of one table is read as that table and refused with what is wrong
    partial = write_xlsx(tmp_path / "少列.xlsx", [["组织机构代码", "病案号", "住院次数"]])
    result = read_workbook(partial, None)
    assert result.table == "cases"
    assert result.rejected is not None
    assert result.rejected.startswith("文件“少列.xlsx”的列与《病案首页数据》表样不一致，缺少")

    both = write_xlsx(tmp_path / "混合.xlsx", [["病案号", "姓名"]])
    assert read_workbook(both, None).rejected == (
        "文件“混合.xlsx”第一个Sheet“Sheet1”第1行的列名无法判断是《病案首页数据》或"
        "《申报人员信息自然表》的数据（两种表样的列都有，或只有两种表样共有的列），未导入。"
        + FIX_HINT
    )
    elsewhere = write_xlsx(
        tmp_path / "另页.xlsx", [["说明"]], more_sheets={"人员": [["姓名", "执业证书编码"]]}
    )
    assert read_workbook(elsewhere, None).rejected == (
        "文件“另页.xlsx”的数据不在数据文件的第一个Sheet中：第一个Sheet“Sheet1”没有"
        "《病案首页数据》或《申报人员信息自然表》表样的列，数据在Sheet“人员”中，"
        "请把数据放到第一个Sheet。" + FIX_HINT
    )


# ---------------------------------------------------------------------------------------------
# Pieces in other processes


def _refuse_to_parse(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("a worker parsed the reference CSVs instead of loading the cache")


def _worker_start() -> None:
    import cwdx.reference

    cwdx.reference.parse_reference = _refuse_to_parse  # type: ignore[assignment]


class _PoolMapper:
    """A mapper whose pieces run in fresh worker processes (as Dask workers are); ``width``
    runners, as :class:`cwdx.tasks.cluster.DaskMapper` says of its workers."""

    width = 2

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.pool = pool
        self.pieces = 0
        self.files = 0

    def __call__(self, function: Callable[[Any], Any], pieces: Sequence[Any]) -> Iterator[Any]:
        self.pieces += len(pieces)
        self.files += sum(len(piece) for piece in pieces)  # a piece decodes a few files
        return self.pool.map(function, pieces)


def _stored(ws: Workspace) -> tuple:
    history = [(r.id, r.table, r.file, r.rows, r.rejected) for r in ws.imported_files()]
    institutions = [(i.org, i.name, i.cases, i.staff) for i in ws.institutions()]
    return history, institutions, ws.load("cases"), ws.load("staff")


def test_pieces_run_in_worker_processes_as_in_this_one(tmp_path: Path) -> None:
    from cwdx.reference import load_reference

    load_reference()  # writes the cache the workers must use
    books = tmp_path / "books"
    books.mkdir()
    paths = [
        case_book(books / "甲.xlsx", "H001", "H002", "H001"),
        staff_book(books / "乙.xlsx", "H001", "H002"),
        _neither(books / "丙.xlsx"),
        case_book(books / "丁.xlsx", "H003"),
    ]
    serial = Workspace(tmp_path / "serial")
    serial.import_files(AUTO_TABLE, paths)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn, initializer=_worker_start) as pool:
        mapper = _PoolMapper(pool)
        fanned = Workspace(tmp_path / "fanned")
        outcomes = fanned.import_files(AUTO_TABLE, paths, mapper=mapper)
    # the 4 files went to the workers, in at least 2 pieces (one per runner at least)
    assert mapper.files == 4 and mapper.pieces >= 2
    assert [(o.file, o.table, o.rows) for o in outcomes] == [
        ("甲.xlsx", "cases", 3),
        ("乙.xlsx", "staff", 2),
        ("丙.xlsx", "", 0),
        ("丁.xlsx", "cases", 1),
    ]
    one, other = _stored(serial), _stored(fanned)
    assert one[:2] == other[:2]
    assert one[2].equals(other[2]) and one[3].equals(other[3])
    assert sorted(
        p.relative_to(fanned.path).as_posix() for p in fanned.path.rglob("*.parquet")
    ) == [
        "data/cases/H001/1.parquet",
        "data/cases/H002/1.parquet",
        "data/cases/H003/4.parquet",
        "data/staff/H001/2.parquet",
        "data/staff/H002/2.parquet",
    ]
    assert not [p for p in fanned.path.rglob("*") if ".tmp-" in p.name]
