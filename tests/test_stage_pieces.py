"""Compute and export over many institutions: one pass split per institution, and the pieces
handed to a :data:`cwdx.fanout.Mapper` (pickled, as a Dask worker would receive them)."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from ws_helper import case_row, staff_row, write_book

from cwdx import feedback, results
from cwdx.check import check_workspace
from cwdx.demo import write_demo
from cwdx.errors import CwdxError
from cwdx.fanout import cut_batches
from cwdx.metrics import compute
from cwdx.metrics.indicators import compute_institution, compute_institutions
from cwdx.reference import load_reference
from cwdx.workspace import STAGE_COMPUTED, Workspace

SURGERY = {
    "主要手术操作编码": "36.0600",
    "主要手术操作级别": "4",
    "主要手术操作术者": "张三",
    "主要手术操作Ⅰ助": "李四",
}


class PicklingMapper:
    """Runs each piece after a pickle round trip of the function, the piece and its result
    (what crossing to a worker process does), and records the pieces."""

    def __init__(self) -> None:
        self.pieces: list[Any] = []

    def __call__(self, function: Callable[[Any], Any], pieces: Sequence[Any]) -> list[Any]:
        out = []
        for piece in pieces:
            self.pieces.append(piece)
            run = pickle.loads(pickle.dumps(function))
            out.append(pickle.loads(pickle.dumps(run(pickle.loads(pickle.dumps(piece))))))
        return out


def _two_passing(folder: Path) -> Workspace:
    """H001 and H003 pass their check, H002 fails it (empty 病案号)."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = write_book(
        folder / "病案.xlsx",
        "cases",
        [
            case_row("H001", "B1", **{"实际住院（天）": "9"}),
            case_row("H003", "C1", **{"实际住院（天）": "3", "住院总费用": "12.5"}),
            case_row("H001", "B2", **{"实际住院（天）": "4", "住院总费用": "100", **SURGERY}),
            case_row("H002", None),
            case_row("H003", "C2", **{"住院总费用": "7.25", **SURGERY}),
        ],
    )
    staff = write_book(
        folder / "人员.xlsx",
        "staff",
        [
            staff_row("H003", "张三", cert="C5"),
            staff_row("H001", "张三"),
            staff_row("H001", "赵六", cert="C2", 人员类别="2", 申报专业="内科护理"),
            staff_row("H002", "张三", cert="C4"),
            staff_row("H003", "李四", cert="C6"),
        ],
    )
    ws = Workspace(folder / "ws")
    ws.import_files("cases", [cases])
    ws.import_files("staff", [staff])
    check_workspace(ws)
    return ws


def _cells(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}
    finally:
        book.close()


def _without_time(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [row for row in rows if row and row[0] != "计算时间"]


def test_one_pass_equals_each_institution_alone(tmp_path):
    """Three demo institutions (two with planted problems of every rule: unmatched applicants,
    W09 copies, bad codes) computed together give exactly their tables computed alone."""
    write_demo(tmp_path / "demo", institutions=3, cases=300)
    ws = Workspace(tmp_path / "ws")
    ws.import_files("cases", sorted((tmp_path / "demo").glob("*/病案首页数据-*.xlsx")))
    ws.import_files("staff", sorted((tmp_path / "demo").glob("*/申报人员信息.xlsx")))
    orgs = [info.org for info in ws.institutions()]
    assert len(orgs) == 3
    reference = load_reference()
    together = compute_institutions(
        ws.load("cases", orgs), ws.load("staff", orgs), orgs, reference, case_list=True
    )
    assert list(together) == orgs
    for org in orgs:
        alone = compute_institution(
            ws.load("cases", [org]), ws.load("staff", [org]), reference, case_list=True
        )
        assert together[org].org == alone.org == org
        assert len(alone.summary) > 0 and len(alone.case_list) > 0
        for name in ("summary", "diseases", "procedures", "years", "case_list"):
            pd.testing.assert_frame_equal(getattr(together[org], name), getattr(alone, name))


def test_compute_workspace_through_a_mapper_stores_what_serial_stores(tmp_path, monkeypatch):
    serial = _two_passing(tmp_path / "a")
    mapped = _two_passing(tmp_path / "b")
    compute.compute_workspace(serial)
    monkeypatch.setattr(compute, "BATCH_ROWS", 1)  # every institution a batch of its own
    mapper = PicklingMapper()
    progress: list[tuple[int, int, str]] = []
    done = compute.compute_workspace(
        mapped, mapper=mapper, on_progress=lambda *a: progress.append(a)
    )
    assert [piece.orgs for piece in mapper.pieces] == [("H001",), ("H003",)]
    assert list(done) == ["H001", "H003"]
    assert progress == [(0, 2, "计算 H001"), (1, 2, "计算 H003"), (2, 2, "计算完成")]
    for org in ("H001", "H003"):
        assert mapped.institution(org).stage == STAGE_COMPUTED
        want, got = serial.load_results(org), mapped.load_results(org)
        assert list(got) == list(want)
        for name in want:
            if name == "口径信息":  # 计算时间 and the import ids' file paths differ
                assert got[name]["类别"].tolist() == want[name]["类别"].tolist()
                continue
            pd.testing.assert_frame_equal(got[name], want[name])
    # one batch for both when they fit: H001 and H003 computed in one pass
    assert cut_batches([("H001", 2), ("H003", 2)], 4) == [("H001", "H003")]
    assert cut_batches([("A", 5), ("B", 1), ("C", 1)], 4) == [("A",), ("B", "C")]


def test_exports_through_a_mapper_write_what_serial_writes(tmp_path, monkeypatch):
    ws = _two_passing(tmp_path)
    compute.compute_workspace(ws)
    serial_fb = feedback.export_feedback(ws, tmp_path / "s")
    serial_res = results.export_results(ws, tmp_path / "s")
    monkeypatch.setattr(feedback, "EXPORT_BATCH", 2)
    mapper = PicklingMapper()
    mapped_fb = feedback.export_feedback(ws, tmp_path / "m", mapper=mapper)
    monkeypatch.setattr(feedback, "EXPORT_BATCH", 1)
    mapped_res = results.export_results(ws, tmp_path / "m", mapper=mapper)
    assert [type(p).__name__ for p in mapper.pieces] == [
        "FeedbackPiece",
        "FeedbackPiece",
        "ResultsPiece",
        "ResultsPiece",
        "ResultsPiece",
    ]
    orgs = [("H001", "H002"), ("H003",), ("H001",), ("H003",), ()]
    assert [p.orgs for p in mapper.pieces] == orgs
    # the top workbook of all institutions is a piece of its own, the last
    assert [p.together for p in mapper.pieces[2:]] == [(), (), ("H001", "H003")]
    rel = [p.relative_to(tmp_path / "s") for p in serial_fb + serial_res]
    assert [p.relative_to(tmp_path / "m") for p in mapped_fb + mapped_res] == rel
    assert "H002/申报人员反馈表.xlsx" in {p.as_posix() for p in rel}
    for path in rel:
        if path.suffix != ".xlsx":
            continue
        want, got = _cells(tmp_path / "s" / path), _cells(tmp_path / "m" / path)
        assert list(got) == list(want)
        for sheet in want:
            assert _without_time(got[sheet]) == _without_time(want[sheet]), (path, sheet)
    leftovers = [p.name for p in (tmp_path / "m").rglob(".*")]
    assert leftovers == []


def test_failed_piece_leaves_no_workbook_and_no_staged_file(tmp_path, monkeypatch):
    ws = _two_passing(tmp_path)
    compute.compute_workspace(ws)
    real = results.write_results_workbook

    def fails_on_h003(path: Path, tables: Sequence[dict[str, pd.DataFrame]]) -> Path:
        if "H003" in str(path):
            raise OSError(28, "No space left on device")
        return real(path, tables)

    monkeypatch.setattr(results, "write_results_workbook", fails_on_h003)
    out = tmp_path / "out"
    with pytest.raises(OSError):
        results.export_results(ws, out, mapper=PicklingMapper())
    with pytest.raises(OSError):
        results.export_results(ws, out)
    # one piece held H001 and H003: its staged H001 workbook was removed, nothing renamed
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == []


def test_a_computation_that_stops_part_way_leaves_no_staged_tables(tmp_path, monkeypatch):
    """Every piece staged its tables (as helpers or workers would, all at once), then saving
    the second institution fails: the first stays computed, the second as it was, and no
    staged table is left in the workspace."""
    ws = _two_passing(tmp_path)
    monkeypatch.setattr(compute, "BATCH_ROWS", 1)  # every institution a batch of its own
    real_save = ws.save_results

    def full_on_h003(org: str, *args: Any) -> None:
        if org == "H003":
            raise OSError(28, "No space left on device")
        real_save(org, *args)

    monkeypatch.setattr(ws, "save_results", full_on_h003)
    with pytest.raises(CwdxError, match="磁盘空间不足"):
        compute.compute_workspace(ws, mapper=PicklingMapper())
    assert ws.institution("H001").stage == STAGE_COMPUTED
    assert ws.institution("H003").stage != STAGE_COMPUTED
    assert [p.name for p in (ws.path / "results").rglob(".*")] == []
