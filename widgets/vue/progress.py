"""A task-progress indicator: a thin bar with a label (``文件 2/5``), hidden when idle.

Stable names: ``TaskProgress``, ``ProgressFn``.
"""

from __future__ import annotations

from collections.abc import Callable

import ipyvuetify as v

#: on_progress(done, total, label), the engines' progress callback.
ProgressFn = Callable[[int, int, str], None]


class TaskProgress:
    """Progress of one running action or background task.

    ``widget`` (class ``css_class``) is hidden until :meth:`start`; :meth:`update` is an
    engine's ``on_progress`` callback; :meth:`stop` hides it again. ``label`` (class
    ``<css_class>-label``) says what is being done and how far it is.
    """

    def __init__(self, css_class: str = "cwdx-progress", width: str = "220px") -> None:
        self.bar = v.ProgressLinear(
            model_value=0, max=1, height=6, color="primary", rounded=True, indeterminate=True
        )
        self.label = v.Html(
            tag="span", class_=f"{css_class}-label text-body-2 text-medium-emphasis", children=[""]
        )
        self.widget = v.Html(
            tag="div",
            class_=f"{css_class} d-none",
            style_=f"min-width: {width};",
            children=[self.bar, self.label],
        )
        self.done, self.total, self.text = 0, 0, ""

    @property
    def running(self) -> bool:
        """Whether the indicator is shown."""
        return "d-none" not in (self.widget.class_ or "").split()

    def start(self, text: str = "正在处理，请稍候…") -> None:
        """Show the indicator (indeterminate until the first :meth:`update`)."""
        self.done, self.total, self.text = 0, 0, text
        self.bar.indeterminate = True
        self.bar.model_value = 0
        self.label.children = [text]
        self.widget.class_list.remove("d-none")

    def update(self, done: int, total: int, label: str = "") -> None:
        """Show ``done`` of ``total`` with ``label`` (the engines' ``on_progress``)."""
        total = max(int(total), 1)
        done = min(max(int(done), 0), total)
        self.done, self.total = done, total
        self.text = f"{label} {done}/{total}" if label else f"{done}/{total}"
        self.bar.indeterminate = False
        self.bar.max = total
        self.bar.model_value = done
        self.label.children = [self.text]

    def stop(self) -> None:
        """Hide the indicator."""
        self.text = ""
        self.label.children = [""]
        self.widget.class_list.add("d-none")
