"""Headless tests of the institution app's components (no browser, no kernel)."""

from __future__ import annotations

import base64
import io
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from ws_helper import case_row, staff_row, write_book

from cwdx.errors import CwdxError
from cwdx.reference import load_reference
from cwdx.rules import RULE_IDS
from cwdx.workspace import STAGE_COMPUTED, STAGE_PASSED, STAGE_UPLOADED
from cwdx_widgets.institution import ErrorPage, InstitutionApp
from cwdx_widgets.sections import APPEND_NOTICE
from cwdx_widgets.vue import (
    UNEXPECTED,
    AboutDialog,
    Download,
    LoadingBtn,
    Message,
    download_script,
)


def xlsx_bytes(tmp_path: Path, name: str, table: str, rows: list[dict]) -> tuple[str, bytes]:
    """An upload: the file name and the bytes of a workbook with the template header."""
    path = write_book(tmp_path / f"src-{name}", table, rows)
    return name, path.read_bytes()


def cases_upload(tmp_path: Path, name: str = "病案首页-1.xlsx", n: int = 2, org: str = "H001"):
    rows = [case_row(org, f"BA{i:05d}") for i in range(n)]
    return xlsx_bytes(tmp_path, name, "cases", rows)


def staff_upload(tmp_path: Path, name: str = "申报人员.xlsx", org: str = "H001", **extra):
    return xlsx_bytes(tmp_path, name, "staff", [staff_row(org, "张三", **extra)])


def workbook_rows(data: bytes) -> list[list[object]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def html_text(value: str) -> str:
    """The visible text of an HTML fragment (tags removed)."""
    return re.sub(r"<[^>]+>", "", value)


def table_text(table) -> str:
    """A DataTable's caption and every cell it holds, as text."""
    cells = [str(v) for item in table.items for k, v in item.items() if not k.startswith("_")]
    return "\n".join([table.caption, *cells])


def shown(widget) -> bool:
    """Whether a Vuetify widget is shown (no ``d-none`` class)."""
    return "d-none" not in (widget.class_ or "").split()


@pytest.fixture
def dispatch() -> Iterator[Callable[[Path], None]]:
    """``dispatch(workspace)``: run the workspace's task dispatcher in this process (a thread,
    ``workers=1``: no Dask cluster) until the test ends, holding the dispatcher lock as
    ``cwdx dispatch`` does (the page sees a live dispatcher), as ``cwdx app`` runs it beside
    the page; the page's buttons submit tasks and wait for it."""
    from cwdx.tasks.dispatcher import Dispatcher, release_dispatcher_lock, try_dispatcher_lock

    running: list[tuple[Dispatcher, threading.Thread, int]] = []

    def _start(workspace: Path) -> None:
        fd = try_dispatcher_lock(workspace)
        assert fd is not None
        dispatcher = Dispatcher(workspace, workers=1, monitor_every=60)
        thread = threading.Thread(target=dispatcher.serve, kwargs={"poll": 0.05}, daemon=True)
        thread.start()
        running.append((dispatcher, thread, fd))

    yield _start
    for dispatcher, thread, fd in running:
        dispatcher.stop()
        thread.join(60)
        release_dispatcher_lock(fd)


@pytest.fixture
def app(tmp_path: Path, dispatch: Callable[[Path], None]) -> InstitutionApp:
    page = InstitutionApp(tmp_path / "ws")
    dispatch(page.ws.path)
    return page


# ------------------------------------------------------------------------------- helpers


def test_loading_button_reports_errors_and_reenables() -> None:
    alert = Message()
    calls: list[str] = []

    def fails(on_progress):
        on_progress(1, 2, "第一步")
        calls.append("run")
        raise RuntimeError("boom")

    button = LoadingBtn("开始检测", fails, alert, "x")
    assert button.click() is False
    assert calls == ["run"]
    assert alert.kind == "error"
    assert alert.text == UNEXPECTED.format(action="开始检测", kind="RuntimeError")
    assert alert.alert.children == [alert.text]  # no exception text or traceback in the page
    assert button.button.disabled is False
    assert not button.progress.running

    def refused(_on_progress):
        raise CwdxError("工作区正忙，请稍后再试。")

    button = LoadingBtn("开始导入", refused, alert, "y")
    button.click()
    assert alert.text == "工作区正忙，请稍后再试。"


def test_loading_button_shows_progress_while_running() -> None:
    seen: dict[str, object] = {}

    def action(on_progress):
        seen["while"] = (button.button.disabled, button.button.loading, button.progress.running)
        seen["status"] = button.progress.text
        on_progress(1, 4, "正在导入 病案.xlsx")
        bar = button.progress.bar
        seen["progress"] = (bar.model_value, bar.max, button.progress.text)

    button = LoadingBtn("开始导入", action, Message(), "p")
    assert not button.progress.running
    assert button.click() is True
    assert seen == {
        "while": (True, True, True),  # disabled and spinning, the bar shown
        "status": "正在处理，请稍候…",
        "progress": (1, 4, "正在导入 病案.xlsx 1/4"),
    }
    assert (button.button.disabled, button.progress.running) == (False, False)
    assert button.progress.text == ""


def click_message(sent: datetime) -> dict:
    """The comm message a browser sends for a click, sent at ``sent``."""
    data = {"method": "custom", "content": {"event": "click", "data": {}}}
    return {"header": {"date": sent.isoformat()}, "content": {"data": data}, "buffers": []}


def test_loading_button_ignores_clicks_while_disabled_or_queued() -> None:
    alert = Message()
    runs: list[int] = []

    def action(_progress):
        time.sleep(0.02)
        runs.append(1)

    button = LoadingBtn("开始计算", action, alert, "z")
    button.enabled = False
    button._on_click(button.button, "click", {})
    assert runs == []
    button.enabled = True
    first = datetime.now(UTC)
    button.button._handle_msg(click_message(first))
    # a second click of a double click, sent while the first ran, is handled after it
    button.button._handle_msg(click_message(first + timedelta(milliseconds=1)))
    assert runs == [1]
    button.button._handle_msg(click_message(datetime.now(UTC)))  # a new click
    assert runs == [1, 1]


def test_download_script_carries_file_name_and_bytes() -> None:
    script = download_script(Download("计算结果表.xlsx", b"\x00\x01abc"))
    assert '"\\u8ba1\\u7b97\\u7ed3\\u679c\\u8868.xlsx"' in script
    assert base64.b64encode(b"\x00\x01abc").decode() in script


# ------------------------------------------------------------------------------- page


def test_empty_workspace_page(app: InstitutionApp) -> None:
    assert "工作区中还没有数据" in app.status_text
    body = app.cases.widget.children[1].children
    notices = [w for w in body if "cwdx-cases-notice" in (getattr(w, "class_", "") or "")]
    assert [n.children for n in notices] == [[APPEND_NOTICE]]
    assert app.tab == "templates"  # the flow starts at 查看表样
    assert app.bar.title_text == "临床工作数据提取 · 机构版"
    assert app.stage.stage == ""
    assert html_text(app.cases.count.value) == "当前工作区中病案首页数据：0 条。"
    assert app.check.run.button.disabled is True
    assert app.compute.run.button.disabled is True
    assert all(d.button.button.disabled for d in app.check.feedback.values())
    assert app.compute.download.button.button.disabled is True
    assert app.check.run.click() is False  # a disabled button does nothing
    assert app.check.alert.text == ""


def test_open_workspace_failure_is_a_chinese_page(tmp_path: Path, monkeypatch) -> None:
    not_a_workspace = tmp_path / "busy"
    not_a_workspace.mkdir()
    (not_a_workspace / "other.txt").write_text("x")
    monkeypatch.setenv("CWDX_WORKSPACE", str(not_a_workspace))
    page = InstitutionApp.from_environment()
    assert isinstance(page, ErrorPage)
    assert page.alert.text.startswith(f"文件夹 {not_a_workspace} 不是空文件夹")


def test_template_downloads(app: InstitutionApp) -> None:
    ref = load_reference()
    for table, name in (
        ("cases", "病案首页数据表样.xlsx"),
        ("staff", "申报人员信息自然表表样.xlsx"),
    ):
        download = app.templates.downloads[table]
        assert download.click() is True
        assert download.last.filename == name
        header = workbook_rows(download.last.data)[0]
        assert header == [spec.name for spec in ref.columns(table)]
        assert len(download.output.outputs) == 1  # the script that saves the file


def test_import_preview_and_delete(app: InstitutionApp, tmp_path: Path) -> None:
    section = app.cases
    section.set_files([cases_upload(tmp_path, n=3)])
    assert "已选择 1 个文件：病案首页-1.xlsx" in section.selected.value
    assert section.import_button.button.disabled is False
    assert section.import_button.click() is True
    assert section.alert.text == "导入完成：1 个文件，共 3 条。"
    assert "病案首页-1.xlsx：导入 3 条" in html_text(section.results.value)
    assert html_text(section.count.value) == "当前工作区中病案首页数据：3 条。"
    assert section.preview.caption == "预览：前 3 行（共 3 行）"
    assert section.preview.rows == 3
    assert "BA00002" in table_text(section.preview)
    assert [h["title"] for h in section.preview.table.headers][:2] == ["文件", "行号"]
    assert section.upload.value == ()
    assert "机构 H001（测试医院）：已上传；病案首页数据 3 条，申报人员 0 人。" in app.status_text
    assert app.stage.stage == STAGE_UPLOADED

    section.ask_delete()
    assert section.confirm.is_open
    assert "确定删除已导入的全部病案首页数据（3 条）吗？" in section.confirm.text.children[0]
    section.confirm.close()
    assert not section.confirm.is_open
    assert app.state.cases == 3

    section.ask_delete()
    assert section.confirm.confirm() is False  # the word 确认 not typed
    section.confirm.field.v_model = "确认"
    assert section.confirm.confirm() is True
    assert section.alert.text == "已删除病案首页数据 3 条。"
    assert app.state.cases == 0
    assert section.preview.rows == 0 and section.preview.caption == ""
    assert section.delete_button.disabled is True


def test_rejected_file_imports_nothing(app: InstitutionApp, make_xlsx) -> None:
    columns = [spec.name for spec in load_reference().columns("staff")]
    row = staff_row("H001", "张三")
    path = make_xlsx("extra.xlsx", [[*columns, "备注"], [row.get(c) for c in columns]])
    app.staff.set_files([("人员-多一列.xlsx", path.read_bytes())])
    app.staff.import_button.click()
    assert app.staff.alert.kind == "error"
    assert app.staff.alert.text.startswith("共 1 个文件：导入 0 个（0 人），1 个文件未导入")
    results = html_text(app.staff.results.value)
    assert "人员-多一列.xlsx：未导入。" in results
    assert "备注" in results
    assert app.state.staff == 0
    assert app.state.institutions == []


def test_duplicate_file_needs_confirmation(app: InstitutionApp, tmp_path: Path) -> None:
    upload = cases_upload(tmp_path, n=2)
    app.cases.set_files([upload])
    app.cases.import_button.click()
    app.cases.set_files([upload])
    app.cases.import_button.click()
    assert app.cases.alert.text == (
        "共 1 个文件：导入 0 个（0 条），1 个文件未导入，原因见下方。"
        "内容重复的文件如确需再次导入，请点击“仍然导入（重复数据）”。"
    )
    first = app.ws.imported_files()[0]
    assert html_text(app.cases.results.value) == (
        f"病案首页-1.xlsx：未导入。内容与 {first.time} 已导入的文件“病案首页-1.xlsx”完全相同，"
        "为避免重复数据未再次导入。如确需再次导入，请点击“仍然导入（重复数据）”。"
    )  # the page names its button, not a command line (the workspace says "--force")
    assert shown(app.cases.force_button.widget)
    assert app.state.cases == 2
    app.cases.force_button.click()
    assert app.cases.alert.text == "导入完成：1 个文件，共 2 条。"
    assert app.state.cases == 4
    assert not shown(app.cases.force_button.widget)


def test_check_compute_and_downloads(app: InstitutionApp, tmp_path: Path) -> None:
    app.cases.set_files([cases_upload(tmp_path, n=3)])
    app.cases.import_button.click()
    # staff still missing: the check says which table instead of running
    missing = "还没有导入申报人员信息，请先在上方“导入申报人员信息”中导入，再开始检测。"
    assert html_text(app.check.hint.value) == missing
    assert app.check.run.click() is False
    assert app.check.alert.text == missing
    assert app.state.institutions[0].stage == STAGE_UPLOADED
    app.staff.set_files([staff_upload(tmp_path)])
    app.staff.import_button.click()
    assert app.check.run.button.disabled is False

    assert app.check.run.click() is True
    assert app.check.alert.text == "检测完成：没有错误，可以进行指标计算。"
    assert app.state.institutions[0].stage == STAGE_PASSED
    assert html_text(app.check.verdict.value) == "数据检测通过"
    assert "错误 0 个，警告 0 个" in app.check.rules.value
    rules = app.check.rules.value
    assert rules.count("<tr") == 1 + len(RULE_IDS)  # every rule, zero counts included
    assert app.check.run.button.disabled is True  # frozen
    for table, name in (("cases", "病案首页反馈表.xlsx"), ("staff", "申报人员反馈表.xlsx")):
        download = app.check.feedback[table]
        assert download.click() is True, app.check.alert.text
        assert download.last.filename == name
        assert workbook_rows(download.last.data)[0][0] == "规则编号"
    brief = app.check.feedback["brief"]
    assert brief.click() is True, app.check.alert.text
    assert brief.last.filename == "精简版反馈信息表.xlsx"
    rows = workbook_rows(brief.last.data)
    assert rows[0][:5] == ["组织机构代码", "医疗机构名称", "病案记录数", "申报人员数", "检测结果"]
    assert rows[1][:5] == ["H001", "测试医院", 3, 1, "通过"]

    assert app.compute.run.button.disabled is False
    assert app.compute.run.click() is True, app.compute.alert.text
    assert app.compute.alert.text == "计算完成：可以保存计算结果表。"
    assert app.state.institutions[0].stage == STAGE_COMPUTED
    assert (
        html_text(app.compute.summary.value)
        == "指标汇总：申报人员 1 人，已匹配 1 人，未匹配 0 人。"
    )
    assert "张三" in table_text(app.compute.preview)
    assert app.compute.download.click() is True, app.compute.alert.text
    assert app.compute.download.last.filename == "计算结果表.xlsx"

    # deleting the cases of a computed institution unfreezes it after confirmation
    app.cases.ask_delete()
    assert "检测结果和计算结果一并清除" in app.cases.confirm.text.children[0]
    app.cases.confirm.field.v_model = "确认"
    assert app.cases.confirm.confirm() is True
    assert app.state.institutions[0].stage == STAGE_UPLOADED
    assert app.state.cases == 0
    assert app.check.verdict.value == ""
    # the messages of the check and the compute went with their results
    assert app.check.alert.text == ""
    assert app.compute.alert.text == ""
    assert app.compute.summary.value == ""


def test_check_and_compute_run_as_tasks_of_the_dispatcher(
    app: InstitutionApp, tmp_path: Path
) -> None:
    from cwdx.tasks import dispatcher_alive

    assert dispatcher_alive(app.ws.path)  # the fixture's, as cwdx app starts one
    app.cases.set_files([cases_upload(tmp_path, n=2)])
    app.cases.import_button.click()
    app.staff.set_files([staff_upload(tmp_path)])
    app.staff.import_button.click()
    shown: list[tuple[int, int, str]] = []
    app.check.run.progress.update = lambda done, total, label="": shown.append((done, total, label))
    assert app.check.run.click() is True, app.check.alert.text
    assert app.compute.run.click() is True, app.compute.alert.text
    tasks = app.ws.tasks()
    assert [(t.kind, t.orgs, t.started_by, t.state) for t in reversed(tasks)] == [
        ("import", [], "机构版", "Succeeded"),
        ("import", [], "机构版", "Succeeded"),
        ("check", ["H001"], "机构版", "Succeeded"),
        ("compute", ["H001"], "机构版", "Succeeded"),
    ]
    # the page showed the task's progress as the dispatcher recorded it
    assert shown and shown[-1][0] == shown[-1][1]
    # the uploads waited under the workspace for their import task and are gone
    assert list((app.ws.path / "uploads").iterdir()) == []


def test_failed_check_task_shows_its_chinese_error(
    app: InstitutionApp, tmp_path: Path, monkeypatch
) -> None:
    import cwdx.check

    def fails(*_args, **_kwargs):
        raise CwdxError("病案首页数据文件已损坏，请重新导入后再检测。")

    app.cases.set_files([cases_upload(tmp_path, n=2)])
    app.cases.import_button.click()
    app.staff.set_files([staff_upload(tmp_path)])
    app.staff.import_button.click()
    monkeypatch.setattr(cwdx.check, "check_workspace", fails)  # the dispatcher's thread calls it
    assert app.check.run.click() is False
    assert app.check.alert.text == "病案首页数据文件已损坏，请重新导入后再检测。"
    assert app.ws.tasks()[0].state == "Failed"
    assert app.state.institutions[0].stage == STAGE_UPLOADED
    assert app.check.run.button.disabled is False  # nothing was checked: try again


def test_downloads_are_export_tasks_with_progress_and_chinese_failure(
    app: InstitutionApp, tmp_path: Path, monkeypatch
) -> None:
    import cwdx.feedback

    app.cases.set_files([cases_upload(tmp_path, n=2)])
    app.cases.import_button.click()
    app.staff.set_files([staff_upload(tmp_path)])
    app.staff.import_button.click()
    assert app.check.run.click() is True, app.check.alert.text
    seen: list[tuple[int, int, str]] = []
    download = app.check.feedback["cases"]
    shown = download.button.on_progress
    monkeypatch.setattr(download.button, "on_progress", lambda *a: (seen.append(a), shown(*a))[1])
    assert download.click() is True, app.check.alert.text
    task = app.ws.tasks()[0]
    # the workbook was written by the dispatcher's export task, as the 平台版's downloads are
    assert (task.kind, task.state, task.started_by) == ("export", "Succeeded", "机构版")
    assert task.params["what"] == "feedback_cases"
    assert task.details["outputs"] == ["H001-病案首页反馈表.xlsx"]
    saved = app.ws.path / "downloads" / str(task.id) / "H001-病案首页反馈表.xlsx"
    assert download.last.filename == "病案首页反馈表.xlsx"
    assert download.last.data == saved.read_bytes()
    assert seen and seen[-1] == (1, 1, "反馈表")  # the task's progress reached the button

    def fails(*_args, **_kwargs):
        raise CwdxError("磁盘空间不足，无法写入反馈表：请清理磁盘后重试。")

    monkeypatch.setattr(cwdx.feedback, "export_feedback", fails)  # the dispatcher calls it
    staff = app.check.feedback["staff"]
    assert staff.click() is False
    assert app.check.alert.text == "磁盘空间不足，无法写入反馈表：请清理磁盘后重试。"
    assert app.ws.tasks()[0].state == "Failed"
    assert staff.button.button.disabled is False  # try again after the fix


def test_check_without_dispatcher_says_how_to_start_it(tmp_path: Path, monkeypatch) -> None:
    import cwdx_widgets.task_state

    monkeypatch.setattr(cwdx_widgets.task_state, "NO_DISPATCHER_SECONDS", 0.2)
    page = InstitutionApp(tmp_path / "ws")  # opened without cwdx app: no dispatcher
    cases = write_book(tmp_path / "病案.xlsx", "cases", [case_row("H001", "BA1")])
    staff = write_book(tmp_path / "人员.xlsx", "staff", [staff_row("H001", "张三")])
    page.ws.import_files("cases", [cases])
    page.ws.import_files("staff", [staff])
    page.refresh()
    assert page.check.run.click() is False
    assert page.check.alert.text == (
        "后台任务调度进程没有运行，任务仍在排队：请关闭应用后用 cwdx app 重新启动"
        "（它会同时启动后台任务调度进程），再重试。"
    )
    assert [t.state for t in page.ws.tasks()] == ["Queued"]


def test_reopened_page_shows_the_stored_state(
    tmp_path: Path, dispatch: Callable[[Path], None]
) -> None:
    first = InstitutionApp(tmp_path / "ws")
    dispatch(first.ws.path)
    first.cases.set_files([cases_upload(tmp_path, n=2)])
    first.cases.import_button.click()
    first.staff.set_files([staff_upload(tmp_path)])
    first.staff.import_button.click()
    first.check.run.click()
    again = InstitutionApp(tmp_path / "ws")
    assert again.status_text == first.status_text
    assert again.check.verdict.value == first.check.verdict.value
    assert again.check.rules.value == first.check.rules.value
    assert again.cases.preview.caption == "预览：前 2 行（共 2 行）"
    assert again.cases.preview.items == first.cases.preview.items


def test_about_lists_versions_and_reference_hashes() -> None:
    import cwdx

    text = AboutDialog.render()
    assert f"产品版本：cwdx {cwdx.__version__}" in text
    assert f"指标口径版本：{cwdx.METRICS_VERSION}" in text
    for ref_file in load_reference().files:
        assert ref_file.file in text and ref_file.sha256 in text


def test_log_section(app: InstitutionApp, tmp_path: Path) -> None:
    app.cases.set_files([cases_upload(tmp_path, n=2)])
    app.cases.import_button.click()
    app.bar.log.fire_event("click", {})  # 日志 in the app bar opens the dialog
    assert app.logs.panel.is_open
    assert "上传 cases：1 个文件" in app.logs.text.value  # the app's own log line
    assert "病案首页-1.xlsx" in app.logs.text.value
    assert str(Path(app.ws.log_path).parent) in app.logs.folder.value
    app.logs.text.value = "edited"
    assert app.logs.text.value != "edited"  # a read-only copy
    assert app.logs.download.click() is True
    assert app.logs.download.last.filename == "cwdx.log"
    assert b"\xe5\xaf\xbc\xe5\x85\xa5" in app.logs.download.last.data  # "导入"


# ------------------------------------------------------------------------------- cwdx.app


def test_voila_config_allows_big_uploads_and_culls_idle_kernels() -> None:
    import json

    from cwdx import resources

    config = json.loads((resources.voila_config_dir() / "voila.json").read_text(encoding="utf-8"))
    size = config["Voila"]["tornado_settings"]["websocket_max_message_size"]
    assert isinstance(size, int) and size >= 100 * 1024 * 1024 * 4 // 3 + 10 * 1024 * 1024
    kernels = config["MappingKernelManager"]
    assert kernels["cull_idle_timeout"] > 0 and kernels["cull_interval"] > 0
    assert config["VoilaConfiguration"]["file_allowlist"] == []  # /voila/files/ serves nothing
    assert config["VoilaConfiguration"]["show_tracebacks"] is False
    # a busy PC may deliver the page's output seconds after the cell ended: wait for it
    # instead of serving a page without its widgets (nbclient's default is 4 s)
    assert config["VoilaExecutor"]["iopub_timeout"] >= 30


def test_voila_command_and_default_workspace(tmp_path: Path, monkeypatch) -> None:
    from cwdx import resources
    from cwdx.app import default_workspace, voila_command

    command = voila_command("institution", 9999)
    notebook = str(resources.notebook_dir() / "institution.ipynb")
    assert Path(notebook).is_file()
    assert command[1:4] == ["-m", "cwdx.serve_voila", notebook]
    assert "--CwdxVoila.edition=institution" in command
    assert "--port=9999" in command and "--Voila.ip=127.0.0.1" in command
    assert f"--Voila.config_file_paths={resources.voila_config_dir()}" in command
    assert (resources.voila_config_dir() / "voila.json").is_file()
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_workspace() == tmp_path / "cwdx" / "workspace"
    with pytest.raises(CwdxError, match="未知的应用版本“kiosk”"):
        voila_command("kiosk", 1)


def test_serve_passes_the_workspace_and_refuses_bad_folders(tmp_path: Path, monkeypatch) -> None:
    import cwdx.app

    started = {}

    class FakeVoila:
        def __init__(self, command, env):
            started.update(command=command, env=env)

        def wait(self, timeout=None):
            return 0

        def poll(self):
            return 0

    class FakeDispatcher:
        def __init__(self) -> None:
            self.running = True

        def alive(self) -> bool:
            return self.running

        def stop(self) -> None:
            self.running = False

    dispatchers: list[tuple[Path, FakeDispatcher]] = []

    def start_dispatcher(folder, workers, scheduler):
        dispatchers.append((folder, FakeDispatcher()))
        return dispatchers[-1][1]

    monkeypatch.setattr(cwdx.app.subprocess, "Popen", FakeVoila)
    monkeypatch.setattr(cwdx.app, "start_task_dispatcher", start_dispatcher)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert cwdx.app.serve("institution", tmp_path / "ws", port) == 0
    # the 机构版 runs its tasks on the workspace's dispatcher, stopped with the server
    assert [(folder, d.running) for folder, d in dispatchers] == [(tmp_path / "ws", False)]
    assert started["env"]["CWDX_WORKSPACE"] == str(tmp_path / "ws")
    assert (tmp_path / "ws" / "cwdx.sqlite").is_file()
    assert f"--port={port}" in started["command"]

    started.clear()
    with socket.socket() as busy:  # e.g. the app already runs: one Chinese sentence
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(CwdxError) as refused:
            cwdx.app.serve("institution", tmp_path / "ws", taken)
    assert refused.value.message == (
        f"端口 {taken} 已被占用（可能已有一个 cwdx 应用在运行，可直接用浏览器打开 "
        f"http://127.0.0.1:{taken}/）；如需再启动一个，请用 --port 指定其他端口，"
        f"例如 --port {taken + 1}。"
    )
    assert started == {}

    started.clear()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(CwdxError, match="不是空文件夹"):
        cwdx.app.serve("institution", other, 8899)
    assert started == {}


def test_refresh_shows_changes_made_elsewhere(app: InstitutionApp, tmp_path: Path) -> None:
    from cwdx.workspace import Workspace

    _, data = cases_upload(tmp_path, n=4)
    path = tmp_path / "命令行导入.xlsx"
    path.write_bytes(data)
    Workspace(app.ws.path).import_files("cases", [path])  # e.g. `cwdx -w WS import cases`
    assert app.state.cases == 0
    app.reload.click()
    assert app.state.cases == 4
    assert re.fullmatch(r"已重新读取工作区状态（\d\d:\d\d:\d\d）。", app.alert.text)
    assert "病案首页数据 4 条" in app.status_text
    assert app.cases.preview.caption == "预览：前 4 行（共 4 行）"


def test_import_into_a_checked_workspace_says_how_to_unfreeze(
    app: InstitutionApp, tmp_path: Path
) -> None:
    app.cases.set_files([cases_upload(tmp_path, n=2)])
    app.cases.import_button.click()
    app.staff.set_files([staff_upload(tmp_path)])
    app.staff.import_button.click()
    app.check.run.click()
    changed = xlsx_bytes(tmp_path, "申报人员-改.xlsx", "staff", [staff_row("H001", "李四")])
    app.staff.set_files([changed])
    app.staff.import_button.click()
    assert app.staff.alert.text == (
        "共 1 个文件：导入 0 个（0 人），1 个文件未导入，原因见下方。"
        "数据已检测（已冻结）：在本页面先点击“删除历史数据”（同时解冻），再重新导入。"
    )
    # the page's words, not the workspace's command line (cwdx -w … unfreeze …)
    assert html_text(app.staff.results.value) == (
        "申报人员-改.xlsx：未导入。文件含有已检测（已冻结）机构 H001（测试医院，已检测-通过）的数据，"
        "整个文件未导入。如需导入，请先点击“删除历史数据”（同时解冻），再重新导入；"
        "或从文件中删去该机构的行后重新导入。"
    )
    assert app.state.staff == 1


def test_two_institutions_give_zips_and_a_combined_results_book(
    app: InstitutionApp, tmp_path: Path
) -> None:
    import zipfile

    # the page imports one hospital only; the command line may fill a workspace with two
    rows = [case_row("H001", "BA1"), case_row("H002", "BA2", 医疗机构名称="第二医院")]
    staff = [staff_row("H001", "张三", cert="C1"), staff_row("H002", "李四", cert="C2")]
    app.ws.import_files("cases", [write_book(tmp_path / "两院病案.xlsx", "cases", rows)])
    app.ws.import_files("staff", [write_book(tmp_path / "两院人员.xlsx", "staff", staff)])
    app.refresh()
    app.check.run.click()
    assert [i.checked for i in app.state.institutions] == [True, True]
    assert app.check.rules.value.count("<h4>") == 2
    download = app.check.feedback["cases"]
    assert download.click() is True, app.check.alert.text
    assert download.last.filename == "所有机构病案首页反馈表.zip"
    names = sorted(zipfile.ZipFile(io.BytesIO(download.last.data)).namelist())
    assert names == ["H001/病案首页反馈表.xlsx", "H002/病案首页反馈表.xlsx"]
    assert [i.passed for i in app.state.institutions] == [True, True]
    assert app.compute.run.click() is True, app.compute.alert.text
    assert app.compute.download.click() is True, app.compute.alert.text
    book = openpyxl.load_workbook(io.BytesIO(app.compute.download.last.data), read_only=True)
    codes = [r[0] for r in book["指标汇总"].iter_rows(min_row=2, values_only=True)]
    assert sorted(codes) == ["H001", "H002"]


def test_failing_check_shows_red_rows_and_blocks_compute(
    app: InstitutionApp, tmp_path: Path
) -> None:
    app.cases.set_files([cases_upload(tmp_path, n=2)])
    app.cases.import_button.click()
    app.staff.set_files([staff_upload(tmp_path, 性别="男")])
    app.staff.import_button.click()
    assert app.check.run.click() is True
    assert html_text(app.check.verdict.value) == "数据检测不通过"
    assert app.check.alert.text == (
        "检测完成：本机构数据有错误，请保存反馈表，按反馈表修改数据后删除历史数据并重新导入。"
    )
    assert app.check.rules.value.count('class="cwdx-row-error"') == 1
    assert "“性别”，不在规定取值范围内（参见《申报人员信息自然表-性别》），共有1个字段。" in (
        app.check.rules.value
    )
    assert app.compute.run.button.disabled is True
    assert "数据检测不通过，不能计算" in app.compute.hint.value
    assert "机构 H001（测试医院）：已检测-未通过" in app.status_text


def test_workspace_head_equals_the_first_rows_of_load(tmp_path: Path) -> None:
    from cwdx.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    mixed = [case_row("H002" if i % 3 else "H001", f"BA{i:03d}") for i in range(7)]
    first = write_book(tmp_path / "a.xlsx", "cases", mixed)
    second = write_book(
        tmp_path / "b.xlsx", "cases", [case_row("H001", f"BB{i}") for i in range(4)]
    )
    ws.import_files("cases", [first, second])
    everything = ws.load("cases")
    for n in (1, 5, 7, 9, 100):
        head = ws.head("cases", n)
        assert head.equals(everything.head(n).reset_index(drop=True)), n
    assert len(ws.head("staff", 10)) == 0


def test_busy_workspace_is_a_message_not_a_crash(app: InstitutionApp, tmp_path: Path) -> None:
    import threading

    from cwdx.workspace import Workspace

    holding, release = threading.Event(), threading.Event()

    def other_session() -> None:  # e.g. a CLI check running in the same workspace
        with Workspace(app.ws.path).task("数据检测"):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=other_session)
    thread.start()
    try:
        assert holding.wait(10)
        app.cases.set_files([cases_upload(tmp_path, n=2)])
        assert app.cases.import_button.click() is False
    finally:
        release.set()
        thread.join()
    assert app.cases.alert.text == (
        "工作区正在进行另一项写入操作（数据检测），为避免数据损坏，本次操作未执行；请等其完成后再试。"
    )
    assert app.state.cases == 0
    assert "已选择 1 个文件" in app.cases.selected.value  # the choice is kept for a retry
    assert app.cases.import_button.click() is True
    assert app.cases.alert.text == "导入完成：1 个文件，共 2 条。"


def test_duplicate_offer_goes_once_the_data_is_checked(app: InstitutionApp, tmp_path: Path) -> None:
    upload = staff_upload(tmp_path)
    app.staff.set_files([upload])
    app.staff.import_button.click()
    app.staff.set_files([upload])
    app.staff.import_button.click()
    assert shown(app.staff.force_button.widget)
    app.cases.set_files([cases_upload(tmp_path, n=2)])
    app.cases.import_button.click()
    assert shown(app.staff.force_button.widget)  # still on offer
    assert app.check.run.click() is True
    # frozen now: a forced import would be refused, so the button is gone
    assert not shown(app.staff.force_button.widget)
    assert app.staff.force_button.click() is False  # nothing left to import: a message
    assert app.staff.alert.text == "请先点击“选择文件”选择要导入的 .xlsx 文件。"
    assert not shown(app.staff.force_button.widget)
    assert app.state.staff == 1


def test_a_refusal_offers_its_unfreeze_step_as_a_button(
    app: InstitutionApp, tmp_path: Path
) -> None:
    """The workspace's refusal carries its next step as data: the page shows the sentence
    (no command line) and a button beside the refused action that performs the unfreeze."""
    import pandas as pd
    from ws_helper import staff_book

    from cwdx_widgets.vue import report_exception

    app.ws.import_files("staff", [staff_book(tmp_path / "a.xlsx", "H001")])
    app.ws.save_check("H001", False, {"E01": 1}, pd.DataFrame(), [], errors=1, warnings=0)
    app.refresh()
    with pytest.raises(CwdxError) as refused:
        app.ws.require_stage("H001", "check")
    step = app.check.next_step
    assert app.check.run.next_step is step and not step.shown
    report_exception(app.check.alert, "数据检测", refused.value, step)
    assert app.check.alert.text == (
        "机构 H001（测试医院）处于「已检测-未通过」阶段，数据已冻结，不能重新检测；"
        "请先「在上传阶段解冻数据检测」后再操作。"
    )
    assert (step.shown, step.label) == (True, "在上传阶段解冻数据检测（H001）")
    step.button.fire_event("click", {})
    assert not step.shown
    assert app.ws.institution("H001").stage == STAGE_UPLOADED
    assert app.alert.text == "已解冻：H001（已检测-未通过 → 已上传）。"
    # an error without a next step shows no button
    report_exception(app.check.alert, "数据检测", CwdxError("工作区正忙。"), step)
    assert not step.shown


# ------------------------------------------------------------------------------- issue 11


def test_page_keeps_one_hospital_per_workspace(app: InstitutionApp, tmp_path: Path) -> None:
    from cwdx.templates import sample_row

    app.cases.set_files([cases_upload(tmp_path, n=2)])  # the first import defines it: H001
    app.cases.import_button.click()
    app.staff.set_files([staff_upload(tmp_path, "第二医院人员.xlsx", org="H002")])
    app.staff.import_button.click()
    assert html_text(app.staff.results.value) == (
        "第二医院人员.xlsx：未导入。文件“第二医院人员.xlsx”含有组织机构代码为 H002 的数据，"
        "而本工作区是机构 H001（测试医院）的工作区，整个文件未导入。机构版每个工作区只处理一家"
        "机构的数据：请核对文件中的“组织机构代码”，删去其他机构的行后重新导入。"
    )
    assert app.state.staff == 0
    assert [i.org for i in app.state.institutions] == ["H001"]

    # the template's sample row left in the file: imported, with a warning naming the row
    sample = {k: v for k, v in sample_row("staff").items() if v is not None}
    rows = [staff_row("H001", "张三"), {**sample, "组织机构代码": "H001"}]
    app.staff.set_files([xlsx_bytes(tmp_path, "申报人员-含示例.xlsx", "staff", rows)])
    app.staff.import_button.click()
    warning = (
        "注意：文件“申报人员-含示例.xlsx”第 3 行是表样中的示例数据（姓名 李明、执业证书编码 "
        "110330100012345），不是本机构的数据；请删除历史数据，从文件中删去该行后重新导入。"
    )
    assert app.staff.alert.kind == "warning"
    assert app.staff.alert.text == "导入完成：1 个文件，共 2 人。" + warning
    assert warning in html_text(app.staff.results.value)
    assert app.state.staff == 2

    # the sample row left as it is (the sample's own code): refused, the row named
    app.cases.set_files(
        [
            xlsx_bytes(
                tmp_path,
                "病案-含示例.xlsx",
                "cases",
                [
                    case_row("H001", "BA7"),
                    {k: v for k, v in sample_row("cases").items() if v is not None},
                ],
            )
        ]
    )
    app.cases.import_button.click()
    assert html_text(app.cases.results.value) == (
        "病案-含示例.xlsx：未导入。文件“病案-含示例.xlsx”含有组织机构代码为 12330100470000001X 的数据，"
        "而本工作区是机构 H001（测试医院）的工作区，整个文件未导入。机构版每个工作区只处理一家"
        "机构的数据：请核对文件中的“组织机构代码”，删去其他机构的行后重新导入。"
        "（文件第 3 行是表样中的示例数据，请删去该行。）"
    )


def test_page_refuses_a_file_of_two_hospitals(app: InstitutionApp, tmp_path: Path) -> None:
    rows = [case_row("H001", "BA1"), case_row("H002", "BA2", 医疗机构名称="第二医院")]
    app.cases.set_files([xlsx_bytes(tmp_path, "两院病案.xlsx", "cases", rows)])
    app.cases.import_button.click()
    assert html_text(app.cases.results.value) == (
        "两院病案.xlsx：未导入。文件“两院病案.xlsx”含有 2 个机构（H001、H002）的数据，整个文件"
        "未导入。机构版每个工作区只处理一家机构的数据：请只保留本机构的行后重新导入。"
    )
    assert app.state.cases == 0
    # the command line stays multi-institution
    outcomes = app.ws.import_files("cases", [write_book(tmp_path / "两院.xlsx", "cases", rows)])
    assert outcomes[0].ok and outcomes[0].org_rows == {"H001": 1, "H002": 1}


def test_check_without_cases_names_the_missing_table(app: InstitutionApp, tmp_path: Path) -> None:
    app.staff.set_files([staff_upload(tmp_path)])
    app.staff.import_button.click()
    missing = "还没有导入病案首页数据，请先在上方“导入病案首页数据”中导入，再开始检测。"
    assert html_text(app.check.hint.value) == missing
    assert app.check.run.click() is False
    assert app.check.alert.text == missing
    assert not app.state.institutions[0].checked


def test_rule_table_shows_findings_first_and_a_rules_findings_on_click(
    app: InstitutionApp, tmp_path: Path
) -> None:
    rows = [case_row("H001", f"BA{i}") for i in range(3)]
    app.cases.set_files([xlsx_bytes(tmp_path, "病案.xlsx", "cases", rows)])
    app.cases.import_button.click()
    app.staff.set_files([staff_upload(tmp_path, 性别="男")])
    app.staff.import_button.click()
    assert app.check.run.click() is True
    info = app.state.institutions[0]
    found = [rule for rule, n in info.counts.items() if n]
    rules = app.check.rules.value
    first_table = rules.split('<details class="cwdx-rules-clean">')[0]
    assert first_table.count("<tbody><tr") == 1 and first_table.count("<tr") == 1 + len(found)
    assert "cwdx-row-error" in first_table.split("</tr>")[1]  # the first rule is an error
    assert f"其余 {len(RULE_IDS) - len(found)} 条规则未发现问题（点击展开）" in html_text(rules)
    assert list(app.check.pick_options) == [(r, ("H001", r)) for r in found]
    assert [b.children for b in app.check.pick.children] == [[r] for r in found]
    assert "点击规则编号，查看该规则的前 100 个问题：" in app.check.pick_label.value
    findings = app.check.findings
    assert findings.rows == 0 and not findings.visible

    app.check.pick.children[0].fire_event("click", {})  # the click on the rule
    rule = found[0]
    assert app.check.picked == ("H001", rule)
    assert findings.visible
    assert findings.caption == f"规则 {rule}（错误）共 1 个问题；全部问题见反馈表。"
    assert [h["title"] for h in findings.table.headers] == ["文件", "行号", "列", "值", "说明"]
    cells = [findings.items[0][f"c{i}"] for i in range(5)]
    assert cells[:4] == ["申报人员.xlsx", "2", "性别", "男"]
    assert "性别" in cells[4]


def test_clerks_words(app: InstitutionApp, tmp_path: Path) -> None:
    # no folder path at the top of the page
    top = app.bar.title_text + app.status_text
    assert str(app.ws.path) not in top
    assert "工作区：" not in top

    # the import note: one line, details folded, the dagger/asterisk completion in words
    rows = [case_row("H001", f"BA{i}", 出院科别="０３．０４") for i in range(3)]
    rows.append(case_row("H001", "BA9", 出院主要诊断编码="E11.200x011"))
    app.cases.set_files([xlsx_bytes(tmp_path, "病案.xlsx", "cases", rows)])
    app.cases.import_button.click()
    result = app.cases.results.value
    summary = re.search(r"<summary>(.*?)</summary>", result)
    assert summary is not None
    assert summary.group(1) == "按规范改写了 4 个单元格，主要是全角字符改为半角（点击查看明细）"
    details = html_text(result.split("</summary>")[1])
    assert "“出院科别”列 3 个，如 “０３．０４”改为“03.04”。" in details
    assert (
        "“出院主要诊断编码”列 1 个，如 “E11.200x011”按《疾病分类与代码国家临床版2.0》补全为"
        "“E11.200X011+N08.3*”：E11.200X011 是病因编码（剑号编码），N08.3* 是它规定要同时填写的"
        "临床表现编码（星号编码），两者用“+”连写。"
    ) in details

    # 关于: the reference lists by their Chinese titles
    about = html_text(AboutDialog.render())
    assert "《疾病分类与代码国家临床版2.0》" in about
    assert "《手术操作分类代码国家临床版3.0》" in about

    # 日志: time, level in Chinese, message; no process id, no 通过=True
    app.staff.set_files([staff_upload(tmp_path)])
    app.staff.import_button.click()
    app.check.run.click()
    app.logs.open()
    lines = [line for line in app.logs.text.value.split("\n") if line]
    assert lines and all(
        re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  (信息|警告|错误)  ", x) for x in lines
    )
    assert any(re.search(r"  信息  上传 cases：1 个文件$", x) for x in lines)
    text = app.logs.text.value
    assert "通过=" not in text and "[" not in text and "cwdx.app" not in text
    assert "，通过" in text
