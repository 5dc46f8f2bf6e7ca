"""Shared by the sections of the institution app: the page state every section refreshes from,
the step section with one primary button, and the downloads built by export tasks."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipyvuetify as v

from cwdx.errors import CwdxError
from cwdx_widgets.common import NextStepButton, html_area, note, row, section
from cwdx_widgets.task_state import wait_for_task
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


def export_download(
    ws: Workspace, what: str, orgs: list[str], offered: str, on_progress: ProgressFn
) -> Download:
    """Build a download as the 平台版 does: an ``export`` task (``what`` as
    :func:`cwdx.tasks.kinds.run_export` takes it) for the workspace's dispatcher, followed
    until it ends (its progress in ``on_progress``, its Chinese failure raised), then its file
    read back: the workbook whose name ends with ``offered`` (offered under that name: one
    hospital's ``H001-病案首页反馈表.xlsx`` is saved as ``病案首页反馈表.xlsx``), else the zip it
    wrote for several institutions. The file travels through the kernel (:class:`Downloader`),
    never through ``/voila/files/``."""
    from cwdx.tasks import submit_task
    from cwdx.tasks.kinds import DOWNLOADS

    task_id = submit_task(ws, "export", orgs, started_by=STARTED_BY, params={"what": what})
    task = wait_for_task(ws, task_id, on_progress)
    outputs = [str(name) for name in (task.details or {}).get("outputs") or []]
    folder = ws.path / DOWNLOADS / str(task_id)
    books = [name for name in outputs if name.endswith(offered)]
    zips = [name for name in outputs if name.endswith(".zip")]
    if books:
        return Download(offered, (folder / books[0]).read_bytes())
    if zips:
        return Download(zips[0], (folder / zips[0]).read_bytes(), "application/zip")
    raise CwdxError(f"没有可保存的{Path(offered).stem}：请先完成上面的步骤后再保存。")


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
