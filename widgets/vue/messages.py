"""Result messages that replace, never stack: :class:`Message` (an in-page alert) and
:class:`Snackbar` (a short notice at the bottom of the screen), plus :func:`report_exception`,
which turns any exception of an action into one Chinese sentence.

Stable names (used by both editions): ``Message``, ``Snackbar``, ``report_exception``,
``UNEXPECTED``, ``MESSAGE_KINDS``.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import ipyvuetify as v

from cwdx.errors import CwdxError, Hint

log = logging.getLogger("cwdx.app")

#: The sentence shown for an unexpected failure; the traceback goes to the log.
UNEXPECTED = (
    "{action}时发生意外错误（{kind}），操作未完成。详细信息已写入日志（见页面顶部“日志”），"
    "请把日志发给技术支持。"
)

#: Message kinds (Vuetify alert types): red, yellow, green, blue.
MESSAGE_KINDS = ("error", "warning", "success", "info")


class Shows(Protocol):
    """Anything that shows one message at a time (:class:`Message`, :class:`Snackbar`)."""

    def error(self, text: str) -> None:
        """Show a red message."""


class Offers(Protocol):
    """A next-step button for a refusal's :class:`Hint` (e.g. the page's unfreeze button)."""

    def offer(self, hint: Hint | None) -> None:
        """Show the step for ``hint`` (hide it for ``None``)."""


class _Kinds:
    """``error``/``warning``/``success``/``info`` shortcuts for a class with ``show(kind, text)``."""

    def show(self, kind: str, text: str) -> None:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def error(self, text: str) -> None:
        """Show ``text`` in red."""
        self.show("error", text)

    def warning(self, text: str) -> None:
        """Show ``text`` in yellow."""
        self.show("warning", text)

    def success(self, text: str) -> None:
        """Show ``text`` in green."""
        self.show("success", text)

    def info(self, text: str) -> None:
        """Show ``text`` in blue."""
        self.show("info", text)


class Message(_Kinds):
    """An in-page alert showing one message at a time: a new message replaces the old one.

    ``widget`` is a ``div`` with ``css_class`` holding (when a message is shown) a Vuetify
    alert with the classes ``cwdx-alert cwdx-alert-<kind>``; ``kind`` and ``text`` say what is
    shown (``""`` when nothing). Text is plain (Vue escapes it) and keeps its line breaks.
    """

    def __init__(self, css_class: str = "", *, closable: bool = False) -> None:
        self.alert = v.Alert(
            type="info",
            variant="tonal",
            density="compact",
            closable=closable,
            class_="cwdx-alert cwdx-alert-info my-2",
            style_="white-space: pre-wrap; line-height: 1.6;",
            children=[""],
        )
        if closable:
            self.alert.on_event("click:close", lambda *_args: self.clear())
        self.widget = v.Html(tag="div", class_=f"cwdx-alert-area {css_class}".strip(), children=[])
        self.kind = ""
        self.text = ""

    def show(self, kind: str, text: str) -> None:
        """Show ``text`` as a message of ``kind`` (one of :data:`MESSAGE_KINDS`)."""
        if kind not in MESSAGE_KINDS:
            raise ValueError(kind)
        self.kind, self.text = kind, text
        self.alert.type = kind
        self.alert.class_ = f"cwdx-alert cwdx-alert-{kind} my-2"
        self.alert.children = [text]
        self.widget.children = [self.alert]

    def clear(self) -> None:
        """Remove the message."""
        self.kind, self.text = "", ""
        self.widget.children = []


class Snackbar(_Kinds):
    """A notice at the bottom of the screen (the same API as :class:`Message`); a new notice
    replaces the one shown. Success and info notices close after ``timeout`` ms, errors and
    warnings stay until closed."""

    def __init__(self, css_class: str = "cwdx-snackbar", timeout: int = 6000) -> None:
        self.timeout = timeout
        self.close = v.Btn(children=["关闭"], variant="text", class_=f"{css_class}-close")
        self.close.on_event("click", lambda *_args: self.clear())
        self.widget = v.Snackbar(
            v_model=False,
            timeout=timeout,
            location="bottom",
            class_=css_class,
            children=[""],
            v_slots=[{"name": "actions", "children": [self.close]}],
        )
        self.widget.observe(self._on_close, names="v_model")
        self.kind = ""
        self.text = ""

    def _on_close(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            self.kind, self.text = "", ""

    def show(self, kind: str, text: str) -> None:
        """Show ``text`` as a notice of ``kind`` (one of :data:`MESSAGE_KINDS`)."""
        if kind not in MESSAGE_KINDS:
            raise ValueError(kind)
        self.kind, self.text = kind, text
        self.widget.color = kind
        self.widget.timeout = self.timeout if kind in ("success", "info") else -1
        self.widget.children = [text]
        self.widget.v_model = True

    def clear(self) -> None:
        """Close the notice."""
        self.widget.v_model = False
        self.kind, self.text = "", ""


def report_exception(
    message: Shows, action: str, exc: BaseException, next_step: Offers | None = None
) -> None:
    """Show ``exc`` in ``message`` as one Chinese sentence: a :class:`CwdxError` its own
    message (and its hint as ``next_step``), anything else :data:`UNEXPECTED` with the
    traceback written to the log (never to the page)."""
    if isinstance(exc, CwdxError):
        log.warning("%s：已拒绝（%s）", action, type(exc).__name__)
        message.error(exc.message)
        if next_step is not None:
            next_step.offer(exc.hint)
        return
    log.error("%s：意外错误 %s", action, type(exc).__name__, exc_info=exc)
    message.error(UNEXPECTED.format(action=action, kind=type(exc).__name__))
