"""The README's screenshots of both editions, taken in headless Chromium (the system's
``/usr/bin/chromium``; Chinese needs ``fonts-wqy-microhei``, ``make system-deps``).

``python tools/screenshots.py [--out docs] [--cases N]``:

- ``screenshot-institution.png``: the 机构版 served as ``make app`` serves it (``cwdx app
  institution`` on a demo workspace: the first demo institution, which carries planted problems
  of every rule), after 开始检测: the verdict, the rule table and the first findings of a rule;
- ``screenshot-platform.png``: the 平台版 (``cwdx app platform``) on a demo province of three
  institutions, logged in, after importing the inbox and checking every institution: the
  institution table with each one's stage and counts.

Everything runs in a temporary folder (demo data, workspaces, Jupyter folders), so neither
``make app``'s workspace nor the user's Jupyter settings are touched; the servers are stopped
at the end. Takes one to three minutes.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platform_demo import fill_inbox

from cwdx.demo import write_demo
from cwdx.workspace import Workspace

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
#: The window the screenshots are taken in (a laptop screen).
WIDTH, HEIGHT = 1280, 1000
#: The demo province's operator (a Chinese name: the page shows it in the app bar).
USER = "省平台操作员"
#: Seconds a server may take to start, a check to finish.
START_SECONDS, TASK_SECONDS = 120, 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(edition: str, workspace: Path, root: Path) -> Iterator[str]:
    """``cwdx app EDITION`` on ``workspace`` (Jupyter's folders under ``root``), as ``make app``
    starts it; yields its address and stops it afterwards."""
    port = _free_port()
    jupyter = root / f"jupyter-{edition}"
    env = {
        **os.environ,
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "IPYTHONDIR": str(jupyter / "ipython"),
        "PYTHONUNBUFFERED": "1",
    }
    log = root / f"{edition}-server.log"
    command = [sys.executable, "-m", "cwdx.cli", "app", edition]
    command += ["--workspace", str(workspace), "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_SECONDS
        while f"已启动：{url}" not in log.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{edition} 未能启动：\n" + log.read_text(encoding="utf-8"))
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def demo_workspace(data: Path, folder: Path) -> Path:
    """The workspace ``make demo`` builds: the first demo institution's two case workbooks and
    its staff workbook imported."""
    first = sorted(p for p in data.iterdir() if p.is_dir())[0]
    ws = Workspace(folder)
    ws.import_files("cases", [first / "病案首页数据-1.xlsx", first / "病案首页数据-2.xlsx"])
    ws.import_files("staff", [first / "申报人员信息.xlsx"])
    return folder


def _shrink(path: Path) -> None:
    """256 colours: a third of the size, the text still crisp."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def fit(page) -> None:
    """Make the window as tall as the page (Voilà scrolls inside the page, so a full-page
    screenshot alone would cut it at the window's height)."""
    height = page.evaluate("() => document.querySelector('.cwdx-app').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": min(int(height) + 40, 2400)})


def institution_shot(browser, url: str, target: Path) -> None:
    """The 机构版 after 开始检测, the first error rule's findings listed under the rule table."""
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url, wait_until="commit")
    page.locator("button.cwdx-template-cases:not([disabled])").wait_for(
        timeout=START_SECONDS * 1000
    )
    page.locator(".cwdx-tab-check").click()
    page.locator(".cwdx-pane-check").wait_for(state="visible")
    page.locator("button.cwdx-check-run:not([disabled])").click()
    page.locator(".cwdx-check-verdict .cwdx-verdict").wait_for(timeout=TASK_SECONDS * 1000)
    page.locator(".cwdx-check-pick button").first.click()
    page.locator(".cwdx-check-findings tbody tr").first.wait_for()
    fit(page)
    page.evaluate(
        """() => {
        document.querySelector('.cwdx-appbar').scrollIntoView({block: 'start'});
        const wrap = document.querySelector('.cwdx-check-rules .cwdx-table-wrap');
        const warning = wrap.querySelector('tr.cwdx-row-warning');
        if (warning) { wrap.scrollTop = warning.offsetTop - wrap.clientHeight / 2; }
    }"""
    )
    page.screenshot(path=str(target), full_page=True)
    page.close()


def platform_shot(browser, url: str, user: str, password: str, target: Path) -> None:
    """The 平台版, logged in, after importing the inbox and checking every institution."""
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url)
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.locator(".cwdx-user").wait_for(timeout=START_SECONDS * 1000)
    dialog = page.locator(".cwdx-result")
    page.locator(".cwdx-import-inbox:not([disabled])").click()
    dialog.locator(".cwdx-result-title").get_by_text("任务 1 完成").wait_for(
        timeout=TASK_SECONDS * 1000
    )
    page.locator(".cwdx-result-close").click()
    page.locator(".cwdx-tab-1").click()
    page.locator(".cwdx-institution-table tbody tr").first.wait_for()
    page.locator(".cwdx-tick-all").click()
    page.locator(".cwdx-submit-check").click()
    dialog.locator(".cwdx-result-title").get_by_text("任务 2 完成").wait_for(
        timeout=TASK_SECONDS * 1000
    )
    page.locator(".cwdx-result-close").click()
    dialog.wait_for(state="hidden")
    page.locator(".cwdx-snackbar").evaluate_all("nodes => nodes.forEach(n => n.remove())")
    fit(page)
    page.screenshot(path=str(target), full_page=True)
    page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="生成 README 中两个版本的截图。")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="截图保存的文件夹")
    parser.add_argument("--cases", type=int, default=600, help="每个演示机构的病案数（默认 600）")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"没有找到 {CHROMIUM}：请先运行 make system-deps。", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cwdx-screenshots-") as tmp:
        root = Path(tmp)
        print("正在生成演示数据……", flush=True)
        write_demo(root / "data", institutions=3, cases=args.cases)
        institution_ws = demo_workspace(root / "data", root / "institution")
        platform_ws = Workspace(root / "platform")
        fill_inbox(root / "data", platform_ws.path / "inbox")
        password = secrets.token_urlsafe(9)
        platform_ws.add_account(USER, password)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                with serve("institution", institution_ws, root) as url:
                    target = args.out / "screenshot-institution.png"
                    institution_shot(browser, url, target)
                with serve("platform", platform_ws.path, root) as url:
                    target_p = args.out / "screenshot-platform.png"
                    platform_shot(browser, url, USER, password, target_p)
            finally:
                browser.close()
        for path in (target, target_p):
            _shrink(path)
            print(f"已保存：{path}")
        shutil.rmtree(root / "data", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
