"""Reading workbooks: header matching, rejections, normalised frame, rows, institutions."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import zipfile

import pandas as pd
import pyarrow as pa
import pytest

from cwdx.columns import ROW_ORG
from cwdx.reader import FIX_HINT, column_letter, header_key, read_workbook
from cwdx.reference import UNKNOWN_ORG, load_reference
from cwdx.stored_rows import NAME_COLUMN, org_names

REF = load_reference()
STAFF = [c.name for c in REF.staff_columns]
CASES = [c.name for c in REF.case_columns]


def staff_row(**values: object) -> list[object]:
    """A valid staff row (as cells) with some columns replaced."""
    base: dict[str, object] = {
        "组织机构代码": "H001",
        "医疗机构名称": "测试医院",
        "姓名": "张三",
        "性别": 1,
        "出生日期": dt.date(1980, 1, 5),
        "执业证书编码": "X001",
        "所在科室": "03.04",
        "人员类别": 1,
        "拟申报级别": 1,
        "学历": 3,
        "申报专业": "内科学",
        "现专业技术职务聘任时间": dt.date(2010, 1, 1),
        "提取工作量数据截止时间": dt.date(2024, 12, 31),
    }
    base.update(values)
    return [base[c] for c in STAFF]


def case_row(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "组织机构代码": "H001",
        "医疗机构名称": "测试医院",
        "病案号": 123456,
        "入院时间": dt.datetime(2020, 1, 5, 8, 30),
        "出院时间": dt.datetime(2020, 1, 10, 9, 0, 15),
        "出院科别": 3.04,
        "出院主要诊断编码": "a01.000x003",
    }
    base.update(values)
    return base


# ------------------------------------------------------------------------------------------
# accepted files
# ------------------------------------------------------------------------------------------


def test_staff_file_reads_to_the_stored_frame(make_xlsx):
    path = make_xlsx(
        "申报人员.xlsx",
        [
            STAFF,
            staff_row(),
            [None] * len(STAFF),  # blank row: skipped, not counted
            staff_row(
                组织机构代码="h001",
                姓名="李 四１",
                性别="1.0",
                出生日期="1981/2/3",
                执业证书编码="x002",
                所在科室="A0304",
                学历=" - ",
                现专业技术职务聘任时间=20110101,
                提取工作量数据截止时间="2024年12月31日",
            ),
            ["\u3000", "-", "—", "－", " "] + [None] * (len(STAFF) - 5),  # empty marks only
        ],
    )
    result = read_workbook(path, "staff")
    assert result.rejected is None
    assert result.file == "申报人员.xlsx"
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.rows == 2
    frame = result.frame
    assert list(frame.columns) == [*STAFF, "_file", "_row", "_org"]
    assert frame["_row"].tolist() == [2, 4]
    assert frame["_file"].tolist() == ["申报人员.xlsx"] * 2
    assert frame["_org"].tolist() == ["H001", "H001"]
    assert frame.iloc[0][STAFF].tolist() == [
        "H001",
        "测试医院",
        "张三",
        "1",
        "1980-01-05",
        "X001",
        "03.04",
        "1",
        "1",
        "3",
        "内科学",
        "2010-01-01",
        "2024-12-31",
    ]
    second = frame.iloc[1][STAFF]
    assert second.tolist()[:7] == ["H001", "测试医院", "李四1", "1", "1981-02-03", "X002", "03.04"]
    assert pd.isna(second["学历"])
    assert second["现专业技术职务聘任时间"] == "2011-01-01"
    assert second["提取工作量数据截止时间"] == "2024-12-31"
    assert all(str(frame[c].dtype) == "string" for c in [*STAFF, "_file", "_org"])
    assert str(frame["_row"].dtype) == "int64"
    assert result.orgs == {"H001": 2}
    assert result.org_names == {"H001": "测试医院"}

    report = result.report.to_frame()
    assert report.to_dict("records") == [
        {"列名": "姓名", "修改单元格数": 1, "示例": "李 四１ → 李四1"},
        {"列名": "性别", "修改单元格数": 1, "示例": "1.0 → 1"},
        {"列名": "出生日期", "修改单元格数": 1, "示例": "1981/2/3 → 1981-02-03"},
        {"列名": "所在科室", "修改单元格数": 1, "示例": "A0304 → 03.04"},
        {"列名": "现专业技术职务聘任时间", "修改单元格数": 1, "示例": "20110101 → 2011-01-01"},
        {
            "列名": "提取工作量数据截止时间",
            "修改单元格数": 1,
            "示例": "2024年12月31日 → 2024-12-31",
        },
    ]
    assert result.report.total == 6
    assert result.report.describe().startswith(
        "读取时按规范改写了6个单元格：姓名1个（如 李 四１ → 李四1）；"
    )


def test_cases_header_variants_order_and_cell_types(make_xlsx):
    header = list(reversed(CASES))
    header[header.index("主（副主）任医师")] = "主(副主)任医师"
    header[header.index("主要手术操作Ⅰ助")] = "主要手术操作I助"
    header[header.index("其他手术操作Ⅰ助1")] = " 其他手术操作 Ⅰ助1 "
    header[header.index("出院科别")] = "出院科别\n"
    header[header.index("质控护师")] = "质控护士"
    rows = [
        case_row(
            **{
                "主（副主）任医师": "王 五",
                "主要手术操作Ⅰ助": "赵六",
                "年龄（岁）": 45.0,
                "质控护师": "钱七",
            }
        ),
        case_row(
            病案号="=1+1",
            出院科别="0304",
            入院时间="2020/1/5 8:30",
            出院时间=43840.5,
            住院总费用=1234.5,
            出院主要诊断编码="A00.000x001",
            离院方式=1,
        ),
    ]
    data = [header] + [
        [
            row.get(
                {
                    "主(副主)任医师": "主（副主）任医师",
                    "主要手术操作I助": "主要手术操作Ⅰ助",
                    " 其他手术操作 Ⅰ助1 ": "其他手术操作Ⅰ助1",
                    "出院科别\n": "出院科别",
                    "质控护士": "质控护师",
                }.get(h, h)
            )
            for h in header
        ]
        for row in rows
    ]
    path = make_xlsx("cases.xlsx", data)
    result = read_workbook(path, "cases")
    assert result.rejected is None
    frame = result.frame
    assert list(frame.columns) == [*CASES, "_file", "_row", "_org"]
    first, second = frame.iloc[0], frame.iloc[1]
    assert first["主（副主）任医师"] == "王五"
    assert first["主要手术操作Ⅰ助"] == "赵六"
    assert first["质控护师"] == "钱七"
    assert first["年龄（岁）"] == "45"
    assert first["病案号"] == "123456"
    assert first["入院时间"] == "2020-01-05 08:30:00"
    assert first["出院时间"] == "2020-01-10 09:00:15"
    assert first["出院科别"] == "03.04"
    assert first["出院主要诊断编码"] == "A01.000X003+G01*"
    assert pd.isna(first["住院总费用"])
    assert second["病案号"] == "=1+1"
    assert second["出院科别"] == "03.04"
    assert second["入院时间"] == "2020-01-05 08:30:00"
    assert second["出院时间"] == "2020-01-10 12:00:00"
    assert second["住院总费用"] == "1234.5"
    assert second["出院主要诊断编码"] == "A00.000X001"
    assert second["离院方式"] == "1"
    changes = {c.column: (c.changed, c.examples) for c in result.report.columns}
    assert changes["出院科别"] == (2, [("3.04", "03.04"), ("0304", "03.04")])
    assert changes["出院主要诊断编码"] == (1, [("a01.000x003", "A01.000X003+G01*")])
    assert changes["出院时间"] == (1, [("43840.5", "2020-01-10 12:00:00")])
    assert "出院主要诊断编码" in changes and "病案号" not in changes


def test_xlsm_accepted_and_offset_block(tmp_path, make_xlsx):
    # header in row 1 but data block starting in column C; an empty column B is ignored
    path = make_xlsx("a.xlsx", [STAFF, staff_row()], first_col=2)
    result = read_workbook(path, "staff")
    assert result.rejected is None
    assert result.frame["姓名"].tolist() == ["张三"]
    xlsm = tmp_path / "b.xlsm"
    shutil.copy(path, xlsm)
    assert read_workbook(xlsm, "staff").rows == 1


def test_empty_header_without_data_is_ignored(make_xlsx):
    path = make_xlsx(
        "s.xlsx",
        [[*STAFF[:3], None, *STAFF[3:]], [*staff_row()[:3], " - ", *staff_row()[3:]]],
    )
    result = read_workbook(path, "staff")
    assert result.rejected is None
    assert result.rows == 1


def test_header_only_file_has_no_rows(make_xlsx):
    result = read_workbook(make_xlsx("s.xlsx", [STAFF]), "staff")
    assert result.rejected is None
    assert result.rows == 0
    assert list(result.frame.columns) == [*STAFF, "_file", "_row", "_org"]
    assert result.orgs == {}


# ------------------------------------------------------------------------------------------
# institutions
# ------------------------------------------------------------------------------------------


def test_rows_without_valid_code_go_to_the_most_frequent_code(make_xlsx):
    path = make_xlsx(
        "s.xlsx",
        [
            STAFF,
            staff_row(组织机构代码="B2", 医疗机构名称="乙医院"),
            staff_row(组织机构代码="a1", 医疗机构名称="甲医院"),
            staff_row(组织机构代码=None),
            staff_row(组织机构代码="医院A"),
            staff_row(组织机构代码="A1", 医疗机构名称="甲医院分院"),
            staff_row(组织机构代码="A1", 医疗机构名称="甲医院"),
        ],
    )
    result = read_workbook(path, "staff")
    frame = result.frame
    assert frame["组织机构代码"].tolist()[:2] == ["B2", "A1"]
    assert pd.isna(frame["组织机构代码"].iloc[2])
    assert frame["组织机构代码"].iloc[3] == "医院A"
    assert frame["_org"].tolist() == ["B2", "A1", "A1", "A1", "A1", "A1"]
    assert result.orgs == {"B2": 1, "A1": 5}
    assert result.org_names == {"B2": "乙医院", "A1": "甲医院"}


def test_tie_goes_to_the_first_code_in_the_file(make_xlsx):
    path = make_xlsx(
        "s.xlsx",
        [
            STAFF,
            staff_row(组织机构代码="B2"),
            staff_row(组织机构代码="A1"),
            staff_row(组织机构代码="-"),
        ],
    )
    assert read_workbook(path, "staff").frame["_org"].tolist() == ["B2", "A1", "B2"]


def test_no_valid_code_is_the_unknown_institution(make_xlsx):
    path = make_xlsx(
        "s.xlsx", [STAFF, staff_row(组织机构代码="医院"), staff_row(组织机构代码=None)]
    )
    result = read_workbook(path, "staff")
    assert result.frame["_org"].tolist() == [UNKNOWN_ORG, UNKNOWN_ORG]
    assert result.orgs == {"（未识别机构）": 2}


# ------------------------------------------------------------------------------------------
# rejections
# ------------------------------------------------------------------------------------------


def assert_rejected(result, message: str) -> None:
    assert result.rejected == message
    assert result.rejected.endswith(FIX_HINT)
    assert result.frame is None
    assert result.rows == 0


@pytest.mark.parametrize("name", ["data.xls", "data.csv", "data"])
def test_reject_not_xlsx(tmp_path, name):
    path = tmp_path / name
    path.write_text("组织机构代码\n", encoding="utf-8")
    assert_rejected(
        read_workbook(path, "staff"),
        f"文件“{name}”不是 .xlsx 格式的 Excel 工作簿，系统只接受 .xlsx（或 .xlsm）文件，"
        "请在 Excel 中“另存为”Excel 工作簿（*.xlsx）。请在系统中下载相关表样，重新整理数据后上传。",
    )


HINT = "请在系统中下载相关表样，重新整理数据后上传。"
NOT_A_WORKBOOK = (
    "文件“{}”不是 Excel 工作簿（可能是其他类型的文件改了扩展名），"
    "请在 Excel 中打开确认后“另存为”Excel 工作簿（*.xlsx）。" + HINT
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "文件“{}”是空文件（0 字节），请重新导出或复制完整的文件后再导入。" + HINT),
        (b"this is not a zip", NOT_A_WORKBOOK),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,  # OLE container, no EncryptionInfo
            "文件“{}”是旧版 Excel 97-2003 工作簿（.xls）改成了 .xlsx 扩展名，"
            "请在 Excel 中打开后“另存为”Excel 工作簿（*.xlsx）。" + HINT,
        ),
    ],
    ids=["empty", "not-zip", "old-xls"],
)
def test_reject_unreadable(tmp_path, content, message):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    result = read_workbook(path, "staff")
    assert_rejected(result, message.format("bad.xlsx"))
    assert result.sha256 == hashlib.sha256(content).hexdigest()


def test_reject_corrupt_zip(tmp_path, make_xlsx):
    good = make_xlsx("good.xlsx", [STAFF, staff_row()])
    path = tmp_path / "corrupt.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            if "worksheets" not in item.filename and "workbook.xml" not in item.filename:
                dst.writestr(item, src.read(item))
    assert_rejected(
        read_workbook(path, "staff"),
        "文件“corrupt.xlsx”是压缩包，但不是 Excel 工作簿（找不到工作表），"
        "请在 Excel 中打开确认后“另存为”Excel 工作簿（*.xlsx）。" + HINT,
    )
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(good.read_bytes()[:1000])
    assert_rejected(
        read_workbook(truncated, "staff"),
        "文件“truncated.xlsx”已损坏或不完整（可能没有下载或复制完），"
        "请重新获取完整的文件，在 Excel 中能正常打开后再导入。" + HINT,
    )


def test_reject_missing_file(tmp_path):
    assert_rejected(
        read_workbook(tmp_path / "none.xlsx", "staff"),
        "文件“none.xlsx”无法打开（文件不存在或没有读取权限）。" + FIX_HINT,
    )


def test_reject_header_without_template_columns(make_xlsx):
    path = make_xlsx("s.xlsx", [["甲", "乙"], [1, 2]], sheet="说明")
    assert_rejected(
        read_workbook(path, "staff"),
        "文件“s.xlsx”第一个Sheet“说明”的第1行没有《申报人员信息自然表》表样中的任何列名，"
        "不是该表样的数据文件。" + FIX_HINT,
    )
    # a cases file loaded as staff: 组织机构代码 etc. match, so columns are missing/extra instead
    empty = make_xlsx("e.xlsx", [], sheet="Sheet1")
    assert_rejected(
        read_workbook(empty, "cases"),
        "文件“e.xlsx”第一个Sheet“Sheet1”的第1行没有《病案首页数据》表样中的任何列名，"
        "不是该表样的数据文件。" + FIX_HINT,
    )


def test_reject_data_in_another_sheet(make_xlsx):
    path = make_xlsx(
        "s.xlsx", [["填写说明"]], sheet="说明", more_sheets={"人员": [STAFF, staff_row()]}
    )
    assert_rejected(
        read_workbook(path, "staff"),
        "文件“s.xlsx”的数据不在数据文件的第一个Sheet中：第一个Sheet“说明”没有《申报人员信息自然表》"
        "表样的列，数据在Sheet“人员”中，请把数据放到第一个Sheet。" + FIX_HINT,
    )


def test_reject_header_not_in_row_1(make_xlsx):
    path = make_xlsx("s.xlsx", [STAFF, staff_row()], first_row=1)
    assert_rejected(
        read_workbook(path, "staff"),
        "文件“s.xlsx”第一个Sheet“Sheet1”的表头不在第1行（在第2行），"
        "请删除表头上方的行，使第1行为表头。" + FIX_HINT,
    )
    titled = make_xlsx("t.xlsx", [["2024年申报人员名单"], [], STAFF, staff_row()])
    assert_rejected(
        read_workbook(titled, "staff"),
        "文件“t.xlsx”第一个Sheet“Sheet1”的表头不在第1行（在第3行），"
        "请删除表头上方的行，使第1行为表头。" + FIX_HINT,
    )


def test_reject_missing_columns(make_xlsx):
    header = [c for c in STAFF if c not in ("学历", "性别")]
    path = make_xlsx("s.xlsx", [header])
    assert_rejected(
        read_workbook(path, "staff"),
        "文件“s.xlsx”的列与《申报人员信息自然表》表样不一致，缺少2列：“性别”、“学历”。" + FIX_HINT,
    )


def test_reject_extra_columns(make_xlsx):
    # 13 template columns A–M, 备注 in N, an empty header over data in AC (index 28)
    header = [*STAFF, "备注"]
    row = [*staff_row(), "x"] + [None] * 14 + ["数据"]
    assert len(row) == 29
    path = make_xlsx("s.xlsx", [header, row])
    assert_rejected(
        read_workbook(path, "staff"),
        "文件“s.xlsx”的列与《申报人员信息自然表》表样不一致，多出2列：“备注”、第AC列。" + FIX_HINT,
    )


def test_reject_duplicate_and_several_problems(make_xlsx):
    header = [*STAFF[:-1], "姓 名", "科室"]
    path = make_xlsx("s.xlsx", [header])
    assert_rejected(
        read_workbook(path, "staff"),
        "文件“s.xlsx”的列与《申报人员信息自然表》表样不一致，缺少1列：“提取工作量数据截止时间”；"
        "多出1列：“科室”；列名重复：“姓名”。" + FIX_HINT,
    )


def test_reject_repeated_extra_column(make_xlsx):
    path = make_xlsx("s.xlsx", [[*STAFF, "备注", "备 注"]])
    assert_rejected(
        read_workbook(path, "staff"),
        "文件“s.xlsx”的列与《申报人员信息自然表》表样不一致，多出1列：“备注”；列名重复：“备 注”。"
        + FIX_HINT,
    )


def test_reject_file_of_the_other_table(make_xlsx):
    cases = make_xlsx("病案.xlsx", [CASES])
    assert_rejected(
        read_workbook(cases, "staff"),
        "文件“病案.xlsx”是《病案首页数据》的数据，不是《申报人员信息自然表》的数据，"
        "请作为《病案首页数据》导入。" + FIX_HINT,
    )
    staff = make_xlsx("人员.xlsx", [STAFF, staff_row()])
    assert_rejected(
        read_workbook(staff, "cases"),
        "文件“人员.xlsx”是《申报人员信息自然表》的数据，不是《病案首页数据》的数据，"
        "请作为《申报人员信息自然表》导入。" + FIX_HINT,
    )


def test_helpers():
    assert [column_letter(i) for i in (0, 25, 26, 28, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AC",
        "ZZ",
        "AAA",
    ]
    assert header_key(" 主（副主）任医师 ") == header_key("主(副主)任医师")
    assert header_key("主要手术操作Ⅰ助") == header_key("主要手术操作I助")
    assert header_key("年龄（岁）") == header_key("年龄 (岁)")
    assert header_key("质控护士") == header_key("质控护师")  # the older template's name


def test_unknown_table_is_a_programming_error(make_xlsx):
    with pytest.raises(ValueError):
        read_workbook(make_xlsx("s.xlsx", [STAFF]), "people")  # type: ignore[arg-type]


def test_org_names_most_common_name_first_appearing_on_ties():

    orgs = ["B", "A", "B", "A", "B", "A", "C", "B"]
    names = [None, "甲", "乙一", "甲二", "乙", "甲二", None, "乙"]
    table = pa.table({ROW_ORG: orgs, NAME_COLUMN: pa.array(names, pa.string())})
    # A: 甲二 twice beats 甲 once; B: 乙 twice beats 乙一 once; C has no name
    assert org_names(table) == {"A": "甲二", "B": "乙"}
    assert list(org_names(table)) == ["A", "B"]  # order of the first row with a name
    tie = pa.table({ROW_ORG: ["A", "A", "A", "A"], NAME_COLUMN: ["乙", "甲", "甲", "乙"]})
    assert org_names(tie) == {"A": "乙"}
    assert org_names(pa.table({ROW_ORG: ["A"]})) == {}
