"""Compare a new set of reference lists with the shipped ones before replacing them.

``python tools/compare_reference.py NEW_FOLDER`` prints, for every file of either folder,
whether it is identical, and for a CSV that differs: the columns, the row count, and per column
how many rows changed. The exit status is 0 when only the columns named by ``--free`` (default
``source`` and ``note``, which carry provenance, not codes) differ and no file is new or
missing; otherwise 1, so a refresh that changes codes cannot be copied in by accident.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from cwdx.resources import reference_dir


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def compare_csv(old: Path, new: Path, free: set[str]) -> tuple[bool, list[str]]:
    """(only free columns differ, report lines) for one CSV present in both folders."""
    a, b = _rows(old), _rows(new)
    if a[0] != b[0]:
        return False, [f"  columns differ: {a[0]} -> {b[0]}"]
    if len(a) != len(b):
        return False, [f"  rows differ: {len(a) - 1} -> {len(b) - 1}"]
    changed = {name: 0 for name in a[0]}
    for row_a, row_b in zip(a[1:], b[1:], strict=True):
        for name, x, y in zip(a[0], row_a, row_b, strict=True):
            changed[name] += x != y
    lines = [f"  {name}: {n} rows changed" for name, n in changed.items() if n]
    return all(name in free for name, n in changed.items() if n), lines


def main(argv: list[str] | None = None) -> int:
    """Print the comparison; 0 when only the free columns differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new", type=Path, help="folder with the new reference files")
    parser.add_argument("--old", type=Path, default=reference_dir(), help="shipped lists")
    parser.add_argument("--free", nargs="*", default=["source", "note"])
    args = parser.parse_args(argv)
    ok = True
    names = sorted({p.name for p in args.old.iterdir()} | {p.name for p in args.new.iterdir()})
    for name in names:
        old, new = args.old / name, args.new / name
        if not old.exists() or not new.exists():
            print(f"{name}: only in {'new' if new.exists() else 'old'}")
            ok = False
        elif old.read_bytes() == new.read_bytes():
            print(f"{name}: identical")
        elif name.endswith(".csv"):
            same_codes, lines = compare_csv(old, new, set(args.free))
            print(f"{name}: differs ({'only ' + '/'.join(args.free) if same_codes else 'CODES'})")
            print("\n".join(lines))
            ok = ok and same_codes
        else:
            print(f"{name}: text differs")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
