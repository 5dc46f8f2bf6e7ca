"""导入: upload workbooks of one table, see what was imported, preview, delete."""

from __future__ import annotations

import html
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from cwdx.errors import CwdxError
from cwdx.reference import TABLE_TITLES
from cwdx_widgets.common import html_area, note, row, section
from cwdx_widgets.section_base import PREVIEW_ROWS, STARTED_BY, PageState, Refresh
from cwdx_widgets.task_state import wait_for_task
from cwdx_widgets.vue import (
    ConfirmDialog,
    DataTable,
    LoadingBtn,
    Message,
    ProgressFn,
    loading_button,
)
from cwdx_widgets.vue.buttons import ClickBtn
from cwdx_widgets.words import import_note

if TYPE_CHECKING:
    from cwdx.workspace import ImportOutcome, InstitutionInfo, Workspace

log = logging.getLogger("cwdx.app")


#: The notice the page shows above every import (templates.md, exact text).
APPEND_NOTICE = "如需重新导入数据，请先删除历史数据后再操作。否则视为追加导入数据。"

IMPORT_TITLES: dict[str, str] = {"cases": "导入病案首页数据", "staff": "导入申报人员信息"}
ROW_UNITS: dict[str, str] = {"cases": "条", "staff": "人"}


def _safe_name(name: str) -> str:
    """The base name of an uploaded file, without any folder part."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base or "上传文件.xlsx"


def _sample(table: str) -> dict[str, str]:
    """The template's sample record of ``table`` (lazy: cwdx.templates brings pandas)."""
    from cwdx.templates import sample_identity

    return sample_identity(table)  # type: ignore[arg-type]


def _shown(widget: Any, shown: bool) -> None:
    """Show or hide a Vuetify widget (class ``d-none``)."""
    if shown:
        widget.class_list.remove("d-none")
    else:
        widget.class_list.add("d-none")


def _frozen_label(org: str, info: InstitutionInfo | None) -> str:
    """``org（名称，阶段）`` of a frozen institution named in a rejection."""
    if info is None:
        return org
    return f"{org}（{info.name}，{info.stage}）" if info.name else f"{org}（{info.stage}）"


class ImportSection:
    """导入病案首页数据 / 导入申报人员信息: upload, import, per-file result, preview, delete."""

    def __init__(self, ws: Workspace, table: str, refresh_page: Refresh) -> None:
        self.ws = ws
        self.table = table
        self.refresh_page = refresh_page
        self.title = TABLE_TITLES[table]
        prefix = f"cwdx-{table}"
        self.alert = Message(f"{prefix}-alert")
        self.upload = widgets.FileUpload(
            accept=".xlsx,.xlsm", multiple=True, description="选择文件", icon="upload"
        )
        self.upload.add_class(f"{prefix}-upload")
        self.selected = html_area(f"{prefix}-selected")
        self.upload.observe(self._on_select, names="value")
        self.import_button = LoadingBtn(
            "开始导入", self._import, self.alert, f"{prefix}-import", icon="mdi-database-import"
        )
        self.import_button.enabled = False
        self.force_button = LoadingBtn(
            "仍然导入（重复数据）",
            self._force_import,
            self.alert,
            f"{prefix}-force",
            color="warning",
        )
        _shown(self.force_button.widget, False)
        self.results = html_area(f"{prefix}-results")
        self.count = html_area(f"{prefix}-count")
        self.preview = DataTable(f"{prefix}-preview", items_per_page=PREVIEW_ROWS, height="300px")
        self.delete_button = ClickBtn(
            children=["删除历史数据"],
            variant="outlined",
            color="error",
            prepend_icon="mdi-delete-outline",
            class_=f"{prefix}-delete text-none",
        )
        self.delete_button.on_event("click", lambda *_args: self.ask_delete())
        self.confirm = ConfirmDialog(
            f"删除历史数据：{self.title}", f"{prefix}-delete-box", self._confirmed_delete
        )
        self._pending: list[tuple[str, bytes | memoryview]] = []
        self._duplicates: list[tuple[str, bytes | memoryview]] = []
        self._state = PageState()
        notice = note(APPEND_NOTICE, f"{prefix}-notice")
        hint = note(
            "可一次选择多个 .xlsx 文件（每个文件不超过约 100 MB）；"
            "大文件传到系统需要一些时间，请等出现“已选择”提示后再点击“开始导入”。"
        )
        self.widget = section(
            IMPORT_TITLES[table],
            f"cwdx-import {prefix}-section",
            [
                notice,
                hint,
                row([self.upload, self.import_button.widget]),
                self.selected,
                self.alert.widget,
                self.force_button.widget,
                self.results,
                row([self.count, self.delete_button]),
                self.preview.widget,
                self.confirm.widget,
            ],
        )

    # ---- selecting and importing

    def set_files(self, files: list[tuple[str, bytes]]) -> None:
        """Select files as the upload widget would (``(name, content)`` pairs)."""
        self.upload.value = tuple(
            {
                "name": name,
                "type": "",
                "size": len(data),
                "content": memoryview(data),
                "last_modified": datetime.now(UTC),
            }
            for name, data in files
        )

    def _on_select(self, change: dict[str, Any]) -> None:
        files: list[tuple[str, bytes | memoryview]] = []
        for item in change["new"] or ():
            content = item["content"]
            data = content if isinstance(content, memoryview) else memoryview(bytes(content))
            files.append((_safe_name(item["name"]), data))
        if not files:
            return
        self._pending = files
        self.alert.clear()
        self.results.value = ""
        _shown(self.force_button.widget, False)
        names = "、".join(html.escape(name) for name, _ in files)
        self.selected.value = f'<div class="cwdx-note">已选择 {len(files)} 个文件：{names}</div>'
        self.import_button.enabled = True

    def _import(self, on_progress: ProgressFn) -> None:
        files, self._pending = self._pending, []
        self.import_button.enabled = False
        selected = self.selected.value
        try:
            self._run_import(files, False, on_progress)
        except CwdxError:
            # refused as a whole (e.g. the workspace is busy): keep the choice for a retry
            self._pending = files
            self.selected.value = selected
            self.import_button.enabled = bool(files)
            raise

    def _force_import(self, on_progress: ProgressFn) -> None:
        files, self._duplicates = self._duplicates, []
        _shown(self.force_button.widget, False)
        try:
            self._run_import(files, True, on_progress)
        except CwdxError:
            self._duplicates = files
            _shown(self.force_button.widget, bool(files))
            raise

    def _run_import(
        self, files: list[tuple[str, bytes | memoryview]], force: bool, on_progress: ProgressFn
    ) -> None:
        if not files:
            raise CwdxError("请先点击“选择文件”选择要导入的 .xlsx 文件。")
        from cwdx.tasks import submit_task
        from cwdx.tasks.kinds import UPLOADS
        from cwdx.workspace import ImportOutcome

        with self.ws.writing("导入"):
            pass  # another write runs: refused now, as before (the choice is kept for a retry)
        self.selected.value = ""
        uploads = self.ws.path / UPLOADS
        uploads.mkdir(exist_ok=True)
        # the files wait under the workspace for the dispatcher's import task, then go
        with tempfile.TemporaryDirectory(prefix="cwdx-upload-", dir=uploads) as tmp:
            paths = []
            for index, (name, data) in enumerate(files):
                folder = Path(tmp) / str(index)  # two files may share a name
                folder.mkdir()
                path = folder / name
                path.write_bytes(data)
                paths.append(path)
            log.info("上传 %s：%d 个文件%s", self.table, len(paths), "（强制）" if force else "")
            try:
                params = {
                    "table": self.table,
                    "files": [str(p.resolve()) for p in paths],
                    "force": force,
                    "single_institution": True,  # 机构版: one hospital per workspace
                }
                task_id = submit_task(self.ws, "import", started_by=STARTED_BY, params=params)
                task = wait_for_task(self.ws, task_id, on_progress)
            finally:
                self.upload.value = ()
        recorded = (task.details or {}).get("files") or []
        outcomes = [ImportOutcome.from_details(f) for f in recorded]
        self.refresh_page()
        self._show_outcomes(outcomes, files)  # the alert comes last: the page is up to date

    def _show_outcomes(
        self, outcomes: list[ImportOutcome], files: list[tuple[str, bytes | memoryview]]
    ) -> None:
        unit = ROW_UNITS[self.table]
        items = []
        duplicates = []
        institutions = {i.org: i for i in self._state.institutions}
        kinds: set[str] = set()
        for outcome, file in zip(outcomes, files, strict=False):
            name = html.escape(outcome.file)
            if outcome.ok:
                text = f"{name}：导入 {outcome.rows:,} {unit}"
                if len(outcome.org_rows) > 1:
                    text += (
                        "（"
                        + "、".join(
                            f"{html.escape(org)} {n:,} {unit}"
                            for org, n in outcome.org_rows.items()
                        )
                        + "）"
                    )
                detail = import_note(outcome.report)
                if outcome.sample_rows:
                    detail += (
                        '<div class="cwdx-sample-warning" style="color:#9a6700">'
                        f"{html.escape(self._sample_warning(outcome))}</div>"
                    )
                items.append(f'<li class="cwdx-file-ok">{text}。{detail}</li>')
                continue
            kind, reason = self._rejection(outcome, institutions)
            kinds.add(kind)
            if kind == "duplicate":
                duplicates.append(file)  # same content already imported: may be forced
            items.append(
                f'<li class="cwdx-file-rejected"><span style="color:#cf222e">{name}：未导入。'
                f"{html.escape(reason)}</span></li>"
            )
        self.results.value = f"<ul>{''.join(items)}</ul>"
        imported = [o for o in outcomes if o.ok]
        rejected = len(outcomes) - len(imported)
        rows = sum(o.rows for o in imported)
        if rejected:
            text = (
                f"共 {len(outcomes)} 个文件：导入 {len(imported)} 个（{rows:,} {unit}），"
                f"{rejected} 个文件未导入，原因见下方。"
            )
            if "file" in kinds:
                text += "请按原因修改文件后重新导入。"
            if "duplicate" in kinds:
                text += "内容重复的文件如确需再次导入，请点击“仍然导入（重复数据）”。"
            if "frozen" in kinds:
                text += (
                    "数据已检测（已冻结）：在本页面先点击“删除历史数据”（同时解冻），再重新导入。"
                )
            self.alert.error(text)
        else:
            text = f"导入完成：{len(imported)} 个文件，共 {rows:,} {unit}。"
            samples = [self._sample_warning(o) for o in imported if o.sample_rows]
            if samples:
                self.alert.warning(text + "".join(samples))
            else:
                self.alert.success(text)
        self._duplicates = duplicates
        _shown(self.force_button.widget, bool(duplicates))

    def _sample_warning(self, outcome: ImportOutcome) -> str:
        """The warning for a file that still holds the template's sample record."""
        rows = "、".join(str(row) for row in outcome.sample_rows)
        sample = _sample(self.table)
        keys = "、".join(f"{column} {value}" for column, value in sample.items())
        return (
            f"注意：文件“{outcome.file}”第 {rows} 行是表样中的示例数据（{keys}），不是本机构的数据；"
            "请删除历史数据，从文件中删去该行后重新导入。"
        )

    @staticmethod
    def _rejection(
        outcome: ImportOutcome, institutions: dict[str, InstitutionInfo]
    ) -> tuple[str, str]:
        """``(kind, reason)`` of a rejected file, in the page's words: ``duplicate`` (same
        content as a file whose rows are in the workspace), ``frozen`` (rows of a checked
        institution) or ``file`` (the file itself, e.g. an extra column). The workspace's
        reasons also name command lines; the page names its own buttons instead."""
        if outcome.rejected_kind == "duplicate" and outcome.duplicate_of:
            earlier_file, earlier_time = outcome.duplicate_of
            return "duplicate", (
                f"内容与 {earlier_time} 已导入的文件“{earlier_file}”完全相同，为避免重复数据未再次导入。"
                "如确需再次导入，请点击“仍然导入（重复数据）”。"
            )
        if outcome.rejected_kind == "frozen":
            names = "、".join(
                _frozen_label(org, institutions.get(org)) for org in outcome.frozen_orgs
            )
            return "frozen", (
                f"文件含有已检测（已冻结）机构 {names}的数据，整个文件未导入。如需导入，请先点击"
                "“删除历史数据”（同时解冻），再重新导入；或从文件中删去该机构的行后重新导入。"
            )
        if outcome.rejected_kind == "institution" and outcome.sample_rows:
            rows = "、".join(str(row) for row in outcome.sample_rows)
            return "file", (
                f"{outcome.rejected}（文件第 {rows} 行是表样中的示例数据，请删去该行。）"
            )
        return "file", outcome.rejected or ""

    # ---- deleting

    def ask_delete(self) -> None:
        """Ask before 删除历史数据 (the user types 确认)."""
        rows = getattr(self._state, self.table)
        if rows == 0:
            self.alert.info(f"工作区中没有{self.title}，无需删除。")
            return
        frozen = [i for i in self._state.institutions if i.frozen]
        text = f"确定删除已导入的全部{self.title}（{rows:,} {ROW_UNITS[self.table]}）吗？此操作不能撤销。"
        if frozen:
            text += (
                "数据已检测，删除后检测结果和计算结果一并清除（解冻到“已上传”阶段），"
                "重新导入后需要重新检测。"
            )
        self.confirm.ask(text)

    def _confirmed_delete(self) -> None:
        @loading_button(self.alert, self.delete_button, "删除历史数据")
        def delete() -> None:
            self.delete()

        delete()
        # the decorator restores the button as it was; now it follows the rows left
        self.delete_button.disabled = getattr(self._state, self.table) == 0

    def delete(self) -> None:
        """Delete every imported row of the table (unfreezing), then refresh the page."""
        result = self.ws.delete(self.table, everything=True, force=True)
        self.results.value = ""
        _shown(self.force_button.widget, False)
        self.refresh_page()
        self.alert.success(f"已删除{self.title} {result.total:,} {ROW_UNITS[self.table]}。")

    # ---- state

    def refresh(self, state: PageState) -> None:
        """Show the row count and the preview of the first rows."""
        self._state = state
        if self._duplicates and any(i.frozen for i in state.institutions):
            # checked since: the data is frozen, a forced import would be refused
            self._duplicates = []
            _shown(self.force_button.widget, False)
        rows = getattr(state, self.table)
        unit = ROW_UNITS[self.table]
        self.delete_button.disabled = rows == 0
        if rows == 0:
            self.count.value = f'<div class="cwdx-note">当前工作区中{self.title}：0 {unit}。</div>'
            self.preview.clear()
            return
        self.count.value = (
            f'<div class="cwdx-note">当前工作区中{self.title}：<b>{rows:,}</b> {unit}。</div>'
        )
        head = self.ws.head(self.table, PREVIEW_ROWS)
        columns = [c for c in head.columns if not str(c).startswith("_")]
        shown = head[columns].copy()
        shown.insert(0, "行号", head["_row"])
        shown.insert(0, "文件", head["_file"])
        self.preview.set_frame(
            shown, limit=PREVIEW_ROWS, caption=f"预览：前 {len(head):,} 行（共 {rows:,} 行）"
        )
