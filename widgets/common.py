"""Building blocks shared by the app sections: alerts, the loading button, downloads, tables.

Every long action goes through :class:`LoadingButton`: it disables its button while running,
shows progress, and turns any exception into a Chinese alert in the page (a :class:`CwdxError`
shows its own message; anything else a generic sentence, with the traceback written to the
workspace log). Downloads never go through Voilà's unauthenticated ``/voila/files/`` route:
:class:`Downloader` builds the file on click and hands it to the browser through the page.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import ipywidgets as widgets
from IPython.display import Javascript

from cwdx.errors import CwdxError, Hint
from cwdx.workspace.stages import UNFREEZE_CHECK, UNFREEZE_COMPUTE
from cwdx.xlsx import is_missing

log = logging.getLogger("cwdx.app")

#: on_progress(done, total, label), the engines' progress callback.
ProgressFn = Callable[[int, int, str], None]

#: The sentence shown for an unexpected failure; the traceback goes to the log.
UNEXPECTED = "{action}时发生意外错误（{kind}），操作未完成。详细信息已写入日志（见页面底部“日志”），请把日志发给技术支持。"


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


class ClickButton(widgets.Button):
    """A Button that remembers when the browser sent the click being handled.

    The kernel handles messages one after another, so a second click made while an action
    runs is handled after it ends; its send time (the message header's ``date``) tells it
    apart from a new click.
    """

    def _handle_msg(self, msg: dict) -> None:
        self.click_sent = _as_utc(msg.get("header", {}).get("date"))
        try:
            super()._handle_msg(msg)
        finally:
            self.click_sent = None


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

STYLE = """
<style>
.cwdx-app { max-width: 1200px; font-size: 14px; }
.cwdx-app h2.cwdx-title { margin: 4px 0 2px 0; }
.cwdx-section { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 14px 12px 14px;
  margin: 8px 0; background: #fff; }
.cwdx-section h3 { margin: 4px 0 8px 0; font-size: 17px; }
.cwdx-note { color: #57606a; }
.cwdx-alert { padding: 6px 10px; border-radius: 4px; margin: 4px 0; white-space: pre-wrap;
  line-height: 1.6; }
.cwdx-alert-error { background: #ffebe9; border: 1px solid #ff8182; color: #82071e; }
.cwdx-alert-success { background: #dafbe1; border: 1px solid #4ac26b; color: #116329; }
.cwdx-alert-info { background: #ddf4ff; border: 1px solid #54aeff; color: #0a3069; }
.cwdx-alert-warning { background: #fff8c5; border: 1px solid #d4a72c; color: #4d2d00; }
.cwdx-table-wrap { max-height: 380px; overflow: auto; border: 1px solid #d0d7de; }
.cwdx-table-wrap.cwdx-rules-wrap { max-height: 640px; }
.cwdx-table { border-collapse: separate; border-spacing: 0; font-size: 12px; white-space: nowrap; }
.cwdx-table th { position: sticky; top: 0; background: #f6f8fa; z-index: 1; }
.cwdx-table th, .cwdx-table td { border: 0 solid #d0d7de; border-width: 0 1px 1px 0;
  padding: 2px 6px; text-align: left; }
.cwdx-table td.cwdx-num { text-align: right; }
.cwdx-table tr.cwdx-row-error td { color: #cf222e; }
.cwdx-table tr.cwdx-row-warning td { background: #fff8c5; }
.cwdx-table td.cwdx-wrap { white-space: normal; min-width: 240px; }
.cwdx-verdict { font-size: 18px; font-weight: bold; padding: 6px 12px; border-radius: 4px; }
.cwdx-verdict-pass { color: #116329; background: #dafbe1; }
.cwdx-verdict-fail { color: #82071e; background: #ffebe9; }
.cwdx-log textarea { font-family: monospace; font-size: 12px; }
</style>
"""


class Alert:
    """A message area: one alert at a time (error, warning, success or info)."""

    def __init__(self, css_class: str = "") -> None:
        self.widget = widgets.HTML(value="")
        self.widget.add_class("cwdx-alert-area")
        if css_class:
            self.widget.add_class(css_class)
        self.kind = ""
        self.text = ""

    def show(self, kind: str, text: str) -> None:
        """Show ``text`` (plain text, escaped) as an alert of ``kind``."""
        self.kind, self.text = kind, text
        self.widget.value = (
            f'<div class="cwdx-alert cwdx-alert-{kind}" role="alert">{html.escape(text)}</div>'
        )

    def error(self, text: str) -> None:
        """Show a red alert."""
        self.show("error", text)

    def warning(self, text: str) -> None:
        """Show a yellow alert."""
        self.show("warning", text)

    def success(self, text: str) -> None:
        """Show a green alert."""
        self.show("success", text)

    def info(self, text: str) -> None:
        """Show a blue alert."""
        self.show("info", text)

    def clear(self) -> None:
        """Remove the alert."""
        self.kind, self.text = "", ""
        self.widget.value = ""


class NextStepButton:
    """A button offering a refusal's next step (:attr:`CwdxError.hint`): where the command
    line prints ``cwdx … unfreeze --org …``, the page offers 「在上传阶段解冻数据检测（H001）」.

    Hidden until :meth:`offer` gets a hint it can perform: an ``unfreeze`` hint, once
    :attr:`unfreeze` (the page's way to unfreeze, then refresh) is set. Errors of the step
    itself are shown in ``alert``.
    """

    def __init__(self, alert: Alert, css_class: str = "cwdx-next-step") -> None:
        self.alert = alert
        self.unfreeze: Callable[[Hint], None] | None = None
        self.hint: Hint | None = None
        self.button = widgets.Button(
            description="", button_style="warning", layout=widgets.Layout(width="auto")
        )
        self.button.add_class(css_class)
        self.button.layout.display = "none"
        self.button.on_click(lambda _button: self.click())

    def offer(self, hint: Hint | None) -> None:
        """Show the button for ``hint`` (hide it when there is nothing it can do)."""
        usable = hint is not None and hint.action == "unfreeze" and self.unfreeze is not None
        self.hint = hint if usable else None
        if hint is not None and usable:
            what = UNFREEZE_COMPUTE if hint.stage == "compute" else UNFREEZE_CHECK
            self.button.description = f"{what}（{'、'.join(hint.orgs)}）"
        self.button.layout.display = "" if usable else "none"

    def click(self) -> None:
        """Perform the offered step once (the button hides); errors become an alert."""
        hint, unfreeze = self.hint, self.unfreeze
        self.offer(None)
        if hint is None or unfreeze is None:
            return
        try:
            unfreeze(hint)
        except Exception as exc:  # the widget layer never lets an exception reach the page
            report_exception(self.alert, "解冻", exc)


def show_error(alert: Alert, error: CwdxError, next_step: NextStepButton | None = None) -> None:
    """Show a refusal: its sentence in ``alert``, its next step (if any) as ``next_step``."""
    alert.error(error.message)
    if next_step is not None:
        next_step.offer(error.hint)


def report_exception(
    alert: Alert, action: str, exc: BaseException, next_step: NextStepButton | None = None
) -> None:
    """Show ``exc`` in ``alert`` as one Chinese sentence (a refusal's next step as
    ``next_step``); log the traceback of unexpected ones."""
    if isinstance(exc, CwdxError):
        log.warning("%s：已拒绝（%s）", action, type(exc).__name__)
        show_error(alert, exc, next_step)
        return
    log.error("%s：意外错误 %s", action, type(exc).__name__, exc_info=exc)
    alert.error(UNEXPECTED.format(action=action, kind=type(exc).__name__))


class LoadingButton:
    """A button that runs a long action synchronously in the click handler.

    While it runs the button is disabled and a progress bar with a label shows the action's
    ``on_progress`` reports; afterwards the button returns to its :attr:`enabled` state.
    Exceptions become an alert (see :func:`report_exception`). ``action`` receives the
    progress callback.
    """

    def __init__(
        self,
        description: str,
        action: Callable[[ProgressFn], None],
        alert: Alert,
        css_class: str,
        *,
        button_style: str = "",
        icon: str = "",
        tooltip: str = "",
    ) -> None:
        self.action = action
        self.alert = alert
        self.description = description
        self.button = ClickButton(
            description=description,
            button_style=button_style,
            icon=icon,
            tooltip=tooltip or description,
            layout=widgets.Layout(width="auto"),
        )
        self.button.add_class(css_class)
        self.button.add_class("cwdx-button")
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, layout=widgets.Layout(width="200px", display="none")
        )
        self.progress.add_class(f"{css_class}-progress")
        self.status = widgets.Label(value="")
        self.status.add_class(f"{css_class}-status")
        #: a refusal's next step (unfreeze), offered beside the button once the page sets
        #: ``next_step.unfreeze``
        self.next_step = NextStepButton(alert, f"{css_class}-next-step")
        self.widget = widgets.HBox([self.button, self.progress, self.status, self.next_step.button])
        self.running = False
        self._enabled = True
        self._ended: datetime | None = None
        self.button.on_click(self._on_click)

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
        """Show progress ``done`` of ``total`` with ``label`` (the engines' callback)."""
        self.progress.max = max(int(total), 1)
        self.progress.value = min(max(int(done), 0), self.progress.max)
        self.status.value = f"{label} {done}/{total}" if label else f"{done}/{total}"

    def click(self) -> bool:
        """Run the action as a click would (nothing when disabled); returns whether it ran
        and finished without error."""
        if not self._enabled:
            return False
        return self._run()

    def _on_click(self, _button: widgets.Button) -> None:
        if self.running or not self._enabled:
            return
        sent = getattr(self.button, "click_sent", None)
        if sent is not None and self._ended is not None and sent < self._ended:
            log.info("%s：忽略运行期间的重复点击", self.description)
            return
        self._run()

    def _run(self) -> bool:
        if self.running:
            return False
        self.running = True
        self.button.disabled = True
        self.progress.value, self.progress.max = 0, 1
        self.progress.layout.display = ""
        self.status.value = "正在处理，请稍候…"
        self.next_step.offer(None)
        ok = False
        try:
            self.action(self.on_progress)
            ok = True
        except Exception as exc:  # the widget layer never lets an exception reach the page
            report_exception(self.alert, self.description, exc, self.next_step)
        finally:
            self.running = False
            self.progress.layout.display = "none"
            self.status.value = ""
            self.button.disabled = not self._enabled
            self._ended = datetime.now(UTC)
        return ok


@dataclass
class Download:
    """A file to hand to the browser."""

    filename: str
    data: bytes
    mime: str = XLSX_MIME


def download_script(download: Download) -> str:
    """JavaScript that saves ``download`` in the browser (Blob + temporary anchor)."""
    payload = base64.b64encode(download.data).decode("ascii")
    return (
        "(function(){"
        f"var s=atob({json.dumps(payload)});"
        "var a=new Uint8Array(s.length);for(var i=0;i<s.length;i++){a[i]=s.charCodeAt(i);}"
        f"var u=URL.createObjectURL(new Blob([a],{{type:{json.dumps(download.mime)}}}));"
        "var l=document.createElement('a');l.style.display='none';l.href=u;"
        f"l.download={json.dumps(download.filename)};"
        "document.body.appendChild(l);l.click();"
        "setTimeout(function(){URL.revokeObjectURL(u);l.remove();},60000);"
        "})();"
    )


class Downloader:
    """A :class:`LoadingButton` that builds a file on click and hands it to the browser.

    ``build`` returns the :class:`Download` (or raises :class:`CwdxError`). The file travels
    through the page's own kernel connection, never through a URL another user could open.
    """

    def __init__(
        self,
        description: str,
        build: Callable[[ProgressFn], Download],
        alert: Alert,
        css_class: str,
        *,
        icon: str = "download",
    ) -> None:
        self.build = build
        self.last: Download | None = None
        self.output = widgets.Output(layout=widgets.Layout(display="none"))
        self.output.add_class(f"{css_class}-sink")
        self.button = LoadingButton(description, self._deliver, alert, css_class, icon=icon)
        self.widget = widgets.HBox([self.button.widget, self.output])

    @property
    def enabled(self) -> bool:
        """Whether the download button may be clicked."""
        return self.button.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.button.enabled = value

    def click(self) -> bool:
        """Build and deliver the file as a click would."""
        return self.button.click()

    def _deliver(self, on_progress: ProgressFn) -> None:
        download = self.build(on_progress)
        self.last = download
        # Replace (never append to) the previous script: the page re-renders every output
        # of the widget, and an old script would save its file again.
        self.output.outputs = ()
        self.output.append_display_data(Javascript(download_script(download)))
        log.info("下载：%s（%d 字节）", download.filename, len(download.data))


def _cell(value: object) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def html_table(
    columns: Iterable[str],
    rows: Iterable[Iterable[object]],
    *,
    css_class: str = "",
    row_classes: Iterable[str] | None = None,
    numeric: Iterable[str] = (),
    wrap: Iterable[str] = (),
) -> str:
    """An escaped HTML table inside a scrollable frame (sticky header)."""
    columns = list(columns)
    numeric_set, wrap_set = set(numeric), set(wrap)
    classes = list(row_classes) if row_classes is not None else None
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for index, row in enumerate(rows):
        cells = []
        for column, value in zip(columns, row, strict=False):
            cls = []
            if column in numeric_set:
                cls.append("cwdx-num")
            if column in wrap_set:
                cls.append("cwdx-wrap")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(_cell(value))}</td>")
        row_attr = f' class="{classes[index]}"' if classes and classes[index] else ""
        body.append(f"<tr{row_attr}>{''.join(cells)}</tr>")
    extra = f" {css_class}" if css_class else ""
    return (
        f'<div class="cwdx-table-wrap{extra}"><table class="cwdx-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def frame_table(frame, *, css_class: str = "", limit: int = 100, **kwargs) -> str:
    """:func:`html_table` of the first ``limit`` rows of a DataFrame."""
    head = frame.head(limit)
    return html_table(
        [str(c) for c in head.columns],
        head.itertuples(index=False, name=None),
        css_class=css_class,
        **kwargs,
    )


def section(title: str, css_class: str, children: list[widgets.Widget]) -> widgets.VBox:
    """A titled page section (a box with the ``cwdx-section`` style and the space-separated
    classes of ``css_class``)."""
    header = widgets.HTML(f"<h3>{html.escape(title)}</h3>")
    box = widgets.VBox([header, *children])
    for name in ["cwdx-section", *css_class.split()]:
        box.add_class(name)
    return box


def html_area(css_class: str) -> widgets.HTML:
    """An empty HTML widget with ``css_class`` (the tests and the page style find it by it)."""
    area = widgets.HTML("")
    area.add_class(css_class)
    return area


def note(text: str, css_class: str = "") -> widgets.HTML:
    """A grey explanatory line."""
    label = widgets.HTML(f'<div class="cwdx-note">{html.escape(text)}</div>')
    if css_class:
        label.add_class(css_class)
    return label
