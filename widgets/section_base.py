"""Shared by the sections of the institution app: the page state every section refreshes from,
the step section with one primary button, and saving generated workbooks."""

from __future__ import annotations

import html
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipyvuetify as v

from cwdx.errors import CwdxError
from cwdx_widgets.common import NextStepButton, html_area, note, row, section
from cwdx_widgets.vue import Download, LoadingBtn, Message, ProgressFn

if TYPE_CHECKING:
    from cwdx.workspace import InstitutionInfo, Workspace

#: Rows shown in a preview.
PREVIEW_ROWS = 100
#: Who the task table says submitted the 机构版's tasks (the page has no login).
STARTED_BY = "机构版"


@dataclass
class PageState:
    """What the page shows, read from the workspace after every action."""

    institutions: list[InstitutionInfo] = field(default_factory=list)

    @property
    def cases(self) -> int:
        """Case rows in the workspace."""
        return sum(i.cases for i in self.institutions)

    @property
    def staff(self) -> int:
        """Applicant rows in the workspace."""
        return sum(i.staff for i in self.institutions)

    def at(self, *stages: str) -> list[InstitutionInfo]:
        """The institutions at one of ``stages``."""
        return [i for i in self.institutions if i.stage in stages]

    @property
    def checked(self) -> list[InstitutionInfo]:
        """Institutions with a stored check."""
        return [i for i in self.institutions if i.checked]

    def describe(self) -> str:
        """One Chinese line per institution: code, name, stage and counts."""
        if not self.institutions:
            return "工作区中还没有数据：请先下载表样，按表样整理数据后导入。"
        lines = []
        for info in self.institutions:
            line = (
                f"机构 {info.display_name}：{info.stage}；病案首页数据 {info.cases:,} 条，"
                f"申报人员 {info.staff:,} 人"
            )
            if info.checked:
                line += f"；检测错误 {info.errors:,} 个，警告 {info.warnings:,} 个"
            lines.append(line + "。")
        return "\n".join(lines)


def read_state(ws: Workspace) -> PageState:
    """The current :class:`PageState` of ``ws``."""
    return PageState(institutions=ws.institutions())


Refresh = Callable[[], None]


def files_to_download(folder: Path, name: str, zip_name: str) -> Download:
    """The file(s) called ``name`` under ``folder``: the workbook itself when there is one,
    a zip of ``<机构>/name`` when several institutions have one."""
    found = sorted(folder.rglob(name))
    if not found:
        raise CwdxError(f"没有可保存的{Path(name).stem}：请先完成上面的步骤后再保存。")
    if len(found) == 1:
        return Download(name, found[0].read_bytes())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in found:
            archive.write(path, path.relative_to(folder).as_posix())
    return Download(zip_name, buffer.getvalue(), "application/zip")


class StepSection:
    """A step of the flow with one primary button (数据检测, 指标计算): its message, the
    button (with the refusal's next step beside it), a hint under it saying why it is
    disabled, and the card around ``body``."""

    def __init__(
        self,
        ws: Workspace,
        refresh_page: Refresh,
        name: str,
        title: str,
        label: str,
        action: Callable[[ProgressFn], None],
        intro: str,
    ) -> None:
        self.ws = ws
        self.refresh_page = refresh_page
        self.alert = Message(f"cwdx-{name}-alert")
        self.next_step = NextStepButton(self.alert, f"cwdx-{name}-run-next-step")
        self.run = LoadingBtn(
            label,
            action,
            self.alert,
            f"cwdx-{name}-run",
            icon="mdi-play",
            next_step=self.next_step,
            extra=[self.next_step.button],
        )
        self.hint = html_area(f"cwdx-{name}-hint")
        self.title, self.name, self.intro = title, name, intro

    def build(self, body: list[Any]) -> v.Card:
        """The card: intro, button, hint, message, then ``body``."""
        head = [note(self.intro), row([self.run.widget]), self.hint, self.alert.widget]
        return section(self.title, f"cwdx-{self.name}", [*head, *body])

    def show_hint(self, text: str) -> None:
        """The grey line under the button (``""``: none)."""
        self.hint.value = f'<div class="cwdx-note">{html.escape(text)}</div>' if text else ""
