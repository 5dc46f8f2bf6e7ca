"""``summary.json`` (``outputs.md``): versions, inputs, institutions with all 29 counts, and
the applicants' indicators of every computed institution, for scripts."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cwdx import METRICS_VERSION, __version__
from cwdx.check import parse_failed_rules
from cwdx.rules import RULE_IDS
from cwdx.xlsx import atomic_path, staged_name

log = logging.getLogger("cwdx.summary")

SUMMARY_FILE = "summary.json"
#: Name of the stored results table holding one row per applicant (指标汇总).
RESULTS_TABLE = "指标汇总"


def json_value(value: Any) -> Any:
    """A JSON-ready scalar: NA/NaN/NaT → ``None``, numpy → Python, dates → ISO text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp | dt.datetime):
        if pd.isna(value):
            return None
        if (value.hour, value.minute, value.second) == (0, 0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return None if math.isnan(number) else number
    return str(value)


def results_records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One object per applicant row of a 指标汇总 table, keyed by its column names."""
    if frame is None or frame.empty:
        return []
    columns = [str(c) for c in frame.columns]
    return [
        {col: json_value(value) for col, value in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def build_summary(ws: Any) -> dict[str, Any]:
    """The ``summary.json`` document of a workspace (see ``outputs.md``)."""
    from cwdx.workspace import STAGE_COMPUTED

    inputs = []
    for record in ws.imported_files():
        item: dict[str, Any] = {
            "file": record.file,
            "table": record.table,
            "sha256": record.sha256,
            "rows": 0 if record.rejected else int(record.rows),
        }
        if record.rejected:
            item["rejected"] = record.rejected
        inputs.append(item)
    institutions = []
    results: list[dict[str, Any]] = []
    for info in ws.institutions():
        counts = dict.fromkeys(RULE_IDS, 0)
        counts.update({k: int(v) for k, v in (info.counts or {}).items() if k in counts})
        computed = info.stage == STAGE_COMPUTED
        institutions.append(
            {
                "org": info.org,
                "name": info.name or "",
                "cases": int(info.cases),
                "staff": int(info.staff),
                "checked": bool(info.checked),
                "passed": bool(info.passed),
                "computed": computed,
                "counts": counts,
                # every rule that crashed (a crashed rule fails the institution)
                "failed_rules": parse_failed_rules(info.failed_rules) if info.checked else {},
            }
        )
        if computed:
            tables = ws.load_results(info.org, [RESULTS_TABLE])
            results += results_records(tables.get(RESULTS_TABLE))
    return {
        "cwdx_version": __version__,
        "metrics_version": METRICS_VERSION,
        "inputs": inputs,
        "institutions": institutions,
        "results": results,
    }


def write_summary(ws: Any, out_dir: str | Path) -> Path:
    """Write ``out_dir/summary.json`` (UTF-8, Chinese kept readable) and return its path."""
    return write_summary_at(ws, Path(out_dir) / SUMMARY_FILE)


def write_summary_at(ws: Any, path: Path) -> Path:
    """Write the ``summary.json`` document of ``ws`` at ``path`` (via a temporary name)."""
    document = build_summary(ws)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    log.info(
        "summary.json：%d 个输入文件，%d 个机构，%d 位申报人员",
        len(document["inputs"]),
        len(document["institutions"]),
        len(document["results"]),
    )
    return path


@dataclass(frozen=True)
class SummaryPiece:
    """``summary.json`` of a workspace as a piece (picklable: handed to workers), written under
    its staged name in ``out_dir`` for the caller to rename."""

    workspace: str
    out_dir: str


def summary_piece(piece: SummaryPiece) -> list[tuple[str, str]]:
    """Write ``summary.json`` of ``piece`` (reading the workspace only) under its staged name;
    the ``(staged, final)`` pair, for :func:`~cwdx.xlsx.publish`."""
    from cwdx.workspace import Workspace

    final = Path(piece.out_dir) / SUMMARY_FILE
    staged = staged_name(final)
    write_summary_at(Workspace(piece.workspace, create=False, piece=True), staged)
    return [(str(staged), str(final))]
