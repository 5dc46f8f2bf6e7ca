"""The institution app (机构版): one page, top to bottom as ``apps.md`` lists it.

``cwdx/resources/notebooks/institution.ipynb`` only runs ``InstitutionApp.from_environment().show()``.
"""

from __future__ import annotations

import html
import logging
import os
from datetime import datetime
from pathlib import Path

import ipywidgets as widgets
from IPython.display import display

from cwdx.errors import Hint
from cwdx_widgets.common import STYLE, Alert, report_exception
from cwdx_widgets.sections import (
    AboutSection,
    CheckSection,
    ComputeSection,
    ImportSection,
    LogSection,
    PageState,
    TemplateSection,
    read_state,
)

log = logging.getLogger("cwdx.app")

TITLE = "临床工作数据提取 · 机构版"
#: The page style and title, at the top of the app and of the error page.
HEADER = STYLE + f'<h2 class="cwdx-title">{html.escape(TITLE)}</h2>'


class InstitutionApp:
    """The whole page for one workspace; :meth:`refresh` re-reads the workspace into every
    section after each action."""

    def __init__(self, workspace: str | os.PathLike[str]) -> None:
        from cwdx.workspace import Workspace

        self.ws = Workspace(workspace)
        self.alert = Alert("cwdx-page-alert")
        self.status = widgets.HTML("", layout=widgets.Layout(flex="1 1 auto"))
        self.status.add_class("cwdx-status")
        self.reload = widgets.Button(
            description="刷新状态",
            icon="refresh",
            tooltip="重新读取工作区（另一窗口或命令行改动数据后使用）",
            layout=widgets.Layout(width="auto", flex="0 0 auto"),
        )
        self.reload.add_class("cwdx-refresh")
        self.reload.on_click(lambda _b: self.reload_clicked())
        self.templates = TemplateSection()
        self.cases = ImportSection(self.ws, "cases", self.refresh)
        self.staff = ImportSection(self.ws, "staff", self.refresh)
        self.check = CheckSection(self.ws, self.refresh)
        self.compute = ComputeSection(self.ws, self.refresh)
        self.about = AboutSection()
        self.logs = LogSection(self.ws)
        self.sections = [
            self.templates,
            self.cases,
            self.staff,
            self.check,
            self.compute,
            self.about,
            self.logs,
        ]
        header = widgets.HTML(HEADER)  # no folder path: the clerk needs none
        self.widget = widgets.VBox(
            [
                header,
                widgets.HBox(
                    [self.status, self.reload], layout=widgets.Layout(align_items="center")
                ),
                self.alert.widget,
                *[s.widget for s in self.sections],
            ]
        )
        self.widget.add_class("cwdx-app")
        for step in (self.check, self.compute):  # a refusal's unfreeze step as a button
            step.run.next_step.unfreeze = self.unfreeze
        self.state = PageState()
        self.refresh()
        log.info("机构版页面已打开：%d 个机构", len(self.state.institutions))

    def refresh(self) -> None:
        """Re-read the workspace and update every section (errors become a page alert)."""
        try:
            self.alert.clear()
            self.state = read_state(self.ws)
            self.status.value = (
                '<div class="cwdx-alert cwdx-alert-info cwdx-stage">当前状态：'
                + html.escape(self.state.describe())
                + "</div>"
            )
            for part in self.sections:
                part.refresh(self.state)
        except Exception as exc:  # never a traceback in the page
            report_exception(self.alert, "读取工作区状态", exc)

    def unfreeze(self, hint: Hint) -> None:
        """Perform a refusal's unfreeze step (the button beside the refused action)."""
        changed = self.ws.unfreeze(
            hint.orgs, stage="compute" if hint.stage == "compute" else "check"
        )
        self.refresh()
        if changed and not self.alert.kind:
            names = "、".join(f"{org}（{old} → {new}）" for org, (old, new) in changed.items())
            self.alert.success(f"已解冻：{names}。")

    def reload_clicked(self) -> None:
        """刷新状态: re-read the workspace and say so (the page may look the same)."""
        self.refresh()
        if not self.alert.kind:
            now = datetime.now().strftime("%H:%M:%S")
            self.alert.info(f"已重新读取工作区状态（{now}）。")

    @classmethod
    def from_environment(cls) -> InstitutionApp | ErrorPage:
        """The app on ``$CWDX_WORKSPACE`` (default: the per-user workspace); when the workspace
        cannot be opened, a page with the Chinese reason instead."""
        from cwdx.app import WORKSPACE_ENV, default_workspace

        folder = Path(os.environ.get(WORKSPACE_ENV) or default_workspace())
        try:
            return cls(folder)
        except Exception as exc:
            page = ErrorPage()
            report_exception(page.alert, "打开工作区", exc)
            return page

    def show(self) -> None:
        """Display the page (in a notebook or Voilà)."""
        display(self.widget)


class ErrorPage:
    """Shown instead of the app when the workspace cannot be opened."""

    def __init__(self) -> None:
        self.alert = Alert("cwdx-page-alert")
        self.widget = widgets.VBox(
            [
                widgets.HTML(HEADER),
                self.alert.widget,
            ]
        )
        self.widget.add_class("cwdx-app")

    def show(self) -> None:
        """Display the page."""
        display(self.widget)
