"""Benchmark: the 平台版 institution table with 1,000 institutions (issue 10, item 3).

Builds a workspace of N institutions cheaply (one case workbook and one staff workbook with one
row per institution, imported once), then times in one run:

- the yardstick: a bare fastexcel decode of the same case workbook;
- ``ws.institutions()`` (what every refresh reads);
- building the whole page (``PlatformApp``), which reads institutions and tasks;
- re-loading the table (a refresh after a task ended);
- the stage filter, a search, 全选, and switching the ticks to 计算 (each a Python pass over
  the rows plus one trait update);
- the size of the rows sent to the browser once (sorting and paging then run in the browser).

    python benchmarks/bench_platform_table.py [--orgs 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def build(folder: Path, orgs: int) -> Path:
    """A workspace of ``orgs`` institutions (one case and one applicant each)."""
    from ws_helper import case_row, staff_row, write_book

    from cwdx.workspace import Workspace

    ws = Workspace(folder / "ws")
    codes = [f"B{i:05d}" for i in range(orgs)]
    cases = write_book(
        folder / "cases.xlsx", "cases", [case_row(c, f"BA{i}") for i, c in enumerate(codes)]
    )
    staff = write_book(
        folder / "staff.xlsx",
        "staff",
        [staff_row(c, f"甲{i}", cert=f"C{i:06d}") for i, c in enumerate(codes)],
    )
    ws.import_files("cases", [cases])
    ws.import_files("staff", [staff])
    return folder / "cases.xlsx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import fastexcel

    from cwdx.workspace import Workspace
    from cwdx_widgets.platform import PlatformApp

    with tempfile.TemporaryDirectory(prefix="cwdx-bench-platform-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        book = build(folder, args.orgs)
        print(f"生成并导入 {args.orgs} 个机构：{time.perf_counter() - start:.1f} 秒（不计入）")
        ws = Workspace(folder / "ws", create=False)
        yard = _best(lambda: fastexcel.read_excel(str(book)).load_sheet(0).to_arrow(), args.repeat)
        app = PlatformApp(folder / "ws", user="bench")
        infos = ws.institutions()
        assert len(infos) == args.orgs, len(infos)
        table = app.table
        stages = ["已上传", "全部阶段"]
        rows: list[tuple[str, float]] = [
            ("ws.institutions()", _best(ws.institutions, args.repeat)),
            (
                "打开整个页面 PlatformApp(...)",
                _best(lambda: PlatformApp(folder / "ws", user="b"), 2),
            ),
            ("刷新表格 table.load(...)", _best(lambda: table.load(infos), args.repeat)),
            (
                "阶段筛选（两次切换）",
                _best(lambda: [setattr(table.stage, "v_model", s) for s in stages], args.repeat),
            ),
            (
                "搜索“B0099”再清空",
                _best(
                    lambda: [setattr(table.search, "v_model", s) for s in ("B0099", "")],
                    args.repeat,
                ),
            ),
            (
                "全选 + 全不选",
                _best(lambda: (table.tick_all(True), table.tick_all(False)), args.repeat),
            ),
            (
                "勾选用于计算 ↔ 检测",
                _best(
                    lambda: [
                        setattr(table.purpose, "v_model", p)
                        for p in ("计算", "检测、下载与数据操作")
                    ],
                    args.repeat,
                ),
            ),
        ]
        size = len(json.dumps(table.view.items, ensure_ascii=False).encode("utf-8"))
        print(f"基线：fastexcel 解码 {args.orgs} 行病案首页 {yard * 1000:.1f} 毫秒")
        for name, seconds in rows:
            print(f"{name:<32} {seconds * 1000:8.1f} 毫秒  {seconds / yard:6.2f}× 基线")
        print(
            f"发往浏览器的行数据：{len(table.view.items)} 行，{size / 1024:.0f} KB（排序、翻页在浏览器中进行）"
        )


if __name__ == "__main__":
    main()
