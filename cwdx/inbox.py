"""导入 inbox 文件夹中的文件: importing the workbooks an operator put in ``WS/inbox/`` (files
too large for the browser), as the 平台版 button, ``cwdx -w WS import inbox`` and the dispatcher's
``import`` task with ``{"inbox": true}`` do.

Every file directly in ``inbox/`` is taken, in file-name order (Python's string order of the
names), except hidden files, Excel's ``~$`` lock files and :data:`REASONS_FILE`. Each file's table
(病案首页 or 申报人员) is recognised from its header row (:func:`cwdx.reader.recognise_table`), and
the files are imported as one batch (:meth:`cwdx.workspace.Workspace.import_files` with
:data:`~cwdx.workspace.imports.AUTO_TABLE`). Then:

- an imported file is moved to ``inbox/done/`` (never deleted; a name already there gets a
  suffix: ``病案.xlsx`` → ``病案 (2).xlsx``), recorded in :attr:`ImportOutcome.moved_to`;
- a refused file stays where it is, and ``inbox/未导入原因.txt`` lists every refused file of
  this run with its reason (the file is removed when nothing was refused).

The whole run holds the workspace's write lock, so two runs cannot move the same files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cwdx.errors import CwdxError
from cwdx.fanout import Mapper
from cwdx.log import get_logger
from cwdx.workspace import AUTO_TABLE, ImportOutcome, ProgressCallback, Workspace
from cwdx.workspace.db import now_text

log = get_logger("inbox")

#: The folder of the workspace the files are taken from, and where imported ones go.
INBOX = "inbox"
DONE = "done"
#: The reasons of the files the last run left in the inbox (UTF-8 with BOM, for Notepad).
REASONS_FILE = "未导入原因.txt"

OPERATION = "导入 inbox 文件夹中的文件"


def inbox_files(ws: Workspace) -> list[Path]:
    """The files an inbox import takes, in the order it takes them (see the module)."""
    folder = ws.path / INBOX
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CwdxError(f"无法读取文件夹 {folder}（{exc.strerror}），请检查权限后重试。") from exc
    names = [
        entry.name
        for entry in entries
        if entry.is_file() and not entry.name.startswith((".", "~$")) and entry.name != REASONS_FILE
    ]
    return [folder / name for name in sorted(names)]


def import_inbox(
    ws: Workspace,
    *,
    mapper: Mapper | None = None,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
) -> list[ImportOutcome]:
    """Import every file of ``WS/inbox/`` (see the module): one outcome per file, in the order
    taken; imported files moved to ``inbox/done/``, refused ones left with their reasons in
    ``inbox/未导入原因.txt``. ``mapper`` decodes the files (``None``: in this process);
    ``force`` imports content that is already in the workspace again.

    Raises :class:`CwdxError` when the workspace is busy, read-only or damaged, or its disk is
    full (the files imported before that are moved all the same).
    """
    with ws.writing(OPERATION):
        paths = inbox_files(ws)
        if not paths:
            _write_reasons(ws, [])
            return []
        log.info("%s：%d 个文件", OPERATION, len(paths))
        last_id = max((r.id for r in ws.imported_files(include_cleared=True)), default=0)
        try:
            outcomes = ws.import_files(
                AUTO_TABLE, paths, force=force, on_progress=on_progress, mapper=mapper
            )
        except CwdxError:
            _move_committed(ws, paths, last_id)  # a full disk after some files: move those
            raise
        for outcome, path in zip(outcomes, paths, strict=True):
            if outcome.ok:
                outcome.moved_to = _move_to_done(ws, path)
        _write_reasons(ws, [o for o in outcomes if not o.ok])
    moved = sum(o.moved_to is not None for o in outcomes)
    log.info("%s：导入并移走 %d 个文件，%d 个未导入", OPERATION, moved, len(outcomes) - moved)
    return outcomes


def _move_committed(ws: Workspace, paths: list[Path], last_id: int) -> None:
    """Move the files of ``paths`` that imports after ``last_id`` recorded as imported."""
    names = {
        record.file
        for record in ws.imported_files(include_cleared=True)
        if record.id > last_id and record.rejected is None
    }
    for path in paths:
        if os.fsencode(path.name).decode("utf-8", "replace") in names:
            _move_to_done(ws, path)


def _move_to_done(ws: Workspace, path: Path) -> str | None:
    """Move an imported file to ``inbox/done/`` (a free name: ``名称 (2).xlsx``); the new path
    relative to the workspace, or ``None`` when it could not be moved (logged)."""
    done = ws.path / INBOX / DONE
    target = done / path.name
    number = 1
    while target.exists():
        number += 1
        target = done / f"{path.stem} ({number}){path.suffix}"
    try:
        done.mkdir(exist_ok=True)
        os.rename(path, target)
    except OSError as exc:
        log.warning("已导入的文件 %s 无法移到 %s/%s（%s）", path.name, INBOX, DONE, exc.strerror)
        return None
    return target.relative_to(ws.path).as_posix()


def reasons_text(refused: list[ImportOutcome], time: str) -> str:
    """The text of :data:`REASONS_FILE` for the files a run left in the inbox."""
    lines = [
        f"以下 {len(refused)} 个文件未导入（{time}），仍留在 inbox 文件夹中；"
        "请按原因修改后再次导入，不需要的文件请移走。",
        "",
    ]
    for outcome in refused:
        lines += [outcome.file, f"    {outcome.rejected}", ""]
    return "\n".join(lines)


def _write_reasons(ws: Workspace, refused: list[ImportOutcome]) -> None:
    """Write (or, with nothing refused, remove) :data:`REASONS_FILE`."""
    path = ws.path / INBOX / REASONS_FILE
    if not refused:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(reasons_text(refused, now_text()), encoding="utf-8-sig")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.warning("未能写入 %s/%s（%s）", INBOX, REASONS_FILE, exc.strerror)
