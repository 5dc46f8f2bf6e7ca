"""The small commands answer at once: ``cwdx --help`` and ``cwdx -w WS status`` run in a
fresh process without importing pandas, pyarrow or numpy (each costs tenths of a second at
start-up), and still print exactly what they printed before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ws_helper import case_book, staff_book

from cwdx.workspace import Workspace

#: Runs ``cwdx.cli.main(argv)`` and reports, on the last line of stderr, the heavy libraries
#: the process imported and the exit status.
PROBE = """
import sys
import cwdx.cli
try:
    code = cwdx.cli.main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
heavy = [m for m in ("pandas", "pyarrow", "numpy", "fastexcel", "xlsxwriter") if m in sys.modules]
print("HEAVY", ",".join(heavy) or "-", code, file=sys.stderr)
"""


def _probe(*argv: str) -> tuple[str, str, str]:
    """(stdout, stderr without the probe line, the probe line) of ``cwdx ARGV``."""
    env = {k: v for k, v in os.environ.items() if k != "CWDX_WORKSPACE"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )
    *err, probe = done.stderr.splitlines()
    return done.stdout, "\n".join(err), probe


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace of three institutions, with one file it refused."""
    ws_path = tmp_path / "ws"
    ws = Workspace(ws_path)
    ws.import_files("cases", [case_book(tmp_path / "病案.xlsx", "H001", "H002", "H003", "H003")])
    ws.import_files("staff", [staff_book(tmp_path / "人员.xlsx", "H001", "H003")])
    ws.import_files("staff", [tmp_path / "病案.xlsx"])  # a case book given as staff: refused
    return ws_path


def test_status_imports_no_pandas_pyarrow_or_numpy(workspace: Path) -> None:
    out, err, probe = _probe("-w", str(workspace), "status")
    assert (probe, err) == ("HEAVY - 0", "")
    assert out.splitlines() == [
        f"工作区：{workspace}",
        "组织机构代码  医疗机构名称  病案记录数  申报人员数  阶段    冻结  错误  警告",
        "H001          测试医院      1           1           已上传  否",
        "H002          测试医院      1           0           已上传  否",
        "H003          测试医院      2           1           已上传  否",
        "共 3 个机构；病案记录 4 行，申报人员 2 行。",
        "已导入文件 2 个，未导入文件 1 个：",
        "  病案.xlsx：文件“病案.xlsx”是《病案首页数据》的数据，不是《申报人员信息自然表》的数据，"
        "请作为《病案首页数据》导入。请在系统中下载相关表样，重新整理数据后上传。",
    ]


def test_help_and_refusals_import_no_pandas_pyarrow_or_numpy(tmp_path: Path) -> None:
    out, err, probe = _probe("--help")
    assert (probe, err) == ("HEAVY - 0", "")
    assert out.startswith("用法：cwdx [-h] [-V] [-w 工作区] [--quiet] 命令 ...")
    out, err, probe = _probe("status")
    assert (out, err, probe) == (
        "",
        "请用 -w 指定工作区文件夹，例如：cwdx -w 工作区 status。",
        "HEAVY - 2",
    )
    out, err, probe = _probe("-w", str(tmp_path / "nope"), "status")
    assert (out, probe) == ("", "HEAVY - 2")
    assert err.startswith(f"工作区 {tmp_path / 'nope'} 不存在或不是 cwdx 工作区")
