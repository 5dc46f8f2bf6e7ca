"""Import benchmark: bare fastexcel decode vs. the full ``Workspace.import_files``.

Run on demand (not part of pytest)::

    .venv/bin/python benchmarks/bench_import.py [--rows 200000] [--repeat 1] [--cache DIR]
        [--province DIR] [--workers N]

Writes (once, cached in ``--cache``) the ``cwdx demo`` data of one institution with ``--rows``
case rows, which the generator splits over two workbooks, ``病案首页数据-1.xlsx`` and ``-2.xlsx``;
``--province DIR`` takes instead every ``*/病案首页数据-*.xlsx`` of a ``bench_province.py`` cache
folder (``province-5000rows-seed…``: 40 files of 2,500 rows for the quick size).
Then, in the same run, times the bare decode of the files' first sheets with fastexcel (what
any reader must pay), cwdx's reader (decode + normalisation), and the full import into a fresh
workspace (reader + attribution + Parquet + SQLite), and prints rows/s and the ratios. With
``--workers N`` it also times the import with its decode pieces fanned out to N worker processes
(a ``ProcessPoolExecutor`` as the :mod:`cwdx.fanout` mapper, started inside the timing).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import fastexcel

from cwdx.demo import MANIFEST_FILE, read_manifest, write_demo
from cwdx.reader import read_workbook
from cwdx.reference import load_reference
from cwdx.workspace import Workspace


def demo_case_files(cache: Path, rows: int) -> list[Path]:
    """The case workbooks of a one-institution demo with ``rows`` case rows (built once)."""
    folder = cache / f"demo-{rows}"
    if not (folder / MANIFEST_FILE).is_file():
        started = time.perf_counter()
        shutil.rmtree(folder, ignore_errors=True)
        write_demo(folder, institutions=1, cases=rows)
        print(f"生成演示数据 {folder}（{rows} 行），用时 {time.perf_counter() - started:.1f} 秒")
    manifest = read_manifest(folder / MANIFEST_FILE)
    return [folder / name for name in manifest.institutions[0].case_files]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the numbers."""
    parser = argparse.ArgumentParser(description="导入性能基准")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1, help="重复次数，取每项的最短用时")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cwdx-bench")
    parser.add_argument("--province", type=Path, help="bench_province.py 的省份缓存文件夹")
    parser.add_argument("--workers", type=int, default=0, help="另测 N 个工作进程并行解码的导入")
    args = parser.parse_args(argv)
    if args.province:
        files = sorted(args.province.glob("*/病案首页数据-*.xlsx"))
        if not files:
            parser.error(f"{args.province} 中没有“机构/病案首页数据-*.xlsx”文件")
    else:
        files = demo_case_files(args.cache, args.rows)
    load_reference()

    def decode_once() -> int:
        rows = 0
        for path in files:
            sheet = fastexcel.read_excel(path).load_sheet(0, header_row=None, dtypes="string")
            rows += sheet.to_arrow().num_rows - 1
        return rows

    def read_once() -> None:
        for path in files:
            result = read_workbook(path, "cases")
            assert result.ok, result.rejected

    def import_once(workers: int = 0) -> int:
        folder = Path(tempfile.mkdtemp(prefix="cwdx-bench-ws-"))
        try:
            ws = Workspace(folder / "ws")
            if not workers:
                outcomes = ws.import_files("cases", files)
            else:
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(workers, mp_context=context) as pool:
                    outcomes = ws.import_files("cases", files, mapper=_PoolMapper(pool))
            assert all(o.ok for o in outcomes), [o.rejected for o in outcomes]
            return sum(o.rows for o in outcomes)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    timings: dict[str, list[float]] = {"decode": [], "read": [], "import": [], "workers": []}
    rows = imported = 0
    for _ in range(args.repeat):  # interleaved, so background load hits all three alike
        started = time.perf_counter()
        rows = decode_once()
        timings["decode"].append(time.perf_counter() - started)
        started = time.perf_counter()
        read_once()
        timings["read"].append(time.perf_counter() - started)
        started = time.perf_counter()
        imported = import_once()
        timings["import"].append(time.perf_counter() - started)
        if args.workers:
            started = time.perf_counter()
            import_once(args.workers)
            timings["workers"].append(time.perf_counter() - started)

    decode, read, full = (min(timings[k]) for k in ("decode", "read", "import"))
    load = os.getloadavg()[0]
    size = sum(p.stat().st_size for p in files) / 1e6
    print(f"cwdx demo 病案首页数据：{len(files)} 个文件，共 {rows} 行 × 73 列，{size:.1f} MB")
    print(f"机器：CPU 核数 {os.cpu_count()}，开始时负载 {load:.2f}")
    print(f"基线 fastexcel 解码：          {decode:6.2f} 秒，{rows / decode:10,.0f} 行/秒")
    print(f"读取与规范化（read_workbook）：{read:6.2f} 秒，{rows / read:10,.0f} 行/秒")
    print(f"完整导入（import_files）：     {full:6.2f} 秒，{imported / full:10,.0f} 行/秒")
    print(f"比值：读取/解码 {read / decode:.2f}，导入/解码 {full / decode:.2f}")
    if args.workers:
        fanned = min(timings["workers"])
        print(
            f"{args.workers} 个工作进程并行导入（含启动进程）：{fanned:6.2f} 秒，"
            f"{imported / fanned:10,.0f} 行/秒；导入/解码 {fanned / decode:.2f}"
        )
    return 0


class _PoolMapper:
    """A :mod:`cwdx.fanout` mapper over a process pool (pieces come back in input order)."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.pool = pool

    def __call__(self, function: Callable[[Any], Any], pieces: Sequence[Any]) -> Iterator[Any]:
        return self.pool.map(function, pieces)


if __name__ == "__main__":
    sys.exit(main())
