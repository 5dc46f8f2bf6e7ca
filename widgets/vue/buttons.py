"""Buttons for long actions: :class:`LoadingBtn` and the :func:`loading_button` decorator.

In the style of sepal_ui's ``loading_button``: while the action runs the button is disabled and
shows its spinner, a :class:`TaskProgress` beside it shows the engine's reports, a second
click (even one sent before the first was handled) never runs the action twice, and any
exception becomes one Chinese sentence in a :class:`Message` (see :func:`report_exception`).

Stable names: ``LoadingBtn``, ``ClickBtn``, ``loading_button``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import ipyvuetify as v

from cwdx_widgets.vue.messages import Offers, Shows, report_exception
from cwdx_widgets.vue.progress import ProgressFn, TaskProgress

log = logging.getLogger("cwdx.app")

F = TypeVar("F", bound=Callable[..., Any])


def _as_utc(value: object) -> datetime | None:
    """A message header's ``date`` (datetime or ISO text) as an aware UTC datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ClickBtn(v.Btn):
    """A Vuetify button that remembers when the browser sent the event being handled
    (``click_sent``).

    The kernel handles messages one after another, so a second click made while an action
    runs is handled after it ends; its send time (the message header's ``date``) tells it
    apart from a new click.
    """

    click_sent: datetime | None = None

    def _handle_msg(self, msg: dict) -> None:
        self.click_sent = _as_utc(msg.get("header", {}).get("date"))
        try:
            super()._handle_msg(msg)
        finally:
            self.click_sent = None


class LoadingBtn:
    """A button that runs a long ``action(on_progress)`` in its click handler.

    ``button`` carries ``css_class`` and ``cwdx-button`` (for selectors), ``progress`` the
    class ``<css_class>-progress``; ``widget`` holds both (and ``next_step``'s button, when
    given: the refusal's next step, e.g. an unfreeze). :attr:`enabled` is the state when no
    action runs. :meth:`click` runs the action as a click would and returns whether it
    finished without error.
    """

    def __init__(
        self,
        label: str,
        action: Callable[[ProgressFn], None],
        message: Shows,
        css_class: str,
        *,
        color: str = "primary",
        variant: str = "flat",
        icon: str = "",
        next_step: Offers | None = None,
        extra: list[Any] | None = None,
    ) -> None:
        self.action = action
        self.message = message
        self.label = label
        self.next_step = next_step
        self.button = ClickBtn(
            children=[label],
            color=color,
            variant=variant,
            class_=f"{css_class} cwdx-button text-none",
            prepend_icon=icon or None,
        )
        self.progress = TaskProgress(f"{css_class}-progress")
        parts: list[Any] = [self.button, self.progress.widget, *(extra or [])]
        self.widget = v.Html(tag="div", class_="d-flex align-center flex-wrap ga-3", children=parts)
        self.running = False
        self._enabled = True
        self._ended: datetime | None = None
        self.button.on_event("click", self._on_click)

    @property
    def enabled(self) -> bool:
        """Whether the button may be clicked when no action runs."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = bool(value)
        if not self.running:
            self.button.disabled = not self._enabled

    def on_progress(self, done: int, total: int, label: str = "") -> None:
        """The engines' progress callback: shown in :attr:`progress`."""
        self.progress.update(done, total, label)

    def click(self) -> bool:
        """Run the action as a click would (nothing when disabled)."""
        if not self._enabled:
            return False
        return self._run()

    def _on_click(self, *_args: Any) -> None:
        if self.running or not self._enabled:
            return
        sent = self.button.click_sent
        if sent is not None and self._ended is not None and sent < self._ended:
            log.info("%s：忽略运行期间的重复点击", self.label)
            return
        self._run()

    def _run(self) -> bool:
        if self.running:
            return False
        self.running = True
        self.button.disabled = True
        self.button.loading = True
        self.progress.start()
        if self.next_step is not None:
            self.next_step.offer(None)
        ok = False
        try:
            self.action(self.on_progress)
            ok = True
        except Exception as exc:  # the widget layer never lets an exception reach the page
            report_exception(self.message, self.label, exc, self.next_step)
        finally:
            self.running = False
            self.progress.stop()
            self.button.loading = False
            self.button.disabled = not self._enabled
            self._ended = datetime.now(UTC)
        return ok


def loading_button(message: Shows, button: v.Btn, action_name: str = "") -> Callable[[F], F]:
    """Decorate a click handler (sepal_ui style): while it runs ``button`` is disabled and
    loading; an exception becomes a sentence in ``message`` (see :func:`report_exception`)
    instead of reaching the page. For handlers wired by hand; :class:`LoadingBtn` bundles the
    same with progress and double-click protection."""

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if button.loading:
                return None
            was_disabled = bool(button.disabled)
            button.loading, button.disabled = True, True
            try:
                return func(*args, **kwargs)
            except Exception as exc:  # shown as a sentence, never a traceback
                report_exception(message, action_name or _label(button), exc)
                return None
            finally:
                button.loading, button.disabled = False, was_disabled

        return wrapper  # type: ignore[return-value]

    return decorator


def _label(button: v.Btn) -> str:
    texts = [c for c in button.children or [] if isinstance(c, str)]
    return "".join(texts) or "操作"
