"""Following background tasks in the 平台版: the progress at the top right, the result dialog
when a task ends, the list of downloads built by export tasks, and 后台任务日志.

Everything is read from the workspace's task table (``ws.tasks()``), so a reload of the page,
or another window, shows the same tasks. :class:`TaskWatcher` polls it from a background thread
and only sets widget traits (ipykernel 7 sends trait changes from any thread; printing or
displaying from a thread would go nowhere).
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ipyvuetify as v
import traitlets

from cwdx.page_kernel import download_url
from cwdx.workspace import Workspace
from cwdx.workspace.records import TaskRecord
from cwdx_widgets.task_state import progress_of
from cwdx_widgets.vue import TaskProgress

log = logging.getLogger("cwdx.app")

#: Task states as the page names them.
STATE_WORDS = {
    "Queued": "排队中",
    "Running": "运行中",
    "Succeeded": "已完成",
    "Failed": "失败",
}
STATE_COLORS = {"Queued": "grey", "Running": "blue", "Succeeded": "green", "Failed": "red"}
#: Task kinds as the page names them (the dispatcher's own words when it has them).
KIND_WORDS = {
    "import": "导入数据",
    "check": "数据检测",
    "compute": "指标计算",
    "export": "生成下载文件",
    "report": "生成报告",
    "delete": "删除数据",
    "unfreeze": "解冻",
    "clear": "清空数据",
}
#: Per-institution counts of a task's details, as the page names them.
COUNT_WORDS = {
    "rows": "导入行数",
    "passed": "检测结果",
    "errors": "错误",
    "warnings": "警告",
    "failed_rules": "未通过的规则",
    "staff": "申报人员",
    "matched": "已匹配",
    "unmatched": "未匹配",
}
#: How often the page reads the task table (seconds).
POLL_SECONDS = 2.0


def kind_word(task: TaskRecord) -> str:
    """The task's kind in Chinese (exports name what they build)."""
    return KIND_WORDS.get(task.kind, task.kind)


def orgs_text(orgs: Sequence[str], limit: int = 3) -> str:
    """``全部机构`` or the first codes and how many more."""
    if not orgs:
        return "全部机构"
    shown = "、".join(orgs[:limit])
    return shown + (f" 等 {len(orgs)} 个" if len(orgs) > limit else "")


def duration_text(seconds: float | None) -> str:
    """``1 分 05 秒`` (empty while unknown)."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    return f"{s // 60} 分 {s % 60:02d} 秒" if s >= 60 else f"{s} 秒"


def progress_text(task: TaskRecord, counts: bool = True) -> str:
    """One line for the top-right progress: kind, state, done/total and what it is on."""
    p = progress_of(task)
    text = f"任务 {task.id} {kind_word(task)}：{STATE_WORDS.get(task.state, task.state)}"
    if p.get("total") and counts:
        text += f" {p.get('done', 0)}/{p['total']}"
    if p.get("label"):
        text += f"（{p['label']}）"
    return text


def log_row(task: TaskRecord) -> dict[str, Any]:
    """One row of 后台任务日志."""
    seconds = getattr(task, "seconds", None)
    if seconds is None:
        seconds = task.duration
    return {
        "id": task.id,
        "kind": kind_word(task),
        "orgs": orgs_text(task.orgs),
        "user": task.started_by,
        "start": task.start or "",
        "end": task.end or "",
        "duration": duration_text(seconds),
        "state": task.state,
        "state_word": STATE_WORDS.get(task.state, task.state),
    }


def _cell(key: str, value: Any) -> str:
    if key == "passed":
        return "通过" if value else "未通过"
    if isinstance(value, list):
        return "、".join(str(x) for x in value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def details_html(task: TaskRecord) -> str:
    """The details of a task in the page's words: error, files, per-institution counts (errors
    red, warnings yellow), outputs."""
    d = task.details or {}
    parts = [
        f'<div class="cwdx-task-head">任务 {task.id}：{html.escape(kind_word(task))}，'
        f"{html.escape(orgs_text(task.orgs, 10))}，由 {html.escape(task.started_by or '未知用户')} "
        f"提交，状态：{STATE_WORDS.get(task.state, task.state)}</div>"
    ]
    if d.get("error"):
        parts.append(
            f'<div class="cwdx-task-error red--text">失败原因：{html.escape(str(d["error"]))}</div>'
        )
    files = d.get("files") or []
    if files:
        lines = []
        for f in files:
            name = html.escape(str(f.get("file", "")))
            if f.get("rejected"):
                lines.append(
                    f'<li class="red--text">{name}：未导入，{html.escape(str(f["rejected"]))}</li>'
                )
            else:
                lines.append(f"<li>{name}：导入 {int(f.get('rows') or 0):,} 行</li>")
        parts.append(f'<ul class="cwdx-task-files">{"".join(lines)}</ul>')
    per_org = d.get("orgs") or {}
    if isinstance(per_org, dict) and per_org:
        keys = [
            k for k in COUNT_WORDS if any(k in c for c in per_org.values() if isinstance(c, dict))
        ]
        head = "".join(f"<th>{COUNT_WORDS[k]}</th>" for k in keys)
        rows = []
        for org, counts in per_org.items():
            cells = []
            for k in keys:
                value = counts.get(k, "") if isinstance(counts, dict) else ""
                css = ""
                if k == "errors" and value:
                    css = ' class="cwdx-count-error" style="background:#ffebe9;color:#b00020"'
                elif k in ("warnings", "unmatched") and value:
                    css = ' class="cwdx-count-warning" style="background:#fff8c5;color:#7a5a00"'
                cells.append(f"<td{css}>{html.escape(_cell(k, value))}</td>")
            rows.append(f"<tr><td>{html.escape(org)}</td>{''.join(cells)}</tr>")
        parts.append(
            '<table class="cwdx-task-orgs" style="border-collapse:collapse" border="1" cellpadding="4">'
            f"<tr><th>组织机构代码</th>{head}</tr>{''.join(rows)}</table>"
        )
    return "".join(parts)


class TaskWatcher:
    """Reads the task table every few seconds: the top-right progress of running tasks, the
    result dialog of tasks this page submitted when they end, and the callbacks of the page
    (``on_change``: tasks changed, re-read the institutions)."""

    def __init__(self, ws: Workspace, on_change: Callable[[list[TaskRecord]], None]) -> None:
        self.ws = ws
        self.on_change = on_change
        self.mine: set[int] = set()
        self.on_finished: Callable[[TaskRecord], None] | None = None
        #: called after every poll (the page refreshes the 监控 panel while it is shown)
        self.on_tick: Callable[[], None] | None = None
        self._seen: dict[int, str] = {}
        self._bars: dict[int, TaskProgress] = {}
        self._first = True
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self.widget = v.Html(tag="div", class_="cwdx-task-progress d-flex flex-column", children=[])

    def follow(self, task_id: int) -> None:
        """Show this task's result dialog when it ends (the page submitted it)."""
        self.mine.add(task_id)

    def poll(self) -> list[TaskRecord]:
        """Read the tasks once and update the widgets (also called right after a submit);
        one poll at a time (the thread's and the kernel's)."""
        with self._lock:
            return self._poll()

    def _poll(self) -> list[TaskRecord]:
        tasks = self.ws.tasks(limit=200)
        running = [t for t in tasks if t.state in ("Queued", "Running")]
        shown = []
        for task in reversed(running):  # oldest first
            bar = self._bars.get(task.id)
            if bar is None:
                bar = self._bars[task.id] = TaskProgress(f"cwdx-running-task cwdx-task-{task.id}")
                bar.start(progress_text(task))
            p = progress_of(task)
            if p.get("total"):
                bar.update(
                    int(p.get("done") or 0), int(p["total"]), progress_text(task, counts=False)
                )
            else:
                bar.label.children = [progress_text(task)]
            shown.append(bar.widget)
        self._bars = {t.id: self._bars[t.id] for t in running}
        self.widget.children = shown
        states = {t.id: t.state for t in tasks}
        ended = [t for t in tasks if t.finished and self._seen.get(t.id) in ("Queued", "Running")]
        changed, first = states != self._seen, self._first
        self._seen, self._first = states, False
        if changed and not first:
            self.on_change(tasks)
        for task in ended:
            if task.id in self.mine and self.on_finished is not None:
                self.on_finished(task)
        if self.on_tick is not None:
            self.on_tick()
        return tasks

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception:  # the page keeps polling; the reason goes to the log
                log.exception("读取后台任务状态失败")

    def start(self) -> None:
        """Poll in a background thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="cwdx-task-watcher", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()


LOG_TEMPLATE = """
<template>
  <v-data-table
    :headers="headers"
    :items="items"
    item-value="id"
    :sort-by="[{key: 'id', order: 'desc'}]"
    :items-per-page="20"
    items-per-page-text="每页行数"
    page-text="第 {0}-{1} 行，共 {2} 行"
    no-data-text="还没有后台任务。"
    density="compact"
    hover
    class="cwdx-task-log"
    @click:row="(event, row) => task_click(row.item.id)"
  >
    <template v-slot:item.state_word="{ item }">
      <v-chip size="small" :color="item.color" :class="'cwdx-state-' + item.state">{{ item.state_word }}</v-chip>
    </template>
  </v-data-table>
</template>
"""


class TaskLogView(v.VuetifyTemplate):
    """The browser side of 后台任务日志 (a click on a row calls back with the task id)."""

    template = traitlets.Unicode(LOG_TEMPLATE).tag(sync=True)
    headers: traitlets.List[Any] = traitlets.List().tag(sync=True)
    items: traitlets.List[Any] = traitlets.List().tag(sync=True)

    def __init__(self, on_click: Callable[[int], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_click = on_click

    def vue_task_click(self, task_id: Any) -> None:
        """A row was clicked in the browser."""
        if isinstance(task_id, int):
            self.on_click(task_id)


class TaskLog:
    """后台任务日志: every task (kind, institutions, user, start, end, duration, state); a click
    on a row shows its details."""

    HEADERS = [
        {"title": "编号", "key": "id"},
        {"title": "类型", "key": "kind"},
        {"title": "机构", "key": "orgs"},
        {"title": "提交用户", "key": "user"},
        {"title": "开始时间", "key": "start"},
        {"title": "结束时间", "key": "end"},
        {"title": "用时", "key": "duration"},
        {"title": "状态", "key": "state_word"},
    ]

    def __init__(self, show_details: Callable[[TaskRecord], None]) -> None:
        self.show_details = show_details
        self.tasks: dict[int, TaskRecord] = {}
        self.view = TaskLogView(self.click, headers=self.HEADERS)
        self.widget = v.Html(
            tag="div",
            children=[
                v.Html(
                    tag="div",
                    class_="text-caption",
                    children=["点击一行查看任务详情（各机构的数量，或失败原因）。"],
                ),
                self.view,
            ],
        )

    def load(self, tasks: list[TaskRecord]) -> None:
        """Show these tasks."""
        self.tasks = {t.id: t for t in tasks}
        self.view.items = [
            {**log_row(t), "color": STATE_COLORS.get(t.state, "grey")} for t in tasks
        ]

    def click(self, task_id: int) -> None:
        """Click the row of ``task_id`` (as the browser does)."""
        if task_id in self.tasks:
            self.show_details(self.tasks[task_id])


class Downloads:
    """The files built by export tasks, each a link to the login-protected download handler."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.widget = v.Html(tag="div", class_="cwdx-downloads", children=[])

    def links(self, tasks: list[TaskRecord]) -> list[tuple[str, str]]:
        """``(file name, address)`` of every file of the succeeded export tasks, newest first."""
        out = []
        for task in tasks:
            if task.kind != "export" or task.state != "Succeeded":
                continue
            for name in (task.details or {}).get("outputs") or []:
                out.append(
                    (
                        f"任务 {task.id}（{task.end or ''}）：{name}",
                        download_url(task.id, name, self.base_url),
                    )
                )
        return out

    def load(self, tasks: list[TaskRecord]) -> None:
        """Show the links of these tasks' outputs."""
        links = self.links(tasks)[:30]
        if not links:
            self.widget.children = [
                v.Html(
                    tag="div",
                    class_="text-caption",
                    children=["还没有生成的下载文件：点上面的下载按钮，后台生成后会列在这里。"],
                )
            ]
            return
        self.widget.children = [
            v.Html(
                tag="div",
                children=[
                    v.Html(
                        tag="a",
                        attributes={"href": url, "download": ""},
                        class_="cwdx-download-link",
                        children=[label],
                    )
                ],
            )
            for label, url in links
        ]
