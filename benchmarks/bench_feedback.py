"""Feedback export benchmark: one institution with many findings (on demand, not in pytest).

    .venv/bin/python benchmarks/bench_feedback.py make WS [--rows 300000] [--per-row 5]
    /usr/bin/time -v .venv/bin/python benchmarks/bench_feedback.py export WS OUT

``make`` builds a workspace with one checked institution (BENCH001) whose stored case rows are
replaced by ``--rows`` synthetic rows and whose stored finding table by ``--per-row`` findings
per row (empty important fields, bad codes…: ``rows × per-row`` findings in all). ``export``
runs :func:`cwdx.feedback.export_feedback` and prints its wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

ORG = "BENCH001"
#: (rule_id, severity, column, message, cells) of the synthetic findings, cycled per row.
KINDS = (
    (
        "W08",
        "warning",
        "入院途径",
        "“入院途径”为空，该字段用于指标计算，请尽量补充填写",
        "入院途径",
    ),
    ("W08", "warning", "职业", "“职业”为空，该字段用于指标计算，请尽量补充填写", "职业"),
    ("E16", "error", "性别", "“性别”不在规定取值范围内（RC001），请改为列表中的代码", "性别"),
    ("W04", "warning", "", "主要手术操作编码“X99”不在国临版3.0中，请更正编码", "主要手术操作编码"),
    ("W01", "warning", "", "“主治医师”为空，无法匹配到医师，请补充填写", "主治医师"),
    ("W06", "warning", "", "已填写手术操作编码，但主要手术操作术者为空，请补充填写术者", ""),
)


def make(ws_path: Path, rows: int, per_row: int) -> None:
    """Build the benchmark workspace (see the module docstring)."""
    from frames_helper import write_rows_xlsx

    from cwdx.check import check_workspace
    from cwdx.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        cases, staff = Path(tmp) / "病案首页.xlsx", Path(tmp) / "申报人员.xlsx"
        write_rows_xlsx(cases, "cases", [{"组织机构代码": ORG}])
        write_rows_xlsx(staff, "staff", [{"组织机构代码": ORG}])
        ws = Workspace(ws_path)
        ws.import_files("cases", [cases])
        ws.import_files("staff", [staff])
    check_workspace(ws)
    with ws._connect() as con:  # the benchmark swaps stored files in place
        part = con.execute(
            "SELECT p.path FROM parts p JOIN imports m ON m.id = p.import_id WHERE m.tbl = 'cases'"
        ).fetchone()[0]
        findings_path = con.execute("SELECT findings_path FROM checks").fetchone()[0]
    one = pq.read_table(ws_path / part)
    data = one.take(pa.array(np.zeros(rows, dtype="int64")))
    data = data.set_column(
        data.schema.get_field_index("_row"), "_row", pa.array(np.arange(2, rows + 2))
    )
    pq.write_table(data, ws_path / part, compression="zstd")

    n = rows * per_row
    row_of = np.repeat(np.arange(2, rows + 2), per_row)
    kind = np.arange(n) % len(KINDS)
    pick = [np.array([k[i] for k in KINDS], dtype=object)[kind] for i in range(5)]
    findings = pa.table(
        {
            "institution": pa.array(np.full(n, ORG, dtype=object), pa.string()),
            "table": pa.array(np.full(n, "cases", dtype=object), pa.string()),
            "rule_id": pa.array(pick[0], pa.string()),
            "severity": pa.array(pick[1], pa.string()),
            "excel_file": pa.array(np.full(n, "病案首页.xlsx", dtype=object), pa.string()),
            "excel_row": pa.array(row_of, pa.int64()),
            "column": pa.array(pick[2], pa.string()),
            "value": pa.array([f"值{i % 9973}" for i in range(n)], pa.string()),
            "message": pa.array(pick[3], pa.string()),
            "cells": pa.array(pick[4], pa.string()),
        }
    )
    pq.write_table(findings, ws_path / findings_path, compression="zstd")
    print(f"{ws_path}: {rows} case rows, {n} findings")


def export(ws_path: Path, out: Path) -> None:
    """Export the feedback of the benchmark workspace and print wall time and peak RSS."""
    from cwdx.feedback import export_feedback
    from cwdx.workspace import Workspace

    start = time.perf_counter()
    export_feedback(Workspace(ws_path), out)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"export_feedback: {wall:.1f} s, peak RSS {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_make = sub.add_parser("make")
    p_make.add_argument("ws", type=Path)
    p_make.add_argument("--rows", type=int, default=300_000)
    p_make.add_argument("--per-row", type=int, default=5)
    p_export = sub.add_parser("export")
    p_export.add_argument("ws", type=Path)
    p_export.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "make":
        make(args.ws, args.rows, args.per_row)
    else:
        export(args.ws, args.out)


if __name__ == "__main__":
    main()
