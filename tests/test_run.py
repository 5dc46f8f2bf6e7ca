"""``cwdx run`` one shot: outputs and exit codes."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest
from frames_helper import write_rows_xlsx

from cwdx.demo import write_demo
from cwdx.errors import CwdxError
from cwdx.results import NAME_COLUMNS
from cwdx.rules import RULE_IDS
from cwdx.run import WORKSPACE_DIR, run_oneshot
from cwdx.workspace import Workspace


def _files(tmp_path, bad_org: bool = False):
    h2 = {"组织机构代码": "H002", "医疗机构名称": "乙医院"}
    write_rows_xlsx(tmp_path / "a.xlsx", "cases", [{}, {}])
    write_rows_xlsx(
        tmp_path / "b.xlsx", "cases", [h2, h2 | ({"入院时间": None} if bad_org else {})]
    )
    write_rows_xlsx(
        tmp_path / "s.xlsx",
        "staff",
        [{}, h2 | {"执业证书编码": "B2", "提取工作量数据截止时间": "2023-12-31"}],
    )
    return [tmp_path / "a.xlsx", tmp_path / "b.xlsx"], [tmp_path / "s.xlsx"]


def test_run_all_pass_computes_and_writes_everything(tmp_path):
    cases, staff = _files(tmp_path)
    lines: list[str] = []
    out = tmp_path / "out"
    code = run_oneshot(cases, staff, out, report=lines.append)
    assert code == 0
    assert lines[0] == "文件 a.xlsx：导入 2 行（H001 2 行）。"
    assert lines[3:5] == [
        "机构 H001（测试医院）：数据检测通过（错误 0，警告 0），已计算。",
        "机构 H002（乙医院）：数据检测通过（错误 0，警告 0），已计算。",
    ]
    assert lines[5:] == [
        "共 2 个机构：数据检测通过 2 个（已计算 2 个），未通过 0 个。",
        f"反馈表、计算结果表和 summary.json 已写入：{out.resolve()}",
    ]
    for name in ("病案首页反馈表.xlsx", "申报人员反馈表.xlsx", "计算结果表.xlsx"):
        assert (out / "H001" / name).is_file()
        assert (out / "H002" / name).is_file()
    assert (out / "精简版反馈信息表.xlsx").is_file()
    assert (out / "计算结果表.xlsx").is_file()
    assert (out / WORKSPACE_DIR / "cwdx.sqlite").is_file()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [(i["org"], i["passed"], i["computed"]) for i in summary["institutions"]] == [
        ("H001", True, True),
        ("H002", True, True),
    ]
    assert [(r["组织机构代码"], r["姓名"], r["匹配状态"]) for r in summary["results"]] == [
        ("H001", "张三", "已匹配"),
        ("H002", "张三", "已匹配"),
    ]
    # a second run into the same folder starts from a fresh workspace
    assert run_oneshot(cases, staff, out, report=lines.append) == 0


def test_run_with_a_failing_institution_exits_1(tmp_path):
    cases, staff = _files(tmp_path, bad_org=True)
    lines: list[str] = []
    out = tmp_path / "out"
    verdict: list[str] = []
    assert run_oneshot(cases, staff, out, report=lines.append, verdict=verdict.append) == 1
    assert not any(line.startswith("机构 ") for line in lines)  # the verdict went its own way
    assert verdict == [
        "机构 H001（测试医院）：数据检测通过（错误 0，警告 0），已计算。",
        "机构 H002（乙医院）：数据检测不通过（错误 1，警告 0）。",
        "共 2 个机构：数据检测通过 1 个（已计算 1 个），未通过 1 个。",
        f"反馈表、计算结果表和 summary.json 已写入：{out.resolve()}",
        "数据检测未通过的机构：H002；请查看各机构的反馈表。",
    ]
    assert (out / "H001" / "计算结果表.xlsx").is_file()
    assert not (out / "H002" / "计算结果表.xlsx").exists()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    h2 = summary["institutions"][1]
    assert (h2["passed"], h2["computed"], h2["counts"]["E16"]) == (False, False, 1)


def test_run_refuses_a_file_as_output_folder(tmp_path):
    cases, staff = _files(tmp_path)
    target = tmp_path / "out.txt"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(CwdxError, match="是一个文件，请用 --out 指定一个文件夹"):
        run_oneshot(cases, staff, target, report=lambda line: None)


def test_run_without_readable_staff_exits_2(tmp_path):
    cases, _ = _files(tmp_path)
    bogus = tmp_path / "人员.csv"
    bogus.write_text("姓名\n张三\n", encoding="utf-8")
    lines: list[str] = []
    out = tmp_path / "out"
    assert run_oneshot(cases, [bogus], out, report=lines.append) == 2
    assert lines[-1].startswith("没有可读取的申报人员信息文件")
    # a rejected file is reported as in ``cwdx import``: 未导入 and the reason
    assert lines[-2] == (
        "未导入：文件“人员.csv”不是 .xlsx 格式的 Excel 工作簿，系统只接受 .xlsx（或 .xlsm）文件，"
        "请在 Excel 中“另存为”Excel 工作簿（*.xlsx）。请在系统中下载相关表样，重新整理数据后上传。"
    )
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rejected = [i for i in summary["inputs"] if "rejected" in i]
    assert [(i["file"], i["rows"]) for i in rejected] == [("人员.csv", 0)]
    assert summary["institutions"][0]["checked"] is False


# ------------------------------------------------------------------ demo data end to end


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    manifest = write_demo(base / "data", institutions=3, cases=400, seed=11)
    cases = sorted((base / "data").glob("*/病案首页数据-*.xlsx"))
    staff = sorted((base / "data").glob("*/申报人员信息.xlsx"))
    out = base / "out"
    code = run_oneshot(cases, staff, out, report=lambda line: None)
    return manifest, out, code


def test_demo_counts_and_findings_equal_the_manifest(demo_run):
    manifest, out, code = demo_run
    assert code == 1  # the planted institutions fail, the clean one passes
    ws = Workspace(out / WORKSPACE_DIR, create=False)
    assert len(manifest.institutions) == 3
    for inst in manifest.institutions:
        record = ws.load_check(inst.org)
        assert record.counts == {rid: inst.expected_counts.get(rid, 0) for rid in RULE_IDS}
        assert record.passed is inst.passes
        assert record.failed_rules == []
        findings = record.findings
        got = sorted(
            zip(
                findings["rule_id"],
                findings["table"],
                findings["excel_file"],
                findings["excel_row"].astype(int),
                findings["column"],
                strict=True,
            )
        )
        expected = sorted(
            (f["rule"], f["table"], f["file"], f["row"], f["column"] or "") for f in inst.findings
        )
        assert got == expected, inst.org
    clean = manifest.institutions[-1]
    assert (
        clean.passes and sum(clean.expected_counts.get(r, 0) for r in RULE_IDS if r[0] == "E") == 0
    )
    stages = {i.org: i.stage for i in ws.institutions()}
    assert stages[clean.org] == "已计算"


def test_demo_accepted_forms_read_as_their_canonical_values(demo_run):
    """Cells written in accepted non-canonical forms (0304, 20200105, 张三 1 …) are stored as
    the manifest's ``reads_as`` value (an empty ``reads_as``: stored empty)."""
    manifest, out, _ = demo_run
    ws = Workspace(out / WORKSPACE_DIR, create=False)
    for table in ("cases", "staff"):
        frame = ws.load(table).set_index(["_org", "_file", "_row"])
        for inst in manifest.institutions:
            forms = [f for f in inst.accepted_forms if f["table"] == table]
            assert forms, (inst.org, table)
            for form in forms:
                value = frame.loc[(inst.org, form["file"], form["row"]), form["column"]]
                if form["reads_as"]:
                    assert value == form["reads_as"], form
                else:
                    assert value is None or value is pd.NA, form


def test_demo_feedback_marks_a_planted_error_cell(demo_run):
    manifest, out, _ = demo_run
    inst = manifest.institutions[0]
    planted = next(f for f in inst.findings if f["rule"] == "E16")
    book = openpyxl.load_workbook(out / inst.org / "病案首页反馈表.xlsx")
    assert book.sheetnames == ["检测结果汇总", "问题明细", "标注数据"]
    sheet = book["标注数据"]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["文件", "行号", "问题说明"]
    row = next(
        r
        for r in sheet.iter_rows(min_row=2)
        if (r[0].value, r[1].value) == (planted["file"], planted["row"])
    )
    cell = row[header.index(planted["column"])]
    assert cell.value is None
    assert cell.fill.fgColor.rgb.endswith("FFC7CE")
    assert f"E16：“{planted['column']}”为空，此字段必填，请补充填写" in row[2].value
    summary = {r[0]: r for r in book["检测结果汇总"].iter_rows(min_row=2, values_only=True)}
    assert (
        summary["E16"][2] == f"病案首页信息中，字段为空，共有{inst.expected_counts['E16']}个字段。"
    )


def test_demo_summary_json(demo_run):
    manifest, out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [i["org"] for i in summary["institutions"]] == [m.org for m in manifest.institutions]
    for item, inst in zip(summary["institutions"], manifest.institutions, strict=True):
        assert list(item["counts"]) == list(RULE_IDS)
        assert item["counts"] == {rid: inst.expected_counts.get(rid, 0) for rid in RULE_IDS}
        assert (item["cases"], item["staff"]) == (inst.case_rows, inst.staff_rows)
        assert item["computed"] is inst.passes
    assert len(summary["inputs"]) == 9
    clean = manifest.institutions[-1]
    assert {r["组织机构代码"] for r in summary["results"]} == {clean.org}
    assert len(summary["results"]) == clean.staff_rows
    # the schema of outputs.md: top-level keys, results keyed by the 指标汇总 column names
    assert list(summary) == ["cwdx_version", "metrics_version", "inputs", "institutions", "results"]
    assert summary["metrics_version"] == "cwdx-2026.1"
    assert all(set(i) == {"file", "table", "sha256", "rows"} for i in summary["inputs"])
    sheet = openpyxl.load_workbook(out / clean.org / "计算结果表.xlsx")["指标汇总"]
    header = [c.value for c in sheet[1]]
    # the sheet's columns without the names written next to the codes (docs/DECISIONS.md)
    keys = [c for c in header if c not in NAME_COLUMNS.values()]
    assert all(list(r) == keys for r in summary["results"])
    by_license = {r["执业证书编码"]: r for r in summary["results"]}
    for expected in clean.applicants:
        got = by_license[expected.license]
        assert (got["姓名"], got["所在科室"], got["匹配状态"], got["说明"]) == (
            expected.name,
            expected.department,
            "已匹配",
            None,
        )
        for column, value in expected.indicators.items():
            assert got[column] == value, (expected.name, column)
    brief = openpyxl.load_workbook(out / "精简版反馈信息表.xlsx").active
    rows = list(brief.iter_rows(min_row=2, values_only=True))
    assert [r[4] for r in rows] == ["不通过", "不通过", "通过"]


def test_run_reports_what_reading_rewrote_like_import(tmp_path):
    write_rows_xlsx(tmp_path / "a.xlsx", "cases", [{"出院科别": "0304"}, {}])
    write_rows_xlsx(tmp_path / "s.xlsx", "staff", [{"所在科室": "\u3000A03.04 "}])
    lines: list[str] = []
    run_oneshot([tmp_path / "a.xlsx"], [tmp_path / "s.xlsx"], tmp_path / "out", report=lines.append)
    assert lines[:4] == [
        "文件 a.xlsx：导入 2 行（H001 2 行）。",
        "  读取时按规范改写了1个单元格：出院科别1个（如 0304 → 03.04）。",
        "文件 s.xlsx：导入 1 行（H001 1 行）。",
        "  读取时按规范改写了1个单元格：所在科室1个（如 A03.04 → 03.04）。",
    ]


def test_run_decodes_the_files_through_the_clusters_mapper(tmp_path, monkeypatch):
    """``cwdx run`` hands the import's files to the same mapper as the later stages (Dask
    workers once the work is big enough), and the outcome is that of the serial run."""
    from cwdx.fanout import serial_map
    from cwdx.tasks import cluster

    called: list[str] = []

    def mapper(function, pieces):
        called.append(function.__name__)
        return serial_map(function, pieces)

    cases, staff = _files(tmp_path)
    serial_lines: list[str] = []
    assert run_oneshot(cases, staff, tmp_path / "serial", report=serial_lines.append) == 0
    monkeypatch.setattr(cluster.Cluster, "mapper", lambda self, rows: mapper)
    lines: list[str] = []
    assert run_oneshot(cases, staff, tmp_path / "mapped", report=lines.append) == 0
    assert called[:2] == ["decode_files", "decode_files"]  # the case files, then the staff file
    assert "check_piece" in called and "compute_piece" in called
    assert [line.replace("mapped", "serial") for line in lines] == serial_lines
    serial = json.loads((tmp_path / "serial" / "summary.json").read_text(encoding="utf-8"))
    mapped = json.loads((tmp_path / "mapped" / "summary.json").read_text(encoding="utf-8"))
    assert (mapped["results"], mapped["institutions"]) == (
        serial["results"],
        serial["institutions"],
    )
