"""Feedback workbooks opened with openpyxl: sheets, headers, planted findings, fills, text."""

from __future__ import annotations

from datetime import date, datetime

import openpyxl
import pyarrow as pa
from frames_helper import cases, staff

from cwdx.check import check_frames
from cwdx.feedback import (
    BRIEF_COLUMNS,
    BriefEntry,
    write_brief,
    write_institution_feedback,
    write_table_feedback,
)
from cwdx.reference import load_reference
from cwdx.rules import RULES

TODAY = date(2025, 6, 1)


def _result(case_frame, staff_frame):
    return check_frames(case_frame, staff_frame, None, load_reference(), TODAY)


def _rows(sheet):
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_case_feedback_workbook(tmp_path):
    case_frame = cases(
        {},
        {"病案号": None, "医疗机构名称": "=1+1"},  # E16 on 病案号 (row 3); formula-like text
        {"出院科别": "99", "主治医师": None},  # W07 + W01 + W08 (row 4)
    )
    staff_frame = staff({})
    result = _result(case_frame, staff_frame)
    path = write_table_feedback(tmp_path / "病案首页反馈表.xlsx", "cases", result, case_frame)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["检测结果汇总", "问题明细", "标注数据"]

    summary = _rows(book["检测结果汇总"])
    # outputs.md's four columns in their order, then 数量 (docs/DECISIONS.md)
    assert summary[0] == ["规则编号", "级别", "说明", "处理建议", "数量"]
    ids = [r[0] for r in summary[1:]]
    assert ids == [r for r in RULES if RULES[r].table == "cases"]
    by_id = {r[0]: r for r in summary[1:]}
    assert by_id["E16"][1:3] == ["错误", "病案首页信息中，字段为空，共有1个字段。"]
    assert (by_id["E16"][4], by_id["W07"][4], by_id["W09"][4]) == (1, 1, 0)
    assert by_id["W07"][2].endswith("共有1条记录，占33.33%。")
    assert (
        by_id["W09"][2].startswith("病案首页信息中，组织机构代码")
        and "共有0条记录" in by_id["W09"][2]
    )
    sheet = book["检测结果汇总"]
    e16_row = ids.index("E16") + 2
    assert sheet.cell(e16_row, 1).font.color.rgb.endswith("C00000")
    # long 说明 and 处理建议 wrap in their wide columns; error rows keep the red font there
    w07_row = ids.index("W07") + 2
    assert sheet.cell(e16_row, 3).font.color.rgb.endswith("C00000")
    assert sheet.cell(e16_row, 4).alignment.wrap_text is True
    assert sheet.cell(w07_row, 3).alignment.wrap_text is True
    assert sheet.cell(w07_row, 4).alignment.wrap_text is True
    assert sheet.column_dimensions["C"].width > 50
    assert book["检测结果汇总"].freeze_panes == "A2"

    detail = _rows(book["问题明细"])
    assert detail[0] == ["文件", "行号", "列名", "原值", "规则编号", "级别", "说明"]
    assert detail[1:] == [
        ["病案首页.xlsx", 3, "病案号", None, "E16", "错误", "“病案号”为空，此字段必填，请补充填写"],
        [
            "病案首页.xlsx",
            4,
            "主治医师",  # the column W01 marks (a row-level rule)
            None,
            "W01",
            "警告",
            "“主治医师”为空，无法匹配到医师，请补充填写",
        ],
        ["病案首页.xlsx", 4, "出院科别", "99", "W07", "警告", detail[3][6]],
        [
            "病案首页.xlsx",
            4,
            "主治医师",
            None,
            "W08",
            "警告",
            "“主治医师”为空，该字段用于指标计算，请尽量补充填写",
        ],
    ]

    marked = book["标注数据"]
    header = [c.value for c in marked[1]]
    columns = [s.name for s in load_reference().case_columns]
    assert header == ["文件", "行号", "问题说明", *columns]
    assert marked.max_row == 3  # only rows 3 and 4 of the input have findings
    assert [marked.cell(2, 2).value, marked.cell(3, 2).value] == [3, 4]
    assert marked.cell(2, 3).value == "E16：“病案号”为空，此字段必填，请补充填写"
    number_col = header.index("病案号") + 1
    cell = marked.cell(2, number_col)
    assert cell.fill.fgColor.rgb.endswith("FFC7CE")  # error: light red fill
    assert cell.font.color.rgb.endswith("9C0006")  # with red font
    name_cell = marked.cell(2, header.index("医疗机构名称") + 1)
    assert name_cell.value == "=1+1" and name_cell.data_type == "s"
    dept = marked.cell(3, header.index("出院科别") + 1)
    assert dept.value == "99" and dept.fill.fgColor.rgb.endswith("FFEB9C")  # warning: yellow
    ok_cell = marked.cell(3, header.index("组织机构代码") + 1)
    assert ok_cell.fill.fgColor.rgb in (None, "00000000")


def test_staff_feedback_explain_line_and_files(tmp_path):
    case_frame = cases({})
    staff_frame = staff({}, {"姓名": "李明", "执业证书编码": "X2", "所在科室": "03.02"})
    result = _result(case_frame, staff_frame)
    paths = write_institution_feedback(tmp_path / "H001", result, case_frame, staff_frame)
    assert [p.name for p in paths] == ["病案首页反馈表.xlsx", "申报人员反馈表.xlsx"]
    book = openpyxl.load_workbook(paths[1])
    summary = {r[0]: r for r in _rows(book["检测结果汇总"])[1:]}
    assert list(summary) == [r for r in RULES if RULES[r].table == "staff"]
    assert summary["W11"][2].endswith("共有1人。")
    marked = _rows(book["标注数据"])
    assert len(marked) == 2 and marked[1][1] == 3
    note = marked[1][2]
    assert note.startswith("W11：") and "；W12：" in note and "03.02" in note
    detail = _rows(book["问题明细"])
    assert [r[4] for r in detail[1:]] == ["W11", "W12"]
    empty = openpyxl.load_workbook(paths[0])
    assert _rows(empty["问题明细"]) == [
        ["文件", "行号", "列名", "原值", "规则编号", "级别", "说明"]
    ]


def test_brief_workbook(tmp_path):
    counts = dict.fromkeys(RULES, 0) | {"E01": 2, "W08": 5}
    path = write_brief(
        tmp_path / "精简版反馈信息表.xlsx",
        [
            BriefEntry("H001", "甲医院", 10, 2, True, False, counts),
            BriefEntry("H002", "乙医院", 5, 1),
        ],
    )
    sheet = openpyxl.load_workbook(path).active
    rows = _rows(sheet)
    assert rows[0] == list(BRIEF_COLUMNS)
    assert rows[1][:7] == ["H001", "甲医院", 10, 2, "不通过", 2, 5]
    assert rows[1][7] == 2 and rows[1][BRIEF_COLUMNS.index("W08")] == 5
    assert rows[2][:7] == ["H002", "乙医院", 5, 1, "未检测", None, None]
    assert sheet.cell(2, 8).font.color.rgb.endswith("C00000")  # E01 = 2: red
    assert sheet.cell(2, BRIEF_COLUMNS.index("W08") + 1).font.color is None or not str(
        sheet.cell(2, BRIEF_COLUMNS.index("W08") + 1).font.color.rgb
    ).endswith("C00000")


def test_a_failed_rule_is_named_in_the_summary_sheet(tmp_path):
    case_frame, staff_frame = cases({}), staff({})
    result = _result(case_frame, staff_frame)
    result.failed_rules = {"W07": "ValueError: 意外数据"}
    path = write_table_feedback(tmp_path / "f.xlsx", "cases", result, case_frame)
    rows = {r[0]: r for r in _rows(openpyxl.load_workbook(path)["检测结果汇总"])[1:]}
    assert rows["W07"][2] == (
        "病案首页信息中，“出院科别”不在规定取值范围（参见《病案首页数据表样-RC023》），共有0条记录，"
        "占0.00%。（本规则运行出错，未能完成检测，因此本机构检测不通过；详细信息已写入日志，"
        "请把日志文件提供给技术支持人员。）"
    )
    assert "ValueError" not in "".join(str(c) for r in rows.values() for c in r)


DETAIL_NOTE = (
    "注：本表共有问题 {total} 条，只列出按文件、行号排列的前 {shown} 条，其余 {rest} 条未列出。"
    "各规则的完整问题数见“检测结果汇总”工作表和《精简版反馈信息表》；"
    "请先按规则成批更正数据，重新导入并检测后再查看其余问题。"
)
MARKED_NOTE = (
    "注：有问题的数据共 {total} 行，“标注数据”只列出按文件、行号排列的前 {shown} 行，"
    "其余 {rest} 行未列出。各规则的完整问题数见“检测结果汇总”工作表和《精简版反馈信息表》；"
    "请先按规则成批更正数据，重新导入并检测后再查看其余问题。"
)


def test_long_detail_and_marked_sheets_are_capped_with_a_note(tmp_path, monkeypatch):
    from cwdx import feedback

    bad = {"出院科别": "99", "主治医师": None}  # W07 + W01 + W08 per row
    case_frame = cases(bad, {}, bad, bad, {"病案号": None}, bad)
    result = _result(case_frame, staff({}))
    total = int((result.findings["table"] == "cases").sum())
    assert total == 13
    full = openpyxl.load_workbook(
        write_table_feedback(tmp_path / "full.xlsx", "cases", result, case_frame)
    )
    monkeypatch.setattr(feedback, "DETAIL_ROW_CAP", 4)
    monkeypatch.setattr(feedback, "MARKED_ROW_CAP", 2)
    monkeypatch.setattr(feedback, "CHUNK_ROWS", 3)
    monkeypatch.setattr(feedback, "MARKED_CHUNK_ROWS", 1)
    book = openpyxl.load_workbook(
        write_table_feedback(tmp_path / "capped.xlsx", "cases", result, case_frame)
    )
    detail_note = DETAIL_NOTE.format(total=13, shown=4, rest=9)
    marked_note = MARKED_NOTE.format(total=5, shown=2, rest=3)

    detail = _rows(book["问题明细"])
    assert detail[:5] == _rows(full["问题明细"])[:5]  # header + the first 4, in order
    assert detail[5:] == [[None] * 7, [detail_note, *[None] * 6]]
    assert book["问题明细"].cell(7, 1).font.color.rgb.endswith("C00000")

    marked = _rows(book["标注数据"])
    assert marked[:3] == _rows(full["标注数据"])[:3]
    width = len(marked[0])
    assert marked[3:] == [[None] * width, [marked_note, *[None] * (width - 1)]]
    # the cells of the rows shown keep their fills
    病案号 = marked[0].index("病案号") + 1
    出院科别 = marked[0].index("出院科别") + 1
    assert book["标注数据"].cell(2, 出院科别).fill.fgColor.rgb.endswith("FFEB9C")
    assert book["标注数据"].cell(3, 病案号).fill.fgColor.rgb == "00000000"

    # the counts stay complete; both notes also stand under 检测结果汇总
    summary, full_summary = _rows(book["检测结果汇总"]), _rows(full["检测结果汇总"])
    n = len(full_summary)
    assert summary[:n] == full_summary
    assert summary[n:] == [
        [None] * 5,
        [detail_note, None, None, None, None],
        [marked_note, None, None, None, None],
    ]


def test_chunked_streaming_writes_the_same_workbook(tmp_path, monkeypatch):
    """Findings are turned into rows a chunk at a time: chunk boundaries inside an input
    row's findings change nothing."""
    from cwdx import feedback

    bad = {"出院科别": "99", "主治医师": None, "病案号": None}
    case_frame = cases(bad, {}, bad, {"性别": "男"}, bad)
    result = _result(case_frame, staff({}))
    # as findings stored before the cells column existed read back (cells = column)
    result.findings = result.findings.assign(cells=result.findings["column"])
    whole = openpyxl.load_workbook(
        write_table_feedback(tmp_path / "a.xlsx", "cases", result, case_frame)
    )
    monkeypatch.setattr(feedback, "CHUNK_ROWS", 2)
    monkeypatch.setattr(feedback, "MARKED_CHUNK_ROWS", 2)
    monkeypatch.setattr(feedback, "STREAM_ROWS", 0)  # constant_memory mode too
    monkeypatch.setattr(feedback, "DETAIL_ROW_CAP", 5)  # only the first findings are read again
    whole_detail = _rows(whole["问题明细"])

    stored = pa.Table.from_pandas(
        result.findings[result.findings["table"] == "cases"].drop(columns="cells"),
        preserve_index=False,
    )  # stored before the cells column existed, read 3 findings at a time

    def batches(columns):
        names = [c for c in columns if c in stored.column_names]
        return [stored.slice(i, 3).select(names) for i in range(0, len(stored), 3)]

    chunked = openpyxl.load_workbook(
        write_table_feedback(tmp_path / "b.xlsx", "cases", result, case_frame, findings=batches)
    )
    assert _rows(chunked["问题明细"])[:6] == whole_detail[:6]
    monkeypatch.setattr(feedback, "DETAIL_ROW_CAP", 10_000)
    whole = openpyxl.load_workbook(
        write_table_feedback(tmp_path / "c.xlsx", "cases", result, case_frame)
    )
    chunked = openpyxl.load_workbook(
        write_table_feedback(tmp_path / "d.xlsx", "cases", result, case_frame, findings=batches)
    )
    for name in whole.sheetnames:
        assert _rows(chunked[name]) == _rows(whole[name])
        fills = [[c.fill.fgColor.rgb for c in row] for row in whole[name].iter_rows()]
        assert [[c.fill.fgColor.rgb for c in row] for row in chunked[name].iter_rows()] == fills


def test_row_level_findings_name_their_cells_and_marked_cells_keep_their_type(tmp_path):
    case_frame = cases(
        {},
        {
            "出院主要诊断编码": "Z99.999",  # W03 (row-level: no column in the finding)
            "出院其他诊断编码2": "BAD1",  # X01 on two of the other diagnoses
            "出院其他诊断编码3": "BAD2",
            "出院其他诊断编码1": "I21.000",
            "出院时间": "2020-13-01 00:00:00",  # E15: not a date, stays text
        },
        # W07; 0123 is not canonical: stays text; discharged before admitted: an error on a date
        {"出院科别": "99", "住院次数": "0123", "出院时间": "2019-12-31 08:00:00"},
    )
    result = _result(case_frame, staff({}))
    # the finding table (and so summary.json's counts) is unchanged: no column for W03/X01
    findings = result.findings.set_index("rule_id")
    assert (findings.loc["W03", "column"], findings.loc["W03", "value"]) == ("", "Z99.999")
    assert (findings.loc["X01", "column"], findings.loc["X01", "value"]) == ("", "")
    assert (result.counts["W03"], result.counts["X01"]) == (1, 1)
    path = write_table_feedback(tmp_path / "病案首页反馈表.xlsx", "cases", result, case_frame)
    book = openpyxl.load_workbook(path)

    summary = {r[0]: r for r in _rows(book["检测结果汇总"])[1:]}
    counts = [summary[rule_id][4] for rule_id in ("W03", "X01", "E15", "W07", "E16")]
    assert counts == [1, 1, 2, 1, 0]  # E15: the bad date and the early discharge
    assert book["检测结果汇总"].cell(2, 5).data_type == "n"

    detail = {r[4]: r for r in _rows(book["问题明细"])[1:]}
    assert detail["W03"][:4] == ["病案首页.xlsx", 3, "出院主要诊断编码", "Z99.999"]
    assert detail["X01"][:4] == [
        "病案首页.xlsx",
        3,
        "出院其他诊断编码2、出院其他诊断编码3",
        "BAD1、BAD2",
    ]

    marked = book["标注数据"]
    header = [c.value for c in marked[1]]

    def cell(row: int, name: str):
        return marked.cell(row, header.index(name) + 1)

    assert marked.max_row == 3
    # numbers as numbers, dates as dates, on the clean row and the marked one
    for row in (2, 3):
        age = cell(row, "年龄（岁）")
        assert (age.value, age.data_type) == (60, "n")
        cost = cell(row, "住院总费用")
        assert (cost.value, cost.data_type) == (12345.5, "n")
        birth = cell(row, "出生日期")
        assert birth.is_date and birth.value == datetime(1960, 1, 1)
        assert birth.number_format == "yyyy-mm-dd"
        admitted = cell(row, "入院时间")
        assert admitted.is_date and admitted.value == datetime(2020, 1, 1, 8, 0)
        assert admitted.number_format == "yyyy-mm-dd hh:mm:ss"
    assert (cell(2, "住院次数").value, cell(2, "住院次数").data_type) == (1, "n")
    # what does not parse stays the text it was
    assert (cell(3, "住院次数").value, cell(3, "住院次数").data_type) == ("0123", "s")
    bad_date = cell(2, "出院时间")
    assert (bad_date.value, bad_date.data_type) == ("2020-13-01 00:00:00", "s")
    assert bad_date.fill.fgColor.rgb.endswith("FFC7CE")  # E15: still painted as an error
    # a marked date cell keeps both its fill and its date format
    early = cell(3, "出院时间")
    assert early.is_date and early.value == datetime(2019, 12, 31, 8, 0)
    assert early.number_format == "yyyy-mm-dd hh:mm:ss"
    assert early.fill.fgColor.rgb.endswith("FFC7CE")
    assert cell(2, "出院主要诊断编码").fill.fgColor.rgb.endswith("FFEB9C")
    assert cell(2, "出院其他诊断编码2").value == "BAD1"
    assert cell(2, "医疗机构名称").data_type == "s"
