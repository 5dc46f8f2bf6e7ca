"""Imports: appending workbooks to the workspace (each file all-or-nothing), the import
history, and reading the stored rows back."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from cwdx.columns import BOOKKEEPING_COLUMNS
from cwdx.errors import CwdxError, Hint
from cwdx.hashing import file_sha256
from cwdx.log import get_logger
from cwdx.reference import TABLE_TITLES, load_reference
from cwdx.workspace import files
from cwdx.workspace.db import now_text
from cwdx.workspace.files import (
    BOOKKEEPING_INT_COLUMNS,
    frame_to_arrow,
    org_dirname,
    pause,
    split_by_org,
)
from cwdx.workspace.lock import WriteLock
from cwdx.workspace.records import ImportOutcome, ImportRecord
from cwdx.workspace.stages import (
    FROZEN_STAGES,
    STAGE_UPLOADED,
    UNFREEZE_CHECK,
    stage_of,
    unfreeze_hint,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = get_logger("workspace")

ProgressCallback = Callable[[int, int, str], None]


class Imports(WriteLock):
    """Imports and reading stored rows (mixed into :class:`~cwdx.workspace.Workspace`)."""

    def import_files(
        self,
        table: str,
        paths: Sequence[str | os.PathLike[str]],
        force: bool = False,
        on_progress: ProgressCallback | None = None,
        *,
        single_institution: bool = False,
        sample: Mapping[str, str] | None = None,
    ) -> list[ImportOutcome]:
        """Append the files to ``table`` (``cases`` or ``staff``) in the given order.

        Each file is independent and all-or-nothing. A file is rejected (and recorded with its
        message) when the reader rejects it, when the same content (SHA-256) is already in the
        workspace for this table and ``force`` is false, or when it holds rows of a frozen
        institution. With ``single_institution`` (the 机构版 page) a file is also rejected when
        its rows belong to another institution than the workspace's (the one whose rows it
        holds; the first import defines it) or to several. ``sample`` (column -> value, the
        template's sample record) lists the Excel rows that still hold it in
        :attr:`ImportOutcome.sample_rows`. Raises :class:`CwdxError` when the workspace is busy, read-only or damaged,
        or its disk is full (then naming the files this call had already imported).
        """
        # the reader (pandas, pyarrow, fastexcel) costs ~0.5 s at start-up: only imports need it
        from cwdx import reader

        _check_table(table)
        outcomes: list[ImportOutcome] = []
        total = len(paths)
        with self._write_lock(f"导入{TABLE_TITLES[table]}"):
            for index, raw_path in enumerate(paths):
                path = Path(raw_path)
                if on_progress:
                    on_progress(index, total, f"正在导入 {reader.display_name(path)}")
                try:
                    outcome = self._import_one(table, path, force, single_institution, sample)
                except OSError as exc:
                    error = self._storage_error(exc, f"导入文件“{reader.display_name(path)}”")
                    if error is None:
                        raise
                    raise _after_imported(outcomes, error) from exc
                except CwdxError as exc:
                    if not any(o.ok for o in outcomes):
                        raise
                    raise _after_imported(outcomes, exc) from exc
                outcomes.append(outcome)
            if on_progress:
                on_progress(total, total, "导入完成")
        return outcomes

    def _import_one(
        self,
        table: str,
        path: Path,
        force: bool,
        single_institution: bool = False,
        sample: Mapping[str, str] | None = None,
    ) -> ImportOutcome:
        from cwdx import reader  # ~0.5 s at start-up: see import_files

        started = time.monotonic()
        table_name = cast(Literal["cases", "staff"], table)  # checked by import_files
        shown = reader.display_name(path)  # a GBK name on Linux cannot be printed or stored
        outcome = ImportOutcome(file=shown, path=reader.display_path(path), table=table, sha256="")
        if not path.is_file() and not path.is_dir():  # the reader explains a folder
            outcome.rejected = (
                f"找不到文件 {reader.display_path(path)}，请检查文件名和路径后重新导入。"
            )
            return self._record_rejection(outcome)
        outcome.sha256 = file_sha256(path) or ""
        if not force:
            with self._connect() as con:
                dup = con.execute(
                    """SELECT m.file, m.time FROM imports m WHERE m.tbl = ? AND m.sha256 = ?
                       AND m.rejected IS NULL
                       AND EXISTS (SELECT 1 FROM parts p WHERE p.import_id = m.id)
                       ORDER BY m.id LIMIT 1""",
                    (table, outcome.sha256),
                ).fetchone()
            if dup is not None:
                outcome.rejected_kind = "duplicate"
                outcome.duplicate_of = (dup["file"], dup["time"])
                outcome.rejected = (
                    f"文件“{shown}”与 {dup['time']} 已导入的文件“{dup['file']}”内容完全相同，"
                    "为避免重复数据未再次导入；如确需重复导入，请确认后强制导入。"
                )
                outcome.hint = Hint(action="force_import")
                return self._record_rejection(outcome)
        try:
            result = reader.read_workbook(path, table_name, sha256=outcome.sha256 or None)
        except Exception:
            log.exception("读取文件 %s（%s）时发生内部错误", shown, table)
            outcome.rejected = f"文件“{shown}”读取时发生内部错误，未导入；请把日志文件 {self.log_path} 发给技术支持。"
            return self._record_rejection(outcome)
        pause("after_read")
        outcome.report = result.report
        outcome.sha256 = result.sha256 or outcome.sha256
        if result.rejected:
            outcome.rejected = result.rejected
            return self._record_rejection(outcome)
        org_rows = {str(k): int(v) for k, v in dict(result.orgs).items() if int(v) > 0}
        org_names = {str(k): str(v) for k, v in dict(result.org_names or {}).items() if v}
        outcome.sample_rows = _rows_equal_to(result.frame, sample) if sample else []
        if self._reject_frozen(outcome, org_rows, org_names):
            return self._record_rejection(outcome)
        if single_institution and self._reject_other_institution(outcome, org_rows):
            return self._record_rejection(outcome)
        self._store_rows(outcome, result, org_rows, org_names, force)
        log.info(
            "导入 %s 文件 %s：导入编号 %d，%d 行，%d 个机构，用时 %.1f 秒%s",
            table,
            shown,
            outcome.import_id,
            outcome.rows,
            len(org_rows),
            time.monotonic() - started,
            "（强制重复导入）" if force else "",
        )
        return outcome

    def _reject_frozen(
        self, outcome: ImportOutcome, org_rows: dict[str, int], org_names: dict[str, str]
    ) -> bool:
        """Mark ``outcome`` rejected when the file holds rows of frozen institutions."""
        with self._connect() as con:
            frozen = []
            for org in org_rows:
                found = stage_of(con, org)
                if found and found[0] in FROZEN_STAGES:
                    frozen.append((org, found[1] or org_names.get(org, ""), found[0]))
        if frozen:
            names = "、".join(
                f"{org}（{name}，{stage}）" if name else f"{org}（{stage}）"
                for org, name, stage in frozen
            )
            orgs = [org for org, _, _ in frozen]
            outcome.rejected_kind = "frozen"
            outcome.frozen_orgs = orgs
            outcome.rejected = (
                f"文件“{outcome.file}”含有已冻结机构 {names}的数据，整个文件未导入；如需导入，"
                f"请从文件中删去该机构的行后重新导入，或先对该机构「{UNFREEZE_CHECK}」。"
            )
            outcome.hint = unfreeze_hint(orgs, "check")
            return True
        return False

    def _reject_other_institution(self, outcome: ImportOutcome, org_rows: dict[str, int]) -> bool:
        """Mark ``outcome`` rejected when its rows are not all of the workspace's institution
        (the one whose rows the workspace holds), or, in an empty workspace, of one."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT DISTINCT p.org, COALESCE(i.name, '') AS name FROM parts p"
                " LEFT JOIN institutions i ON i.org = p.org ORDER BY p.org"
            ).fetchall()
        own = {row["org"]: row["name"] for row in rows}
        if own:
            others = [org for org in org_rows if org not in own]
            if not others:
                return False
            mine = "、".join(f"{org}（{name}）" if name else org for org, name in own.items())
            outcome.rejected = (
                f"文件“{outcome.file}”含有组织机构代码为 {'、'.join(others)} 的数据，"
                f"而本工作区是机构 {mine}的工作区，整个文件未导入。机构版每个工作区只处理一家"
                "机构的数据：请核对文件中的“组织机构代码”，删去其他机构的行后重新导入。"
            )
        elif len(org_rows) > 1:
            outcome.rejected = (
                f"文件“{outcome.file}”含有 {len(org_rows)} 个机构（{'、'.join(org_rows)}）的数据，"
                "整个文件未导入。机构版每个工作区只处理一家机构的数据：请只保留本机构的行后重新导入。"
            )
        else:
            return False
        outcome.rejected_kind = "institution"
        return True

    def _store_rows(
        self,
        outcome: ImportOutcome,
        result: Any,
        org_rows: dict[str, int],
        org_names: dict[str, str],
        force: bool,
    ) -> None:
        """Write the rows of each institution to its file and record the import: the files
        are claimed first, written, then committed with the import in one transaction."""
        table, shown = outcome.table, outcome.file

        with self._connect() as con:
            import_id = con.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM imports").fetchone()[0]
        frame = result.frame
        stored = frame.assign(_import=import_id)
        tail = list(BOOKKEEPING_COLUMNS)
        stored = stored[[c for c in stored.columns if c not in tail] + tail]
        arrow = frame_to_arrow(stored)
        written: list[tuple[str, str, int]] = []  # (org, rel path, rows)
        claimed = [f"data/{table}/{org_dirname(org)}/{import_id}.parquet" for org in org_rows]
        self._claim(claimed, f"导入 {import_id}")
        try:
            for org, part in split_by_org(arrow, org_rows):
                rows = part.num_rows
                rel = f"data/{table}/{org_dirname(org)}/{import_id}.parquet"
                files.write_parquet_atomic(part, self.path / rel)
                written.append((org, rel, rows))
            pause("after_rename")
            now = now_text()
            with self._txn() as con:
                con.execute(
                    "INSERT INTO imports (id, tbl, file, sha256, rows, time, rejected, forced)"
                    " VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                    (
                        import_id,
                        table,
                        shown,
                        outcome.sha256,
                        int(result.rows),
                        now,
                        int(force),
                    ),
                )
                self._settle(con, claimed)
                for org, rel, rows in written:
                    con.execute(
                        "INSERT INTO parts (import_id, org, path, rows) VALUES (?, ?, ?, ?)",
                        (import_id, org, rel, rows),
                    )
                    con.execute(
                        """INSERT INTO institutions (org, name, stage, frozen, created, updated)
                           VALUES (?, ?, ?, 0, ?, ?)
                           ON CONFLICT (org) DO UPDATE SET updated = excluded.updated,
                             name = COALESCE(NULLIF(institutions.name, ''), excluded.name)""",
                        (org, org_names.get(org, ""), STAGE_UPLOADED, now, now),
                    )
        except BaseException:
            self._unlink(claimed)
            raise
        pause("after_commit")
        outcome.rows = int(result.rows)
        outcome.org_rows = org_rows
        outcome.org_names = org_names
        outcome.import_id = import_id
        outcome.forced = force

    def _record_rejection(self, outcome: ImportOutcome) -> ImportOutcome:
        outcome.rejected_kind = outcome.rejected_kind or "file"
        with self._txn() as con:
            cur = con.execute(
                "INSERT INTO imports (tbl, file, sha256, rows, time, rejected, forced)"
                " VALUES (?, ?, ?, 0, ?, ?, 0)",
                (outcome.table, outcome.file, outcome.sha256, now_text(), outcome.rejected),
            )
            outcome.import_id = int(cur.lastrowid or 0)
        log.info("文件 %s（%s）未导入，导入编号 %s", outcome.file, outcome.table, outcome.import_id)
        return outcome

    def imported_files(self, include_cleared: bool = False) -> list[ImportRecord]:
        """The import history in import order, rejected files included.

        By default, imports whose rows were all deleted are left out, and rejected files are
        left out after a delete of everything in their table (``include_cleared`` keeps all).
        """
        with self._connect() as con:
            rows = con.execute(
                """SELECT m.*, (SELECT COALESCE(SUM(p.rows), 0) FROM parts p
                                WHERE p.import_id = m.id) AS current_rows
                   FROM imports m ORDER BY m.id"""
            ).fetchall()
        out = []
        for row in rows:
            record = ImportRecord(
                id=row["id"],
                table=row["tbl"],
                file=row["file"],
                sha256=row["sha256"],
                rows=row["rows"],
                time=row["time"],
                rejected=row["rejected"],
                forced=bool(row["forced"]),
                current_rows=int(row["current_rows"]),
            )
            if not include_cleared:
                if record.rejected is None and record.current_rows == 0 and record.rows > 0:
                    continue
                if row["cleared"]:
                    continue
            out.append(record)
        return out

    def load(self, table: str, orgs: Iterable[str] | None = None) -> pd.DataFrame:
        """The stored rows of ``table`` (all or the given institutions) in import order.

        Columns: the template columns (strings, NA when empty), then ``_file``, ``_row``,
        ``_import``, ``_org``.
        """
        _check_table(table)
        wanted = None if orgs is None else list(dict.fromkeys(orgs))
        with self._connect() as con:
            query = (
                "SELECT p.path FROM parts p JOIN imports m ON m.id = p.import_id WHERE m.tbl = ?"
            )
            params: list[Any] = [table]
            if wanted is not None:
                if not wanted:
                    return _empty_frame(table)
                query += f" AND p.org IN ({','.join('?' * len(wanted))})"
                params += wanted
            paths = [row[0] for row in con.execute(query + " ORDER BY p.import_id, p.org", params)]
        if not paths:
            return _empty_frame(table)
        import pyarrow as pa  # ~0.15 s at start-up: only the data paths need it

        tables = [self._read_parquet(rel) for rel in paths]
        combined = pa.concat_tables(tables, promote_options="default")
        if len(tables) > 1:
            if _in_import_order(combined):
                combined = combined.combine_chunks()  # one array per column, as a sort gives
            else:
                combined = combined.sort_by([("_import", "ascending"), ("_row", "ascending")])
        return combined.to_pandas()

    def head(self, table: str, n: int = 100) -> pd.DataFrame:
        """The first ``n`` stored rows of ``table`` in import order (the apps' previews).

        Same columns as :meth:`load`, but reads only the first ``n`` rows of the first imports'
        files, so it stays fast however much data the workspace holds.
        """
        import pyarrow as pa  # ~0.15 s at start-up: only the data paths need it
        import pyarrow.parquet as pq

        _check_table(table)
        with self._connect() as con:
            parts = con.execute(
                "SELECT p.import_id, p.path, p.rows FROM parts p JOIN imports m"
                " ON m.id = p.import_id WHERE m.tbl = ? ORDER BY p.import_id, p.org",
                (table,),
            ).fetchall()
        tables, total, last_import = [], 0, None
        for part in parts:
            if total >= n and part["import_id"] != last_import:
                break  # earlier imports already give n rows
            try:
                batches = pq.ParquetFile(self.path / part["path"]).iter_batches(batch_size=n)
            except (OSError, pa.ArrowException) as exc:
                raise self._broken_file(part["path"]) from exc
            first = next(batches, None)
            if first is not None:
                tables.append(pa.Table.from_batches([first]))
            total += int(part["rows"])
            last_import = part["import_id"]
        if not tables:
            return _empty_frame(table)
        combined = pa.concat_tables(tables, promote_options="default")
        combined = combined.sort_by([("_import", "ascending"), ("_row", "ascending")])
        return combined.slice(0, n).to_pandas()


def _in_import_order(table: pa.Table) -> bool:
    """Whether the rows are already in import order ``(_import, _row)`` (as the parts of one
    import each usually are, read in import order): then gathering every column in sorted
    order is not needed."""
    import numpy as np

    imports = table["_import"].to_numpy()
    rows = table["_row"].to_numpy()
    step = np.diff(imports)
    return bool(((step > 0) | ((step == 0) & (np.diff(rows) >= 0))).all())


def _after_imported(outcomes: Sequence[ImportOutcome], error: CwdxError) -> CwdxError:
    """``error`` preceded by the files already imported, so the user knows what to redo."""
    done = [o.file for o in outcomes if o.ok]
    if not done:
        return error
    return CwdxError(f"已导入文件 {'、'.join(done)}；{error.message}", error.kind, error.hint)


def _rows_equal_to(frame: pd.DataFrame, values: Mapping[str, str]) -> list[int]:
    """Excel row numbers (``_row``) of the rows holding all of ``values`` (column -> text)."""
    import pandas as pd  # ~0.45 s at start-up: only the data paths need it

    if any(column not in frame.columns for column in values):
        return []
    same = pd.Series(True, index=frame.index)
    for column, value in values.items():
        same &= frame[column].astype("string").fillna("") == value
    return [int(row) for row in frame.loc[same, "_row"]]


def _check_table(table: str) -> None:
    if table not in ("cases", "staff"):
        raise CwdxError(
            f"未知的数据表 {table}，请选择 cases（病案首页数据）或 staff（申报人员信息）。"
        )


def _empty_frame(table: str) -> pd.DataFrame:
    import pandas as pd  # ~0.45 s at start-up: only the data paths need it

    columns = [spec.name for spec in load_reference().columns(table)]  # type: ignore[arg-type]
    return pd.DataFrame(
        {
            c: pd.Series([], dtype="int64" if c in BOOKKEEPING_INT_COLUMNS else "str")
            for c in [*columns, *BOOKKEEPING_COLUMNS]
        }
    )
