"""Submitting tasks: their kinds, the checks of their parameters, and which institutions each
one touches (so the dispatcher knows which tasks may run side by side).

Cheap and light (no pandas, no Dask): a page kernel calls :func:`submit_task` and returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cwdx.errors import CwdxError, ErrorKind
from cwdx.workspace import Workspace

#: Task kinds and how the pages and the log name them.
KIND_LABELS: dict[str, str] = {
    "import": "导入数据",
    "check": "数据检测",
    "compute": "指标计算",
    "export": "导出",
    "report": "生成报告",
    "delete": "删除数据",
    "unfreeze": "解冻",
    "clear": "清空数据",
}
KINDS = tuple(KIND_LABELS)

#: What an export task writes (``params["what"]``; ``feedback``: both feedback workbooks of
#: every institution with the brief, into ``params["dir"]``, as ``cwdx export feedback``).
EXPORT_WHATS = ("feedback_cases", "feedback_staff", "feedback_brief", "results", "all", "feedback")
_TABLES = ("cases", "staff")
_DELETE_WHATS = ("cases", "staff", "all")
_STAGES = ("check", "compute")


def _bad(message: str) -> CwdxError:
    return CwdxError(message, ErrorKind.BAD_INPUT)


def _choice(params: dict[str, Any], key: str, allowed: Sequence[str | None], what: str) -> None:
    value = params.get(key)
    if value not in allowed:
        shown = "、".join(str(a) for a in allowed if a is not None)
        raise _bad(f"{what}的参数 {key}={value!r} 无效，只能是 {shown} 之一。")


def _check_import(params: dict[str, Any]) -> None:
    _choice(params, "table", (*_TABLES, None), "导入任务")
    if params.get("single_institution") and params.get("table") is None:
        raise _bad("机构版的导入任务（single_institution）需要指定表：cases 或 staff。")
    files = params.get("files") or []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise _bad("导入任务的参数 files 应为文件路径的列表。")
    relative = [f for f in files if not os.path.isabs(f)]
    if relative:
        raise _bad(f"导入任务的文件路径必须是完整路径：{relative[0]}")
    if not files and not params.get("inbox"):
        raise _bad("导入任务没有要导入的文件：请上传文件，或选择导入 inbox 文件夹中的文件。")


def check_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` completed with defaults; :class:`CwdxError` (Chinese) when they are wrong."""
    if kind not in KIND_LABELS:
        raise _bad(f"未知的任务类型 {kind!r}，可用的类型：{'、'.join(KINDS)}。")
    params = dict(params)
    if kind == "import":
        params.setdefault("table", None)
        params.setdefault("files", [])
        params["files"] = [str(f) for f in params["files"]]
        params.setdefault("force", False)
        params.setdefault("inbox", False)
        params.setdefault("single_institution", False)
        _check_import(params)
    elif kind == "export":
        params.setdefault("what", "all")
        _choice(params, "what", EXPORT_WHATS, "导出任务")
        if params["what"] == "feedback" and not params.get("dir"):
            raise _bad("导出任务的参数 what='feedback' 需要同时给出输出文件夹 dir。")
    elif kind == "delete":
        _choice(params, "what", _DELETE_WHATS, "删除任务")
    elif kind == "unfreeze":
        params.setdefault("stage", "check")
        _choice(params, "stage", _STAGES, "解冻任务")
    elif kind == "clear":
        _choice(params, "what", _DELETE_WHATS, "清空任务")
    return params


def task_orgs(kind: str, orgs: Iterable[str] | None, params: dict[str, Any]) -> list[str]:
    """The institutions a task names (empty: the whole workspace)."""
    named = list(orgs or []) or list(params.get("orgs") or [])
    if kind in ("import", "clear"):
        return []
    return list(dict.fromkeys(str(org) for org in named))


def submit_task(
    ws: Workspace | str | os.PathLike[str],
    kind: str,
    orgs: Iterable[str] | None = None,
    *,
    started_by: str,
    params: dict[str, Any] | None = None,
) -> int:
    """Queue a task for the dispatcher and return its id (cheap; callable from a page kernel).

    ``kind`` is one of :data:`KINDS`; ``orgs`` the institutions it acts on (``None``: all of
    them; ignored by ``import`` and ``clear``, which touch the whole workspace). The parameters
    are checked here, so a wrong one is refused in Chinese before anything is queued. The
    dispatcher (:func:`cwdx.tasks.start_dispatcher`, ``cwdx -w WS dispatch``) runs it; follow
    it with ``ws.task(task_id)``.
    """
    workspace = ws if isinstance(ws, Workspace) else Workspace(Path(ws), create=False)
    checked = check_params(kind, params or {})
    named = task_orgs(kind, orgs, checked)
    if kind == "delete" and not named:
        raise _bad("删除任务需要指定机构；清空整个工作区请用“清空数据”（clear）任务。")
    if kind in ("export", "delete") and named:
        checked["orgs"] = named
    return workspace.enqueue_task(kind, named, started_by, checked)


def scope_of(kind: str, orgs: Sequence[str]) -> frozenset[str] | None:
    """The institutions a task holds while it runs; ``None`` holds the whole workspace
    (imports, clears, and every task named without institutions)."""
    if kind in ("import", "clear") or not orgs:
        return None
    return frozenset(orgs)


def conflicts(a: frozenset[str] | None, b: frozenset[str] | None) -> bool:
    """Whether two tasks with these scopes must not run at the same time."""
    return a is None or b is None or bool(a & b)
