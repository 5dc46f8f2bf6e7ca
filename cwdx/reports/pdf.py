"""Reports as PDF: the report's HTML page printed by a local headless Chromium.

The HTML page (template ``cwdx_report``) carries its own print style (``@page`` A4, page
numbers, tables that wrap in a smaller type), so Chromium's ``--print-to-pdf`` gives A4 pages
without its own header and footer (which would print the file's path and the date). Nothing
is fetched: the page holds no scripts and only inline images, its Content-Security-Policy
forbids scripts and any request, and the browser's background services (updates, sync, component downloads) are disabled. Chromium
writes into a temporary folder with a throwaway profile; the PDF is moved into place only when
it is complete.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from cwdx.errors import CwdxError
from cwdx.log import get_logger
from cwdx.xlsx import atomic_path

log = get_logger("cwdx.reports")

#: The environment variable naming the Chromium (or Chrome, Edge) executable to print with.
CHROMIUM_ENV = "CWDX_CHROMIUM"
#: Executables looked for on the PATH, in order, when the variable is not set.
CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "msedge",
)
#: Seconds Chromium may take to print one report.
PDF_TIMEOUT = 180

#: The switches Chromium prints with: headless, no sandbox (it runs as the user who asked for
#: the report, often root in a container), no GPU, no header/footer with the file path, and no
#: network of its own. (Scripts cannot be switched off here: ``--blink-settings=scriptEnabled=
#: false`` stops Chromium from printing at all; the page's Content-Security-Policy forbids
#: scripts and every fetch instead.)
CHROMIUM_SWITCHES = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-pdf-header-footer",
    "--print-to-pdf-no-header",  # the same switch in Chromium before version 111
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
)


def find_chromium() -> str:
    """The Chromium executable: :data:`CHROMIUM_ENV` if set, else the first of
    :data:`CHROMIUM_NAMES` on the PATH. :class:`CwdxError` saying how to install one otherwise."""
    named = os.environ.get(CHROMIUM_ENV, "").strip()
    if named:
        if Path(named).is_file() and os.access(named, os.X_OK):
            return named
        raise CwdxError(
            f"环境变量 {CHROMIUM_ENV} 指定的浏览器程序不存在或不能运行，"
            "请改为 Chromium、Chrome 或 Edge 的程序文件后重试，或改用 --format html。"
        )
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise CwdxError(
        "生成 PDF 需要本机安装 Chromium 浏览器（Debian/Ubuntu：sudo apt-get install chromium；"
        f"也可用环境变量 {CHROMIUM_ENV} 指定 Chrome 或 Edge 的程序文件），"
        "安装后重试，或改用 --format html。"
    )


def html_to_pdf(page: str, target: str | os.PathLike[str], chromium: str | None = None) -> Path:
    """Print the HTML ``page`` to the PDF file ``target`` with headless Chromium and return it.

    The page is written to a temporary folder first (with a throwaway browser profile) and
    ``target`` appears only complete. Raises :class:`CwdxError` when no Chromium is found or
    it fails to print.
    """
    browser = chromium or find_chromium()
    target = Path(target)
    with tempfile.TemporaryDirectory(prefix="cwdx-pdf-") as folder:
        work = Path(folder)
        source = work / "report.html"
        source.write_text(page, encoding="utf-8")
        printed = work / "report.pdf"
        command = [
            browser,
            *CHROMIUM_SWITCHES,
            f"--user-data-dir={work / 'profile'}",
            f"--crash-dumps-dir={work / 'crashes'}",
            f"--print-to-pdf={printed}",
            source.as_uri(),
        ]
        try:
            subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=PDF_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CwdxError(
                f"浏览器在 {PDF_TIMEOUT} 秒内未能生成 PDF，请关闭其他程序后重试，或改用 --format html。"
            ) from exc
        except OSError as exc:
            raise CwdxError(
                f"无法启动浏览器程序 {browser}，请确认 Chromium 安装完整后重试，或改用 --format html。"
            ) from exc
        if not printed.is_file() or printed.read_bytes()[:5] != b"%PDF-":
            log.error("Chromium 未生成 PDF：%s", browser)
            raise CwdxError(
                "浏览器未能生成 PDF（详情已写入日志文件），请确认 Chromium 能正常运行后重试，"
                "或改用 --format html。"
            )
        with atomic_path(target) as tmp:
            shutil.copyfile(printed, tmp)
    return target
