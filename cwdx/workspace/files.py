"""Stored files: every data file is written under a temporary name, flushed, fsynced and
renamed (:func:`write_parquet_atomic`); frames become Arrow tables for it; the tables this
process wrote or read stay in memory for a while (:class:`PartCache`); and the test hook
:func:`pause` that lets tests kill a process at a named point."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cwdx.columns import BOOKKEEPING_COLUMNS, IMPORT

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

#: Suffix of a file written by a piece and not yet renamed by the caller (a temporary file for
#: the workspace's clean-up: hidden, with ``.tmp-`` in its name).
STAGED_SUFFIX = ".tmp-staged"
#: Bookkeeping columns stored as integers (the others are text).
BOOKKEEPING_INT_COLUMNS = ("_row", "_import")

#: Bytes of Arrow data :data:`part_cache` holds at most (``CWDX_PART_CACHE_MB``, default 256;
#: 0 turns it off): what a process that checks, computes and exports the same institutions one
#: after the other (``cwdx run``, a Dask worker) keeps of the files it wrote or read.
PART_CACHE_BYTES = int(float(os.environ.get("CWDX_PART_CACHE_MB", "256")) * 1024 * 1024)

#: What identifies one version of a stored file: (path, device, inode, size, modification and
#: change times in ns). A stored file is never changed in place: new content is written anew
#: and renamed over, which changes the change time at least.
FileKey = tuple[str, int, int, int, int, int]

#: A file whose times are less than this old when read may yet be rewritten within the same
#: timestamp on a file system with coarse times (1 s, FAT's 2 s): it is not kept (git's
#: "racily clean" rule). The files this process writes itself are kept at once: it writes
#: them under the workspace's write lock.
RACY_NS = 2_000_000_000
#: The same for a file system with fine times (a file whose times have a fraction of a
#: second): beyond its clock's tick (at most 10 ms on Linux), a file written anew has later
#: times. The parts of ``cwdx run`` are read a second after they were written.
FINE_RACY_NS = 100_000_000


def racy_ns(stat: os.stat_result) -> int:
    """How old a file with this ``stat`` must be before it is kept (:data:`RACY_NS`, or
    :data:`FINE_RACY_NS` where its times show the file system keeps fractions of a second)."""
    fine = stat.st_mtime_ns % 1_000_000_000 or stat.st_ctime_ns % 1_000_000_000
    return FINE_RACY_NS if fine else RACY_NS


def file_key(path: str | os.PathLike[str], stat: os.stat_result) -> FileKey:
    """The :data:`FileKey` of the file at ``path`` with this ``stat``."""
    return (
        os.fspath(path),
        stat.st_dev,
        stat.st_ino,
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
    )


class PartCache:
    """The Arrow tables of stored Parquet files this process wrote or read, least recently used
    first out, at most ``capacity`` bytes (thread-safe: the dispatcher's task threads share it).

    A table is found by its file's :data:`FileKey`, so a file replaced, removed or written by
    another process is never answered from memory. Tables are immutable and own their buffers
    (:func:`_copied`), so every reader can be handed the same one.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._tables: OrderedDict[FileKey, tuple[pa.Table, int]] = OrderedDict()
        self._keys: dict[str, FileKey] = {}  # path -> its one key held
        self._bytes = 0
        self._lock = threading.Lock()
        #: whether files this process writes are kept (a helper process of :mod:`cwdx.pool`
        #: turns it off: what it writes is renamed by another process, so never read back)
        self.keeps_written = True

    @property
    def size(self) -> int:
        """Bytes held now."""
        return self._bytes

    def takes(self, table: pa.Table) -> bool:
        """Whether :meth:`put` would keep ``table``: its data alone is at most half the
        capacity (a slice counts its own rows: a writer copies it before keeping it)."""
        return table.nbytes <= self.capacity // 2

    def get(self, key: FileKey) -> pa.Table | None:
        """The table stored under ``key``, or ``None``."""
        with self._lock:
            entry = self._tables.get(key)
            if entry is None:
                return None
            self._tables.move_to_end(key)
            return entry[0]

    def put(self, key: FileKey, table: pa.Table) -> None:
        """Keep ``table`` under ``key`` (when it :meth:`takes` it); an older version of the same
        path is dropped."""
        if not self.takes(table):
            return
        size = table.get_total_buffer_size()  # the buffers kept alive, a slice's parent too
        with self._lock:
            self._drop(key[0])
            self._tables[key] = (table, size)
            self._keys[key[0]] = key
            self._bytes += size
            while self._bytes > self.capacity:
                oldest = next(iter(self._tables))
                self._drop(oldest[0])

    def moved(self, source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        """This process renamed ``source`` to ``target``: its table, if kept, follows it."""
        with self._lock:
            key = self._keys.get(os.fspath(source))
            entry = None if key is None else self._tables.get(key)
            self._drop(os.fspath(source))
        if key is None or entry is None:
            return
        try:
            stat = os.stat(target)
        except OSError:
            return
        if (stat.st_dev, stat.st_ino, stat.st_size) == key[1:4]:  # the very file renamed
            self.put(file_key(target, stat), entry[0])

    def _drop(self, path: str) -> None:
        key = self._keys.pop(path, None)
        if key is not None:
            self._bytes -= self._tables.pop(key)[1]

    def clear(self) -> None:
        """Forget every table."""
        with self._lock:
            self._tables.clear()
            self._keys.clear()
            self._bytes = 0


#: The process's one :class:`PartCache`.
part_cache = PartCache(PART_CACHE_BYTES)


def read_parquet(path: Path) -> pa.Table:
    """The table of a stored Parquet file, from :data:`part_cache` when this process wrote or
    read this very file before (raises ``OSError``/``ArrowException`` as reading does)."""
    import pyarrow as pa  # ~0.15 s at start-up: see write_parquet_atomic
    import pyarrow.parquet as pq

    # ParquetFile over an OSFile reads the one file directly: read_table goes through the
    # dataset machinery (file system, discovery), about a third slower on small files
    with pa.OSFile(str(path)) as handle:
        stat = os.fstat(handle.fileno())
        key = file_key(path, stat)
        table = part_cache.get(key)
        if table is not None:
            return table
        with pq.ParquetFile(handle) as parquet:
            table = parquet.read()
    if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) >= racy_ns(stat):
        part_cache.put(key, table)
    return table


def rename_stored(source: Path, target: Path) -> None:
    """Rename a stored file this process wrote (``os.replace``); its kept table follows it."""
    os.replace(source, target)
    part_cache.moved(source, target)


def org_dirname(org: str) -> str:
    """A file-system-safe folder name for an institution code (stable, unique per code)."""
    if re.fullmatch(r"[A-Za-z0-9-]{1,60}", org):
        return org
    return "_" + hashlib.sha1(org.encode("utf-8")).hexdigest()[:16]


def pause(point: str) -> None:
    """Test hook: sleep at a named point when ``CWDX_TEST_PAUSE_AT`` names it.

    ``CWDX_TEST_PAUSE_FILE`` (optional) is created when the pause starts, so a test can kill
    the process at exactly that point.
    """
    if os.environ.get("CWDX_TEST_PAUSE_AT") != point:
        return
    marker = os.environ.get("CWDX_TEST_PAUSE_FILE")
    if marker:
        Path(marker).write_text(point, encoding="utf-8")
    time.sleep(float(os.environ.get("CWDX_TEST_PAUSE_SECONDS", "60")))


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename in it) to disk; ignored where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_parquet_atomic(
    table: pa.Table, target: Path, sync_folder: bool = True, keep: bool = True
) -> None:
    """Write ``table`` to ``target`` via a fsynced temporary file and a rename.

    ``sync_folder=False`` leaves the fsync of the folder (which makes the rename durable) to
    the caller, who writes several files into one folder and syncs it once
    (:func:`fsync_dir`). ``keep=False`` does not keep the table in :data:`part_cache` (the
    imported rows: copying a part to keep it costs about twice reading it back)."""
    # pyarrow costs ~0.15 s at start-up: only the data paths import it (``cwdx status`` doesn't)
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            pq.write_table(table, handle, compression="lz4")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk: give the space back at once
            tmp.unlink()
        raise
    pause("after_write")
    os.replace(tmp, target)
    if keep and part_cache.keeps_written and part_cache.takes(table):
        with contextlib.suppress(OSError):
            part_cache.put(file_key(target, os.stat(target)), _copied(table))
    if sync_folder:
        fsync_dir(target.parent)


def _copied(table: pa.Table) -> pa.Table:
    """``table`` in buffers of its own: neither a slice of a file's rows (which would keep the
    rest alive) nor numbers shared with the caller's DataFrame (which it could change)."""
    import pyarrow as pa  # loaded: the caller holds a table

    try:
        # concatenated with an empty array, a column is copied into new buffers (about five
        # times faster than a take of every row)
        arrays = [
            pa.concat_arrays([*column.chunks, pa.array([], type=column.type)])
            for column in table.columns
        ]
    except pa.ArrowException:  # a type concat_arrays does not take
        import numpy as np

        return table.take(np.arange(table.num_rows))
    return pa.Table.from_arrays(arrays, schema=table.schema)


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The stored row frame as Arrow: every column a string except ``_row``/``_import``."""
    import pyarrow as pa  # ~0.15 s at start-up: see write_parquet_atomic

    fields = [
        pa.field(str(c), pa.int64() if c in BOOKKEEPING_INT_COLUMNS else pa.string())
        for c in frame.columns
    ]
    return pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)


def large_strings(table: pa.Table) -> pa.Table:
    """``table`` with its ``string`` columns cast to ``large_string`` in one pass (what pandas'
    Arrow-backed ``string`` dtype holds), the schema's metadata kept; itself when it has none."""
    import pyarrow as pa  # ~0.15 s at start-up: see write_parquet_atomic

    schema = table.schema
    if not any(field.type == pa.string() for field in schema):
        return table
    fields = [
        field.with_type(pa.large_string()) if field.type == pa.string() else field
        for field in schema
    ]
    return table.cast(pa.schema(fields, metadata=schema.metadata))


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """``table.to_pandas()``, the same frame, faster: the ``string`` columns are cast to
    ``large_string`` in one pass first (:func:`large_strings`; left to ``to_pandas``, it casts
    them one column at a time, about ten times slower). Stored rows are written as
    ``large_string`` already (:func:`stored_table`), so reading them skips the cast."""
    return large_strings(table).to_pandas()


def stored_table(rows: pa.Table, import_id: int) -> pa.Table:
    """A read file's rows (:mod:`cwdx.stored_rows`) as stored: ``_import`` added, the
    bookkeeping columns last, and the schema (with its pandas metadata) that
    :func:`frame_to_arrow` gives the same rows as a frame, its text as ``large_string``, so
    :meth:`load` reads the same."""
    import numpy as np
    import pyarrow as pa  # ~0.15 s at start-up: see write_parquet_atomic

    tail = list(BOOKKEEPING_COLUMNS)
    names = [c for c in rows.column_names if c not in tail] + tail
    imports = pa.array(np.full(rows.num_rows, import_id, dtype="int64"))
    arrays = [imports if name == IMPORT else rows.column(name) for name in names]
    # stored as large_string: every reader turns the rows into pandas' string dtype, which
    # holds large_string, and a cast when reading costs more than one when writing
    return large_strings(pa.Table.from_arrays(arrays, schema=_stored_schema(tuple(names))))


@functools.lru_cache(maxsize=8)
def _stored_schema(names: tuple[str, ...]) -> pa.Schema:
    """The schema :func:`frame_to_arrow` gives a stored frame of these columns."""
    import pandas as pd  # the caller holds Arrow rows: pandas is loaded with pyarrow's users

    dtypes = {name: "int64" if name in BOOKKEEPING_INT_COLUMNS else "string" for name in names}
    empty = pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in dtypes.items()})
    return frame_to_arrow(empty).schema


def _text_or_none(value: object) -> str | None:
    import pandas as pd  # loaded already: the caller holds a frame

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return str(value)


def any_frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A result or finding table as Arrow; object columns of mixed types are stored as text."""
    import pyarrow as pa  # ~0.15 s at start-up: see write_parquet_atomic

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        fixed = frame.copy()
        for name in fixed.columns:
            if fixed[name].dtype == object:
                fixed[name] = fixed[name].map(_text_or_none)
        return pa.Table.from_pandas(fixed, preserve_index=False)


def split_by_org(arrow: pa.Table, org_rows: dict[str, int]) -> Iterator[tuple[str, pa.Table]]:
    """The rows of each institution, in file order: one stable sort, then zero-copy slices."""
    import pyarrow.compute as pc  # ~0.15 s at start-up: see write_parquet_atomic

    if len(org_rows) == 1:
        yield next(iter(org_rows)), arrow
        return
    ordered = arrow.take(pc.sort_indices(arrow, sort_keys=[("_org", "ascending")]))
    offset = 0
    for org in sorted(org_rows):
        part = ordered.slice(offset, org_rows[org])
        offset += org_rows[org]
        column = part["_org"]
        if column[0].as_py() != org or column[-1].as_py() != org:  # pragma: no cover
            raise RuntimeError(f"rows of institution {org} are not contiguous after sorting")
        yield org, part
    if offset != arrow.num_rows:  # pragma: no cover
        raise RuntimeError("institution row counts do not add up to the file's rows")


# --------------------------------------------------------------------------------------------
# Public records
