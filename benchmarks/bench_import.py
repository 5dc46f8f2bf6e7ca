"""Import benchmark: bare fastexcel decode vs. the full ``Workspace.import_files``.

Run on demand (not part of pytest)::

    /work/venv/bin/python benchmarks/bench_import.py [--rows 200000] [--cache /tmp/cwdx-bench]

Builds (or reuses from the cache folder) a case workbook of exactly ``--rows`` rows over the 73
template columns with the generator below (number, date and text cells as Excel types, codes
from ``reference/``, 20 institutions, sparse surgery and other-diagnosis columns). Then, in the same run, times the bare decode of
the first sheet with fastexcel (what any reader must pay) and the full import into a fresh
workspace (decode + normalisation + attribution + Parquet + SQLite), and prints rows/s and the
ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import fastexcel
import xlsxwriter

from cwdx.reference import load_reference
from cwdx.workspace import Workspace

NAMES = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨磊",
    "赵敏",
    "黄勇",
    "周杰",
    "吴霞",
    "徐亮",
    "孙丽",
]


def _generate(path: Path, rows: int, seed: int = 1) -> None:
    """A case workbook of ``rows`` rows with every template column, realistically filled."""
    ref = load_reference()
    specs = ref.columns("cases")
    rng = random.Random(seed)
    icd10 = sorted(ref.icd10)[:5000]
    icd9 = sorted(ref.icd9)[:3000]
    orgs = [f"H{n:04d}" for n in range(1, 21)]
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("病案首页")
    fmt_date = book.add_format({"num_format": "yyyy-mm-dd"})
    fmt_time = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for c, spec in enumerate(specs):
        sheet.write_string(0, c, spec.name)
    base = dt.datetime(2018, 1, 1)
    for r in range(1, rows + 1):
        org = orgs[r % len(orgs)]
        admit = base + dt.timedelta(minutes=rng.randrange(0, 6 * 365 * 24 * 60))
        discharge = admit + dt.timedelta(days=rng.randrange(1, 30), hours=rng.randrange(0, 10))
        surgery = rng.random() < 0.4
        others = rng.randrange(0, 6)
        for c, spec in enumerate(specs):
            name = spec.name
            if name == "组织机构代码":
                sheet.write_string(r, c, org)
            elif name == "医疗机构名称":
                sheet.write_string(r, c, f"第{org[1:]}人民医院")
            elif name == "病案号":
                sheet.write_number(r, c, 100000 + r)
            elif name.startswith("出院其他诊断") or name.startswith("其他手术操作"):
                index = int("".join(ch for ch in name if ch.isdigit()) or 0)
                limit = (
                    others if name.startswith("出院其他诊断") else (others // 2 if surgery else 0)
                )
                if index > limit:
                    continue
                _cell(sheet, r, c, spec, rng, icd10, icd9, ref, admit, fmt_date, fmt_time)
            elif name.startswith("主要手术操作") and not surgery:
                continue
            elif name == "入院时间":
                sheet.write_datetime(r, c, admit, fmt_time)
            elif name == "出院时间":
                sheet.write_datetime(r, c, discharge, fmt_time)
            elif name == "实际住院（天）":
                sheet.write_number(r, c, (discharge - admit).days)
            else:
                _cell(sheet, r, c, spec, rng, icd10, icd9, ref, admit, fmt_date, fmt_time)
    book.close()


def _cell(sheet, r, c, spec, rng, icd10, icd9, ref, when, fmt_date, fmt_time) -> None:  # noqa: ANN001
    if spec.type == "name":
        sheet.write_string(r, c, rng.choice(NAMES))
    elif spec.type == "code":
        if spec.domain == "ICD10-NC2":
            sheet.write_string(r, c, rng.choice(icd10))
        elif spec.domain == "ICD9CM3-NC3":
            sheet.write_string(r, c, rng.choice(icd9))
        else:
            codes = sorted(ref.domains.get(spec.domain, {"1": ""}))
            code = rng.choice(codes)
            if code.isdigit():
                sheet.write_number(r, c, int(code))
            else:
                sheet.write_string(r, c, code)
    elif spec.type == "int":
        sheet.write_number(r, c, rng.randrange(1, 90))
    elif spec.type == "decimal":
        sheet.write_number(r, c, round(rng.uniform(1000, 90000), 2))
    elif spec.type == "date":
        sheet.write_datetime(
            r,
            c,
            dt.datetime(rng.randrange(1940, 2010), 1 + rng.randrange(12), 1 + rng.randrange(28)),
            fmt_date,
        )
    elif spec.type == "datetime":
        sheet.write_datetime(r, c, when + dt.timedelta(hours=rng.randrange(1, 72)), fmt_time)
    else:
        sheet.write_string(r, c, f"{spec.name[:4]}{rng.randrange(1000)}")


def build(cache: Path, rows: int) -> Path:
    """The benchmark workbook in ``cache`` (built once per row count)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"cases-{rows}.xlsx"
    if path.exists():
        return path
    started = time.perf_counter()
    tmp = path.with_suffix(".tmp.xlsx")
    _generate(tmp, rows)
    tmp.rename(path)
    print(
        f"生成 {path}（{rows} 行，{path.stat().st_size / 1e6:.1f} MB），用时 {time.perf_counter() - started:.1f} 秒"
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="导入性能基准")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1, help="重复次数，取每项的最短用时")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cwdx-bench")
    args = parser.parse_args(argv)
    book = build(args.cache, args.rows)
    load_reference()

    from cwdx.reader import read_workbook

    def decode_once() -> int:
        sheet = fastexcel.read_excel(book).load_sheet(0, header_row=None, dtypes="string")
        return sheet.to_arrow().num_rows - 1

    def read_once() -> None:
        result = read_workbook(book, "cases")
        assert result.ok, result.rejected

    def import_once() -> tuple[Any, int, float]:
        folder = Path(tempfile.mkdtemp(prefix="cwdx-bench-ws-"))
        try:
            ws = Workspace(folder / "ws")
            [outcome] = ws.import_files("cases", [book])
            assert outcome.ok, outcome.rejected
            started = time.perf_counter()
            loaded = len(ws.load("cases"))
            return outcome, loaded, time.perf_counter() - started
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # Interleaved repeats; the minimum of each is the least disturbed by other load.
    decode = reader = full = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        rows = decode_once()
        decode = min(decode, time.perf_counter() - started)
        started = time.perf_counter()
        read_once()
        reader = min(reader, time.perf_counter() - started)
        started = time.perf_counter()
        outcome, loaded, load = import_once()
        full = min(full, time.perf_counter() - started - load)

    print(f"文件：{book.name}，{rows} 行 × 73 列，{book.stat().st_size / 1e6:.1f} MB")
    print(f"fastexcel 解码：{decode:.2f} 秒，{rows / decode:,.0f} 行/秒")
    print(f"读取与规范化（read_workbook）：{reader:.2f} 秒，{rows / reader:,.0f} 行/秒")
    print(
        f"完整导入：      {full:.2f} 秒，{outcome.rows / full:,.0f} 行/秒（{len(outcome.org_rows)} 个机构）"
    )
    print(
        f"导入/解码 比值：{full / decode:.2f}；工作区自身开销（导入 − 读取）：{full - reader:.2f} 秒"
    )
    print(f"从工作区读取全部 {loaded} 行：{load:.2f} 秒")
    return 0


if __name__ == "__main__":
    sys.exit(main())
