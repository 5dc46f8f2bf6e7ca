"""Fixtures of the browser tests: the real Voilà app in a subprocess, headless Chromium.

The app is started exactly as users start it (``cwdx app institution``), on a
free port, against a workspace in ``tmp_path``, with every Jupyter folder in a temp dir.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningApp:
    """A started app: its address, workspace and server log."""

    url: str
    workspace: Path
    log_path: Path
    process: subprocess.Popen

    def server_log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., RunningApp]]:
    """``start_app(workspace=None)`` runs the institution app and waits until it listens."""
    started: list[subprocess.Popen] = []
    jupyter = tmp_path / "jupyter"

    def _start(workspace: Path | None = None) -> RunningApp:
        folder = workspace or tmp_path / "workspace"
        port = free_port()
        env = dict(os.environ)
        env.update(
            JUPYTER_DATA_DIR=str(jupyter / "data"),
            JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
            JUPYTER_CONFIG_DIR=str(jupyter / "config"),
            IPYTHONDIR=str(jupyter / "ipython"),
            PYTHONUNBUFFERED="1",
        )
        log_path = tmp_path / f"voila-{port}.log"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cwdx.cli",
                "app",
                "institution",
                "--workspace",
                str(folder),
                "--port",
                str(port),
            ],
            env=env,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        started.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError("应用未能启动：\n" + log_path.read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("应用 60 秒内未监听端口：\n" + log_path.read_text())
        return RunningApp(f"http://127.0.0.1:{port}/", folder, log_path, process)

    yield _start
    for process in started:
        _stop(process)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (the system's, never a downloaded one)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("没有安装 /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page (1280×900) that accepts downloads."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
