"""What rules are made of: :class:`Rule` (a declaration of ``checks.md`` with its function),
:class:`Hits` (what a rule function returns), :class:`TableState` (per-cell facts computed once)
and :class:`CheckContext` (what a rule function looks at), plus the value helpers rules share.

Nothing here loads the reference: rules are declared at import time, the catalogue is built
from the reference on first use (:mod:`cwdx.rules.catalogue`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from cwdx.code_lists import domain_title as sheet_title
from cwdx.columns import FILE, IMPORT, ORG, ROW, ROW_ORG, STAFF_LICENSE
from cwdx.matching import isin_codes
from cwdx.numbers import percent_text
from cwdx.reference import ColumnSpec, Reference, TableName
from cwdx.values import (
    DATE_MAX,
    DATE_MIN,
    LICENSE_CODE_PATTERN,
    ORG_CODE_PATTERN,
    arrow_strings,
    code_set_array,
    pattern_array,
    text_facts,
    typed_column,
)

Severity = Literal["error", "warning"]
#: What a rule counts: 个字段 (cells), 条记录 (rows) or 人 (applicants, one row each).
Unit = Literal["cell", "row", "person"]
#: Which applicants a rule compares: the institution's, or every applicant of the workspace.
Scope = Literal["institution", "workspace"]

SEVERITY_LABELS: dict[str, str] = {"error": "错误", "warning": "警告"}

#: The table name users see in the staff rules' messages.
STAFF_TITLE = "《申报人员信息自然表》"


@dataclass
class Hits:
    """Findings of one rule over one table: ``mask`` marks the rows hit.

    ``column`` names the cell for cell findings (empty for row-level findings); ``value``
    defaults to that cell's value. ``message`` is the finding's 说明 (one text, or a Series
    aligned to the table). ``cells`` names the columns to mark in 标注数据 (``|``-joined,
    one text or a Series); it defaults to ``column``.
    """

    table: TableName
    mask: pd.Series
    column: str = ""
    message: str | pd.Series = ""
    value: pd.Series | None = None
    cells: str | pd.Series | None = None


RuleFunction = Callable[["CheckContext"], list[Hits]]


@dataclass(frozen=True)
class Rule:
    """One rule of ``checks.md``: identity, severity, counting unit, texts, its function and
    the declared properties the engine needs.

    ``scope`` is ``"workspace"`` for rules comparing every applicant of the workspace (E12,
    E13: they read ``CheckContext.all_staff``); ``after_errors`` rules run after every other
    rule and see ``CheckContext.error_rows`` (W12). ``cell_values`` rules own the filled cells
    the template assigns them whose value does not fit (domain or format); a
    ``format_fallback`` rule also owns too-long cells of its table no other rule claims (E02,
    E15). ``column_in_finding`` is False for row-level value rules whose findings carry no
    column (W03, W05: the cell is still marked in 标注数据).
    """

    id: str
    severity: Severity
    table: TableName
    unit: Unit
    message: str
    advice: str
    columns: tuple[str, ...]
    func: RuleFunction = field(repr=False, compare=False)
    scope: Scope = "institution"
    after_errors: bool = False
    cell_values: bool = False
    format_fallback: bool = False
    column_in_finding: bool = True

    @property
    def percent(self) -> bool:
        """Whether the message carries a percentage of the imported case rows."""
        return "%" in self.message

    @property
    def severity_label(self) -> str:
        """错误 or 警告."""
        return SEVERITY_LABELS[self.severity]

    def summary(self, count: int, case_rows: int) -> str:
        """The summary message with ``**`` (or ``*``) filled with the count and ``**%`` with
        the percentage of ``case_rows`` (two decimals, rounded half up)."""
        text = re.sub(r"\*\*?", str(count), self.message, count=1)
        if self.percent:
            text = text.replace("**%", f"{percent_text(count, case_rows)}%", 1)
        return text


# --------------------------------------------------------------------------- value helpers


def _limits(note: str) -> tuple[float | None, float | None]:
    """Numeric range of an int/decimal column from its template note."""
    match = re.search(r"(?:integer|number) (\d+)\.\.(\d+)", note)
    if match:
        return float(match.group(1)), float(match.group(2))
    match = re.search(r"(?:integer|number) >= (\d+)", note)
    if match:
        return float(match.group(1)), None
    return None, None


#: The pattern a code-like text column's values must match.
_CODE_PATTERNS: dict[str, str] = {ORG: ORG_CODE_PATTERN, STAFF_LICENSE: LICENSE_CODE_PATTERN}


_DATE_MIN = DATE_MIN.to_datetime64()
_DATE_MAX = DATE_MAX.to_datetime64()


def format_hint(spec: ColumnSpec, reference: Reference) -> str:
    """What a valid value of the column looks like, for the finding's 说明."""
    if spec.domain:
        return f"应为规定的代码（{domain_title(spec, reference)}）"
    if spec.type in ("date", "datetime"):
        example = "2020-01-05" if spec.type == "date" else "2020-01-05 08:30"
        hint = f"应为有效日期{'时间' if spec.type == 'datetime' else ''}（如 {example}），"
        hint += "在1900-01-01至2100-12-31之间"
        if "today" in spec.note:
            hint += "且不晚于检测当天"
        return hint
    if spec.type in ("int", "decimal"):
        low, high = _limits(spec.note)
        kind = "整数" if spec.type == "int" else "数字"
        if low is not None and high is not None:
            return f"应为{int(low)}至{int(high)}之间的{kind}"
        if low is not None:
            return f"应为不小于{int(low)}的{kind}"
        return f"应为{kind}"
    parts = []
    if spec.name == ORG:
        parts.append("只能包含英文字母、数字和“-”，不超过30个字符")
    elif spec.name == STAFF_LICENSE:
        parts.append("只能包含英文字母和数字，不超过30个字符")
    elif spec.max_length:
        parts.append(f"不超过{spec.max_length}个字符")
    return "，".join(parts) if parts else "格式不正确"


def domain_title(spec: ColumnSpec, reference: Reference) -> str:
    """Where the column's codes are listed, as users find it (the template's code-list sheet
    or the ICD list's title), followed by the codes themselves when the list is short:
    ``《申报人员信息自然表-学历》：1=博士研究生、2=硕士研究生…``."""
    title = sheet_title(spec.domain)
    listed = code_list(reference, spec.domain, "、")
    return f"{title}：{listed}" if listed else title


def code_list(reference: Reference, domain: str, sep: str = "，", limit: int = 12) -> str:
    """``1=男，2=女``: the codes of a short domain with their names (``""`` when the domain
    has more than ``limit`` codes or none), for messages and advice."""
    codes = reference.domains.get(domain, {})
    if not codes or len(codes) > limit:
        return ""
    return sep.join(f"{code}={name}" for code, name in codes.items())


def in_domain(series: pd.Series, reference: Reference, domain: str) -> pd.Series:
    """Vectorised membership of (canonical) values in a domain's codes; False for NA (the one
    code-set lookup, :func:`cwdx.matching.isin_codes`)."""
    return isin_codes(series.astype("string"), reference.domain_codes(domain))


# --------------------------------------------------------------------------- table state


class TableState:
    """Per-cell facts of one table computed once: emptiness, parsed values, and which filled
    cells break their column's domain or format rule (``invalid``, owned by the rule named in
    ``cell_rule``).

    ``value_rules`` are the ids of the declared ``cell_values`` rules and ``fallback_rule``
    the table's ``format_fallback`` rule (``catalogue.value_rule_ids(table)`` gives both).
    """

    def __init__(
        self,
        table: TableName,
        df: pd.DataFrame | None,
        reference: Reference,
        today: date,
        value_rules: frozenset[str],
        fallback_rule: str,
    ) -> None:
        self.table = table
        self.specs: dict[str, ColumnSpec] = {s.name: s for s in reference.columns(table)}
        df = pd.DataFrame() if df is None else df
        missing = [c for c in (*self.specs, FILE, ROW, IMPORT, ROW_ORG) if c not in df]
        if missing:
            df = df.copy()
            for col in missing:
                df[col] = pd.Series([None] * len(df), index=df.index, dtype="object")
        self.df = df
        self.reference = reference
        self.today = pd.Timestamp(today)
        self.empty: dict[str, pd.Series] = {}
        self.typed: dict[str, pd.Series] = {}
        self.invalid: dict[str, pd.Series] = {}
        self.cell_rule: dict[str, str] = {}
        for name, spec in self.specs.items():
            raw = df[name]
            text = raw.astype("string")
            arr = arrow_strings(text)
            empty, too_long, error = text_facts(arr, spec.max_length)
            if text.dtype != pd.StringDtype("pyarrow"):  # Python strings strip as Python does
                empty = (raw.isna() | (text.str.strip() == "").fillna(True)).to_numpy(dtype=bool)
            self.empty[name] = pd.Series(empty, index=df.index, name=name)
            rule = next((r for r in spec.rules if r in value_rules), "")
            if not rule and spec.max_length:
                rule = fallback_rule
            self.cell_rule[name] = rule
            # an Excel error value (#N/A) is no value of any type
            fits = self._fits(spec, raw, arr) & ~too_long & ~error
            self.invalid[name] = pd.Series(~empty & ~fits, index=df.index)

    def _fits(self, spec: ColumnSpec, raw: pd.Series, arr: pa.Array) -> np.ndarray:
        """Whether each (filled) value fits the column's type, range and domain (``arr``: the
        column as Arrow strings)."""
        ok = np.ones(len(arr), dtype=bool)
        if spec.type == "code":
            if spec.domain:
                ok &= code_set_array(arr, self.reference.domain_codes(spec.domain))
        elif spec.type in ("date", "datetime"):
            typed = typed_column(raw, spec.type)
            self.typed[spec.name] = typed
            moment = typed.to_numpy(dtype="datetime64[ns]")
            ok &= ~np.isnat(moment) & (moment >= _DATE_MIN) & (moment <= _DATE_MAX)
            if "today" in spec.note:  # the day of the moment is not later than today
                ok &= moment < (self.today + pd.Timedelta(days=1)).to_datetime64()
        elif spec.type in ("int", "decimal"):
            typed = typed_column(raw, spec.type)
            self.typed[spec.name] = typed
            number = typed.to_numpy(dtype="float64", na_value=np.nan)
            with np.errstate(invalid="ignore"):
                low, high = _limits(spec.note)
                ok &= ~np.isnan(number)
                if low is not None:
                    ok &= number >= low
                if high is not None:
                    ok &= number <= high
        pattern = _CODE_PATTERNS.get(spec.name)
        if pattern is not None:
            ok &= pattern_array(arr, pattern)
        return ok

    def parsed(self, kind: str) -> dict[str, pd.Series]:
        """The columns of type ``kind`` (``"datetime"``…) as parsed for the check (what
        :func:`~cwdx.values.typed_column` gives), so that other parsers of the same columns
        (W09's grouping, the matching of W11/W12) need not parse them again."""
        return {name: typed for name, typed in self.typed.items() if self.specs[name].type == kind}

    def valid(self, column: str) -> pd.Series:
        """Filled cells whose value fits the column (no cell-level finding)."""
        return ~self.empty[column] & ~self.invalid[column]

    def all_valid(self, columns: tuple[str, ...]) -> pd.Series:
        """Rows where every one of ``columns`` is filled and valid."""
        mask = pd.Series(True, index=self.df.index)
        for col in columns:
            mask &= self.valid(col)
        return mask

    def text(self, column: str) -> pd.Series:
        """The column as strings (empty string for an empty cell)."""
        return self.df[column].astype("string").fillna("")


@dataclass
class CheckContext:
    """What the rules of one institution look at.

    ``cases``/``staff`` are the institution's tables; ``all_staff`` every applicant of the
    workspace (``scope="workspace"`` rules); ``error_rows`` is set by the engine before the
    ``after_errors`` rules run: staff rows with an error finding. ``matched``/``explain`` are
    filled lazily from :mod:`cwdx.matching` (W11, W12).
    """

    cases: TableState
    staff: TableState
    all_staff: TableState
    reference: Reference
    today: date
    error_rows: pd.Series | None = None
    explain: pd.Series | None = None
    matched: pd.Series | None = None
    #: positions of the rows W09 found each later copy repeating (-1: none), once W09 ran
    w09_repeated: np.ndarray | None = None

    def state(self, table: TableName) -> TableState:
        """The institution's state of ``table``."""
        return self.cases if table == "cases" else self.staff
