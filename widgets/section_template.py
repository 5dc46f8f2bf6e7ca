"""查看表样: download the two templates."""

from __future__ import annotations

import tempfile
from pathlib import Path

import ipywidgets as widgets

from cwdx.reference import TABLE_TITLES
from cwdx.templates import TEMPLATE_FILE_NAMES, write_template
from cwdx_widgets.common import (
    Alert,
    Download,
    Downloader,
    note,
    section,
)
from cwdx_widgets.section_base import PageState


class TemplateSection:
    """查看表样: download the two template workbooks."""

    def __init__(self, alert: Alert | None = None) -> None:
        self.alert = alert or Alert("cwdx-templates-alert")
        self.names = TEMPLATE_FILE_NAMES
        self.downloads = {
            table: Downloader(
                f"下载{TABLE_TITLES[table]}表样",
                lambda _p, t=table: self._build(t),
                self.alert,
                f"cwdx-template-{table}",
            )
            for table in ("cases", "staff")
        }
        self.widget = section(
            "查看表样",
            "cwdx-templates",
            [
                note(
                    "请按表样整理数据：第一个工作表为数据，第一行为列名；“填写说明”工作表列出每列的格式和取值。"
                ),
                widgets.HBox([d.widget for d in self.downloads.values()]),
                self.alert.widget,
            ],
        )

    def _build(self, table: str) -> Download:
        with tempfile.TemporaryDirectory(prefix="cwdx-template-") as tmp:
            path = write_template(table, Path(tmp) / self.names[table])  # type: ignore[arg-type]
            return Download(self.names[table], path.read_bytes())

    def refresh(self, state: PageState) -> None:
        """Nothing depends on the workspace."""
