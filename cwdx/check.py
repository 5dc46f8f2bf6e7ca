"""The check engine (``checks.md``): runs every rule of :mod:`cwdx.rules` over one
institution's frames and turns the hits into the finding table, the count of every rule and
pass/fail.

:func:`check_frames` is pure (frames in, :class:`InstitutionCheck` out);
:func:`check_workspace` checks institutions of a :class:`~cwdx.workspace.Workspace` one at a
time (memory bounded by the largest institution) and stores each result, which freezes it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from cwdx.fanout import Mapper
from cwdx.reference import Reference, TableName, load_reference
from cwdx.rules import (
    RULE_IDS,
    RULES,
    CheckContext,
    Hits,
    Rule,
    TableState,
    rules_for,
    severity_total,
)
from cwdx.rules.catalogue import value_rule_ids

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

ProgressCallback = Callable[[int, int, str], None]


@dataclass
class InstitutionCheck:
    """The check of one institution: pass/fail, the count of every rule (zeros included), the
    finding table (:data:`FINDING_COLUMNS`), and the rules that crashed (id -> error text)."""

    org: str
    passed: bool
    counts: dict[str, int]
    findings: pd.DataFrame
    failed_rules: dict[str, str] = field(default_factory=dict)
    case_rows: int = 0
    staff_rows: int = 0

    @property
    def errors(self) -> int:
        """Total count of error findings."""
        return severity_total(self.counts, "error")

    @property
    def warnings(self) -> int:
        """Total count of warning findings."""
        return severity_total(self.counts, "warning")


def empty_findings() -> pd.DataFrame:
    """A finding table without rows (the right columns and dtypes)."""
    frame = pd.DataFrame({col: pd.Series(dtype="string") for col in FINDING_COLUMNS})
    frame["excel_row"] = frame["excel_row"].astype("int64")
    return frame


def _findings_of(rule: Rule, hits: list[Hits], state: TableState, org: str) -> pd.DataFrame:
    """The finding rows of one rule's hits."""
    parts = []
    df = state.df
    for hit in hits:
        mask = hit.mask.reindex(df.index, fill_value=False).fillna(False).astype(bool)
        rows = mask[mask].index
        if len(rows) == 0:
            continue
        if hit.value is not None:
            value = hit.value.loc[rows].astype("string")
        elif hit.column:
            value = df[hit.column].loc[rows].astype("string")
        else:
            value = pd.Series("", index=rows, dtype="string")
        message = (
            hit.message.loc[rows].astype("string")
            if isinstance(hit.message, pd.Series)
            else pd.Series(hit.message, index=rows, dtype="string")
        )
        cells = hit.cells if hit.cells is not None else hit.column
        cells = (
            cells.loc[rows].astype("string")
            if isinstance(cells, pd.Series)
            else pd.Series(cells, index=rows, dtype="string")
        )
        institution = df["_org"].loc[rows].astype("string").fillna(org)
        parts.append(
            pd.DataFrame(
                {
                    "institution": institution,
                    "table": rule.table,
                    "rule_id": rule.id,
                    "severity": rule.severity,
                    "excel_file": df["_file"].loc[rows].astype("string").fillna(""),
                    "excel_row": pd.to_numeric(df["_row"].loc[rows]).astype("int64"),
                    "column": hit.column,
                    "value": value.fillna(""),
                    "message": message.fillna(""),
                    "cells": cells.fillna(""),
                }
            )
        )
    if not parts:
        return empty_findings()
    out = pd.concat(parts, ignore_index=True)
    for col in FINDING_COLUMNS:
        if col != "excel_row":
            out[col] = out[col].astype("string")
    return out


def _count(rule: Rule, hits: list[Hits]) -> int:
    """Cells (sum over hits) for 字段 rules; distinct rows for 条记录 and 人 rules."""
    if not hits:
        return 0
    if rule.unit == "cell":
        return int(sum(int(h.mask.fillna(False).astype(bool).sum()) for h in hits))
    union = hits[0].mask.fillna(False).astype(bool)
    for hit in hits[1:]:
        union = union | hit.mask.fillna(False).astype(bool)
    return int(union.sum())


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def institution_of(*frames: pd.DataFrame | None) -> str:
    """The institution the rows of the first non-empty frame are attributed to (``_org``)."""
    for frame in frames:
        if frame is not None and len(frame) and "_org" in frame:
            value = frame["_org"].dropna()
            if len(value):
                return str(value.iloc[0])
    return ""


def _table_states(
    cases_df: pd.DataFrame | None,
    staff_df: pd.DataFrame | None,
    all_staff_df: pd.DataFrame | None,
    reference: Reference,
    today: date,
    org: str,
    failed: dict[str, str],
) -> tuple[dict[TableName, TableState | None], TableState | None]:
    """The institution's table states and the workspace's staff state. A table that cannot
    even be parsed is ``None`` and fails all its rules (recorded in ``failed``); the workspace's
    staff table likewise fails the ``scope="workspace"`` rules."""
    states: dict[TableName, TableState | None] = {}
    tables: tuple[tuple[TableName, pd.DataFrame | None], ...] = (
        ("cases", cases_df),
        ("staff", staff_df),
    )
    for name, frame in tables:
        try:
            states[name] = TableState(name, frame, reference, today, *value_rule_ids(name))
        except Exception as exc:
            log.exception("数据检测 %s：%s 表无法准备，相关规则记为运行出错", org, name)
            states[name] = None
            for rule in rules_for(name):
                failed[rule.id] = _error_text(exc)
    all_state = states["staff"]
    if all_staff_df is not None and states["staff"] is not None:
        try:
            all_state = TableState(
                "staff", all_staff_df, reference, today, *value_rule_ids("staff")
            )
        except Exception as exc:
            log.exception("数据检测 %s：全部申报人员表无法准备，跨机构规则记为运行出错", org)
            for rule in RULES.values():
                if rule.scope == "workspace":
                    failed[rule.id] = _error_text(exc)
            all_state = None
    return states, all_state


def _run_rules(
    ctx: CheckContext,
    states: dict[TableName, TableState | None],
    org: str,
    counts: dict[str, int],
    failed: dict[str, str],
) -> list[pd.DataFrame]:
    """Run every rule whose table could be prepared, in catalogue order with the
    ``after_errors`` rules last (they see the staff rows with an error finding); fill
    ``counts`` and ``failed`` and return the finding tables."""
    parts: list[pd.DataFrame] = []
    staff = states["staff"]
    staff_error_rows = None if staff is None else pd.Series(False, index=staff.df.index)
    for rule in sorted(RULES.values(), key=lambda r: r.after_errors):  # stable sort
        state = states[rule.table]
        if rule.id in failed or state is None:
            continue
        if rule.after_errors:
            ctx.error_rows = staff_error_rows
        try:
            hits = rule.func(ctx)
            counts[rule.id] = _count(rule, hits)
            found = _findings_of(rule, hits, state, org)
            if len(found):
                parts.append(found)
        except Exception as exc:
            log.exception("数据检测 %s：规则 %s 运行出错", org, rule.id)
            failed[rule.id] = _error_text(exc)
            counts[rule.id] = 0
            continue
        if rule.table == "staff" and rule.severity == "error" and staff_error_rows is not None:
            for hit in hits:
                staff_error_rows |= (
                    hit.mask.reindex(staff_error_rows.index, fill_value=False)
                    .fillna(False)
                    .astype(bool)
                )
    return parts


def check_frames(
    cases_df: pd.DataFrame | None,
    staff_df: pd.DataFrame | None,
    all_staff_df: pd.DataFrame | None = None,
    reference: Reference | None = None,
    today: date | None = None,
    org: str | None = None,
) -> InstitutionCheck:
    """Check one institution's stored frames (``DESIGN.md`` row frame format).

    ``all_staff_df`` holds every applicant of the workspace (the ``scope="workspace"`` rules,
    E12/E13, look across institutions; default: ``staff_df``). ``today`` is the check day
    (出生日期 must not be later). A rule that raises is recorded in ``failed_rules`` with its
    error text, counts 0, the other rules still run, and the institution does not pass.
    """
    reference = reference or load_reference()
    today = today or date.today()
    org = org if org is not None else institution_of(cases_df, staff_df)
    counts = dict.fromkeys(RULE_IDS, 0)
    failed: dict[str, str] = {}
    states, all_state = _table_states(
        cases_df, staff_df, all_staff_df, reference, today, org, failed
    )
    ctx = CheckContext(
        cases=states["cases"],  # type: ignore[arg-type]
        staff=states["staff"],  # type: ignore[arg-type]
        all_staff=all_state,  # type: ignore[arg-type]
        reference=reference,
        today=today,
    )
    parts = _run_rules(ctx, states, org, counts, failed)

    findings = pd.concat(parts, ignore_index=True) if parts else empty_findings()
    errors = severity_total(counts, "error")
    passed = errors == 0 and not failed
    case_rows = 0 if cases_df is None else len(cases_df)
    staff_rows = 0 if staff_df is None else len(staff_df)
    log.info(
        "数据检测 %s：病案 %d 行，申报人员 %d 行，错误 %d 个，运行出错的规则 %d 条，通过=%s",
        org,
        case_rows,
        staff_rows,
        errors,
        len(failed),
        passed,
    )
    return InstitutionCheck(org, passed, counts, findings, failed, case_rows, staff_rows)


#: Appended to the 说明 of a rule that crashed (检测结果汇总, the apps' rule tables).
FAILED_RULE_NOTE = (
    "（本规则运行出错，未能完成检测，因此本机构检测不通过；详细信息已写入日志，"
    "请把日志文件提供给技术支持人员。）"
)


def summary_rows(check: InstitutionCheck, table: str | None = None) -> list[dict[str, Any]]:
    """The 检测结果汇总 rows (规则编号, 级别, 说明, 处理建议) of one check, in catalogue order,
    zero counts included; ``table`` restricts to the rules reporting on that table."""
    rows = []
    for rule in rules_for(table) if table else RULES.values():  # type: ignore[arg-type]
        text = rule.summary(check.counts.get(rule.id, 0), check.case_rows)
        if rule.id in check.failed_rules:
            # the error text (an exception, in English) stays in the log and failed_rules
            text += FAILED_RULE_NOTE
        rows.append(
            {
                "规则编号": rule.id,
                "级别": rule.severity_label,
                "说明": text,
                "处理建议": rule.advice,
                "count": check.counts.get(rule.id, 0),
                "severity": rule.severity,
            }
        )
    return rows


#: Institutions are checked in worker processes only when the named ones hold at least this
#: many case rows together (below it, starting the workers costs more than it saves).
PARALLEL_MIN_ROWS = 300_000
#: At most this many worker processes (each holds one institution's rows).
MAX_WORKERS = 4


def _spawn_safe() -> bool:
    """Whether worker processes can be spawned: they re-import the main script, which is only
    harmless when it guards its work with ``if __name__ == "__main__"`` (the ``cwdx`` command,
    Jupyter and Voilà kernels, pytest do; a plain analyst script may not)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        return True
    try:
        return "__main__" in Path(path).read_text(encoding="utf-8", errors="ignore")
    except OSError:
        return False


def _auto_workers(ws: Any, targets: list[str]) -> int:
    cores = os.cpu_count() or 1
    if cores < 2 or len(targets) < 2 or not _spawn_safe():
        return 1
    rows = sum(info.cases for info in ws.institutions() if info.org in set(targets))
    if rows < PARALLEL_MIN_ROWS:
        return 1
    return min(cores, len(targets), MAX_WORKERS)


def _check_one(ws: Any, org: str, all_staff: pd.DataFrame, today: date) -> InstitutionCheck:
    """Check one institution of ``ws`` (runs in the caller or in a worker process)."""
    cases = ws.load("cases", [org])
    staff = all_staff[all_staff["_org"] == org] if len(all_staff) else all_staff
    return check_frames(cases, staff, all_staff, load_reference(), today, org=org)


def _check_piece(piece: tuple[Any, str, pd.DataFrame, date]) -> InstitutionCheck:
    """:func:`_check_one` of one ``(ws, org, all_staff, today)`` piece (for a Mapper)."""
    return _check_one(*piece)


def check_workspace(
    ws: Any,
    orgs: list[str] | None = None,
    on_progress: ProgressCallback | None = None,
    workers: int | None = None,
    mapper: Mapper | None = None,
) -> dict[str, InstitutionCheck]:
    """Check the named (default: all) institutions of ``ws`` one by one and store each result
    with ``ws.save_check`` (which freezes the institution).

    Every named institution is first tested with ``ws.require_stage(org, "check")``: a frozen
    or unknown one raises :class:`~cwdx.errors.CwdxError` (naming the unfreeze action) before
    anything is checked. E12/E13 look at every applicant of the workspace.

    ``workers`` > 1 checks institutions in that many worker processes (results are still
    stored one by one by this process); the default chooses by the machine's cores and the
    number of case rows (:data:`PARALLEL_MIN_ROWS`). A ``mapper`` (:mod:`cwdx.fanout`) runs
    the institutions instead (the task dispatcher's Dask workers); results are stored by this
    process as they come. Returns the checks in the order named.

    The whole check holds the workspace's write lock (``ws.writing``), so rows cannot be
    imported or deleted between reading and freezing them: such writes are refused in Chinese,
    and the check itself is refused while another write runs.
    """
    with ws.writing("数据检测"):
        return _check_locked(ws, orgs, on_progress, workers, mapper)


def _check_locked(
    ws: Any,
    orgs: list[str] | None,
    on_progress: ProgressCallback | None,
    workers: int | None,
    mapper: Mapper | None = None,
) -> dict[str, InstitutionCheck]:
    """:func:`check_workspace` while it holds the workspace's write lock."""
    targets = list(dict.fromkeys(orgs)) if orgs else [info.org for info in ws.institutions()]
    for org in targets:
        ws.require_stage(org, "check")
    all_staff = ws.load("staff")
    today = date.today()
    total = len(targets)
    workers = _auto_workers(ws, targets) if workers is None else max(1, workers)
    results: dict[str, InstitutionCheck] = {}

    def store(org: str, result: InstitutionCheck) -> None:
        if result.failed_rules:
            # also when the rule ran in a worker process, whose log records go nowhere
            log.error("数据检测 %s：运行出错的规则 %s", org, "; ".join(failed_rule_list(result)))
        ws.save_check(
            org,
            result.passed,
            result.counts,
            result.findings,
            failed_rule_list(result),
            errors=result.errors,
            warnings=result.warnings,
        )
        results[org] = result
        if on_progress:
            on_progress(len(results), total, f"数据检测：{org}")

    if on_progress:
        on_progress(0, total, "数据检测")
    if mapper is not None:
        pieces = [(ws, org, all_staff, today) for org in targets]
        for org, result in zip(targets, mapper(_check_piece, pieces), strict=True):
            store(org, result)
    elif workers > 1 and total > 1:
        log.info("数据检测：%d 个机构，%d 个工作进程", total, workers)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(_check_one, ws, org, all_staff, today): org for org in targets}
            for future in as_completed(futures):
                store(futures[future], future.result())
    else:
        for org in targets:
            store(org, _check_one(ws, org, all_staff, today))
    if on_progress:
        on_progress(total, total, "数据检测完成")
    return {org: results[org] for org in targets}


def failed_rule_list(check: InstitutionCheck) -> list[str]:
    """``failed_rules`` as stored by the workspace: ``"E05：<error text>"`` per crashed rule."""
    return [f"{rid}：{text}" for rid, text in check.failed_rules.items()]


def parse_failed_rules(items: list[str] | None) -> dict[str, str]:
    """Rule id -> error text of a stored ``failed_rules`` list (see :func:`failed_rule_list`)."""
    failed: dict[str, str] = {}
    for item in items or []:
        rid, _, text = str(item).partition("：")
        failed[rid] = text
    return failed


def from_record(record: Any, case_rows: int = 0, staff_rows: int = 0) -> InstitutionCheck:
    """An :class:`InstitutionCheck` from a stored ``CheckRecord`` of the workspace."""
    failed = parse_failed_rules(record.failed_rules)
    counts = dict.fromkeys(RULE_IDS, 0)
    counts.update({k: int(v) for k, v in record.counts.items()})
    findings = record.findings
    if findings is None or findings.empty:
        findings = empty_findings()
    elif "cells" not in findings:
        findings = findings.assign(cells=findings["column"])
    return InstitutionCheck(
        record.org, bool(record.passed), counts, findings, failed, case_rows, staff_rows
    )
