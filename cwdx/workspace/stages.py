"""Stages of an institution and the writes that move it between them: the refusals of
actions a stage does not allow, deletes, unfreezing, and storing checks and results.

Stages (apps.md "Workspace and stages"): 已上传 → 已检测-通过 / 已检测-未通过 → 已计算; every
stage after 已上传 is frozen. A refusal names the unfreeze action in words and carries it as a
:class:`~cwdx.errors.Hint`: the command line shows it as a command, the apps as a button.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal

from cwdx.errors import CwdxError, ErrorKind, Hint
from cwdx.log import get_logger
from cwdx.workspace import files
from cwdx.workspace.db import now_text
from cwdx.workspace.files import STAGED_SUFFIX, any_frame_to_arrow, org_dirname
from cwdx.workspace.lock import WriteLock
from cwdx.workspace.records import (
    CheckRecord,
    DeleteOutcome,
    InstitutionInfo,
    institution_label,
    unknown_orgs_message,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = get_logger("workspace")

STAGE_UPLOADED = "已上传"
STAGE_PASSED = "已检测-通过"
STAGE_FAILED = "已检测-未通过"
STAGE_COMPUTED = "已计算"
STAGES: tuple[str, ...] = (STAGE_UPLOADED, STAGE_PASSED, STAGE_FAILED, STAGE_COMPUTED)
FROZEN_STAGES = frozenset({STAGE_PASSED, STAGE_FAILED, STAGE_COMPUTED})

# Unfreeze actions as the apps name them.
UNFREEZE_CHECK = "在上传阶段解冻数据检测"
UNFREEZE_COMPUTE = "解冻数据检测和计算"
UNFREEZE_ALL = "解冻所有数据"

Action = Literal["import", "delete", "check", "compute"]
_ACTION_WORDS = {"import": "导入数据", "delete": "删除数据", "check": "重新检测", "compute": "计算"}


def unfreeze_hint(orgs: Sequence[str], stage: str = "check") -> Hint:
    """The next step "unfreeze these institutions at ``stage``" (``check`` or ``compute``)."""
    return Hint(action="unfreeze", orgs=tuple(orgs), stage=stage)


def stage_of(con: sqlite3.Connection, org: str) -> tuple[str, str] | None:
    """``(stage, name)`` of ``org``, or ``None`` when the workspace does not hold it."""
    row = con.execute("SELECT stage, name FROM institutions WHERE org = ?", (org,)).fetchone()
    return (row["stage"], row["name"] or "") if row else None


def refusal(org: str, name: str, stage: str, action: Action) -> CwdxError | None:
    """The refusal of ``action`` on an institution at ``stage``, or ``None`` when allowed."""
    who = f"机构 {institution_label(org, name)}"
    if action == "compute":
        if stage == STAGE_PASSED:
            return None
        if stage == STAGE_UPLOADED:
            return CwdxError(
                f"{who}尚未进行数据检测，不能计算；请先执行数据检测。", ErrorKind.REFUSED
            )
        if stage == STAGE_FAILED:
            return CwdxError(
                f"{who}数据检测未通过，不能计算；请按反馈表修改数据，删除并重新导入数据后再检测，"
                f"删除前须先「{UNFREEZE_CHECK}」。",
                ErrorKind.REFUSED,
                unfreeze_hint([org], "check"),
            )
        return CwdxError(
            f"{who}已计算，数据已冻结；如需重新计算，请先「{UNFREEZE_COMPUTE}」。",
            ErrorKind.REFUSED,
            unfreeze_hint([org], "compute"),
        )
    if stage not in FROZEN_STAGES:
        return None
    return CwdxError(
        f"{who}处于「{stage}」阶段，数据已冻结，不能{_ACTION_WORDS[action]}；"
        f"请先「{UNFREEZE_CHECK}」后再操作。",
        ErrorKind.REFUSED,
        unfreeze_hint([org], "check"),
    )


def frozen_refusal(refusals: list[tuple[str, str, str]], what: str) -> CwdxError:
    """The refusal of ``what`` (删除数据) for frozen ``(org, name, stage)`` institutions."""
    if len(refusals) == 1:
        org, name, stage = refusals[0]
        action: Action = "delete" if what == "删除数据" else "check"
        error = refusal(org, name, stage, action)
        if error is not None:
            return error
    names = "、".join(f"{org}（{stage}）" for org, _, stage in refusals)
    return CwdxError(
        f"机构 {names}的数据已冻结，不能{what}，本次操作未执行；请先「{UNFREEZE_CHECK}」后再操作。",
        ErrorKind.REFUSED,
        unfreeze_hint([org for org, _, _ in refusals], "check"),
    )


class Stages(WriteLock):
    """Institutions, their stages, deletes, unfreezing, checks and results (mixed into
    :class:`~cwdx.workspace.Workspace`)."""

    def institutions(self) -> list[InstitutionInfo]:
        """Every institution, ordered by code, with row counts, stage and last check."""
        with self._connect() as con:
            rows = con.execute(
                """
                SELECT i.org, i.name, i.stage, i.frozen, i.created, i.updated,
                  (SELECT COALESCE(SUM(p.rows), 0) FROM parts p JOIN imports m
                     ON m.id = p.import_id WHERE p.org = i.org AND m.tbl = 'cases') AS cases,
                  (SELECT COALESCE(SUM(p.rows), 0) FROM parts p JOIN imports m
                     ON m.id = p.import_id WHERE p.org = i.org AND m.tbl = 'staff') AS staff,
                  c.passed, c.counts, c.errors, c.warnings, c.failed_rules,
                  c.time AS checked_at, r.time AS computed_at
                FROM institutions i
                LEFT JOIN checks c ON c.org = i.org
                LEFT JOIN results r ON r.org = i.org
                ORDER BY i.org
                """
            ).fetchall()
        out = []
        for row in rows:
            counts = json.loads(row["counts"]) if row["counts"] else {}
            checked = row["passed"] is not None
            out.append(
                InstitutionInfo(
                    org=row["org"],
                    name=row["name"] or "",
                    stage=row["stage"],
                    frozen=bool(row["frozen"]),
                    cases=int(row["cases"]),
                    staff=int(row["staff"]),
                    created=row["created"],
                    updated=row["updated"],
                    checked=checked,
                    passed=bool(row["passed"]) if checked else None,
                    errors=int(row["errors"]) if checked else None,
                    warnings=int(row["warnings"]) if checked else None,
                    counts=counts,
                    failed_rules=json.loads(row["failed_rules"]) if checked else [],
                    checked_at=row["checked_at"],
                    computed_at=row["computed_at"],
                )
            )
        return out

    def institution(self, org: str) -> InstitutionInfo:
        """One institution; :class:`CwdxError` naming it when the workspace does not hold it."""
        for info in self.institutions():
            if info.org == org:
                return info
        raise CwdxError(unknown_orgs_message([org]), ErrorKind.NOT_FOUND)

    def require_stage(self, org: str, action: Action) -> str:
        """Raise :class:`CwdxError` when ``action`` is not allowed for ``org`` at its stage.

        ``action`` is ``import``, ``delete``, ``check`` (all refused while frozen) or
        ``compute`` (allowed only at 已检测-通过). The refusal names the unfreeze action and carries it as its
        :attr:`~cwdx.errors.CwdxError.hint`. Returns the institution's stage.
        """
        with self._connect() as con:
            found = stage_of(con, org)
        if found is None:
            raise CwdxError(unknown_orgs_message([org]), ErrorKind.NOT_FOUND)
        stage, name = found
        error = refusal(org, name, stage, action)
        if error:
            raise error
        return stage

    # ---------------------------------------------------------------- deletes and unfreezing

    def _target_orgs(
        self, con: sqlite3.Connection, orgs: Iterable[str] | None, everything: bool, what: str
    ) -> list[str]:
        known = [row[0] for row in con.execute("SELECT org FROM institutions ORDER BY org")]
        if everything:
            return known
        wanted = list(dict.fromkeys(orgs or []))
        if not wanted:
            raise CwdxError(
                f"请指定要{what}的机构（--org 机构代码），或选择全部机构（--everything）。"
            )
        missing = [org for org in wanted if org not in known]
        if missing:
            raise CwdxError(unknown_orgs_message(missing), ErrorKind.NOT_FOUND)
        return wanted

    def delete(
        self,
        table: str,
        orgs: Iterable[str] | None = None,
        everything: bool = False,
        force: bool = False,
    ) -> DeleteOutcome:
        """Delete the rows of ``table`` (``cases``, ``staff`` or ``all``) of some institutions.

        ``everything`` selects every institution. Refused (nothing deleted) when one of them is
        frozen, unless ``force`` (the platform's 强制清空), which also drops its check and
        results. An institution left with no rows disappears.
        """
        if table not in ("cases", "staff", "all"):
            raise CwdxError(f"未知的数据表 {table}，请选择 cases、staff 或 all。")
        tables = ["cases", "staff"] if table == "all" else [table]
        with self._write_lock("删除数据"), self._txn() as con:
            targets = self._target_orgs(con, orgs, everything, "删除数据")
            refusals = []
            for org in targets:
                stage, name = stage_of(con, org) or (STAGE_UPLOADED, "")
                if refusal(org, name, stage, "delete") and not force:
                    refusals.append((org, name, stage))
            if refusals:
                raise frozen_refusal(refusals, "删除数据")
            marks = ",".join("?" * len(tables))
            doomed: list[str] = []
            deleted: dict[str, dict[str, int]] = {}
            removed: list[str] = []
            now = now_text()
            for org in targets:
                parts = con.execute(
                    f"""SELECT p.import_id, p.path, p.rows, m.tbl FROM parts p
                        JOIN imports m ON m.id = p.import_id
                        WHERE p.org = ? AND m.tbl IN ({marks})""",
                    [org, *tables],
                ).fetchall()
                per = deleted.setdefault(org, {t: 0 for t in tables})
                for part in parts:
                    per[part["tbl"]] += int(part["rows"])
                    doomed.append(part["path"])
                    con.execute(
                        "DELETE FROM parts WHERE import_id = ? AND org = ?",
                        (part["import_id"], org),
                    )
                left = con.execute("SELECT COUNT(*) FROM parts WHERE org = ?", (org,)).fetchone()[0]
                stage = (stage_of(con, org) or (STAGE_UPLOADED, ""))[0]
                if left == 0 or (stage in FROZEN_STAGES and parts):
                    doomed += self._drop_check_and_results(con, org)
                if left == 0:
                    con.execute("DELETE FROM institutions WHERE org = ?", (org,))
                    removed.append(org)
                elif parts:
                    con.execute(
                        "UPDATE institutions SET stage = ?, frozen = 0, updated = ? WHERE org = ?",
                        (STAGE_UPLOADED, now, org),
                    )
            if everything:
                con.execute(
                    f"UPDATE imports SET cleared = 1 WHERE tbl IN ({marks}) AND rejected IS NOT NULL",
                    tables,
                )
            self._discard(con, doomed, "删除数据")
        files.pause("delete_after_commit")
        self._unlink(doomed)
        result = DeleteOutcome(rows=deleted, removed=removed)
        log.info(
            "删除 %s：%d 个机构，%d 行，移除机构 %d 个%s",
            table,
            len(targets),
            result.total,
            len(removed),
            "（全部）" if everything else "",
        )
        return result

    def _drop_results(self, con: sqlite3.Connection, org: str) -> list[str]:
        """Delete the results row of ``org``; returns its files to unlink."""
        row = con.execute("SELECT paths FROM results WHERE org = ?", (org,)).fetchone()
        con.execute("DELETE FROM results WHERE org = ?", (org,))
        return list(json.loads(row[0]).values()) if row else []

    def _drop_check_and_results(self, con: sqlite3.Connection, org: str) -> list[str]:
        """Delete the check and results rows of ``org``; returns their files to unlink."""
        doomed = self._drop_results(con, org)
        row = con.execute("SELECT findings_path FROM checks WHERE org = ?", (org,)).fetchone()
        if row:
            doomed.append(row[0])
        con.execute("DELETE FROM checks WHERE org = ?", (org,))
        return doomed

    def unfreeze(
        self,
        orgs: Iterable[str] | None = None,
        everything: bool = False,
        stage: Literal["check", "compute"] = "check",
    ) -> dict[str, tuple[str, str]]:
        """Unfreeze institutions; returns ``{org: (old stage, new stage)}`` for those changed.

        ``stage="check"`` (在上传阶段解冻数据检测): back to 已上传, check and results dropped.
        ``stage="compute"`` (解冻数据检测和计算): 已计算 back to 已检测-通过, results dropped;
        institutions not at 已计算 are left as they are. ``everything`` selects all institutions.
        """
        if stage not in ("check", "compute"):
            raise CwdxError(f"未知的解冻阶段 {stage}，请选择 check 或 compute。")
        changed: dict[str, tuple[str, str]] = {}
        doomed: list[str] = []
        with self._write_lock("解冻数据"), self._txn() as con:
            targets = self._target_orgs(con, orgs, everything, "解冻")
            now = now_text()
            for org in targets:
                old = (stage_of(con, org) or (STAGE_UPLOADED, ""))[0]
                if stage == "check" and old != STAGE_UPLOADED:
                    doomed += self._drop_check_and_results(con, org)
                    new = STAGE_UPLOADED
                elif stage == "compute" and old == STAGE_COMPUTED:
                    doomed += self._drop_results(con, org)
                    new = STAGE_PASSED
                else:
                    continue
                con.execute(
                    "UPDATE institutions SET stage = ?, frozen = ?, updated = ? WHERE org = ?",
                    (new, int(new in FROZEN_STAGES), now, org),
                )
                changed[org] = (old, new)
            self._discard(con, doomed, "解冻数据")
        self._unlink(doomed)
        log.info("解冻（%s）：%d 个机构", stage, len(changed))
        return changed

    # ---------------------------------------------------------------- check and results storage

    def save_check(
        self,
        org: str,
        passed: bool,
        counts: dict[str, int],
        findings: pd.DataFrame,
        failed_rules: list[str],
        *,
        errors: int,
        warnings: int,
    ) -> None:
        """Store an institution's check and move it to 已检测-通过 / 已检测-未通过 (frozen).

        ``counts`` are the findings per rule id; ``errors`` and ``warnings`` their totals by
        severity (the workspace stores them: it does not know the rules). Refused
        (:class:`CwdxError`) when the institution is frozen.
        """
        with self._write_lock("保存检测结果"):
            self.require_stage(org, "check")
            rel = f"checks/{org_dirname(org)}/findings-{secrets.token_hex(6)}.parquet"
            table = any_frame_to_arrow(findings)
            new = STAGE_PASSED if passed else STAGE_FAILED
            self._claim([rel], f"保存检测结果 {org}")
            try:
                files.write_parquet_atomic(table, self.path / rel)
                with self._txn() as con:
                    self._settle(con, [rel])
                    doomed = self._discard(
                        con, self._drop_check_and_results(con, org), "保存检测结果"
                    )
                    con.execute(
                        "INSERT INTO checks (org, passed, counts, findings_path, failed_rules,"
                        " time, errors, warnings) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            org,
                            int(bool(passed)),
                            json.dumps({k: int(v) for k, v in counts.items()}),
                            rel,
                            json.dumps(list(failed_rules)),
                            now_text(),
                            int(errors),
                            int(warnings),
                        ),
                    )
                    con.execute(
                        "UPDATE institutions SET stage = ?, frozen = 1, updated = ? WHERE org = ?",
                        (new, now_text(), org),
                    )
            except BaseException:
                self._unlink([rel])
                raise
            self._unlink(doomed)
        log.info("保存检测结果：机构 %s，%s，发现 %d 条", org, new, len(findings))

    def load_check(self, org: str, *, findings: bool = True) -> CheckRecord | None:
        """The stored last check of ``org``, or ``None`` when it has not been checked
        (``findings=False``: the finding table is not read and ``findings`` is ``None``)."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM checks WHERE org = ?", (org,)).fetchone()
        if row is None:
            return None
        return CheckRecord(
            org=org,
            passed=bool(row["passed"]),
            counts=json.loads(row["counts"]),
            findings=self._read_parquet(row["findings_path"]).to_pandas() if findings else None,
            failed_rules=json.loads(row["failed_rules"]),
            time=row["time"],
            errors=int(row["errors"]),
            warnings=int(row["warnings"]),
        )

    def findings_batches(
        self, org: str, table: str, columns: list[str], batch_rows: int = 100_000
    ) -> Iterator[pa.Table]:
        """The findings of ``table`` in ``org``'s last check, a batch at a time (big feedback
        exports never hold them all): the ``columns`` the stored file has, in Arrow. Nothing
        when ``org`` has not been checked; a missing or damaged file is a :class:`CwdxError`."""
        # pyarrow costs ~0.15 s at start-up: only the data paths import it (``cwdx status`` doesn't)
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        with self._connect() as con:
            row = con.execute("SELECT findings_path FROM checks WHERE org = ?", (org,)).fetchone()
        if row is None:
            return
        try:
            source = pq.ParquetFile(self.path / row[0])
            names = [c for c in columns if c in source.schema_arrow.names]
            for batch in source.iter_batches(batch_rows, columns=[*names, "table"]):
                part = pa.Table.from_batches([batch])
                yield part.filter(pc.equal(part["table"], table)).select(names)
        except (OSError, pa.ArrowException) as exc:
            raise self._broken_file(row[0]) from exc

    def stage_results(
        self, org: str, tables: dict[str, pd.DataFrame], run: str = ""
    ) -> dict[str, list[str]]:
        """Write an institution's computed tables under staged names (what a piece does, in any
        process: nothing is recorded); by table name, ``[staged, final]`` paths for
        :meth:`save_results`. ``run`` (the computation's token) starts the staged names, so
        the computation can remove what its pieces staged and nobody saved
        (:meth:`drop_staged_results`). A failed write removes what it wrote."""
        token = secrets.token_hex(6)
        folder = f"results/{org_dirname(org)}"
        staged = {
            name: [
                f"{folder}/.{run}-{token}-{i}.parquet{STAGED_SUFFIX}",
                f"{folder}/{token}-{i}.parquet",
            ]
            for i, name in enumerate(tables)
        }
        try:
            for name, frame in tables.items():
                target = self.path / staged[name][0]
                files.write_parquet_atomic(any_frame_to_arrow(frame), target, sync_folder=False)
        except BaseException:
            for first, _ in staged.values():
                with contextlib.suppress(OSError):
                    (self.path / first).unlink()
            raise
        return staged

    def drop_staged_results(self, run: str) -> int:
        """Remove the tables the pieces of computation ``run`` staged and nobody saved (a
        computation that stopped part-way); how many were removed."""
        removed = 0
        root = self.path / "results"
        for path in root.glob(f"*/.{run}-*{STAGED_SUFFIX}") if run and root.is_dir() else ():
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
        return removed

    def save_results(
        self,
        org: str,
        tables: dict[str, pd.DataFrame],
        staged: dict[str, list[str]] | None = None,
    ) -> None:
        """Store an institution's computed tables and move it to 已计算 (frozen): the files
        :meth:`stage_results` wrote when ``staged`` gives them, else staged here; renamed to
        their final names and recorded in one transaction.

        Allowed only from 已检测-通过 (:class:`CwdxError` otherwise; staged files are removed).
        """
        pairs = dict(staged or {})
        try:
            with self._write_lock("保存计算结果"):
                self.require_stage(org, "compute")
                if not pairs:
                    pairs.update(self.stage_results(org, tables))
                self._store_results(org, {name: final for name, (_, final) in pairs.items()}, pairs)
        finally:
            for first, _ in pairs.values():  # renamed, or not to be kept
                with contextlib.suppress(OSError):
                    (self.path / first).unlink()
        log.info("保存计算结果：机构 %s，%d 张表", org, len(tables))

    def _store_results(self, org: str, paths: dict[str, str], staged: dict[str, list[str]]) -> None:
        """:meth:`save_results` under the write lock, its stage checked: the staged files
        renamed to ``paths`` (by table name) and recorded."""
        self._claim(paths.values(), f"保存计算结果 {org}")
        try:
            for name, final in paths.items():
                files.rename_stored(self.path / staged[name][0], self.path / final)
            files.fsync_dir(self.path / "results" / org_dirname(org))  # one for all
            with self._txn() as con:
                self._settle(con, paths.values())
                con.execute(
                    "INSERT OR REPLACE INTO results (org, paths, time) VALUES (?, ?, ?)",
                    (org, json.dumps(paths, ensure_ascii=False), now_text()),
                )
                con.execute(
                    "UPDATE institutions SET stage = ?, frozen = 1, updated = ? WHERE org = ?",
                    (STAGE_COMPUTED, now_text(), org),
                )
        except BaseException:
            self._unlink(paths.values())
            raise

    def load_results(self, org: str, names: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
        """The stored computed tables of ``org`` by name (empty when not computed); only the
        ``names`` ones (those stored) when given."""
        with self._connect() as con:
            row = con.execute("SELECT paths FROM results WHERE org = ?", (org,)).fetchone()
        if row is None:
            return {}
        return {
            name: self._read_parquet(rel).to_pandas()
            for name, rel in json.loads(row[0]).items()
            if names is None or name in names
        }
