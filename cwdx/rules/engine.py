"""One columnar pass of every rule over the rows of many institutions at once.

:func:`evaluate` prepares each table's :class:`~cwdx.rules.model.TableState` once for all the
rows it is given, runs every rule once over them, and only then splits the hits per
institution (each row carries the position of its institution): the count of every rule, the
finding table (:data:`FINDING_COLUMNS`) and the rules that crashed. The fixed cost of a check
(preparing the states, a rule's pandas calls, building a finding table) is thus paid once per
batch of institutions instead of once per institution.

Checking institutions together gives the same results as checking each alone because every
rule compares rows only within one row, within groups keyed by 组织机构代码 (whose valid values
are the rows' institution, see :func:`mixes_institutions`), or across the whole workspace by
design (``scope="workspace"``: E12, E13).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx.columns import FILE, ORG, ROW, ROW_ORG
from cwdx.reference import Reference, TableName
from cwdx.rules.catalogue import RULE_IDS, RULES, rules_for, value_rule_ids
from cwdx.rules.model import CheckContext, Hits, Rule, TableState
from cwdx.values import arrow_strings, valid_org_code_mask

log = logging.getLogger("cwdx.check")

#: Columns of the finding table, in order (``checks.md`` "Result shape"), plus ``cells``:
#: the columns to mark in 标注数据 (``|``-joined; the finding's column for cell findings).
FINDING_COLUMNS: tuple[str, ...] = (
    "institution",
    "table",
    "rule_id",
    "severity",
    "excel_file",
    "excel_row",
    "column",
    "value",
    "message",
    "cells",
)


_EMPTY_FINDINGS: list[pd.DataFrame] = []


def empty_findings() -> pd.DataFrame:
    """A finding table without rows (the right columns and dtypes)."""
    if not _EMPTY_FINDINGS:
        frame = pd.DataFrame({col: pd.Series(dtype="string") for col in FINDING_COLUMNS})
        frame["excel_row"] = frame["excel_row"].astype("int64")
        _EMPTY_FINDINGS.append(frame)
    return _EMPTY_FINDINGS[0].copy()


@dataclass
class Batch:
    """The rows of the institutions ``orgs`` checked together: ``case_inst`` / ``staff_inst``
    give each case / staff row's position in ``orgs``. ``all_staff`` is every applicant of the
    workspace (the ``scope="workspace"`` rules; ``None``: the batch's staff rows)."""

    orgs: Sequence[str]
    cases: pd.DataFrame | None
    staff: pd.DataFrame | None
    all_staff: pd.DataFrame | None
    case_inst: np.ndarray
    staff_inst: np.ndarray


@dataclass
class BatchOutcome:
    """Per institution of the batch (in ``orgs`` order): the count of every rule and the
    finding table; ``failed`` holds the rules that crashed (id -> error text), which concern
    every institution of the batch."""

    counts: list[dict[str, int]]
    findings: list[pd.DataFrame]
    failed: dict[str, str]


def error_text(exc: BaseException) -> str:
    """How a crashed rule is recorded: ``"KeyError: '出院时间'"``."""
    return f"{type(exc).__name__}: {exc}"


def mixes_institutions(frame: pd.DataFrame | None) -> bool:
    """Whether a row of ``frame`` holds a valid 组织机构代码 other than its institution
    (``_org``). The reader never stores such rows (a row with a valid code belongs to that
    code's institution); when a frame has them, the rules keyed by 组织机构代码 could group
    rows of two institutions, so its institutions must be checked one at a time."""
    if frame is None or not len(frame) or ORG not in frame or ROW_ORG not in frame:
        return False
    code = frame[ORG].astype("string")
    other = (code != frame[ROW_ORG].astype("string")).fillna(True).to_numpy(dtype=bool)
    return bool((valid_org_code_mask(code).to_numpy(dtype=bool) & other).any())


def _table_states(
    batch: Batch, reference: Reference, today: date, label: str, failed: dict[str, str]
) -> tuple[dict[TableName, TableState | None], TableState | None]:
    """The batch's table states and the workspace's staff state. A table that cannot even be
    prepared is ``None`` and fails all its rules (recorded in ``failed``); the workspace's
    staff table likewise fails the ``scope="workspace"`` rules."""
    states: dict[TableName, TableState | None] = {}
    tables: tuple[tuple[TableName, pd.DataFrame | None], ...] = (
        ("cases", batch.cases),
        ("staff", batch.staff),
    )
    for name, frame in tables:
        try:
            states[name] = TableState(name, frame, reference, today, *value_rule_ids(name))
        except Exception as exc:
            log.exception("数据检测 %s：%s 表无法准备，相关规则记为运行出错", label, name)
            states[name] = None
            for rule in rules_for(name):
                failed[rule.id] = error_text(exc)
    all_state = states["staff"]
    if batch.all_staff is not None and states["staff"] is not None:
        try:
            all_state = TableState(
                "staff", batch.all_staff, reference, today, *value_rule_ids("staff")
            )
        except Exception as exc:
            log.exception("数据检测 %s：全部申报人员表无法准备，跨机构规则记为运行出错", label)
            for rule in RULES.values():
                if rule.scope == "workspace":
                    failed[rule.id] = error_text(exc)
            all_state = None
    return states, all_state


def _mask(mask: pd.Series, index: pd.Index) -> np.ndarray:
    """A hit's mask as booleans aligned to the table's rows (NA and absent rows: False)."""
    if not mask.index.equals(index):
        mask = mask.reindex(index, fill_value=False)
    if mask.dtype != bool:
        mask = mask.fillna(False).astype(bool)
    return mask.to_numpy(dtype=bool)


def _taken(
    series: pd.Series, positions: np.ndarray, index: pd.Index, fill: str | None = ""
) -> np.ndarray:
    """``series`` at the table rows ``positions`` as strings, ``fill`` for NA (Arrow or NumPy on
    the common dtypes; pandas ``astype("string")`` for anything else)."""
    if series.index.equals(index):
        if series.dtype == _ARROW_STRINGS:
            taken = arrow_strings(series).take(pa.array(positions, type=pa.int64()))
            if fill is not None:
                taken = pc.fill_null(taken, fill)
            return taken.to_numpy(zero_copy_only=False)
        if series.dtype == object:
            values = series.to_numpy()[positions]
            if all(type(value) is str for value in values):
                return values
        part = series.iloc[positions]
    else:
        part = series.loc[index[positions]]
    return part.astype("string").to_numpy(dtype=object, na_value=fill)


_ARROW_STRINGS = pd.StringDtype("pyarrow")


def _text(hit_text: str | pd.Series, positions: np.ndarray, index: pd.Index) -> np.ndarray:
    """A hit's text (one for all rows, or a Series aligned to the table) at ``positions``."""
    if isinstance(hit_text, pd.Series):
        return _taken(hit_text, positions, index)
    return np.full(len(positions), hit_text, dtype=object)


class _Findings:
    """The finding rows of a batch, gathered rule by rule and hit by hit as columns, then split
    per institution (the order within an institution is rule, hit, row: as checked alone)."""

    def __init__(self, batch: Batch, states: dict[TableName, TableState | None]) -> None:
        self.batch = batch
        self.columns: dict[str, list[np.ndarray]] = {col: [] for col in FINDING_COLUMNS}
        self.inst: list[np.ndarray] = []
        self.orgs = np.array(list(batch.orgs), dtype=object)
        self.texts: dict[tuple[TableName, str], pd.Series] = {}

    def __len__(self) -> int:
        return len(self.inst)

    def truncate(self, size: int) -> None:
        """Forget the hits added after the first ``size`` (a rule crashed half-way)."""
        for parts in (*self.columns.values(), self.inst):
            del parts[size:]

    def _column(self, state: TableState, column: str) -> pd.Series:
        """A bookkeeping column of the table as strings (made once per batch)."""
        key = (state.table, column)
        if key not in self.texts:
            self.texts[key] = state.df[column].astype("string")
        return self.texts[key]

    def add(self, rule: Rule, hit: Hits, mask: np.ndarray, state: TableState) -> None:
        """Add the finding rows of one hit (``mask``: its rows)."""
        positions = np.flatnonzero(mask)
        if not len(positions):
            return
        df, index = state.df, state.df.index
        inst = (self.batch.case_inst if rule.table == "cases" else self.batch.staff_inst)[positions]
        institution = _taken(self._column(state, ROW_ORG), positions, index, fill=None)
        missing = pd.isna(institution)
        institution[missing] = self.orgs[inst[missing]]
        row = df[ROW]
        if row.dtype == np.int64:
            excel_row = row.to_numpy()[positions]
        else:
            excel_row = pd.to_numeric(row.iloc[positions]).astype("int64").to_numpy()
        if hit.value is not None:
            value = _taken(hit.value, positions, index)
        elif hit.column:
            value = _taken(df[hit.column], positions, index)
        else:
            value = _text("", positions, index)
        cells = hit.cells if hit.cells is not None else hit.column
        size = len(positions)
        for col, values in (
            ("institution", institution),
            ("table", np.full(size, rule.table, dtype=object)),
            ("rule_id", np.full(size, rule.id, dtype=object)),
            ("severity", np.full(size, rule.severity, dtype=object)),
            ("excel_file", _taken(self._column(state, FILE), positions, index)),
            ("excel_row", excel_row),
            ("column", np.full(size, hit.column, dtype=object)),
            ("value", value),
            ("message", _text(hit.message, positions, index)),
            ("cells", _text(cells, positions, index)),
        ):
            self.columns[col].append(values)
        self.inst.append(inst)

    def split(self) -> list[pd.DataFrame]:
        """One finding table per institution of the batch."""
        n = len(self.batch.orgs)
        if not self.inst:
            return [empty_findings() for _ in range(n)]
        out = pd.DataFrame(
            {
                col: np.concatenate(parts)
                if col == "excel_row"
                else pd.array(np.concatenate(parts), dtype="string")
                for col, parts in self.columns.items()
            }
        )
        inst = np.concatenate(self.inst)
        order = np.argsort(inst, kind="stable")
        bounds = np.searchsorted(inst[order], np.arange(n + 1))
        tables = []
        for i in range(n):
            rows = order[bounds[i] : bounds[i + 1]]
            tables.append(out.take(rows).reset_index(drop=True) if len(rows) else empty_findings())
        return tables


def _counts(rule: Rule, masks: list[np.ndarray], inst: np.ndarray, n: int) -> np.ndarray:
    """Per institution: cells (sum over hits) for 字段 rules; distinct rows for 条记录 and 人
    rules."""
    total = np.zeros(n, dtype="int64")
    if not masks:
        return total
    if rule.unit == "cell":
        for mask in masks:
            total += np.bincount(inst[mask], minlength=n)
        return total
    union = np.logical_or.reduce(masks)
    return np.bincount(inst[union], minlength=n)


def evaluate(batch: Batch, reference: Reference, today: date, label: str = "") -> BatchOutcome:
    """Run every rule once over the batch's rows and split the results per institution.

    Rules run in catalogue order with the ``after_errors`` rules last (they see the staff rows
    with an error finding). A rule that raises is recorded in ``failed`` with its error text
    and counts 0; the other rules still run. ``label`` names the batch in the log.
    """
    n = len(batch.orgs)
    failed: dict[str, str] = {}
    counts = np.zeros((len(RULE_IDS), n), dtype="int64")
    row_of = {rid: i for i, rid in enumerate(RULE_IDS)}
    states, all_state = _table_states(batch, reference, today, label, failed)
    ctx = CheckContext(
        cases=states["cases"],  # type: ignore[arg-type]
        staff=states["staff"],  # type: ignore[arg-type]
        all_staff=all_state,  # type: ignore[arg-type]
        reference=reference,
        today=today,
    )
    findings = _Findings(batch, states)
    staff = states["staff"]
    staff_errors = None if staff is None else np.zeros(len(staff.df), dtype=bool)
    for rule in sorted(RULES.values(), key=lambda r: r.after_errors):  # stable sort
        state = states[rule.table]
        if rule.id in failed or state is None:
            continue
        if rule.after_errors and staff is not None and staff_errors is not None:
            ctx.error_rows = pd.Series(staff_errors.copy(), index=staff.df.index)
        inst = batch.case_inst if rule.table == "cases" else batch.staff_inst
        found = len(findings)
        try:
            hits = rule.func(ctx)
            masks = [_mask(hit.mask, state.df.index) for hit in hits]
            for hit, mask in zip(hits, masks, strict=True):
                findings.add(rule, hit, mask, state)
            counts[row_of[rule.id]] = _counts(rule, masks, inst, n)
        except Exception as exc:
            log.exception("数据检测 %s：规则 %s 运行出错", label, rule.id)
            failed[rule.id] = error_text(exc)
            findings.truncate(found)
            counts[row_of[rule.id]] = 0
            continue
        if rule.table == "staff" and rule.severity == "error" and staff_errors is not None:
            for mask in masks:
                staff_errors |= mask
    per_inst = [{rid: int(counts[row_of[rid], i]) for rid in RULE_IDS} for i in range(n)]
    return BatchOutcome(per_inst, findings.split(), failed)
