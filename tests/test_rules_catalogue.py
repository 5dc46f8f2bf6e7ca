"""The rule catalogue as declared: pinned to checks.md, declared once per rule (adding a rule is
one decorated function), and built lazily (importing the rules loads no reference data)."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from frames_helper import cases, staff

from cwdx.check import check_frames, summary_rows
from cwdx.columns import CASE_NO
from cwdx.feedback import write_table_feedback
from cwdx.reference import load_reference
from cwdx.rules import RULE_IDS, RULES, CheckContext, Hits, registered, rule, unregister

TODAY = date(2025, 6, 1)
RULES_DIR = Path(__file__).resolve().parents[1] / "cwdx" / "rules"

#: checks.md's rule tables, copied verbatim: (id, severity, table, unit, summary message).
#: The unit follows checks.md's counting conventions (字段 cells, 条记录 rows, 人 applicants;
#: E04 and W10 count cells).
CHECKS_MD = (
    ("E01", "error", "staff", "cell", "《申报人员信息自然表》中，字段为空，共有**个字段。"),
    ("E02", "error", "staff", "cell", "《申报人员信息自然表》中，字段格式存在错误，共有**个字段。"),
    (
        "E03",
        "error",
        "staff",
        "cell",
        "《申报人员信息自然表》中的申报人员的“申报专业”，不在规定取值范围内（参见《申报人员信息自然表-申报专业列表》），共有**个字段。",
    ),
    (
        "E04",
        "error",
        "staff",
        "cell",
        "《申报人员信息自然表》中的申报人员的“申报专业”，与申报人员类型不匹配（参见《申报人员信息自然表-申报专业列表》），共有**个字段。",
    ),
    (
        "E05",
        "error",
        "staff",
        "cell",
        "《申报人员信息自然表》中的申报人员的“所在科室”，不在规定取值范围内（参见《病案首页数据表样-RC023》），共有**个字段。",
    ),
    (
        "E06",
        "error",
        "staff",
        "cell",
        "《申报人员信息自然表》中的申报人员的“性别”，不在规定取值范围内（参见《申报人员信息自然表-性别》），共有**个字段。",
    ),
    (
        "E07",
        "error",
        "staff",
        "cell",
        "《申报人员信息自然表》中的申报人员的“拟申报级别”，不在规定取值范围内（参见《申报人员信息自然表-拟申报级别》），共有**个字段。",
    ),
    (
        "E08",
        "error",
        "staff",
        "cell",
        "《申报人员信息自然表》中的“人员类别”，不在规定取值范围内（参见《申报人员信息自然表-人员类别》），共有**个字段。",
    ),
    (
        "E09",
        "error",
        "staff",
        "row",
        "《申报人员信息自然表》中，“现专业技术职务聘任时间”早于18岁，共有**条记录。",
    ),
    (
        "E10",
        "error",
        "staff",
        "row",
        "《申报人员信息自然表》中提取工作量数据截止时间早于现专业技术职务聘任时间，共有**条记录。",
    ),
    (
        "E11",
        "error",
        "staff",
        "row",
        "《申报人员信息自然表》中，组织机构代码、姓名、执业证书编码、科室完全一致的共有**条记录，疑似重复。",
    ),
    (
        "E12",
        "error",
        "staff",
        "row",
        "《申报人员信息自然表》中，存在姓名、执业证书编码、提取工作量数据截止时间均一致的**条记录，请对跨科室、跨机构人员的提取工作量数据截止时间字段加以区分。",
    ),
    (
        "E13",
        "error",
        "staff",
        "row",
        "《申报人员信息自然表》中，存在同一执业证书编码，对应多个不同姓名的**条记录，请对执业证书编码的唯一性进行确认。",
    ),
    (
        "E14",
        "error",
        "staff",
        "person",
        "《申报人员信息自然表》中对于同医院同科室同名人员，需要在病案信息中予以区分，共有**人。如不处理，所有重名人员都将不参与计算。",
    ),
    (
        "W10",
        "warning",
        "staff",
        "cell",
        '《申报人员信息自然表》中的申报人员的"学历"，不在规定取值范围内（参见《申报人员信息自然表 - 学历》），共有**条记录。',
    ),
    (
        "W11",
        "warning",
        "staff",
        "person",
        "《申报人员信息自然表》中的申报人员所属科室，在病案首页信息中未找到，共有*人。",
    ),
    (
        "W12",
        "warning",
        "staff",
        "person",
        "《申报人员信息自然表》中的申报人员组织机构代码+姓名+科室+评价周期，在病案首页信息中未匹配到，共有*人。",
    ),
    ("E15", "error", "cases", "cell", "病案首页信息中，字段格式存在错误，共有**个字段。"),
    ("E16", "error", "cases", "cell", "病案首页信息中，字段为空，共有**个字段。"),
    ("W01", "warning", "cases", "row", "病案首页信息中，共有**条记录无医师姓名，无法匹配。"),
    ("W02", "warning", "cases", "row", "病案首页信息中，共有**条记录无护士姓名，无法匹配。"),
    (
        "W03",
        "warning",
        "cases",
        "row",
        "病案首页信息中，出院主要诊断编码不符合要求（请参考《疾病分类与代码国家临床版2.0》），共有**条记录，占**%。",
    ),
    (
        "W04",
        "warning",
        "cases",
        "row",
        '病案首页信息中，"其他手术操作编码"不符合要求（请参考《手术操作分类代码国家临床版3.0》），共有**个记录。',
    ),
    (
        "W05",
        "warning",
        "cases",
        "row",
        "病案首页信息中，主要手术操作编码不符合要求（请参考《手术操作分类代码国家临床版3.0》），共有**条记录，占**%。",
    ),
    (
        "W06",
        "warning",
        "cases",
        "row",
        "病案首页信息中，存在手术记录，但术者为空，共有**条记录，占**%。",
    ),
    (
        "W07",
        "warning",
        "cases",
        "row",
        "病案首页信息中，“出院科别”不在规定取值范围（参见《病案首页数据表样-RC023》），共有**条记录，占**%。",
    ),
    ("W08", "warning", "cases", "cell", "病案首页信息中，重要计算字段为空，共有**个字段。"),
    (
        "W09",
        "warning",
        "cases",
        "row",
        "病案首页信息中，组织机构代码、病案号、入院时间、出院主要诊断编码完全一致，共有**条记录，系统判定为重复记录并已移除。",
    ),
    (
        "X01",
        "warning",
        "cases",
        "row",
        "病案首页信息中，出院其他诊断编码不符合要求（请参考《疾病分类与代码国家临床版2.0》），共有**条记录。",
    ),
)


def test_catalogue_is_the_one_of_checks_md():
    """Every id, severity, table, unit and exact message equals checks.md; catalogue order is
    E01..E16, W01..W12, X01."""
    assert len(CHECKS_MD) == 29
    in_order = (
        *(f"E{i:02d}" for i in range(1, 17)),
        *(f"W{i:02d}" for i in range(1, 13)),
        "X01",
    )
    assert sorted(row[0] for row in CHECKS_MD) == sorted(in_order)
    assert tuple(RULE_IDS) == in_order
    assert in_order == RULE_IDS  # compares like the tuple it was
    for rid, severity, table, unit, message in CHECKS_MD:
        entry = RULES[rid]
        assert (entry.id, entry.severity, entry.table, entry.unit, entry.message) == (
            rid,
            severity,
            table,
            unit,
            message,
        )
        assert entry.advice and entry.columns
    assert [r.id for r in RULES.values() if r.scope == "workspace"] == ["E12", "E13"]
    assert [r.id for r in RULES.values() if r.after_errors] == ["W12"]
    assert RULES["E06"].advice == "“性别”必须填写规定的数字代码（1=男，2=女），不能填写文字。"


def test_importing_the_rules_loads_no_reference_and_no_output_module():
    code = (
        "import sys\n"
        "import cwdx.rules, cwdx.check\n"
        "from cwdx.reference import load_reference\n"
        "from cwdx.rules import RULE_IDS\n"
        "assert load_reference.cache_info().currsize == 0, 'reference loaded at import'\n"
        "ids = list(RULE_IDS)\n"
        "assert load_reference.cache_info().currsize == 0, 'reference loaded by RULE_IDS'\n"
        "outputs = [m for m in sys.modules if m.split('.')[-1] in"
        " ('feedback', 'results', 'summary', 'widgets') or m.startswith('cwdx_widgets')]\n"
        "assert not outputs, outputs\n"
        "print(len(ids))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(RULE_IDS))


def test_rules_package_never_imports_outputs():
    """Not even lazily inside a function: the rules know nothing of what is written."""
    banned = {"cwdx.feedback", "cwdx.results", "cwdx.summary", "cwdx.reports", "widgets"}
    for path in RULES_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not any(name == b or name.startswith(b + ".") for b in banned), (
                    f"{path.name} imports {name}"
                )


@pytest.fixture
def test_prefix_rule():
    """A throw-away rule W99, declared like every rule (one decorated function), removed after
    the test so no other test sees it."""

    @rule(
        "W99",
        severity="warning",
        table="cases",
        unit="row",
        columns=(CASE_NO,),
        message="病案首页信息中，病案号以TEST开头，共有**条记录，占**%。",
        advice="测试用的病案号请删除后重新导入。",
    )
    def case_no_is_a_test(ctx: CheckContext) -> list[Hits]:
        numbers = ctx.cases.text(CASE_NO)
        mask = numbers.str.startswith("TEST").fillna(False).astype(bool)
        return [Hits("cases", mask, CASE_NO, "病案号以TEST开头，请改为正式病案号")]

    yield RULES["W99"]
    unregister("W99")


def test_adding_a_rule_is_one_decorated_function(test_prefix_rule, tmp_path):
    before = len(CHECKS_MD)  # checks.md's rules, without the throw-away one
    assert len(RULE_IDS) == before + 1
    assert list(RULE_IDS)[-2:] == ["W99", "X01"]  # catalogue order: E.., W.., X01
    case_frame = cases({}, {"病案号": "TEST01"}, {"病案号": "TEST02"}, {})
    result = check_frames(case_frame, staff({}), None, load_reference(), TODAY)

    # counted: a warning, so the institution still passes
    assert result.counts["W99"] == 2 and result.warnings == 2 and result.passed
    found = result.findings[result.findings["rule_id"] == "W99"]
    assert sorted(found["excel_row"].astype(int)) == [3, 4]
    assert set(found["column"]) == {"病案号"}

    # reported: its summary line with count and percentage, after W12 and before X01
    rows = summary_rows(result, "cases")
    ids = [row["规则编号"] for row in rows]
    assert ids.index("W99") == ids.index("X01") - 1
    line = rows[ids.index("W99")]
    assert line["级别"] == "警告"
    assert line["说明"] == "病案首页信息中，病案号以TEST开头，共有2条记录，占50.00%。"
    assert line["处理建议"] == "测试用的病案号请删除后重新导入。"

    # written to the feedback workbook: summary line and both detail rows
    path = write_table_feedback(tmp_path / "病案首页反馈表.xlsx", "cases", result, case_frame)
    book = openpyxl.load_workbook(path)
    summary = [list(r) for r in book["检测结果汇总"].iter_rows(values_only=True)]
    assert ["W99", "警告", line["说明"], line["处理建议"], 2] in summary
    detail = [list(r) for r in book["问题明细"].iter_rows(values_only=True)]
    w99 = [r for r in detail if r[4] == "W99"]
    assert [(r[1], r[2], r[3], r[6]) for r in w99] == [
        (3, "病案号", "TEST01", "病案号以TEST开头，请改为正式病案号"),
        (4, "病案号", "TEST02", "病案号以TEST开头，请改为正式病案号"),
    ]


def test_a_registered_rule_is_gone_after_its_block():
    count = len(RULE_IDS)

    def never(ctx: CheckContext) -> list[Hits]:
        return [Hits("staff", pd.Series(False, index=ctx.staff.df.index), "姓名", "")]

    with registered(
        "W98",
        never,
        severity="warning",
        table="staff",
        unit="cell",
        columns=("姓名",),
        message="测试规则，共有**个字段。",
        advice="无",
    ) as entry:
        assert entry.id == "W98" and len(RULE_IDS) == count + 1 and "W98" in RULES
    assert len(RULE_IDS) == count and "W98" not in RULES and "W98" not in RULE_IDS
    result = check_frames(cases({}), staff({}), None, load_reference(), TODAY)
    assert list(result.counts) == list(RULE_IDS)


def test_a_rule_id_is_declared_once():
    with pytest.raises(ValueError, match="E05"):
        rule(
            "E05",
            severity="error",
            table="staff",
            unit="cell",
            columns=("所在科室",),
            message="重复声明",
            advice="无",
        )(lambda ctx: [])
    assert RULES["E05"].message.startswith("《申报人员信息自然表》中的申报人员的“所在科室”")
