"""Helper processes (:mod:`cwdx.pool`): pieces run in the caller and in warm helpers, results
come in input order, a piece's error comes back as it was raised, a helper killed under a
piece fails the call in Chinese and the next call starts new helpers, helpers end with their
caller, and ``cwdx run`` through helpers writes exactly the golden outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from golden_outputs import GOLDEN_FILE, differences, digest_run

from cwdx.errors import CwdxError
from cwdx.pool import HELPER_DIED, HelperPool, helpers_for, main_module_safe
from cwdx.tasks import cluster

pytestmark = pytest.mark.slow


def square_where(x: int) -> tuple[int, int]:
    """``(x², pid)`` after a short pause (so both the caller and the helper get pieces)."""
    time.sleep(0.05)
    return x * x, os.getpid()


def fail_at_five(x: int) -> int:
    if x == 5:
        raise CwdxError(f"第 {x} 块无法处理。")
    time.sleep(0.02)
    return x


def die_in_a_helper(piece: tuple[int, int]) -> int:
    """Kill the process running it unless that is the caller (``piece[1]``)."""
    x, caller = piece
    time.sleep(0.05)
    if os.getpid() != caller:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def _ready(pool: HelperPool) -> None:
    pool.start()
    assert pool._ready.wait(120), "辅助进程未在 120 秒内就绪"


def test_results_come_in_order_from_the_caller_and_the_helpers() -> None:
    pool = HelperPool(1)
    try:
        _ready(pool)
        out = list(pool(square_where, range(16)))
    finally:
        pool.close()
    assert [value for value, _ in out] == [x * x for x in range(16)]
    runners = {pid for _, pid in out}
    assert os.getpid() in runners and len(runners) == 2


def test_the_caller_runs_everything_while_the_helpers_start() -> None:
    pool = HelperPool(1)
    try:
        out = list(pool(square_where, range(3)))  # helpers take ~1 s to start: not ready yet
    finally:
        pool.close()
    assert out == [(x * x, os.getpid()) for x in range(3)]


def test_a_pieces_error_comes_back_as_raised() -> None:
    pool = HelperPool(1)
    try:
        _ready(pool)
        with pytest.raises(CwdxError, match="^第 5 块无法处理。$"):
            list(pool(fail_at_five, range(12)))
        assert list(pool(fail_at_five, [1, 2, 3, 4])) == [1, 2, 3, 4]  # still usable
    finally:
        pool.close()


def test_a_killed_helper_fails_the_call_and_the_next_call_starts_new_helpers() -> None:
    pool = HelperPool(1)
    try:
        _ready(pool)
        with pytest.raises(CwdxError) as raised:
            list(pool(die_in_a_helper, [(x, os.getpid()) for x in range(8)]))
        assert str(raised.value) == HELPER_DIED
        _ready(pool)
        out = list(pool(square_where, range(16)))
        assert [value for value, _ in out] == [x * x for x in range(16)]
        assert len({pid for _, pid in out}) == 2
    finally:
        pool.close()


CALLER = textwrap.dedent(
    """
    import os, sys, time
    from cwdx.pool import HelperPool

    if __name__ == "__main__":
        pool = HelperPool(1)
        pool.start()
        pool._ready.wait(120)
        print(os.getpid(), flush=True)
        time.sleep(600)
    """
)


def test_helpers_end_with_their_caller(tmp_path: Path) -> None:
    script = tmp_path / "caller.py"
    script.write_text(CALLER, encoding="utf-8")
    caller = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert caller.stdout is not None
        pid = int(caller.stdout.readline())
        family = psutil.Process(pid).children(recursive=True)
        helpers = [p for p in family if "forkserver" in " ".join(p.cmdline())]
        assert len(helpers) >= 2  # the fork server and its helper
        os.kill(pid, signal.SIGKILL)
        caller.wait(30)
        _, alive = psutil.wait_procs(helpers, timeout=30)
        assert alive == []
    finally:
        caller.kill()


def test_small_work_and_unguarded_scripts_get_no_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CWDX_POOL_MIN_ROWS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert helpers_for(19_999) == 0
    assert helpers_for(20_000) == 3
    monkeypatch.setenv("CWDX_POOL_MIN_ROWS", "0")
    assert helpers_for(1) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert helpers_for(10**9) == 0
    assert main_module_safe()  # pytest's own main is guarded


class ReadyPool(HelperPool):
    """A pool whose :meth:`start` returns once its helpers are ready (so they surely take
    pieces of even a small run)."""

    made: list[ReadyPool] = []

    def start(self) -> None:
        super().start()
        self.made.append(self)
        assert self._ready.wait(120)


def test_run_through_helpers_writes_the_golden_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("辅助进程需要至少 2 个 CPU 核")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CWDX_POOL_MIN_ROWS", "0")  # helpers even for the small demo province
    monkeypatch.setattr(cluster, "HelperPool", ReadyPool)
    expected = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(digest_run(tmp_path), ensure_ascii=False, sort_keys=True))
    changed = differences(expected, actual)
    assert not changed, "经辅助进程运行的 cwdx run 输出与黄金样本不同：\n" + "\n".join(changed)
    assert ReadyPool.made and sum(pool.helper_pieces for pool in ReadyPool.made) >= 5
