"""Data tables: :class:`DataTable` (rows held in the page: search, sort, paging, selection)
and :class:`ServerDataTable` (rows fetched page by page from the kernel, for tables of
thousands of rows such as the 平台版's institution list). Both are one Vue template
(``table.vue``) around Vuetify's ``v-data-table`` / ``v-data-table-server``.

Columns are keyed ``c0, c1, …`` (a column name may hold a dot, which Vuetify would read as a
path); cells are sent as text (``""`` for missing values, ``12`` rather than ``12.0``), so any
DataFrame shows as it would in Excel. Each item carries ``_key`` (the value selection reports:
the row's position, or its ``key_column`` cell) and may carry ``_class`` (CSS classes of its
``<tr>``, e.g. ``cwdx-row-error``).

Classes: ``css_class`` (the whole), ``<css_class>-search``, ``<css_class>-caption``,
``<css_class>-table``. A table of more than :data:`FEW_ROWS` rows scrolls inside its fixed
height: the page never grows with its rows.

Stable names: ``DataTable``, ``ServerDataTable``, ``Fetch``, ``cell_text``, ``headers_of``,
``rows_items``, ``frame_items``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import ipyvuetify as v
import traitlets

#: fetch(offset, limit, sort_by, search) -> (items, total): the rows of one page of a
#: :class:`ServerDataTable` (made with :func:`rows_items`); ``sort_by`` is Vuetify's
#: ``[{"key": "c1", "order": "asc"}]``.
Fetch = Callable[[int, int, list[dict[str, str]], str], tuple[list[dict[str, Any]], int]]

#: Up to this many rows a page-held table is as high as its rows; more scroll inside it.
FEW_ROWS = 8

_TEMPLATE = (Path(__file__).parent / "table.vue").read_text(encoding="utf-8")


def cell_text(value: object) -> str:
    """A cell as text: missing (None, NaN, NaT, pandas NA) is ``""``, whole floats lose ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value)
    return "" if text in ("NaT", "<NA>", "nan") else text


def headers_of(
    columns: Sequence[str], numeric: Iterable[str] = (), wrap: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Vuetify headers for ``columns`` (keys ``c0…``; ``numeric`` ones right-aligned,
    ``wrap`` ones wrapping their text instead of widening the table)."""
    numbers, wrapped = set(numeric), set(wrap)
    headers = []
    for i, name in enumerate(columns):
        header: dict[str, Any] = {"title": str(name), "key": f"c{i}"}
        if name in numbers:
            header["align"] = "end"
        if name in wrapped:
            header["cellProps"] = {"class": "cwdx-wrap"}
        headers.append(header)
    return headers


def rows_items(
    rows: Iterable[Sequence[object]],
    *,
    start: int = 0,
    key_column: int | None = None,
    row_classes: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Items of ``rows``: cells as :func:`cell_text`, ``_key`` the row's position from
    ``start`` (or its ``key_column`` cell), ``_class`` from ``row_classes``."""
    items = []
    for index, row in enumerate(rows):
        item: dict[str, Any] = {f"c{i}": cell_text(value) for i, value in enumerate(row)}
        item["_key"] = item[f"c{key_column}"] if key_column is not None else start + index
        if row_classes is not None and row_classes[index]:
            item["_class"] = row_classes[index]
        items.append(item)
    return items


def frame_items(
    frame: Any, *, limit: int | None = None, key_column: str | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(headers, items)`` of a DataFrame's first ``limit`` rows (all when ``None``)."""
    head = frame if limit is None else frame.head(limit)
    columns = [str(c) for c in head.columns]
    key = columns.index(key_column) if key_column is not None else None
    return headers_of(columns), rows_items(head.itertuples(index=False, name=None), key_column=key)


class _Table(v.VuetifyTemplate):
    """The template's synced state."""

    template = traitlets.Unicode(_TEMPLATE).tag(sync=True)
    css_class = traitlets.Unicode("").tag(sync=True)
    visible = traitlets.Bool(True).tag(sync=True)
    caption = traitlets.Unicode("").tag(sync=True)
    headers = traitlets.List(traitlets.Dict()).tag(sync=True)
    items = traitlets.List(traitlets.Dict()).tag(sync=True)
    items_length = traitlets.Int(0).tag(sync=True)
    selected: traitlets.List[Any] = traitlets.List().tag(sync=True)
    search = traitlets.Unicode("", allow_none=True).tag(sync=True)
    searchable = traitlets.Bool(False).tag(sync=True)
    selectable = traitlets.Bool(False).tag(sync=True)
    server = traitlets.Bool(False).tag(sync=True)
    loading = traitlets.Bool(False).tag(sync=True)
    hide_footer = traitlets.Bool(False).tag(sync=True)
    items_per_page = traitlets.Int(10).tag(sync=True)
    per_page_options: traitlets.List[Any] = traitlets.List().tag(sync=True)
    page_text = traitlets.Unicode("第 {0}-{1} 行，共 {2} 行").tag(sync=True)
    no_data_text = traitlets.Unicode("没有数据").tag(sync=True)
    height = traitlets.Unicode("360px").tag(sync=True)

    def __init__(self, owner: DataTable, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owner = owner

    def vue_options_changed(self, options: dict[str, Any]) -> None:
        """Vuetify's ``update:options`` (server-side tables: fetch the page shown)."""
        self._owner._on_options(options or {})


def _per_page_options(items_per_page: int, everything: bool) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = [
        {"value": n, "title": str(n)} for n in sorted({10, 25, 50, 100, items_per_page})
    ]
    return options + ([{"value": -1, "title": "全部"}] if everything else [])


class DataTable:
    """A table whose rows are held in the page (up to a few thousand: search, sort and paging
    run in the browser). ``widget`` goes into the page; :meth:`set_rows` / :meth:`set_frame`
    fill it; ``selected`` holds the ``_key`` of the ticked rows when ``selectable``
    (``on_select`` is called with it after each change). ``items_per_page=-1`` shows every
    row and hides the paging footer. Over :data:`FEW_ROWS` rows the table scrolls inside
    ``height``.
    """

    server = False

    def __init__(
        self,
        css_class: str,
        *,
        selectable: bool = False,
        search: bool = False,
        items_per_page: int = 10,
        height: str = "360px",
        on_select: Callable[[list[Any]], None] | None = None,
        no_data_text: str = "没有数据",
    ) -> None:
        self.on_select = on_select
        self.max_height = height
        self.table = _Table(
            self,
            css_class=css_class,
            searchable=search,
            selectable=selectable,
            server=self.server,
            items_per_page=items_per_page,
            per_page_options=_per_page_options(max(items_per_page, 10), not self.server),
            hide_footer=items_per_page == -1,
            height=height,
            no_data_text=no_data_text,
        )
        self.table.observe(self._on_selected, names="selected")
        self.widget = self.table
        self.rows = 0

    @property
    def selected(self) -> list[Any]:
        """The ``_key`` of every ticked row."""
        return list(self.table.selected)

    @property
    def caption(self) -> str:
        """The line above the table."""
        return str(self.table.caption)

    @property
    def items(self) -> list[dict[str, Any]]:
        """The rows shown (on this page, for a server-side table)."""
        return list(self.table.items)

    def set_rows(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[object]],
        *,
        caption: str = "",
        numeric: Iterable[str] = (),
        wrap: Iterable[str] = (),
        key_column: str | None = None,
        row_classes: Sequence[str] | None = None,
    ) -> None:
        """Show ``rows`` under ``columns`` (ticks of rows still present are kept)."""
        key = list(columns).index(key_column) if key_column is not None else None
        items = rows_items(rows, key_column=key, row_classes=row_classes)
        keys = {item["_key"] for item in items}
        with self.table.hold_sync():
            self.table.headers = headers_of(columns, numeric, wrap)
            self.table.items = items
            # a few rows take their own height; more scroll inside max_height
            self.table.height = self.max_height if len(items) > FEW_ROWS else ""
            self.table.selected = [k for k in self.selected if k in keys]
            self.table.caption = caption
        self.rows = len(items)

    def set_frame(
        self, frame: Any, *, limit: int | None = None, caption: str = "", **kwargs: Any
    ) -> None:
        """Show a DataFrame's first ``limit`` rows (see :meth:`set_rows`)."""
        head = frame if limit is None else frame.head(limit)
        self.set_rows(
            [str(c) for c in head.columns],
            head.itertuples(index=False, name=None),
            caption=caption,
            **kwargs,
        )

    @property
    def visible(self) -> bool:
        """Whether the table shows (see :meth:`show`, :meth:`hide`)."""
        return bool(self.table.visible)

    def show(self) -> None:
        """Show the table."""
        self.table.visible = True

    def hide(self) -> None:
        """Hide the table (it keeps its rows)."""
        self.table.visible = False

    def set_caption(self, caption: str) -> None:
        """The line above the table (``""``: none)."""
        self.table.caption = caption

    def clear(self) -> None:
        """No rows, no caption."""
        with self.table.hold_sync():
            self.table.headers, self.table.items, self.table.selected = [], [], []
            self.table.caption = ""
        self.rows = 0

    def _on_selected(self, change: dict[str, Any]) -> None:
        if self.on_select is not None:
            self.on_select(list(change["new"] or []))

    def _on_options(self, options: dict[str, Any]) -> None:
        """Paging and sorting of a page-held table happen in the browser."""


class ServerDataTable(DataTable):
    """A :class:`DataTable` whose rows stay in the kernel: each page, sort and search asks
    ``fetch`` for just the rows shown, so thousands of rows cost the browser nothing.
    ``columns`` are fixed at construction; :meth:`reload` asks again after the data changed.
    Selection keeps ``_key`` values across pages.
    """

    server = True

    def __init__(
        self,
        css_class: str,
        columns: Sequence[str],
        fetch: Fetch,
        *,
        numeric: Iterable[str] = (),
        items_per_page: int = 25,
        **kwargs: Any,
    ) -> None:
        super().__init__(css_class, items_per_page=items_per_page, **kwargs)
        self.fetch = fetch
        self.columns = list(columns)
        self.options: dict[str, Any] = {"page": 1, "itemsPerPage": items_per_page, "sortBy": []}
        self.table.headers = headers_of(self.columns, numeric)
        self.table.observe(self._on_search, names="search")

    def _on_options(self, options: dict[str, Any]) -> None:
        self.options = dict(options)
        self.reload()

    def _on_search(self, _change: dict[str, Any]) -> None:
        self.options["page"] = 1
        self.reload()

    def reload(self) -> None:
        """Fetch the page the table shows (sort and search applied)."""
        per_page = int(self.options.get("itemsPerPage") or 25)
        page = max(int(self.options.get("page") or 1), 1)
        self.table.loading = True
        try:
            items, total = self.fetch(
                (page - 1) * per_page,
                per_page,
                list(self.options.get("sortBy") or []),
                self.table.search or "",
            )
        finally:
            self.table.loading = False
        with self.table.hold_sync():
            self.table.items = items
            self.table.items_length = total
        self.rows = total
