"""查看表样: download the two templates."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cwdx.reference import TABLE_TITLES
from cwdx_widgets.common import note, row, section
from cwdx_widgets.section_base import PageState
from cwdx_widgets.vue import Download, Downloader, Message


class TemplateSection:
    """查看表样: download the two template workbooks."""

    def __init__(self, alert: Message | None = None) -> None:
        self.alert = alert or Message("cwdx-templates-alert")
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
                row([d.widget for d in self.downloads.values()]),
                self.alert.widget,
            ],
        )

    def _build(self, table: str) -> Download:
        # lazy: cwdx.templates brings pandas (seconds on a busy PC), needed only on click
        from cwdx.templates import TEMPLATE_FILE_NAMES, write_template

        name = TEMPLATE_FILE_NAMES[table]
        with tempfile.TemporaryDirectory(prefix="cwdx-template-") as tmp:
            path = write_template(table, Path(tmp) / name)  # type: ignore[arg-type]
            return Download(name, path.read_bytes())

    def refresh(self, state: PageState) -> None:
        """Nothing depends on the workspace."""
