"""Page benchmark: seconds from navigation to the app's first enabled button, against a bare
Voilà page with one ipywidgets button served the same way (the Jupyter stack's own floor).

Run on demand (not part of pytest; needs /usr/bin/chromium)::

    .venv/bin/python benchmarks/bench_page.py [--loads 5] [--edition platform] [--orgs 200]

Starts ``cwdx app institution`` on an empty workspace (``--edition platform``: ``cwdx app
platform`` on a workspace of ``--orgs`` institutions with one account, each browser context
signed in before its timed loads; the timed navigation is to ``/``) and ``voila`` on a
one-button notebook (each with its own temporary Jupyter folders), then alternates loads of the
two in headless Chromium: each "cold" load in a new browser context (nothing cached: a first
visit), each "warm" load a reload in the same context (the browser's cache, as a clerk's second
visit); between loads it waits ``--pause`` seconds (8: the app has put its spare preheated
kernel back; a clerk spends longer on a page). Prints the time to the HTML (the page's
notebook has run), to DOMContentLoaded and to the first enabled button (下载病案首页数据表样 /
the bare page's button), medians and the ratio to the bare page, and the machine's load
average (the numbers mean little on a busy machine).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: The account of the 平台版 benchmark's workspace.
USER, PASSWORD = "基准用户", "bench-password-1"

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BARE = 'import ipywidgets as w\nb = w.Button(description="下载")\nb.add_class("bench-ready")\nb'


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], root: Path, ready: str) -> subprocess.Popen:
    """Start a server with its Jupyter folders under ``root``; wait until ``ready`` is in its
    output (or its port answers)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name, sub in (
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("IPYTHONDIR", "ipython"),
    ):
        env[name] = str(root / "jupyter" / sub)
    log = root / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if ready in log.read_text(errors="replace"):
            return process
        if process.poll() is not None:
            raise SystemExit("服务未能启动：\n" + log.read_text(errors="replace"))
        time.sleep(0.1)
    process.terminate()
    raise SystemExit("服务 120 秒内未启动")


def load(page, url: str, selector: str, reload: bool) -> dict[str, float]:
    """One load: seconds to the HTML, DOMContentLoaded and the enabled button."""
    marks: dict[str, float] = {}
    started = time.monotonic()

    def finished(request) -> None:
        if request.url == url:
            marks.setdefault("html", time.monotonic() - started)

    page.on("requestfinished", finished)
    if reload:
        page.reload(wait_until="domcontentloaded")
    else:
        page.goto(url, wait_until="domcontentloaded")
    marks["dom"] = time.monotonic() - started
    page.locator(f"{selector}:not([disabled])").wait_for(state="visible", timeout=180_000)
    marks["button"] = time.monotonic() - started
    page.remove_listener("requestfinished", finished)
    return marks


def prepare_platform(root: Path, orgs: int) -> None:
    """The 平台版's workspace ``root/ws``: ``orgs`` institutions and the account :data:`USER`."""
    from bench_platform_table import build

    from cwdx.workspace import Workspace

    started = time.monotonic()
    build(root, orgs)  # root/ws
    Workspace(root / "ws").add_account(USER, PASSWORD)
    print(
        f"准备了 {orgs} 个机构的工作区：{time.monotonic() - started:.1f} 秒（不计入）", flush=True
    )


def sign_in(page, url: str) -> None:
    """Sign the page's browser context in (not timed); leaves the page on about:blank.

    The login goes on to 退出登录's confirmation form, which opens no page (no kernel)."""
    page.goto(url + "login?next=/logout", wait_until="domcontentloaded")
    page.get_by_label("用户名").fill(USER)
    page.get_by_label("密码").fill(PASSWORD)
    with page.expect_navigation(wait_until="commit"):
        page.get_by_role("button", name="登录").click()
    page.goto("about:blank")


def new_page(browser, login_url: str | None) -> Any:
    """A page in a new browser context (signed in at ``login_url``, the 平台版's address)."""
    page = browser.new_context().new_page()
    if login_url:
        sign_in(page, login_url)
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=5, help="冷启动和热启动各测几次")
    parser.add_argument("--edition", choices=("institution", "platform"), default="institution")
    parser.add_argument("--orgs", type=int, default=200, help="平台版工作区的机构数")
    parser.add_argument(
        "--pause", type=float, default=8.0, help="两次加载之间等几秒（预热内核补上所需）"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="cwdx-bench-page-"))
    title = "机构版" if args.edition == "institution" else f"平台版（{args.orgs} 个机构）"
    if args.edition == "platform":
        prepare_platform(root, args.orgs)
    (root / "app").mkdir()
    (root / "bare").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(BARE)]
    nbformat.write(nb, root / "bare" / "bare.ipynb")
    app_port, bare_port = free_port(), free_port()
    app_url, bare_url = f"http://127.0.0.1:{app_port}/", f"http://127.0.0.1:{bare_port}/"
    py = sys.executable
    servers = [
        start(
            [
                py,
                "-m",
                "cwdx.cli",
                "app",
                args.edition,
                "--workspace",
                str(root / "ws"),
                "--port",
                str(app_port),
            ],
            root / "app",
            f"已启动：{app_url}",
        ),
        start(
            [
                py,
                "-m",
                "voila",
                "bare.ipynb",
                "--no-browser",
                f"--port={bare_port}",
                "--Voila.ip=127.0.0.1",
            ],
            root / "bare",
            "running at",
        ),
    ]
    targets = {
        title: (app_url, "button.cwdx-template-cases"),
        "裸 Voilà 单按钮页": (bare_url, "button.bench-ready"),
    }
    logins = {title: app_url} if args.edition == "platform" else {}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            warm_pages = {
                name: new_page(browser, logins.get(name)) for name, (url, _s) in targets.items()
            }
            for name, (url, selector) in targets.items():  # fill the warm caches
                load(warm_pages[name], url, selector, reload=False)
            for index in range(args.loads):
                for name, (url, selector) in targets.items():
                    page = new_page(browser, logins.get(name))
                    marks = load(page, url, selector, reload=False)
                    page.close(run_before_unload=True)  # the page's beacon frees its kernel
                    time.sleep(1)
                    page.context.close()
                    results.setdefault((name, "冷"), []).append(marks)
                    time.sleep(args.pause)
                    marks = load(warm_pages[name], url, selector, reload=True)
                    results.setdefault((name, "热"), []).append(marks)
                    time.sleep(args.pause)
                print(f"第 {index + 1}/{args.loads} 轮完成", flush=True)
            browser.close()
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
    print(f"\n{'页面':<14}{'加载':<4}{'HTML':>8}{'DOM':>8}{'按钮可用':>10}{'最小':>8}{'最大':>8}")
    medians = {}
    for (name, kind), runs in results.items():
        median = {
            k: statistics.median(r[k] for r in runs if k in r) for k in ("html", "dom", "button")
        }
        medians[(name, kind)] = median["button"]
        buttons = [r["button"] for r in runs]
        print(
            f"{name:<12}{kind:<4}{median['html']:>8.2f}{median['dom']:>8.2f}"
            f"{median['button']:>10.2f}{min(buttons):>8.2f}{max(buttons):>8.2f}"
        )
    for kind in ("冷", "热"):
        ratio = medians[(title, kind)] / medians[("裸 Voilà 单按钮页", kind)]
        print(f"{kind}加载：{title} / 裸 Voilà 单按钮页 = {ratio:.2f}")
    load1, load5, load15 = os.getloadavg()
    print(
        f"负载 {load1:.2f} / {load5:.2f} / {load15:.2f}（1/5/15 分钟），CPU 核数 {os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
