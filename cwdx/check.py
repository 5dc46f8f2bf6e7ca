"""The check (``checks.md``): every rule of :mod:`cwdx.rules` over institutions' frames, giving
each institution its finding table, the count of every rule and pass/fail.

:func:`check_institutions` is pure (frames of many institutions in, one
:class:`InstitutionCheck` per institution out): the rules run once over all the rows
(:mod:`cwdx.rules.engine`), and the results are split per institution afterwards;
:func:`check_frames` is the same for one institution. :func:`check_workspace` cuts the
institutions of a :class:`~cwdx.workspace.Workspace` into batches of bounded size (memory
bounded by :data:`BATCH_ROWS`), hands them to a :data:`~cwdx.fanout.Mapper` as
:class:`CheckPiece` s and stores each result, which freezes the institution.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from cwdx.columns import ROW_ORG
from cwdx.fanout import Mapper, batches_each, cut_batches, mapper_width, serial_map
from cwdx.pool import main_module_safe, pool_mapper
from cwdx.reference import Reference, load_reference
from cwdx.rules import RULE_IDS, RULES, rules_for, severity_total
from cwdx.rules.engine import FINDING_COLUMNS as FINDING_COLUMNS
from cwdx.rules.engine import (
    Batch,
    empty_findings,
    evaluate,
    mixes_institutions,
)
from cwdx.workspace.files import pause

log = logging.getLogger("cwdx.check")

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


def institution_of(*frames: pd.DataFrame | None) -> str:
    """The institution the rows of the first non-empty frame are attributed to (``_org``)."""
    for frame in frames:
        if frame is not None and len(frame) and ROW_ORG in frame:
            value = frame[ROW_ORG].dropna()
            if len(value):
                return str(value.iloc[0])
    return ""


def _rows(frame: pd.DataFrame | None) -> int:
    return 0 if frame is None else len(frame)


def _checks_of(batch: Batch, reference: Reference, today: date) -> dict[str, InstitutionCheck]:
    """Check the batch in one pass and make each institution's :class:`InstitutionCheck`."""
    label = batch.orgs[0] if len(batch.orgs) == 1 else f"{len(batch.orgs)} 个机构"
    outcome = evaluate(batch, reference, today, label)
    n = len(batch.orgs)
    case_rows = np.bincount(batch.case_inst, minlength=n) if _rows(batch.cases) else [0] * n
    staff_rows = np.bincount(batch.staff_inst, minlength=n) if _rows(batch.staff) else [0] * n
    checks = {}
    for i, org in enumerate(batch.orgs):
        counts, failed = outcome.counts[i], dict(outcome.failed)
        errors = severity_total(counts, "error")
        passed = errors == 0 and not failed
        log.info(
            "数据检测 %s：病案 %d 行，申报人员 %d 行，错误 %d 个，运行出错的规则 %d 条，通过=%s",
            org,
            int(case_rows[i]),
            int(staff_rows[i]),
            errors,
            len(failed),
            passed,
        )
        checks[org] = InstitutionCheck(
            org,
            passed,
            counts,
            outcome.findings[i],
            failed,
            int(case_rows[i]),
            int(staff_rows[i]),
        )
    return checks


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
    Every row counts as the institution's (``org``, default: the ``_org`` of the first row).
    """
    reference = reference or load_reference()
    today = today or date.today()
    org = org if org is not None else institution_of(cases_df, staff_df)
    batch = Batch(
        orgs=[org],
        cases=cases_df,
        staff=staff_df,
        all_staff=all_staff_df,
        case_inst=np.zeros(_rows(cases_df), dtype="int64"),
        staff_inst=np.zeros(_rows(staff_df), dtype="int64"),
    )
    return _checks_of(batch, reference, today)[org]


def _positions(frame: pd.DataFrame, orgs: Sequence[str]) -> np.ndarray:
    """Each row's position in ``orgs`` by its ``_org`` (-1: none of them)."""
    if not len(frame):
        return np.zeros(0, dtype="int64")
    codes = pd.Index(list(orgs), dtype="string").get_indexer(frame[ROW_ORG].astype("string"))
    return np.asarray(codes, dtype="int64")


def check_institutions(
    cases: pd.DataFrame | None,
    staff: pd.DataFrame | None,
    all_staff: pd.DataFrame | None = None,
    reference: Reference | None = None,
    today: date | None = None,
    orgs: Sequence[str] | None = None,
) -> dict[str, InstitutionCheck]:
    """Check many institutions' stored frames in one columnar pass: the same results as
    :func:`check_frames` on each institution's rows alone.

    Rows belong to the institution named by their ``_org``; ``orgs`` are the institutions to
    check (default: every ``_org`` of ``cases``, then ``staff``, in order of appearance; rows
    of other institutions are left out). ``all_staff`` is every applicant of the workspace
    (E12/E13; default: ``staff``). Institutions come back in ``orgs`` order.

    A crash (a rule that raises, a table that cannot be prepared) while checking several
    institutions together is not charged to all of them: they are then checked one by one, so
    only the institutions whose rows make the rule crash record it in ``failed_rules``.
    """
    reference = reference or load_reference()
    today = today or date.today()
    frames = [f for f in (cases, staff) if f is not None and len(f) and ROW_ORG in f]
    if orgs is None:
        seen = pd.concat([f[ROW_ORG].astype("string") for f in frames]) if frames else None
        orgs = [] if seen is None else [str(o) for o in seen.dropna().unique()]
    orgs = list(dict.fromkeys(orgs))
    if all_staff is None:
        all_staff = staff
    parts = {}
    for name, frame in (("cases", cases), ("staff", staff)):
        if frame is None:
            parts[name] = (None, np.zeros(0, dtype="int64"))
            continue
        inst = _positions(frame, orgs)
        kept = inst >= 0
        if not kept.all():
            frame, inst = frame[kept], inst[kept]
        parts[name] = (frame, inst)
    (cases, case_inst), (staff, staff_inst) = parts["cases"], parts["staff"]
    if len(orgs) > 1 and not (mixes_institutions(cases) or mixes_institutions(staff)):
        batch = Batch(orgs, cases, staff, all_staff, case_inst, staff_inst)
        checks = _checks_of(batch, reference, today)
        if not any(check.failed_rules for check in checks.values()):
            return checks
        log.warning("数据检测：%d 个机构合并检测时有规则运行出错，改为逐个机构检测", len(orgs))
    checks = {}
    for i, org in enumerate(orgs):
        own_cases = None if cases is None else cases[case_inst == i]
        own_staff = None if staff is None else staff[staff_inst == i]
        checks[org] = check_frames(own_cases, own_staff, all_staff, reference, today, org=org)
    return checks


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


#: A batch of institutions checked in one pass holds at most this many case rows (an
#: institution larger than that is a batch of its own): what bounds a worker's memory.
BATCH_ROWS = 250_000
#: Without a mapper, institutions are checked in local worker processes only when the named
#: ones hold at least this many case rows together (below it, starting the workers costs more
#: than it saves).
PARALLEL_MIN_ROWS = 600_000
#: At most this many local worker processes.
MAX_WORKERS = 4


@dataclass(frozen=True)
class CheckPiece:
    """One batch of institutions to check: the workspace (a pickled
    :class:`~cwdx.workspace.Workspace` is not reopened, so a worker only reads it), the
    institutions and the check day."""

    ws: Any
    orgs: tuple[str, ...]
    today: date


def check_piece(piece: CheckPiece) -> list[InstitutionCheck]:
    """Read one batch's rows from the workspace files and check them in one pass (in the
    calling process or a worker; nothing is written). Returns the checks in ``orgs`` order."""
    pause("check_piece")  # kill tests: a piece that is surely running when the worker dies
    cases = piece.ws.load("cases", piece.orgs)
    all_staff = piece.ws.load("staff")
    staff = all_staff[all_staff[ROW_ORG].isin(piece.orgs)] if len(all_staff) else all_staff
    checks = check_institutions(
        cases, staff, all_staff, load_reference(), piece.today, orgs=piece.orgs
    )
    return [checks[org] for org in piece.orgs]


def _auto_workers(total_rows: int, institutions: int) -> int:
    cores = os.cpu_count() or 1
    if cores < 2 or institutions < 2 or total_rows < PARALLEL_MIN_ROWS or not main_module_safe():
        return 1
    return min(cores, institutions, MAX_WORKERS)


def check_workspace(
    ws: Any,
    orgs: list[str] | None = None,
    on_progress: ProgressCallback | None = None,
    workers: int | None = None,
    mapper: Mapper | None = None,
) -> dict[str, InstitutionCheck]:
    """Check the named (default: all) institutions of ``ws`` and store each result with
    ``ws.save_check`` (which freezes the institution).

    Every named institution is first tested with ``ws.require_stage(org, "check")``: a frozen
    or unknown one raises :class:`~cwdx.errors.CwdxError` (naming the unfreeze action) before
    anything is checked. E12/E13 look at every applicant of the workspace.

    The institutions are cut into batches of at most :data:`BATCH_ROWS` case rows, each
    checked in one columnar pass by :func:`check_piece`, through ``mapper`` (default: in this
    process, one batch after the other); this process stores the results as they come.
    ``workers`` > 1 without a mapper checks the batches in that many local worker processes
    (and cuts at least that many batches); the default chooses by the machine's cores and the
    number of case rows (:data:`PARALLEL_MIN_ROWS`). Returns the checks in the order named.

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
    mapper: Mapper | None,
) -> dict[str, InstitutionCheck]:
    """:func:`check_workspace` while it holds the workspace's write lock."""
    infos = {info.org: info for info in ws.institutions()}
    targets = list(dict.fromkeys(orgs)) if orgs else list(infos)
    for org in targets:
        ws.require_stage(org, "check")
    sizes = [(org, infos[org].cases if org in infos else 0) for org in targets]
    total_rows = sum(size for _, size in sizes)
    if mapper is None:
        workers = _auto_workers(total_rows, len(targets)) if workers is None else max(1, workers)
        mapper = pool_mapper(workers) if workers > 1 and len(targets) > 1 else serial_map
    width = max(workers or 1, mapper_width(mapper))
    today = date.today()
    pieces = [
        CheckPiece(ws, batch, today)
        for batch in cut_batches(sizes, BATCH_ROWS, width, batches_each(mapper))
    ]
    total = len(targets)
    results: dict[str, InstitutionCheck] = {}
    if on_progress:
        on_progress(0, total, "数据检测")
    if len(pieces) > 1:
        log.info("数据检测：%d 个机构，分 %d 批", total, len(pieces))
    for checks in mapper(check_piece, pieces):
        for result in checks:
            _store(ws, result)
            results[result.org] = result
            if on_progress:
                on_progress(len(results), total, f"数据检测：{result.org}")
    if on_progress:
        on_progress(total, total, "数据检测完成")
    return {org: results[org] for org in targets}


def _store(ws: Any, result: InstitutionCheck) -> None:
    """Save one institution's check in the workspace (which freezes it)."""
    if result.failed_rules:
        # also when the rule ran in a worker process, whose log records go nowhere
        log.error("数据检测 %s：运行出错的规则 %s", result.org, "; ".join(failed_rule_list(result)))
    ws.save_check(
        result.org,
        result.passed,
        result.counts,
        result.findings,
        failed_rule_list(result),
        errors=result.errors,
        warnings=result.warnings,
    )


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
