"""The 平台版 page (cwdx_widgets.platform) on a temporary workspace: the institution table
(filter, search, sort, paging, ticks, 全选), every action submitting the right task, the 确认
gate, the result dialogs, downloads through the login-protected handler, the task log and the
monitor. Tasks are only queued here (no dispatcher runs); their ends are recorded the way the
dispatcher records them."""

from __future__ import annotations

import html
import io
import re
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from ws_helper import case_row, staff_row, write_book

from cwdx.check import check_workspace
from cwdx.errors import CwdxError
from cwdx.page_kernel import USER_ENV
from cwdx.workspace import STAGE_FAILED, STAGE_PASSED, STAGE_UPLOADED, Workspace
from cwdx_widgets.platform import PlatformApp, current_user
from cwdx_widgets.platform.monitor import monitor_html
from cwdx_widgets.platform.page import TABS
from cwdx_widgets.platform.rows import InstitutionRows, summarise

ORGS = ("H001", "H002", "H003")


def plain(value: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", value)).split())


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """H001 passed its check (one warning), H002 failed (one error), H003 only uploaded."""
    tmp_path = tmp_path_factory.mktemp("platform")
    workspace = Workspace(tmp_path / "ws")
    cases = [case_row(org, f"BA{org}{i}") for org in ORGS for i in range(2)]
    staff = [
        staff_row("H001", "甲", cert="C1"),
        staff_row("H002", "乙", cert="C2", 性别="男"),
        staff_row("H003", "丙", cert="C3"),
    ]
    write_book(tmp_path / "cases.xlsx", "cases", cases)
    write_book(tmp_path / "staff.xlsx", "staff", staff)
    workspace.import_files("cases", [tmp_path / "cases.xlsx"])
    workspace.import_files("staff", [tmp_path / "staff.xlsx"])
    check_workspace(workspace, ["H001", "H002"])
    workspace.close()
    return tmp_path / "ws"


@pytest.fixture
def ws(demo_folder: Path, tmp_path: Path) -> Workspace:
    """A copy of the demo workspace for one test."""
    shutil.copytree(demo_folder, tmp_path / "ws")
    return Workspace(tmp_path / "ws", create=False)


@pytest.fixture
def app(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> PlatformApp:
    monkeypatch.setenv(USER_ENV, "张三")
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    return PlatformApp(ws.path)


def click(button) -> None:
    """A click as the browser sends it."""
    button.fire_event("click", {})


def finish(ws: Workspace, task_id: int, state: str, details: dict) -> None:
    """Record a task's end as the dispatcher does."""
    assert ws.claim_task(task_id)
    ws.finish_task(task_id, state, details)


def test_login_user_names_the_page_and_its_tasks(app: PlatformApp, ws: Workspace) -> None:
    assert app.user == "张三" and app.signed_in
    app.table.tick(["H001"])
    click(app.buttons["提交检测任务"])
    [task] = ws.tasks()
    assert (task.kind, task.orgs, task.started_by, task.state) == (
        "check",
        ["H001"],
        "张三",
        "Queued",
    )


def test_without_login_the_os_user_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    monkeypatch.delenv(USER_ENV, raising=False)
    assert current_user() == (getpass.getuser(), False)


def test_table_rows_summary_and_columns(app: PlatformApp) -> None:
    items = {row["org"]: row for row in app.table.view.items}
    assert list(items) == list(ORGS)
    assert [h["title"] for h in app.table.view.headers] == [
        "组织机构代码",
        "医疗机构名称",
        "病案记录数",
        "申报人员数",
        "阶段",
        "冻结",
        "错误",
        "警告",
        "检测时间",
        "计算时间",
    ]
    assert (items["H001"]["stage"], items["H001"]["errors"], items["H001"]["warnings"]) == (
        STAGE_PASSED,
        0,
        1,
    )
    assert (items["H002"]["stage"], items["H002"]["errors"], items["H002"]["frozen"]) == (
        STAGE_FAILED,
        1,
        "是",
    )
    assert (items["H003"]["stage"], items["H003"]["errors"], items["H003"]["checked_at"]) == (
        STAGE_UPLOADED,
        "",
        "",
    )
    assert (items["H001"]["cases"], items["H001"]["staff"]) == (2, 1)
    lines = [c.children[0] for c in app.table.summary.children]
    assert lines == [
        "共 3 个机构：已上传（未检测）1 个，检测未通过 1 个。",
        "检测通过 1 个机构（含已计算），病案 2 条，申报人员 1 人。",
        "已计算 0 个机构，病案 0 条，申报人员 0 人。",
    ]


def test_stage_filter_search_and_select_all(app: PlatformApp) -> None:
    app.table.stage.v_model = STAGE_FAILED
    assert [r["org"] for r in app.table.view.items] == ["H002"]
    click(app.table.tick_all_btn)  # 全选 ticks what the filter shows
    assert app.table.selected() == ["H002"]
    app.table.stage.v_model = "全部阶段"
    app.table.search.v_model = "h00"
    assert len(app.table.view.items) == 3
    app.table.search.v_model = "H003"
    assert [r["org"] for r in app.table.view.items] == ["H003"]
    click(app.table.tick_all_btn)
    assert app.table.selected() == ["H002", "H003"]  # a hidden tick stays
    assert app.table.counter.children == ["已勾选 2 个机构；显示 1 个，共 3 个"]
    app.table.search.v_model = ""
    click(app.table.untick_btn)
    assert app.table.selected() == []


def test_browser_ticks_follow_the_checkboxes(app: PlatformApp) -> None:
    app.table.view.selected = ["H001", "H003"]  # the browser ticked two rows
    assert app.table.selected() == ["H001", "H003"]
    click(app.buttons["提交检测任务"])
    assert app.ws.tasks()[0].orgs == ["H001", "H003"]


def test_institutions_with_errors_cannot_be_ticked_for_computation(
    app: PlatformApp, ws: Workspace
) -> None:
    app.table.tick_all()
    assert app.table.selected() == list(ORGS)
    app.table.purpose.v_model = "计算"
    selectable = {r["org"]: r["selectable"] for r in app.table.view.items}
    assert selectable == {"H001": True, "H002": False, "H003": False}
    assert app.table.selected() == ["H001"]
    assert "有错误或尚未检测通过的机构不能勾选" in app.table.purpose_note.children[0]
    assert "已取消勾选 2 个不能计算的机构" in app.table.purpose_note.children[0]
    app.table.view.selected = ["H001", "H002"]  # a stale browser tick of H002 is refused
    assert app.table.selected() == ["H001"]
    click(app.buttons["提交计算任务"])
    [task] = ws.tasks()
    assert (task.kind, task.orgs, task.started_by) == ("compute", ["H001"], "张三")


def test_compute_of_mixed_ticks_names_what_was_left_out(app: PlatformApp, ws: Workspace) -> None:
    app.table.tick_all()
    click(app.buttons["提交计算任务"])
    assert ws.tasks()[0].orgs == ["H001"]
    assert (
        app.snackbar.text
        == f"已提交任务 {ws.tasks()[0].id}：计算 1 个机构（另有 2 个机构不能计算，未提交）。进度见右上角。"
    )
    app.table.tick(["H001"], on=False)
    click(app.buttons["提交计算任务"])
    assert len(ws.tasks()) == 1
    assert app.snackbar.kind == "error"
    assert app.snackbar.text.startswith("勾选的 2 个机构都不能计算（例如 H002：数据检测有错误")


def test_nothing_ticked_is_refused_in_chinese(app: PlatformApp, ws: Workspace) -> None:
    click(app.buttons["提交检测任务"])
    assert app.snackbar.text == "请先在机构列表中勾选要检测的机构。"
    assert app.snackbar.kind == "error" and app.snackbar.widget.v_model is True
    assert ws.tasks() == []


def test_check_result_dialog_lists_errors_red_and_warnings_yellow(
    app: PlatformApp, ws: Workspace
) -> None:
    app.table.tick(["H001", "H002"])
    click(app.buttons["提交检测任务"])
    task_id = ws.tasks()[0].id
    assert app.watcher.mine == {task_id}
    app.watcher.poll()
    [bar] = app.watcher.widget.children
    assert bar.children[1].children == [f"任务 {task_id} 数据检测：排队中"]
    orgs = {
        "H001": {"passed": True, "errors": 0, "warnings": 1, "failed_rules": []},
        "H002": {"passed": False, "errors": 1, "warnings": 0, "failed_rules": ["W05"]},
    }
    finish(ws, task_id, "Succeeded", {"orgs": orgs})
    app.watcher.poll()
    assert app.result.is_open
    assert app.result_title.children == [f"任务 {task_id} 完成"]
    body = app.result_body.value
    assert (
        body.count('class="cwdx-count-error"') == 1
        and body.count('class="cwdx-count-warning"') == 1
    )
    assert "H002 未通过 1 0 W05" in plain(body)
    assert "H001 通过 0 1" in plain(body)
    assert app.watcher.widget.children == []  # nothing runs any more


def test_compute_dialog_counts_matched_and_unmatched(app: PlatformApp, ws: Workspace) -> None:
    app.table.tick(["H001"])
    click(app.buttons["提交计算任务"])
    task_id = ws.tasks()[0].id
    app.watcher.poll()
    finish(ws, task_id, "Succeeded", {"orgs": {"H001": {"staff": 3, "matched": 2, "unmatched": 1}}})
    app.watcher.poll()
    assert "组织机构代码 申报人员 已匹配 未匹配 H001 3 2 1" in plain(app.result_body.value)


def test_downloads_are_tasks_and_links_go_through_the_login(
    app: PlatformApp, ws: Workspace
) -> None:
    expected = {
        "下载所有机构病案首页反馈表": "feedback_cases",
        "下载所有机构申报人员信息反馈表": "feedback_staff",
        "下载精简版反馈信息表": "feedback_brief",
        "下载所有机构计算结果": "results",
    }
    for label, what in expected.items():
        click(app.buttons[label])
        task = ws.tasks()[0]
        assert (task.kind, task.params["what"], task.orgs) == ("export", what, [])
    app.watcher.poll()
    task_id = ws.tasks()[0].id
    finish(ws, task_id, "Succeeded", {"outputs": ["计算结果表-全部机构.xlsx", "计算结果表.zip"]})
    app.watcher.poll()
    links = [c.children[0] for c in app.downloads.widget.children]
    assert [a.attributes["href"] for a in links] == [
        f"/cwdx/download/{task_id}/%E8%AE%A1%E7%AE%97%E7%BB%93%E6%9E%9C%E8%A1%A8-%E5%85%A8%E9%83%A8%E6%9C%BA%E6%9E%84.xlsx",
        f"/cwdx/download/{task_id}/%E8%AE%A1%E7%AE%97%E7%BB%93%E6%9E%9C%E8%A1%A8.zip",
    ]
    assert all("voila/files" not in a.attributes["href"] for a in links)
    from cwdx.login import download_url  # the handler's own address of a file

    assert links[1].attributes["href"] == download_url(task_id, "计算结果表.zip")
    assert [b.href for b in app.result_actions.children] == [a.attributes["href"] for a in links]


def test_row_click_offers_the_institutions_own_download(app: PlatformApp, ws: Workspace) -> None:
    app.table.view.vue_row_click("H002")
    assert app.result.is_open
    body = plain(app.result_body.value)
    assert "阶段：已检测-未通过（已冻结）" in body and "不能计算：数据检测有错误" in body
    [button] = app.result_actions.children
    click(button)
    task = ws.tasks()[0]
    assert (task.kind, task.orgs, task.params["what"]) == ("export", ["H002"], "all")


def test_dangerous_actions_need_the_word_confirm(app: PlatformApp, ws: Workspace) -> None:
    ops = app.operations
    click(ops.buttons["强制清空所有上传数据（危险）"])
    assert ops.confirm.is_open
    assert ops.confirm.title.children == ["强制清空所有上传数据（危险）"]
    ops.confirm.field.v_model = "确定"
    assert ops.confirm.ok.disabled is True
    assert ops.confirm.confirm() is False  # a forced click with the wrong word
    assert ws.tasks() == []
    with pytest.raises(CwdxError, match="请在输入框中输入“确认”两个字后再点执行"):
        app.actions.global_action("强制清空所有上传数据（危险）", "确定")
    click(ops.buttons["清空所有人员数据（危险）"])
    ops.confirm.field.v_model = "确认"
    assert ops.confirm.ok.disabled is False
    click(ops.confirm.ok)
    assert not ops.confirm.is_open
    [task] = ws.tasks()
    assert (task.kind, task.params, task.started_by) == ("clear", {"what": "staff"}, "张三")
    click(ops.buttons["解冻所有数据"])
    click(ops.confirm.cancel)
    assert len(ws.tasks()) == 1
    click(ops.buttons["解冻所有数据"])
    ops.confirm.field.v_model = " 确认 "
    click(ops.confirm.ok)
    task = ws.tasks()[0]
    assert (task.kind, task.orgs, task.params) == ("unfreeze", [], {"stage": "check"})
    log_text = Path(ws.log_path).read_text(encoding="utf-8")
    assert "用户 张三 确认执行全局数据操作“清空所有人员数据（危险）”" in log_text
    assert "用户 张三 确认执行全局数据操作“解冻所有数据”" in log_text


def test_single_institution_operations(app: PlatformApp, ws: Workspace) -> None:
    ops = app.operations
    click(ops.buttons["删除病案首页数据"])  # nothing ticked
    assert app.snackbar.text == "请先在机构列表中勾选要删除数据的机构。"
    app.table.tick(["H003"])
    click(ops.buttons["删除病案首页数据"])
    assert "H003" in ops.confirm.text.children[0]
    ops.confirm.field.v_model = "确认"
    click(ops.confirm.ok)
    task = ws.tasks()[0]
    assert (task.kind, task.orgs, task.params["what"]) == ("delete", ["H003"], "cases")
    app.table.tick(["H001", "H002"])
    click(ops.buttons["在上传阶段解冻数据检测"])
    task = ws.tasks()[0]
    assert (task.kind, task.orgs, task.params) == ("unfreeze", list(ORGS), {"stage": "check"})
    click(ops.buttons["解冻数据检测和计算"])
    assert ws.tasks()[0].params == {"stage": "compute"}


def test_upload_then_submit_parsing(app: PlatformApp, ws: Workspace, tmp_path: Path) -> None:
    panel = app.imports["cases"]
    assert panel.submit.disabled is True
    book = write_book(tmp_path / "up.xlsx", "cases", [case_row("H009", "BA1")])
    panel.add_file("病案 首页/../甲.xlsx", book.read_bytes())
    panel.add_file("病案二.xlsx", book.read_bytes())
    assert "已上传 2 个文件" in panel.listing.value and "甲.xlsx" in panel.listing.value
    panel.add_file("旧格式.xls", b"x")
    assert app.snackbar.text.startswith("文件“旧格式.xls”不是 .xlsx 文件")
    click(panel.submit)
    task = ws.tasks()[0]
    assert (task.kind, task.params["table"], task.params["inbox"]) == ("import", "cases", False)
    files = [Path(f) for f in task.params["files"]]
    assert [f.name for f in files] == ["甲.xlsx", "病案二.xlsx"]
    assert all(f.is_absolute() and f.read_bytes() == book.read_bytes() for f in files)
    assert all(ws.path / "uploads" in f.parents for f in files)
    assert panel.files == [] and panel.submit.disabled is True


def test_inbox_import(app: PlatformApp, ws: Workspace, tmp_path: Path) -> None:
    click(app.inbox.button)
    assert app.snackbar.text.startswith("inbox 文件夹中没有 .xlsx 文件")
    write_book(ws.path / "inbox" / "b.xlsx", "staff", [staff_row("H001", "丁")])
    write_book(ws.path / "inbox" / "a.xlsx", "cases", [case_row("H001", "BA9")])
    app.inbox.refresh()
    assert "inbox 中有 2 个文件" in app.inbox.listing.value
    click(app.inbox.button)
    task = ws.tasks()[0]
    assert (task.kind, task.params["inbox"], task.params["table"]) == ("import", True, None)
    finish(
        ws,
        task.id,
        "Succeeded",
        {
            "files": [
                {"file": "a.xlsx", "table": "cases", "rows": 1, "rejected": None},
                {"file": "b.xlsx", "rows": 0, "rejected": "该文件有错误。"},
            ],
            "orgs": {"H001": {"rows": 1}},
        },
    )
    app.watcher.poll()
    overview = plain(app.import_overview.value)
    assert "a.xlsx：导入 1 行" in overview and "b.xlsx：未导入，该文件有错误。" in overview
    assert "组织机构代码 导入行数 H001 1" in overview


def test_task_log_rows_and_details(app: PlatformApp, ws: Workspace) -> None:
    app.table.tick(["H001"])
    click(app.buttons["提交检测任务"])
    task_id = ws.tasks()[0].id
    finish(ws, task_id, "Failed", {"error": "检测时发生错误：磁盘已满。"})
    app.watcher.poll()
    [row] = app.task_log.view.items
    assert (row["kind"], row["orgs"], row["user"], row["state_word"]) == (
        "数据检测",
        "H001",
        "张三",
        "失败",
    )
    assert row["start"] and row["end"]
    app.task_log.view.vue_task_click(task_id)
    assert app.result_title.children == [f"任务 {task_id} 详情"]
    assert "失败原因：检测时发生错误：磁盘已满。" in plain(app.result_body.value)


def test_progress_survives_a_reload(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from cwdx.tasks import submit_task

    task_id = submit_task(ws, "check", ["H001"], started_by="李四")
    assert ws.claim_task(task_id)
    ws.set_task_details(task_id, {"progress": {"done": 1, "total": 2, "label": "H001"}})
    page = PlatformApp(ws.path)  # a new page (reload) reads the task table
    [running] = page.watcher.widget.children
    bar, label = running.children
    assert label.children == [f"任务 {task_id} 数据检测：运行中（H001） 1/2"]
    assert (bar.model_value, bar.max) == (1, 2)


def test_watcher_thread_updates_the_widgets(app: PlatformApp, ws: Workspace, monkeypatch) -> None:
    from cwdx_widgets.platform import tasks as task_module

    monkeypatch.setattr(task_module, "POLL_SECONDS", 0.05)
    app.watcher.start()
    try:
        app.table.tick(["H001"])
        app.actions.check(["H001"])  # submitted elsewhere (another window)
        deadline = time.monotonic() + 20
        while not app.task_log.view.items and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [r["kind"] for r in app.task_log.view.items] == ["数据检测"]
    finally:
        app.watcher.stop()


def test_monitor_panel() -> None:
    assert "尚未报告" in monitor_html({})
    snapshot = {
        "time": "2026-12-02 12:00:00",
        "alive": True,
        "machine": {
            "cpu_count": 2,
            "cpu_percent": 12.5,
            "memory_percent": 40.0,
            "memory_used": 2 * 1024**3,
            "memory_total": 8 * 1024**3,
            "disk_percent": 71.0,
            "disk_used": 71 * 1024**3,
            "disk_total": 100 * 1024**3,
        },
        "dispatcher": {"pid": 42, "cpu_percent": 3.0, "memory_rss": 150 * 1024**2},
        "workers": [
            {
                "name": "0",
                "host": "127.0.0.1",
                "cpu_percent": 99.0,
                "memory": 512 * 1024**2,
                "memory_limit": 4 * 1024**3,
                "executing": 1,
                "disk_read_bps": 2 * 1024**2,
                "disk_write_bps": 0,
            }
        ],
        "history": [
            {"cpu_percent": 10, "memory_percent": 40},
            {"cpu_percent": 30, "memory_percent": 41},
        ],
        "dashboard": "http://127.0.0.1:8787/status",
    }
    page = monitor_html(snapshot)
    text = plain(page)
    assert "本机（2 核） 12.5 % 40.0 %（2.0 GB / 8.0 GB） 71.0 %（71.0 GB / 100.0 GB）" in text
    assert "调度进程（pid 42） 3.0 % 150.0 MB" in text
    assert "计算进程（1 个）" in text
    assert "0 127.0.0.1 99.0 % 512.0 MB / 4.0 GB 1 2.0 MB/秒 0.0 MB/秒" in text
    assert 'href="http://127.0.0.1:8787/status"' in page and page.count("<polyline") == 2
    assert "可能已停止" in monitor_html({**snapshot, "alive": False})


def test_about_and_log_dialogs_are_the_institution_editions(app: PlatformApp) -> None:
    from cwdx_widgets.vue import AboutDialog, LogDialog

    assert not app.about.panel.is_open and app.about.body.value == ""  # read when opened
    app.about.open()
    assert app.about.panel.is_open
    assert "指标口径版本" in app.about.body.value
    # one component serves both editions (the 机构版 saves the log file, this one a zip)
    assert isinstance(app.about, AboutDialog) and isinstance(app.logs, LogDialog)
    assert app.logs.panel.card.class_ == "cwdx-log-section"
    app.logs.open()
    assert "平台版页面已打开：用户 张三" in app.logs.text.value
    to_tasks = app.logs.body.children[2].children[-1]
    assert to_tasks.children == ["查看后台任务日志"]
    click(to_tasks)
    assert not app.logs.panel.is_open
    assert app.tabs.v_model == TABS.index("后台任务日志")


def test_debug_log_download_is_a_zip_of_the_log_files(app: PlatformApp, ws: Workspace) -> None:
    (Path(ws.log_path).parent / "cwdx.log.1").write_text("旧日志\n", encoding="utf-8")
    app.logs.open()  # the app bar's 日志: the log's tail, its folder, the zip of every log file
    assert app.logs.panel.is_open
    assert str(Path(ws.log_path).parent) in app.logs.folder.value
    assert app.logs.download.click() is True
    download = app.logs.download.last
    assert download is not None and download.filename == "调试日志.zip"
    with zipfile.ZipFile(io.BytesIO(download.data)) as zf:
        assert {"cwdx.log", "cwdx.log.1"} <= set(zf.namelist())
        assert zf.read("cwdx.log.1").decode("utf-8") == "旧日志\n"


def test_rows_paging_and_sorting() -> None:
    from cwdx.workspace.records import InstitutionInfo

    infos = [
        InstitutionInfo(f"H{i:04d}", f"医院{i}", STAGE_UPLOADED, False, i % 7, 1, "", "")
        for i in range(1000)
    ]
    rows = InstitutionRows(infos, per_page=50)
    page = rows.view(3)
    assert (page.matching, page.pages, page.page, page.rows[0]["org"]) == (1000, 20, 3, "H0100")
    rows.sort_by, rows.descending = "cases", True
    assert [r["cases"] for r in rows.view(1).rows[:3]] == [6, 6, 6]
    rows.search = "医院99"
    assert rows.view(1).matching == 11  # 医院99, 医院990 … 医院999
    assert summarise(infos).institutions == 1000


def test_opening_the_page_loads_no_pandas_or_dask(ws: Workspace) -> None:
    """The page's kernel stays light: the engines run in the dispatcher, not here."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from cwdx_widgets.platform import PlatformApp\n"
        f"app = PlatformApp({str(ws.path)!r}, user='x')\n"
        "app.monitor.refresh()\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'dask', 'distributed')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_open_workspace_failure_is_a_chinese_page_of_the_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cwdx_widgets.institution import ErrorPage
    from cwdx_widgets.platform.page import PlatformApp

    monkeypatch.setenv("CWDX_WORKSPACE", str(tmp_path / "missing"))
    page = PlatformApp.from_environment()
    assert isinstance(page, ErrorPage)
    assert page.bar.title_text == "临床工作数据提取 · 平台版"  # not the 机构版's bar
    assert page.alert.text and "Traceback" not in page.alert.text


def test_a_returning_user_follows_their_tasks_and_is_told_of_ended_ones(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cwdx.tasks import submit_task

    monkeypatch.setenv(USER_ENV, "张三")
    first = PlatformApp(ws.path)  # first visit: nothing to announce
    assert first.returning.widget.children == []
    running = submit_task(ws, "check", ["H001"], started_by="张三")
    waiting = submit_task(ws, "check", ["H003"], started_by="张三")
    other = submit_task(ws, "check", ["H002"], started_by="李四")
    assert ws.claim_task(running)
    # the tab was closed; a new one follows this user's unfinished tasks (not 李四's)
    back = PlatformApp(ws.path)
    assert back.watcher.mine == {running, waiting}
    ws.finish_task(running, "Succeeded", {"orgs": {"H001": {"passed": True, "errors": 0}}})
    back.watcher.poll()
    assert back.result.is_open and back.result_title.children == [f"任务 {running} 完成"]
    click(back.result.close_button)  # seen: never announced
    finish(ws, waiting, "Failed", {"error": "测试：失败原因"})
    finish(ws, other, "Succeeded", {})
    # B ended while no page showed it: the next visit announces it, with 查看
    later = PlatformApp(ws.path)
    assert [t.id for t in later.returning.tasks] == [waiting]
    [alert] = later.returning.widget.children
    assert f"任务 {waiting}（数据检测）失败" in " ".join(
        str(c) for line in alert.children[1:-1] for c in line.children if isinstance(c, str)
    )
    view = alert.children[1].children[1]
    assert f"cwdx-notice-view-{waiting}" in view.class_
    click(view)
    assert later.result.is_open and later.result_title.children == [f"任务 {waiting} 失败"]
    assert "测试：失败原因" in later.result_body.value
    assert later.returning.widget.children == []
    assert PlatformApp(ws.path).returning.tasks == []  # told once


def test_the_page_kernel_imports_no_server_stack(tmp_path: Path) -> None:
    """The names the login and the page share live in a light module: building the page's
    imports loads neither jupyter_server nor the login (each ~0.8 s in every page's kernel)."""
    import subprocess
    import sys

    code = (
        "import sys, cwdx_widgets.platform, cwdx_widgets.institution, cwdx.page_kernel\n"
        "print(sorted(m for m in ('jupyter_server', 'cwdx.login', 'voila') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_a_preheated_page_takes_the_user_it_is_handed_to(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built before any request (no user yet), the page acts in the name the server passes
    when it hands the kernel to a request, and shows the workspace as it is then."""
    from cwdx import page_kernel

    monkeypatch.delenv(USER_ENV, raising=False)
    monkeypatch.setattr(page_kernel, "_PAGES", [])
    app = PlatformApp(ws.path)
    app.show()
    assert not app.signed_in and app.logout.disabled
    assert len(app.table.rows.infos) == 3
    book = write_book(tmp_path / "more.xlsx", "cases", [case_row("H009", "BA9")])
    ws.import_files("cases", [book])  # after the page was built (the CLI, another page)
    exec(page_kernel.request_code("李四"), {})  # what the server runs at the hand-out
    assert app.user == "李四" and app.signed_in and not app.logout.disabled
    assert app.user_chip.children == ["用户：李四"]
    assert [i.org for i in app.table.rows.infos] == ["H001", "H002", "H003", "H009"]
    app.table.tick(["H001"])
    click(app.buttons["提交检测任务"])
    assert [t.started_by for t in ws.tasks() if t.kind == "check"] == ["李四"]
    app.watcher.stop()


def test_a_preheated_page_follows_the_tasks_of_the_user_it_is_handed_to(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A returning user's tasks are looked up for the user of the request, not for whoever the
    preheated kernel ran as before it (its OS user)."""
    from cwdx import page_kernel
    from cwdx.tasks import submit_task

    monkeypatch.delenv(USER_ENV, raising=False)
    monkeypatch.setattr(page_kernel, "_PAGES", [])
    monkeypatch.setattr(page_kernel, "_HANDED_OUT", False)
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    running = submit_task(ws, "check", ["H001"], started_by="李四")
    app = PlatformApp(ws.path)
    app.show()
    assert app.watcher.mine == set()  # nobody's tasks before the hand-out
    assert not (ws.path / "notices").exists()
    exec(page_kernel.request_code("李四"), {})
    assert app.watcher.mine == {running}
    assert app.returning.user == "李四"
    app.watcher.stop()
