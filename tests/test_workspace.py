"""Workspace rules: append, same-file guard, attribution, deletes, freezing, tasks, locking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from ws_helper import case_book, staff_book, staff_row, write_book

from cwdx.errors import CwdxError, ErrorKind, Hint
from cwdx.log import get_logger
from cwdx.reference import UNKNOWN_ORG
from cwdx.workspace import (
    STAGE_COMPUTED,
    STAGE_FAILED,
    STAGE_PASSED,
    STAGE_UPLOADED,
    Workspace,
)
from cwdx.workspace.lock import LOCK_NAME


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


def _files(ws: Workspace) -> set[str]:
    """Every file under data/, checks/ and results/ (relative paths)."""
    out = set()
    for top in ("data", "checks", "results"):
        for path in (ws.path / top).rglob("*"):
            if path.is_file():
                out.add(path.relative_to(ws.path).as_posix())
    return out


def _summary(ws: Workspace) -> list[tuple[str, str, bool, int, int]]:
    return [(i.org, i.stage, i.frozen, i.cases, i.staff) for i in ws.institutions()]


def _findings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "institution": ["H001"],
            "table": ["staff"],
            "rule_id": ["W01"],
            "severity": ["warning"],
            "excel_file": ["a.xlsx"],
            "excel_row": [3],
            "column": [""],
            "value": [None],
            "message": ["示例"],
        }
    )


def test_new_folder_is_created_and_refuses_foreign_folders(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "new" / "ws")
    assert (ws.path / "cwdx.sqlite").is_file()
    assert {p.name for p in ws.path.iterdir()} >= {"data", "checks", "results", "logs", "inbox"}
    with pytest.raises(CwdxError) as err:
        Workspace(tmp_path / "missing", create=False)
    assert err.value.message == (
        f"工作区 {tmp_path / 'missing'} 不存在或不是 cwdx 工作区，请检查 -w 指定的文件夹，"
        "或先用 import 导入数据以创建工作区。"
    )
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(CwdxError) as err:
        Workspace(foreign)
    assert err.value.message == (
        f"文件夹 {foreign} 不是空文件夹，也不是 cwdx 工作区；请指定一个新的或空的文件夹作为工作区。"
    )


def test_import_appends_and_keeps_import_order(ws: Workspace, tmp_path: Path) -> None:
    first = staff_book(tmp_path / "a.xlsx", "H001", "H002", "h001")
    second = staff_book(tmp_path / "b.xlsx", "H002")
    third = staff_book(tmp_path / "c.xlsx", "H001", "H003")
    [out_a] = ws.import_files("staff", [first])
    assert (out_a.ok, out_a.rows, out_a.org_rows) == (True, 3, {"H001": 2, "H002": 1})
    assert out_a.describe() == "文件 a.xlsx：导入 3 行（H001 2 行、H002 1 行）。"
    # several files in one call: imported in the order named (c before b)
    outs = ws.import_files("staff", [third, second])
    assert [o.file for o in outs] == ["c.xlsx", "b.xlsx"]
    assert [o.import_id for o in outs] == [out_a.import_id + 1, out_a.import_id + 2]

    frame = ws.load("staff")
    assert list(zip(frame["_file"], frame["_row"], frame["_org"], strict=True)) == [
        ("a.xlsx", 2, "H001"),
        ("a.xlsx", 3, "H002"),
        ("a.xlsx", 4, "H001"),
        ("c.xlsx", 2, "H001"),
        ("c.xlsx", 3, "H003"),
        ("b.xlsx", 2, "H002"),
    ]
    assert frame["_import"].tolist() == [1, 1, 1, 2, 2, 3]
    assert list(frame.columns[-4:]) == ["_file", "_row", "_import", "_org"]
    assert frame["执业证书编码"].tolist()[:3] == ["C000001", "C000002", "C000003"]
    assert ws.load("staff", ["H002"])["_file"].tolist() == ["a.xlsx", "b.xlsx"]
    head = ws.head("staff", 4)
    assert list(zip(head["_file"], head["_row"], strict=True)) == [
        ("a.xlsx", 2),
        ("a.xlsx", 3),
        ("a.xlsx", 4),
        ("c.xlsx", 2),
    ]
    assert list(head.columns) == list(frame.columns)
    assert _summary(ws) == [
        ("H001", STAGE_UPLOADED, False, 0, 3),
        ("H002", STAGE_UPLOADED, False, 0, 2),
        ("H003", STAGE_UPLOADED, False, 0, 1),
    ]
    assert ws.institution("H001").name == "测试医院"
    empty = ws.load("cases")
    assert len(empty) == 0 and "病案号" in empty.columns and "_org" in empty.columns


def test_same_file_is_refused_unless_forced(ws: Workspace, tmp_path: Path) -> None:
    book = staff_book(tmp_path / "a.xlsx", "H001", "H001")
    ws.import_files("staff", [book])
    first_time = ws.imported_files()[0].time
    copy = tmp_path / "副本.xlsx"
    copy.write_bytes(book.read_bytes())
    [again] = ws.import_files("staff", [copy])
    assert again.rejected == (
        f"文件“副本.xlsx”与 {first_time} 已导入的文件“a.xlsx”内容完全相同，为避免重复数据未再次导入；"
        "如确需重复导入，请确认后强制导入。"
    )
    assert (again.rejected_kind, again.duplicate_of) == ("duplicate", ("a.xlsx", first_time))
    assert again.hint == Hint(action="force_import")
    assert ws.institution("H001").staff == 2
    # the same content is fine in the other table's guard (it is rejected by the reader there)
    [forced] = ws.import_files("staff", [copy], force=True)
    assert (forced.ok, forced.rows, forced.forced) == (True, 2, True)
    assert ws.institution("H001").staff == 4
    records = ws.imported_files()
    assert [(r.file, r.rows, r.rejected is None, r.forced) for r in records] == [
        ("a.xlsx", 2, True, False),
        ("副本.xlsx", 0, False, False),
        ("副本.xlsx", 2, True, True),
    ]
    # after deleting the data, the same file imports again without force
    ws.delete("staff", everything=True)
    assert ws.imported_files() == []
    [fresh] = ws.import_files("staff", [book])
    assert fresh.ok and fresh.rows == 2


def test_rows_are_attributed_to_institutions(ws: Workspace, tmp_path: Path) -> None:
    mixed = staff_book(tmp_path / "mixed.xlsx", "H009", None, "H008", "H009", "bad code!")
    [out] = ws.import_files("staff", [mixed])
    assert out.org_rows == {"H009": 4, "H008": 1}
    nobody = case_book(tmp_path / "nobody.xlsx", None, "??", None)
    [out] = ws.import_files("cases", [nobody])
    assert out.org_rows == {UNKNOWN_ORG: 3}
    assert _summary(ws) == [
        ("H008", STAGE_UPLOADED, False, 0, 1),
        ("H009", STAGE_UPLOADED, False, 0, 4),
        (UNKNOWN_ORG, STAGE_UPLOADED, False, 3, 0),
    ]
    assert ws.load("cases", [UNKNOWN_ORG])["病案号"].tolist() == ["BA00001", "BA00002", "BA00003"]


def test_rejected_file_leaves_nothing_but_its_record(ws: Workspace, tmp_path: Path) -> None:
    good = staff_book(tmp_path / "good.xlsx", "H001")
    bad = write_book(tmp_path / "bad.xlsx", "cases", [])  # a case template, imported as staff
    missing = tmp_path / "nowhere.xlsx"
    outs = ws.import_files("staff", [bad, missing, good])
    assert [o.ok for o in outs] == [False, False, True]
    assert [o.rejected_kind for o in outs] == ["file", "file", None]
    assert outs[0].rejected.startswith("文件“bad.xlsx”")
    assert outs[0].rejected.endswith("请在系统中下载相关表样，重新整理数据后上传。")
    assert outs[1].rejected == f"找不到文件 {missing}，请检查文件名和路径后重新导入。"
    assert _summary(ws) == [("H001", STAGE_UPLOADED, False, 0, 1)]
    assert _files(ws) == {"data/staff/H001/3.parquet"}
    records = ws.imported_files()
    assert [(r.file, r.rows, bool(r.rejected)) for r in records] == [
        ("bad.xlsx", 0, True),
        ("nowhere.xlsx", 0, True),
        ("good.xlsx", 1, False),
    ]


def test_freeze_refusals_and_unfreeze_transitions(ws: Workspace, tmp_path: Path) -> None:
    ws.import_files("staff", [staff_book(tmp_path / "a.xlsx", "H001", "H002")])
    ws.save_check("H001", True, {"E01": 0, "W01": 1}, _findings(), [], errors=0, warnings=1)
    ws.save_check("H002", False, {"E01": 2, "W01": 0}, _findings(), ["E05"], errors=2, warnings=0)
    info = ws.institution("H001")
    assert (info.stage, info.frozen, info.passed, info.errors, info.warnings) == (
        STAGE_PASSED,
        True,
        True,
        0,
        1,
    )
    assert ws.institution("H002").stage == STAGE_FAILED
    check = ws.load_check("H002")
    assert check is not None
    assert (check.passed, check.counts, check.failed_rules) == (
        False,
        {"E01": 2, "W01": 0},
        ["E05"],
    )
    assert check.findings["excel_row"].tolist() == [3]
    unfreeze_h001 = Hint(action="unfreeze", orgs=("H001",), stage="check")

    # a file with rows of a frozen institution is rejected whole
    [out] = ws.import_files("staff", [staff_book(tmp_path / "b.xlsx", "H003", "H001")])
    assert out.rejected == (
        "文件“b.xlsx”含有已冻结机构 H001（测试医院，已检测-通过）的数据，整个文件未导入；如需导入，"
        "请从文件中删去该机构的行后重新导入，或先对该机构「在上传阶段解冻数据检测」。"
    )
    assert (out.rejected_kind, out.frozen_orgs, out.hint) == ("frozen", ["H001"], unfreeze_h001)
    assert [i.org for i in ws.institutions()] == ["H001", "H002"]

    with pytest.raises(CwdxError) as err:
        ws.delete("staff", ["H001"])
    assert err.value.message == (
        "机构 H001（测试医院）处于「已检测-通过」阶段，数据已冻结，不能删除数据；"
        "请先「在上传阶段解冻数据检测」后再操作。"
    )
    assert (err.value.kind, err.value.hint, err.value.exit_code) == (
        ErrorKind.REFUSED,
        unfreeze_h001,
        2,
    )
    with pytest.raises(CwdxError) as err:
        ws.save_check("H001", True, {}, _findings(), [], errors=0, warnings=0)
    assert "不能重新检测" in err.value.message
    with pytest.raises(CwdxError) as err:
        ws.require_stage("H002", "compute")
    assert err.value.message.startswith("机构 H002（测试医院）数据检测未通过，不能计算；")
    with pytest.raises(CwdxError) as err:
        ws.require_stage("H404", "check")
    assert err.value.message == (
        "工作区中没有机构 H404，请用 status 命令（或机构列表）查看已导入的机构代码。"
    )
    assert (err.value.kind, err.value.hint) == (ErrorKind.NOT_FOUND, None)

    ws.save_results("H001", {"指标汇总": pd.DataFrame({"姓名": ["甲1"], "出院患者人数": [3]})})
    assert ws.institution("H001").stage == STAGE_COMPUTED
    assert ws.load_results("H001")["指标汇总"]["出院患者人数"].tolist() == [3]
    with pytest.raises(CwdxError) as err:
        ws.require_stage("H001", "compute")
    assert err.value.message == (
        "机构 H001（测试医院）已计算，数据已冻结；如需重新计算，请先「解冻数据检测和计算」。"
    )
    assert err.value.hint == Hint(action="unfreeze", orgs=("H001",), stage="compute")

    assert ws.unfreeze(["H001", "H002"], stage="compute") == {
        "H001": (STAGE_COMPUTED, STAGE_PASSED)
    }
    assert ws.load_results("H001") == {}
    assert ws.load_check("H001") is not None
    assert ws.unfreeze(everything=True) == {
        "H001": (STAGE_PASSED, STAGE_UPLOADED),
        "H002": (STAGE_FAILED, STAGE_UPLOADED),
    }
    assert ws.load_check("H001") is None
    assert _summary(ws) == [
        ("H001", STAGE_UPLOADED, False, 0, 1),
        ("H002", STAGE_UPLOADED, False, 0, 1),
    ]
    assert _files(ws) == {"data/staff/H001/1.parquet", "data/staff/H002/1.parquet"}
    [out] = ws.import_files("staff", [tmp_path / "b.xlsx"])
    assert out.ok and out.org_rows == {"H003": 1, "H001": 1}


def test_results_staged_by_a_piece_are_renamed_or_removed(tmp_path: Path) -> None:
    """A computation piece writes its tables under staged names (any process); the caller's
    save renames them, a refused save removes them, and staged files a dead process left are
    removed by the next writer."""
    ws = Workspace(tmp_path / "ws")
    ws.import_files("staff", [staff_book(tmp_path / "a.xlsx", "H001", "H002")])
    ws.save_check("H001", True, {}, _findings(), [], errors=0, warnings=0)
    ws.save_check("H002", False, {"E01": 1}, _findings(), [], errors=1, warnings=0)
    tables = {"指标汇总": pd.DataFrame({"姓名": ["甲1"], "出院患者人数": [3]})}
    staged = ws.stage_results("H001", tables)
    [(first, final)] = staged.values()
    assert (ws.path / first).exists() and not (ws.path / final).exists()
    ws.save_results("H001", tables, staged)
    assert ws.load_results("H001")["指标汇总"]["出院患者人数"].tolist() == [3]
    assert not (ws.path / first).exists() and (ws.path / final).exists()

    refused = ws.stage_results("H002", tables)
    with pytest.raises(CwdxError, match="数据检测未通过"):
        ws.save_results("H002", tables, refused)
    assert not any((ws.path / path).exists() for pair in refused.values() for path in pair)

    left = ws.stage_results("H002", tables)  # its caller died before renaming it
    (ws.path / LOCK_NAME).write_text('{"pid": 1, "operation": "指标计算"}', encoding="utf-8")
    ws.unfreeze(["H001"], stage="compute")  # the next writer finds the dead one's marker
    assert not any((ws.path / path).exists() for pair in left.values() for path in pair)
    assert _files(ws) == {"data/staff/H001/1.parquet", "data/staff/H002/1.parquet"} | {
        path for path in _files(ws) if path.startswith("checks/")
    }


def test_deletes_per_table_org_and_everything(ws: Workspace, tmp_path: Path) -> None:
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001", "H002", "H002")])
    ws.import_files("cases", [case_book(tmp_path / "c.xlsx", "H001", "H001", "H003")])
    out = ws.delete("staff", ["H002"])
    assert (out.rows, out.removed) == ({"H002": {"staff": 2}}, ["H002"])
    out = ws.delete("cases", ["H001"])
    assert (out.rows, out.removed) == ({"H001": {"cases": 2}}, [])
    assert _summary(ws) == [
        ("H001", STAGE_UPLOADED, False, 0, 1),
        ("H003", STAGE_UPLOADED, False, 1, 0),
    ]
    assert ws.load("staff")["_org"].tolist() == ["H001"]
    with pytest.raises(CwdxError) as err:
        ws.delete("cases", ["H404"])
    assert err.value.message.startswith("工作区中没有机构 H404")
    with pytest.raises(CwdxError) as err:
        ws.delete("cases")
    assert err.value.message == (
        "请指定要删除数据的机构（--org 机构代码），或选择全部机构（--everything）。"
    )
    ws.save_check("H003", True, {}, _findings(), [], errors=0, warnings=0)
    with pytest.raises(CwdxError) as err:
        ws.delete("all", everything=True)
    assert err.value.message.startswith("机构 H003（测试医院）处于「已检测-通过」阶段")
    ws.save_check("H001", False, {}, _findings(), [], errors=0, warnings=0)
    with pytest.raises(CwdxError) as err:
        ws.delete("all", everything=True)
    assert err.value.message == (
        "机构 H001（已检测-未通过）、H003（已检测-通过）的数据已冻结，不能删除数据，本次操作未执行；"
        "请先「在上传阶段解冻数据检测」后再操作。"
    )
    assert err.value.hint == Hint(action="unfreeze", orgs=("H001", "H003"), stage="check")
    assert len(ws.institutions()) == 2
    out = ws.delete("all", everything=True, force=True)
    assert out.total == 2 and out.removed == ["H001", "H003"]
    assert ws.institutions() == [] and _files(ws) == set()


def test_only_leftovers_of_unfinished_operations_are_removed_on_open(
    ws: Workspace, tmp_path: Path
) -> None:
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001")])
    claimed = ws.path / "data" / "staff" / "H001" / "2.parquet"
    claimed.write_bytes(b"x")
    ws._claim(["data/staff/H001/2.parquet"], "导入 2")  # an import that died before its commit
    stray = ws.path / "data" / "staff" / "H001" / "99.parquet"  # no record claims it: kept
    stray.write_bytes(b"x")
    temp = ws.path / "checks" / "H001" / ".findings-1.parquet.tmp-123"
    temp.parent.mkdir(parents=True)
    temp.write_bytes(b"x")
    keep = ws.path / "inbox" / "big.xlsx"
    keep.write_bytes(b"x")
    Workspace(ws.path)
    assert _files(ws) == {"data/staff/H001/1.parquet", "data/staff/H001/99.parquet"}
    assert not (ws.path / "checks" / "H001").exists()
    assert keep.exists()


def test_tasks_record_success_and_failure(ws: Workspace) -> None:
    with ws.task("数据检测", ["H001"], "测试") as task:
        task.update(passed=1)
    with pytest.raises(CwdxError), ws.task("指标计算", ["H002"], "测试"):
        raise CwdxError("机构 H002 尚未进行数据检测，不能计算；请先执行数据检测。")
    with pytest.raises(RuntimeError), ws.task("指标计算", [], "测试"):
        raise RuntimeError("boom")
    newest, middle, oldest = ws.tasks()
    assert (oldest.kind, oldest.state, oldest.details, oldest.orgs) == (
        "数据检测",
        "Succeeded",
        {"passed": 1},
        ["H001"],
    )
    assert oldest.duration is not None and oldest.duration >= 0
    assert (middle.state, middle.details["error"]) == (
        "Failed",
        "机构 H002 尚未进行数据检测，不能计算；请先执行数据检测。",
    )
    assert newest.details == {"error": "发生内部错误，详情已写入日志文件。"}
    log = (ws.path / "logs" / "cwdx.log").read_text(encoding="utf-8")
    assert "RuntimeError: boom" in log


def test_running_task_blocks_writes_and_dead_task_is_failed(ws: Workspace, tmp_path: Path) -> None:
    book = staff_book(tmp_path / "s.xlsx", "H001")
    script = (
        "import sys, time\n"
        "from cwdx.workspace import Workspace\n"
        "ws = Workspace(sys.argv[1])\n"
        "with ws.task('数据检测', ['H001'], '另一个进程'):\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(ws.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(CwdxError) as err:
            ws.import_files("staff", [book])
        message = err.value.message
        assert message.startswith(
            f"工作区正在进行另一项写入操作（数据检测，进程 {proc.pid}，开始于 "
        )
        assert message.endswith("），为避免数据损坏，本次操作未执行；请等其完成后再试。")
        assert ws.institutions() == []  # reads still work
        [task] = ws.tasks()
        assert (task.state, task.pid, task.started_by) == ("Running", proc.pid, "另一个进程")
    finally:
        proc.kill()
        proc.wait()
    reopened = Workspace(ws.path)
    [task] = reopened.tasks()
    assert (task.state, task.details) == (
        "Failed",
        {"error": "任务所在进程已意外终止，任务未完成。"},
    )
    [out] = reopened.import_files("staff", [book])
    assert out.ok


def test_other_thread_is_refused_while_a_write_runs(ws: Workspace, tmp_path: Path) -> None:
    book = staff_book(tmp_path / "s.xlsx", "H001")
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ws.task("数据检测", [], "线程"):
            started.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    started.wait(10)
    try:
        with pytest.raises(CwdxError) as err:
            Workspace(ws.path).import_files("staff", [book])
        assert err.value.message == (
            "工作区正在进行另一项写入操作（数据检测），为避免数据损坏，本次操作未执行；请等其完成后再试。"
        )
    finally:
        release.set()
        thread.join()
    assert ws.import_files("staff", [book])[0].ok


def test_reader_crash_rejects_only_that_file(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cwdx.reader

    real = cwdx.reader.open_workbook

    def flaky(path, table, **kwargs):
        if Path(path).name == "boom.xlsx":
            raise ValueError("reader bug")
        return real(path, table, **kwargs)

    monkeypatch.setattr(cwdx.reader, "open_workbook", flaky)
    boom = staff_book(tmp_path / "boom.xlsx", "H001")
    good = staff_book(tmp_path / "good.xlsx", "H002")
    outs = ws.import_files("staff", [boom, good])
    assert outs[0].rejected == (
        f"文件“boom.xlsx”读取时发生内部错误，未导入；请把日志文件 {ws.log_path} 发给技术支持。"
    )
    assert outs[1].ok and [i.org for i in ws.institutions()] == ["H002"]
    assert "ValueError: reader bug" in ws.log_path.read_text(encoding="utf-8")


def test_mixed_type_result_columns_are_stored(ws: Workspace, tmp_path: Path) -> None:
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001")])
    mixed = _findings().assign(value=["文本"]).astype({"value": object})
    mixed.loc[len(mixed)] = [
        "H001",
        "staff",
        "E02",
        "error",
        "s.xlsx",
        2,
        "出生日期",
        19800101,
        "x",
    ]
    ws.save_check("H001", False, {"E02": 1}, mixed, [], errors=1, warnings=0)
    check = ws.load_check("H001")
    assert check is not None and check.findings["value"].tolist() == ["文本", "19800101"]


def test_log_has_counts_and_file_names_but_no_cell_values(ws: Workspace, tmp_path: Path) -> None:
    rows = [staff_row("H001", "独特姓名甲", cert="SECRET123")]
    ws.import_files("staff", [write_book(tmp_path / "s.xlsx", "staff", rows)])
    log = (ws.path / "logs" / "cwdx.log").read_text(encoding="utf-8")
    assert "s.xlsx" in log and "1 行" in log
    assert "独特姓名甲" not in log and "SECRET123" not in log
    assert get_logger("workspace").name == get_logger("cwdx.workspace").name == "cwdx.workspace"


def test_summary_inputs_come_from_imported_files(ws: Workspace, tmp_path: Path) -> None:
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001")])
    record = ws.imported_files()[0]
    assert json.loads(json.dumps(record.__dict__))["sha256"] == record.sha256
    assert len(record.sha256) == 64 and os.path.basename(record.file) == "s.xlsx"


def test_missing_data_file_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001")])
    (ws.path / "data" / "staff" / "H001" / "1.parquet").unlink()
    with pytest.raises(CwdxError) as err:
        ws.load("staff")
    assert err.value.message == (
        "工作区中的数据文件 data/staff/H001/1.parquet 缺失或已损坏（可能被手工删除或改动）；"
        "请解冻并删除相关机构的数据后重新导入。"
    )
    assert ws.delete("staff", ["H001"]).removed == ["H001"]


def test_queued_task_runs_under_its_own_id(ws: Workspace) -> None:
    task_id = ws.queue_task("指标计算", ["H001", "H002"], "平台管理员")
    [queued] = ws.tasks()
    assert (queued.id, queued.state, queued.start, queued.orgs) == (
        task_id,
        "Queued",
        None,
        ["H001", "H002"],
    )
    with ws.task("指标计算", ["H001", "H002"], "平台管理员", task_id=task_id) as task:
        task.progress(1, 2, "计算 H001")
        [running] = ws.tasks()
        assert (running.state, running.details) == (
            "Running",
            {"progress": {"done": 1, "total": 2, "label": "计算 H001"}},
        )
    [done] = ws.tasks()
    assert (done.id, done.state, done.started_by) == (task_id, "Succeeded", "平台管理员")
    assert done.start is not None and done.end is not None


def test_forced_delete_of_one_table_unfreezes_what_is_left(ws: Workspace, tmp_path: Path) -> None:
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001")])
    ws.import_files("cases", [case_book(tmp_path / "c.xlsx", "H001", "H001")])
    ws.save_check("H001", False, {"E01": 1}, _findings(), [], errors=1, warnings=0)
    out = ws.delete("cases", everything=True, force=True)
    assert (out.rows, out.removed) == ({"H001": {"cases": 2}}, [])
    assert _summary(ws) == [("H001", STAGE_UPLOADED, False, 0, 1)]
    assert ws.load_check("H001") is None
    assert _files(ws) == {"data/staff/H001/1.parquet"}


def test_a_version_2_workspace_gains_the_check_totals_from_its_counts(ws: Workspace) -> None:
    """Workspaces made before the totals were stored: opening one sums each stored check's
    counts per rule into errors (E..) and warnings (W.., X..), as the rule catalogue says."""
    import sqlite3

    from cwdx.rules import RULES

    assert {rid for rid, rule in RULES.items() if rule.severity == "error"} == {
        rid for rid in RULES if rid.startswith("E")
    }
    ws.import_files("staff", [staff_book(ws.path.parent / "a.xlsx", "H001")])
    counts = {"E01": 2, "E16": 1, "W03": 4, "X01": 5}
    ws.save_check("H001", False, counts, _findings(), [], errors=3, warnings=9)
    con = sqlite3.connect(ws.path / "cwdx.sqlite", isolation_level=None)
    con.execute("ALTER TABLE checks DROP COLUMN errors")  # the version 2 schema
    con.execute("ALTER TABLE checks DROP COLUMN warnings")
    con.execute("PRAGMA user_version = 2")
    con.close()

    info = Workspace(ws.path).institution("H001")
    assert (info.stage, info.errors, info.warnings, info.counts) == (
        STAGE_FAILED,
        3,
        9,
        counts,
    )
    con = sqlite3.connect(ws.path / "cwdx.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == 5  # upgraded to the current version
    con.close()


def test_the_workspace_package_does_not_import_the_rules() -> None:
    """The workspace stores check totals itself: importing it loads none of the engines."""
    code = (
        "import sys, cwdx.workspace; "
        "print(sorted(m for m in sys.modules if m.split('.')[1:2] and m.split('.')[1] in "
        "('rules', 'check', 'metrics', 'outputs', 'feedback', 'results')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_kept_connections_follow_a_replaced_database_and_are_not_pickled(tmp_path: Path) -> None:
    """Connections kept during a write are closed when it ends (the database is one file again),
    a database file replaced under the workspace (a restored backup) is read afresh, and a
    pickled workspace (a stage's piece) opens its own."""
    import pickle
    import shutil

    one, other = Workspace(tmp_path / "one"), Workspace(tmp_path / "other")
    one.import_files("staff", [staff_book(tmp_path / "a.xlsx", "H001")])
    other.import_files("staff", [staff_book(tmp_path / "b.xlsx", "H002", "H003")])
    assert [i.org for i in one.institutions()] == ["H001"]
    with one.writing("测试"):
        one.institutions()
        assert (one.path / "cwdx.sqlite-wal").exists()  # kept open while the write runs
    for space in (one, other):
        assert not (space.path / "cwdx.sqlite-wal").exists()
    copy = tmp_path / "copy.sqlite"
    shutil.copyfile(other.db_path, copy)
    os.replace(copy, one.db_path)  # a new file (inode) where the old one was
    assert [i.org for i in one.institutions()] == ["H002", "H003"]
    clone = pickle.loads(pickle.dumps(one))
    assert [i.org for i in clone.institutions()] == ["H002", "H003"]
    clone.close()
    one.close()


def test_arrow_to_pandas_gives_the_frame_to_pandas_gives() -> None:
    """The stored rows' Arrow → pandas shortcut (strings cast to large_string in one pass)
    gives exactly ``to_pandas``'s frame: dtypes, NA cells, the integer bookkeeping columns."""
    import pyarrow as pa

    from cwdx.workspace.files import arrow_to_pandas, frame_to_arrow

    frame = pd.DataFrame(
        {
            "姓名": pd.array(["张三", None, "李四1", ""], dtype="string"),
            "出生日期": pd.array([None, None, "1980-01-02", "1990-12-31"], dtype="string"),
            "_row": [2, 3, 4, 5],
            "_import": [1, 1, 1, 2],
        }
    )
    table = frame_to_arrow(frame)
    assert table.schema.field("姓名").type == pa.string()
    got = arrow_to_pandas(table)
    pd.testing.assert_frame_equal(got, table.to_pandas(), check_exact=True)
    pd.testing.assert_frame_equal(got, frame, check_exact=True)
    assert got["姓名"].isna().tolist() == [False, True, False, False]
