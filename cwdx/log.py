"""Logging for cwdx: one rotating log file per workspace, plus a fallback file.

Log records carry counts, ids and file names only, never cell values. Tracebacks of unexpected
errors go to the log file, never to the user's screen.
"""

from __future__ import annotations

import logging
import os
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

#: The logger every cwdx module logs to (``logging.getLogger("cwdx.<module>")`` is a child).
LOGGER_NAME = "cwdx"
_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
_MAX_BYTES = 5 * 1024 * 1024
_BACKUPS = 5
#: At most this many log files are written at once (the most recently opened workspaces).
MAX_LOG_FILES = 4

_lock = threading.Lock()
_handlers: dict[str, RotatingFileHandler] = {}

# Without a handler, Python would print warnings of the ``cwdx`` logger on standard error
# (logging.lastResort); users must only ever see the one-sentence messages.
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


class _QuietFileHandler(RotatingFileHandler):
    """A rotating log file that stays silent when it cannot be written (full or read-only
    disk): logging would otherwise print "--- Logging error ---" and a traceback on the user's
    terminal."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging API
        return


def user_cache_dir() -> Path:
    """The user's cache folder of cwdx (the log without a workspace, the parsed reference
    lists): ``$XDG_CACHE_HOME/cwdx`` (``~/.cache/cwdx``; ``%LOCALAPPDATA%\\cwdx`` on
    Windows)."""
    if os.name == "nt":
        local = os.environ.get("LOCALAPPDATA")
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "cwdx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "cwdx"


def default_log_path() -> Path:
    """The log file used when no workspace is open: in ``$CWDX_LOG_DIR``, else in
    :func:`user_cache_dir`."""
    base = os.environ.get("CWDX_LOG_DIR")
    return (Path(base) if base else user_cache_dir()) / "cwdx.log"


def attach_log_file(path: str | os.PathLike[str]) -> Path:
    """Make the ``cwdx`` logger also write to ``path`` (rotating, UTF-8); idempotent.

    Only the :data:`MAX_LOG_FILES` most recently attached files are kept attached.

    Returns the absolute path of the log file. Failing to create the file is not fatal: the
    logger then simply has no file for it.
    """
    target = Path(path).resolve()
    key = str(target)
    with _lock:
        if key in _handlers:
            _handlers[key] = _handlers.pop(key)  # most recently used last
            return target
        while len(_handlers) >= MAX_LOG_FILES:  # a process rarely uses more workspaces
            oldest = _handlers.pop(next(iter(_handlers)))
            logging.getLogger(LOGGER_NAME).removeHandler(oldest)
            oldest.close()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handler = _QuietFileHandler(
                target,
                maxBytes=_MAX_BYTES,
                backupCount=_BACKUPS,
                encoding="utf-8",
                errors="backslashreplace",  # a non-UTF-8 file name must not break logging
                delay=True,
            )
        except OSError:
            return target
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.setLevel(logging.INFO)
        logger = logging.getLogger(LOGGER_NAME)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        _handlers[key] = handler
    return target


def get_logger(name: str) -> logging.Logger:
    """A child of the ``cwdx`` logger: ``get_logger("workspace")`` or ``get_logger("cwdx.x")``."""
    if name == LOGGER_NAME or name.startswith(f"{LOGGER_NAME}."):
        return logging.getLogger(name)
    return logging.getLogger(f"{LOGGER_NAME}.{name}")
