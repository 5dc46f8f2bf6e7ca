"""Workspace faults: a damaged or empty database, a full or read-only disk, and writes that
race a running check or computation. Each fault gets one Chinese sentence, exit status 2, and
no data file is ever removed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ws_helper import case_book, case_row, staff_book, write_book

from cwdx import check, cli, metrics
from cwdx.errors import CwdxError
from cwdx.workspace import DB_NAME, Workspace

BUSY = "工作区正在进行另一项写入操作（{}），为避免数据损坏，本次操作未执行；请等其完成后再试。"


def _damaged(ws: Path, what: str) -> str:
    return (
        f"工作区 {ws} 已损坏（{what}），为避免丢失数据，本次未做任何改动；"
        "请从备份中恢复整个工作区文件夹后重试，或另选一个新的文件夹作为工作区重新导入。\n"
    )


def _read_only(ws: Path, operation: str) -> str:
    return (
        f"工作区 {ws} 所在的磁盘或文件夹为只读，不能{operation}；查看状态和导出到其他"
        "文件夹不受影响，如需修改请把工作区复制到可写的位置，或取消只读后重试。\n"
    )


def _data_files(ws: Path) -> list[str]:
    return sorted(
        p.relative_to(ws).as_posix()
        for top in ("data", "checks", "results")
        for p in (ws / top).rglob("*")
        if p.is_file()
    )


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A workspace with two institutions' applicants and cases, H001 checked."""
    ws = tmp_path / "ws"
    space = Workspace(ws)
    space.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001", "H002")])
    space.import_files("cases", [case_book(tmp_path / "c.xlsx", "H001", "H002")])
    check.check_workspace(space, ["H001"], workers=1)
    assert len(_data_files(ws)) == 5
    for suffix in ("-wal", "-shm"):  # closed cleanly: everything is in the main file
        assert not (ws / f"{DB_NAME}{suffix}").exists()
    return ws


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -------------------------------------------------------------------- damaged database


def test_zero_byte_database_is_damage_and_no_data_file_is_removed(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _data_files(filled)
    (filled / DB_NAME).write_bytes(b"")  # a half-finished copy
    message = _damaged(filled, "数据库文件 cwdx.sqlite 是空的")
    for argv in (["status"], ["import", "staff", str(filled.parent / "s.xlsx")], ["check"]):
        assert _main(capsys, "-w", str(filled), *argv) == (2, "", message)
    assert _data_files(filled) == files
    assert (filled / DB_NAME).stat().st_size == 0  # no schema was created in it


def test_missing_database_beside_data_files_is_damage(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _data_files(filled)
    (filled / DB_NAME).unlink()
    message = _damaged(filled, "数据库文件 cwdx.sqlite 缺失")
    assert _main(capsys, "-w", str(filled), "status") == (2, "", message)
    assert _main(capsys, "-w", str(filled), "import", "staff", "x.xlsx") == (2, "", message)
    assert _data_files(filled) == files
    assert not (filled / DB_NAME).exists()


@pytest.mark.parametrize("where", ["header", "pages"])
def test_damaged_database_says_restore_from_a_copy(
    filled: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    files = _data_files(filled)
    db = filled / DB_NAME
    size = db.stat().st_size
    with open(db, "r+b") as handle:
        if where == "header":
            handle.write(b"this is not sqlite")
        else:  # every page but the first (schema) one
            handle.seek(4096)
            handle.write(bytes(range(256)) * ((size - 4096) // 256))
    message = _damaged(filled, "数据库文件 cwdx.sqlite 内容损坏")
    assert _main(capsys, "-w", str(filled), "status") == (2, "", message)
    assert _data_files(filled) == files


def test_files_no_record_claims_are_never_removed(filled: Path) -> None:
    """Only files a recorded operation claims as its own leftovers are cleaned up."""
    stray = filled / "data" / "staff" / "H001" / "999.parquet"
    stray.write_bytes((filled / "data" / "staff" / "H001" / "1.parquet").read_bytes())
    leftover = filled / "results" / "H002" / "abc-0.parquet"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half written")
    with sqlite3.connect(filled / DB_NAME) as con:
        con.execute(
            "INSERT INTO pending (path, operation, since) VALUES (?, '保存计算结果 H002', '')",
            ("results/H002/abc-0.parquet",),
        )
    con.close()
    ws = Workspace(filled)
    assert stray.exists()
    assert not leftover.exists()
    assert [i.staff for i in ws.institutions()] == [1, 1]


# -------------------------------------------------------------------- the write lock


def test_import_while_a_check_runs_is_refused_and_nothing_unchecked_is_frozen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001")])
    ws.import_files("cases", [case_book(tmp_path / "c.xlsx", "H001")])
    started, release = threading.Event(), threading.Event()
    real_check_piece = check.check_piece

    def slow_check_piece(*args: object) -> list[check.InstitutionCheck]:
        started.set()
        release.wait(60)
        return real_check_piece(*args)

    monkeypatch.setattr(check, "check_piece", slow_check_piece)
    thread = threading.Thread(target=check.check_workspace, args=(ws, ["H001"], None, 1))
    thread.start()
    try:
        assert started.wait(60)
        second_tab = Workspace(ws.path)
        more = write_book(tmp_path / "c2.xlsx", "cases", [case_row("H001", "BA99999")])
        with pytest.raises(CwdxError) as refused:
            second_tab.import_files("cases", [more])
        with pytest.raises(CwdxError) as refused_delete:
            second_tab.delete("cases", everything=True)
    finally:
        release.set()
        thread.join(60)
    assert refused.value.message == BUSY.format("数据检测")
    assert refused_delete.value.message == BUSY.format("数据检测")
    [info] = ws.institutions()
    assert (info.cases, info.stage, info.frozen) == (1, info.stage, True)
    assert info.stage.startswith("已检测")


def test_unfreeze_while_a_computation_runs_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001")])
    ws.import_files("cases", [case_book(tmp_path / "c.xlsx", "H001")])
    ws.save_check("H001", True, {}, check.empty_findings(), [], errors=0, warnings=0)
    started, release = threading.Event(), threading.Event()
    real_compute = metrics.compute_institution

    def slow_compute(*args: object, **kwargs: object) -> metrics.InstitutionResults:
        started.set()
        release.wait(60)
        return real_compute(*args, **kwargs)

    monkeypatch.setattr(metrics.compute, "compute_institution", slow_compute)
    thread = threading.Thread(target=metrics.compute_workspace, args=(ws, ["H001"]))
    thread.start()
    try:
        assert started.wait(60)
        with pytest.raises(CwdxError) as refused:
            Workspace(ws.path).unfreeze(["H001"], stage="check")
    finally:
        release.set()
        thread.join(60)
    assert refused.value.message == BUSY.format("指标计算")
    assert ws.institution("H001").stage == "已计算"


def test_interrupt_exits_with_a_documented_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.commands, "cmd_status", interrupted)
    code, out, err = _main(capsys, "-w", str(tmp_path / "ws"), "status")
    assert (code, out) == (2, "")
    assert err == "操作已中断，未完成的操作不会留下数据；如需完成，请重新运行该命令。\n"


def test_app_server_failing_exits_with_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import cwdx.app

    monkeypatch.setattr(
        cwdx.app, "serve", lambda edition, workspace, port, max_kernels=None, **_: 1
    )
    code, out, err = _main(capsys, "app", "institution", "--workspace", str(tmp_path / "ws"))
    assert (code, out) == (3, "")
    assert err == "网页服务意外停止，请重新启动应用；如仍不能启动，请把日志文件发给技术支持。\n"


# -------------------------------------------------------------------- full and read-only disks


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only); skipped where mounting is impossible."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"无法挂载 tmpfs 来模拟磁盘已满或只读：{done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _cwdx(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CWDX_LOG_DIR": str(tmp_path / "logs")}
    env.pop("CWDX_TEST_PAUSE_AT", None)
    exe = Path(sys.executable).with_name("cwdx")
    return subprocess.run(
        [str(exe), "--quiet", *argv], capture_output=True, text=True, env=env, timeout=300
    )


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler.write_bytes(b"\0" * max(0, free - leave))
    return filler


def test_import_on_a_full_disk_is_named_and_leaves_the_workspace_as_it_was(
    tmp_path: Path, small_disk: Path
) -> None:
    ws = small_disk / "ws"
    done = _cwdx(
        tmp_path, "-w", str(ws), "import", "staff", str(staff_book(tmp_path / "s.xlsx", "H001"))
    )
    assert done.returncode == 0, done.stderr
    rows = [case_row("H001", f"BA{i:05d}") for i in range(3000)]
    big = write_book(tmp_path / "big.xlsx", "cases", rows)
    before = _data_files(ws)
    filler = _fill(small_disk, 40_000)

    done = _cwdx(tmp_path, "-w", str(ws), "import", "cases", str(big))
    assert done.returncode == 2
    assert done.stderr.startswith(f"工作区 {ws} 所在的磁盘空间不足，")
    assert done.stderr.endswith("未完成，工作区中已有的数据不受影响；请清理磁盘空间后重试。\n")
    assert done.stderr.count("\n") == 1  # one sentence, no traceback, no logging error

    filler.unlink()
    assert _data_files(ws) == before
    status = _cwdx(tmp_path, "-w", str(ws), "status")
    assert status.returncode == 0 and status.stderr == ""
    assert "共 1 个机构；病案记录 0 行，申报人员 1 行。" in status.stdout
    again = _cwdx(tmp_path, "-w", str(ws), "import", "cases", str(big))
    assert again.returncode == 0, again.stderr
    assert "导入 3000 行" in again.stdout


def test_disk_full_during_a_later_file_names_the_files_already_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from cwdx.workspace import files

    ws = Workspace(tmp_path / "ws")
    first = staff_book(tmp_path / "一.xlsx", "H001")
    second = staff_book(tmp_path / "二.xlsx", "H002")
    real_write = files.write_parquet_atomic

    def write_until_full(table: object, target: Path, **options: bool) -> None:
        if "/H002/" in target.as_posix():
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(table, target, **options)

    monkeypatch.setattr(files, "write_parquet_atomic", write_until_full)
    with pytest.raises(CwdxError) as full:
        ws.import_files("staff", [first, second])
    assert full.value.message == (
        f"已导入文件 一.xlsx；工作区 {ws.path} 所在的磁盘空间不足，导入文件“二.xlsx”未完成，"
        "工作区中已有的数据不受影响；请清理磁盘空间后重试。"
    )
    assert [(i.org, i.staff) for i in ws.institutions()] == [("H001", 1)]
    assert _data_files(ws.path) == ["data/staff/H001/1.parquet"]


def test_export_to_a_full_disk_is_one_chinese_sentence(
    filled: Path, tmp_path: Path, small_disk: Path
) -> None:
    _fill(small_disk, 20_000)
    done = _cwdx(tmp_path, "-w", str(filled), "export", "feedback", str(small_disk / "out"))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "无法写入输出文件（磁盘空间不足），请关闭已打开的同名文件、检查磁盘空间和权限，"
        "或换一个输出文件夹后重试。\n"
    )


def test_read_only_workspace_can_be_read_and_exported_but_not_changed(
    tmp_path: Path, small_disk: Path
) -> None:
    ws = small_disk / "ws"
    staff = staff_book(tmp_path / "s.xlsx", "H001")
    for table, book in (("staff", staff), ("cases", case_book(tmp_path / "c.xlsx", "H001"))):
        assert _cwdx(tmp_path, "-w", str(ws), "import", table, str(book)).returncode == 0
    assert _cwdx(tmp_path, "-w", str(ws), "check").returncode in (0, 1)
    files = _data_files(ws)
    remount = subprocess.run(
        ["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True
    )
    if remount.returncode != 0:
        pytest.skip(f"无法把 tmpfs 重新挂载为只读：{remount.stderr.strip()}")

    status = _cwdx(tmp_path, "-w", str(ws), "status")
    assert (status.returncode, status.stderr) == (0, "")
    assert "共 1 个机构；病案记录 1 行，申报人员 1 行。" in status.stdout
    export = _cwdx(tmp_path, "-w", str(ws), "export", "feedback", str(tmp_path / "out"))
    assert (export.returncode, export.stderr) == (0, "")
    assert (tmp_path / "out" / "H001" / "病案首页反馈表.xlsx").is_file()

    for argv, operation in (
        (["import", "staff", str(staff)], "导入申报人员信息自然表"),
        (["delete", "all", "--everything"], "删除数据"),
        (["unfreeze", "--everything"], "解冻数据"),
    ):
        done = _cwdx(tmp_path, "-w", str(ws), *argv)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", _read_only(ws, operation))
    assert _data_files(ws) == files
