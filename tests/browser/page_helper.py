"""Helpers of the browser tests that drive the app's page."""

from __future__ import annotations

import time
from typing import Any


def open_app(page, url: str) -> float:
    """Open the app as a user does; returns the seconds from navigation until the first button
    (下载病案首页数据表样) is visible and enabled, i.e. until the user can act."""
    started = time.monotonic()
    response = page.goto(url, wait_until="commit")
    page.locator("button.cwdx-template-cases:not([disabled])").wait_for(
        state="visible", timeout=120_000
    )
    seconds = time.monotonic() - started
    assert "正在打开页面，请稍候……" in response.text()  # the Chinese loading message
    return seconds


def show_tab(page, key: str) -> None:
    """Click the page's tab ``key`` (templates, import, check, compute) and wait for its pane."""
    page.locator(f".cwdx-tab-{key}").click()
    page.locator(f".cwdx-pane-{key}").wait_for(state="visible")


def open_log_dialog(page) -> None:
    """Open the 日志 dialog from the app bar."""
    page.locator(".cwdx-appbar-log").click()
    page.locator(".cwdx-log-text textarea").wait_for(state="visible")


def close_dialog(page, css: str) -> None:
    """Close the dialog whose card has class ``css`` with its 关闭 button."""
    page.locator(f"{css}-close").click()
    page.locator(css).wait_for(state="hidden")


def log_in(page, url: str, user: str, password: str) -> None:
    """Open the 平台版 at ``url``, sign in as ``user`` and wait until the page names the user."""
    page.goto(url)
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.locator(".cwdx-user").get_by_text(f"用户：{user}").wait_for(timeout=120_000)


def preheated_pages(app: Any) -> int:
    """How many pages the app's kernels have built so far (preheated or not)."""
    log = app.workspace / "logs" / "cwdx.log"
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    return text.count("页面已打开")


def wait_preheated(app: Any, pages: int = 1) -> None:
    """Wait until the spare kernel has built its page (``pages`` built in all)."""
    deadline = time.monotonic() + 180
    while preheated_pages(app) < pages:
        assert time.monotonic() < deadline, app.server_file()[-3000:]
        time.sleep(0.2)
    time.sleep(0.5)  # the page's HTML is rendered right after the notebook's cell
