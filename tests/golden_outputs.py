"""Golden outputs of ``cwdx run`` on demo data: every workbook's cell values and ``summary.json``.

The reshape and speed work must leave what users get unchanged. :func:`digest_run` runs the
whole pipeline on a small fixed demo province and reduces each output to a digest per
worksheet (cell values, timestamps and the run's folder masked); ``test_golden.py`` compares
that with ``run_outputs.json``. After an intended change of the outputs, regenerate it with
``python tests/golden_outputs.py --update`` and say why in the commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import openpyxl

from cwdx.cli import main
from cwdx.demo import write_demo

GOLDEN_FILE = Path(__file__).parent / "golden" / "run_outputs.json"
DEMO_ARGS = {"institutions": 3, "cases": 300, "seed": 20261202}

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)?")


def _plain(value: Any, root: str) -> Any:
    """A cell or JSON value with the run's folder and wall-clock timestamps masked."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return _TIMESTAMP.sub("<时间>", value.replace(root, "<目录>"))
    if isinstance(value, dict):
        return {k: _plain(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, root) for v in value]
    return value


def _sheet_digest(rows: list[list[Any]]) -> str:
    text = json.dumps(rows, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def workbook_values(path: Path | str, root: str = "\0") -> dict[str, list[list[Any]]]:
    """``{sheet: rows of cell values}`` of a workbook, with ``root`` (a folder) and wall-clock
    timestamps masked: what comparing two workbooks cell by cell looks at."""
    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        return {
            sheet.title: [
                [_plain(v, root) for v in row] for row in sheet.iter_rows(values_only=True)
            ]
            for sheet in book.worksheets
        }
    finally:
        book.close()


def digest_outputs(out: Path) -> dict[str, Any]:
    """``{relative file: {sheet: {"rows": n, "sha256": …}}}`` plus ``summary.json`` masked."""
    root = str(out.parent)
    digest: dict[str, Any] = {}
    for path in sorted(out.rglob("*.xlsx")):
        rel = path.relative_to(out).as_posix()
        if rel.startswith("."):
            continue
        digest[rel] = {
            title: {"rows": len(rows), "sha256": _sheet_digest(rows)}
            for title, rows in workbook_values(path, root).items()
        }
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    digest["summary.json"] = _plain(summary, root)
    return digest


def digest_run(work: Path) -> dict[str, Any]:
    """Write the demo province into ``work``, run ``cwdx run`` on it, and digest the outputs."""
    data = work / "demo"
    write_demo(data, **DEMO_ARGS)
    cases = sorted(str(p) for p in data.glob("*/病案首页数据-*.xlsx"))
    staff = sorted(str(p) for p in data.glob("*/申报人员信息.xlsx"))
    out = work / "out"
    status = main(["run", "--cases", *cases, "--staff", *staff, "--out", str(out), "--quiet"])
    digest = digest_outputs(out)
    digest["exit_status"] = status
    return digest


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable lines naming each output (file, sheet, summary key) that differs."""
    lines = []
    for key in sorted(set(expected) | set(actual)):
        old, new = expected.get(key), actual.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key != "summary.json":
            for sheet in sorted(set(old) | set(new)):
                if old.get(sheet) != new.get(sheet):
                    lines.append(f"{key} / {sheet}: {old.get(sheet)} -> {new.get(sheet)}")
        elif isinstance(old, dict) and isinstance(new, dict):
            for part in sorted(set(old) | set(new)):
                if old.get(part) != new.get(part):
                    lines.append(f"summary.json / {part} differs")
        else:
            lines.append(f"{key}: {old!r} -> {new!r}")
    return lines


if __name__ == "__main__":
    import tempfile

    if "--update" not in sys.argv:
        sys.exit("usage: python tests/golden_outputs.py --update")
    with tempfile.TemporaryDirectory() as tmp:
        result = digest_run(Path(tmp))
    GOLDEN_FILE.write_text(
        json.dumps(result, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {GOLDEN_FILE}")
