"""Eligibility, matching (M/P/A/N/Q) and explain lines on small hand-built stored frames."""

from __future__ import annotations

import pandas as pd
import pytest

from cwdx import matching
from cwdx.reference import load_reference

REF = load_reference()
CASE_COLUMNS = [c.name for c in REF.case_columns]
STAFF_COLUMNS = [c.name for c in REF.staff_columns]

DX = "A00.000"  # in 国临版2.0
PROC = "00.0100"  # in 国临版3.0


def case(**values: str | None) -> dict[str, str | None]:
    """One case row in stored form: valid defaults for the keys, every other column empty."""
    row: dict[str, str | None] = dict.fromkeys(CASE_COLUMNS)
    row.update(
        {
            "组织机构代码": "ORG1",
            "医疗机构名称": "第一医院",
            "病案号": "B1",
            "入院时间": "2021-03-01 08:00:00",
            "出院时间": "2021-03-05 10:00:00",
            "出院科别": "03.04",
            "出院主要诊断编码": DX,
        }
    )
    row.update(values)
    return row


def applicant(**values: str | None) -> dict[str, str | None]:
    """One staff row in stored form with a valid physician of ORG1, 03.04, window 2020..2022."""
    row: dict[str, str | None] = dict.fromkeys(STAFF_COLUMNS)
    row.update(
        {
            "组织机构代码": "ORG1",
            "医疗机构名称": "第一医院",
            "姓名": "张三",
            "性别": "1",
            "出生日期": "1980-01-01",
            "执业证书编码": "C1",
            "所在科室": "03.04",
            "人员类别": "1",
            "拟申报级别": "1",
            "学历": "1",
            "申报专业": "心血管内科",
            "现专业技术职务聘任时间": "2020-01-01",
            "提取工作量数据截止时间": "2022-12-31",
        }
    )
    row.update(values)
    return row


def frame(rows: list[dict], columns: list[str], file: str = "a.xlsx", import_id: int = 1):
    """A stored frame: string template columns plus _file/_row/_import/_org."""
    out = pd.DataFrame(rows, columns=columns).astype("string")
    out["_file"] = file
    out["_row"] = range(2, 2 + len(rows))
    out["_import"] = import_id
    out["_org"] = out["组织机构代码"].fillna("（未识别机构）")
    return out


def cases_frame(rows: list[dict], **kw) -> pd.DataFrame:
    return frame(rows, CASE_COLUMNS, **kw)


def staff_frame(rows: list[dict], **kw) -> pd.DataFrame:
    return frame(rows, STAFF_COLUMNS, file=kw.pop("file", "staff.xlsx"), **kw)


# -- eligibility -------------------------------------------------------------------------------


def test_eligible_cases_leaves_out_w03_w09_and_invalid_discharge():
    cases = cases_frame(
        [
            case(病案号="1"),  # ok
            case(病案号="1"),  # W09 later copy
            case(病案号="2", 出院主要诊断编码="ZZZ.999"),  # W03
            case(病案号="3", 出院主要诊断编码=None),  # empty main diagnosis
            case(病案号="4", 出院时间=None),
            case(病案号="5", 出院时间="2021-13-45"),  # not canonical: invalid
            case(病案号="6", 出院科别="99.99"),  # not RC023
            case(病案号="7", 出院科别=None),
            case(病案号="8", 出院时间="2021-02-27 10:00:00"),  # before 入院时间's date
            case(病案号="9", 出院时间="2021-03-01 07:00:00"),  # same day, earlier hour: ok
        ]
    )
    assert matching.eligible_cases(cases, REF).tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        False,
        False,
        True,
    ]


def test_w09_keeps_first_in_import_order_not_frame_order():
    # the frame holds import 2 before import 1: the import-1 row is the one kept
    cases = pd.concat(
        [
            cases_frame([case(病案号="1")], import_id=2),
            cases_frame([case(病案号="1"), case(病案号="1")], import_id=1),
        ],
        ignore_index=True,
    )
    assert matching.w09_later_duplicates(cases, REF).tolist() == [True, False, True]


def test_w09_groups_only_fully_valid_keys_and_full_precision_times():
    cases = cases_frame(
        [
            case(病案号="1", 出院主要诊断编码="BAD"),
            case(病案号="1", 出院主要诊断编码="BAD"),  # invalid key value: no group
            case(病案号="2", 入院时间="2021-03-01 08:00:00"),
            case(病案号="2", 入院时间="2021-03-01 08:00:01"),  # one second apart: distinct
            case(病案号="3", 组织机构代码="ORG2"),
            case(病案号="3"),  # other institution: distinct
        ]
    )
    assert not matching.w09_later_duplicates(cases, REF).any()


def test_eligible_procedures_slots_and_codes():
    cases = cases_frame(
        [
            case(
                主要手术操作编码=PROC,
                主要手术操作级别="4",
                主要手术操作术者="张三",
                其他手术操作编码2="00.0101",
                其他手术操作术者2="李四",
                其他手术操作编码3="99.BAD",  # not in 国临版3.0: left out
                其他手术操作术者3="张三",
            ),
            case(病案号="X", 出院主要诊断编码="BAD", 主要手术操作编码=PROC),  # W03 row
        ]
    )
    procs = matching.eligible_procedures(cases, REF)
    assert procs[["case_pos", "slot", "code", "level", "surgeon"]].astype(object).where(
        procs[["case_pos", "slot", "code", "level", "surgeon"]].notna(), None
    ).values.tolist() == [[0, 0, PROC, "4", "张三"], [0, 2, "00.0101", None, "李四"]]


def test_department_known():
    cases = cases_frame([case(出院科别="03.02", 出院主要诊断编码="BAD")])  # any row counts
    staff = staff_frame(
        [applicant(所在科室="03.02"), applicant(所在科室="03.04"), applicant(组织机构代码="ORG2")]
    )
    assert matching.department_known(cases, staff).tolist() == [True, False, False]


# -- matching ----------------------------------------------------------------------------------


def test_match_staff_roles_windows_and_kinds():
    cases = cases_frame(
        [
            case(
                病案号="1",
                入院时间="2019-12-30 08:00:00",
                出院时间="2020-01-01 00:00:00",
                主治医师="张三",
            ),
            case(病案号="2", 出院时间="2022-12-31 23:59:59", 住院医师="张三", 主治医师="张三"),
            case(
                病案号="3",
                入院时间="2019-12-30 08:00:00",
                出院时间="2019-12-31 23:59:59",
                主治医师="张三",
            ),
            case(病案号="4", 出院时间="2023-01-01 00:00:00", 主治医师="张三"),  # day after
            case(病案号="5", 出院科别="03.02", 主治医师="张三"),  # other department
            case(
                病案号="6",
                主要手术操作编码=PROC,
                主要手术操作术者="张三",
                其他手术操作编码1=PROC,
                **{"其他手术操作Ⅰ助1": "张三"},
                其他手术操作编码5="00.0101",
                其他手术操作术者5="张三",
                责任护士="李四",
                质控护师="李四",
            ),
            case(病案号="7", 组织机构代码="ORG2", 主治医师="张三"),  # other institution
            case(病案号="8", 责任护士="张三"),  # nurse field: does not count for a physician
        ]
    )
    staff = staff_frame(
        [
            applicant(),
            applicant(姓名="李四", 人员类别="2", 执业证书编码="C2"),
            applicant(姓名="王五", 执业证书编码="C3"),
        ]
    )
    counts = matching.match_staff(cases, staff, REF)
    assert counts.to_dict("list") == {
        "matched": [True, True, False],
        "M": [2, 0, 0],
        "P": [2, 0, 0],
        "A": [1, 0, 0],
        "N": [0, 1, 0],
        "Q": [0, 1, 0],
    }
    pairs = matching.credited(cases, staff, REF)
    assert pairs[["staff_pos", "case_pos", "role", "slot"]].values.tolist() == [
        [0, 0, "主治医师", -1],
        [0, 1, "主治医师", -1],
        [0, 1, "住院医师", -1],
        [0, 5, "术者", 0],
        [0, 5, "术者", 5],
        [0, 5, "Ⅰ助", 1],
        [1, 5, "责任护士", -1],
        [1, 5, "质控护师", -1],
    ]


def test_surgeon_only_physician_is_matched():
    cases = cases_frame([case(主要手术操作编码=PROC, 主要手术操作术者="张三", 主治医师="王五")])
    counts = matching.match_staff(cases, staff_frame([applicant()]), REF)
    assert counts.loc[0, "matched"] and counts.loc[0, "M"] == 0 and counts.loc[0, "P"] == 1


def test_invalid_applicant_keys_never_match():
    cases = cases_frame([case(主治医师="张三")])
    staff = staff_frame(
        [
            applicant(所在科室=None),
            applicant(现专业技术职务聘任时间="2020-02-30"),
            applicant(人员类别="3"),
        ]
    )
    assert matching.match_staff(cases, staff, REF)["matched"].tolist() == [False] * 3


def test_empty_frames():
    cases = cases_frame([])
    staff = staff_frame([applicant()])
    assert matching.match_staff(cases, staff, REF)["matched"].tolist() == [False]
    assert matching.credited(cases, staff_frame([]), REF).empty


# -- explain -----------------------------------------------------------------------------------


def _explain(case_rows: list[dict], staff_rows: list[dict]) -> list[str]:
    return matching.explain(cases_frame(case_rows), staff_frame(staff_rows), REF).tolist()


def test_explain_nothing_for_matched_applicants():
    assert _explain([case(主治医师="张三")], [applicant()]) == [""]


def test_explain_wrong_department():
    rows = [case(病案号=str(i), 出院科别="03.02", 主治医师="张三") for i in range(3)]
    rows.append(case(病案号="9", 出院科别="03.05", 住院医师="张三"))
    assert _explain(rows, [applicant()]) == [
        "姓名在本机构病案中出现 4 次，出院科别为 03.02、03.05；申报科室为 03.04（例：a.xlsx 第 2 行）"
    ]


def test_explain_outside_window_gives_nearest_date():
    rows = [
        case(
            病案号="1",
            入院时间="2019-06-01 08:00:00",
            出院时间="2019-06-30 10:00:00",
            主治医师="张三",
        ),
        case(病案号="2", 出院时间="2023-01-01 09:00:00", 主治医师="张三"),
    ]
    assert _explain(rows, [applicant()]) == [
        "姓名与申报科室 03.04 在病案中同时出现 2 次，但出院时间均不在评价周期 2020-01-01 至 "
        "2022-12-31 内，最近的出院时间为 2023-01-01（例：a.xlsx 第 3 行）"
    ]


def test_explain_similar_names_with_digit_suffix_and_one_edit():
    rows = [
        case(病案号="1", 主治医师="张三1"),
        case(病案号="2", 主治医师="张三1"),
        case(病案号="3", 住院医师="张山"),
        case(病案号="4", 主治医师="李四"),
    ]
    assert _explain(rows, [applicant()]) == [
        "姓名在本机构病案中未出现；申报科室 03.04 的病案中有相似姓名：张三1（2 次）、张山（1 次）"
        "（例：a.xlsx 第 2 行）"
    ]


def test_explain_applicant_with_digit_suffix_finds_plain_name():
    rows = [case(主治医师="张三")]
    assert _explain(rows, [applicant(姓名="张三2")]) == [
        "姓名在本机构病案中未出现；申报科室 03.04 的病案中有相似姓名：张三（1 次）（例：a.xlsx 第 2 行）"
    ]


def test_explain_empty_department():
    rows = [
        case(病案号="1", 出院科别="03.02", 主治医师="李四"),
        case(
            病案号="2",
            入院时间="2019-01-01 08:00:00",
            出院时间="2019-01-01 10:00:00",
            主治医师="李四",
        ),
    ]
    assert _explain(rows, [applicant()]) == [
        "申报科室 03.04 在评价周期 2020-01-01 至 2022-12-31 内没有参与计算的出院病案"
        "（该科室共有 1 条参与计算的病案）"
    ]


def test_explain_no_similar_name():
    assert _explain([case(主治医师="李四")], [applicant()]) == [
        "姓名在本机构病案中未出现，申报科室 03.04 评价周期内的 1 条病案中也没有相似姓名"
    ]


def test_explain_rows_left_out_of_computation_names_the_reasons():
    rows = [case(主治医师="张三", 出院主要诊断编码="BAD")]
    assert _explain(rows, [applicant()]) == [
        "姓名在申报科室 03.04 评价周期内的 1 条病案中出现，但这些病案因出院主要诊断编码为空或"
        "不在国临版2.0内（W03），未参与计算（例：a.xlsx 第 2 行）"
    ]
    rows = [
        # kept copy in another department; its later copy (W09) is the one in 03.04
        case(病案号="1", 出院科别="03.02"),
        case(病案号="1", 主治医师="张三"),
        case(病案号="2", 出院时间="2021-02-27 10:00:00", 主治医师="张三"),  # before 入院时间
    ]
    assert _explain(rows, [applicant()]) == [
        "姓名在申报科室 03.04 评价周期内的 2 条病案中出现，但这些病案因与先导入的病案重复（W09）、"
        "出院时间为空、无效或早于入院时间，未参与计算（例：a.xlsx 第 3 行）"
    ]


@pytest.mark.parametrize(
    ("kind", "values", "expected"),
    [
        (
            "1",
            {"主要手术操作编码": PROC, "主要手术操作术者": "张三"},
            "姓名在申报科室 03.04 评价周期内的病案中仅作为术者或Ⅰ助出现 1 次，"
            "未作为主（副主）任医师、主治医师或住院医师出现（例：a.xlsx 第 2 行）",
        ),
        (
            "2",
            {"质控护师": "张三"},
            "姓名在申报科室 03.04 评价周期内的病案中仅作为质控护师出现 1 次，"
            "未作为责任护士出现（例：a.xlsx 第 2 行）",
        ),
    ],
)
def test_explain_matched_but_main_count_zero(kind, values, expected):
    assert _explain([case(**values)], [applicant(人员类别=kind)]) == [expected]


def test_explain_invalid_keys():
    assert _explain([case(主治医师="张三")], [applicant(所在科室=None)]) == [
        "申报人员的组织机构代码、姓名、所在科室、人员类别或评价周期为空或有误，无法匹配病案"
    ]


@pytest.mark.parametrize("kind", [None, "9"])
def test_explain_an_applicant_without_a_valid_kind(kind):
    """人员类别 empty (NA) or invalid: the keys-invalid line, not a crash (issue 12.3)."""
    lines = _explain(
        [case(主治医师="张三")],
        [applicant(人员类别=kind), applicant(姓名="张山", 执业证书编码="C2")],
    )
    assert lines == [
        "申报人员的组织机构代码、姓名、所在科室、人员类别或评价周期为空或有误，无法匹配病案",
        "姓名在本机构病案中未出现；申报科室 03.04 的病案中有相似姓名：张三（1 次）"
        "（例：a.xlsx 第 2 行）",
    ]


def test_similar_names():
    candidates = {"张三1": 1, "张山": 5, "张三丰": 2, "李四": 9, "张三12": 1, "张": 1}
    assert matching.similar_names("张三", candidates) == ["张山", "张三丰", "张"]
    assert matching.similar_names("张三", {"张三12": 1}) == ["张三12"]


def test_applicants_sharing_a_key_are_each_credited_in_their_own_window():
    # before the check rules out E14-style duplicates, both rows must still be matched
    cases = cases_frame(
        [
            case(病案号="1", 主治医师="张三"),  # 2021-03-05
            case(
                病案号="2",
                入院时间="2023-06-01 08:00:00",
                出院时间="2023-06-02 08:00:00",
                主治医师="张三",
            ),
        ]
    )
    staff = staff_frame(
        [
            applicant(执业证书编码="C1"),
            applicant(
                执业证书编码="C9",
                现专业技术职务聘任时间="2023-01-01",
                提取工作量数据截止时间="2023-12-31",
            ),
        ]
    )
    pairs = matching.credited(cases, staff, REF)
    assert pairs[["staff_pos", "case_pos"]].values.tolist() == [[0, 0], [1, 1]]


def _brute_force_pairs(cases: pd.DataFrame, staff: pd.DataFrame) -> set[tuple[int, int, str, int]]:
    """metrics.md's S(a), M, P, A, N, Q written as plain loops (no joins), for comparison."""
    eligible = matching.eligible_cases(cases, REF).tolist()
    out = set()
    for s, a in enumerate(staff.to_dict("records")):
        for c, row in enumerate(cases.to_dict("records")):
            if not eligible[c] or row["组织机构代码"] != a["组织机构代码"]:
                continue
            if row["出院科别"] != a["所在科室"]:
                continue
            day = row["出院时间"][:10]
            if not (a["现专业技术职务聘任时间"] <= day <= a["提取工作量数据截止时间"]):
                continue
            roles = matching.PHYSICIAN_ROLES if a["人员类别"] == "1" else matching.NURSE_ROLES
            for role in roles:
                if row[role] == a["姓名"]:
                    out.add((s, c, role, -1))
            if a["人员类别"] != "1":
                continue
            for slot, (code, _level, surgeon, assistant) in enumerate(matching.SLOTS):
                if row[code] is None or row[code] not in REF.icd9:
                    continue
                if row[surgeon] == a["姓名"]:
                    out.add((s, c, "术者", slot))
                if row[assistant] == a["姓名"]:
                    out.add((s, c, "Ⅰ助", slot))
    return out


def random_institution(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """300 random case rows (W03/W09 rows, invalid codes, two orgs, catalogue codes,
    complications) and 30 applicants (some with a specialty catalogue)."""
    import random

    rng = random.Random(seed)
    names = ["张三", "李四", "王五", "赵六", "孙七", None]
    depts = ["03.04", "03.02", "04.01"]
    procs = [PROC, "00.0101", "36.0600", "88.5500", "99.BAD", None]
    diagnoses = [DX, "I21.000", "I50.000", "K35.000", "BAD"]
    others = [None, None, "T81.000", "T81.ZZZ", "I10.X00"]  # T81.ZZZ: not in 国临版2.0
    rows = []
    for _ in range(300):
        day = f"20{rng.randint(19, 23)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        values = {
            "病案号": str(rng.randint(1, 280)),  # some W09 copies
            "入院时间": f"{day} 00:00:00",
            "出院时间": f"{day} {rng.randint(0, 23):02d}:00:00",
            "出院科别": rng.choice(depts),
            "出院主要诊断编码": rng.choice(diagnoses),
            "组织机构代码": rng.choice(["ORG1", "ORG1", "ORG2"]),
            "实际住院（天）": rng.choice([None, "0", "3", "12"]),
            "住院总费用": rng.choice([None, "100.01", "100", "2500.5", "0.07"]),
            "离院方式": rng.choice(["1", "5"]),
        }
        for role in (*matching.PHYSICIAN_ROLES, *matching.NURSE_ROLES):
            values[role] = rng.choice(names)
        for k in (1, 2, 10):
            values[f"出院其他诊断编码{k}"] = rng.choice(others)
            values[f"出院其他诊断入院病情{k}"] = rng.choice([None, "1", "4"])
        for code, level, surgeon, assistant in matching.SLOTS:
            values[code] = rng.choice(procs)
            values[level] = rng.choice(["1", "2", "3", "4", None])
            values[surgeon] = rng.choice(names)
            values[assistant] = rng.choice(names)
        rows.append(case(**values))
    people = []
    for i in range(30):
        start = f"20{rng.randint(19, 22)}-{rng.randint(1, 12):02d}-01"
        people.append(
            applicant(
                姓名=rng.choice(names[:-1]),
                所在科室=rng.choice(depts),
                人员类别=rng.choice(["1", "2"]),
                申报专业=rng.choice(["心血管内科", "普通外科", "呼吸内科"]),
                组织机构代码=rng.choice(["ORG1", "ORG2"]),
                执业证书编码=f"C{i}",
                现专业技术职务聘任时间=start,
                提取工作量数据截止时间=f"{int(start[:4]) + 1}{start[4:]}",
            )
        )
    return cases_frame(rows), staff_frame(people)


@pytest.mark.parametrize("dense_limit", [matching.DENSE_JOIN_LIMIT, 0])
def test_credited_equals_brute_force_on_random_data(monkeypatch, dense_limit):
    monkeypatch.setattr(matching.pairing, "DENSE_JOIN_LIMIT", dense_limit)  # 0: binary-search join
    cases, staff = random_institution(7)
    pairs = matching.credited(cases, staff, REF)
    got = {
        (int(s), int(c), str(r), int(k))
        for s, c, r, k in pairs[["staff_pos", "case_pos", "role", "slot"]].values
    }
    expected = _brute_force_pairs(cases.astype(object).where(cases.notna(), None), staff)
    assert len(got) == len(pairs)  # no duplicate pairs
    assert got == expected
    assert len(expected) > 50  # the data exercise the join
    counts = matching.match_staff(cases, staff, REF, pairs)
    for s in range(len(staff)):
        mine = {p for p in expected if p[0] == s}
        physician_rows = {p[1] for p in mine if p[2] in matching.PHYSICIAN_ROLES}
        assert counts.loc[s, "M"] == len(physician_rows)
        assert counts.loc[s, "P"] == sum(p[2] == "术者" for p in mine)
        assert counts.loc[s, "N"] == sum(p[2] == "责任护士" for p in mine)
        assert counts.loc[s, "matched"] == bool(mine)


def test_explain_line_exactly_for_unmatched_or_zero_main_count_on_random_data():
    cases, staff = random_institution(5)
    counts = matching.match_staff(cases, staff, REF)
    lines = matching.explain(cases, staff, REF, counts)
    main = counts["N"].where(staff["人员类别"] == "2", counts["M"])
    need = ~counts["matched"] | (main == 0)
    assert (lines != "").tolist() == need.tolist()
    assert 3 < need.sum() < len(staff)


@pytest.mark.parametrize(
    ("kind", "values", "expected"),
    [
        (  # surgeon of an eligible procedure, but in another department
            "1",
            {"出院科别": "03.02", "主要手术操作编码": PROC, "主要手术操作术者": "张三"},
            "姓名在本机构病案中仅作为术者或Ⅰ助出现 1 次，出院科别为 03.02；申报科室为 03.04"
            "（例：a.xlsx 第 2 行）",
        ),
        (  # Ⅰ助 in the department and window, of a procedure whose code is not in 国临版3.0
            "1",
            {"其他手术操作编码2": "99.BAD", "其他手术操作Ⅰ助2": "张三"},
            "姓名在申报科室 03.04 评价周期内的 1 条病案中作为术者或Ⅰ助出现，但这些手术操作编码"
            "不在国临版3.0内（W04/W05），未计入（例：a.xlsx 第 2 行）",
        ),
        (  # 质控护师 in the department, after the window
            "2",
            {"出院时间": "2023-01-01 09:00:00", "质控护师": "张三"},
            "姓名与申报科室 03.04 在病案中同时出现 1 次（仅作为质控护师），但出院时间均不在评价周期 "
            "2020-01-01 至 2022-12-31 内，最近的出院时间为 2023-01-01（例：a.xlsx 第 2 行）",
        ),
    ],
)
def test_explain_when_the_name_occurs_only_in_the_secondary_role(kind, values, expected):
    assert _explain([case(**values)], [applicant(人员类别=kind)]) == [expected]
