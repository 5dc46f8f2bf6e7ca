"""The institution table of the 平台版 as plain data: rows, stage filter, search, sort, paging
and which rows may be ticked for which action.

Kept free of widgets so that it is fast with thousands of institutions and testable alone; the
page's data table shows :meth:`InstitutionRows.view` and keeps the ticked codes here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cwdx.workspace.records import InstitutionInfo
from cwdx.workspace.stages import FROZEN_STAGES, STAGE_COMPUTED, STAGE_FAILED, STAGE_PASSED, STAGES

#: The table's columns: (key of a row, header the operator sees).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("org", "组织机构代码"),
    ("name", "医疗机构名称"),
    ("cases", "病案记录数"),
    ("staff", "申报人员数"),
    ("stage", "阶段"),
    ("frozen", "冻结"),
    ("errors", "错误"),
    ("warnings", "警告"),
    ("checked_at", "检测时间"),
    ("computed_at", "计算时间"),
)
#: The stage filter's choices: 全部 and each stage.
ALL_STAGES = "全部阶段"
STAGE_CHOICES: tuple[str, ...] = (ALL_STAGES, *STAGES)

#: Why a ticked row is left out of a computation (shown beside 提交计算任务).
WHY_NOT_COMPUTE = {
    "errors": "数据检测有错误，须修正数据、解冻（在上传阶段解冻数据检测）并重新检测通过后才能计算",
    "unchecked": "尚未通过数据检测，请先提交检测任务",
    "computed": "已计算；如需重新计算，请先“解冻数据检测和计算”",
}


def row_of(info: InstitutionInfo) -> dict[str, Any]:
    """One table row (JSON-ready) of an institution."""
    return {
        "org": info.org,
        "name": info.name,
        "cases": info.cases,
        "staff": info.staff,
        "stage": info.stage,
        "frozen": "是" if info.frozen else "否",
        "errors": info.errors if info.errors is not None else "",
        "warnings": info.warnings if info.warnings is not None else "",
        "checked_at": info.checked_at or "",
        "computed_at": info.computed_at or "",
        # may this row be ticked for 提交计算任务? (institutions with errors may not)
        "computable": compute_refusal(info) is None,
    }


def compute_refusal(info: InstitutionInfo) -> str | None:
    """Why ``info`` cannot be computed, or ``None`` when it can (passed the check)."""
    if info.stage == STAGE_PASSED:
        return None
    if info.stage == STAGE_COMPUTED:
        return WHY_NOT_COMPUTE["computed"]
    if info.stage == STAGE_FAILED or (info.errors or 0) > 0:
        return WHY_NOT_COMPUTE["errors"]
    return WHY_NOT_COMPUTE["unchecked"]


@dataclass
class Summary:
    """The summaries above the table."""

    institutions: int = 0
    passed: int = 0
    passed_cases: int = 0
    passed_staff: int = 0
    computed: int = 0
    computed_cases: int = 0
    computed_staff: int = 0
    failed: int = 0
    uploaded: int = 0

    def lines(self) -> list[str]:
        """The summary sentences, one per line."""
        return [
            f"共 {self.institutions:,} 个机构：已上传（未检测）{self.uploaded:,} 个，"
            f"检测未通过 {self.failed:,} 个。",
            f"检测通过 {self.passed:,} 个机构（含已计算），病案 {self.passed_cases:,} 条，"
            f"申报人员 {self.passed_staff:,} 人。",
            f"已计算 {self.computed:,} 个机构，病案 {self.computed_cases:,} 条，"
            f"申报人员 {self.computed_staff:,} 人。",
        ]


def summarise(infos: Iterable[InstitutionInfo]) -> Summary:
    """Counts of institutions per stage, with case and applicant totals of the passed and the
    computed ones (computed institutions passed their check, so they count as passed too)."""
    out = Summary()
    for info in infos:
        out.institutions += 1
        if info.stage in (STAGE_PASSED, STAGE_COMPUTED):
            out.passed += 1
            out.passed_cases += info.cases
            out.passed_staff += info.staff
        if info.stage == STAGE_COMPUTED:
            out.computed += 1
            out.computed_cases += info.cases
            out.computed_staff += info.staff
        elif info.stage == STAGE_FAILED:
            out.failed += 1
        elif info.stage not in FROZEN_STAGES:
            out.uploaded += 1
    return out


@dataclass
class Page:
    """One page of the filtered, sorted table."""

    rows: list[dict[str, Any]]
    #: rows matching the filter and search (all pages)
    matching: int
    page: int
    pages: int


@dataclass
class InstitutionRows:
    """The table's rows with the operator's stage filter, search text, sort and ticks."""

    infos: list[InstitutionInfo] = field(default_factory=list)
    stage: str = ALL_STAGES
    search: str = ""
    sort_by: str = "org"
    descending: bool = False
    per_page: int = 50
    ticked: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._by_org: dict[str, InstitutionInfo] = {}
        self.load(self.infos)

    def load(self, infos: Sequence[InstitutionInfo]) -> None:
        """Replace the institutions (after a refresh); ticks of vanished ones are dropped."""
        self.infos = list(infos)
        self._rows = [row_of(info) for info in self.infos]
        self._by_org = {info.org: info for info in self.infos}
        self.ticked &= set(self._by_org)

    def info(self, org: str) -> InstitutionInfo | None:
        """The institution ``org`` (``None`` when not in the workspace)."""
        return self._by_org.get(org)

    def matching(self) -> list[dict[str, Any]]:
        """Rows of the chosen stage whose code or name contains the search text, sorted."""
        text = self.search.strip().lower()
        rows = self._rows
        if self.stage != ALL_STAGES:
            rows = [r for r in rows if r["stage"] == self.stage]
        if text:
            rows = [r for r in rows if text in r["org"].lower() or text in r["name"].lower()]
        key = self.sort_by if self.sort_by in dict(COLUMNS) else "org"
        numeric = key in ("cases", "staff", "errors", "warnings")

        def sort_key(row: dict[str, Any]) -> tuple[int, Any]:
            value = row[key]
            if numeric:
                return (0, value) if value != "" else (1, 0)
            return (0, str(value)) if value != "" else (1, "")

        ordered = sorted(rows, key=sort_key, reverse=self.descending)
        if self.descending:  # empty cells stay last either way
            ordered = [r for r in ordered if r[key] != ""] + [r for r in ordered if r[key] == ""]
        return ordered

    def view(self, page: int = 1) -> Page:
        """Page ``page`` (1-based, clamped) of :meth:`matching`."""
        rows = self.matching()
        pages = max(1, -(-len(rows) // self.per_page))
        page = min(max(1, page), pages)
        start = (page - 1) * self.per_page
        return Page(rows[start : start + self.per_page], len(rows), page, pages)

    def tick_all(self, on: bool = True) -> None:
        """全选: tick (or untick) every row matching the filter and search."""
        codes = {r["org"] for r in self.matching()}
        if on:
            self.ticked |= codes
        else:
            self.ticked -= codes

    def selected(self) -> list[str]:
        """The ticked codes in table order (by code)."""
        return [info.org for info in self.infos if info.org in self.ticked]

    def split_for_compute(self) -> tuple[list[str], dict[str, str]]:
        """The ticked institutions that may be computed, and why each other one may not."""
        ok: list[str] = []
        refused: dict[str, str] = {}
        for org in self.selected():
            reason = compute_refusal(self._by_org[org])
            if reason is None:
                ok.append(org)
            else:
                refused[org] = reason
        return ok, refused
