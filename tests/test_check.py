"""The check engine on a real workspace: import → check → stages, storage, export, summary."""

from __future__ import annotations

import json

import openpyxl
import pytest
from frames_helper import write_rows_xlsx

from cwdx.check import FINDING_COLUMNS, check_workspace
from cwdx.errors import CwdxError
from cwdx.feedback import export_feedback
from cwdx.rules import RULE_IDS
from cwdx.workspace import STAGE_FAILED, Workspace


@pytest.fixture
def workspace(tmp_path):
    h1 = {"组织机构代码": "H001"}
    h2 = {"组织机构代码": "H002", "医疗机构名称": "乙医院", "主（副主）任医师": "李四"}
    write_rows_xlsx(
        tmp_path / "cases1.xlsx",
        "cases",
        [h1, h1 | {"病案号": None, "医疗机构名称": "=1+1"}, h1 | {"出院科别": "99"}],
    )
    write_rows_xlsx(tmp_path / "cases2.xlsx", "cases", [h2, h2 | {"主治医师": None}])
    write_rows_xlsx(
        tmp_path / "staff.xlsx",
        "staff",
        [
            {},
            {
                "组织机构代码": "H002",
                "医疗机构名称": "乙医院",
                "姓名": "李四",
                "执业证书编码": "B2",
            },
            {"组织机构代码": "H002", "医疗机构名称": "乙医院", "执业证书编码": "110000001"},
        ],
    )
    ws = Workspace(tmp_path / "ws")
    outcomes = ws.import_files("cases", [tmp_path / "cases1.xlsx", tmp_path / "cases2.xlsx"])
    outcomes += ws.import_files("staff", [tmp_path / "staff.xlsx"])
    assert all(o.ok for o in outcomes), [o.rejected for o in outcomes]
    return ws


def test_check_workspace_stores_results_and_freezes(workspace):
    progress = []
    results = check_workspace(workspace, on_progress=lambda d, t, label: progress.append((d, t)))
    assert list(results) == ["H001", "H002"]
    h1, h2 = results["H001"], results["H002"]
    assert {k: v for k, v in h1.counts.items() if v} == {"E12": 1, "E16": 1, "W07": 1}
    # 张三/110000001 with the same cut-off date in H001 and H002: E12 in each institution
    assert {k: v for k, v in h2.counts.items() if v} == {"E12": 1, "W01": 1, "W08": 1}
    assert not h1.passed and not h2.passed
    assert progress[0] == (0, 2) and progress[-1] == (2, 2)
    assert tuple(h1.findings.columns) == FINDING_COLUMNS
    e16 = h1.findings[h1.findings["rule_id"] == "E16"].iloc[0]
    assert (e16["excel_file"], int(e16["excel_row"]), e16["column"]) == ("cases1.xlsx", 3, "病案号")

    stages = {i.org: i.stage for i in workspace.institutions()}
    assert stages == {"H001": STAGE_FAILED, "H002": STAGE_FAILED}
    stored = workspace.load_check("H001")
    assert stored.counts["E16"] == 1 and len(stored.counts) == len(RULE_IDS)
    assert len(stored.findings) == len(h1.findings)

    with pytest.raises(CwdxError, match="解冻"):
        check_workspace(workspace, ["H001"])


def test_check_in_worker_processes_gives_the_same_results(workspace, tmp_path):
    results = check_workspace(workspace, workers=2)
    assert list(results) == ["H001", "H002"]
    assert {k: v for k, v in results["H001"].counts.items() if v} == {
        "E12": 1,
        "E16": 1,
        "W07": 1,
    }
    assert {k: v for k, v in results["H002"].counts.items() if v} == {"E12": 1, "W01": 1, "W08": 1}
    stored = workspace.load_check("H002")
    assert stored.counts == results["H002"].counts
    assert len(stored.findings) == 3


def test_check_one_institution_only(workspace):
    results = check_workspace(workspace, ["H002"])
    assert list(results) == ["H002"]
    stages = {i.org: i.stage for i in workspace.institutions()}
    assert stages["H001"] == "已上传"
    with pytest.raises(CwdxError):
        check_workspace(workspace, ["NOPE"])


def test_export_feedback_refuses_unknown_or_unchecked(workspace, tmp_path):
    with pytest.raises(CwdxError, match="还没有数据检测结果"):
        export_feedback(workspace, tmp_path / "out")
    with pytest.raises(CwdxError, match="工作区中没有机构 NOPE"):
        export_feedback(workspace, tmp_path / "out", ["NOPE"])
    assert not (tmp_path / "out").exists()


def test_export_feedback_and_summary(workspace, tmp_path):
    check_workspace(workspace, ["H001"])
    out = tmp_path / "out"
    written = export_feedback(workspace, out)
    names = [str(p.relative_to(out)) for p in written]
    assert names == [
        "H001/病案首页反馈表.xlsx",
        "H001/申报人员反馈表.xlsx",
        "精简版反馈信息表.xlsx",
        "summary.json",
    ]
    book = openpyxl.load_workbook(out / "H001" / "病案首页反馈表.xlsx")
    marked = book["标注数据"]
    header = [c.value for c in marked[1]]
    row = [c for c in marked[2]]
    assert row[1].value == 3
    name_cell = row[header.index("医疗机构名称")]
    assert name_cell.value == "=1+1" and name_cell.data_type == "s"
    assert row[header.index("病案号")].fill.fgColor.rgb.endswith("FFC7CE")

    brief = openpyxl.load_workbook(out / "精简版反馈信息表.xlsx").active
    rows = [list(r) for r in brief.iter_rows(values_only=True)]
    assert [r[:5] for r in rows[1:]] == [
        ["H001", "测试医院", 3, 1, "不通过"],
        ["H002", "乙医院", 2, 2, "未检测"],
    ]

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary) == {"cwdx_version", "metrics_version", "inputs", "institutions", "results"}
    assert summary["metrics_version"] == "cwdx-2026.1"
    assert [(i["file"], i["table"], i["rows"]) for i in summary["inputs"]] == [
        ("cases1.xlsx", "cases", 3),
        ("cases2.xlsx", "cases", 2),
        ("staff.xlsx", "staff", 3),
    ]
    assert all(len(i["sha256"]) == 64 for i in summary["inputs"])
    first, second = summary["institutions"]
    assert list(first["counts"]) == list(RULE_IDS)
    assert first | {"counts": None} == {
        "org": "H001",
        "name": "测试医院",
        "cases": 3,
        "staff": 1,
        "checked": True,
        "passed": False,
        "computed": False,
        "counts": None,
        "failed_rules": {},
    }
    assert first["counts"]["E16"] == 1
    assert second["checked"] is False and sum(second["counts"].values()) == 0
    assert summary["results"] == []


def test_a_crashed_rule_is_listed_in_summary_json(workspace, tmp_path, monkeypatch):
    import dataclasses

    from cwdx.rules import RULES

    def boom(ctx):
        raise ValueError("意外数据")

    monkeypatch.setitem(RULES, "W11", dataclasses.replace(RULES["W11"], func=boom))
    check_workspace(workspace)
    export_feedback(workspace, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert [(i["org"], i["passed"], i["failed_rules"]) for i in summary["institutions"]] == [
        ("H001", False, {"W11": "ValueError: 意外数据"}),
        ("H002", False, {"W11": "ValueError: 意外数据"}),
    ]


def test_an_applicant_without_kind_does_not_crash_w11_w12(tmp_path):
    """Issue 12.3: an empty 人员类别 crashed the explain step, so W11/W12 of the institution
    were lost and it failed with 本规则运行出错."""
    write_rows_xlsx(tmp_path / "cases.xlsx", "cases", [{}])
    write_rows_xlsx(
        tmp_path / "staff.xlsx",
        "staff",
        [
            {},
            {"姓名": "周七", "执业证书编码": "B2", "人员类别": None},
            {"姓名": "李明", "执业证书编码": "B3", "所在科室": "03.02"},
        ],
    )
    ws = Workspace(tmp_path / "ws")
    ws.import_files("cases", [tmp_path / "cases.xlsx"])
    ws.import_files("staff", [tmp_path / "staff.xlsx"])
    result = check_workspace(ws)["H001"]
    assert result.failed_rules == {}
    assert {k: v for k, v in result.counts.items() if v} == {"E01": 1, "W11": 1, "W12": 1}
    export_feedback(ws, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["institutions"][0]["failed_rules"] == {}
    staff_book = openpyxl.load_workbook(tmp_path / "out" / "H001" / "申报人员反馈表.xlsx")
    rules = {r[0]: r[2] for r in staff_book["检测结果汇总"].iter_rows(min_row=2, values_only=True)}
    assert "运行出错" not in rules["W11"] and rules["W12"].endswith("共有1人。")


def test_export_feedback_with_a_damaged_finding_file_says_so(workspace, tmp_path):
    check_workspace(workspace, ["H001"])
    (stored,) = (workspace.path / "checks").rglob("findings-*.parquet")
    stored.write_bytes(b"not parquet")
    with pytest.raises(CwdxError) as caught:
        export_feedback(workspace, tmp_path / "out")
    rel = stored.relative_to(workspace.path).as_posix()
    assert str(caught.value) == (
        f"工作区中的检测结果文件 {rel} 缺失或已损坏（可能被手工删除或改动）；"
        "请解冻并删除相关机构的数据后重新导入。"
    )
    assert not list((tmp_path / "out").rglob("*.xlsx"))


def test_summary_json_values():
    import numpy as np
    import pandas as pd

    from cwdx.summary import json_value, results_records

    assert json_value(np.int64(3)) == 3 and isinstance(json_value(np.int64(3)), int)
    assert json_value(float("nan")) is None
    assert json_value(pd.NA) is None
    assert json_value(pd.NaT) is None
    assert json_value(pd.Timestamp("2020-01-05")) == "2020-01-05"
    assert json_value(pd.Timestamp("2020-01-05 08:30")) == "2020-01-05 08:30:00"
    assert json_value(np.float64(12.5)) == 12.5
    assert json_value("=1+1") == "=1+1"
    frame = pd.DataFrame({"姓名": ["张三"], "出院患者人数": [0], "平均住院日": [np.nan]})
    assert results_records(frame) == [{"姓名": "张三", "出院患者人数": 0, "平均住院日": None}]
    assert results_records(None) == []
