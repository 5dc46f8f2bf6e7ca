"""The in-process cache of stored Parquet files (``cwdx.workspace.files.part_cache``): what a
process wrote or read is handed back from memory only while the file on disk is that very
file, and exactly as reading it would give it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ws_helper import case_book, staff_book

from cwdx.errors import CwdxError
from cwdx.workspace import Workspace, files


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    files.part_cache.clear()
    yield
    files.part_cache.clear()


def _from_disk(path: Path) -> pa.Table:
    return pq.read_table(path)


def test_every_stored_file_is_handed_back_as_reading_it_gives(tmp_path: Path) -> None:
    """Findings and results written by a workspace are kept: the cached tables equal the files
    read from disk, schema metadata included (the frames analysts get back are the same).
    Imported rows are not kept when written (copying a part costs more than reading it)."""
    ws = Workspace(tmp_path / "ws")
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001", "H002", "H001")])
    ws.import_files("cases", [case_book(tmp_path / "c.xlsx", "H001", "H002")])
    findings = pd.DataFrame({"rule_id": ["W01"], "excel_row": [3], "value": ["示例"]})
    ws.save_check("H001", True, {"W01": 1}, findings, [], errors=0, warnings=1)
    ws.save_results("H001", {"指标": pd.DataFrame({"姓名": ["张三"], "出院人次": [12]})})
    stored = sorted(
        p for top in ("data", "checks", "results") for p in (ws.path / top).rglob("*.parquet")
    )
    assert len(stored) == 6  # staff and cases of two institutions, findings, one result
    for path in stored:
        cached = files.part_cache.get(files.file_key(path, os.stat(path)))
        if path.relative_to(ws.path).parts[0] == "data":
            assert cached is None, path
            continue
        assert cached is not None, path
        assert cached.equals(_from_disk(path), check_metadata=True), path
    fresh = Workspace(ws.path)
    frame = fresh.load("staff")
    files.part_cache.clear()
    pd.testing.assert_frame_equal(fresh.load("staff"), frame, check_exact=True)


def test_a_file_replaced_on_disk_is_read_again(tmp_path: Path) -> None:
    target = tmp_path / "part.parquet"
    files.write_parquet_atomic(pa.table({"a": ["旧"]}), target)
    assert files.read_parquet(target)["a"].to_pylist() == ["旧"]
    # another process writes the file anew (another inode), as a re-import would
    pq.write_table(pa.table({"a": ["新", "新"]}), tmp_path / "other.parquet")
    os.replace(tmp_path / "other.parquet", target)
    assert files.read_parquet(target)["a"].to_pylist() == ["新", "新"]


def test_a_damaged_or_missing_file_is_still_an_error(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.import_files("staff", [staff_book(tmp_path / "s.xlsx", "H001")])
    part = ws.path / "data" / "staff" / "H001" / "1.parquet"
    assert len(ws.load("staff")) == 1  # in memory now
    part.write_bytes(b"not parquet")  # changed in place: another size and time
    with pytest.raises(CwdxError, match="data/staff/H001/1.parquet 缺失或已损坏"):
        ws.load("staff")
    part.unlink()
    with pytest.raises(CwdxError, match="缺失或已损坏"):
        ws.load("staff")


def test_the_cache_keeps_at_most_its_capacity_least_recent_out() -> None:
    table = pa.table({"a": pa.array(range(1000), pa.int64())})  # 8,000 bytes
    cache = files.PartCache(capacity=20_000)
    cache.put((str(1), 0, 1, 0, 0, 0), table)
    cache.put((str(2), 0, 2, 0, 0, 0), table)
    assert cache.get((str(1), 0, 1, 0, 0, 0)) is table  # 1 is now the most recent
    cache.put((str(3), 0, 3, 0, 0, 0), table)
    assert cache.size == 16_000
    assert cache.get((str(2), 0, 2, 0, 0, 0)) is None
    assert (
        cache.get((str(1), 0, 1, 0, 0, 0)) is table and cache.get((str(3), 0, 3, 0, 0, 0)) is table
    )
    cache.put(
        (str(4), 0, 4, 0, 0, 0), pa.table({"a": pa.array(range(2000), pa.int64())})
    )  # over half
    assert cache.get((str(4), 0, 4, 0, 0, 0)) is None and cache.size == 16_000
    assert files.PartCache(capacity=0).get(("1", 0, 1, 0, 0, 0)) is None


def test_a_written_slice_does_not_keep_its_whole_file_in_memory(tmp_path: Path) -> None:
    n = 50_000
    rows = pa.Table.from_pandas(
        pd.DataFrame(
            {
                "a": pd.array([f"第{i}行" if i % 7 else None for i in range(n)], dtype="string"),
                "n": range(n),
                "x": [i / 3 for i in range(n)],
                "ok": [i % 2 == 0 for i in range(n)],
                "t": pd.date_range("2020-01-01", periods=n, freq="h"),
            }
        ),
        preserve_index=False,
    )
    part = pa.concat_tables([rows.slice(10, 5), rows.slice(40_000, 3)])  # two chunks
    files.write_parquet_atomic(part, tmp_path / "part.parquet")
    cached = files.part_cache.get(
        files.file_key(tmp_path / "part.parquet", os.stat(tmp_path / "part.parquet"))
    )
    assert cached is not None and cached.equals(part, check_metadata=True)
    assert cached.equals(_from_disk(tmp_path / "part.parquet"), check_metadata=True)
    assert cached.get_total_buffer_size() < 2_000 < rows.get_total_buffer_size() // 100


def test_a_file_just_changed_by_another_process_is_read_but_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's file younger than the file system's clock tick could be rewritten
    within the same timestamp (same inode reused, same size): it is not kept. The wait is
    RACY_NS (2 s) where the times are whole seconds, FINE_RACY_NS where they are finer."""
    target = tmp_path / "part.parquet"
    pq.write_table(pa.table({"a": ["甲"]}), target)  # not this process's write_parquet_atomic
    assert files.read_parquet(target)["a"].to_pylist() == ["甲"]
    assert files.part_cache.size == 0
    monkeypatch.setattr(files, "RACY_NS", 0)  # as if it had been written long ago
    monkeypatch.setattr(files, "FINE_RACY_NS", 0)
    files.read_parquet(target)
    assert files.part_cache.get(files.file_key(target, os.stat(target))) is not None
    fine = os.stat(target)
    monkeypatch.undo()  # the real windows again
    assert (files.RACY_NS, files.FINE_RACY_NS) == (2_000_000_000, 100_000_000)

    def with_times(mtime_ns: int, ctime_ns: int) -> os.stat_result:
        seconds = (5.0, mtime_ns / 1e9, ctime_ns / 1e9)
        return os.stat_result((*fine[:7], 5, 7, 9, *seconds, 5_000_000_000, mtime_ns, ctime_ns))

    # whole seconds (a coarse file system): 2 s; a fraction of a second: FINE_RACY_NS
    assert files.racy_ns(with_times(7_000_000_000, 9_000_000_000)) == 2_000_000_000
    fine_ns = with_times(7_000_000_001, 9_000_000_000)
    assert files.racy_ns(fine_ns) == files.FINE_RACY_NS


def test_a_kept_table_does_not_share_the_numbers_of_the_saved_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame({"org": ["H1", "H2"], "value": [1.5, 2.5], "n": [1, 2]})
    target = tmp_path / "results.parquet"
    files.write_parquet_atomic(files.any_frame_to_arrow(frame), target)
    frame.loc[0, "value"] = 999.0
    frame.loc[0, "n"] = 777
    cached = files.read_parquet(target)
    assert cached.to_pydict() == {"org": ["H1", "H2"], "value": [1.5, 2.5], "n": [1, 2]}
    assert cached.equals(_from_disk(target))


def test_a_renamed_file_keeps_its_table_under_the_new_name(tmp_path: Path) -> None:
    staged, final = tmp_path / ".1.parquet.staged", tmp_path / "1.parquet"
    files.write_parquet_atomic(pa.table({"a": ["乙"]}), staged)
    files.rename_stored(staged, final)  # as the import does
    kept = files.part_cache.get(files.file_key(final, os.stat(final)))
    assert kept is not None and kept["a"].to_pylist() == ["乙"]
    assert files.part_cache.size == kept.get_total_buffer_size()  # the staged entry is gone


def test_parts_of_an_earlier_version_read_the_same(tmp_path: Path) -> None:
    """Rows are stored LZ4-compressed with their text as ``large_string``; a workspace whose
    parts an earlier version wrote (zstd, ``string``) reads the same frames, old and new parts
    mixed in one load."""
    ws = Workspace(tmp_path / "ws")
    ws.import_files("cases", [case_book(tmp_path / "c1.xlsx", "H001", "H002")])
    ws.import_files("cases", [case_book(tmp_path / "c2.xlsx", "H001")])
    parts = sorted((ws.path / "data" / "cases").rglob("*.parquet"))
    assert len(parts) == 3
    new = pq.ParquetFile(parts[0])
    assert new.metadata.row_group(0).column(0).compression in ("LZ4", "LZ4_RAW")
    assert new.schema_arrow.field("组织机构代码").type == pa.large_string()
    before = ws.load("cases")
    for part in parts[:2]:  # as an earlier version wrote them
        table = pq.read_table(part)
        old = table.cast(
            pa.schema(
                [
                    f.with_type(pa.string()) if f.type == pa.large_string() else f
                    for f in table.schema
                ],
                metadata=table.schema.metadata,
            )
        )
        pq.write_table(old, part, compression="zstd")
    files.part_cache.clear()
    pd.testing.assert_frame_equal(Workspace(ws.path).load("cases"), before, check_exact=True)
