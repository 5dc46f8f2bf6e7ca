"""Guard benchmark: ``xlsx_guard.inspect_workbook`` per file against yardsticks of the same run.

Run on demand (not part of pytest)::

    .venv/bin/python benchmarks/bench_guard.py [--cases 5000] [--institutions 2] [--rounds 15]
        [--cache DIR] [--compare OLD_GUARD.py]

Writes (once, cached in ``--cache``) ``cwdx demo`` data with ``--cases`` case rows per
institution (two ``病案首页数据-*.xlsx`` of half as many rows each, and ``申报人员信息.xlsx``).
Then, in rounds (interleaved, so background load hits every measurement alike), times per file
in CPU time (``time.process_time``): the bare ``zipfile`` inflate of the first sheet and the
shared strings (what the guard reads), the fastexcel decode of the first sheet (what the import
does after the guard), and the guard; also on copies of the case files without ``<dimension>``
(the guard then reads every reference exactly). ``--compare FILE`` also times another version
of the guard module (for instance ``git show main:cwdx/xlsx_guard.py > /tmp/old_guard.py``) and
checks that both give the same verdict for every file. Prints the medians over the rounds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import fastexcel

from cwdx import xlsx_guard
from cwdx.demo import MANIFEST_FILE, write_demo


def demo_files(cache: Path, cases: int, institutions: int) -> tuple[list[Path], list[Path]]:
    """(case workbooks, staff workbooks) of a demo with ``cases`` rows per institution."""
    folder = cache / f"guard-demo-{institutions}x{cases}"
    if not (folder / MANIFEST_FILE).is_file():
        started = time.perf_counter()
        write_demo(folder, institutions=institutions, cases=cases)
        print(f"生成演示数据 {folder}，用时 {time.perf_counter() - started:.1f} 秒")
    cases = sorted(p for p in folder.glob("*/病案首页数据-*.xlsx") if "dimension" not in p.name)
    return cases, sorted(folder.glob("*/申报人员信息.xlsx"))


def without_dimension(path: Path) -> Path:
    """A copy of the workbook at ``path`` whose first sheet has no ``<dimension>`` (as some
    streaming writers leave it), so the guard reads every reference (built once)."""
    copy = path.with_name(f"{path.stem}-无dimension.xlsx")
    if not copy.is_file():
        with zipfile.ZipFile(path) as book, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as out:
            for info in book.infolist():
                data = book.read(info)
                if info.filename == "xl/worksheets/sheet1.xml":
                    data = re.sub(rb"<dimension [^>]*>", b"", data, count=1)
                out.writestr(info.filename, data)
    return copy


def inflate(path: Path) -> None:
    """Inflate the first sheet and the shared strings, as the guard reads them."""
    with zipfile.ZipFile(path) as book:
        for name in ("xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"):
            with book.open(name) as stream:
                while stream.read(xlsx_guard.CHUNK):
                    pass


def decode(path: Path) -> None:
    """Decode the first sheet with fastexcel, as the reader does."""
    fastexcel.read_excel(path).load_sheet(0, header_row=None, dtypes="string").to_arrow()


def load_module(path: Path) -> ModuleType:
    """Another version of the guard module, loaded from ``path``."""
    spec = importlib.util.spec_from_file_location("compared_guard", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def cpu_ms(function: Callable[[Path], object], files: list[Path]) -> float:
    """CPU milliseconds per file of ``function`` over ``files``."""
    started = time.process_time()
    for path in files:
        function(path)
    return (time.process_time() - started) * 1000 / len(files)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the numbers."""
    parser = argparse.ArgumentParser(description="xlsx_guard 性能基准")
    parser.add_argument("--cases", type=int, default=5000, help="每个机构的病案数")
    parser.add_argument("--institutions", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15, help="交替测量的轮数，取中位数")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cwdx-bench")
    parser.add_argument("--compare", type=Path, help="另一版本的 xlsx_guard.py，交替测量并比对结论")
    args = parser.parse_args(argv)
    cases, staff = demo_files(args.cache, args.cases, args.institutions)
    guards: dict[str, Callable[[Path], object]] = {"guard": xlsx_guard.inspect_workbook}
    if args.compare:
        other = load_module(args.compare)
        guards["compare"] = other.inspect_workbook
        for path in cases + [without_dimension(path) for path in cases] + staff:
            verdicts = {xlsx_guard.inspect_workbook(path), other.inspect_workbook(path)}
            assert len(verdicts) == 1, (path, verdicts)
    measures: dict[str, Callable[[Path], object]] = {"inflate": inflate, "decode": decode}
    measures.update(guards)
    load = os.getloadavg()[0]
    bare = [without_dimension(path) for path in cases]
    for label, files in (
        ("病案首页", cases),
        ("病案首页（去掉 <dimension>）", bare),
        ("申报人员", staff),
    ):
        timings: dict[str, list[float]] = {key: [] for key in measures}
        for _ in range(args.rounds):
            for key, function in measures.items():
                timings[key].append(cpu_ms(function, files))
        median = {key: statistics.median(values) for key, values in timings.items()}
        size = sum(p.stat().st_size for p in files) / len(files) / 1e3
        print(
            f"{label}：{len(files)} 个文件，平均 {size:.0f} KB；每个文件的 CPU 毫秒（{args.rounds} 轮中位数）"
        )
        print(f"  解压第一个 sheet 与共享字符串（基线）：{median['inflate']:7.2f}")
        print(f"  fastexcel 解码第一个 sheet：          {median['decode']:7.2f}")
        for key in guards:
            name = "本版 inspect_workbook" if key == "guard" else f"对比 {args.compare}"
            print(
                f"  {name}：{median[key]:7.2f}（解压的 {median[key] / median['inflate']:.2f} 倍，"
                f"解码的 {median[key] / median['decode']:.2f} 倍）"
            )
    print(
        f"机器：CPU 核数 {os.cpu_count()}，开始时负载 {load:.2f}，结束时 {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
