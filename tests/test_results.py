"""compute_workspace (stages) and the 计算结果表 workbooks, read back with openpyxl."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from ws_helper import case_row, staff_row, write_book

import cwdx
from cwdx import metrics, results
from cwdx.check import check_workspace
from cwdx.demo import read_manifest
from cwdx.errors import CwdxError
from cwdx.workspace import STAGE_COMPUTED, STAGE_FAILED, STAGE_PASSED, Workspace

SURGERY = {
    "主要手术操作编码": "36.0600",
    "主要手术操作级别": "4",
    "主要手术操作术者": "张三",
    "主要手术操作Ⅰ助": "李四",
}

#: The sheets of a 计算结果表 computed with the case list, in workbook order.
SHEETS_WITH_CASE_LIST = ["指标汇总", "病种明细", "术种明细", "年度明细", "病例清单", "口径说明"]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """H001 passes (2 records, 3 applicants), H002 fails its check (empty 病案号)."""
    cases = write_book(
        tmp_path / "病案.xlsx",
        "cases",
        [
            case_row("H001", "B1", **{"实际住院（天）": "9"}),
            case_row("H001", "B2", **{"实际住院（天）": "4", "住院总费用": "100", **SURGERY}),
            case_row("H002", None),
        ],
    )
    staff = write_book(
        tmp_path / "人员.xlsx",
        "staff",
        [
            staff_row("H001", "张三", 医疗机构名称="=1+1"),
            staff_row("H001", "赵六", cert="C2", 人员类别="2", 申报专业="内科护理"),
            staff_row("H001", "周八", cert="C3"),
            staff_row("H002", "张三", cert="C4"),
        ],
    )
    ws = Workspace(tmp_path / "ws")
    ws.import_files("cases", [cases])
    ws.import_files("staff", [staff])
    check_workspace(ws)
    return ws


def _stage(ws: Workspace, org: str) -> str:
    return ws.institution(org).stage


def test_compute_refuses_failed_institution(workspace):
    with pytest.raises(CwdxError) as caught:
        metrics.compute_workspace(workspace, ["H001", "H002"])
    assert caught.value.exit_code == 1
    assert "机构 H002" in caught.value.message
    assert "数据检测未通过，不能计算" in caught.value.message
    assert _stage(workspace, "H001") == STAGE_PASSED  # nothing computed
    assert _stage(workspace, "H002") == STAGE_FAILED


def test_compute_all_passed_then_refuses_again(workspace):
    progress = []
    done = metrics.compute_workspace(workspace, on_progress=lambda *a: progress.append(a))
    assert list(done) == ["H001"]
    assert progress == [(0, 1, "计算 H001"), (1, 1, "计算完成")]
    assert _stage(workspace, "H001") == STAGE_COMPUTED
    stored = workspace.load_results("H001")
    assert list(stored) == ["指标汇总", "病种明细", "术种明细", "年度明细", "口径信息"]
    assert stored["指标汇总"]["出院患者人数"].tolist()[0] == 2
    with pytest.raises(CwdxError, match="已计算，数据已冻结"):
        metrics.compute_workspace(workspace, ["H001"])
    with pytest.raises(CwdxError, match="没有可以计算的机构"):
        metrics.compute_workspace(workspace)


def test_export_results_workbooks(workspace, tmp_path):
    metrics.compute_workspace(workspace)
    out = tmp_path / "out"
    written = results.export_results(workspace, out)
    assert [p.relative_to(out).as_posix() for p in written] == [
        "H001/计算结果表.xlsx",
        "计算结果表.xlsx",
        "summary.json",
    ]
    book = openpyxl.load_workbook(out / "H001" / "计算结果表.xlsx")
    assert book.sheetnames == ["指标汇总", "病种明细", "术种明细", "年度明细", "口径说明"]
    sheet = book["指标汇总"]
    header = [c.value for c in sheet[1]]
    # outputs.md's columns in their order, each coded one followed by its name
    assert [c for c in header if c not in results.NAME_COLUMNS.values()] == list(
        metrics.SUMMARY_COLUMNS
    )
    assert header[4:10] == [
        "所在科室",
        "所在科室名称",
        "人员类别",
        "人员类别名称",
        "申报专业",
        "拟申报级别",
    ]
    assert header[10] == "拟申报级别名称"
    rows = {r[2]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(2, values_only=True)}
    assert list(rows) == ["张三", "赵六", "周八"]
    zhang = rows["张三"]
    # 张三 is 主（副主）任医师 of both records (CASE_OK), surgeon of B2
    assert zhang["医疗机构名称"] == "=1+1"  # text stays text
    assert sheet["B2"].data_type == "s"
    assert (zhang["匹配状态"], zhang["说明"]) == ("已匹配", None)
    assert (zhang["所在科室"], zhang["所在科室名称"]) == ("03.04", "心血管内科专业")
    assert (zhang["人员类别"], zhang["人员类别名称"]) == ("1", "医师")
    assert (zhang["拟申报级别"], zhang["拟申报级别名称"]) == ("1", "正高级")
    assert (rows["赵六"]["人员类别"], rows["赵六"]["人员类别名称"]) == ("2", "护士")
    # dates are date cells
    hired = sheet.cell(2, header.index("现专业技术职务聘任时间") + 1)
    assert hired.is_date and hired.number_format == "yyyy-mm-dd"
    assert hired.value == datetime(2015, 1, 1)
    until = sheet.cell(2, header.index("提取工作量数据截止时间") + 1)
    assert until.is_date and until.value == datetime(2024, 12, 31)
    assert (zhang["出院患者人数"], zhang["平均住院日"], zhang["次均费用"]) == (2, 6.5, 6222.75)
    assert (zhang["手术例数"], zhang["四级手术占比(%)"], zhang["目录术种覆盖率(%)"]) == (1, 100, 20)
    assert zhang["责任护理出院患者人数"] is None
    avg = header.index("平均住院日") + 1
    assert sheet.cell(2, avg).number_format == "0.00"
    zhou = rows["周八"]
    assert zhou["匹配状态"] == "未匹配"
    assert zhou["出院患者人数"] == 0 and zhou["平均住院日"] is None
    assert zhou["目录病种数"] == 10 and zhou["目录病种覆盖率(%)"] == 0
    assert zhou["说明"].startswith("姓名在本机构病案中未出现")
    assert rows["赵六"]["责任护理出院患者人数"] == 2
    assert rows["赵六"]["出院患者人数"] is None

    procedures = list(book["术种明细"].iter_rows(values_only=True))
    assert procedures[0] == (
        *metrics.DETAIL_KEYS[:3],
        "所在科室",
        "所在科室名称",
        "人员类别",
        "人员类别名称",
        "术种",
        "术种名称",
        *metrics.PROCEDURE_COLUMNS[6:],
    )
    assert procedures[1][3:7] == ("03.04", "心血管内科专业", "1", "医师")
    assert procedures[1][7:] == ("36.06", "非-药物洗脱冠状动脉支架置入", 1, 0, 0, 0, 1, 0)
    diseases = list(book["病种明细"].iter_rows(values_only=True))
    assert diseases[0][7:] == ("疾病类目", "疾病类目名称", "病例数")
    assert diseases[1][7:] == ("I21", "急性心肌梗死", 2)

    explain = {(r[0], r[1]): r for r in book["口径说明"].iter_rows(2, values_only=True)}
    assert explain[("版本", "口径版本")][2] == cwdx.METRICS_VERSION
    assert explain[("版本", "软件版本")][2] == cwdx.__version__
    assert "仅为示例" in explain[("说明", "专科病种/术种目录")][2]
    assert explain[("指标", "死亡率(%)")][2] == "死亡人数 ÷ 出院患者人数 × 100"
    case_file = explain[("输入文件", "病案.xlsx")]
    expected_sha = hashlib.sha256((tmp_path / "病案.xlsx").read_bytes()).hexdigest()
    assert case_file[2:] == ("病案首页数据；机构 H001 的数据 2 行", 3, expected_sha)
    assert explain[("参考数据", "icd10_national_clinical_v2.csv")][3] == 35591
    assert ("计算时间", "H001") in explain

    top = openpyxl.load_workbook(out / "计算结果表.xlsx")
    assert top["指标汇总"].max_row == 4


def test_results_records_and_refusals(workspace, tmp_path):
    with pytest.raises(CwdxError, match="还没有已计算的机构"):
        results.export_results(workspace, tmp_path / "out")
    metrics.compute_workspace(workspace)
    records = results.results_records(workspace)
    assert [r["姓名"] for r in records] == ["张三", "赵六", "周八"]
    assert records[0]["说明"] is None and records[0]["出院患者人数"] == 2
    assert records[2]["平均住院日"] is None and records[2]["匹配状态"] == "未匹配"
    with pytest.raises(CwdxError, match="机构 H002（测试医院）处于「已检测-未通过」阶段"):
        results.export_results(workspace, tmp_path / "out", orgs=["H002"])


def test_case_list_sheet_when_computed_with_it(workspace, tmp_path):
    metrics.compute_workspace(workspace, ["H001"], case_list=True)
    results.export_results(workspace, tmp_path / "out", orgs=["H001"])
    book = openpyxl.load_workbook(tmp_path / "out" / "H001" / "计算结果表.xlsx")
    assert book.sheetnames == SHEETS_WITH_CASE_LIST
    rows = list(book["病例清单"].iter_rows(values_only=True))
    assert rows[0] == tuple(results.sheet_columns(metrics.CASE_LIST))
    # 张三: B1 as 主（副主）任医师, B2 also as 术者; 赵六: both as 责任护士
    assert [(r[1], r[7], r[10], r[12]) for r in rows[1:]] == [
        ("张三", "B1", "主（副主）任医师", 2),
        ("张三", "B2", "主（副主）任医师、术者（主要手术操作）", 3),
        ("赵六", "B1", "责任护士", 2),
        ("赵六", "B2", "责任护士", 3),
    ]


# ------------------------------------------------------------------ from the command line


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from cwdx.cli import main

    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _sheet(path: Path, name: str) -> list[dict[str, object]]:
    rows = list(openpyxl.load_workbook(path)[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_cli_compute_case_list_export_and_exit_codes(capsys, tmp_path):
    cases = write_book(
        tmp_path / "病案.xlsx",
        "cases",
        [
            case_row("H001", "B1", **{"实际住院（天）": "9"}),
            case_row("H001", "B2", **{"实际住院（天）": "4", **SURGERY}),
            case_row("H002", None),  # E16: H002 fails its check
        ],
    )
    staff = write_book(
        tmp_path / "人员.xlsx",
        "staff",
        [staff_row("H001", "张三"), staff_row("H001", "周八", cert="C3")],
    )
    ws, out = str(tmp_path / "ws"), tmp_path / "结果"
    assert _cli(capsys, "-w", ws, "import", "cases", str(cases))[0] == 0
    assert _cli(capsys, "-w", ws, "import", "staff", str(staff))[0] == 0
    assert _cli(capsys, "-w", ws, "check")[0] == 1
    assert _cli(capsys, "-w", ws, "export", "results", str(out)) == (
        2,
        "",
        "工作区中还没有已计算的机构，没有计算结果可导出；请先执行指标计算。\n",
    )
    code, _, err = _cli(capsys, "-w", ws, "compute", "--org", "H002")
    assert code == 1
    assert err.startswith("机构 H002（测试医院）数据检测未通过，不能计算；请按反馈表修改数据")
    assert _cli(capsys, "-w", ws, "compute", "--case-list") == (
        1,
        "机构 H002（测试医院）：数据检测未通过，不能计算。\n"
        "机构 H001（测试医院）：指标计算完成（申报人员 2 人，已匹配 1 人，未匹配 1 人）。\n",
        "",
    )
    workspace = Workspace(tmp_path / "ws", create=False)
    assert _stage(workspace, "H001") == STAGE_COMPUTED
    code, _, err = _cli(capsys, "-w", ws, "compute", "--org", "H001")
    assert code == 2 and err.startswith("机构 H001（测试医院）已计算，数据已冻结；")
    assert _cli(capsys, "-w", ws, "export", "results", str(out), "--org", "H002") == (
        2,
        "",
        "机构 H002（测试医院）处于「已检测-未通过」阶段，没有计算结果可导出；"
        "只有通过数据检测并完成指标计算的机构才有计算结果。\n",
    )
    assert list(out.glob("**/*")) == []  # nothing written
    assert _cli(capsys, "-w", ws, "export", "results", str(out)) == (
        0,
        f"已写入计算结果表和 summary.json：{out.resolve()}\n",
        "",
    )
    workbook = out / "H001" / "计算结果表.xlsx"
    assert openpyxl.load_workbook(workbook).sheetnames == SHEETS_WITH_CASE_LIST
    # both records: I21.000, discharged 2020-01-10; B2 holds a 四级 36.0600 by 张三
    assert [tuple(r.values())[1:] for r in _sheet(workbook, "病种明细")] == [
        ("张三", "110000001", "03.04", "心血管内科专业", "1", "医师", "I21", "急性心肌梗死", 2)
    ]
    assert [tuple(r.values())[7:] for r in _sheet(workbook, "术种明细")] == [
        ("36.06", "非-药物洗脱冠状动脉支架置入", 1, 0, 0, 0, 1, 0)
    ]
    assert [tuple(r.values())[1:] for r in _sheet(workbook, "年度明细")] == [
        ("张三", "110000001", "03.04", "心血管内科专业", "1", "医师", 2020, 2, 1, None)
    ]
    listing = [
        (r["姓名"], r["病案号"], r["住院次数"], r["出院时间"], r["角色"], r["文件"], r["行号"])
        for r in _sheet(workbook, "病例清单")
    ]
    assert listing == [
        ("张三", "B1", 1, datetime(2020, 1, 10, 8), "主（副主）任医师", "病案.xlsx", 2),
        (
            "张三",
            "B2",
            1,
            datetime(2020, 1, 10, 8),  # a date cell
            "主（副主）任医师、术者（主要手术操作）",
            "病案.xlsx",
            3,
        ),
    ]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [(r["姓名"], r["出院患者人数"], r["平均住院日"]) for r in summary["results"]] == [
        ("张三", 2, 6.5),  # (9 + 4) / 2
        ("周八", 0, None),
    ]
    assert [(i["org"], i["computed"]) for i in summary["institutions"]] == [
        ("H001", True),
        ("H002", False),
    ]


def test_cli_run_case_list_and_the_same_explain_line_everywhere(capsys, tmp_path):
    """张三 is declared in 03.02 but his records say 03.04: W12 (a warning, so the institution
    passes and is computed) with the same explain line in the results workbook, the
    申报人员反馈表 and summary.json."""
    cases = write_book(
        tmp_path / "病案.xlsx",
        "cases",
        [
            case_row("H001", "B1"),
            case_row("H001", "B2", 出院科别="03.02", **{"主（副主）任医师": "李四"}),
        ],
    )
    staff = write_book(
        tmp_path / "人员.xlsx",
        "staff",
        [
            staff_row("H001", "张三", 所在科室="03.02"),
            staff_row("H001", "李四", cert="C2", 所在科室="03.02"),
        ],
    )
    out = tmp_path / "输出"
    code, _, err = _cli(
        capsys,
        "run",
        "--cases",
        str(cases),
        "--staff",
        str(staff),
        "--out",
        str(out),
        "--case-list",
    )
    assert code == 0, err
    line = (
        "姓名在本机构病案中出现 1 次，出院科别为 03.04；申报科室为 03.02（例：病案.xlsx 第 2 行）"
    )
    results = {r["姓名"]: r for r in _sheet(out / "H001" / "计算结果表.xlsx", "指标汇总")}
    assert (results["张三"]["匹配状态"], results["张三"]["说明"]) == ("未匹配", line)
    assert (results["李四"]["匹配状态"], results["李四"]["出院患者人数"]) == ("已匹配", 1)
    assert [(r["姓名"], r["病案号"]) for r in _sheet(out / "计算结果表.xlsx", "病例清单")] == [
        ("李四", "B2")
    ]
    feedback = out / "H001" / "申报人员反馈表.xlsx"
    detail = [(r["行号"], r["规则编号"], r["说明"]) for r in _sheet(feedback, "问题明细")]
    assert detail == [(2, "W12", line)]
    marked = _sheet(feedback, "标注数据")
    assert [(r["行号"], r["问题说明"]) for r in marked] == [(2, f"W12：{line}")]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [r["说明"] for r in summary["results"]] == [line, None]


def test_cli_run_demo_indicators_from_the_written_workbook(capsys, tmp_path):
    """``cwdx demo`` then ``cwdx run``: the indicators the demo manifest states, read back from
    计算结果表.xlsx (per institution and all together) and from summary.json."""
    data, out = tmp_path / "演示", tmp_path / "输出"
    assert _cli(capsys, "demo", str(data), "--institutions", "1", "--cases", "150")[0] == 0
    manifest = read_manifest(data / "demo_manifest.json")
    (inst,) = manifest.institutions
    code, _, err = _cli(
        capsys,
        "run",
        "--cases",
        *[str(data / f) for f in inst.case_files],
        "--staff",
        str(data / inst.staff_file),
        "--out",
        str(out),
    )
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    sources = {
        "per institution": _sheet(out / inst.org / "计算结果表.xlsx", "指标汇总"),
        "all": _sheet(out / "计算结果表.xlsx", "指标汇总"),
        "summary.json": summary["results"],
    }
    assert len(inst.applicants) == 3
    for source, rows in sources.items():
        by_license = {r["执业证书编码"]: r for r in rows}
        assert len(by_license) == inst.staff_rows, source
        for expected in inst.applicants:
            got = by_license[expected.license]
            assert (got["姓名"], got["匹配状态"], got["说明"]) == (expected.name, "已匹配", None)
            assert {k: got[k] for k in expected.indicators} == expected.indicators, (
                source,
                expected.name,
            )
            other = (
                metrics.NURSE_INDICATORS if expected.kind == "1" else metrics.PHYSICIAN_INDICATORS
            )
            assert {got[k] for k in other} == {None}, (source, expected.name)
