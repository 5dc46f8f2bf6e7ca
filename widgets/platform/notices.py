"""Tasks outlive the page: what a user who comes back to the 平台版 learns about their tasks.

Tasks run in the dispatcher, not in the page, so closing the tab does not stop them. When a
user opens the page again:

* their tasks still Queued or Running are followed as if this page had submitted them (their
  result dialog opens when they end);
* their tasks that ended while no page of theirs showed the outcome are announced at the top
  (“您不在页面期间，您提交的任务已结束”), each with a 查看 button that opens its result dialog.

Which outcomes a user has seen is kept per user in ``WS/notices/<hash of the name>.json`` (task
ids only). The file is not the workspace database (only the dispatcher writes that); a page
writes it when it shows an outcome. On a user's first visit every task of theirs that already
ended counts as seen, so nothing old is announced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import ipyvuetify as v

from cwdx.workspace.records import TaskRecord
from cwdx_widgets.platform.tasks import STATE_WORDS, kind_word

log = logging.getLogger("cwdx.app")

#: The folder of the per-user files of seen task outcomes.
NOTICES = "notices"
#: At most this many task ids are kept per user (the newest), and announced at once.
KEEP, SHOWN = 500, 10


class SeenTasks:
    """The task ids whose outcome ``user`` has seen (``WS/notices/<hash>.json``)."""

    def __init__(self, workspace: Path, user: str) -> None:
        digest = hashlib.sha256(user.encode("utf-8")).hexdigest()[:16]
        self.path = Path(workspace) / NOTICES / f"{digest}.json"
        self._lock = threading.Lock()

    def exists(self) -> bool:
        """Whether the user opened the page before (the file was written)."""
        return self.path.is_file()

    def load(self) -> set[int]:
        """The seen ids (empty when the file is missing or unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        return {int(x) for x in data.get("seen", []) if isinstance(x, int)}

    def add(self, ids: Iterable[int]) -> None:
        """Record ``ids`` as seen (written atomically; the newest :data:`KEEP` are kept)."""
        with self._lock:
            seen = sorted(self.load() | {int(i) for i in ids})[-KEEP:]
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"seen": seen}), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError:  # the page works on; the outcome may be announced once more
                log.exception("无法记录已查看的任务")


class ReturnNotice:
    """The announcement of a returning user's ended tasks (class ``cwdx-return-notice``) with a
    查看 button per task (``cwdx-notice-view-<id>``) and 知道了 (``cwdx-notice-dismiss``);
    ``show(task)`` opens a task's result dialog."""

    def __init__(self, workspace: Path, user: str, show: Callable[[TaskRecord], None]) -> None:
        self.workspace = Path(workspace)
        self.user = user
        self.seen = SeenTasks(self.workspace, user)
        self.show = show
        self.tasks: list[TaskRecord] = []
        self.widget = v.Html(tag="div", class_="cwdx-return-notice", children=[])

    def open_for(self, user: str, tasks: Iterable[TaskRecord]) -> list[int]:
        """:meth:`open` for ``user`` (a preheated page learns its user when it is handed out)."""
        if user != self.user:
            self.user, self.seen = user, SeenTasks(self.workspace, user)
        return self.open(tasks)

    def open(self, tasks: Iterable[TaskRecord]) -> list[int]:
        """The page opened with ``tasks`` (the task table, newest first): announce this user's
        ended, unseen tasks; return the ids of their unfinished ones, for the page to follow."""
        mine = [t for t in tasks if t.started_by == self.user]
        ended = [t for t in mine if t.finished]
        if not self.seen.exists():  # first visit: nothing old is news
            self.seen.add(t.id for t in ended)
            ended = []
        seen = self.seen.load()
        self.tasks = [t for t in ended if t.id not in seen][:SHOWN]
        self._render()
        if self.tasks:
            log.info("用户 %s 回到页面：%d 个任务在离开期间结束", self.user, len(self.tasks))
        return [t.id for t in mine if not t.finished]

    def shown(self, task: TaskRecord) -> None:
        """The outcome of ``task`` was shown to the user: seen, no longer announced."""
        self.seen.add([task.id])
        if any(t.id == task.id for t in self.tasks):
            self.tasks = [t for t in self.tasks if t.id != task.id]
            self._render()

    def dismiss(self) -> None:
        """知道了: every announced task counts as seen."""
        self.seen.add(t.id for t in self.tasks)
        self.tasks = []
        self._render()

    def _view(self, task: TaskRecord) -> None:
        self.show(task)
        self.shown(task)

    def _render(self) -> None:
        if not self.tasks:
            self.widget.children = []
            return
        lines = []
        for task in self.tasks:
            view = v.Btn(
                size="small",
                variant="text",
                color="primary",
                class_=f"cwdx-notice-view cwdx-notice-view-{task.id} text-none",
                children=["查看"],
            )
            view.on_event("click", lambda *_a, t=task: self._view(t))
            word = STATE_WORDS.get(task.state, task.state)
            text = f"任务 {task.id}（{kind_word(task)}）{word}，结束于 {task.end or ''}"
            lines.append(
                v.Html(
                    tag="div",
                    class_=f"cwdx-notice-task cwdx-notice-{task.state}",
                    children=[text, view],
                )
            )
        dismiss = v.Btn(
            size="small",
            variant="text",
            class_="cwdx-notice-dismiss text-none",
            children=["知道了"],
        )
        dismiss.on_event("click", lambda *_a: self.dismiss())
        self.widget.children = [
            v.Alert(
                type="info",
                variant="tonal",
                class_="my-2",
                children=[
                    v.Html(
                        tag="div",
                        class_="font-weight-bold",
                        children=["您不在页面期间，您提交的以下任务已结束："],
                    ),
                    *lines,
                    dismiss,
                ],
            )
        ]
