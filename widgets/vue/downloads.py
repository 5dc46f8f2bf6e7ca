"""Downloads through the page's own kernel connection (never a URL another user could open):
a :class:`Downloader` builds the file on click and the browser saves it.

Stable names: ``Download``, ``Downloader``, ``download_script``, ``XLSX_MIME``.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets
from IPython.display import Javascript

from cwdx_widgets.vue.buttons import LoadingBtn
from cwdx_widgets.vue.messages import Shows
from cwdx_widgets.vue.progress import ProgressFn

log = logging.getLogger("cwdx.app")

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Download:
    """A file to hand to the browser."""

    filename: str
    data: bytes
    mime: str = XLSX_MIME


def download_script(download: Download) -> str:
    """JavaScript that saves ``download`` in the browser (Blob + temporary anchor), once: a
    re-rendered output (a tab shown again) does not save it a second time."""
    payload = base64.b64encode(download.data).decode("ascii")
    token = secrets.token_hex(8)
    return (
        "(function(){"
        f"var k={json.dumps(token)};window.cwdxSaved=window.cwdxSaved||{{}};"
        "if(window.cwdxSaved[k]){return;}window.cwdxSaved[k]=1;"
        f"var s=atob({json.dumps(payload)});"
        "var a=new Uint8Array(s.length);for(var i=0;i<s.length;i++){a[i]=s.charCodeAt(i);}"
        f"var u=URL.createObjectURL(new Blob([a],{{type:{json.dumps(download.mime)}}}));"
        "var l=document.createElement('a');l.style.display='none';l.href=u;"
        f"l.download={json.dumps(download.filename)};"
        "document.body.appendChild(l);l.click();"
        "setTimeout(function(){URL.revokeObjectURL(u);l.remove();},60000);"
        "})();"
    )


class Downloader:
    """A :class:`LoadingBtn` (outlined, download icon) that builds a file on click and hands
    it to the browser. ``build(on_progress)`` returns the :class:`Download` (or raises
    :class:`~cwdx.errors.CwdxError`, shown in ``message``); ``last`` is the last file sent."""

    def __init__(
        self,
        label: str,
        build: Callable[[ProgressFn], Download],
        message: Shows,
        css_class: str,
        *,
        icon: str = "mdi-download",
    ) -> None:
        self.build = build
        self.last: Download | None = None
        self.output = widgets.Output(layout=widgets.Layout(display="none"))
        self.output.add_class(f"{css_class}-sink")
        self.button = LoadingBtn(
            label,
            self._deliver,
            message,
            css_class,
            color="primary",
            variant="outlined",
            icon=icon,
            extra=[self.output],
        )
        self.widget = self.button.widget

    @property
    def enabled(self) -> bool:
        """Whether the download button may be clicked."""
        return self.button.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.button.enabled = value

    def click(self) -> bool:
        """Build and deliver the file as a click would."""
        return self.button.click()

    def _deliver(self, on_progress: ProgressFn) -> None:
        download = self.build(on_progress)
        self.last = download
        # replace (never append to) the previous script: a re-rendered output runs them all
        self.output.outputs = ()
        self.output.append_display_data(Javascript(download_script(download)))
        log.info("下载：%s（%d 字节）", download.filename, len(download.data))
