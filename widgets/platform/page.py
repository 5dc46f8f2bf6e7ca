"""The 平台版 page: app bar (title, running tasks at the top right, user, 退出登录), and the tabs
数据导入, 查看上传医院及检测, 数据操作, 后台任务日志 and 监控.

``cwdx/resources/notebooks/platform.ipynb`` only runs ``PlatformApp.from_environment().show()``.
The page never computes in its kernel: each button submits a task (:mod:`.actions`) and the
page follows the task table (:mod:`.tasks`).
"""

from __future__ import annotations

import getpass
import logging
import os
from typing import Any

import ipyvuetify as v
import ipywidgets as widgets
from IPython.display import display

from cwdx import page_kernel
from cwdx.errors import CwdxError
from cwdx.page_kernel import USER_ENV
from cwdx.workspace import Workspace
from cwdx.workspace.records import TaskRecord
from cwdx_widgets.platform.actions import EXPORTS, Actions, Submitted
from cwdx_widgets.platform.imports import IMPORT_TITLES, ImportPanel, InboxPanel
from cwdx_widgets.platform.monitor import MonitorPanel
from cwdx_widgets.platform.notices import ReturnNotice
from cwdx_widgets.platform.operations import OperationsPanel
from cwdx_widgets.platform.table import InstitutionTable
from cwdx_widgets.platform.tasks import Downloads, TaskLog, TaskWatcher, details_html
from cwdx_widgets.vue import (
    AboutDialog,
    AppBar,
    LogDialog,
    Message,
    Panel,
    Snackbar,
    log_zip,
    page,
    report_exception,
)

log = logging.getLogger("cwdx.app")

TITLE = "临床工作数据提取 · 平台版"
TABS = ("数据导入", "查看上传医院及检测", "数据操作", "后台任务日志", "监控")


def current_user() -> tuple[str, bool]:
    """``(name, signed_in)``: the signed-in user the login handed to this kernel, or, when the
    page runs without the login (a notebook on the operator's own machine), the OS user."""
    name = os.environ.get(USER_ENV, "").strip()
    if name:
        return name, True
    try:
        return getpass.getuser(), False
    except Exception:
        return "本机用户", False


class PlatformApp:
    """The whole 平台版 page on one workspace, acting in the name of ``user``."""

    def __init__(self, workspace: str | os.PathLike[str], user: str | None = None) -> None:
        self.ws = Workspace(workspace, create=False)
        found, self.signed_in = current_user()
        self.user = user or found
        self.base_url = os.environ.get("VOILA_BASE_URL", "/")
        self.actions = Actions(self.ws, self.user)
        self.alert = Message("cwdx-page-alert", closable=True)
        self.snackbar = Snackbar("cwdx-snackbar", timeout=8000)
        self.result_title = v.Html(tag="h3", class_="cwdx-result-title mb-2", children=[""])
        self.result_body = widgets.HTML("")
        self.result_body.add_class("cwdx-result-body")
        self.result_actions = v.Html(tag="div", class_="cwdx-result-actions mt-2", children=[])
        self.result = Panel(
            "任务与机构详情",
            [self.result_title, self.result_body, self.result_actions],
            "cwdx-result",
        )
        self.about = AboutDialog(width="760px")
        self.table = InstitutionTable(on_row_click=self.show_institution)
        self.imports = {
            t: ImportPanel(self.actions, t, self.submitted, self.failed) for t in IMPORT_TITLES
        }
        self.inbox = InboxPanel(self.actions, self.submitted, self.failed)
        self.operations = OperationsPanel(
            self.actions, self.table.selected, self.submitted, self.failed
        )
        self.downloads = Downloads(self.base_url)
        self.task_log = TaskLog(self.show_task)
        self.monitor = MonitorPanel(self._snapshot)
        to_tasks = v.Btn(
            variant="text",
            class_="cwdx-log-tasks text-none",
            prepend_icon="mdi-format-list-bulleted",
            children=["查看后台任务日志"],
        )
        to_tasks.on_event("click", lambda *_a: self._show_task_log())
        self.logs = LogDialog(
            self.ws.log_path,
            build=log_zip,
            label="下载调试日志",
            download_class="cwdx-debug-log",
            extra=[to_tasks],
        )
        self.watcher = TaskWatcher(self.ws, self.tasks_changed)
        self.watcher.on_finished = self.task_finished
        self.watcher.on_tick = self._tick
        self.returning = ReturnNotice(self.ws.path, self.user, self.task_finished)
        #: ended tasks whose outcome the result dialog showed since it was last closed
        self._outcomes: list[TaskRecord] = []
        self.result.widget.observe(self._result_closed, "v_model")
        self.buttons: dict[str, v.Btn] = {}
        self.tabs = v.Tabs(
            v_model=0,
            color="primary",
            class_="cwdx-tabs",
            children=[
                v.Tab(value=n, children=[t], class_=f"cwdx-tab-{n}") for n, t in enumerate(TABS)
            ],
        )
        contents = [
            self._import_tab(),
            self._table_tab(),
            self.operations.widget,
            self._log_tab(),
            self.monitor.widget,
        ]
        self.window = v.Window(
            v_model=0,
            class_="cwdx-tab-content pa-2",
            children=[v.WindowItem(value=n, children=[c]) for n, c in enumerate(contents)],
        )
        self.tabs.observe(self._tab_changed, "v_model")
        self.widget = page(
            [
                self._app_bar(),
                self.alert.widget,
                self.returning.widget,
                self.tabs,
                self.window,
                self.snackbar.widget,
                self.result.widget,
                self.about.widget,
                self.logs.widget,
            ],
            "cwdx-app cwdx-platform",
        )
        self.refresh()
        if not page_kernel.awaiting_request():  # else the user is known at the hand-out
            self._welcome()
        log.info("平台版页面已打开：用户 %s，%d 个机构", self.user, len(self.table.rows.infos))

    def _welcome(self) -> None:
        """Tasks outlive the page: follow this user's unfinished tasks, announce ended ones."""
        for task_id in self.returning.open_for(self.user, self.task_log.tasks.values()):
            self.watcher.follow(task_id)

    # --- layout ------------------------------------------------------------------------------
    def _button(self, label: str, css: str, action: Any, **kw: Any) -> v.Btn:
        btn = v.Btn(class_=f"ma-1 text-none {css}", children=[label], **kw)
        btn.on_event("click", lambda *_a: action())
        self.buttons[label] = btn
        return btn

    def _app_bar(self) -> Any:
        self.logout = v.Btn(
            variant="text",
            class_="cwdx-logout text-none",
            prepend_icon="mdi-logout",
            children=["退出登录"],
            href=self.base_url + "logout",
        )
        self.user_chip = v.Chip(size="small", class_="cwdx-user")
        self._show_user()
        bar = AppBar(
            "平台版",
            on_about=self.about.open,
            on_log=self.logs.open,
            extra=[self.watcher.widget, self.user_chip, self.logout],
        )
        return bar.widget

    def _show_user(self) -> None:
        who = self.user if self.signed_in else f"{self.user}（未启用登录，使用本机用户名）"
        self.user_chip.children = [f"用户：{who}"]
        self.logout.disabled = not self.signed_in

    def request_arrived(self, user: str | None) -> None:
        """This (preheated) page was handed to a request of the signed-in ``user`` (``None``
        without login): act in that name from now on and re-read the workspace."""
        if user:
            self.user, self.signed_in = user, True
            self.actions.user = user
            self._show_user()
            log.info("平台版页面交给用户 %s", user)
        self.refresh()
        self._welcome()

    def _import_tab(self) -> v.Html:
        overview = widgets.HTML("")
        overview.add_class("cwdx-import-overview")
        self.import_overview = overview
        return v.Html(
            tag="div",
            children=[
                *[p.widget for p in self.imports.values()],
                self.inbox.widget,
                v.Html(tag="h4", children=["最近一次导入的结果"]),
                overview,
            ],
        )

    def _table_tab(self) -> v.Html:
        buttons = [
            self._button("提交检测任务", "cwdx-submit-check", self.submit_check, color="primary"),
            self._button(
                "提交计算任务", "cwdx-submit-compute", self.submit_compute, color="primary"
            ),
            self._button("刷新", "cwdx-refresh", self.refresh, variant="text"),
        ]
        downloads = [
            self._button(
                label, f"cwdx-export-{what}", lambda w=what: self.export(w), variant="outlined"
            )
            for label, what in EXPORTS.items()
        ]
        return v.Html(
            tag="div",
            children=[
                v.Html(tag="div", children=buttons),
                self.table.widget,
                v.Card(
                    variant="outlined",
                    class_="pa-3 my-2",
                    children=[
                        v.CardTitle(class_="pa-0 pb-2", children=["下载"]),
                        v.Html(
                            tag="div",
                            class_="text-caption",
                            children=[
                                "下载文件由后台任务生成，完成后列在下面（需登录才能下载）；单个机构的文件请点击机构所在行。"
                            ],
                        ),
                        v.Html(tag="div", children=downloads),
                        self.downloads.widget,
                    ],
                ),
            ],
        )

    def _log_tab(self) -> v.Html:
        return v.Html(tag="div", children=[self.task_log.widget])

    # --- reading the workspace ---------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        from cwdx.tasks import monitor_snapshot

        return dict(monitor_snapshot(self.ws.path) or {})

    def show_tab(self, title: str) -> None:
        """Open the tab named ``title``."""
        self.tabs.v_model = TABS.index(title)

    def _show_task_log(self) -> None:
        self.logs.close()
        self.show_tab("后台任务日志")

    def _tab_changed(self, change: dict[str, Any]) -> None:
        self.window.v_model = change["new"]
        if change["new"] == TABS.index("监控"):
            self.monitor.refresh()

    def _tick(self) -> None:
        if self.tabs.v_model == TABS.index("监控"):
            self.monitor.refresh()

    def refresh(self) -> None:
        """Re-read institutions and tasks (the watcher also calls this when tasks change)."""
        try:
            self.tasks_changed(self.watcher.poll())
        except Exception as exc:
            report_exception(self.alert, "读取工作区状态", exc)

    def tasks_changed(self, tasks: list[TaskRecord]) -> None:
        """Tasks started or ended: re-read the institutions, task log, downloads, imports."""
        self.table.load(self.ws.institutions())
        self.task_log.load(tasks)
        self.downloads.load(tasks)
        self.inbox.refresh()
        self.logs.refresh()  # an open 日志 shows what the tasks logged
        last_import = next((t for t in tasks if t.kind == "import" and t.finished), None)
        self.import_overview.value = (
            details_html(last_import) if last_import else "还没有导入任务。"
        )

    # --- actions -----------------------------------------------------------------------------
    def submitted(self, done: Submitted) -> None:
        """A task was queued: say so, follow it, show it at the top right."""
        self.watcher.follow(done.task_id)
        self.notify(done.message)
        self.refresh()

    def failed(self, exc: Exception) -> None:
        """An action was refused (Chinese message) or failed unexpectedly (logged)."""
        if isinstance(exc, CwdxError):
            self.notify(exc.message, error=True)
        else:
            report_exception(self.alert, "提交任务", exc)

    def notify(self, text: str, error: bool = False) -> None:
        """Show ``text`` in the snackbar (red for a refusal)."""
        self.snackbar.show("error" if error else "success", text)

    def _submit(self, make: Any) -> None:
        try:
            done = make()
        except Exception as exc:
            self.failed(exc)
            return
        self.submitted(done)

    def submit_check(self) -> None:
        """提交检测任务 for the ticked institutions."""
        self._submit(lambda: self.actions.check(self.table.selected()))

    def submit_compute(self) -> None:
        """提交计算任务 for the ticked institutions that passed; the others are named."""
        ok, refused = self.table.rows.split_for_compute()
        self._submit(lambda: self.actions.compute(ok, refused))

    def export(self, what: str, orgs: list[str] | None = None) -> None:
        """A download button: build the files as a background task."""
        self._submit(lambda: self.actions.export(what, orgs))

    # --- dialogs -----------------------------------------------------------------------------
    def _dialog(
        self,
        title: str,
        body: str,
        actions: list[Any] | None = None,
        task: TaskRecord | None = None,
    ) -> None:
        if task is not None and task.finished:
            self._outcomes.append(task)
        self.result_title.children = [title]
        self.result_body.value = body
        self.result_actions.children = actions or []
        self.result.open()

    def _result_closed(self, change: dict[str, Any]) -> None:
        """The user closed the result dialog: the outcomes it showed count as seen (a kernel
        whose tab is gone never gets here, so the user is told on the next visit)."""
        if change["new"] or not self._outcomes:
            return
        for task in self._outcomes:
            self.returning.shown(task)
        self._outcomes = []

    def task_finished(self, task: TaskRecord) -> None:
        """A task this page submitted (or this user's, running when the page opened) ended, or
        its announcement's 查看 was clicked: its result dialog (per institution)."""
        word = "完成" if task.state == "Succeeded" else "失败"
        actions = []
        if task.kind == "export" and task.state == "Succeeded":
            actions = [
                v.Btn(
                    variant="text",
                    color="primary",
                    class_="cwdx-result-download",
                    href=url,
                    attributes={"download": ""},
                    children=[f"下载 {name.split('：')[-1]}"],
                )
                for name, url in self.downloads.links([task])
            ]
        self._dialog(f"任务 {task.id} {word}", details_html(task), actions, task)

    def show_task(self, task: TaskRecord) -> None:
        """后台任务日志 row clicked: the task's details."""
        fresh = self.ws.task(task.id)
        self._dialog(f"任务 {task.id} 详情", details_html(fresh), task=fresh)

    def show_institution(self, org: str) -> None:
        """A table row clicked: the institution's state and its own downloads."""
        info = self.table.rows.info(org)
        if info is None:
            return
        from cwdx_widgets.platform.rows import compute_refusal

        lines = [
            f"阶段：{info.stage}（{'已冻结' if info.frozen else '未冻结'}）",
            f"病案记录数：{info.cases:,}；申报人员数：{info.staff:,}",
        ]
        if info.checked:
            lines.append(
                f"检测时间：{info.checked_at}；错误 {info.errors or 0:,} 条，警告 {info.warnings or 0:,} 条"
            )
        why = compute_refusal(info)
        lines.append("可以提交计算任务。" if why is None else f"不能计算：{why}。")
        body = "".join(f"<div>{widgets_escape(x)}</div>" for x in lines)
        get = v.Btn(
            color="primary", class_="cwdx-row-export", children=["生成该机构的反馈表和计算结果"]
        )
        get.on_event("click", lambda *_a: self._export_one(org))
        self._dialog(info.display_name, body, [get])

    def _export_one(self, org: str) -> None:
        self.result.close()
        self.export("all", [org])

    # --- showing -----------------------------------------------------------------------------
    @classmethod
    def from_environment(cls) -> Any:
        """The page on ``$CWDX_WORKSPACE`` for the signed-in user; when the workspace cannot be
        opened, a page with the Chinese reason instead."""
        from cwdx_widgets.institution import page_from_environment

        return page_from_environment(cls, "平台版")

    def show(self) -> None:
        """Display the page and start following tasks and the monitor; when the server hands
        this kernel (preheated) to a request, :meth:`request_arrived` runs."""
        display(self.widget)
        self.watcher.start()
        page_kernel.on_request(self.request_arrived)


def widgets_escape(text: str) -> str:
    """HTML-escaped text."""
    import html

    return html.escape(text)
