"""The 平台版's whole flow in headless Chromium on the real server (``cwdx app platform`` with its
task dispatcher), as the issue's "Done when" asks:

* three institutions: one uploaded through the page's file chooser, two from the inbox; all
  checked, one fails and cannot be ticked for computation (the page says why), the two others
  computed; every bulk download and one institution's own downloads fetched through the
  browser and compared cell by cell with what ``cwdx run`` writes for the same files;
* the saved upload folders under ``WS/uploads/`` are gone once their import task ended
  (succeeded, or with a rejected file);
* a global clear asks for 确认, runs, empties the table, and 后台任务日志 names the user;
* tasks outlive the page: a tab closed while a check runs, reopened, shows the task running
  with its progress, then its outcome; a task that ends while no page is open is announced
  with 查看 on the next visit; another operator sees the task at the top right too.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from conftest import PLATFORM_PASSWORD, PLATFORM_USER, RunningApp, start_platform, stop_app
from page_helper import log_in

from cwdx.demo import write_demo
from cwdx.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golden_outputs import workbook_values  # noqa: E402

pytestmark = pytest.mark.browser

FAILING, PASSING = "12330000470000001X", ("12330000470000002X", "12330000470000003X")
#: The institution uploaded through the page (the others go through the inbox).
UPLOADED = FAILING
#: Seconds every check piece of the paused app sleeps (CWDX_TEST_PAUSE_AT=check_piece):
#: long enough to close a tab and open a new one while the check runs.
PAUSE_SECONDS = 60


@dataclass
class Province:
    """Demo files named as an operator would (``<组织机构代码>-<file>``) and what ``cwdx run``
    wrote for them."""

    files: Path
    run_out: Path

    def of(self, org: str) -> list[Path]:
        return sorted(self.files.glob(f"{org}-*.xlsx"))


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Province:
    """Three demo institutions, exactly one with planted errors, and ``cwdx run`` on them."""
    root = tmp_path_factory.mktemp("province")
    demo = root / "demo"
    manifest = write_demo(demo, institutions=3, cases=150, clean=2)
    assert [i.passes for i in manifest.institutions] == [False, True, True]
    files = root / "files"
    files.mkdir()
    for folder in sorted(p for p in demo.iterdir() if p.is_dir()):
        for book in sorted(folder.glob("*.xlsx")):
            shutil.copy2(book, files / f"{folder.name}-{book.name}")
    out = root / "run"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cwdx.cli",
            "run",
            "--cases",
            *sorted(str(p) for p in files.glob("*-病案首页数据-*.xlsx")),
            "--staff",
            *sorted(str(p) for p in files.glob("*-申报人员信息.xlsx")),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr  # one institution failed its check
    return Province(files, out)


@pytest.fixture(scope="module")
def flow_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_platform(tmp_path_factory.mktemp("flow"))
    yield app
    stop_app(app)


# --- helpers ----------------------------------------------------------------------------------


def next_task(app: RunningApp) -> int:
    """The id the next submitted task gets."""
    tasks = Workspace(app.workspace, create=False).tasks(limit=1)
    return (tasks[0].id if tasks else 0) + 1


def await_dialog(page, task_id: int, word: str = "完成", timeout: float = 300_000):
    """Wait until the result dialog says task ``task_id`` ended with ``word``; the dialog."""
    dialog = page.locator(".cwdx-result")
    dialog.locator(".cwdx-result-title").get_by_text(f"任务 {task_id} {word}").wait_for(
        timeout=timeout
    )
    return dialog


def close_dialog(page) -> None:
    page.locator(".cwdx-result-close").click()
    page.locator(".cwdx-result").wait_for(state="hidden")


def choose_files(page, table: str, files: list[Path]) -> None:
    """上传 through the browser's file chooser."""
    with page.expect_file_chooser() as chooser:
        page.locator(f".cwdx-upload-{table}").click()
    chooser.value.set_files([str(p) for p in files])
    page.locator(f".cwdx-uploaded-{table}").get_by_text(f"已上传 {len(files)} 个文件").wait_for()


def downloads(page, dialog) -> dict[str, bytes]:
    """Every file the result dialog offers, fetched by clicking its button."""
    got = {}
    links = dialog.locator(".cwdx-result-download")
    for n in range(links.count()):
        link = links.nth(n)
        assert (link.get_attribute("href") or "").startswith("/cwdx/download/")
        with page.expect_download() as caught:
            link.click()
        got[caught.value.suggested_filename] = Path(caught.value.path()).read_bytes()
    return got


def same_values(got: bytes, expected: Path, where: Path) -> None:
    """The downloaded workbook holds the values of ``expected`` (``cwdx run``'s), cell by cell."""
    path = where / f"got-{expected.parent.name}-{expected.name}"
    path.write_bytes(got)
    mine, theirs = workbook_values(path), workbook_values(expected)
    assert list(mine) == list(theirs), expected
    for sheet, rows in theirs.items():
        assert len(mine[sheet]) == len(rows), (expected, sheet)
        for n, (a, b) in enumerate(zip(mine[sheet], rows, strict=True), start=1):
            assert a == b, f"{expected} / {sheet} / 第 {n} 行：{a} != {b}"


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def export(page, app: RunningApp, css: str) -> dict[str, bytes]:
    """Click a download button of 查看上传医院及检测, wait for its task, fetch its files."""
    task_id = next_task(app)
    page.locator(css).click()
    dialog = await_dialog(page, task_id)
    got = downloads(page, dialog)
    close_dialog(page)
    return got


# --- 1 and 4: the three-institution flow ------------------------------------------------------


def test_three_institutions_upload_inbox_check_compute_download(
    flow_app: RunningApp, province: Province, page, tmp_path: Path
) -> None:
    started = time.monotonic()
    app, ws = flow_app, Workspace(flow_app.workspace, create=False)
    inbox = [p for p in province.files.iterdir() if not p.name.startswith(UPLOADED)]
    for path in inbox:
        shutil.copy2(path, app.workspace / "inbox" / path.name)
    log_in(page, app.url, PLATFORM_USER, PLATFORM_PASSWORD)

    # 导入病案首页数据 / 导入人员表信息: 上传 through the file chooser, then 提交解析“上传文件”任务
    uploads = app.workspace / "uploads"
    for table, files in (
        ("cases", [p for p in province.of(UPLOADED) if "病案首页" in p.name]),
        ("staff", [p for p in province.of(UPLOADED) if "申报人员" in p.name]),
    ):
        choose_files(page, table, files)
        saved = [p for p in uploads.iterdir() if p.is_dir()]
        assert len(saved) == 1 and sorted(p.name for p in saved[0].iterdir()) == sorted(
            p.name for p in files
        )
        task_id = next_task(app)
        page.locator(f".cwdx-submit-import-{table}").click()
        dialog = await_dialog(page, task_id)
        for path in files:
            assert dialog.get_by_text(f"{path.name}：导入", exact=False).count() == 1
        # the task removed the saved upload folder once it ended
        assert list(uploads.iterdir()) == []
        close_dialog(page)

    # 导入 inbox 文件夹中的文件 for the two others
    page.locator(".cwdx-inbox-files").get_by_text(f"inbox 中有 {len(inbox)} 个文件").wait_for()
    task_id = next_task(app)
    page.locator(".cwdx-import-inbox").click()
    dialog = await_dialog(page, task_id)
    assert dialog.locator(".cwdx-task-files li").count() == len(inbox)
    close_dialog(page)
    assert sorted(i.org for i in ws.institutions()) == [FAILING, *PASSING]
    imported = time.monotonic()

    # 提交检测任务 for all three: one fails
    page.locator(".cwdx-tab-1").click()
    table = page.locator(".cwdx-institution-table")
    table.locator("tbody tr").nth(2).wait_for()
    page.locator(".cwdx-tick-all").click()
    page.locator(".cwdx-ticked-count").get_by_text("已勾选 3 个机构").wait_for()
    task_id = next_task(app)
    page.locator(".cwdx-submit-check").click()
    dialog = await_dialog(page, task_id)
    failing = dialog.locator(".cwdx-task-orgs tr", has_text=FAILING)
    assert "未通过" in failing.inner_text()
    errors = ws.institution(FAILING).errors
    assert errors and failing.locator(".cwdx-count-error").inner_text() == f"{errors:,}"
    for org in PASSING:
        assert "通过" in dialog.locator(".cwdx-task-orgs tr", has_text=org).inner_text()
    close_dialog(page)
    table.get_by_text("已检测-未通过").wait_for()

    # 勾选用于计算: the failing institution cannot be ticked, and the page says why
    page.locator(".cwdx-purpose-compute").click()
    page.locator(".cwdx-compute-note").get_by_text("有错误或尚未检测通过的机构不能勾选").wait_for()
    page.locator(".cwdx-ticked-count").get_by_text("已勾选 2 个机构").wait_for()
    row = table.locator("tbody tr", has_text=FAILING)
    assert row.locator("input[type=checkbox]").is_disabled()
    for org in PASSING:
        assert table.locator("tbody tr", has_text=org).locator("input[type=checkbox]").is_checked()
    row.locator("td").nth(2).click()  # the row's own dialog: why not
    dialog = page.locator(".cwdx-result")
    dialog.get_by_text("不能计算：数据检测有错误").wait_for()
    close_dialog(page)

    # 提交计算任务: the dialog lists applicants, matched and unmatched per institution
    task_id = next_task(app)
    page.locator(".cwdx-submit-compute").click()
    dialog = await_dialog(page, task_id)
    head = dialog.locator(".cwdx-task-orgs tr").first.inner_text()
    assert all(word in head for word in ("申报人员", "已匹配", "未匹配"))
    for org in PASSING:
        summary = openpyxl.load_workbook(province.run_out / org / "计算结果表.xlsx", read_only=True)
        sheet = summary.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        status = rows[0].index("匹配状态")
        matched = sum(1 for r in rows[1:] if r[status] == "已匹配")
        summary.close()
        cells = dialog.locator(".cwdx-task-orgs tr", has_text=org).locator("td")
        assert [cells.nth(n).inner_text() for n in (1, 2, 3)] == [
            f"{len(rows) - 1:,}",
            f"{matched:,}",
            f"{len(rows) - 1 - matched:,}",
        ]
    assert dialog.locator(".cwdx-task-orgs tr", has_text=FAILING).count() == 0
    close_dialog(page)
    computed = time.monotonic()

    # every bulk download, compared cell by cell with cwdx run's workbooks
    out = province.run_out
    for css, name, book in (
        (".cwdx-export-feedback_cases", "所有机构病案首页反馈表.zip", "病案首页反馈表.xlsx"),
        (".cwdx-export-feedback_staff", "所有机构申报人员信息反馈表.zip", "申报人员反馈表.xlsx"),
    ):
        got = export(page, app, css)
        assert list(got) == [name]
        members = unzip(got[name])
        assert sorted(members) == [f"{org}/{book}" for org in (FAILING, *PASSING)]
        for member, data in members.items():
            same_values(data, out / member, tmp_path)
    got = export(page, app, ".cwdx-export-feedback_brief")
    assert list(got) == ["精简版反馈信息表.xlsx"]
    same_values(got["精简版反馈信息表.xlsx"], out / "精简版反馈信息表.xlsx", tmp_path)
    got = export(page, app, ".cwdx-export-results")
    assert sorted(got) == ["所有机构计算结果表.zip", "计算结果表.xlsx"]
    same_values(got["计算结果表.xlsx"], out / "计算结果表.xlsx", tmp_path)
    members = unzip(got["所有机构计算结果表.zip"])
    assert sorted(members) == [f"{org}/计算结果表.xlsx" for org in PASSING]
    for member, data in members.items():
        same_values(data, out / member, tmp_path)

    # one institution's own downloads, from its row
    org = PASSING[0]
    table.locator("tbody tr", has_text=org).locator("td").nth(2).click()
    task_id = next_task(app)
    page.locator(".cwdx-row-export").click()
    dialog = await_dialog(page, task_id)
    got = downloads(page, dialog)
    close_dialog(page)
    for book in ("病案首页反馈表.xlsx", "申报人员反馈表.xlsx", "计算结果表.xlsx"):
        same_values(got[f"{org}-{book}"], out / org / book, tmp_path)
    brief = tmp_path / "brief.xlsx"
    brief.write_bytes(got["精简版反馈信息表.xlsx"])
    whole = workbook_values(out / "精简版反馈信息表.xlsx")
    for sheet, rows in workbook_values(brief).items():
        assert rows == [rows_ for rows_ in whole[sheet] if rows_ is whole[sheet][0] or org in rows_]
    done = time.monotonic()
    print(
        f"\n三机构流程：导入 {imported - started:.1f} 秒，检测+计算 {computed - imported:.1f} 秒，"
        f"下载与比对 {done - computed:.1f} 秒（load {_load()}）"
    )


def test_upload_folder_removed_after_a_rejected_import(
    flow_app: RunningApp, page, tmp_path: Path
) -> None:
    bad = tmp_path / "不是表样.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["随便", "几列"])
    book.active.append([1, 2])
    book.save(bad)
    log_in(page, flow_app.url, PLATFORM_USER, PLATFORM_PASSWORD)
    choose_files(page, "staff", [bad])
    uploads = flow_app.workspace / "uploads"
    assert [p.name for d in uploads.iterdir() for p in d.iterdir()] == [bad.name]
    task_id = next_task(flow_app)
    page.locator(".cwdx-submit-import-staff").click()
    dialog = await_dialog(page, task_id, timeout=120_000)  # ended, the file rejected
    assert dialog.locator(".cwdx-task-files li.red--text", has_text="未导入").count() == 1
    assert list(uploads.iterdir()) == []


# --- 3: a global clear ------------------------------------------------------------------------


def test_global_clear_asks_for_confirmation_and_is_logged(flow_app: RunningApp, page) -> None:
    ws = Workspace(flow_app.workspace, create=False)
    assert ws.institutions(), "runs after the flow test, on its institutions"
    log_in(page, flow_app.url, PLATFORM_USER, PLATFORM_PASSWORD)
    page.locator(".cwdx-tab-2").click()
    page.locator(".cwdx-global-0").click()
    confirm = page.locator(".cwdx-confirm")
    confirm.get_by_text("强制清空所有上传数据（危险）").wait_for()
    ok = confirm.locator(".cwdx-confirm-ok")
    assert ok.is_disabled()
    field = confirm.locator(".cwdx-confirm-word input")
    field.fill("确")
    time.sleep(1.0)  # the kernel answers the typing; the button must stay disabled
    assert ok.is_disabled()
    field.fill("确认")
    page.locator(".cwdx-confirm-ok:not([disabled])").wait_for()
    task_id = next_task(flow_app)
    ok.click()
    dialog = await_dialog(page, task_id)
    assert f"由 {PLATFORM_USER} 提交" in dialog.locator(".cwdx-task-head").inner_text()
    close_dialog(page)
    assert ws.institutions() == []
    page.locator(".cwdx-tab-1").click()
    page.locator(".cwdx-institution-table").get_by_text("没有符合条件的机构").wait_for()
    page.locator(".cwdx-tab-3").click()
    row = page.locator(".cwdx-task-log tbody tr", has_text="清空数据").first
    row.wait_for()
    cells = row.locator("td")
    assert cells.nth(0).inner_text() == str(task_id)
    assert cells.nth(3).inner_text() == PLATFORM_USER
    assert cells.nth(7).inner_text() == "已完成"


# --- 2: tasks outlive the page ----------------------------------------------------------------

SECOND_USER, SECOND_PASSWORD = "李四", "battery-staple-2"


@pytest.fixture(scope="module")
def paused_app(
    tmp_path_factory: pytest.TempPathFactory, province: Province
) -> Iterator[RunningApp]:
    """The 平台版 whose every check piece sleeps :data:`PAUSE_SECONDS`, with the province
    already imported and a second account."""

    def prepare(folder: Path) -> None:
        ws = Workspace(folder, create=False)
        ws.add_account(SECOND_USER, SECOND_PASSWORD)
        ws.import_files("cases", sorted(province.files.glob("*-病案首页数据-*.xlsx")))
        ws.import_files("staff", sorted(province.files.glob("*-申报人员信息.xlsx")))

    app = start_platform(
        tmp_path_factory.mktemp("paused"),
        extra_env={
            "CWDX_TEST_PAUSE_AT": "check_piece",
            "CWDX_TEST_PAUSE_SECONDS": str(PAUSE_SECONDS),
        },
        prepare=prepare,
    )
    yield app
    stop_app(app)


def submit_check(page, app: RunningApp) -> int:
    page.locator(".cwdx-tab-1").click()
    page.locator(".cwdx-institution-table tbody tr").nth(2).wait_for()
    page.locator(".cwdx-tick-all").click()
    page.locator(".cwdx-ticked-count").get_by_text("已勾选 3 个机构").wait_for()
    task_id = next_task(app)
    page.locator(".cwdx-submit-check").click()
    return task_id


def reopen(context, app: RunningApp):
    """A new tab of the same browser (same login) on the page."""
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app.url)
    page.locator(".cwdx-user").get_by_text(f"用户：{PLATFORM_USER}").wait_for(timeout=120_000)
    return page


def test_a_task_outlives_its_page(paused_app: RunningApp, page, browser) -> None:
    app, ws = paused_app, Workspace(paused_app.workspace, create=False)
    log_in(page, app.url, PLATFORM_USER, PLATFORM_PASSWORD)
    context = page.context
    task_id = submit_check(page, app)
    page.locator(f".cwdx-task-{task_id}").get_by_text(f"任务 {task_id} 数据检测：运行中").wait_for()
    assert ws.task(task_id).state == "Running"
    page.close(run_before_unload=True)  # the tab closes under the running check
    closed = time.monotonic()

    # another operator sees the task at the top right
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    second = other.new_page()
    second.set_default_timeout(60_000)
    log_in(second, app.url, SECOND_USER, SECOND_PASSWORD)
    second.locator(f".cwdx-task-{task_id}").get_by_text("运行中").wait_for()
    other.close()

    # the tab reopened (same login): the task still runs, with its progress (done/total)
    again = reopen(context, app)
    reopened = time.monotonic() - closed
    bar = again.locator(f".cwdx-task-{task_id}")
    bar.get_by_text(f"任务 {task_id} 数据检测：运行中").wait_for()
    assert bar.inner_text().endswith(" 0/3"), bar.inner_text()  # done/total institutions
    assert ws.task(task_id).state == "Running", "reopened too late: raise PAUSE_SECONDS"
    again.close(run_before_unload=True)  # and closed again before the check ends

    # the check ends while no page is open: the next visit announces it, with 查看
    deadline = time.monotonic() + PAUSE_SECONDS + 180
    while ws.task(task_id).state == "Running" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ws.task(task_id).state == "Succeeded"
    back = reopen(context, app)
    notice = back.locator(".cwdx-return-notice")
    notice.get_by_text("您不在页面期间，您提交的以下任务已结束").wait_for()
    assert notice.locator(".cwdx-notice-task").count() == 1
    assert f"任务 {task_id}（数据检测）已完成" in notice.inner_text()
    back.screenshot(path=str(app.workspace.parent / "notice.png"))
    assert back.locator(f".cwdx-task-{task_id}").count() == 0  # no longer at the top right
    notice.locator(f".cwdx-notice-view-{task_id}").click()
    dialog = back.locator(".cwdx-result")
    dialog.locator(".cwdx-result-title").get_by_text(f"任务 {task_id} 完成").wait_for()
    assert dialog.locator(".cwdx-task-orgs tr").count() == 4  # header + three institutions
    assert dialog.locator(".cwdx-count-error").count() == 1  # the failing one
    close_dialog(back)
    notice.locator(".cwdx-notice-task").wait_for(state="detached")
    back.close(run_before_unload=True)
    # seen: not announced again
    last = reopen(context, app)
    last.locator(".cwdx-tab-1").click()
    last.locator(".cwdx-institution-table").get_by_text("已检测-未通过").wait_for()
    assert last.locator(".cwdx-return-notice .cwdx-notice-task").count() == 0
    print(f"\n关闭标签页到重新打开（含另一用户登录）{reopened:.1f} 秒（load {_load()}）")
