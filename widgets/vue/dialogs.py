"""Dialogs: :class:`Panel` (a titled dialog for 关于, 日志, task results) and
:class:`ConfirmDialog` (dangerous actions proceed only after typing a word, default 确认).

Stable names: ``Panel``, ``ConfirmDialog``, ``CONFIRM_WORD``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipyvuetify as v

#: The word a user types to confirm a dangerous action.
CONFIRM_WORD = "确认"


class Panel:
    """A dialog with a title, ``body`` and a 关闭 button; :meth:`open` shows it and calls
    ``on_open`` (e.g. to read the log at that moment).

    Classes: ``css_class`` on the dialog's card, ``<css_class>-close`` on the button."""

    def __init__(
        self,
        title: str,
        body: list[Any],
        css_class: str,
        *,
        width: str = "960px",
        on_open: Callable[[], None] | None = None,
    ) -> None:
        self.on_open = on_open
        self.close_button = v.Btn(
            children=["关闭"], variant="text", class_=f"{css_class}-close text-none"
        )
        self.close_button.on_event("click", lambda *_args: self.close())
        self.card = v.Card(
            class_=css_class,
            children=[
                v.CardTitle(children=[title]),
                v.CardText(children=body),
                v.CardActions(children=[v.Spacer(), self.close_button]),
            ],
        )
        self.widget = v.Dialog(
            v_model=False, max_width=width, scrollable=True, children=[self.card]
        )

    @property
    def is_open(self) -> bool:
        """Whether the dialog shows."""
        return bool(self.widget.v_model)

    def open(self) -> None:
        """Show the dialog (after ``on_open``)."""
        if self.on_open is not None:
            self.on_open()
        self.widget.v_model = True

    def close(self) -> None:
        """Hide the dialog."""
        self.widget.v_model = False


class ConfirmDialog:
    """Asks before a dangerous action: the text says what will happen, the 确定 button is
    enabled only once the user typed :data:`CONFIRM_WORD` (``word``); then ``on_confirm`` runs
    (its errors are the caller's: wrap it in a :class:`LoadingBtn` action or
    :func:`loading_button`).

    Classes: ``css_class`` (the card), ``<css_class>-text``, ``<css_class>-word`` (the text
    field), ``<css_class>-ok`` and ``<css_class>-cancel`` (the buttons).
    """

    def __init__(
        self,
        title: str,
        css_class: str,
        on_confirm: Callable[[], None],
        *,
        word: str = CONFIRM_WORD,
        ok_label: str = "确定",
    ) -> None:
        self.word = word
        self.on_confirm = on_confirm
        self.text = v.Html(
            tag="div",
            class_=f"{css_class}-text mb-3",
            style_="white-space: pre-wrap;",
            children=[""],
        )
        self.field = v.TextField(
            v_model="",
            label=f"请输入“{word}”后点击“{ok_label}”",
            density="compact",
            variant="outlined",
            hide_details=True,
            class_=f"{css_class}-word",
        )
        self.ok = v.Btn(
            children=[ok_label],
            color="error",
            variant="flat",
            disabled=True,
            class_=f"{css_class}-ok text-none",
        )
        self.cancel = v.Btn(
            children=["取消"], variant="text", class_=f"{css_class}-cancel text-none"
        )
        self.field.observe(self._on_typed, names="v_model")
        self.ok.on_event("click", lambda *_args: self.confirm())
        self.cancel.on_event("click", lambda *_args: self.close())
        self.title = v.CardTitle(children=[title])
        self.card = v.Card(
            class_=css_class,
            children=[
                self.title,
                v.CardText(children=[self.text, self.field]),
                v.CardActions(children=[v.Spacer(), self.cancel, self.ok]),
            ],
        )
        self.widget = v.Dialog(
            v_model=False, max_width="560px", persistent=True, children=[self.card]
        )

    def ask(self, text: str, title: str = "") -> None:
        """Open the dialog with ``text`` (and a new ``title``), the word field empty."""
        if title:
            self.title.children = [title]
        self.text.children = [text]
        self.field.v_model = ""
        self.ok.disabled = True
        self.widget.v_model = True

    @property
    def is_open(self) -> bool:
        """Whether the dialog shows."""
        return bool(self.widget.v_model)

    def _on_typed(self, change: dict[str, Any]) -> None:
        self.ok.disabled = (change["new"] or "").strip() != self.word

    def confirm(self) -> bool:
        """Proceed when the word was typed: close, then run ``on_confirm``."""
        if (self.field.v_model or "").strip() != self.word:
            return False
        self.close()
        self.on_confirm()
        return True

    def close(self) -> None:
        """Hide the dialog without acting."""
        self.widget.v_model = False
        self.field.v_model = ""
