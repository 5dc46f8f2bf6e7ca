"""What the command line prints: exit codes, the progress bar, tables, and errors with their
next step rendered as a command line."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from cwdx.display import display_width
from cwdx.errors import CwdxError, Hint

TABLE_WORDS = {"cases": "病案首页数据", "staff": "申报人员信息", "all": "全部数据"}


class ProgressBar:
    """A one-line progress bar on standard error, usable as an ``on_progress`` callback.

    Shows ``[#####.....] done/total label（已用 N 秒）`` and redraws every half second, so a
    long step (one big file) still shows that work goes on. Silent with ``--quiet`` and when
    standard error is not a terminal.
    """

    WIDTH = 30

    def __init__(self, enabled: bool, stream: TextIO | None = None, tick: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._state: tuple[int, int, str] | None = None
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tick = tick
        self._thread: threading.Thread | None = None

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._state = (done, total, label)
            self._draw()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _draw(self) -> None:
        if self._state is None:
            return
        done, total, label = self._state
        filled = self.WIDTH if total <= 0 else min(self.WIDTH, int(self.WIDTH * done / total))
        bar = "#" * filled + "." * (self.WIDTH - filled)
        seconds = int(time.monotonic() - self._started)
        self.stream.write(f"\r[{bar}] {done}/{total} {label}（已用 {seconds} 秒）\x1b[K")
        self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            with self._lock:
                self._draw()

    def println(self, text: str) -> None:
        """Write a line of text on standard error without mixing it into the bar."""
        with self._lock:
            if self.enabled and self._state is not None:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
            self.stream.flush()
            self._draw()

    def close(self) -> None:
        """Stop redrawing and end the bar's line (if one was drawn)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._state is not None:
                self.stream.write("\n")
                self.stream.flush()
                self._state = None


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table aligned for Chinese (wide) characters."""
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell + " " * max(0, widths[i] - display_width(cell)) for i, cell in enumerate(row)
        ).rstrip()
        for row in cells
    )


def _printable(text: str) -> str:
    """``text`` with file-name bytes that are not UTF-8 (surrogate escapes, e.g. a GBK name on
    Linux) shown as ``�``: printing them would raise instead of showing the message."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def say(text: str) -> None:
    """Print one line for the user on stdout (unprintable characters replaced)."""
    print(_printable(text), flush=True)


def say_error(text: str) -> None:
    """Print one line for the user on stderr (unprintable characters replaced)."""
    print(_printable(text), file=sys.stderr, flush=True)


def hint_text(hint: Hint, workspace: str | Path | None) -> str:
    """A refusal's next step as the command line says it: ``命令行：cwdx -w WS unfreeze --org
    H001 --stage check`` or ``命令行加 --force``; empty for a step it cannot name."""
    if hint.action == "unfreeze":
        import shlex  # only a refusal needs it: kept off the start-up path

        folder = shlex.quote(str(workspace)) if workspace else "工作区"
        orgs = " ".join(shlex.quote(org) for org in hint.orgs)
        return f"命令行：cwdx -w {folder} unfreeze --org {orgs} --stage {hint.stage}"
    if hint.action == "force_import":
        return "命令行加 --force"
    return ""


def with_hint(message: str, hint: Hint | None, workspace: str | Path | None) -> str:
    """``message`` with its next step (:func:`hint_text`) in brackets before the full stop."""
    text = hint_text(hint, workspace) if hint is not None else ""
    if not text:
        return message
    if message.endswith("。"):
        return f"{message[:-1]}（{text}）。"
    return f"{message}（{text}）"


def error_text(error: CwdxError, workspace: str | Path | None) -> str:
    """The line printed for ``error``: its message and, if it has one, its next step."""
    return with_hint(error.message, error.hint, workspace)
