"""关于: versions and the reference lists the app uses."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

import cwdx
from cwdx.reference import load_reference
from cwdx_widgets.common import (
    Alert,
    html_area,
    html_table,
    report_exception,
)
from cwdx_widgets.section_base import (
    PageState,
)
from cwdx_widgets.words import reference_title


class AboutSection:
    """关于: product version, 口径 version, reference lists (rows, SHA-256)."""

    def __init__(self) -> None:
        self.body = html_area("cwdx-about-body")
        self.widget = widgets.Accordion(children=[self.body], titles=("关于",), selected_index=None)
        self.widget.add_class("cwdx-about")
        self.widget.observe(self._on_open, names="selected_index")

    def _on_open(self, change: dict[str, Any]) -> None:
        if change["new"] is not None and not self.body.value:
            try:
                self.body.value = self.render()
            except Exception as exc:  # never a traceback in the page
                alert = Alert()
                report_exception(alert, "读取版本信息", exc)
                self.body.value = alert.widget.value

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
