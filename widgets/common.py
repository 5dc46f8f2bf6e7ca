"""Building blocks of the institution app's sections on top of :mod:`cwdx_widgets.vue`: the
page style, titled cards, HTML areas and tables (the rule table), and the next-step button a
refusal offers (unfreeze).

Long actions go through :class:`cwdx_widgets.vue.LoadingBtn`; results show in a
:class:`cwdx_widgets.vue.Message` (one at a time); files reach the browser through
:class:`cwdx_widgets.vue.Downloader`, never through Voilà's ``/voila/files/`` route.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any

import ipyvuetify as v
import ipywidgets as widgets

from cwdx.errors import Hint
from cwdx.workspace.stages import UNFREEZE_CHECK, UNFREEZE_COMPUTE
from cwdx_widgets.vue import Message, report_exception
from cwdx_widgets.vue.table import cell_text

#: The style of the HTML parts of the page (alerts in text, the rule table, notes).
STYLE = """
<style>
.cwdx-app h3.cwdx-card-title { margin: 0; font-size: 17px; font-weight: 600; }
.cwdx-note { color: #57606a; }
.cwdx-app .widget-html-content { line-height: 1.6; }
.cwdx-table-wrap { max-height: 380px; overflow: auto; border: 1px solid #d0d7de; }
.cwdx-table-wrap.cwdx-rules-wrap { max-height: 460px; }
.cwdx-table { border-collapse: separate; border-spacing: 0; font-size: 12px; white-space: nowrap; }
.cwdx-table th { position: sticky; top: 0; background: #f6f8fa; z-index: 1; }
.cwdx-table th, .cwdx-table td { border: 0 solid #d0d7de; border-width: 0 1px 1px 0;
  padding: 2px 6px; text-align: left; }
.cwdx-table td.cwdx-num { text-align: right; }
.cwdx-table tr.cwdx-row-error td { color: #cf222e; }
.cwdx-table tr.cwdx-row-warning td { background: #fff8c5; }
.cwdx-table td.cwdx-wrap, .cwdx-data-table td.cwdx-wrap { white-space: normal; min-width: 240px; }
.cwdx-verdict { font-size: 18px; font-weight: bold; padding: 6px 12px; border-radius: 4px;
  display: inline-block; }
.cwdx-verdict-pass { color: #116329; background: #dafbe1; }
.cwdx-verdict-fail { color: #82071e; background: #ffebe9; }
.cwdx-log textarea { font-family: monospace; font-size: 12px; }
.cwdx-app .jupyter-widgets.widget-upload { width: auto; }
</style>
"""


class NextStepButton:
    """A button offering a refusal's next step (:attr:`CwdxError.hint`): where the command
    line prints ``cwdx … unfreeze --org …``, the page offers 「在上传阶段解冻数据检测（H001）」.

    Hidden until :meth:`offer` gets a hint it can perform: an ``unfreeze`` hint, once
    :attr:`unfreeze` (the page's way to unfreeze, then refresh) is set. Errors of the step
    itself are shown in ``message``.
    """

    def __init__(self, message: Message, css_class: str = "cwdx-next-step") -> None:
        self.words = {"check": UNFREEZE_CHECK, "compute": UNFREEZE_COMPUTE}
        self.message = message
        self.unfreeze: Callable[[Hint], None] | None = None
        self.hint: Hint | None = None
        self.button = v.Btn(
            children=[""], color="warning", variant="flat", class_=f"{css_class} text-none d-none"
        )
        self.button.on_event("click", lambda *_args: self.click())

    @property
    def shown(self) -> bool:
        """Whether the button is offered."""
        return "d-none" not in (self.button.class_ or "").split()

    @property
    def label(self) -> str:
        """The button's text."""
        return "".join(str(c) for c in self.button.children)

    def offer(self, hint: Hint | None) -> None:
        """Show the button for ``hint`` (hide it when there is nothing it can do)."""
        usable = hint is not None and hint.action == "unfreeze" and self.unfreeze is not None
        self.hint = hint if usable else None
        if hint is not None and usable:
            what = self.words["compute" if hint.stage == "compute" else "check"]
            self.button.children = [f"{what}（{'、'.join(hint.orgs)}）"]
        if usable:
            self.button.class_list.remove("d-none")
        else:
            self.button.class_list.add("d-none")

    def click(self) -> None:
        """Perform the offered step once (the button hides); errors become a message."""
        hint, unfreeze = self.hint, self.unfreeze
        self.offer(None)
        if hint is None or unfreeze is None:
            return
        try:
            unfreeze(hint)
        except Exception as exc:  # the widget layer never lets an exception reach the page
            report_exception(self.message, "解冻", exc)


def html_table(
    columns: Iterable[str],
    rows: Iterable[Iterable[object]],
    *,
    css_class: str = "",
    row_classes: Iterable[str] | None = None,
    numeric: Iterable[str] = (),
    wrap: Iterable[str] = (),
) -> str:
    """An escaped HTML table inside a scrollable frame (sticky header): for tables read top to
    bottom with coloured rows (the rule table); previews are :class:`vue.DataTable`."""
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
            cells.append(f"<td{attr}>{html.escape(cell_text(value))}</td>")
        row_attr = f' class="{classes[index]}"' if classes and classes[index] else ""
        body.append(f"<tr{row_attr}>{''.join(cells)}</tr>")
    extra = f" {css_class}" if css_class else ""
    return (
        f'<div class="cwdx-table-wrap{extra}"><table class="cwdx-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def section(title: str, css_class: str, children: list[Any]) -> v.Card:
    """A titled card of the page (classes ``cwdx-section`` and the space-separated
    ``css_class``)."""
    header = v.CardTitle(children=[v.Html(tag="h3", class_="cwdx-card-title", children=[title])])
    body = v.CardText(children=children, class_="d-flex flex-column ga-2")
    return v.Card(
        variant="outlined", class_=f"cwdx-section {css_class} my-3", children=[header, body]
    )


def row(children: list[Any]) -> v.Html:
    """Widgets side by side (wrapping on a narrow window)."""
    return v.Html(tag="div", class_="d-flex align-center flex-wrap ga-3", children=children)


def html_area(css_class: str) -> widgets.HTML:
    """An empty HTML widget with ``css_class`` (the tests and the page style find it by it)."""
    area = widgets.HTML("")
    area.add_class(css_class)
    return area


def note(text: str, css_class: str = "") -> v.Html:
    """A grey explanatory line."""
    return v.Html(tag="div", class_=f"cwdx-note {css_class}".strip(), children=[text])
