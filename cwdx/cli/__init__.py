"""The ``cwdx`` command line (``outputs.md`` "Command line").

Every handler turns a :class:`~cwdx.errors.CwdxError` into its one Chinese sentence on standard
error and the error's exit code; any other exception into one Chinese sentence naming the log
file, with the traceback only in that file. Exit status (``outputs.md``): 0 ok, 1 some
institution failed its check, 2 usage error, refused or unfinished operation (busy, frozen,
damaged or read-only workspace, full disk, interrupted) or nothing could be read, 3 internal
error (a bug; the log holds the details).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cwdx.cli.parser import build_parser, chinese_argparse
from cwdx.cli.rendering import (
    ProgressBar,
    error_text,
    format_table,
    say_error,
)
from cwdx.errors import EXIT_CHECK_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, CwdxError
from cwdx.log import attach_log_file, default_log_path, get_logger

log = get_logger("cli")


def _workspace_folder(args: Any) -> str | None:
    """The workspace folder the command names (as the workspace resolves it), if any."""
    path = getattr(args, "workspace", None) or os.environ.get("CWDX_WORKSPACE")
    return str(Path(path).expanduser().resolve()) if path else None


def _log_unraisable(unraisable: Any) -> None:
    """Errors Python cannot raise (e.g. a half-written workbook's ``ZipFile`` closed by the
    garbage collector on a full disk) go to the log file, never to the terminal."""
    log.warning(
        "已忽略的错误 %s（发生于 %r）",
        getattr(unraisable.exc_type, "__name__", "?"),
        unraisable.object,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cwdx`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    import gc

    previous_hook = sys.unraisablehook
    sys.unraisablehook = _log_unraisable
    try:
        return _main(argv)
    finally:
        gc.collect()  # objects of a failed write are finalised while the hook still logs
        sys.unraisablehook = previous_hook


def entry() -> None:
    """The ``cwdx`` command: :func:`main`, then the exit functions (log files flushed and
    closed, temporary folders removed) and the exit, without tearing the interpreter down
    object by object (about 0.2 s after a check of 100,000 rows, spent freeing what the
    process is about to give back whole)."""
    import atexit
    import threading

    code = main()
    # what the interpreter's exit does first: the threading exit hooks (idle executors told to
    # stop), then the wait for every non-daemon thread
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    with chinese_argparse():
        parser = build_parser()
        try:
            args = parser.parse_args(list(argv) if argv is not None else None)
        except SystemExit as exc:  # --help / --version (0) or a usage error (2)
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args._log_path = None
    try:
        code = int(args.handler(args))
        log.info("命令 %s 结束，退出码 %d", args.command, code)
        return code
    except CwdxError as exc:
        say_error(error_text(exc, _workspace_folder(args)))
        log.info("命令 %s 被拒绝或未完成，退出码 %d", args.command, exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        say_error("操作已中断，未完成的操作不会留下数据；如需完成，请重新运行该命令。")
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception:
        path = args._log_path or attach_log_file(default_log_path())
        log.exception("命令 %s 发生内部错误", args.command)
        say_error(f"发生内部错误，请把日志文件 {path} 发给技术支持。")
        return EXIT_INTERNAL


__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "ProgressBar",
    "build_parser",
    "format_table",
    "main",
]
