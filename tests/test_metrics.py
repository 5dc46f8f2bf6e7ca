"""Every indicator on a small hand-built institution; expected values worked out by hand."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
from test_matching import (
    REF,
    _brute_force_pairs,
    applicant,
    case,
    cases_frame,
    random_institution,
    staff_frame,
)

from cwdx import matching, metrics

# Window of every applicant: 2020-01-01 .. 2022-12-31 (test_matching.applicant defaults).
# Default case: ORG1, 03.04, 入院 2021-03-01 08:00, 出院 2021-03-05 10:00 (4 days by dates).
ROWS = [
    # r1, Excel row 2
    case(
        病案号="1",
        出院主要诊断编码="I21.000",
        离院方式="1",
        住院总费用="100.01",
        主要手术操作编码="36.0600",
        主要手术操作级别="4",
        主要手术操作术者="张三",
        其他手术操作编码1="88.5500",
        其他手术操作级别1="3",
        其他手术操作术者1="张三",
        出院其他诊断编码1="T81.000",
        出院其他诊断入院病情1="4",
        责任护士="李四",
        质控护师="李四",
        **{"主（副主）任医师": "张三", "实际住院（天）": "10", "主要手术操作Ⅰ助": "赵六"},
    ),
    # r2, row 3: two roles, death, procedure only in slot 2 without 级别, 入院病情 = 1
    case(
        病案号="2",
        出院主要诊断编码="I50.000",
        离院方式="5",
        住院总费用="100",
        主治医师="张三",
        住院医师="张三",
        其他手术操作编码2="37.3400",
        其他手术操作术者2="张三",
        出院其他诊断编码1="T81.400",
        出院其他诊断入院病情1="1",
        责任护士="李四",
    ),
    # r3, row 4: discharged on the first day of the window, 实际住院 0, invalid procedure code
    case(
        病案号="3",
        入院时间="2019-12-25 08:00:00",
        出院时间="2020-01-01 09:00:00",
        出院主要诊断编码="I10.X00",
        主要手术操作编码="99.9999X",
        主要手术操作术者="张三",
        出院其他诊断编码1="T81.000",
        **{"主（副主）任医师": "张三", "实际住院（天）": "0"},
    ),
    # r4, row 5: discharged on the last day, LOS from dates (11), complication in slot 2
    case(
        病案号="4",
        入院时间="2022-12-20 08:00:00",
        出院时间="2022-12-31 23:00:00",
        出院主要诊断编码="K35.000",
        主治医师="张三",
        主要手术操作编码="47.0100",
        主要手术操作级别="3",
        主要手术操作术者="张三",
        出院其他诊断编码2="T81.000",
    ),
    # r5, row 6: one day after the window
    case(
        病案号="5",
        入院时间="2022-12-28 08:00:00",
        出院时间="2023-01-01 00:30:00",
        **{"主（副主）任医师": "张三"},
    ),
    # r6, row 7: one day before the window
    case(
        病案号="6",
        入院时间="2019-12-20 08:00:00",
        出院时间="2019-12-31 23:59:59",
        **{"主（副主）任医师": "张三"},
    ),
    # r7, row 8: W09 later copy of r1
    case(病案号="1", 出院主要诊断编码="I21.000", **{"主（副主）任医师": "张三"}),
    # r8, row 9: W03 main diagnosis
    case(病案号="8", 出院主要诊断编码="ZZZ.999", **{"主（副主）任医师": "张三"}),
    # r9, row 10: other department
    case(病案号="9", 出院科别="03.02", **{"主（副主）任医师": "张三"}),
    # r10, row 11: 赵六 as 住院医师
    case(病案号="10", 出院主要诊断编码="J18.000", 住院医师="赵六", **{"实际住院（天）": "7"}),
]
STAFF = [
    applicant(),  # 张三, physician, 心血管内科
    applicant(姓名="李四", 人员类别="2", 申报专业="内科护理", 执业证书编码="C2"),
    applicant(姓名="王五", 申报专业="普通外科", 执业证书编码="C3"),  # unmatched
    applicant(姓名="赵六", 申报专业="呼吸内科", 执业证书编码="C4"),  # no catalogue
    applicant(姓名="孙七", 人员类别="2", 申报专业="内科护理", 执业证书编码="C5"),  # unmatched
]


@pytest.fixture(scope="module")
def result() -> metrics.InstitutionResults:
    return metrics.compute_institution(cases_frame(ROWS), staff_frame(STAFF), REF, case_list=True)


def _row(result: metrics.InstitutionResults, name: str) -> dict[str, object]:
    summary = result.summary
    record = summary[summary["姓名"] == name].iloc[0].to_dict()
    return {
        k: (None if v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v)
        for k, v in record.items()
    }


PHYSICIAN_EMPTY = dict.fromkeys(metrics.PHYSICIAN_INDICATORS) | dict.fromkeys(
    metrics.CATALOGUE_INDICATORS
)
NURSE_EMPTY = dict.fromkeys(metrics.NURSE_INDICATORS)


def _indicators(record: dict[str, object]) -> dict[str, object]:
    return {k: record[k] for k in metrics.INDICATOR_COLUMNS}


def test_summary_columns_in_order(result):
    # outputs.md 指标汇总: the applicant columns, then every indicator of metrics.md in order
    assert " ".join(result.summary.columns) == (
        "组织机构代码 医疗机构名称 姓名 执业证书编码 所在科室 人员类别 申报专业 拟申报级别 "
        "现专业技术职务聘任时间 提取工作量数据截止时间 匹配状态 说明 "
        "出院患者人数 作为主（副主）任医师出院人数 作为主治医师出院人数 作为住院医师出院人数 "
        "出院患者病种数 平均住院日 次均费用 死亡人数 死亡率(%) 手术患者人数 手术例数 三级手术例数 "
        "四级手术例数 四级手术占比(%) 术种数 作为Ⅰ助手术例数 手术患者并发症例数 "
        "手术患者并发症发生率(%) 目录病种数 目录病种覆盖数 目录病种覆盖率(%) 目录病种例数 "
        "目录术种数 目录术种覆盖数 目录术种覆盖率(%) 目录术种例数 "
        "责任护理出院患者人数 作为质控护师病例数 护理患者病种数 护理患者平均住院日 "
        "护理手术患者人数 护理死亡患者人数"
    )
    assert result.summary["姓名"].tolist() == ["张三", "李四", "王五", "赵六", "孙七"]


def test_physician_indicators(result):
    record = _row(result, "张三")
    assert record["匹配状态"] == "已匹配"
    assert record["说明"] is None
    # M = r1, r2, r3 (first day), r4 (last day); r5/r6 outside, r7 W09, r8 W03, r9 other dept
    assert _indicators(record) == NURSE_EMPTY | {
        "出院患者人数": 4,
        "作为主（副主）任医师出院人数": 2,  # r1, r3
        "作为主治医师出院人数": 2,  # r2, r4
        "作为住院医师出院人数": 1,  # r2
        "出院患者病种数": 4,  # I21, I50, I10, K35
        "平均住院日": 6.25,  # (10 + 4 + 0 + 11) / 4
        "次均费用": 100.01,  # (100.01 + 100) / 2 = 100.005, half up (round() gives 100.0)
        "死亡人数": 1,  # r2
        "死亡率(%)": 25.0,
        "手术患者人数": 3,  # r1, r2, r4 (r3's code is not in 国临版3.0)
        "手术例数": 4,  # r1 slot 0 and 1, r2 slot 2, r4 slot 0
        "三级手术例数": 2,
        "四级手术例数": 1,
        "四级手术占比(%)": 25.0,
        "术种数": 4,  # 36.06, 88.55, 37.34, 47.01
        "作为Ⅰ助手术例数": 0,
        "手术患者并发症例数": 2,  # r1 (病情 4), r4 (病情 empty); r2 has 病情 1
        "手术患者并发症发生率(%)": 66.67,  # 2 / 3
        "目录病种数": 10,
        "目录病种覆盖数": 3,  # 急性心肌梗死, 心力衰竭, 高血压病
        "目录病种覆盖率(%)": 30.0,
        "目录病种例数": 3,
        "目录术种数": 5,
        "目录术种覆盖数": 3,  # PCI (36.06), 冠状动脉造影 (88.55), 心脏射频消融 (37.34)
        "目录术种覆盖率(%)": 60.0,
        "目录术种例数": 3,
    }


def test_physician_without_catalogue_and_zero_denominators(result):
    record = _row(result, "赵六")
    assert _indicators(record) == NURSE_EMPTY | {
        "出院患者人数": 1,
        "作为主（副主）任医师出院人数": 0,
        "作为主治医师出院人数": 0,
        "作为住院医师出院人数": 1,
        "出院患者病种数": 1,
        "平均住院日": 7.0,
        "次均费用": None,  # no cost filled: empty, not 0
        "死亡人数": 0,
        "死亡率(%)": 0.0,
        "手术患者人数": 0,
        "手术例数": 0,
        "三级手术例数": 0,
        "四级手术例数": 0,
        "四级手术占比(%)": None,
        "术种数": 0,
        "作为Ⅰ助手术例数": 1,  # r1 slot 0
        "手术患者并发症例数": 0,
        "手术患者并发症发生率(%)": None,
    } | dict.fromkeys(metrics.CATALOGUE_INDICATORS)


def test_unmatched_physician_counts_zero_and_catalogue(result):
    record = _row(result, "王五")
    assert record["匹配状态"] == "未匹配"
    assert record["说明"] == (
        "姓名在本机构病案中未出现，申报科室 03.04 评价周期内的 5 条病案中也没有相似姓名"
    )
    assert _indicators(record) == NURSE_EMPTY | {
        "出院患者人数": 0,
        "作为主（副主）任医师出院人数": 0,
        "作为主治医师出院人数": 0,
        "作为住院医师出院人数": 0,
        "出院患者病种数": 0,
        "平均住院日": None,
        "次均费用": None,
        "死亡人数": 0,
        "死亡率(%)": None,
        "手术患者人数": 0,
        "手术例数": 0,
        "三级手术例数": 0,
        "四级手术例数": 0,
        "四级手术占比(%)": None,
        "术种数": 0,
        "作为Ⅰ助手术例数": 0,
        "手术患者并发症例数": 0,
        "手术患者并发症发生率(%)": None,
        "目录病种数": 9,
        "目录病种覆盖数": 0,
        "目录病种覆盖率(%)": 0.0,
        "目录病种例数": 0,
        "目录术种数": 7,
        "目录术种覆盖数": 0,
        "目录术种覆盖率(%)": 0.0,
        "目录术种例数": 0,
    }


def test_nurse_indicators(result):
    assert _indicators(_row(result, "李四")) == PHYSICIAN_EMPTY | {
        "责任护理出院患者人数": 2,  # r1, r2
        "作为质控护师病例数": 1,  # r1
        "护理患者病种数": 2,  # I21, I50
        "护理患者平均住院日": 7.0,  # (10 + 4) / 2
        "护理手术患者人数": 2,  # both hold an eligible procedure
        "护理死亡患者人数": 1,  # r2
    }
    record = _row(result, "孙七")
    assert record["匹配状态"] == "未匹配"
    assert _indicators(record) == PHYSICIAN_EMPTY | {
        "责任护理出院患者人数": 0,
        "作为质控护师病例数": 0,
        "护理患者病种数": 0,
        "护理患者平均住院日": None,
        "护理手术患者人数": 0,
        "护理死亡患者人数": 0,
    }


def _records(frame: pd.DataFrame, columns: list[str]) -> list[list[object]]:
    return [
        [None if pd.isna(v) else v for v in row]
        for row in frame[columns].astype(object).itertuples(index=False, name=None)
    ]


def test_disease_detail(result):
    assert _records(result.diseases, ["姓名", "人员类别", "疾病类目", "病例数"]) == [
        ["张三", "1", "I10", 1],
        ["张三", "1", "I21", 1],
        ["张三", "1", "I50", 1],
        ["张三", "1", "K35", 1],
        ["李四", "2", "I21", 1],
        ["李四", "2", "I50", 1],
        ["赵六", "1", "J18", 1],
    ]


def test_procedure_detail(result):
    assert list(result.procedures.columns) == list(metrics.PROCEDURE_COLUMNS)
    assert _records(result.procedures, ["姓名", *metrics.PROCEDURE_COLUMNS[5:]]) == [
        ["张三", "36.06", 1, 0, 0, 0, 1, 0],
        ["张三", "37.34", 1, 0, 0, 0, 0, 1],
        ["张三", "47.01", 1, 0, 0, 1, 0, 0],
        ["张三", "88.55", 1, 0, 0, 1, 0, 0],
    ]


def test_year_detail(result):
    assert _records(
        result.years, ["姓名", "出院年份", "出院患者人数", "手术例数", "责任护理出院患者人数"]
    ) == [
        ["张三", 2020, 1, 0, None],
        ["张三", 2021, 2, 3, None],
        ["张三", 2022, 1, 1, None],
        ["李四", 2021, None, None, 2],
        ["赵六", 2021, 1, 0, None],
    ]


def test_case_list(result):
    zhang = result.case_list[result.case_list["姓名"] == "张三"]
    assert _records(zhang, ["病案号", "出院时间", "角色", "行号"]) == [
        [
            "1",
            "2021-03-05 10:00:00",
            "主（副主）任医师、术者（主要手术操作）、术者（其他手术操作1）",
            2,
        ],
        ["2", "2021-03-05 10:00:00", "主治医师、住院医师、术者（其他手术操作2）", 3],
        ["3", "2020-01-01 09:00:00", "主（副主）任医师", 4],
        ["4", "2022-12-31 23:00:00", "主治医师、术者（主要手术操作）", 5],
    ]
    assert len(result.case_list) == 4 + 2 + 2  # 张三 4, 李四 2, 赵六 2 (住院医师 r10, Ⅰ助 r1)


def test_case_list_only_when_asked():
    plain = metrics.compute_institution(cases_frame(ROWS), staff_frame(STAFF), REF)
    assert plain.case_list is None
    assert list(plain.tables()) == ["指标汇总", "病种明细", "术种明细", "年度明细"]


def test_filled_zero_los_stays_zero():
    rows = [case(主治医师="张三", **{"实际住院（天）": "0"})]
    record = _row(
        metrics.compute_institution(cases_frame(rows), staff_frame([applicant()]), REF), "张三"
    )
    assert record["平均住院日"] == 0.0


def test_los_from_dates_is_at_least_one_day():
    rows = [case(出院时间="2021-03-01 18:00:00", 主治医师="张三")]  # same day as 入院
    record = _row(
        metrics.compute_institution(cases_frame(rows), staff_frame([applicant()]), REF), "张三"
    )
    assert record["平均住院日"] == 1.0


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(1, 8, 0.13), (-1, 8, -0.13), (2, 3, 0.67), (1, 3, 0.33), (1, 0, None), (0, 5, 0.0)],
)
def test_half_up(numerator, denominator, expected):
    assert metrics.half_up(numerator, denominator) == expected


def test_percent_and_empty_institution():
    assert metrics.percent(1, 8) == 12.5
    assert metrics.percent(2, 3) == 66.67
    empty = metrics.compute_institution(cases_frame([]), staff_frame([applicant()]), REF)
    record = _row(empty, "张三")
    assert record["出院患者人数"] == 0 and record["匹配状态"] == "未匹配"
    assert record["说明"] == (
        "申报科室 03.04 在评价周期 2020-01-01 至 2022-12-31 内没有参与计算的出院病案"
        "（该科室共有 0 条参与计算的病案）"
    )
    assert empty.diseases.empty and empty.procedures.empty and empty.years.empty


def _mean(values: list[Decimal]) -> float | None:
    if not values:
        return None
    return float((sum(values) / len(values)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _percent(count: int, total: int) -> float | None:
    if not total:
        return None
    exact = Decimal(100 * count) / Decimal(total)
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _brute_force_indicators(rows: list[dict], kind: str, specialty: str, mine: set) -> dict:
    """Every indicator of metrics.md for one applicant, as plain loops over its credited pairs
    ``(case, role, slot)`` (from ``_brute_force_pairs``)."""

    def los(row: dict) -> Decimal:
        if row["实际住院（天）"] is not None:
            return Decimal(row["实际住院（天）"])
        days = (pd.Timestamp(row["出院时间"][:10]) - pd.Timestamp(row["入院时间"][:10])).days
        return Decimal(max(1, days))

    def has_complication(row: dict) -> bool:
        return any(
            (code := row[f"出院其他诊断编码{k}"]) is not None
            and code in REF.icd10
            and code.startswith(tuple(REF.complications))
            and row[f"出院其他诊断入院病情{k}"] != "1"
            for k in range(1, 11)
        )

    def has_procedure(row: dict) -> bool:
        return any(row[code] is not None and row[code] in REF.icd9 for code, *_ in matching.SLOTS)

    out: dict[str, object] = dict.fromkeys(metrics.INDICATOR_COLUMNS)
    if kind == "2":
        n = [rows[c] for c in sorted({c for c, role, _ in mine if role == "责任护士"})]
        out |= {
            "责任护理出院患者人数": len(n),
            "作为质控护师病例数": sum(role == "质控护师" for _, role, _ in mine),
            "护理患者病种数": len({r["出院主要诊断编码"][:3] for r in n}),
            "护理患者平均住院日": _mean([los(r) for r in n]),
            "护理手术患者人数": sum(has_procedure(r) for r in n),
            "护理死亡患者人数": sum(r["离院方式"] == "5" for r in n),
        }
        return out
    m = [rows[c] for c in sorted({c for c, role, _ in mine if role in matching.PHYSICIAN_ROLES})]
    surgery = [(c, slot) for c, role, slot in mine if role == "术者"]
    codes = [rows[c][matching.SLOTS[slot][0]] for c, slot in surgery]
    levels = [rows[c][matching.SLOTS[slot][1]] for c, slot in surgery]
    patients = {c for c, _ in surgery}
    complications = sum(has_complication(rows[c]) for c in patients)
    deaths = sum(r["离院方式"] == "5" for r in m)
    out |= {
        "出院患者人数": len(m),
        "出院患者病种数": len({r["出院主要诊断编码"][:3] for r in m}),
        "平均住院日": _mean([los(r) for r in m]),
        "次均费用": _mean([Decimal(r["住院总费用"]) for r in m if r["住院总费用"]]),
        "死亡人数": deaths,
        "死亡率(%)": _percent(deaths, len(m)),
        "手术患者人数": len(patients),
        "手术例数": len(surgery),
        "三级手术例数": levels.count("3"),
        "四级手术例数": levels.count("4"),
        "四级手术占比(%)": _percent(levels.count("4"), len(surgery)),
        "术种数": len({code[:5] for code in codes}),
        "作为Ⅰ助手术例数": sum(role == "Ⅰ助" for _, role, _ in mine),
        "手术患者并发症例数": complications,
        "手术患者并发症发生率(%)": _percent(complications, len(patients)),
    }
    for role, column in zip(
        matching.PHYSICIAN_ROLES,
        ("作为主（副主）任医师出院人数", "作为主治医师出院人数", "作为住院医师出院人数"),
        strict=True,
    ):
        out[column] = sum(r == role for _, r, _ in mine)
    for group_kind, items in (("病种", [r["出院主要诊断编码"] for r in m]), ("术种", codes)):
        groups = [g[3] for g in REF.specialty_groups if g[:2] == (specialty, group_kind)]
        if not groups:
            continue
        covered = sum(any(code.startswith(g) for code in items) for g in groups)
        out |= {
            f"目录{group_kind}数": len(groups),
            f"目录{group_kind}覆盖数": covered,
            f"目录{group_kind}覆盖率(%)": _percent(covered, len(groups)),
            f"目录{group_kind}例数": sum(any(code.startswith(g) for g in groups) for code in items),
        }
    return out


def test_indicators_equal_brute_force_on_random_data():
    cases, staff = random_institution(11)
    result = metrics.compute_institution(cases, staff, REF)
    rows = cases.astype(object).where(cases.notna(), None).to_dict("records")
    pairs = _brute_force_pairs(cases.astype(object).where(cases.notna(), None), staff)
    checked = covered = complicated = 0
    for s, record in enumerate(result.summary.to_dict("records")):
        mine = {(c, role, slot) for who, c, role, slot in pairs if who == s}
        expected = _brute_force_indicators(
            rows, staff["人员类别"].iloc[s], staff["申报专业"].iloc[s], mine
        )
        got = {k: (None if v is pd.NA else v) for k, v in record.items()}
        assert {k: got[k] for k in expected} == expected, (s, record["姓名"])
        checked += bool(mine)
        covered += bool(expected["目录病种覆盖数"] or expected["目录术种覆盖数"])
        complicated += bool(expected["手术患者并发症例数"])
    assert checked > 10 and covered > 3 and complicated > 3


def test_complications_need_a_listed_code_and_count_once_per_patient():
    surgery = {"主要手术操作编码": "36.0600", "主要手术操作术者": "张三"}
    rows = [
        # X01 code with a complication prefix: left out although 入院病情 is 4 (无)
        case(病案号="1", 出院其他诊断编码1="T81.ZZZ", 出院其他诊断入院病情1="4", **surgery),
        # complication in the last slot, another one in slot 3: one patient
        case(
            病案号="2",
            出院其他诊断编码3="T81.000",
            出院其他诊断编码10="T81.400",
            出院其他诊断入院病情10="2",
            **surgery,
        ),
        # a listed code outside complications.csv
        case(病案号="3", 出院其他诊断编码1="I10.X00", **surgery),
    ]
    record = _row(
        metrics.compute_institution(cases_frame(rows), staff_frame([applicant()]), REF), "张三"
    )
    assert (record["手术患者人数"], record["手术患者并发症例数"]) == (3, 1)
    assert record["手术患者并发症发生率(%)"] == 33.33  # 1 / 3


def test_no_case_row_with_a_main_diagnosis():
    # W03 and W08 are warnings: such an institution can pass the check and be computed
    rows = [case(病案号="1", 出院主要诊断编码=None, **{"主（副主）任医师": "张三"})]
    result = metrics.compute_institution(cases_frame(rows), staff_frame([applicant()]), REF)
    record = _row(result, "张三")
    assert (record["匹配状态"], record["出院患者人数"], record["出院患者病种数"]) == (
        metrics.UNMATCHED,
        0,
        0,
    )
    assert record["说明"] == (
        "姓名在申报科室 03.04 评价周期内的 1 条病案中出现，但这些病案因出院主要诊断编码为空或"
        "不在国临版2.0内（W03），未参与计算（例：a.xlsx 第 2 行）"
    )
    assert (len(result.diseases), len(result.procedures), len(result.years)) == (0, 0, 0)


@pytest.mark.parametrize("kind", [None, "9"])
def test_an_applicant_without_a_valid_kind_is_unmatched_not_a_crash(kind):
    """人员类别 empty (NA) or invalid: no indicators and the keys-invalid line (issue 12.3)."""
    staff = staff_frame([applicant(), applicant(姓名="李四", 人员类别=kind)])
    summary = metrics.compute_institution(cases_frame(ROWS), staff, REF).tables()["指标汇总"]
    other = summary.iloc[1]
    assert (other["匹配状态"], other["说明"]) == (
        "未匹配",
        "申报人员的组织机构代码、姓名、所在科室、人员类别或评价周期为空或有误，无法匹配病案",
    )
    assert pd.isna(other["出院患者人数"]) and pd.isna(other["责任护理出院患者人数"])
    assert summary.iloc[0]["出院患者人数"] == 4
