"""The app bar of both editions (a Vuetify toolbar at the top of the page, which needs no
v-app layout): product name, edition, and the 关于 / 日志 buttons.

Stable names: ``PRODUCT``, ``AppBar``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipyvuetify as v

#: The product's name in the bar (the edition follows it).
PRODUCT = "临床工作数据提取"


class AppBar:
    """``PRODUCT · edition`` on the left; ``extra`` widgets (e.g. a stage chip, a task
    indicator), then 关于 and 日志 on the right.

    Classes: ``cwdx-appbar`` (the bar), ``cwdx-title`` (the name), ``cwdx-appbar-about`` and
    ``cwdx-appbar-log`` (the buttons). ``on_about``/``on_log`` are called on click.
    """

    def __init__(
        self,
        edition: str,
        *,
        on_about: Callable[[], None],
        on_log: Callable[[], None],
        extra: list[Any] | None = None,
    ) -> None:
        self.title_text = f"{PRODUCT} · {edition}"
        self.title = v.ToolbarTitle(
            children=[v.Html(tag="span", class_="cwdx-title", children=[self.title_text])]
        )
        self.about = v.Btn(
            children=["关于"],
            variant="text",
            prepend_icon="mdi-information-outline",
            class_="cwdx-appbar-about text-none",
        )
        self.log = v.Btn(
            children=["日志"],
            variant="text",
            prepend_icon="mdi-text-box-outline",
            class_="cwdx-appbar-log text-none",
        )
        self.about.on_event("click", lambda *_args: on_about())
        self.log.on_event("click", lambda *_args: on_log())
        self.extra = v.Html(tag="div", class_="d-flex align-center ga-2 mr-2", children=extra or [])
        self.widget = v.Toolbar(
            color="primary",
            density="compact",
            class_="cwdx-appbar",
            children=[self.title, v.Spacer(), self.extra, self.about, self.log],
        )
