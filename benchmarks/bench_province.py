"""Province benchmark: every stage of a demo province, timed against a bare fastexcel decode.

Run on demand (``make bench`` runs the quick size)::

    .venv/bin/python benchmarks/bench_province.py [--size quick|full] [--scales 1,2,4]
        [--stages import,check,compute,export,run] [--repeat 1] [--cache DIR] [--seed N]

The province (quick: 20 institutions × 5,000 case rows; full: 200 × 10,000 = 2,000,000 rows) is
generated once with the ``cwdx demo`` generator into ``--cache`` (default ``~/.cache/cwdx-bench``);
generation time is printed but not counted. Scale k× has k times as many institutions of the same
size (the unit the engine hands to a worker), so the 2× and 4× provinces reuse the 1× files and a
worker's memory should stay flat while the time per row stays constant.

Before anything is timed, the ``cwdx`` package's modules are compiled to ``.pyc`` (as ``pip``
does when it installs a wheel), and every measured command, the yardstick too, runs without
``PYTHONDONTWRITEBYTECODE``: the numbers are those of an installed product, not of a source tree
that recompiles its modules at every start.

For each scale, in one run: the yardstick (sequential fastexcel decode of the same case and staff
files to Arrow), then each stage as its own ``cwdx`` command in a fresh workspace (``import cases``,
``import staff``, ``check``, ``compute``, ``export feedback``, ``export results``) and ``cwdx run``
end to end. Printed: seconds, CPU seconds, ratio to the yardstick, seconds per 100,000 case rows,
peak memory per process (one row per kind of process: today ``cwdx（单进程）``, or the main
process and its worker processes when a stage starts any), and the growth from 1× to the largest
scale, flagged when the time per row grows more than 1.3× or a process's peak memory does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from province_lib import (  # noqa: E402 - the helper module sits next to this script
    RUN_ARGV,
    Measurement,
    Province,
    argv_batches,
    compile_package,
    cwdx_command,
    measure,
    measure_yardstick,
    province,
)

import cwdx  # noqa: E402

#: --size: (institutions, case rows per institution)
SIZES = {"quick": (20, 5_000), "full": (200, 10_000)}
#: Growth beyond this factor (per-row time, or a process's peak memory) is flagged.
GROWTH_LIMIT = 1.3
YARDSTICK = "yardstick"


@dataclass(frozen=True)
class Step:
    """One measured ``cwdx`` command (or batch of commands) of the pipeline."""

    key: str
    group: str  # what --stages selects
    label: str
    #: exit codes that are not a failure: ``check``/``compute``/``run`` give 1 when an
    #: institution failed the check, which the planted institutions do by design
    accepted: tuple[int, ...] = (0,)


STEPS = (
    Step("import_cases", "import", "导入病案首页（import cases）"),
    Step("import_staff", "import", "导入申报人员（import staff）"),
    Step("check", "check", "数据检测（check）", (0, 1)),
    Step("compute", "compute", "指标计算（compute）", (0, 1)),
    Step("export_feedback", "export", "导出反馈表（export feedback）"),
    Step("export_results", "export", "导出计算结果（export results）"),
    Step("run", "run", "一键运行（cwdx run，端到端）", (0, 1)),
)
LABELS = {YARDSTICK: "基线：fastexcel 顺序解码", "stages": "分阶段合计"} | {
    s.key: s.label for s in STEPS
}
GROUPS = ("import", "check", "compute", "export", "run")


def step_commands(step: Step, prov: Province, ws: Path, out: Path) -> list[list[str]]:
    """The ``cwdx`` command lines of ``step`` (imports in batches that fit in one argv)."""
    cwdx_cmd = [*cwdx_command(), "--quiet"]
    on_ws = [*cwdx_cmd, "-w", str(ws)]
    if step.key in ("import_cases", "import_staff"):
        table, files = (
            ("cases", prov.case_files)
            if step.key == "import_cases"
            else ("staff", prov.staff_files)
        )
        return [[*on_ws, "import", table, *map(str, batch)] for batch in argv_batches(files)]
    if step.key in ("check", "compute"):
        return [[*on_ws, step.key]]
    if step.key.startswith("export_"):
        what = step.key.removeprefix("export_")
        return [[*on_ws, "export", what, str(out / what)]]
    cases, staff = map(str, prov.case_files), map(str, prov.staff_files)
    command = [*cwdx_cmd, "run", "--cases", *cases, "--staff", *staff, "--out", str(out / "run")]
    if sum(len(os.fsencode(arg)) + 1 for arg in command) > RUN_ARGV:
        raise SystemExit(
            f"一键运行的参数超过 {RUN_ARGV} 字节（{len(prov.case_files)} 个病案文件），"
            "请用 --stages 去掉 run 或换一个路径更短的 --cache。"
        )
    return [command]


def run_scale(prov: Province, steps: list[Step], work: Path, log: Path) -> dict[str, Measurement]:
    """One pass over a province: the yardstick, then ``steps`` in a fresh workspace (the
    commands' output is appended to ``log``)."""
    results = {YARDSTICK: measure_yardstick(prov.case_files + prov.staff_files, log)}
    folder = Path(tempfile.mkdtemp(prefix="pass-", dir=work))
    try:
        for step in steps:
            total = Measurement()
            for command in step_commands(step, prov, folder / "ws", folder / "out"):
                done = measure(command, log)
                total.add(done)
                if done.exit_codes[-1] not in step.accepted:
                    raise SystemExit(
                        f"“{step.label}”意外失败（退出码 {done.exit_codes[-1]}），"
                        f"命令输出见 {log}。"
                    )
            results[step.key] = total
            print(f"  {step.label}：{total.seconds:.1f} 秒", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def best_of(passes: list[dict[str, Measurement]]) -> dict[str, Measurement]:
    """Per step: the shortest of the repeated passes, with the largest peaks seen in any."""
    best: dict[str, Measurement] = {}
    for key in passes[0]:
        runs = [p[key] for p in passes]
        fastest = min(runs, key=lambda m: m.seconds)
        peaks: dict[str, tuple[int, int]] = {}
        for run in runs:
            for label, (count, peak) in run.peaks.items():
                old_count, old_peak = peaks.get(label, (0, 0))
                peaks[label] = (max(count, old_count), max(peak, old_peak))
        best[key] = Measurement(fastest.seconds, fastest.cpu, fastest.exit_codes, peaks)
    return best


def width(text: str) -> int:
    """Display width on a terminal: wide (CJK) characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(header: list[str], rows: list[list[object]]) -> str:
    """A plain text table aligned for Chinese characters (numbers right-aligned)."""
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(width(row[i]) for row in cells) for i in range(len(header))]

    def cell(text: str, i: int, numeric: bool) -> str:
        pad = " " * (widths[i] - width(text))
        return pad + text if numeric else text + pad

    lines = []
    for n, row in enumerate(cells):
        numeric = [n > 0 and i > 0 and text[:1].isdigit() for i, text in enumerate(row)]
        lines.append("  ".join(cell(t, i, numeric[i]) for i, t in enumerate(row)).rstrip())
    lines.insert(1, "-" * width(lines[0]))
    return "\n".join(lines)


def mb(kb: int) -> str:
    return f"{kb / 1024:,.0f}"


def stage_rows(results: dict[str, Measurement], prov: Province) -> list[list[object]]:
    """The stage table of one scale."""
    yard, yard_cpu = results[YARDSTICK].seconds, max(results[YARDSTICK].cpu, 0.01)
    per = 100_000 / prov.case_rows
    keys = [k for k in results if k != "run"]
    total = Measurement()
    for key in keys[1:]:
        total.add(results[key])
    entries = [(k, results[k]) for k in keys]
    if len(keys) > 2:  # the yardstick and at least two stages
        entries.append(("stages", total))
    if "run" in results:
        entries.append(("run", results["run"]))
    rows = []
    for key, m in entries:
        codes = "、".join(map(str, sorted(set(m.exit_codes)))) or "-"
        peak = max((p for _count, p in m.peaks.values()), default=0)
        ratios = [f"{m.seconds / yard:.2f}", f"{m.cpu / yard_cpu:.2f}"]
        rows.append(
            [LABELS[key], f"{m.seconds:.2f}", f"{m.cpu:.2f}", *ratios, f"{m.seconds * per:.2f}"]
            + [mb(peak), codes]
        )
    return rows


def memory_rows(scale: int, results: dict[str, Measurement]) -> list[list[object]]:
    """One row per kind of process of each step (the per-worker peak when there are workers)."""
    rows: list[list[object]] = []
    for key, m in results.items():
        for label, (count, peak) in m.peaks.items():
            rows.append([f"{scale}×", LABELS[key], label, count, mb(peak)])
    return rows


def growth_rows(
    scales: list[int], runs: dict[int, dict[str, Measurement]], provs: dict[int, Province]
) -> tuple[list[list[object]], list[list[object]]]:
    """Time per 100,000 case rows and peak memory per process, from the first scale to each."""
    first, times, memory = scales[0], [], []
    yard_bend = None
    for key in runs[first]:
        per_row = [runs[s][key].seconds * 100_000 / provs[s].case_rows for s in scales]
        vs_yard = [runs[s][key].seconds / runs[s][YARDSTICK].seconds for s in scales]
        growth = per_row[-1] / per_row[0]
        cpu = [runs[s][key].cpu / provs[s].case_rows for s in scales]
        # seconds per 100,000 rows added between consecutive scales: free of the fixed cost of
        # starting a command, which makes the plain per-row time fall as the data grows
        marginal = [
            (runs[b][key].seconds - runs[a][key].seconds)
            * 100_000
            / (provs[b].case_rows - provs[a].case_rows)
            for a, b in zip(scales, scales[1:], strict=False)
        ]
        # a margin at or below zero is noise (the machine got faster meanwhile): no judgement
        usable = len(marginal) > 1 and min(marginal) > 0
        bend = marginal[-1] / marginal[0] if usable else None
        if key == YARDSTICK:
            yard_bend = bend
        # relative to the yardstick's own bend: a busy machine slows both alike
        relative = bend / yard_bend if bend is not None and yard_bend else None
        if growth > GROWTH_LIMIT:
            verdict = f"⚠ 非线性（每行用时 >{GROWTH_LIMIT}×）"
        elif relative is not None and relative > GROWTH_LIMIT:
            verdict = f"⚠ 边际用时增长 >{GROWTH_LIMIT}×（相对基线）"
        else:
            verdict = "线性"
        times.append(
            [LABELS[key], *(f"{t:.2f}" for t in per_row), f"{growth:.2f}"]
            + [f"{vs_yard[-1] / vs_yard[0]:.2f}", f"{cpu[-1] / max(cpu[0], 1e-9):.2f}"]
            + [" / ".join(f"{m:.2f}" for m in marginal)]
            + ["-" if relative is None else f"{relative:.2f}", verdict]
        )
        labels = dict.fromkeys(label for s in scales for label in runs[s][key].peaks)
        for label in labels:  # a stage may start workers only at the larger scales
            peaks = [runs[s][key].peaks.get(label, (0, 0))[1] for s in scales]
            if not (peaks[0] and peaks[-1]):
                shown = [mb(p) if p else "-" for p in peaks]
                memory.append([LABELS[key], label, *shown, "-", "（各规模的进程不同，不比较）"])
                continue
            grew = peaks[-1] / peaks[0]
            flat = "平稳" if grew <= GROWTH_LIMIT else f"⚠ 随数据增长（>{GROWTH_LIMIT}×）"
            memory.append([LABELS[key], label, *map(mb, peaks), f"{grew:.2f}", flat])
    return times, memory


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}（1/5/15 分钟），CPU 核数 {os.cpu_count()}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="全省性能基准：各阶段用时、内存与数据量增长")
    parser.add_argument("--size", choices=tuple(SIZES), default="quick", help="quick 或 full")
    parser.add_argument("--scales", default="1,2,4", help="数据量倍数（机构数的倍数），如 1,2,4")
    parser.add_argument("--stages", default=",".join(GROUPS), help="要报告的阶段，逗号分隔")
    parser.add_argument("--repeat", type=int, default=1, help="重复次数，用时取最短")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "cwdx-bench")
    parser.add_argument("--seed", type=int, default=20261125, help="演示数据随机种子")
    args = parser.parse_args(argv)
    try:
        args.scales = sorted({int(s) for s in args.scales.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--scales 应为逗号分隔的正整数，如 1,2,4，而不是 {args.scales!r}")
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(args.stages) - set(GROUPS))
    if not args.scales or args.scales[0] < 1 or unknown or args.repeat < 1:
        parser.error(f"--scales 须为正整数，--repeat 至少为 1，--stages 只能取 {','.join(GROUPS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the provinces, measure every scale and print the report."""
    args = parse_args(argv)
    # ``kill`` as Ctrl-C: the running command is stopped and the temporary workspace removed
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))
    institutions, cases = SIZES[args.size]
    selected = [s for s in STEPS if s.group in args.stages]
    last = max((STEPS.index(s) for s in selected if s.key != "run"), default=-1)
    steps = [s for s in STEPS[: last + 1] if s.key != "run"] + [
        s for s in selected if s.key == "run"
    ]
    started = dt.datetime.now(dt.UTC)
    print(f"cwdx 全省性能基准（{args.size}：{institutions} 个机构 × {cases:,} 行病案首页为 1×）")
    print(
        f"日期：{started:%Y-%m-%d %H:%M} UTC；cwdx {cwdx.__version__}；Python {platform.python_version()}"
    )
    print(f"开始时负载：{load_text()}")
    print("注意：用时受机器上其他进程影响；比较时请看“与基线之比”（基线在同一次运行中测得）。")
    provs: dict[int, Province] = {}
    for scale in args.scales:
        prov, spent = province(args.cache, institutions * scale, cases, args.seed)
        provs[scale] = prov
        note = f"生成用时 {spent:.0f} 秒（不计入）" if spent else "使用缓存"
        print(
            f"{scale}× 省份：{len(prov.institutions)} 个机构（其中 "
            f"{sum(i.planted for i in prov.institutions)} 个带预置问题），病案首页 "
            f"{prov.case_rows:,} 行，申报人员 {prov.staff_rows:,} 行，"
            f"{len(prov.case_files) + len(prov.staff_files)} 个文件 {prov.megabytes:.0f} MB；{note}"
        )
    print(f"缓存目录：{args.cache}")
    compiled = compile_package()
    work = Path(tempfile.mkdtemp(prefix="cwdx-province-bench-"))
    log = args.cache / "last-run.log"  # kept: it explains a failed command
    log.unlink(missing_ok=True)
    passes: dict[int, list[dict[str, Measurement]]] = {s: [] for s in args.scales}
    try:
        for n in range(args.repeat):  # interleaved, so background load hits every scale alike
            for scale in args.scales:
                print(f"第 {n + 1} 轮，{scale}×：", file=sys.stderr, flush=True)
                passes[scale].append(run_scale(provs[scale], steps, work, log))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reported = {YARDSTICK} | {s.key for s in selected}
    runs = {s: {k: m for k, m in best_of(passes[s]).items() if k in reported} for s in args.scales}
    print(
        "\n基线：对同一批病案首页和申报人员文件，依次执行 fastexcel.read_excel(路径)"
        '.load_sheet(0, header_row=None, dtypes="string").to_arrow()（新的 Python 进程，含启动）。'
    )
    print(f"每个阶段是一条独立的 cwdx 命令（新进程，含启动）；重复 {args.repeat} 次取最短用时。")
    print(
        f"如同安装后的产品：计时前已把 {compiled} 下的模块编译为 .pyc（pip 安装时同样会编译），"
        "被测命令和基线都在去掉 PYTHONDONTWRITEBYTECODE 的环境中运行。"
    )
    print(
        "与基线之比＝用时÷基线用时；CPU之比＝CPU 时间÷基线 CPU 时间（受其他进程干扰较小）；"
        "每10万行按病案首页行数计。"
    )
    header = [
        "阶段",
        "用时(秒)",
        "CPU(秒)",
        "与基线之比",
        "CPU之比",
        "每10万行(秒)",
        "峰值内存(MB)",
    ]
    header.append("退出码")
    for scale in args.scales:
        print(f"\n【{scale}×：{provs[scale].case_rows:,} 行病案首页】")
        print(table(header, stage_rows(runs[scale], provs[scale])))
    print(
        "\n【各进程峰值内存】（阶段启动子进程时，每种进程一行：主进程和工作进程各自的峰值；“个数”为出现过的进程数）"
    )
    memory = [row for scale in args.scales for row in memory_rows(scale, runs[scale])]
    print(table(["规模", "阶段", "进程", "个数", "峰值内存(MB)"], memory))
    if len(args.scales) > 1:
        tail = f"{args.scales[-1]}×/{args.scales[0]}×"
        times, mem = growth_rows(args.scales, runs, provs)
        print(
            f"\n【数据量增长】每10万行病案首页的用时（秒），从 {args.scales[0]}× 到 {tail.split('/')[0]}"
        )
        heads = [f"{s}×" for s in args.scales]
        spans = " / ".join(f"{a}→{b}×" for a, b in zip(args.scales, args.scales[1:], strict=False))
        print(
            table(
                [
                    "阶段",
                    *heads,
                    tail,
                    "与基线之比的增长",
                    f"CPU {tail}",
                    f"边际 {spans}",
                    "边际增长÷基线",
                    "判断",
                ],
                times,
            )
        )
        print(
            "边际＝相邻两个规模之间每多 10 万行所增加的秒数（不含命令启动等固定开销）；边际增长＝"
            "最后一段÷第一段，再除以基线的边际增长（机器忙闲对两者影响相同），"
            f"超过 {GROWTH_LIMIT} 也标为非线性。"
        )
        print("\n【峰值内存增长】（MB；按机构分工后，每个工作进程的内存应保持平稳）")
        print(table(["阶段", "进程", *heads, tail, "判断"], mem))
    print(f"\n结束时负载：{load_text()}；总用时 {(dt.datetime.now(dt.UTC) - started).seconds} 秒")
    return 0


if __name__ == "__main__":
    sys.exit(main())
