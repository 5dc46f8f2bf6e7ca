"""The institution app (机构版): one page with the app bar (product name, 阶段 chip, 刷新状态,
关于, 日志) and four tabs, the seed system's flow 查看表样 → 导入 → 数据检测 → 指标计算.

``cwdx/resources/notebooks/institution.ipynb`` only runs ``InstitutionApp.from_environment().show()``.
Building the page reads the workspace's institution table only: no pandas until an action or
a stored check/result needs it (the first button is usable within seconds, docs/BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import ipyvuetify as v
import ipywidgets as widgets
from IPython.display import display

from cwdx import page_kernel
from cwdx.errors import Hint
from cwdx_widgets.common import STYLE
from cwdx_widgets.sections import (
    CheckSection,
    ComputeSection,
    ImportSection,
    PageState,
    TemplateSection,
    read_state,
)
from cwdx_widgets.vue import (
    AboutDialog,
    AppBar,
    LogDialog,
    Message,
    StageChip,
    page,
    report_exception,
)

log = logging.getLogger("cwdx.app")

EDITION = "机构版"
TITLE = f"临床工作数据提取 · {EDITION}"
Page = TypeVar("Page")

#: The tabs: (key for the CSS class ``cwdx-tab-<key>``, label).
TABS: tuple[tuple[str, str], ...] = (
    ("templates", "查看表样"),
    ("import", "导入"),
    ("check", "数据检测"),
    ("compute", "指标计算"),
)


def _style() -> widgets.HTML:
    return widgets.HTML(STYLE, layout=widgets.Layout(display="none"))


class InstitutionApp:
    """The whole page for one workspace; :meth:`refresh` re-reads the workspace into every
    section after each action."""

    def __init__(self, workspace: str | os.PathLike[str]) -> None:
        from cwdx.workspace import Workspace

        self.ws = Workspace(workspace)
        self.alert = Message("cwdx-page-alert", closable=True)
        self.templates = TemplateSection()
        self.cases = ImportSection(self.ws, "cases", self.refresh)
        self.staff = ImportSection(self.ws, "staff", self.refresh)
        self.check = CheckSection(self.ws, self.refresh)
        self.compute = ComputeSection(self.ws, self.refresh)
        self.about = AboutDialog()
        self.logs = LogDialog(self.ws.log_path)
        self.sections = [
            self.templates,
            self.cases,
            self.staff,
            self.check,
            self.compute,
        ]
        self.stage = StageChip("cwdx-stage")
        self.reload = v.Btn(
            children=["刷新状态"],
            variant="text",
            prepend_icon="mdi-refresh",
            class_="cwdx-refresh text-none",
        )
        self.reload.on_event("click", lambda *_args: self.reload_clicked())
        self.bar = AppBar(
            EDITION,
            on_about=self.about.open,
            on_log=self.logs.open,
            extra=[self.stage.widget, self.reload],
        )
        self.status = v.Html(tag="div", class_="cwdx-status cwdx-note my-2", children=[""])
        self.tabs = v.Tabs(
            v_model=0,
            color="primary",
            class_="cwdx-tabs",
            children=[
                v.Tab(children=[label], value=index, class_=f"cwdx-tab-{key}")
                for index, (key, label) in enumerate(TABS)
            ],
        )
        panes = [
            [self.templates.widget],
            [self.cases.widget, self.staff.widget],
            [self.check.widget],
            [self.compute.widget],
        ]
        self.window = v.Window(
            v_model=0,
            class_="cwdx-window",
            children=[
                v.WindowItem(value=index, children=children, class_=f"cwdx-pane-{key}")
                for index, ((key, _label), children) in enumerate(zip(TABS, panes, strict=True))
            ],
        )
        self.tabs.observe(self._on_tab, names="v_model")
        body = v.Html(
            tag="div",
            class_="px-4 pb-4",
            children=[self.status, self.alert.widget, self.tabs, self.window],
        )
        self.widget = page([_style(), self.bar.widget, body, self.about.widget, self.logs.widget])
        for step in (self.check, self.compute):  # a refusal's unfreeze step as a button
            step.next_step.unfreeze = self.unfreeze
        self.state = PageState()
        self.refresh()
        log.info("机构版页面已打开：%d 个机构", len(self.state.institutions))

    @property
    def status_text(self) -> str:
        """The status line under the app bar."""
        return "".join(str(c) for c in self.status.children)

    @property
    def tab(self) -> str:
        """The key of the tab shown (see :data:`TABS`)."""
        return TABS[int(self.tabs.v_model or 0)][0]

    def show_tab(self, key: str) -> None:
        """Show the tab ``key`` (see :data:`TABS`)."""
        self.tabs.v_model = [k for k, _label in TABS].index(key)

    def _on_tab(self, change: dict[str, Any]) -> None:
        self.window.v_model = change["new"] if change["new"] is not None else 0

    def refresh(self) -> None:
        """Re-read the workspace and update every section (errors become a page message)."""
        try:
            self.alert.clear()
            self.state = read_state(self.ws)
            self.status.children = ["当前状态：" + self.state.describe()]
            stages = {i.stage for i in self.state.institutions}
            if len(stages) == 1:
                self.stage.set(stages.pop())
            else:
                self.stage.set("、".join(sorted(stages)) if stages else "")
            for part in self.sections:
                part.refresh(self.state)
            self.logs.refresh()  # an open 日志 shows what the action logged
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
        return page_from_environment(cls, EDITION)

    def show(self) -> None:
        """Display the page (in a notebook or Voilà); when the server hands this kernel
        (preheated) to a request, the page re-reads the workspace."""
        display(self.widget)
        page_kernel.on_request(lambda _user: self.refresh())


def page_from_environment(make: Callable[[Path], Page], edition: str) -> Page | ErrorPage:
    """``make(folder)`` on ``$CWDX_WORKSPACE`` (default: the per-user workspace), the page of
    either edition; when the workspace cannot be opened, an :class:`ErrorPage` of ``edition``
    with the Chinese reason instead."""
    from cwdx.app import WORKSPACE_ENV, default_workspace

    folder = Path(os.environ.get(WORKSPACE_ENV) or default_workspace())
    try:
        return make(folder)
    except Exception as exc:
        error = ErrorPage(edition)
        report_exception(error.alert, "打开工作区", exc)
        return error


class ErrorPage:
    """Shown instead of the app when the workspace cannot be opened."""

    def __init__(self, edition: str = EDITION) -> None:
        self.alert = Message("cwdx-page-alert")
        self.bar = AppBar(edition, on_about=lambda: None, on_log=lambda: None)
        for button in (self.bar.about, self.bar.log):  # no workspace: nothing to show
            button.hide()
        self.widget = page(
            [
                _style(),
                self.bar.widget,
                v.Html(tag="div", class_="pa-4", children=[self.alert.widget]),
            ]
        )

    def show(self) -> None:
        """Display the page."""
        display(self.widget)
