"""The piece of an import that runs wherever the mapper sends it (:mod:`cwdx.fanout`): a few
files read, normalised (each template column of all of them in one pass) and written as Parquet
parts (one per institution and file) under temporary names.

:func:`decode_files` is a picklable top-level function of a tuple of picklable
:class:`DecodePiece` s (:func:`decode_file` of one); it
never touches the database and returns a small :class:`Decoded` (counts, the normalisation
report, the temporary part names). The calling process validates the outcomes, renames the parts
and records the whole batch in one transaction (:mod:`cwdx.workspace.imports`). A file the reader
refuses, an internal error and a failed write (a full disk) come back as data, so every piece
of a batch finishes and leaves no file behind but its own parts.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwdx.reference import load_reference
from cwdx.workspace import files

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def part_name(table: str, org: str, import_id: int) -> str:
    """The stored part of ``org``'s rows of import ``import_id`` (relative to the workspace)."""
    return f"data/{table}/{files.org_dirname(org)}/{import_id}.parquet"


def staged_name(table: str, org: str, import_id: int) -> str:
    """Where a piece writes that part before the caller renames it to :func:`part_name`."""
    final = part_name(table, org, import_id)
    folder, _, name = final.rpartition("/")
    return f"{folder}/.{name}{files.STAGED_SUFFIX}"


@dataclass(frozen=True)
class DecodePiece:
    """One file to decode (picklable: plain strings and numbers)."""

    #: the file as the user named it
    path: str
    #: ``cases`` or ``staff``; ``None``: recognised from the header row
    table: str | None
    #: the workspace folder (absolute): the parts go under its ``data/``
    workspace: str
    #: the import id the caller reserved for this file (stored in the ``_import`` column)
    import_id: int
    #: the file's SHA-256 as the caller computed it ("" when it could not)
    sha256: str
    #: the template's sample record (column, value) whose Excel rows are reported
    sample: tuple[tuple[str, str], ...] = ()
    #: ``$CWDX_REFERENCE_DIR`` of the caller (``None``: the shipped lists)
    reference_dir: str | None = None


@dataclass
class Decoded:
    """What :func:`decode_file` returns for one file (small: no rows)."""

    #: the table read (``""``: refused before it could be told)
    table: str
    sha256: str
    rows: int = 0
    org_rows: dict[str, int] = field(default_factory=dict)
    org_names: dict[str, str] = field(default_factory=dict)
    #: the reader's :class:`~cwdx.reader.NormalisationReport` (``None`` when not read)
    report: Any = None
    #: the reader's refusal (full Chinese message)
    rejected: str | None = None
    #: the traceback of an internal error while reading (the caller logs it)
    failure: str | None = None
    #: ``(errno, strerror, filename)`` of a failed write (a full disk): nothing was left behind
    os_error: tuple[int | None, str | None, str | None] | None = None
    sample_rows: list[int] = field(default_factory=list)
    #: institution -> its part under the temporary name (relative to the workspace)
    staged: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def decode_file(piece: DecodePiece) -> Decoded:
    """Read, normalise and write one file's parts under temporary names (see the module)."""
    return decode_files((piece,))[0]


def decode_files(pieces: Sequence[DecodePiece]) -> list[Decoded]:
    """:func:`decode_file` of several files in one piece: each decoded and matched alone, the
    columns of all of them normalised together (:func:`cwdx.reader.normalise_workbooks`), each
    written to its own parts. A file whose normalisation fails alone is a failure of that file
    only (the others are then normalised one by one)."""
    from cwdx import reader  # pandas, pyarrow, fastexcel: ~0.5 s at start-up

    started = time.monotonic()
    outs = [Decoded(table=piece.table or "", sha256=piece.sha256) for piece in pieces]
    opened: list[tuple[int, Any, Any]] = []  # (position, ReadResult, SheetHeader)
    for position, (piece, out) in enumerate(zip(pieces, outs, strict=True)):
        try:
            table: Any = piece.table  # checked by the caller
            result, header = reader.open_workbook(
                piece.path, table, reference=_reference(piece), sha256=piece.sha256 or None
            )
        except Exception:
            out.failure = traceback.format_exc()
            continue
        out.table, out.report = result.table, result.report
        out.sha256 = result.sha256 or out.sha256
        if result.rejected:
            out.rejected = result.rejected
        else:
            opened.append((position, result, header))
    if opened:
        _normalise(opened, outs, _reference(pieces[opened[0][0]]))
    files.pause("after_read")
    for position, result, _ in opened:
        out = outs[position]
        if out.failure is None:
            _store(pieces[position], out, result)
    seconds = time.monotonic() - started
    for out in outs:
        out.seconds = seconds / len(outs)
    return outs


def _reference(piece: DecodePiece) -> Any:
    """The piece's reference lists (once per process: a pickle, not the CSVs)."""
    return load_reference(piece.reference_dir) if piece.reference_dir else load_reference()


def _normalise(opened: list[tuple[int, Any, Any]], outs: list[Decoded], reference: Any) -> None:
    """Normalise the opened files together; when that fails, one by one (a file that fails
    alone records its traceback)."""
    from cwdx import reader

    try:
        reader.normalise_workbooks([(result, header) for _, result, header in opened], reference)
        return
    except Exception:
        if len(opened) == 1:
            outs[opened[0][0]].failure = traceback.format_exc()
            return
    for position, result, header in opened:
        try:
            reader.normalise_workbooks([(result, header)], reference)
        except Exception:
            outs[position].failure = traceback.format_exc()


def _store(piece: DecodePiece, out: Decoded, result: Any) -> None:
    """Fill in what a normalised file holds and write its parts (a failed write: nothing left)."""
    out.report = result.report
    out.rows = int(result.rows)
    out.org_rows = {str(k): int(v) for k, v in dict(result.orgs).items() if int(v) > 0}
    out.org_names = {str(k): str(v) for k, v in dict(result.org_names or {}).items() if v}
    if piece.sample:
        out.sample_rows = rows_equal_to(result.frame, dict(piece.sample))
    try:
        _write_parts(piece, out, result.rows_table)
    except OSError as exc:
        for rel in out.staged.values():
            with contextlib.suppress(OSError):
                (Path(piece.workspace) / rel).unlink()
        out.staged = {}
        out.os_error = (exc.errno, exc.strerror, os.fsdecode(exc.filename or "") or None)


def _write_parts(piece: DecodePiece, out: Decoded, rows: pa.Table) -> None:
    """Write the rows of each institution to its staged part (``_import`` = the reserved id)."""
    arrow = files.stored_table(rows, piece.import_id)
    for org, part in files.split_by_org(arrow, out.org_rows):
        rel = staged_name(out.table, org, piece.import_id)
        out.staged[org] = rel  # before writing: a failed write is removed with the others
        # no fsync of the folder: the import syncs it after renaming the part to its final name
        files.write_parquet_atomic(part, Path(piece.workspace) / rel, sync_folder=False, keep=False)


def rows_equal_to(frame: pd.DataFrame, values: Mapping[str, str]) -> list[int]:
    """Excel row numbers (``_row``) of the rows holding all of ``values`` (column -> text)."""
    import pandas as pd  # ~0.45 s at start-up: only the data paths need it

    if any(column not in frame.columns for column in values):
        return []
    same = pd.Series(True, index=frame.index)
    for column, value in values.items():
        same &= frame[column].astype("string").fillna("") == value
    return [int(row) for row in frame.loc[same, "_row"]]
