"""Imports: appending workbooks to the workspace (each file all-or-nothing, a batch of files
decoded by a :mod:`cwdx.fanout` mapper and recorded in one transaction), the import history,
and reading the stored rows back."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cwdx.columns import BOOKKEEPING_COLUMNS
from cwdx.errors import CwdxError, Hint
from cwdx.fanout import Mapper, cut_batches, serial_map, spread_width
from cwdx.hashing import file_sha256
from cwdx.log import get_logger
from cwdx.reference import TABLE_TITLES, load_reference
from cwdx.workspace import files
from cwdx.workspace.db import now_text
from cwdx.workspace.decode import Decoded, DecodePiece, decode_files, part_name
from cwdx.workspace.files import BOOKKEEPING_INT_COLUMNS, arrow_to_pandas, large_strings, pause
from cwdx.workspace.lock import WriteLock
from cwdx.workspace.records import ImportOutcome, ImportRecord
from cwdx.workspace.stages import FROZEN_STAGES, STAGE_UPLOADED, UNFREEZE_CHECK, unfreeze_hint

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = get_logger("workspace")

ProgressCallback = Callable[[int, int, str], None]


#: Files decoded in one piece (their columns normalised together) hold at most this many bytes
#: of workbook (about 50,000 case rows; a larger file is a piece of its own): what bounds the
#: memory of the process decoding them. Files of a few thousand rows gain the most: each
#: normalisation call's fixed cost is paid once per piece instead of once per file.
DECODE_BATCH_BYTES = 8_000_000


def _decode_groups(
    pieces: list[tuple[int, DecodePiece]], width: int
) -> list[list[tuple[int, DecodePiece]]]:
    """The pieces cut into consecutive groups decoded together (:data:`DECODE_BATCH_BYTES`;
    ``width``: :func:`~cwdx.fanout.spread_width`)."""
    sizes = []
    for position, (_, piece) in enumerate(pieces):
        try:
            size = os.path.getsize(piece.path)
        except OSError:
            size = 0
        sizes.append((str(position), size))
    cut = cut_batches(sizes, DECODE_BATCH_BYTES, width)
    return [[pieces[int(position)] for position in group] for group in cut]


#: The ``table`` of :meth:`Imports.import_files` that takes each file as the table its header
#: row belongs to (病案首页 or 申报人员; :func:`cwdx.reader.recognise_table`).
AUTO_TABLE = "auto"


@dataclass
class _Snapshot:
    """What judging a batch needs of the workspace, read once (the write lock is held)."""

    #: institution -> (stage, name)
    institutions: dict[str, tuple[str, str]]
    #: institutions holding rows -> name (grows as the batch accepts files)
    own: dict[str, str]
    #: (table, SHA-256) -> (file, time) of the first import of that content still holding rows
    imported: dict[tuple[str, str], tuple[str, str]]


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
        mapper: Mapper | None = None,
    ) -> list[ImportOutcome]:
        """Append the files to ``table`` (``cases``, ``staff``, or :data:`AUTO_TABLE`: each file
        to the table its header row belongs to) in the given order.

        Each file is independent and all-or-nothing. A file is rejected (and recorded with its
        message) when the reader rejects it, when the same content (SHA-256) is already in the
        workspace for this table (or earlier in ``paths``) and ``force`` is false, or when it
        holds rows of a frozen institution. With ``single_institution`` (the 机构版 page) a file
        is also rejected when its rows belong to another institution than the workspace's (the
        one whose rows it holds; the first import defines it) or to several. ``sample`` (column
        -> value, the template's sample record) lists the Excel rows that still hold it in
        :attr:`ImportOutcome.sample_rows`. A file whose table cannot be told (:data:`AUTO_TABLE`)
        is rejected without a record in the import history.

        The files are decoded by ``mapper`` (:mod:`cwdx.fanout`; ``None``: one after another in
        this process), each writing its parts under temporary names; this process then judges
        them in order, renames the parts and records the whole batch in one transaction.
        Raises :class:`CwdxError` when the workspace is busy, read-only or damaged, or its disk
        is full (then the files before the one that did not fit are imported, and named).
        """
        if table != AUTO_TABLE:
            _check_table(table)
        files_ = [Path(p) for p in paths]
        with self._write_lock(f"导入{TABLE_TITLES.get(table, '数据文件')}"):
            snapshot = self._snapshot(force)
            outcomes, pieces = self._prepare(table, files_, snapshot, sample)
            decoded = self._decode(outcomes, pieces, mapper, on_progress)
            try:
                outcomes, stop = self._judge_all(
                    outcomes, decoded, snapshot, force, single_institution
                )
                self._commit(outcomes, decoded, force)
            finally:
                _drop_staged(self.path, decoded.values())
            if on_progress:
                on_progress(len(files_), len(files_), "导入完成")
        if stop is not None:
            raise _after_imported(outcomes, stop) if isinstance(stop, CwdxError) else stop
        return outcomes

    def _snapshot(self, force: bool) -> _Snapshot:
        with self._connect() as con:
            institutions = {
                row["org"]: (row["stage"], row["name"] or "")
                for row in con.execute("SELECT org, stage, name FROM institutions")
            }
            own = {
                row[0]: institutions.get(row[0], ("", ""))[1]
                for row in con.execute("SELECT DISTINCT org FROM parts")
            }
            imported: dict[tuple[str, str], tuple[str, str]] = {}
            if not force:
                for row in con.execute(
                    """SELECT m.tbl, m.sha256, m.file, m.time FROM imports m
                       WHERE m.rejected IS NULL
                       AND EXISTS (SELECT 1 FROM parts p WHERE p.import_id = m.id)
                       ORDER BY m.id"""
                ):
                    imported.setdefault((row["tbl"], row["sha256"]), (row["file"], row["time"]))
        return _Snapshot(institutions, own, imported)

    def _prepare(
        self,
        table: str,
        paths: list[Path],
        snapshot: _Snapshot,
        sample: Mapping[str, str] | None,
    ) -> tuple[list[ImportOutcome], list[tuple[int, DecodePiece]]]:
        """An outcome per file (each with the import id reserved for it: ids follow the order
        of ``paths``), rejecting missing files and content already imported, and the pieces
        to decode (index into the outcomes, piece)."""
        from cwdx import reader  # ~0.5 s at start-up: only imports need it

        with self._connect() as con:
            first_id = int(
                con.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM imports").fetchone()[0]
            )
        auto = table == AUTO_TABLE
        reference_dir = os.environ.get("CWDX_REFERENCE_DIR") or None
        outcomes, pieces = [], []
        for index, path in enumerate(paths):
            outcome = ImportOutcome(
                file=reader.display_name(path),  # a GBK name on Linux cannot be printed or stored
                path=reader.display_path(path),
                table="" if auto else table,
                sha256="",
                import_id=first_id + index,
            )
            outcomes.append(outcome)
            if not path.is_file() and not path.is_dir():  # the reader explains a folder
                outcome.rejected_kind = "file"
                outcome.rejected = (
                    f"找不到文件 {reader.display_path(path)}，请检查文件名和路径后重新导入。"
                )
                continue
            outcome.sha256 = file_sha256(path) or ""
            for known in ("cases", "staff") if auto else (table,):
                if (known, outcome.sha256) in snapshot.imported:
                    outcome.table = known
                    _reject_duplicate(outcome, *snapshot.imported[(known, outcome.sha256)])
                    break
            else:
                piece = DecodePiece(
                    path=os.path.abspath(path),
                    table=None if auto else table,
                    workspace=str(self.path),
                    import_id=first_id + index,
                    sha256=outcome.sha256,
                    sample=tuple(sample.items()) if sample and not auto else (),
                    reference_dir=reference_dir,
                )
                pieces.append((index, piece))
        return outcomes, pieces

    def _decode(
        self,
        outcomes: list[ImportOutcome],
        pieces: list[tuple[int, DecodePiece]],
        mapper: Mapper | None,
        on_progress: ProgressCallback | None,
    ) -> dict[int, Decoded]:
        """Run the pieces through ``mapper``: outcome index -> what its piece returned."""
        decoded: dict[int, Decoded] = {}
        total = len(outcomes)
        done = total - len(pieces)
        if on_progress:
            on_progress(
                done, total, f"正在导入 {outcomes[pieces[0][0]].file}" if pieces else "正在导入"
            )
        run = mapper or serial_map
        groups = _decode_groups(pieces, spread_width(run))
        try:
            results = run(decode_files, [tuple(piece for _, piece in group) for group in groups])
            for number, (group, group_results) in enumerate(zip(groups, results, strict=True)):
                for (index, _), result in zip(group, group_results, strict=True):
                    decoded[index] = result
                done += len(group)
                if on_progress and number + 1 < len(groups):
                    next_file = outcomes[groups[number + 1][0][0]].file
                    on_progress(done, total, f"正在导入 {next_file}")
        except BaseException:
            _drop_staged(self.path, decoded.values())
            raise
        return decoded

    def _judge_all(
        self,
        outcomes: list[ImportOutcome],
        decoded: dict[int, Decoded],
        snapshot: _Snapshot,
        force: bool,
        single_institution: bool,
    ) -> tuple[list[ImportOutcome], CwdxError | OSError | None]:
        """Judge the decoded files in order. A file that could not be written (a full disk)
        ends the batch: returns the outcomes before it and the error to raise after they are
        committed."""
        batch: dict[tuple[str, str], ImportOutcome] = {}  # content accepted in this batch
        for index, outcome in enumerate(outcomes):
            result = decoded.get(index)
            if result is None:  # rejected before decoding
                continue
            if result.os_error is not None:
                number, text, name = result.os_error
                exc = OSError(number, text, name) if name else OSError(number, text)
                error = self._storage_error(exc, f"导入文件“{outcome.file}”")
                return outcomes[:index], error or exc
            self._judge(outcome, result, snapshot, batch if not force else None, single_institution)
        return outcomes, None

    def _judge(
        self,
        outcome: ImportOutcome,
        result: Decoded,
        snapshot: _Snapshot,
        batch: dict[tuple[str, str], ImportOutcome] | None,
        single_institution: bool,
    ) -> None:
        """Accept or reject one decoded file, as if the files before it were imported alone
        (``batch``: contents accepted so far, ``None`` when duplicates are forced)."""
        outcome.table = result.table or outcome.table
        outcome.sha256 = result.sha256 or outcome.sha256
        outcome.report = result.report
        outcome.sample_rows = result.sample_rows
        key = (outcome.table, outcome.sha256)
        if result.failure is not None:
            log.error(
                "读取文件 %s（%s）时发生内部错误：\n%s", outcome.file, outcome.table, result.failure
            )
            outcome.rejected = f"文件“{outcome.file}”读取时发生内部错误，未导入；请把日志文件 {self.log_path} 发给技术支持。"
        elif result.rejected:
            outcome.rejected = result.rejected
        elif batch is not None and key in batch:
            _reject_duplicate(outcome, batch[key].file, now_text())
        elif not _reject_frozen(outcome, result, snapshot) and not (
            single_institution and _reject_other_institution(outcome, result, snapshot)
        ):
            outcome.rows = result.rows
            outcome.org_rows = result.org_rows
            outcome.org_names = result.org_names
            if batch is not None:
                batch.setdefault(key, outcome)
            for org in result.org_rows:
                known = snapshot.institutions.get(org, ("", ""))[1]
                snapshot.own.setdefault(org, known or result.org_names.get(org, ""))
            return
        outcome.rejected_kind = outcome.rejected_kind or "file"

    def _commit(
        self, outcomes: list[ImportOutcome], decoded: dict[int, Decoded], force: bool
    ) -> None:
        """Record the batch: claim the accepted files' parts, rename them from their temporary
        names, then one transaction records every file (rejections too) with its parts."""
        accepted = [(o, decoded[i]) for i, o in enumerate(outcomes) if o.ok and i in decoded]
        recorded = [o for o in outcomes if o.table]
        for outcome in outcomes:
            if not outcome.table:  # a file of neither table: no history, so no import id
                outcome.import_id = None
        if not recorded:
            return
        renames = [
            (staged, part_name(o.table, org, cast(int, o.import_id)))
            for o, result in accepted
            for org, staged in result.staged.items()
        ]
        claimed = [final for _, final in renames]
        if claimed:
            self._claim(claimed, f"导入 {accepted[0][0].import_id}–{accepted[-1][0].import_id}")
        try:
            folders = set()
            for staged, final in renames:
                files.rename_stored(self.path / staged, self.path / final)
                folders.add((self.path / final).parent)
            for folder in sorted(folders):
                files.fsync_dir(folder)
            pause("after_rename")
            self._record(recorded, accepted, claimed, force)
        except BaseException:
            self._unlink(claimed)
            raise
        pause("after_commit")
        for outcome, result in accepted:
            outcome.forced = force
            log.info(
                "导入 %s 文件 %s：导入编号 %d，%d 行，%d 个机构，读取用时 %.1f 秒%s",
                outcome.table,
                outcome.file,
                outcome.import_id,
                outcome.rows,
                len(outcome.org_rows),
                result.seconds,
                "（强制重复导入）" if force else "",
            )
        for outcome in recorded:
            if not outcome.ok:
                log.info(
                    "文件 %s（%s）未导入，导入编号 %s",
                    outcome.file,
                    outcome.table,
                    outcome.import_id,
                )

    def _record(
        self,
        recorded: list[ImportOutcome],
        accepted: list[tuple[ImportOutcome, Decoded]],
        claimed: list[str],
        force: bool,
    ) -> None:
        """The batch's one transaction: imports (in file order), parts and institutions."""
        now = now_text()
        with self._txn() as con:
            con.executemany(
                "INSERT INTO imports (id, tbl, file, sha256, rows, time, rejected, forced)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (o.import_id, o.table, o.file, o.sha256, o.rows, now, o.rejected)
                    + (int(force and o.ok),)
                    for o in recorded
                ],
            )
            self._settle(con, claimed)
            for outcome, result in accepted:
                for org, rows in result.org_rows.items():
                    con.execute(
                        "INSERT INTO parts (import_id, org, path, rows) VALUES (?, ?, ?, ?)",
                        (
                            outcome.import_id,
                            org,
                            part_name(outcome.table, org, cast(int, outcome.import_id)),
                            rows,
                        ),
                    )
                    con.execute(
                        """INSERT INTO institutions (org, name, stage, frozen, created, updated)
                           VALUES (?, ?, ?, 0, ?, ?)
                           ON CONFLICT (org) DO UPDATE SET updated = excluded.updated,
                             name = COALESCE(NULLIF(institutions.name, ''), excluded.name)""",
                        (org, result.org_names.get(org, ""), STAGE_UPLOADED, now, now),
                    )

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

        tables = [large_strings(self._read_parquet(rel)) for rel in paths]
        combined = pa.concat_tables(tables, promote_options="default")
        # parts already in import order stay chunks of their own (combining them costs more
        # than the checks and indicators gain from one array per column)
        if len(tables) > 1 and not _in_import_order(combined):
            combined = combined.sort_by([("_import", "ascending"), ("_row", "ascending")])
        return arrow_to_pandas(combined)

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
                tables.append(large_strings(pa.Table.from_batches([first])))
            total += int(part["rows"])
            last_import = part["import_id"]
        if not tables:
            return _empty_frame(table)
        combined = pa.concat_tables(tables, promote_options="default")
        combined = combined.sort_by([("_import", "ascending"), ("_row", "ascending")])
        return arrow_to_pandas(combined.slice(0, n))


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


def _reject_duplicate(outcome: ImportOutcome, file: str, time: str) -> None:
    """Mark ``outcome`` rejected as the same content as ``file`` imported at ``time``."""
    outcome.rejected_kind = "duplicate"
    outcome.duplicate_of = (file, time)
    outcome.rejected = (
        f"文件“{outcome.file}”与 {time} 已导入的文件“{file}”内容完全相同，"
        "为避免重复数据未再次导入；如确需重复导入，请确认后强制导入。"
    )
    outcome.hint = Hint(action="force_import")


def _reject_frozen(outcome: ImportOutcome, result: Decoded, snapshot: _Snapshot) -> bool:
    """Mark ``outcome`` rejected when the file holds rows of frozen institutions."""
    frozen = []
    for org in result.org_rows:
        stage, name = snapshot.institutions.get(org, ("", ""))
        if stage in FROZEN_STAGES:
            frozen.append((org, name or result.org_names.get(org, ""), stage))
    if not frozen:
        return False
    names = "、".join(
        f"{org}（{name}，{stage}）" if name else f"{org}（{stage}）" for org, name, stage in frozen
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


def _reject_other_institution(outcome: ImportOutcome, result: Decoded, snapshot: _Snapshot) -> bool:
    """Mark ``outcome`` rejected when its rows are not all of the workspace's institution (the
    one whose rows the workspace holds), or, in an empty workspace, of one."""
    org_rows, own = result.org_rows, snapshot.own
    if own:
        others = [org for org in org_rows if org not in own]
        if not others:
            return False
        mine = "、".join(f"{org}（{own[org]}）" if own[org] else org for org in sorted(own))
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


def _drop_staged(workspace: Path, results: Iterable[Decoded]) -> None:
    """Remove the parts pieces wrote that were not renamed (rejected files, a failed batch),
    and the folders that leaves empty."""
    for result in results:
        for rel in result.staged.values():
            staged = workspace / rel
            try:
                staged.unlink()
            except OSError:  # renamed (imported), or never written
                continue
            with contextlib.suppress(OSError):
                staged.parent.rmdir()  # only when empty


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
