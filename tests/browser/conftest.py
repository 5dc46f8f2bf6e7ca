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
    """A started app: its address, workspace and terminal output."""

    url: str
    workspace: Path
    log_path: Path
    process: subprocess.Popen

    def server_log(self) -> str:
        """What the app printed on the terminal so far (standard output and error)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def server_file(self) -> str:
        """The server's log file (its English log, kernel warnings), beside the workspace's
        own log."""
        path = self.workspace / "logs" / "app-server.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


#: Seconds the app may take to listen (a loaded 2-core machine starts Voilà in 2–10 s).
START_TIMEOUT = 90


def _launch(
    folder: Path, env: dict[str, str], cwd: Path, options: list[str], edition: str = "institution"
) -> tuple[RunningApp | None, str]:
    """Start ``cwdx app EDITION [options]`` on a free port; ``(app, "")`` once Voilà
    serves, or ``(None, log)`` when the port was taken meanwhile (free_port() only proves it
    was free)."""
    port = free_port()
    log_path = cwd / f"voila-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cwdx.cli",
                "app",
                edition,
                "--workspace",
                str(folder),
                "--port",
                str(port),
                *options,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
    url = f"http://127.0.0.1:{port}/"
    app = RunningApp(url, folder, log_path, process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = app.server_log()
            if "已被占用" in text or "already in use" in text:
                return None, text
            raise AssertionError("应用未能启动：\n" + text)
        # the server prints its address once the port accepts connections
        if f"已启动：{url}" in app.server_log():
            return app, ""
        time.sleep(0.1)
    _stop(process)
    raise AssertionError(f"应用 {START_TIMEOUT} 秒内未开始服务：\n" + app.server_log())


def _start_app(
    root: Path,
    workspace: Path | None = None,
    max_kernels: int | None = None,
    edition: str = "institution",
    extra_env: dict[str, str] | None = None,
) -> RunningApp:
    """Start the app with every Jupyter folder under ``root`` (retried on a taken port);
    ``extra_env`` is added to its environment (e.g. the test hook ``CWDX_TEST_PAUSE_AT``)."""
    jupyter = root / "jupyter"
    env = dict(os.environ)
    env.update(
        JUPYTER_DATA_DIR=str(jupyter / "data"),
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
        JUPYTER_CONFIG_DIR=str(jupyter / "config"),
        IPYTHONDIR=str(jupyter / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})
    options = ["--max-kernels", str(max_kernels)] if max_kernels else []
    log = ""
    for _attempt in range(3):
        app, log = _launch(workspace or root / "workspace", env, root, options, edition)
        if app is not None:
            return app
    raise AssertionError("三次都没有找到可用端口：\n" + log)


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., RunningApp]]:
    """``start_app(workspace=None, max_kernels=None)`` runs the institution app and waits until
    it serves."""
    started: list[subprocess.Popen] = []

    def _start(workspace: Path | None = None, max_kernels: int | None = None) -> RunningApp:
        app = _start_app(tmp_path, workspace, max_kernels)
        started.append(app.process)
        return app

    yield _start
    for process in started:
        _stop(process)


#: The account every platform app of the tests has (``platform_app``).
PLATFORM_USER, PLATFORM_PASSWORD = "张三", "correct-horse-1"


def start_platform(
    root: Path,
    extra_env: dict[str, str] | None = None,
    prepare: Callable[[Path], None] | None = None,
) -> RunningApp:
    """Start the 平台版 (``cwdx app platform``) on ``root/workspace`` with the account
    :data:`PLATFORM_USER`; ``prepare(workspace)`` runs before the app starts (data imported
    directly, before a dispatcher holds the workspace). Stop it with :func:`stop_app`."""
    from cwdx.workspace import Workspace

    Workspace(root / "workspace").add_account(PLATFORM_USER, PLATFORM_PASSWORD)
    if prepare is not None:
        prepare(root / "workspace")
    return _start_app(root, edition="platform", extra_env=extra_env)


def stop_app(app: RunningApp) -> None:
    """Stop a started app (SIGTERM, then kill)."""
    _stop(app.process)


@pytest.fixture(scope="module")
def platform_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The 平台版 (``cwdx app platform``) on a workspace with the account
    :data:`PLATFORM_USER`, shared by a module's tests."""
    app = start_platform(tmp_path_factory.mktemp("platform"))
    yield app
    _stop(app.process)


@pytest.fixture(scope="module")
def module_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app shared by a module's tests that only read from it."""
    app = _start_app(tmp_path_factory.mktemp("app"))
    yield app
    _stop(app.process)


# module scope: a directory without __init__.py makes "package" last the whole session, and
# the sync Playwright loop it keeps running would break later tests that start their own loop
@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (the system's, never a downloaded one).

    Package scope: Playwright's sync API keeps an asyncio loop running in the main thread
    while it is started, so it stops with the browser tests; with a session-wide browser any
    later test calling ``asyncio.run()`` would fail with "cannot be called from a running
    event loop" when the whole suite runs.
    """
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
    # generous: under load (the whole suite on 2 cores) a kernel reply can take seconds
    page.set_default_timeout(60_000)
    page.set_default_navigation_timeout(120_000)
    yield page
    context.close()
