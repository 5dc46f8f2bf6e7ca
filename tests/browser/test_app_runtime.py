"""The app as users live with it: ready when it says so, a quiet Chinese terminal, kernels
freed when tabs close, and no request leaving the machine."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from conftest import free_port
from page_helper import open_app
from test_app_server import fetch

pytestmark = pytest.mark.browser

#: English lines of Jupyter that used to reach the terminal on every start and page load.
JUPYTER_NOISE = (
    "is not trusted",
    "without encryption",
    "_xsrf",
    "Voilà is running",
    "WARNING",
    "Kernel started",
)


#: Kernels the server keeps preheated beside the pages' (voila.json's default_pool_size).
SPARE_KERNELS = 1


def live_kernels(app) -> int:
    """The kernel processes the app's server runs now (one per open page, and the spare)."""
    count = 0
    for child in psutil.Process(app.process.pid).children(recursive=True):
        try:
            if "ipykernel_launcher" in " ".join(child.cmdline()):
                count += 1
        except psutil.Error:  # ended meanwhile
            pass
    return count


def test_address_is_printed_only_once_the_port_accepts(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ)
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        env[name] = str(tmp_path / name.lower())
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "cwdx.cli", "app", "institution", "--port", str(port)]
    command += ["--workspace", str(tmp_path / "ws")]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "已启动：" in line:
                # the user clicks the address at once: the server must answer
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
        assert lines[-1].strip() == f"cwdx 机构版已启动：http://127.0.0.1:{port}/", lines
        assert lines[:-1] == []  # nothing before the address, in English or otherwise
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_terminal_is_quiet_and_chinese(start_app, page) -> None:
    app = start_app()
    open_app(page, app.url)
    page.reload(wait_until="commit")
    page.locator("button.cwdx-template-cases:not([disabled])").wait_for(state="visible")
    fetch(app.url, "/", host="evil.example")
    page.goto("about:blank")  # leaving the page, as closing its tab does
    deadline = time.monotonic() + 30
    # both pages closed (the reload may close the first before it counts the second: 共 0 twice)
    while app.server_log().count("关闭了一个页面") < 2 or not app.server_log().rstrip().endswith(
        "关闭了一个页面（当前共 0 个页面）。"
    ):
        assert time.monotonic() < deadline, app.server_log()
        time.sleep(0.2)
    terminal = app.server_log()
    for noise in JUPYTER_NOISE:
        assert noise not in terminal, terminal
    lines = [line for line in terminal.splitlines() if line.strip()]
    port = urlsplit(app.url).port
    assert lines[:4] == [
        f"cwdx 机构版已启动：http://127.0.0.1:{port}/",
        f"工作区：{app.workspace}",
        f"运行记录：{app.workspace / 'logs' / 'app-server.log'}",
        "请用浏览器打开上面的地址；按 Ctrl+C 停止。",
    ]
    events = [re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line) for line in lines[4:]]
    # the reload closes the first page's kernel while it opens the next (in either order)
    kinds = [re.sub(r"（当前共 \d+ 个页面）", "", event) for event in events]
    refused = "拒绝了一个不是从本机地址打开的请求（Host：evil.example）。"
    assert sorted(kinds) == sorted(["打开了一个页面。"] * 2 + ["关闭了一个页面。"] * 2 + [refused])
    assert events[0] == "打开了一个页面（当前共 1 个页面）。", terminal
    assert events[-1] == "关闭了一个页面（当前共 0 个页面）。", terminal
    # the English details are kept in the log file
    details = app.server_file()
    assert "Notebook institution.ipynb is not trusted" in details
    assert "running over TCP without encryption" in details
    assert "'_xsrf' argument missing" not in details


def test_reloading_frees_the_kernels(start_app, page) -> None:
    app = start_app(max_kernels=12)  # above the reloads: the cap must not hide leaked kernels
    open_app(page, app.url)
    for _reload in range(8):
        page.reload(wait_until="commit")
        page.locator("button.cwdx-template-cases:not([disabled])").wait_for(state="visible")
    # the open page's kernel and the one spare (preheated) kernel, "within a few seconds"
    deadline = time.monotonic() + 20
    while live_kernels(app) != 1 + SPARE_KERNELS:
        assert time.monotonic() < deadline, f"{live_kernels(app)} 个内核仍在运行"
        time.sleep(0.2)
    page.goto("about:blank")  # leaving the page, as closing its tab does
    deadline = time.monotonic() + 10
    while live_kernels(app) != SPARE_KERNELS:
        assert time.monotonic() < deadline, f"关闭页面后仍有 {live_kernels(app)} 个内核"
        time.sleep(0.2)
    # no more refills than hand-outs: the spare stays one kernel
    time.sleep(3)
    assert live_kernels(app) == SPARE_KERNELS
