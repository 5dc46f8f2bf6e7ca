"""The ``cwdx`` command line: exit codes and the exact Chinese messages users see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from ws_helper import case_book, staff_book

from cwdx.cli import ProgressBar, format_table, main
from cwdx.workspace import Workspace


@pytest.fixture
def books(tmp_path: Path) -> dict[str, Path]:
    return {
        "staff": staff_book(tmp_path / "人员.xlsx", "H001", "H001", "H002"),
        "cases": case_book(tmp_path / "病案.xlsx", "H001", "H002"),
    }


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_and_usage_errors_are_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert out.startswith("用法：cwdx [-h] [-V] [-w 工作区] [--quiet] 命令 ...")
    for word in ("选项", "显示本帮助并退出", "import", "向工作区追加导入数据文件", "unfreeze"):
        assert word in out
    code, _, err = run(capsys)
    assert code == 2
    assert err.splitlines()[-1] == "cwdx：错误：缺少必需的参数：命令。请用 cwdx --help 查看用法。"
    code, _, err = run(capsys, "-w", "x", "import", "books", "a.xlsx")
    assert code == 2
    assert err.splitlines()[-1] == (
        "cwdx import：错误：参数 cases|staff：无效的选项 'books'（可选：'cases', 'staff'）。"
        "请用 cwdx import --help 查看用法。"
    )
    code, _, err = run(capsys, "-w", "x", "delete", "cases")
    assert code == 2
    assert "必须给出以下参数之一：--org --everything" in err
    code, _, err = run(capsys, "status")
    assert (code, err) == (2, "请用 -w 指定工作区文件夹，例如：cwdx -w 工作区 status。\n")


def test_import_status_and_same_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, books: dict[str, Path]
) -> None:
    ws = str(tmp_path / "ws")
    code, out, err = run(capsys, "-w", ws, "import", "staff", str(books["staff"]))
    assert (code, err) == (0, "")
    assert (
        out
        == "文件 人员.xlsx：导入 3 行（H001 2 行、H002 1 行）。\n共 1 个文件：导入 1 个（3 行）。\n"
    )
    code, out, err = run(
        capsys, "-w", ws, "import", "cases", str(books["cases"]), str(books["staff"])
    )
    assert code == 2
    assert out.splitlines()[-1] == "共 2 个文件：导入 1 个（2 行），未导入 1 个。"
    assert err == (
        "未导入：文件“人员.xlsx”是《申报人员信息自然表》的数据，不是《病案首页数据》的数据，"
        "请作为《申报人员信息自然表》导入。请在系统中下载相关表样，重新整理数据后上传。\n"
    )
    code, out, err = run(capsys, "-w", ws, "import", "staff", str(books["staff"]))
    assert code == 2
    assert err.startswith("未导入：文件“人员.xlsx”与 ")
    assert err.endswith("如确需重复导入，请确认后强制导入（命令行加 --force）。\n")
    code, out, _ = run(
        capsys, "-w", ws, "--quiet", "import", "staff", "--force", str(books["staff"])
    )
    assert code == 0

    code, out, _ = run(capsys, "-w", ws, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"工作区：{Path(ws).resolve()}"
    assert (
        lines[1:4]
        == format_table(
            (
                "组织机构代码",
                "医疗机构名称",
                "病案记录数",
                "申报人员数",
                "阶段",
                "冻结",
                "错误",
                "警告",
            ),
            [
                ("H001", "测试医院", 1, 4, "已上传", "否", "", ""),
                ("H002", "测试医院", 1, 2, "已上传", "否", "", ""),
            ],
        ).splitlines()
    )
    assert lines[4] == "共 2 个机构；病案记录 2 行，申报人员 6 行。"
    assert lines[5] == "已导入文件 3 个，未导入文件 2 个："


def test_status_of_missing_workspace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "-w", str(tmp_path / "nope"), "status")
    assert (code, out) == (2, "")
    assert err == (
        f"工作区 {tmp_path / 'nope'} 不存在或不是 cwdx 工作区，请检查 -w 指定的文件夹，"
        "或先用 import 导入数据以创建工作区。\n"
    )
    assert not (tmp_path / "nope").exists()
    # -w and --quiet may also follow the command
    assert run(capsys, "status", "--quiet", "-w", str(tmp_path / "nope"))[2] == err


def test_delete_unfreeze_and_frozen_refusal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, books: dict[str, Path]
) -> None:
    ws = str(tmp_path / "ws")
    run(capsys, "-w", ws, "import", "staff", str(books["staff"]))
    run(capsys, "-w", ws, "import", "cases", str(books["cases"]))
    Workspace(ws).save_check(
        "H001", True, {"E01": 0}, pd.DataFrame({"rule_id": []}), [], errors=0, warnings=0
    )
    code, out, err = run(capsys, "-w", ws, "delete", "all", "--org", "H001")
    assert (code, out) == (2, "")
    assert err == (
        "机构 H001（测试医院）处于「已检测-通过」阶段，数据已冻结，不能删除数据；"
        "请先「在上传阶段解冻数据检测」后再操作"
        f"（命令行：cwdx -w {Path(ws).resolve()} unfreeze --org H001 --stage check）。\n"
    )
    code, out, _ = run(capsys, "-w", ws, "unfreeze", "--org", "H001", "--stage", "compute")
    assert (code, out) == (0, "没有需要解冻的机构（所选机构未处于可解冻的阶段）。\n")
    code, out, _ = run(capsys, "-w", ws, "unfreeze", "--org", "H001")
    assert (code, out) == (0, "机构 H001（测试医院）：已检测-通过 → 已上传\n")
    code, out, _ = run(capsys, "-w", ws, "delete", "staff", "--org", "H002")
    assert (code, out) == (0, "机构 H002（测试医院）：已删除申报人员信息 1 行。\n")
    code, out, _ = run(capsys, "-w", ws, "delete", "all", "--everything")
    assert code == 0
    assert out == (
        "机构 H001（测试医院）：已删除病案首页数据 1 行，申报人员信息 2 行。\n"
        "机构 H002（测试医院）：已删除病案首页数据 1 行，申报人员信息 0 行。\n"
        "机构 H001（测试医院）已没有数据，已从工作区移除。\n"
        "机构 H002（测试医院）已没有数据，已从工作区移除。\n"
    )
    code, out, err = run(capsys, "-w", ws, "unfreeze", "--org", "H001")
    assert (code, err) == (
        2,
        "工作区中没有机构 H001，请用 status 命令（或机构列表）查看已导入的机构代码。\n",
    )


def test_check_and_compute_exit_codes(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    books: dict[str, Path],
) -> None:
    """check/compute dispatch to the engines (stubbed here: their own tests cover them)."""
    import cwdx.check
    import cwdx.metrics

    calls: list[tuple[str, list[str]]] = []

    def fake_check(ws, orgs=None, on_progress=None, mapper=None):
        calls.append(("check", list(orgs)))
        for org in orgs:
            passed = org == "H002"
            ws.save_check(
                org,
                passed,
                {"E01": 0 if passed else 2, "W01": 1},
                pd.DataFrame(),
                [],
                errors=0 if passed else 2,
                warnings=1,
            )
        return {}

    def fake_compute(ws, orgs=None, on_progress=None, case_list=False, mapper=None):
        calls.append(("compute", list(orgs)))
        for org in orgs:
            ws.save_results(org, {"指标汇总": pd.DataFrame({"匹配状态": ["已匹配", "未匹配"]})})
        return {}

    monkeypatch.setattr(cwdx.check, "check_workspace", fake_check)
    monkeypatch.setattr(cwdx.metrics, "compute_workspace", fake_compute)
    ws = str(tmp_path / "ws")
    run(capsys, "-w", ws, "import", "staff", str(books["staff"]))
    code, out, err = run(capsys, "-w", ws, "compute")
    assert (code, err) == (
        2,
        "没有可计算的机构：只有数据检测通过的机构才能计算，请先执行数据检测。\n",
    )
    code, out, _ = run(capsys, "-w", ws, "check")
    assert code == 1
    assert out == (
        "机构 H001（测试医院）：数据检测不通过（错误 2，警告 1）。\n"
        "机构 H002（测试医院）：数据检测通过（错误 0，警告 1）。\n"
    )
    code, out, err = run(capsys, "-w", ws, "check", "--org", "H002")
    assert code == 2 and err.startswith(
        "机构 H002（测试医院）处于「已检测-通过」阶段，数据已冻结，不能重新检测；"
    )
    code, out, _ = run(capsys, "-w", ws, "check")  # all frozen: nothing re-checked, H001 failed
    assert code == 1
    assert out.splitlines()[0] == (
        "机构 H001（测试医院）：已处于「已检测-未通过」，未重新检测（如需重新检测请先解冻）。"
    )
    code, out, _ = run(capsys, "-w", ws, "compute")
    assert code == 1
    assert out == (
        "机构 H001（测试医院）：数据检测未通过，不能计算。\n"
        "机构 H002（测试医院）：指标计算完成（申报人员 1 人）。\n"
    )
    code, out, err = run(capsys, "-w", ws, "compute", "--org", "H002")
    assert code == 2 and err.startswith("机构 H002（测试医院）已计算，数据已冻结；")
    assert calls == [("check", ["H001", "H002"]), ("compute", ["H002"])]
    tasks = Workspace(ws).tasks()
    assert [(t.kind, t.state, t.orgs) for t in tasks] == [
        ("compute", "Succeeded", ["H002"]),
        ("check", "Succeeded", ["H001", "H002"]),
    ]
    assert tasks[0].started_by.startswith("命令行（")


def test_internal_error_goes_to_the_log(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    books: dict[str, Path],
) -> None:
    ws = tmp_path / "ws"
    run(capsys, "-w", str(ws), "import", "staff", str(books["staff"]))

    def broken(self):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(Workspace, "institutions", broken)
    code, out, err = run(capsys, "-w", str(ws), "status")
    log_path = ws / "logs" / "cwdx.log"
    assert (code, out) == (3, "")
    assert err == f"发生内部错误，请把日志文件 {log_path} 发给技术支持。\n"
    text = log_path.read_text(encoding="utf-8")
    assert "Traceback" in text and "RuntimeError: unexpected" in text


def test_installed_command(tmp_path: Path, books: dict[str, Path]) -> None:
    exe = Path(sys.executable).with_name("cwdx")
    ws = tmp_path / "ws"
    done = subprocess.run(
        [str(exe), "-w", str(ws), "import", "staff", str(books["staff"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "文件 人员.xlsx：导入 3 行（H001 2 行、H002 1 行）。"
    done = subprocess.run(
        [str(exe), "-w", str(ws), "compute", "--org", "H001"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == "机构 H001（测试医院）尚未进行数据检测，不能计算；请先执行数据检测。\n"
    assert "Traceback" not in done.stderr


class _Tty:
    def __init__(self, tty: bool = True) -> None:
        self.text, self.tty = "", tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_progress_bar_draws_on_a_terminal_only() -> None:
    stream = _Tty()
    bar = ProgressBar(True, stream, tick=60)
    bar(1, 4, "正在导入 a.xlsx")
    bar(4, 4, "导入完成")
    bar.close()
    assert stream.text == (
        f"\r[{'#' * 7}{'.' * 23}] 1/4 正在导入 a.xlsx（已用 0 秒）\x1b[K"
        f"\r[{'#' * 30}] 4/4 导入完成（已用 0 秒）\x1b[K\n"
    )
    for quiet_stream, enabled in ((_Tty(), False), (_Tty(tty=False), True)):
        bar = ProgressBar(enabled, quiet_stream)
        bar(1, 2, "x")
        bar.close()
        assert quiet_stream.text == ""


def test_template_and_export_dispatch_to_the_engines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, books: dict[str, Path]
) -> None:
    target = tmp_path / "表样.xlsx"
    code, out, _ = run(capsys, "template", "staff", "-o", str(target))
    assert code == 0 and out.startswith("已写入申报人员信息表样：") and target.is_file()
    ws = str(tmp_path / "ws")
    run(capsys, "-w", ws, "import", "staff", str(books["staff"]))
    run(capsys, "-w", ws, "import", "cases", str(books["cases"]))
    code, _, _ = run(capsys, "-w", ws, "--quiet", "check", "--org", "H001")
    assert code in (0, 1)
    out_dir = tmp_path / "反馈"
    code, out, err = run(capsys, "-w", ws, "export", "feedback", str(out_dir), "--org", "H001")
    assert (code, err) == (0, "")
    assert out == f"已写入反馈表和 summary.json：{out_dir.resolve()}\n"
    assert (out_dir / "summary.json").is_file()
    code, _, err = run(capsys, "-w", ws, "export", "results", str(out_dir), "--org", "H404")
    assert (code, err) == (
        2,
        "工作区中没有机构 H404，请用 status 命令（或机构列表）查看已导入的机构代码。\n",
    )
    # output folder that cannot be created, a workbook that cannot be written: Chinese only
    blocker = tmp_path / "一个文件"
    blocker.write_text("x", encoding="utf-8")
    code, _, err = run(capsys, "-w", ws, "export", "feedback", str(blocker / "子文件夹"))
    assert (code, err) == (
        2,
        f"无法创建输出文件夹 {blocker / '子文件夹'}（路径中有一部分是文件而不是文件夹），"
        "请换一个可写的文件夹。\n",
    )
    (out_dir / "精简版反馈信息表.xlsx").unlink()
    (out_dir / "精简版反馈信息表.xlsx").mkdir()  # a folder where the workbook should go
    code, _, err = run(capsys, "-w", ws, "export", "feedback", str(out_dir))
    assert (code, err) == (
        2,
        f"无法写入文件 {out_dir / '精简版反馈信息表.xlsx'}（这是一个文件夹），请关闭已打开的同名文件、"
        "检查磁盘空间和权限，或换一个输出文件夹后重试。\n",
    )


def test_progress_bar_keeps_report_lines_apart() -> None:
    stream = _Tty()
    bar = ProgressBar(True, stream, tick=60)
    bar(0, 2, "导入")
    bar.println("文件 a.xlsx：导入 3 行。")
    bar.close()
    assert stream.text == (
        f"\r[{'.' * 30}] 0/2 导入（已用 0 秒）\x1b[K"
        "\r\x1b[K文件 a.xlsx：导入 3 行。\n"
        f"\r[{'.' * 30}] 0/2 导入（已用 0 秒）\x1b[K\n"
    )


def test_run_dispatches_to_the_one_shot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, books: dict[str, Path]
) -> None:
    out_dir = tmp_path / "输出"
    code, _, err = run(
        capsys,
        "run",
        "--cases",
        str(books["cases"]),
        "--staff",
        str(books["staff"]),
        "--out",
        str(out_dir),
    )
    assert code in (0, 1)
    assert "文件 人员.xlsx：导入 3 行（H001 2 行、H002 1 行）。" in err.splitlines()
    assert (out_dir / "summary.json").is_file()


SUBCOMMANDS = (
    "template",
    "run",
    "import",
    "status",
    "check",
    "compute",
    "export",
    "delete",
    "unfreeze",
    "report",
    "app",
    "demo",
    "dispatch",
)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_help_names_its_values_in_chinese(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """No argparse default metavar (``PORT``, ``INSTITUTIONS``) or English heading leaks."""
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"用法：cwdx {command} [-h] [-w 工作区] [--quiet]")
    assert "选项:" in out and "显示本帮助并退出" in out
    import re

    assert not re.search(r"\b(?!HTML\b)[A-Z]{3,}\b", out), out
    assert "usage" not in out and "options" not in out


def test_check_names_a_crashed_rule_in_chinese(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    books: dict[str, Path],
) -> None:
    import dataclasses

    from cwdx.rules import RULES

    def boom(ctx):
        raise ValueError("unexpected data")

    monkeypatch.setitem(RULES, "W07", dataclasses.replace(RULES["W07"], func=boom))
    ws = str(tmp_path / "ws")
    run(capsys, "-w", ws, "import", "staff", str(books["staff"]))
    run(capsys, "-w", ws, "import", "cases", str(books["cases"]))
    code, out, err = run(capsys, "-w", ws, "check", "--org", "H002")
    log_path = Workspace(ws).log_path
    assert (code, err) == (1, "")
    assert out == (
        f"机构 H002（测试医院）：数据检测不通过（错误 0，警告 1；1 条规则运行出错（W07），"
        f"详细信息已写入日志 {log_path}）。\n"
    )
    assert "ValueError: unexpected data" in log_path.read_text(encoding="utf-8")


def test_os_errors_are_named_in_chinese() -> None:
    import errno

    from cwdx.errors import os_error_text

    assert os_error_text(OSError(errno.ENOSPC, "No space left on device")) == "磁盘空间不足"
    assert os_error_text(PermissionError(errno.EACCES, "Permission denied")) == (
        "没有权限，或文件正被其他程序（如 Excel）打开"
    )
    assert os_error_text(OSError(errno.EIO, "Input/output error")) == "系统错误（编号 5）"
    assert os_error_text(OSError("no errno")) == "系统错误"


def test_platform_app_refuses_to_start_without_an_account(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No default account: the 平台版 says which command adds one, and serves nothing."""
    ws = tmp_path / "平台"
    code, out, err = run(capsys, "-w", str(ws), "app", "platform", "--port", "8899")
    assert (code, out) == (2, "")
    assert err == (
        "平台版需要登录，但这个工作区还没有可以登录的用户，没有启动。请先添加用户："
        f'cwdx -w "{ws.resolve()}" user add 用户名（按提示输入两次密码），再重新启动。\n'
    )


def test_workers_and_scheduler_are_options_of_the_platform_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "-w", str(tmp_path), "app", "institution", "--workers", "2")
    assert (code, out, err) == (
        2,
        "",
        "--workers 和 --scheduler 只用于平台版（cwdx app platform）。\n",
    )


def test_a_file_with_rows_of_a_frozen_institution_names_the_unfreeze_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The workspace's refusal carries the unfreeze step as data; the command line renders it
    as the command to type, the workspace folder quoted for the shell."""
    ws = str(tmp_path / "工作 区")
    run(capsys, "-w", ws, "import", "staff", str(staff_book(tmp_path / "a.xlsx", "H001")))
    Workspace(ws).save_check("H001", False, {"E01": 1}, pd.DataFrame(), [], errors=1, warnings=0)
    code, out, err = run(
        capsys, "-w", ws, "import", "staff", str(staff_book(tmp_path / "b.xlsx", "H001", "H001"))
    )
    assert (code, out) == (2, "共 1 个文件：导入 0 个（0 行），未导入 1 个。\n")
    assert err == (
        "未导入：文件“b.xlsx”含有已冻结机构 H001（测试医院，已检测-未通过）的数据，整个文件未导入；"
        "如需导入，请从文件中删去该机构的行后重新导入，或先对该机构「在上传阶段解冻数据检测」"
        f"（命令行：cwdx -w '{Path(ws).resolve()}' unfreeze --org H001 --stage check）。\n"
    )
    code, out, err = run(capsys, "-w", ws, "compute", "--org", "H001")
    assert (code, out) == (1, "")
    assert err == (
        "机构 H001（测试医院）数据检测未通过，不能计算；请按反馈表修改数据，删除并重新导入数据后再检测，"
        "删除前须先「在上传阶段解冻数据检测」"
        f"（命令行：cwdx -w '{Path(ws).resolve()}' unfreeze --org H001 --stage check）。\n"
    )
