"""Helpers of ``bench_province.py``: the cached demo province and per-process measurement.

The province is written one institution at a time with the ``cwdx demo`` generator's own
building blocks (:mod:`cwdx.demo.writer`), so that 200 institutions never sit in memory together
(``write_demo`` builds every institution's rows before writing any) and so that institution
``i`` is the same file whatever the province size: the 2× and 4× provinces reuse the 1× files.
One institution in :data:`PLANTED_EVERY` carries the demo's planted problems (it fails the check
and is not computed, as in a real province); the others are clean and go through every stage.

A command is measured with :func:`measure`: wall time, CPU time (``os.wait4``: the process and
the children it waited for) and the peak RSS of every process of its tree (the main process
exactly from ``wait4`` when it has no children; otherwise, and for each child, the kernel's
high-water mark ``VmHWM`` sampled every 0.1 s until the process ends).

Every measured command runs as an installed product would: :func:`compile_package` writes the
``.pyc`` files of the ``cwdx`` package once before anything is timed (``pip install`` compiles a
wheel's modules at install; an editable install of a source tree has none), and the commands
run without ``PYTHONDONTWRITEBYTECODE`` (:func:`installed_env`), the yardstick too.
"""

from __future__ import annotations

import compileall
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from cwdx.demo import writer as demo_writer
from cwdx.demo.people import CodePools
from cwdx.demo.rows import Institution, institution_code
from cwdx.reference import load_reference

#: One institution in this many (index 0, 10, 20 …) carries the demo's planted problems.
PLANTED_EVERY = 10
#: Marker written into an institution's folder once its workbooks are complete.
DONE_FILE = "bench_institution.json"
#: Label of the only process while cwdx runs in one process.
SINGLE = "cwdx（单进程）"
MAIN = "cwdx 主进程"
#: Linux allows about 2 MB of arguments and environment per command: an import is split into
#: commands of at most IMPORT_ARGV bytes of paths; ``cwdx run`` cannot be split, so it is
#: refused above RUN_ARGV bytes (the full province's 600 paths take about 60 KB).
IMPORT_ARGV = 100_000
RUN_ARGV = 1_000_000


@dataclass(frozen=True)
class InstitutionFiles:
    """One generated institution: its code, workbooks and row counts."""

    org: str
    case_files: tuple[Path, ...]
    staff_file: Path
    case_rows: int
    staff_rows: int
    planted: bool


@dataclass(frozen=True)
class Province:
    """The first ``len(institutions)`` institutions of a cached pool."""

    institutions: tuple[InstitutionFiles, ...]

    @property
    def case_files(self) -> list[Path]:
        return [p for inst in self.institutions for p in inst.case_files]

    @property
    def staff_files(self) -> list[Path]:
        return [inst.staff_file for inst in self.institutions]

    @property
    def case_rows(self) -> int:
        return sum(inst.case_rows for inst in self.institutions)

    @property
    def staff_rows(self) -> int:
        return sum(inst.staff_rows for inst in self.institutions)

    @property
    def megabytes(self) -> float:
        files = self.case_files + self.staff_files
        return sum(p.stat().st_size for p in files) / 1e6


def pool_folder(cache: Path, cases: int, seed: int) -> Path:
    """Where the institutions of ``cases`` rows generated from ``seed`` are cached."""
    return cache / f"province-{cases}rows-seed{seed}"


def province(cache: Path, institutions: int, cases: int, seed: int) -> tuple[Province, float]:
    """The first ``institutions`` institutions of the pool, generating the missing ones.

    Returns the province and the seconds spent generating (0 when everything was cached).
    """
    folder = pool_folder(cache, cases, seed)
    folder.mkdir(parents=True, exist_ok=True)
    pools: CodePools | None = None
    spent = 0.0
    entries = []
    for index in range(institutions):
        planted = index % PLANTED_EVERY == 0
        org = institution_code(index)
        marker = folder / org / DONE_FILE
        if not marker.is_file():
            started = time.perf_counter()
            pools = pools or CodePools(load_reference())
            inst = Institution(index, cases, seed, pools, clean=not planted)
            rows = demo_writer.build_cases(inst)
            demo_writer.build_staff(inst)
            entry = demo_writer.write_institution(folder, inst, rows, lambda _label: None)
            del rows
            record = {
                "org": entry.org,
                "case_files": entry.case_files,
                "staff_file": entry.staff_file,
                "case_rows": entry.case_rows,
                "staff_rows": entry.staff_rows,
                "planted": planted,
            }
            marker.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            spent += time.perf_counter() - started
            print(f"  已生成机构 {index + 1}/{institutions}（{org}）", file=sys.stderr, flush=True)
        record = json.loads(marker.read_text(encoding="utf-8"))
        entries.append(
            InstitutionFiles(
                org=record["org"],
                case_files=tuple(folder / name for name in record["case_files"]),
                staff_file=folder / record["staff_file"],
                case_rows=record["case_rows"],
                staff_rows=record["staff_rows"],
                planted=record["planted"],
            )
        )
    return Province(tuple(entries)), spent


def argv_batches(files: list[Path], budget: int = IMPORT_ARGV) -> list[list[Path]]:
    """``files`` split into consecutive batches whose paths stay under ``budget`` bytes."""
    batches: list[list[Path]] = [[]]
    size = 0
    for path in files:
        length = len(os.fsencode(path)) + 1
        if batches[-1] and size + length > budget:
            batches.append([])
            size = 0
        batches[-1].append(path)
        size += length
    return batches


#: Dropped from the measured commands' environment: it keeps Python from caching the modules
#: it compiles, which an installed product does not pay at every start.
NO_BYTECODE = "PYTHONDONTWRITEBYTECODE"


def compile_package() -> Path:
    """Write the ``.pyc`` files of the ``cwdx`` package (as ``pip install`` does for a wheel);
    returns the package folder. Up-to-date files are left as they are."""
    import cwdx

    folder = Path(cwdx.__file__).resolve().parent
    # py_compile writes even under PYTHONDONTWRITEBYTECODE (which only stops implicit caching)
    if not compileall.compile_dir(str(folder), quiet=1, workers=1):
        raise SystemExit(f"无法编译 {folder} 下的模块（compileall 失败）。")
    return folder


def installed_env() -> dict[str, str]:
    """The environment of a measured command: this one without ``PYTHONDONTWRITEBYTECODE``."""
    return {key: value for key, value in os.environ.items() if key != NO_BYTECODE}


def cwdx_command() -> list[str]:
    """The ``cwdx`` command of the running interpreter's environment."""
    script = Path(sys.executable).with_name("cwdx")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from cwdx.cli import main; sys.exit(main())"]


@dataclass
class Measurement:
    """Wall and CPU seconds, exit codes and peak RSS (KB) per process label of commands."""

    seconds: float = 0.0
    cpu: float = 0.0
    exit_codes: list[int] = field(default_factory=list)
    #: label -> (number of processes, largest peak RSS in KB)
    peaks: dict[str, tuple[int, int]] = field(default_factory=dict)

    def add(self, other: Measurement) -> None:
        """Account ``other`` (a later command of the same stage) into this one."""
        self.seconds += other.seconds
        self.cpu += other.cpu
        self.exit_codes += other.exit_codes
        for label, (count, peak) in other.peaks.items():
            old_count, old_peak = self.peaks.get(label, (0, 0))
            self.peaks[label] = (max(count, old_count), max(peak, old_peak))


def _high_water_kb(pid: int) -> int:
    """The peak RSS (``VmHWM``, KB) of a live process, 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _child_label(process: psutil.Process, main: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline())
        parent = process.ppid()
        main_command = " ".join(main.cmdline())
    except psutil.Error:
        return "子进程"
    if "resource_tracker" in command:
        return "资源跟踪进程"
    if "forkserver" in command:  # cwdx.pool: the fork server, and the helpers it forks
        return "辅助进程服务（fork server）" if parent == main.pid else "辅助计算进程"
    if command == main_command:  # cwdx.pool: a helper forked from the command itself
        return "辅助计算进程"
    if "multiprocessing" in command or "dask" in command or "worker" in command:
        return "工作进程"
    return "子进程"


def measure(argv: list[str], log: Path, single: str = SINGLE, poll: float = 0.1) -> Measurement:
    """Run ``argv`` (output appended to ``log``) and measure it and every process it starts;
    ``single`` labels the process when it starts none."""
    main_peak = 0
    children: dict[int, tuple[str, int]] = {}  # pid -> (label, peak KB)
    with open(log, "ab") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=installed_env())
        watched = psutil.Process(proc.pid)
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                main_peak = max(main_peak, _high_water_kb(proc.pid))
                try:
                    descendants = watched.children(recursive=True)
                except psutil.Error:
                    descendants = []
                for child in descendants:
                    label, peak = children.get(child.pid) or (_child_label(child, watched), 0)
                    children[child.pid] = (label, max(peak, _high_water_kb(child.pid)))
                time.sleep(poll)
        except BaseException:  # interrupted: leave no cwdx command running behind
            proc.kill()
            proc.wait()
            raise
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    result = Measurement(seconds, usage.ru_utime + usage.ru_stime, [proc.returncode])
    if not children:
        # wait4's ru_maxrss is the larger of the process and its waited children: exact here
        result.peaks[single] = (1, usage.ru_maxrss)
        return result
    result.peaks[MAIN] = (1, max(main_peak, 1))
    for label, peak in children.values():
        count, old = result.peaks.get(label, (0, 0))
        result.peaks[label] = (count + 1, max(old, peak))
    return result


YARDSTICK_CODE = """\
import sys
import fastexcel
rows = 0
for path in open(sys.argv[1], encoding="utf-8").read().splitlines():
    sheet = fastexcel.read_excel(path).load_sheet(0, header_row=None, dtypes="string")
    rows += sheet.to_arrow().num_rows - 1
print(rows)
"""


def measure_yardstick(files: list[Path], log: Path) -> Measurement:
    """The yardstick: every file's first sheet decoded to Arrow by fastexcel, one after another,
    in a fresh interpreter (so it pays the same start-up as a ``cwdx`` command)."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", suffix=".txt", delete=False, dir=log.parent
    ) as listing:
        listing.write("\n".join(str(p) for p in files))
    try:
        return measure(
            [sys.executable, "-c", YARDSTICK_CODE, listing.name], log, "fastexcel（单进程）"
        )
    finally:
        os.unlink(listing.name)
