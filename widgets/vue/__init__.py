"""Vuetify components shared by both editions (机构版 and 平台版), built on ipyvuetify
(Vuetify 3; its JavaScript, fonts and icons are served by the app itself, nothing from a CDN).

Every component is a small Python class whose ``widget`` goes into the page; CSS classes
passed as ``css_class`` are the browser tests' selectors. Long work never runs in a component:
a page hands an ``action`` to :class:`LoadingBtn` (or a dispatcher task) and shows its outcome
in a :class:`Message`. The names below are stable (the 平台版 builds on them):

- :class:`AppBar` (``app_bar``): product name and edition, extra widgets, 关于 / 日志 buttons.
- :class:`StageChip`, :func:`stage_chip`, :data:`STAGE_COLOURS` (``chips``): 阶段 chips.
- :class:`DataTable`, :class:`ServerDataTable`, :func:`frame_items`, :func:`cell_text`
  (``table``): tables with search, sort, paging and selection; server-side paging for large
  tables.
- :class:`ConfirmDialog` (type 确认 to proceed), :class:`Panel` (``dialogs``).
- :class:`Message` (an in-page alert that replaces the last one), :class:`Snackbar`,
  :func:`report_exception`, :data:`UNEXPECTED` (``messages``).
- :class:`TaskProgress`, :data:`ProgressFn` (``progress``): progress bar with a label.
- :class:`LoadingBtn`, :func:`loading_button` (``buttons``): sepal_ui-style loading buttons.
- :class:`Download`, :class:`Downloader`, :func:`download_script` (``downloads``).
- :class:`AboutDialog`, :class:`LogDialog`, :func:`log_file`, :func:`log_zip` (``info``): the
  关于 and 日志 dialogs of both editions.
- :func:`page` (here): the root container of a page, with the shared page style.
"""

from __future__ import annotations

from typing import Any

import ipyvuetify as v

from cwdx_widgets.vue.app_bar import PRODUCT, AppBar
from cwdx_widgets.vue.buttons import ClickBtn, LoadingBtn, loading_button
from cwdx_widgets.vue.chips import FROZEN_LABEL, STAGE_COLOURS, StageChip, stage_chip
from cwdx_widgets.vue.dialogs import CONFIRM_WORD, ConfirmDialog, Panel
from cwdx_widgets.vue.downloads import XLSX_MIME, Download, Downloader, download_script
from cwdx_widgets.vue.info import AboutDialog, LogDialog, log_file, log_zip
from cwdx_widgets.vue.messages import UNEXPECTED, Message, Snackbar, report_exception
from cwdx_widgets.vue.progress import ProgressFn, TaskProgress
from cwdx_widgets.vue.table import DataTable, ServerDataTable, cell_text, frame_items

#: The style both editions share (font, widths; the Vuetify theme does the rest).
PAGE_STYLE = """
.cwdx-app { max-width: 1280px; margin: 0 auto; font-size: 14px;
  font-family: "Microsoft YaHei", "PingFang SC", "WenQuanYi Micro Hei", "Noto Sans CJK SC",
  Roboto, sans-serif; }
.cwdx-app .v-data-table { font-size: 12px; }
.cwdx-app .v-data-table td { white-space: nowrap; }
.cwdx-app .cwdx-note { color: #57606a; }
"""


#: The product's colours (a calm blue, the stage colours in :data:`STAGE_COLOURS`).
THEME = {"primary": "#1F5FA8", "primary_darken_1": "#174A84", "error": "#C62828"}


def page(children: list[Any], css_class: str = "cwdx-app") -> v.Html:
    """The root of a page: a ``div`` with ``css_class`` holding the shared style and
    ``children`` (the app bar first); sets the product's :data:`THEME` colours."""
    for name, colour in THEME.items():
        setattr(v.theme.themes.light, name, colour)
    style = v.Html(tag="style", children=[PAGE_STYLE])
    return v.Html(tag="div", class_=css_class, children=[style, *children])


__all__ = [
    "CONFIRM_WORD",
    "FROZEN_LABEL",
    "PAGE_STYLE",
    "PRODUCT",
    "STAGE_COLOURS",
    "THEME",
    "UNEXPECTED",
    "XLSX_MIME",
    "AboutDialog",
    "AppBar",
    "ClickBtn",
    "ConfirmDialog",
    "DataTable",
    "Download",
    "Downloader",
    "LoadingBtn",
    "LogDialog",
    "Message",
    "Panel",
    "ProgressFn",
    "ServerDataTable",
    "Snackbar",
    "StageChip",
    "TaskProgress",
    "cell_text",
    "download_script",
    "frame_items",
    "loading_button",
    "log_file",
    "log_zip",
    "page",
    "report_exception",
    "stage_chip",
]
