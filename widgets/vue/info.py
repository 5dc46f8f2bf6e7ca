"""The 关于 and 日志 dialogs of both editions (the app bar's two buttons open them).

- :class:`AboutDialog`: product version, 口径 version and the reference lists (rows, SHA-256),
  read when first opened.
- :class:`LogDialog`: the tail of the workspace log in a read-only text box (read when opened
  and on 刷新), the folder it is kept in, and its download: the 机构版 saves the log file
  (:func:`log_file`), the 平台版 a zip of every log file (:func:`log_zip`).

Stable names: ``AboutDialog``, ``LogDialog``, ``log_file``, ``log_zip``, ``LOG_TAIL_BYTES``.
"""

from __future__ import annotations

import html
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipyvuetify as v
import ipywidgets as widgets

from cwdx.errors import CwdxError, os_error_text
from cwdx_widgets.vue.dialogs import Panel
from cwdx_widgets.vue.downloads import Download, Downloader
from cwdx_widgets.vue.messages import Message, report_exception
from cwdx_widgets.words import log_text

#: The last part of the log file the dialog shows (the download gives the whole file).
LOG_TAIL_BYTES = 1_000_000


class AboutDialog:
    """关于: product version, 口径 version, reference lists (rows, SHA-256), read when first
    opened (errors become a message in the dialog).

    Classes: ``cwdx-about`` (the card), ``cwdx-about-body``, ``cwdx-about-versions``,
    ``cwdx-about-alert``, ``cwdx-about-close``."""

    def __init__(self, *, width: str = "960px") -> None:
        self.body = widgets.HTML("")
        self.body.add_class("cwdx-about-body")
        self.alert = Message("cwdx-about-alert")
        self.panel = Panel(
            "关于", [self.body, self.alert.widget], "cwdx-about", width=width, on_open=self.load
        )
        self.widget = self.panel.widget

    def open(self) -> None:
        """Show the dialog."""
        self.panel.open()

    def load(self) -> None:
        """Render the versions once."""
        if self.body.value:
            return
        try:
            self.body.value = self.render()
        except Exception as exc:  # never a traceback in the page
            report_exception(self.alert, "读取版本信息", exc)

    @staticmethod
    def render() -> str:
        """The dialog's HTML."""
        import cwdx
        from cwdx.reference import load_reference
        from cwdx_widgets.common import html_table
        from cwdx_widgets.words import reference_title

        files = load_reference().files
        table = html_table(
            ["参考数据", "文件", "行数", "SHA-256"],
            [(reference_title(f.file), f.file, f"{f.rows:,}", f.sha256) for f in files],
            numeric=["行数"],
        )
        return (
            f'<div class="cwdx-about-versions">产品版本：cwdx {html.escape(cwdx.__version__)}'
            f"<br>指标口径版本：{html.escape(cwdx.METRICS_VERSION)}</div>"
            '<div class="cwdx-note">参考数据（代码表与表样定义）：</div>' + table
        )


def log_file(log_path: str | Path) -> Download:
    """The log file itself (the 机构版's 下载日志文件)."""
    path = Path(log_path)
    if not path.is_file():
        raise CwdxError("日志文件还不存在：进行一次导入或检测后再下载。")
    return Download(path.name, path.read_bytes(), "text/plain;charset=utf-8")


def log_zip(log_path: str | Path) -> Download:
    """Every file of the log's folder (rotated ones too) in one zip (the 平台版's 下载调试日志)."""
    folder = Path(log_path).parent
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise CwdxError("还没有日志文件：进行一次导入或检测后再下载。")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.name)
    return Download("调试日志.zip", buffer.getvalue(), "application/zip")


class LogDialog:
    """日志: the log in a selectable, read-only text box (its last :data:`LOG_TAIL_BYTES`),
    刷新, the download ``build(log_path)`` makes (label ``label``, class ``download_class``),
    ``extra`` widgets beside them, and the folder the log is kept in.

    Classes: ``cwdx-log-section`` (the card), ``cwdx-log-text``, ``cwdx-log-refresh``,
    ``cwdx-log-folder``, ``cwdx-log-alert``, ``cwdx-log-section-close``."""

    def __init__(
        self,
        log_path: str | Path,
        *,
        build: Callable[[Path], Download] = log_file,
        label: str = "下载日志文件",
        download_class: str = "cwdx-log-download",
        extra: list[Any] | None = None,
    ) -> None:
        self.path = Path(log_path)
        self.alert = Message("cwdx-log-alert")
        self.text = widgets.Textarea(
            value="", layout=widgets.Layout(width="100%", height="320px"), continuous_update=False
        )
        self.text.add_class("cwdx-log-text")
        self.text.observe(self._keep_text, names="value")
        self._content = ""
        self.reload = v.Btn(
            children=["刷新"],
            variant="outlined",
            prepend_icon="mdi-refresh",
            class_="cwdx-log-refresh text-none",
        )
        self.reload.on_event("click", lambda *_args: self._safe_load())
        self.download = Downloader(label, lambda _p: build(self.path), self.alert, download_class)
        self.folder = widgets.HTML(
            '<div class="cwdx-note">日志文件保存在：'
            f"<code>{html.escape(str(self.path.parent))}</code></div>"
        )
        self.folder.add_class("cwdx-log-folder")
        buttons = v.Html(
            tag="div",
            class_="d-flex flex-wrap align-center ga-2",
            children=[self.reload, self.download.widget, *(extra or [])],
        )
        self.body = v.Html(
            tag="div",
            class_="cwdx-log d-flex flex-column ga-2",
            children=[self.folder, self.text, buttons, self.alert.widget],
        )
        self.panel = Panel("日志", [self.body], "cwdx-log-section", on_open=self._safe_load)
        self.widget = self.panel.widget

    def open(self) -> None:
        """Show the dialog with the log as it is now."""
        self.panel.open()

    def close(self) -> None:
        """Hide the dialog."""
        self.panel.close()

    def _safe_load(self) -> None:
        try:
            self.load()
        except Exception as exc:  # never a traceback in the page
            report_exception(self.alert, "读取日志", exc)

    def _keep_text(self, change: dict[str, Any]) -> None:
        # The box is a copy of the log: edits are undone so it always shows the file.
        if change["new"] != self._content:
            self.text.value = self._content

    def load(self) -> None:
        """Read (the last part of) the log file into the text box."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(size - LOG_TAIL_BYTES, 0))
                data = handle.read()
        except FileNotFoundError:
            data, size = b"", 0
        except OSError as exc:
            self.alert.error(
                f"无法读取日志文件 {self.path}（{os_error_text(exc)}），请检查文件权限。"
            )
            return
        text = log_text(data.decode("utf-8", errors="replace"))
        if size > LOG_TAIL_BYTES:
            text = "……（仅显示最后部分，完整内容请下载日志文件）\n" + text.split("\n", 1)[-1]
        self._content = text or "（日志为空）"
        self.text.value = self._content

    def refresh(self) -> None:
        """Reload the log when the dialog is open."""
        if self.panel.is_open:
            self._safe_load()
