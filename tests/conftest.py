"""Shared pytest fixtures. Keep additive: several parts add helpers here."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import xlsxwriter


def write_xlsx(
    path: Path,
    rows: Sequence[Sequence[object]],
    sheet: str = "Sheet1",
    more_sheets: dict[str, Sequence[Sequence[object]]] | None = None,
    first_row: int = 0,
    first_col: int = 0,
) -> Path:
    """Write a small workbook cell by cell, keeping each cell's Excel type.

    ``str`` → text cell, ``int``/``float`` → number cell, ``datetime`` → date-time cell
    (``yyyy-mm-dd hh:mm:ss``), ``date`` → date cell (``yyyy-mm-dd``), ``bool`` → boolean,
    ``None`` → no cell. ``first_row``/``first_col`` shift the block (0-based).
    """
    book = xlsxwriter.Workbook(str(path))
    fmt_dt = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    fmt_d = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, content in [(sheet, rows), *(more_sheets or {}).items()]:
        ws = book.add_worksheet(name)
        for r, row in enumerate(content):
            for c, value in enumerate(row):
                rr, cc = r + first_row, c + first_col
                if value is None:
                    continue
                if isinstance(value, bool):
                    ws.write_boolean(rr, cc, value)
                elif isinstance(value, dt.datetime):
                    ws.write_datetime(rr, cc, value, fmt_dt)
                elif isinstance(value, dt.date):
                    ws.write_datetime(rr, cc, value, fmt_d)
                elif isinstance(value, int | float):
                    ws.write_number(rr, cc, value)
                else:
                    ws.write_string(rr, cc, str(value))
    book.close()
    return path


@pytest.fixture
def make_xlsx(tmp_path: Path) -> Callable[..., Path]:
    """``make_xlsx(name, rows, **kw)`` writes ``tmp_path/name`` with :func:`write_xlsx`."""

    def _make(name: str, rows: Sequence[Sequence[object]], **kwargs: object) -> Path:
        return write_xlsx(tmp_path / name, rows, **kwargs)  # type: ignore[arg-type]

    return _make


def pytest_configure(config: pytest.Config) -> None:
    """The parsed reference lists (``cwdx.reference.cache_dir``) are cached in a folder of
    this run, not the user's: set before any test module loads them."""
    if "CWDX_CACHE_DIR" not in os.environ:
        os.environ["CWDX_CACHE_DIR"] = tempfile.mkdtemp(prefix="cwdx-test-cache-")
        config.cwdx_cache_dir = os.environ["CWDX_CACHE_DIR"]  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the run's reference cache folder (when this run made it)."""
    folder = getattr(config, "cwdx_cache_dir", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("CWDX_CACHE_DIR", None)
