"""查看上传医院及检测: the institution table with summaries, stage filter, search, 全选, and the
勾选用途 switch under which institutions with errors cannot be ticked for computation.

The table is a Vuetify 3 ``v-data-table`` in a :class:`ipyvuetify.VuetifyTemplate` (the shared
``cwdx_widgets.vue`` table has no per-row selectability and no row click, which this table
needs). Filtering and searching run in Python over plain rows (:mod:`.rows`); sorting and paging
run in the browser, so 1,000 institutions are sent once and then page and sort without the
kernel.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import ipyvuetify as v
import traitlets

from cwdx.workspace.records import InstitutionInfo
from cwdx_widgets.platform.rows import (
    ALL_STAGES,
    COLUMNS,
    STAGE_CHOICES,
    InstitutionRows,
    summarise,
)

#: 勾选用途: what the ticks are for.
PURPOSE_ANY = "检测、下载与数据操作"
PURPOSE_COMPUTE = "计算"
COMPUTE_NOTE = (
    "勾选用于计算时，有错误或尚未检测通过的机构不能勾选（灰色复选框）：有错误的机构须修正数据、"
    "“在上传阶段解冻数据检测”后重新检测通过，才能计算。"
)
NUMERIC = ("cases", "staff", "errors", "warnings")

F = TypeVar("F", bound=Callable[..., Any])


def locked(method: F) -> F:
    """Run ``method`` holding the table's lock: the task watcher's thread reloads the rows
    while the kernel's thread handles the operator's clicks."""

    @functools.wraps(method)
    def run(self: InstitutionTable, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


TABLE_TEMPLATE = """
<template>
  <v-data-table
    :headers="headers"
    :items="items"
    item-value="org"
    show-select
    v-model="selected"
    item-selectable="selectable"
    :items-per-page="per_page"
    :items-per-page-options="[{value: 20, title: '20'}, {value: 50, title: '50'},
      {value: 100, title: '100'}, {value: 500, title: '500'}]"
    items-per-page-text="每页行数"
    page-text="第 {0}-{1} 行，共 {2} 行"
    no-data-text="没有符合条件的机构（工作区中还没有机构时，请先导入数据）。"
    density="compact"
    hover
    fixed-header
    :height="items.length > 14 ? '520px' : undefined"
    class="cwdx-institution-table"
    @click:row="(event, row) => row_click(row.item.org)"
  >
    <template v-slot:item.errors="{ value }">
      <span :class="value ? 'cwdx-cell-error' : ''"
            :style="value ? 'color:#b00020;font-weight:bold' : ''">{{ value }}</span>
    </template>
    <template v-slot:item.warnings="{ value }">
      <span :class="value ? 'cwdx-cell-warning' : ''"
            :style="value ? 'color:#8a6100;font-weight:bold' : ''">{{ value }}</span>
    </template>
  </v-data-table>
</template>
"""


class TableView(v.VuetifyTemplate):
    """The browser side of the institution table: rows, ticks, paging, row clicks."""

    template = traitlets.Unicode(TABLE_TEMPLATE).tag(sync=True)
    headers: traitlets.List[Any] = traitlets.List().tag(sync=True)
    items: traitlets.List[Any] = traitlets.List().tag(sync=True)
    selected: traitlets.List[Any] = traitlets.List().tag(sync=True)
    per_page = traitlets.Int(50).tag(sync=True)

    def __init__(self, on_row_click: Callable[[str], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_row_click = on_row_click

    def vue_row_click(self, org: Any) -> None:
        """A row was clicked in the browser."""
        if isinstance(org, str) and self.on_row_click is not None:
            self.on_row_click(org)


class InstitutionTable:
    """The table and its controls; ``on_row_click(org)`` is called when a row is clicked (the
    page then shows that institution's state and its own downloads)."""

    def __init__(self, on_row_click: Callable[[str], None] | None = None) -> None:
        self.lock = threading.RLock()
        self.rows = InstitutionRows()
        self.summary = v.Html(tag="div", class_="cwdx-platform-summary my-2", children=[])
        self.stage = v.Select(
            label="阶段",
            items=list(STAGE_CHOICES),
            v_model=ALL_STAGES,
            density="compact",
            hide_details=True,
            variant="outlined",
            class_="cwdx-stage-filter mr-4",
            style_="max-width: 200px",
        )
        self.search = v.TextField(
            label="搜索（组织机构代码或名称）",
            v_model="",
            density="compact",
            hide_details=True,
            clearable=True,
            variant="outlined",
            prepend_inner_icon="mdi-magnify",
            class_="cwdx-table-search",
            style_="max-width: 320px",
        )
        self.purpose = v.BtnToggle(
            v_model=PURPOSE_ANY,
            mandatory=True,
            density="compact",
            variant="outlined",
            color="primary",
            class_="cwdx-tick-purpose mr-2",
            children=[
                v.Btn(
                    value=PURPOSE_ANY,
                    class_="cwdx-purpose-any text-none",
                    children=[f"勾选用于{PURPOSE_ANY}"],
                ),
                v.Btn(
                    value=PURPOSE_COMPUTE,
                    class_="cwdx-purpose-compute text-none",
                    children=[f"勾选用于{PURPOSE_COMPUTE}"],
                ),
            ],
        )
        self.tick_all_btn = v.Btn(
            size="small", class_="cwdx-tick-all mx-1 text-none", children=["全选"]
        )
        self.untick_btn = v.Btn(
            size="small", variant="text", class_="cwdx-untick-all text-none", children=["全不选"]
        )
        self.counter = v.Html(tag="span", class_="cwdx-ticked-count ml-2", children=[""])
        self.purpose_note = v.Html(tag="div", class_="cwdx-compute-note text-caption", children=[])
        self.view = TableView(
            on_row_click=on_row_click,
            headers=[
                {"title": title, "key": key, "align": "end" if key in NUMERIC else "start"}
                for key, title in COLUMNS
            ],
            per_page=self.rows.per_page,
        )
        self.stage.observe(lambda _c: self._filter(), "v_model")
        self.search.observe(lambda _c: self._filter(), "v_model")
        self.purpose.observe(lambda _c: self._purpose_changed(), "v_model")
        self.view.observe(self._ticked_in_browser, "selected")
        self.tick_all_btn.on_event("click", lambda *_a: self.tick_all(True))
        self.untick_btn.on_event("click", lambda *_a: self.tick_all(False))
        row = "d-flex align-center flex-wrap my-1"
        self.widget = v.Html(
            tag="div",
            class_="cwdx-institutions",
            children=[
                self.summary,
                v.Html(tag="div", class_=row, children=[self.stage, self.search]),
                v.Html(
                    tag="div",
                    class_=row,
                    children=[self.purpose, self.tick_all_btn, self.untick_btn, self.counter],
                ),
                self.purpose_note,
                v.Html(
                    tag="div",
                    class_="text-caption",
                    children=["点击一行查看该机构的状态，并生成该机构的下载文件。"],
                ),
                self.view,
            ],
        )

    @property
    def compute_mode(self) -> bool:
        """Whether the ticks are for 提交计算任务 (only computable rows may be ticked)."""
        return self.purpose.v_model == PURPOSE_COMPUTE

    @locked
    def load(self, infos: list[InstitutionInfo]) -> None:
        """Show these institutions (after a refresh), keeping filter, search and ticks."""
        self.rows.load(infos)
        self.summary.children = [
            v.Html(tag="div", class_="cwdx-summary-line", children=[line])
            for line in summarise(infos).lines()
        ]
        if self.compute_mode:
            self.rows.ticked -= set(self.rows.split_for_compute()[1])
        self._show()

    @locked
    def _filter(self) -> None:
        self.rows.stage = self.stage.v_model or ALL_STAGES
        self.rows.search = self.search.v_model or ""
        self._show()

    def _show(self) -> None:
        compute = self.compute_mode
        self.view.items = [
            {**row, "selectable": bool(row["computable"]) or not compute}
            for row in self.rows.matching()
        ]
        self._sync_ticks()

    @locked
    def _purpose_changed(self) -> None:
        if self.compute_mode:
            refused = self.rows.split_for_compute()[1]
            self.rows.ticked -= set(refused)
            why = f"（已取消勾选 {len(refused)} 个不能计算的机构）" if refused else ""
            self.purpose_note.children = [COMPUTE_NOTE + why]
        else:
            self.purpose_note.children = []
        self._show()

    def _selectable(self) -> set[str]:
        return {r["org"] for r in self.view.items if r["selectable"]}

    def _sync_ticks(self) -> None:
        ticked = self.rows.ticked
        self.view.selected = self.rows.selected()
        self.counter.children = [
            f"已勾选 {len(ticked):,} 个机构；显示 {len(self.view.items):,} 个，共 {len(self.rows.infos):,} 个"
        ]

    @locked
    def _ticked_in_browser(self, change: dict[str, Any]) -> None:
        codes = {c for c in (change["new"] or []) if isinstance(c, str)}
        # ticks of rows hidden by the filter stay; the rows shown follow their checkboxes
        shown = {r["org"] for r in self.view.items}
        codes = (self.rows.ticked - shown) | (codes & self._selectable())
        if codes != self.rows.ticked:
            self.rows.ticked = codes
        if list(change["new"] or []) != self.rows.selected():
            self._sync_ticks()

    @locked
    def tick(self, orgs: list[str], on: bool = True) -> None:
        """Tick (or untick) institutions as clicks on their checkboxes would (rows that cannot be
        ticked stay unticked)."""
        chosen = set(orgs) & self._selectable() if on else set(orgs)
        self.rows.ticked = (self.rows.ticked | chosen) if on else (self.rows.ticked - chosen)
        self._sync_ticks()

    def tick_all(self, on: bool = True) -> None:
        """全选 (or 全不选) of the rows shown (matching the stage filter and the search)."""
        self.tick([r["org"] for r in self.view.items], on)

    @locked
    def selected(self) -> list[str]:
        """The ticked institution codes."""
        return self.rows.selected()
