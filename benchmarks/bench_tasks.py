"""Break-even of the dispatcher's local cluster: when do Dask workers pay for starting them?

    .venv/bin/python benchmarks/bench_tasks.py [--institutions 6] [--cases 2000] [--workers 2]

Generates a demo province (``cwdx demo``), imports it, then times in one run: the bare
sequential fastexcel decode of the case files (the yardstick), starting a ``LocalCluster`` of
``--workers`` worker processes, the check of every institution in this process
(``serial_map``), and the same check on the started cluster (``DaskMapper``). Prints seconds,
the ratio to the yardstick, seconds per 100,000 case rows of each check, and the break-even:
the case rows from which cluster start + parallel check beat the in-process check
(``CLUSTER_MIN_ROWS`` in ``cwdx/tasks/cluster.py`` is set from it, see docs/SCALING.md).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _decode(files: list[Path]) -> float:
    import fastexcel

    started = time.perf_counter()
    for path in files:
        fastexcel.read_excel(str(path)).load_sheet(0).to_arrow()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=6)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    from cwdx.check import check_workspace
    from cwdx.demo import write_demo
    from cwdx.fanout import serial_map
    from cwdx.tasks.cluster import DaskMapper
    from cwdx.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="cwdx-bench-tasks-"))
    try:
        write_demo(root / "demo", institutions=args.institutions, cases=args.cases, seed=5)
        cases = sorted((root / "demo").glob("*/病案首页数据-*.xlsx"))
        template = Workspace(root / "template")
        template.import_files("cases", cases)
        template.import_files("staff", sorted((root / "demo").glob("*/申报人员信息.xlsx")))
        rows = sum(info.cases for info in template.institutions())
        yardstick = _decode(cases)

        def timed_check(name: str, mapper) -> float:  # type: ignore[no-untyped-def]
            shutil.copytree(template.path, root / name)
            ws = Workspace(root / name)
            started = time.perf_counter()
            check_workspace(ws, mapper=mapper)
            return time.perf_counter() - started

        serial = timed_check("serial", serial_map)
        started = time.perf_counter()
        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        start_cost = time.perf_counter() - started
        try:
            parallel = timed_check("dask", DaskMapper(client))
        finally:
            client.close()
            cluster.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    per_row_serial, per_row_dask = serial / rows, parallel / rows
    print(f"数据：{args.institutions} 个机构 × {args.cases} 条病案 = {rows} 行")
    print(f"基准（fastexcel 顺序解码病案文件）：{yardstick:.2f} 秒")
    print(f"启动本机计算集群（{args.workers} 个工作进程）：{start_cost:.2f} 秒")
    for label, seconds in (("本进程检测", serial), (f"{args.workers} 个工作进程检测", parallel)):
        print(
            f"{label}：{seconds:.2f} 秒，基准的 {seconds / yardstick:.1f} 倍，"
            f"每 10 万行 {seconds / rows * 100_000:.1f} 秒"
        )
    if per_row_dask < per_row_serial:
        print(f"盈亏平衡：约 {start_cost / (per_row_serial - per_row_dask):,.0f} 行病案")
    else:
        print("盈亏平衡：工作进程在这一规模上没有更快（机器繁忙或数据太少）")
    return 0


if __name__ == "__main__":
    sys.exit(main())
