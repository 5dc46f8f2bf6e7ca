"""关于: versions and the reference lists the app uses."""

from __future__ import annotations

import html

import cwdx
from cwdx.reference import load_reference
from cwdx_widgets.common import html_area, html_table
from cwdx_widgets.section_base import PageState
from cwdx_widgets.vue import Message, Panel, report_exception
from cwdx_widgets.words import reference_title


class AboutSection:
    """关于 (a dialog opened from the app bar): product version, 口径 version, reference lists
    (rows, SHA-256), read when first opened."""

    def __init__(self) -> None:
        self.body = html_area("cwdx-about-body")
        self.alert = Message("cwdx-about-alert")
        self.panel = Panel("关于", [self.body, self.alert.widget], "cwdx-about", on_open=self.load)
        self.widget = self.panel.widget

    def open(self) -> None:
        """Show the dialog."""
        self.panel.open()

    def load(self) -> None:
        """Render the versions once (errors become a message in the dialog)."""
        if self.body.value:
            return
        try:
            self.body.value = self.render()
        except Exception as exc:  # never a traceback in the page
            report_exception(self.alert, "读取版本信息", exc)

    @staticmethod
    def render() -> str:
        """The section's HTML."""
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

    def refresh(self, state: PageState) -> None:
        """Nothing depends on the workspace."""
