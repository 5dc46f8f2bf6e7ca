"""The 平台版 page driven in headless Chromium on the real server (``cwdx app platform`` with
its task dispatcher): log in, import the demo province from the inbox, tick the institutions,
提交检测任务, read the dialog's per-institution errors, build a feedback zip and download it
through the login-protected handler."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import PLATFORM_PASSWORD, PLATFORM_USER, RunningApp

from cwdx.demo import write_demo
from cwdx.workspace import Workspace

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three demo institutions (two with preset errors, one clean)."""
    folder = tmp_path_factory.mktemp("demo")
    write_demo(folder, institutions=3, cases=150)
    return folder


def fill_inbox(data: Path, inbox: Path) -> list[str]:
    names = []
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        for book in sorted(folder.glob("*.xlsx")):
            shutil.copy2(book, inbox / f"{folder.name}-{book.name}")
            names.append(f"{folder.name}-{book.name}")
    return names


def close_dialog(page) -> None:
    page.locator(".cwdx-result-close").click()
    page.locator(".cwdx-result").wait_for(state="hidden")


def test_import_check_and_download_in_chromium(
    platform_app: RunningApp, page, demo_data: Path
) -> None:
    names = fill_inbox(demo_data, platform_app.workspace / "inbox")
    page.goto(platform_app.url)
    page.get_by_label("用户名").fill(PLATFORM_USER)
    page.get_by_label("密码").fill(PLATFORM_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.locator(".cwdx-user").get_by_text(f"用户：{PLATFORM_USER}").wait_for(timeout=120_000)
    assert page.locator(".cwdx-logout").get_attribute("href") == "/logout"

    # 导入 inbox 文件夹中的文件: the dispatcher imports, the dialog lists every file
    page.locator(".cwdx-inbox-files").get_by_text(f"inbox 中有 {len(names)} 个文件").wait_for()
    page.locator(".cwdx-import-inbox").click()
    dialog = page.locator(".cwdx-result")
    dialog.locator(".cwdx-result-title").get_by_text("任务 1 完成").wait_for(timeout=180_000)
    for name in names:
        assert dialog.get_by_text(name, exact=False).count() == 1
    close_dialog(page)
    ws = Workspace(platform_app.workspace, create=False)
    infos = ws.institutions()
    assert len(infos) == 3
    assert sorted(p.name for p in (platform_app.workspace / "inbox" / "done").iterdir()) == sorted(
        names
    )

    # 查看上传医院及检测: tick all three, 提交检测任务
    page.locator(".cwdx-tab-1").click()
    table = page.locator(".cwdx-institution-table")
    table.locator("tbody tr").nth(2).wait_for()
    assert table.locator("tbody tr").count() == 3
    page.locator(".cwdx-tick-all").click()
    page.locator(".cwdx-ticked-count").get_by_text("已勾选 3 个机构").wait_for()
    page.locator(".cwdx-submit-check").click()
    dialog.locator(".cwdx-result-title").get_by_text("任务 2 完成").wait_for(timeout=300_000)
    checked = {info.org: info for info in ws.institutions()}
    rows = dialog.locator(".cwdx-task-orgs tr")
    assert rows.count() == 4  # header + three institutions
    red = dialog.locator(".cwdx-count-error")
    failing = [org for org, info in checked.items() if info.errors]
    assert len(failing) == 2 and red.count() == 2
    for org in failing:
        row = dialog.locator(".cwdx-task-orgs tr", has_text=org)
        assert row.locator(".cwdx-count-error").inner_text() == f"{checked[org].errors:,}"
        assert "未通过" in row.inner_text()
    close_dialog(page)
    table.get_by_text("已检测-未通过").first.wait_for()

    # computation: the institutions with errors cannot be ticked
    page.locator(".cwdx-purpose-compute").click()
    page.locator(".cwdx-compute-note").get_by_text("不能勾选").wait_for()
    page.locator(".cwdx-ticked-count").get_by_text("已勾选 1 个机构").wait_for()

    # 下载所有机构病案首页反馈表: a task builds the zip, the dialog offers it
    page.locator(".cwdx-export-feedback_cases").click()
    dialog.locator(".cwdx-result-title").get_by_text("任务 3 完成").wait_for(timeout=300_000)
    link = dialog.locator(".cwdx-result-download").first
    href = link.get_attribute("href") or ""
    assert href.startswith("/cwdx/download/") and "voila/files" not in href
    with page.expect_download() as caught:
        link.click()
    download = caught.value
    assert download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as zf:
        books = [n for n in zf.namelist() if n.endswith(".xlsx")]
    assert len(books) == 3
    close_dialog(page)
    page.screenshot(path=str(platform_app.workspace.parent / "table.png"), full_page=True)

    # 后台任务日志: the three tasks, a click shows one's details
    page.locator(".cwdx-tab-3").click()
    log_rows = page.locator(".cwdx-task-log tbody tr")
    log_rows.nth(2).wait_for()
    assert log_rows.count() == 3
    log_rows.filter(has_text="数据检测").click()
    dialog.locator(".cwdx-result-title").get_by_text("任务 2 详情").wait_for()
    assert dialog.locator(".cwdx-count-error").count() == 2
    close_dialog(page)

    # 监控: the dispatcher's numbers of this machine
    page.locator(".cwdx-tab-4").click()
    page.locator(".cwdx-monitor").get_by_text("本机（").wait_for(timeout=60_000)
    page.screenshot(path=str(platform_app.workspace.parent / "monitor.png"), full_page=True)
