"""Every rule of checks.md on small hand-built frames: exact counts, cells and messages."""

from __future__ import annotations

import dataclasses
from datetime import date

import pandas as pd
from frames_helper import cases, staff

from cwdx.check import check_frames
from cwdx.numbers import percent_text as percent
from cwdx.reference import load_reference
from cwdx.rules import RULE_IDS, RULES

TODAY = date(2025, 6, 1)


def run(case_rows=({},), staff_rows=({},), all_staff=None):
    return check_frames(cases(*case_rows), staff(*staff_rows), all_staff, load_reference(), TODAY)


def nonzero(result) -> dict[str, int]:
    return {rid: n for rid, n in result.counts.items() if n}


def found(result, rule_id: str) -> list[tuple[int, str]]:
    """(excel_row, column) of the findings of one rule, sorted."""
    sub = result.findings[result.findings["rule_id"] == rule_id]
    return sorted(zip(sub["excel_row"].astype(int), sub["column"].astype(str), strict=True))


# ------------------------------------------------------------------ catalogue


def test_percent_rounds_half_up():
    assert percent(1, 800) == "0.13"  # 0.125: banker's rounding would give 0.12
    assert percent(1, 3) == "33.33"
    assert percent(2, 3) == "66.67"
    assert percent(0, 0) == "0.00"
    assert percent(5, 5) == "100.00"


def test_summary_messages_fill_count_and_percent():
    assert RULES["W03"].summary(1, 3) == (
        "病案首页信息中，出院主要诊断编码不符合要求（请参考《疾病分类与代码国家临床版2.0》），"
        "共有1条记录，占33.33%。"
    )
    assert RULES["W12"].summary(4, 10) == (
        "《申报人员信息自然表》中的申报人员组织机构代码+姓名+科室+评价周期，"
        "在病案首页信息中未匹配到，共有4人。"
    )
    assert RULES["E01"].summary(0, 0) == "《申报人员信息自然表》中，字段为空，共有0个字段。"


def test_clean_institution_passes_with_every_count_zero():
    result = run()
    assert result.passed
    assert list(result.counts) == list(RULE_IDS)
    assert nonzero(result) == {}
    assert result.findings.empty
    assert result.failed_rules == {}


# ------------------------------------------------------------------ staff cell rules


def test_e01_empty_cells_only_emptiness_rule():
    result = run(staff_rows=({"姓名": None, "性别": None, "出生日期": None},))
    assert result.counts["E01"] == 3
    assert found(result, "E01") == [(2, "出生日期"), (2, "姓名"), (2, "性别")]
    assert result.counts["E02"] == 0 and result.counts["E06"] == 0
    row = result.findings[result.findings["column"] == "姓名"].iloc[0]
    assert row["message"] == "“姓名”为空，此字段必填，请补充填写"
    assert row["severity"] == "error" and row["table"] == "staff"
    assert not result.passed


def test_e02_format_errors():
    result = run(
        staff_rows=(
            {"组织机构代码": "H_001"},  # underscore not allowed
            {"执业证书编码": "11-22"},  # '-' not allowed in 执业证书编码
            {"姓名": "张" * 41},  # longer than 40
            {"出生日期": "2030-01-01"},  # after the check day
            {"出生日期": "1899-12-31"},  # before 1900
            {"现专业技术职务聘任时间": "去年"},  # not a date
            {"医疗机构名称": "医" * 80},  # exactly 80 is fine
        )
    )
    assert found(result, "E02") == [
        (2, "组织机构代码"),
        (3, "执业证书编码"),
        (4, "姓名"),
        (5, "出生日期"),
        (6, "出生日期"),
        (7, "现专业技术职务聘任时间"),
    ]
    row = result.findings[(result.findings["excel_row"] == 5)].iloc[0]
    assert row["value"] == "2030-01-01"
    assert row["message"].startswith("“出生日期”格式错误：应为有效日期")


def test_domain_rules_e03_e05_e06_e07_e08_w10():
    result = run(
        staff_rows=(
            {"申报专业": "火星医学"},
            {"所在科室": "99.99"},
            {"性别": "男"},
            {"拟申报级别": "3"},
            {"人员类别": "医师", "姓名": "李四", "执业证书编码": "X2"},
            {"学历": "7", "姓名": "王五", "执业证书编码": "X3"},
        )
    )
    assert found(result, "E03") == [(2, "申报专业")]
    assert found(result, "E05") == [(3, "所在科室")]
    assert found(result, "E06") == [(4, "性别")]
    assert found(result, "E07") == [(5, "拟申报级别")]
    assert found(result, "E08") == [(6, "人员类别")]
    assert found(result, "W10") == [(7, "学历")]
    # E04 needs both 申报专业 and 人员类别 valid
    assert result.counts["E04"] == 0
    assert result.counts["E02"] == 0
    e06 = result.findings[result.findings["rule_id"] == "E06"].iloc[0]
    assert e06["value"] == "男"
    # the list is named as users find it (the template's sheet), never by an internal id
    assert (
        e06["message"]
        == "“性别”不在规定取值范围内（《申报人员信息自然表-性别》：1=男、2=女），请改为列表中的代码"
    )
    w10 = result.findings[result.findings["rule_id"] == "W10"].iloc[0]
    assert w10["message"] == (
        "“学历”不在规定取值范围内（《申报人员信息自然表-学历》：1=博士研究生、2=硕士研究生、"
        "3=大学本科、4=大学专科、5=中等专科、9=其他），请改为列表中的代码"
    )
    e07 = result.findings[result.findings["rule_id"] == "E07"].iloc[0]
    assert e07["message"] == (
        "“拟申报级别”不在规定取值范围内（《申报人员信息自然表-拟申报级别》：1=正高级、2=副高级），请改为列表中的代码"
    )
    assert not result.findings["message"].str.contains("STAFF_|SPECIALTY", regex=True).any()
    assert RULES["E06"].advice == "“性别”必须填写规定的数字代码（1=男，2=女），不能填写文字。"


def test_case_code_cell_message_names_the_template_sheet():
    result = run(case_rows=({"性别": "男", "离院方式": "7"},))
    messages = dict(
        zip(
            result.findings.loc[result.findings["rule_id"] == "E15", "column"],
            result.findings.loc[result.findings["rule_id"] == "E15", "message"],
            strict=True,
        )
    )
    assert messages["性别"] == (
        "“性别”不在规定取值范围内（《病案首页数据表样-RC001》：0=未知的性别、1=男、2=女、9=未说明的性别），请改为列表中的代码"
    )
    assert messages["离院方式"].startswith(
        "“离院方式”不在规定取值范围内（《病案首页数据表样-RC019》：1=医嘱离院"
    )


def test_e04_specialty_kind_mismatch_on_the_specialty_cell():
    result = run(
        staff_rows=(
            {"申报专业": "护理学"},  # 护理类 with 人员类别 1
            {"申报专业": "心血管内科", "人员类别": "2", "执业证书编码": "X2", "姓名": "李四"},
            {"申报专业": "内科护理", "人员类别": "2", "执业证书编码": "X3", "姓名": "王五"},
        )
    )
    assert found(result, "E04") == [(2, "申报专业"), (3, "申报专业")]
    assert result.findings.loc[result.findings["rule_id"] == "E04", "value"].tolist() == [
        "护理学",
        "心血管内科",
    ]


# ------------------------------------------------------------------ staff row rules


def test_e09_eighteenth_birthday_and_29_february():
    result = run(
        staff_rows=(
            {"出生日期": "2000-02-29", "现专业技术职务聘任时间": "2018-02-28"},  # too early
            {
                "出生日期": "2000-02-29",
                "现专业技术职务聘任时间": "2018-03-01",
                "执业证书编码": "X2",
            },
            {
                "出生日期": "1990-05-10",
                "现专业技术职务聘任时间": "2008-05-09",
                "执业证书编码": "X3",
            },
            {
                "出生日期": "1990-05-10",
                "现专业技术职务聘任时间": "2008-05-10",
                "执业证书编码": "X4",
            },
            {"出生日期": "生日", "现专业技术职务聘任时间": "2008-05-10", "执业证书编码": "X5"},
        )
    )
    assert found(result, "E09") == [(2, ""), (4, "")]
    e09 = result.findings[result.findings["rule_id"] == "E09"].iloc[0]
    assert e09["message"] == (
        "“现专业技术职务聘任时间”（2018-02-28）早于申报人员年满18周岁之日（出生日期 2000-02-29），请核对这两个日期"
    )
    assert result.counts["E09"] == 2
    assert result.counts["E02"] == 1  # the invalid date is a format error, not E09


def test_e10_cutoff_before_appointment_only_on_valid_dates():
    result = run(
        staff_rows=(
            {"提取工作量数据截止时间": "2014-12-31"},
            {"提取工作量数据截止时间": "2015-01-01", "执业证书编码": "X2"},  # same day: fine
            {"提取工作量数据截止时间": "2101-01-01", "执业证书编码": "X3"},  # out of range
        )
    )
    assert found(result, "E10") == [(2, "")]
    assert result.findings.set_index("rule_id").loc["E10", "message"] == (
        "“提取工作量数据截止时间”（2014-12-31）早于“现专业技术职务聘任时间”（2015-01-01），请核对这两个日期"
    )
    assert found(result, "E02") == [(4, "提取工作量数据截止时间")]


def test_e11_duplicates_need_all_keys_valid():
    result = run(
        staff_rows=(
            {},
            {},
            {"所在科室": None, "提取工作量数据截止时间": "2023-12-31"},
            {"所在科室": None, "提取工作量数据截止时间": "2022-12-31"},
        )
    )
    assert found(result, "E11") == [(2, ""), (3, "")]
    assert result.counts["E01"] == 2
    e11 = result.findings[result.findings["rule_id"] == "E11"].set_index("excel_row")
    assert e11.loc[2, "message"] == (
        "组织机构代码、姓名、执业证书编码、所在科室与“申报人员.xlsx”第3行完全一致，疑似重复，请删除多余的行"
    )


def test_e12_and_e13_across_institutions():
    own = staff({}, {"姓名": "李四", "执业证书编码": "C9"})
    other = staff(
        {"组织机构代码": "H002"},  # 张三 in another institution with the same cut-off date
        {"组织机构代码": "H002", "姓名": "李斯", "执业证书编码": "C9"},  # C9 with another name
        org="H002",
        import_id=3,
    )
    everyone = pd.concat([own, other], ignore_index=True)
    result = check_frames(cases({}), own, everyone, load_reference(), TODAY)
    assert found(result, "E12") == [(2, "")]
    assert found(result, "E13") == [(3, "")]
    assert set(result.findings["institution"]) == {"H001"}
    messages = result.findings.set_index("rule_id")["message"]
    assert messages["E12"] == (
        "姓名、执业证书编码、提取工作量数据截止时间与机构H002的“申报人员.xlsx”第2行"
        "（不同机构或科室）一致，请区分提取工作量数据截止时间"
    )
    assert messages["E13"] == (
        "执业证书编码与机构H002的“申报人员.xlsx”第3行相同但姓名不同，请确认执业证书编码或姓名"
    )
    theirs = check_frames(cases({}, org="H002"), other, everyone, load_reference(), TODAY)
    assert found(theirs, "E12") == [(2, "")]
    assert found(theirs, "E13") == [(3, "")]
    assert set(theirs.findings["institution"]) == {"H002"}


def test_e12_different_cutoff_or_same_pair_is_fine():
    result = run(
        staff_rows=(
            {},
            {"所在科室": "03.02", "提取工作量数据截止时间": "2023-12-31"},
        )
    )
    assert result.counts["E12"] == 0
    assert result.counts["E11"] == 0


def test_e14_same_name_same_department_two_certificates():
    result = run(
        staff_rows=(
            {},
            {"执业证书编码": "X2"},
            {"姓名": "张三1", "执业证书编码": "X3"},
        )
    )
    assert found(result, "E14") == [(2, ""), (3, "")]
    e14 = result.findings[result.findings["rule_id"] == "E14"].set_index("excel_row")
    assert e14.loc[3, "message"].startswith("与“申报人员.xlsx”第2行同机构、同科室、同名")
    assert RULES["E14"].summary(2, 0).endswith("共有2人。如不处理，所有重名人员都将不参与计算。")


def test_w11_w12_with_explain_line_and_error_rows_left_out_of_w12():
    result = run(
        staff_rows=(
            {},
            {"姓名": "李明", "执业证书编码": "X2", "所在科室": "03.02"},  # dept never in cases
            {"姓名": "周七", "执业证书编码": "X3"},  # dept fine, name never in cases
            {"姓名": "孙八", "执业证书编码": "X4", "所在科室": "03.02", "性别": "男"},
        )
    )
    assert found(result, "W11") == [(3, ""), (5, "")]
    assert found(result, "W12") == [(3, ""), (4, "")]  # row 5 has an error (E06)
    w12 = result.findings[result.findings["rule_id"] == "W12"].set_index("excel_row")
    assert "03.02" in w12.loc[3, "message"]
    assert w12.loc[4, "message"] != ""


def test_w11_w12_report_their_applicants_when_another_has_no_or_a_bad_kind():
    """An applicant with an empty or invalid 人员类别 (an error row) must not crash the
    explain step of W11/W12 for the others (issue 12.3)."""
    result = run(
        staff_rows=(
            {},
            {"姓名": "李明", "执业证书编码": "X2", "所在科室": "03.02"},  # dept never in cases
            {"姓名": "周七", "执业证书编码": "X3", "人员类别": None},  # E01, kind NA
            {"姓名": "吴九", "执业证书编码": "X4", "人员类别": "9"},  # E08, kind invalid
        )
    )
    assert result.failed_rules == {}
    assert found(result, "W11") == [(3, "")]
    assert found(result, "W12") == [(3, "")]  # rows 4 and 5 have errors (E01, E08)
    w12 = result.findings[result.findings["rule_id"] == "W12"].set_index("excel_row")
    assert w12.loc[3, "message"] == (
        "申报科室 03.02 在评价周期 2015-01-01 至 2024-12-31 内没有参与计算的出院病案"
        "（该科室共有 0 条参与计算的病案）"
    )
    assert result.counts["E01"] == 1 and result.counts["E08"] == 1


# ------------------------------------------------------------------ case cell rules


def test_e16_and_e15_never_on_the_same_cell():
    result = run(
        case_rows=(
            {"病案号": None, "入院时间": None},
            {"住院次数": "0", "年龄（岁）": "151", "性别": "3"},
            {"医疗机构名称": "医" * 81, "住院总费用": "-1"},
            {"出院时间": "2019-12-31 08:00:00"},  # date before 入院时间's date
            {"出院时间": "2020-01-01 07:00:00"},  # same date, earlier time: fine
            {"出院时间": "2101-01-01 00:00:00"},  # out of range
            {"出生日期": "2026-01-01"},  # after the check day
        )
    )
    assert found(result, "E16") == [(2, "入院时间"), (2, "病案号")]
    assert found(result, "E15") == [
        (3, "住院次数"),
        (3, "年龄（岁）"),
        (3, "性别"),
        (4, "住院总费用"),
        (4, "医疗机构名称"),
        (5, "出院时间"),
        (7, "出院时间"),
        (8, "出生日期"),
    ]
    e15 = result.findings[(result.findings["rule_id"] == "E15")].set_index("excel_row")
    assert e15.loc[5, "message"] == "“出院时间”的日期早于“入院时间”的日期，请核对这两个时间"


def test_w01_w08_overlap_and_w02():
    result = run(
        case_rows=(
            {"主治医师": None},
            {"主（副主）任医师": None, "住院医师": None},
            {"责任护士": None},
            {"年龄（岁）": None, "出院科别": None},
        )
    )
    assert found(result, "W01") == [(2, ""), (3, "")]
    assert found(result, "W02") == [(4, "")]
    assert result.counts["W08"] == 6
    assert found(result, "W08") == [
        (2, "主治医师"),
        (3, "主（副主）任医师"),
        (3, "住院医师"),
        (4, "责任护士"),
        (5, "出院科别"),
        (5, "年龄（岁）"),
    ]
    w01 = result.findings[result.findings["rule_id"] == "W01"].set_index("excel_row")
    assert w01.loc[3, "cells"] == "主（副主）任医师|住院医师"
    assert result.passed  # warnings never block


def test_w03_w05_w07_with_percentages():
    result = run(
        case_rows=(
            {"出院主要诊断编码": "ZZZ.999"},
            {"主要手术操作编码": "99.9999", "主要手术操作术者": "张三", "主要手术操作Ⅰ助": "李四"},
            {"出院科别": "99"},
            {},
        )
    )
    # W03 and W05 are row-level rules (checks.md): no column, but value and marked cell
    assert found(result, "W03") == [(2, "")]
    assert found(result, "W05") == [(3, "")]
    assert found(result, "W07") == [(4, "出院科别")]
    w03 = result.findings[result.findings["rule_id"] == "W03"].iloc[0]
    assert (w03["value"], w03["cells"]) == ("ZZZ.999", "出院主要诊断编码")
    assert (
        w03["message"]
        == "“出院主要诊断编码”不在规定取值范围内（《疾病分类与代码国家临床版2.0》），请更正编码"
    )
    assert result.counts["E15"] == 0
    assert (
        RULES["W07"]
        .summary(result.counts["W07"], result.case_rows)
        .endswith("共有1条记录，占25.00%。")
    )


def test_w04_and_x01_count_rows_mark_every_bad_cell():
    result = run(
        case_rows=(
            {
                "其他手术操作编码1": "99.9999",
                "其他手术操作编码2": "88.8888",
                "其他手术操作术者1": "张三",
                "其他手术操作术者2": "张三",
            },
            {"出院其他诊断编码1": "I21.000", "出院其他诊断编码3": "BAD"},
        )
    )
    assert result.counts["W04"] == 1
    assert result.counts["X01"] == 1
    w04 = result.findings[result.findings["rule_id"] == "W04"].iloc[0]
    assert w04["cells"] == "其他手术操作编码1|其他手术操作编码2"
    assert w04["message"] == (
        "其他手术操作编码1“99.9999”、其他手术操作编码2“88.8888”"
        "不在《手术操作分类代码国家临床版3.0》中，请更正编码"
    )
    x01 = result.findings[result.findings["rule_id"] == "X01"].iloc[0]
    assert (x01["excel_row"], x01["cells"]) == (3, "出院其他诊断编码3")


def test_w06_surgeon_missing_and_w08_only_for_the_main_procedure():
    result = run(
        case_rows=(
            {"主要手术操作编码": "36.0601"},  # no 术者 / Ⅰ助: W06 + 2× W08
            {"其他手术操作编码2": "36.0602"},  # other procedure without 术者: W06 only
            {"主要手术操作编码": "36.0601", "主要手术操作术者": "张三", "主要手术操作Ⅰ助": "李四"},
        )
    )
    assert found(result, "W06") == [(2, ""), (3, "")]
    assert found(result, "W08") == [(2, "主要手术操作Ⅰ助"), (2, "主要手术操作术者")]
    w06 = result.findings[result.findings["rule_id"] == "W06"].set_index("excel_row")
    assert w06.loc[3, "cells"] == "其他手术操作术者2"


def test_w09_keeps_the_first_in_import_order():
    key = {"病案号": "DUP1"}
    frame = pd.concat(
        [
            cases(key, key, import_id=2, file="b.xlsx"),  # rows 2, 3 of the later import
            cases({}, {}, {}, key, import_id=1, file="a.xlsx"),  # row 5 of the first import
        ],
        ignore_index=True,
    )
    frame.loc[[2, 3, 4], "病案号"] = ["A1", "A2", "A3"]
    bad = cases({"病案号": "DUP1", "出院主要诊断编码": "BAD"}, import_id=3, file="c.xlsx")
    frame = pd.concat([frame, bad, bad.assign(_row=3)], ignore_index=True)
    result = check_frames(frame, staff({}), None, load_reference(), TODAY)
    w09 = result.findings[result.findings["rule_id"] == "W09"]
    assert sorted(zip(w09["excel_file"], w09["excel_row"], strict=True)) == [
        ("b.xlsx", 2),
        ("b.xlsx", 3),
    ]
    assert result.counts["W09"] == 2
    assert w09.iloc[0]["message"].startswith("与“a.xlsx”第5行的组织机构代码")
    assert result.counts["W03"] == 2  # rows with an invalid key never join a group


def test_a_crashing_rule_fails_the_institution_and_others_still_run(monkeypatch):
    def boom(ctx):
        raise ValueError("意外数据")

    monkeypatch.setitem(RULES, "W07", dataclasses.replace(RULES["W07"], func=boom))
    result = run(staff_rows=({"性别": "男"},))
    assert result.failed_rules == {"W07": "ValueError: 意外数据"}
    assert result.counts["W07"] == 0
    assert result.counts["E06"] == 1
    assert not result.passed


def test_empty_staff_table_still_checks_cases():
    result = check_frames(cases({"病案号": None}), None, None, load_reference(), TODAY)
    assert nonzero(result) == {"E16": 1}


def test_counts_follow_the_counting_unit_of_each_rule():
    """字段 rules count one per finding; 条记录/人 rules count distinct rows."""
    result = run(
        case_rows=(
            {
                "主治医师": None,
                "住院医师": None,
                "出院其他诊断编码1": "A",
                "出院其他诊断编码2": "B",
            },
            {"病案号": None},
        ),
        staff_rows=({"姓名": None, "性别": None},),
    )
    per_rule = result.findings.groupby("rule_id").size().to_dict()
    assert result.counts["W08"] == per_rule["W08"] == 2
    assert result.counts["W01"] == per_rule["W01"] == 1
    assert result.counts["X01"] == per_rule["X01"] == 1
    assert result.counts["E01"] == per_rule["E01"] == 2
    assert result.counts["E16"] == 1


def test_rows_of_an_unrecognised_institution_are_reported_there():
    unknown = "（未识别机构）"
    frame = cases({"组织机构代码": None}, {"组织机构代码": "坏代码"}, org=unknown)
    result = check_frames(frame, None, None, load_reference(), TODAY, org=unknown)
    assert found(result, "E16") == [(2, "组织机构代码")]
    assert found(result, "E15") == [(3, "组织机构代码")]
    assert set(result.findings["institution"]) == {unknown}
    assert result.org == unknown and not result.passed


def test_every_finding_says_what_to_do():
    """Each finding's 说明 ends with the action to take (W11/W12 carry the explain line)."""
    result = run(
        case_rows=(
            {"病案号": None, "住院次数": "0", "性别": "男"},
            {"主治医师": None, "责任护士": None, "出院科别": "99.99"},
            {"出院主要诊断编码": "BAD", "出院其他诊断编码1": "BAD"},
            {"主要手术操作编码": "36.0601", "主要手术操作术者": None},
            {"其他手术操作编码1": "99.9999", "出院时间": "2019-12-31 08:00:00"},
            {"病案号": "BA00002"},  # a W09 copy of Excel row 3 (same keys)
        ),
        staff_rows=(
            {"姓名": None, "性别": "男", "申报专业": "火星医学"},
            {"出生日期": "2000-01-01", "现专业技术职务聘任时间": "2010-01-01"},
            {"提取工作量数据截止时间": "2010-01-01", "学历": "7"},
            {"申报专业": "护理学"},
            {"姓名": "李四", "执业证书编码": "X9"},
            {"姓名": "李四", "执业证书编码": "X9"},
        ),
    )
    rules = set(result.findings["rule_id"])
    assert {"E01", "E06", "E03", "E09", "E10", "W10", "E04", "E11", "E15", "E16"} <= rules
    assert {"W01", "W02", "W03", "W06", "W07", "W04", "X01", "W09"} <= rules
    actions = ("请", "无需处理")
    for rule_id, message in zip(
        result.findings["rule_id"], result.findings["message"], strict=True
    ):
        if rule_id in ("W11", "W12"):
            continue
        tail = message.rsplit("，", 1)[-1].rsplit("；", 1)[-1]
        assert any(word in tail for word in actions), (rule_id, message)
