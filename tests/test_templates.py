"""Template workbooks (表样) and the shared xlsx writer they are built with."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cwdx.check import check_workspace
from cwdx.errors import CwdxError
from cwdx.reader import read_workbook
from cwdx.reference import load_reference
from cwdx.templates import GUIDE_COLUMNS, write_template
from cwdx.workspace import Workspace
from cwdx.xlsx import Book, display_width

CASE_LIST_SHEETS = ["RC001", "RC023", "RC027", "RC019", "RC029"]
STAFF_LIST_SHEETS = ["性别", "RC023", "人员类别", "拟申报级别", "学历", "申报专业列表"]


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("templates")
    return {t: write_template(t, base / f"{t}.xlsx") for t in ("cases", "staff")}


@pytest.mark.parametrize(
    ("table", "first", "lists"),
    [
        ("cases", "病案首页数据", CASE_LIST_SHEETS),
        ("staff", "申报人员信息自然表", STAFF_LIST_SHEETS),
    ],
)
def test_sheets_headers_and_sample(templates, table, first, lists) -> None:
    ref = load_reference()
    names = [c.name for c in ref.columns(table)]
    wb = openpyxl.load_workbook(templates[table])
    assert wb.sheetnames == [first, "填写说明", *lists]
    sheet = wb[first]
    assert [c.value for c in sheet[1]] == names
    assert sheet.max_row == 2
    assert sheet.freeze_panes == "A2"
    sample = dict(zip(names, (c.value for c in sheet[2]), strict=True))
    assert sample["组织机构代码"] == "12330100470000001X"
    assert sample["医疗机构名称"] == "示例市第一人民医院"
    for spec in ref.columns(table):
        if spec.required:
            assert sample[spec.name] not in (None, ""), spec.name
        cell = sheet.cell(row=1, column=names.index(spec.name) + 1)
        assert cell.font.b
        red = cell.font.color is not None and str(cell.font.color.rgb).endswith("C00000")
        assert red == spec.required, spec.name
        assert str(cell.fill.fgColor.rgb).endswith("FCE4D6") == spec.required, spec.name


def test_case_sample_values(templates) -> None:
    sheet = openpyxl.load_workbook(templates["cases"])["病案首页数据"]
    names = [c.value for c in sheet[1]]
    row = dict(zip(names, (c.value for c in sheet[2]), strict=True))
    assert row["病案号"] == "0012345"
    assert row["出院科别"] == "03.04"
    assert row["出院主要诊断编码"] == "I21.001"
    assert row["主要手术操作编码"] == "36.0601"
    assert row["入院时间"] == dt.datetime(2024, 3, 5, 8, 30)
    assert row["出生日期"] == dt.datetime(1962, 5, 14)
    ref = load_reference()
    assert row["出院主要诊断编码"] in ref.icd10
    assert row["主要手术操作编码"] in ref.icd9
    assert row["其他手术操作编码1"] in ref.icd9
    # code columns are formatted as text so that a typed 0304 keeps its zero
    col = names.index("出院科别") + 1
    assert sheet.cell(row=2, column=col).number_format == "@"
    assert sheet.cell(row=3, column=col).number_format in ("@", "General")


@pytest.mark.parametrize("table", ["cases", "staff"])
def test_guide_lists_every_column(templates, table) -> None:
    ref = load_reference()
    guide = openpyxl.load_workbook(templates[table])["填写说明"]
    rows = list(guide.iter_rows(values_only=True))
    assert rows[0] == GUIDE_COLUMNS
    columns = ref.columns(table)
    body = rows[1 : 1 + len(columns)]
    assert [r[0] for r in body] == [c.name for c in columns]
    assert rows[1 + len(columns)] == (None,) * 7
    assert rows[2 + len(columns)][0].startswith("1. 数据只读取第一个工作表")
    by_name = {r[0]: r for r in body}
    if table == "cases":
        assert by_name["入院时间"][2:4] == ("日期时间", "必填")
        assert by_name["出院科别"][2:5] == ("代码", "重要（为空时警告）", "见工作表“RC023”")
        assert by_name["出院主要诊断编码"][4].startswith("见《疾病分类与代码国家临床版2.0》")
        assert by_name["主要手术操作编码"][4].startswith("见《手术操作分类代码国家临床版3.0》")
        assert by_name["离院方式"][4].startswith("1 医嘱离院、2 医嘱转院")
        assert by_name["出院科别"][6] == "03.04"
    else:
        assert all(r[3] == "必填" for r in body)
        assert by_name["申报专业"][4] == "见工作表“申报专业列表”"
        assert by_name["性别"][4] == "1 男、2 女（见工作表“性别”）"
        assert by_name["提取工作量数据截止时间"][6] == "2025-12-31"
    for r in body:
        assert r[5] and r[5].endswith("。"), r  # 说明 is always filled, in Chinese
        assert not any(word in r[5] for word in ("chars", "integer", "out-of")), r


def test_code_list_sheets_complete(templates) -> None:
    ref = load_reference()
    cases = openpyxl.load_workbook(templates["cases"])
    rc023 = list(cases["RC023"].iter_rows(values_only=True))
    assert rc023[0] == ("代码", "名称")
    assert len(rc023) - 1 == 177
    assert ("03.04", "心血管内科专业") in rc023
    assert list(cases["RC019"].iter_rows(values_only=True))[5] == ("5", "死亡")
    staff = openpyxl.load_workbook(templates["staff"])
    specialties = list(staff["申报专业列表"].iter_rows(values_only=True))
    assert specialties[0] == ("申报专业", "专业类别", "人员类别", "相关科室（参考）")
    assert len(specialties) - 1 == len(ref.specialties) == 65
    assert ("心血管内科", "临床医学类", "1 医师", "03.04 心血管内科专业") in specialties
    assert ("内科护理", "护理类", "2 护士", "03 内科") in specialties
    assert list(staff["学历"].iter_rows(values_only=True))[1] == ("1", "博士研究生")


def test_template_errors(tmp_path) -> None:
    with pytest.raises(CwdxError, match="cases（病案首页数据）或 staff"):
        write_template("doctors", tmp_path / "x.xlsx")  # type: ignore[arg-type]
    with pytest.raises(CwdxError, match="须以 .xlsx 结尾"):
        write_template("cases", tmp_path / "x.xls")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CwdxError, match="无法写入表样文件"):
        write_template("cases", blocker / "x.xlsx")
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / ".busy.xlsx.tmp").mkdir()  # the file cannot be created
    with pytest.raises(CwdxError, match="无法写入表样文件“.*busy.xlsx”"):
        write_template("staff", tmp_path / "busy.xlsx")


@pytest.mark.parametrize("table", ["cases", "staff"])
def test_sample_row_reads_back_without_rejection(templates, table) -> None:
    result = read_workbook(templates[table], table)
    assert not result.rejected
    frame = result.frame
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["组织机构代码"] == "12330100470000001X"
    if table == "cases":
        assert row["出院科别"] == "03.04"
        assert row["入院时间"] == "2024-03-05 08:30:00"
        assert row["病案号"] == "0012345"
    else:
        assert row["出生日期"] == "1980-06-18"
        assert row["申报专业"] == "心血管内科"


# -- cwdx.xlsx ------------------------------------------------------------------------------


def test_book_writes_text_as_text_and_splits_sheets(tmp_path) -> None:
    path = tmp_path / "book.xlsx"
    rows = [
        ["=1+1", 3, dt.date(2024, 1, 5), None],
        ["http://x", 2.5, dt.datetime(2024, 1, 5, 8, 30), "0304"],
    ]
    with Book(path) as book:
        sheets = book.write_table("反馈/表", ["值", "数", "日期", "代码"], rows * 3, max_rows=3)
        book.write_table("空表", ["甲"], [])
    assert len(sheets) == 3
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["反馈_表", "反馈_表(2)", "反馈_表(3)", "空表"]
    for name in wb.sheetnames[:3]:
        sheet = wb[name]
        assert [c.value for c in sheet[1]] == ["值", "数", "日期", "代码"]
        assert sheet.freeze_panes == "A2"
        assert sheet["A2"].value == "=1+1" and sheet["A2"].data_type == "s"
        assert sheet["A3"].value == "http://x" and not sheet["A3"].hyperlink
        assert sheet["B2"].value == 3 and sheet["D3"].value == "0304"
        assert (
            sheet["C2"].value == dt.datetime(2024, 1, 5)
            and sheet["C2"].number_format == "yyyy-mm-dd"
        )
        assert sheet["C3"].number_format == "yyyy-mm-dd hh:mm:ss"
        assert sheet["D2"].value is None
    assert wb["空表"].max_row == 1


def test_book_write_frame_and_widths(tmp_path) -> None:
    frame = pd.DataFrame({"机构": ["演示市第一人民医院", None], "数": [1.5, float("nan")]})
    path = tmp_path / "f.xlsx"
    with Book(path) as book:
        book.write_frame("结果", frame)
    sheet = openpyxl.load_workbook(path)["结果"]
    assert [[c.value for c in r] for r in sheet.iter_rows(max_row=3)] == [
        ["机构", "数"],
        ["演示市第一人民医院", 1.5],
        [None, None],
    ]
    assert sheet.column_dimensions["A"].width >= display_width("演示市第一人民医院") + 2
    assert display_width("张三1") == 5


def test_both_sample_rows_pass_every_rule(templates, tmp_path) -> None:
    """The two sample rows together (same institution, 李明 of 03.04) raise no finding at all."""
    ws = Workspace(tmp_path / "ws")
    for table in ("cases", "staff"):
        (outcome,) = ws.import_files(table, [templates[table]])
        assert outcome.ok, outcome.describe()
    result = check_workspace(ws)["12330100470000001X"]
    assert result.passed
    assert {rule: n for rule, n in result.counts.items() if n} == {}
