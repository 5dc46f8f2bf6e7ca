"""Benchmark: wall time of the small commands and of loading the reference lists (on demand).

    python benchmarks/bench_startup.py WS [--runs 10]

Runs ``cwdx --help``, ``cwdx -w WS status`` and ``cwdx status`` (no workspace: the usage
refusal) ``--runs`` times each in fresh processes (``python -m cwdx.cli``, the environment
as given) and prints the best and median wall time; then times :func:`load_reference` in fresh
processes with an empty cache (parse and write the cache) and with the cache written. WS is an
existing workspace, e.g. a demo one: ``cwdx demo D --institutions 3 --cases 150`` and
``cwdx -w WS import cases D/*/病案首页数据-*.xlsx``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

LOAD_REFERENCE = (
    "import time; t = time.perf_counter(); from cwdx.reference import load_reference; "
    "load_reference(); print(time.perf_counter() - t)"
)


def _wall(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def _show(label: str, times: list[float]) -> None:
    print(f"{label:<34} best {min(times):.3f} s   median {statistics.median(times):.3f} s")


def main() -> None:
    """Print the timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workspace")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    env = dict(os.environ)
    cli = [sys.executable, "-m", "cwdx.cli"]
    _show("cwdx --help", _wall([*cli, "--help"], env, args.runs))
    _show("cwdx -w WS status", _wall([*cli, "-w", args.workspace, "status"], env, args.runs))
    no_ws = {k: v for k, v in env.items() if k != "CWDX_WORKSPACE"}
    _show("cwdx status (no workspace)", _wall([*cli, "status"], no_ws, args.runs))
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = [], []
        for _ in range(args.runs):
            for name in os.listdir(cache):
                os.unlink(os.path.join(cache, name))
            for into in (cold, warm):
                out = subprocess.run(
                    [sys.executable, "-c", LOAD_REFERENCE],
                    env={**env, "CWDX_CACHE_DIR": cache},
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                into.append(float(out))
        _show("load_reference, empty cache", cold)
        _show("load_reference, cached", warm)


if __name__ == "__main__":
    main()
