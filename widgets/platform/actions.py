"""What each button of the 平台版 asks for: a task submitted to the dispatcher.

The page never computes in its kernel. Every action here checks what the operator chose (in
Chinese when something is missing), then queues one task with :func:`cwdx.tasks.submit_task`
and returns its id; the dispatcher runs it and the page follows its state in the database.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwdx.errors import CwdxError, ErrorKind
from cwdx.workspace import Workspace

log = logging.getLogger("cwdx.app")

#: The word an operator types to confirm a dangerous action.
CONFIRM_WORD = "确认"

#: The four 全局数据操作: label -> (task kind, params, what it does in words).
GLOBAL_ACTIONS: dict[str, tuple[str, dict[str, Any], str]] = {
    "强制清空所有上传数据（危险）": (
        "clear",
        {"what": "all"},
        "删除所有机构的病案首页、申报人员、检测结果和计算结果（包括已冻结的机构）",
    ),
    "清空所有人员数据（危险）": (
        "clear",
        {"what": "staff"},
        "删除所有机构的申报人员数据（包括已冻结的机构）",
    ),
    "清空所有病案数据（危险）": (
        "clear",
        {"what": "cases"},
        "删除所有机构的病案首页数据（包括已冻结的机构）",
    ),
    "解冻所有数据": (
        "unfreeze",
        {"stage": "check"},
        "所有机构回到“已上传”阶段，检测结果和计算结果被丢弃",
    ),
}

#: 单机构数据操作: label -> delete task's ``what``.
DELETE_ACTIONS: dict[str, str] = {
    "删除病案首页数据": "cases",
    "删除申报人员数据": "staff",
    "删除全部数据": "all",
}

#: The download buttons: label -> export task's ``what``.
EXPORTS: dict[str, str] = {
    "下载所有机构病案首页反馈表": "feedback_cases",
    "下载所有机构申报人员信息反馈表": "feedback_staff",
    "下载精简版反馈信息表": "feedback_brief",
    "下载所有机构计算结果": "results",
}

_UNSAFE = re.compile(r"[^\w.\-（）()]+")


def _need(orgs: Sequence[str], what: str) -> None:
    if not orgs:
        raise CwdxError(f"请先在机构列表中勾选要{what}的机构。", ErrorKind.BAD_INPUT)


def safe_file_name(name: str) -> str:
    """``name`` without folders or characters a file system may refuse (keeps Chinese)."""
    base = Path(name.replace("\\", "/")).name
    stem = _UNSAFE.sub("_", base).strip("._") or "上传文件.xlsx"
    return stem if stem.lower().endswith(".xlsx") else stem + ".xlsx"


def confirmed(label: str, typed: str) -> None:
    """Refuse (in Chinese) unless the operator typed :data:`CONFIRM_WORD` for ``label``."""
    if typed.strip() != CONFIRM_WORD:
        raise CwdxError(
            f"未执行“{label}”：请在输入框中输入“{CONFIRM_WORD}”两个字后再点执行。",
            ErrorKind.BAD_INPUT,
        )


@dataclass
class Submitted:
    """A task the page queued, with the sentence the page shows for it."""

    task_id: int
    kind: str
    message: str


class Actions:
    """The page's actions on one workspace, submitted in the name of ``user``."""

    def __init__(self, ws: Workspace, user: str) -> None:
        self.ws = ws
        self.user = user

    def _submit(
        self, kind: str, orgs: Sequence[str] | None, params: dict[str, Any], message: str
    ) -> Submitted:
        from cwdx.tasks import submit_task

        task_id = submit_task(
            self.ws,
            kind,
            list(orgs) if orgs is not None else None,
            started_by=self.user,
            params=params,
        )
        log.info(
            "用户 %s 提交任务 %d（%s，%d 个机构）",
            self.user,
            task_id,
            kind,
            len(orgs) if orgs is not None else 0,
        )
        return Submitted(task_id, kind, f"已提交任务 {task_id}：{message}。进度见右上角。")

    # --- imports -----------------------------------------------------------------------------
    def upload_folder(self) -> Path:
        """A fresh folder under ``WS/uploads/`` for the files of one upload (the import task
        removes it when it ends)."""
        from cwdx.tasks.kinds import UPLOADS

        folder = self.ws.path / UPLOADS / secrets.token_hex(6)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def save_upload(self, folder: Path, name: str, content: bytes) -> Path:
        """Write one uploaded file into ``folder`` (only .xlsx is accepted)."""
        if not name.lower().endswith(".xlsx"):
            raise CwdxError(
                f"文件“{name}”不是 .xlsx 文件：请在 Excel 中另存为“Excel 工作簿(*.xlsx)”后再上传。",
                ErrorKind.BAD_INPUT,
            )
        target = folder / safe_file_name(name)
        n = 1
        while target.exists():
            n += 1
            target = folder / f"{Path(safe_file_name(name)).stem}_{n}.xlsx"
        target.write_bytes(content)
        return target

    def import_uploaded(self, table: str, files: Sequence[Path]) -> Submitted:
        """提交解析“上传文件”任务 for ``table`` (``cases`` or ``staff``)."""
        if not files:
            raise CwdxError("还没有上传文件：请先点“上传”选择 .xlsx 文件。", ErrorKind.BAD_INPUT)
        what = "病案首页" if table == "cases" else "申报人员"
        return self._submit(
            "import",
            None,
            {"table": table, "files": [str(Path(f).resolve()) for f in files]},
            f"解析 {len(files)} 个{what}文件",
        )

    def import_inbox(self) -> Submitted:
        """导入 inbox 文件夹中的文件 (each file's table recognised from its header row)."""
        inbox = self.ws.path / "inbox"
        waiting = sorted(p.name for p in inbox.glob("*.xlsx")) if inbox.is_dir() else []
        if not waiting:
            raise CwdxError(
                f"inbox 文件夹中没有 .xlsx 文件：请把文件放进 {inbox} 后再导入。",
                ErrorKind.BAD_INPUT,
            )
        return self._submit(
            "import",
            None,
            {"table": None, "files": [], "inbox": True},
            f"导入 inbox 文件夹中的 {len(waiting)} 个文件",
        )

    # --- check, compute ----------------------------------------------------------------------
    def check(self, orgs: Sequence[str]) -> Submitted:
        """提交检测任务 for the ticked institutions."""
        _need(orgs, "检测")
        return self._submit("check", orgs, {}, f"检测 {len(orgs)} 个机构")

    def compute(self, orgs: Sequence[str], refused: dict[str, str]) -> Submitted:
        """提交计算任务 for the ticked institutions that passed (``refused``: the others and
        why, already split off by the table)."""
        if not orgs:
            if refused:
                org, why = next(iter(refused.items()))
                raise CwdxError(
                    f"勾选的 {len(refused)} 个机构都不能计算（例如 {org}：{why}）。",
                    ErrorKind.BAD_INPUT,
                )
            _need(orgs, "计算")
        note = f"（另有 {len(refused)} 个机构不能计算，未提交）" if refused else ""
        return self._submit("compute", orgs, {}, f"计算 {len(orgs)} 个机构{note}")

    # --- downloads ---------------------------------------------------------------------------
    def export(self, what: str, orgs: Sequence[str] | None = None) -> Submitted:
        """Build a download as a background task (``what`` as in :data:`EXPORTS`, or
        ``all`` for one institution's row)."""
        label = next((k for k, v in EXPORTS.items() if v == what), "生成下载文件")
        if orgs:
            label = (
                f"生成 {len(orgs)} 个机构的下载文件"
                if what == "all"
                else f"{label}（{len(orgs)} 个机构）"
            )
        return self._submit("export", orgs or None, {"what": what}, label)

    # --- deletes, unfreezing, clearing -------------------------------------------------------
    def delete(self, orgs: Sequence[str], what: str, typed: str) -> Submitted:
        """单机构数据操作: delete ``what`` (cases/staff/all) of the ticked institutions, only
        when the operator typed :data:`CONFIRM_WORD`."""
        _need(orgs, "删除数据")
        label = next(k for k, v in DELETE_ACTIONS.items() if v == what)
        confirmed(label, typed)
        log.warning("用户 %s 确认%s：%d 个机构", self.user, label, len(orgs))
        return self._submit("delete", orgs, {"what": what}, f"{label}（{len(orgs)} 个机构）")

    def unfreeze(self, orgs: Sequence[str], stage: str) -> Submitted:
        """在上传阶段解冻数据检测 (``check``) or 解冻数据检测和计算 (``compute``)."""
        _need(orgs, "解冻")
        label = "在上传阶段解冻数据检测" if stage == "check" else "解冻数据检测和计算"
        return self._submit("unfreeze", orgs, {"stage": stage}, f"{label}（{len(orgs)} 个机构）")

    def global_action(self, label: str, typed: str) -> Submitted:
        """One of :data:`GLOBAL_ACTIONS`, only when the operator typed :data:`CONFIRM_WORD`."""
        confirmed(label, typed)
        kind, params, what = GLOBAL_ACTIONS[label]
        log.warning("用户 %s 确认执行全局数据操作“%s”", self.user, label)
        return self._submit(kind, None, dict(params), f"{label}：{what}")
