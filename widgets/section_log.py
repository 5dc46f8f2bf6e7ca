"""日志: the tail of the log file, and the whole file to save."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipyvuetify as v
import ipywidgets as widgets

from cwdx.errors import CwdxError, os_error_text
from cwdx_widgets.common import row
from cwdx_widgets.section_base import PageState
from cwdx_widgets.vue import Download, Downloader, Message, Panel, report_exception
from cwdx_widgets.words import log_text

if TYPE_CHECKING:
    from cwdx.workspace import Workspace

#: The last part of the log file the page shows (the download gives the whole file).
LOG_TAIL_BYTES = 1_000_000


class LogSection:
    """日志 (a dialog opened from the app bar): the workspace log in a selectable text box,
    read when opened, its download and its folder."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
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
        self.download = Downloader(
            "下载日志文件", lambda _p: self._build(), self.alert, "cwdx-log-download"
        )
        folder = Path(ws.log_path).parent
        self.folder = widgets.HTML(
            f'<div class="cwdx-note">日志文件保存在：<code>{html.escape(str(folder))}</code></div>'
        )
        self.folder.add_class("cwdx-log-folder")
        self.body = v.Html(
            tag="div",
            class_="cwdx-log d-flex flex-column ga-2",
            children=[
                self.folder,
                self.text,
                row([self.reload, self.download.widget]),
                self.alert.widget,
            ],
        )
        self.panel = Panel("日志", [self.body], "cwdx-log-section", on_open=self._safe_load)
        self.widget = self.panel.widget

    def open(self) -> None:
        """Show the dialog with the log as it is now."""
        self.panel.open()

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
        path = Path(self.ws.log_path)
        try:
            with path.open("rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(size - LOG_TAIL_BYTES, 0))
                data = handle.read()
        except FileNotFoundError:
            data, size = b"", 0
        except OSError as exc:
            self.alert.error(f"无法读取日志文件 {path}（{os_error_text(exc)}），请检查文件权限。")
            return
        text = log_text(data.decode("utf-8", errors="replace"))
        if size > LOG_TAIL_BYTES:
            text = "……（仅显示最后部分，完整内容请下载日志文件）\n" + text.split("\n", 1)[-1]
        self._content = text or "（日志为空）"
        self.text.value = self._content

    def _build(self) -> Download:
        path = Path(self.ws.log_path)
        if not path.is_file():
            raise CwdxError("日志文件还不存在：进行一次导入或检测后再下载。")
        return Download(path.name, path.read_bytes(), "text/plain;charset=utf-8")

    def refresh(self, state: PageState) -> None:
        """Reload the log when the dialog is open."""
        if self.panel.is_open:
            self.load()
