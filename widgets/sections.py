"""The sections of the institution app (机构版), top to bottom as ``apps.md`` lists them.

Each section is a class with a ``widget`` (an ipywidgets box carrying CSS classes for the
browser tests) and a ``refresh(state)`` method; actions call :mod:`cwdx` and then ask the page
to refresh every section from the workspace (:class:`PageState`).
"""

from __future__ import annotations

import html
import io
import logging
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from cwdx.errors import CwdxError, os_error_text
from cwdx.reference import TABLE_TITLES
from cwdx.workspace import (
    STAGE_COMPUTED,
    STAGE_FAILED,
    STAGE_PASSED,
    STAGE_UPLOADED,
    ImportOutcome,
    InstitutionInfo,
    Workspace,
)
from cwdx_widgets.common import (
    Alert,
    Download,
    Downloader,
    LoadingButton,
    ProgressFn,
    frame_table,
    html_area,
    html_table,
    note,
    report_exception,
    section,
)

log = logging.getLogger("cwdx.app")

#: The notice the page shows above every import (templates.md, exact text).
APPEND_NOTICE = "如需重新导入数据，请先删除历史数据后再操作。否则视为追加导入数据。"

#: Rows shown in a preview.
PREVIEW_ROWS = 100

#: The last part of the log file the page shows (the download gives the whole file).
LOG_TAIL_BYTES = 1_000_000

IMPORT_TITLES: dict[str, str] = {"cases": "导入病案首页数据", "staff": "导入申报人员信息"}
ROW_UNITS: dict[str, str] = {"cases": "条", "staff": "人"}
FEEDBACK_LABELS: dict[str, str] = {
    "cases": "保存病案首页反馈表",
    "staff": "保存申报人员反馈表",
    "brief": "保存精简版反馈信息表",
}


@dataclass
class PageState:
    """What the page shows, read from the workspace after every action."""

    institutions: list[InstitutionInfo] = field(default_factory=list)

    @property
    def cases(self) -> int:
        """Case rows in the workspace."""
        return sum(i.cases for i in self.institutions)

    @property
    def staff(self) -> int:
        """Applicant rows in the workspace."""
        return sum(i.staff for i in self.institutions)

    def at(self, *stages: str) -> list[InstitutionInfo]:
        """The institutions at one of ``stages``."""
        return [i for i in self.institutions if i.stage in stages]

    @property
    def checked(self) -> list[InstitutionInfo]:
        """Institutions with a stored check."""
        return [i for i in self.institutions if i.checked]

    def describe(self) -> str:
        """One Chinese line per institution: code, name, stage and counts."""
        if not self.institutions:
            return "工作区中还没有数据：请先下载表样，按表样整理数据后导入。"
        lines = []
        for info in self.institutions:
            line = (
                f"机构 {info.display_name}：{info.stage}；病案首页数据 {info.cases:,} 条，"
                f"申报人员 {info.staff:,} 人"
            )
            if info.checked:
                line += f"；检测错误 {info.errors:,} 个，警告 {info.warnings:,} 个"
            lines.append(line + "。")
        return "\n".join(lines)


def read_state(ws: Workspace) -> PageState:
    """The current :class:`PageState` of ``ws``."""
    return PageState(institutions=ws.institutions())


Refresh = Callable[[], None]


def _files_to_download(folder: Path, name: str, zip_name: str) -> Download:
    """The file(s) called ``name`` under ``folder``: the workbook itself when there is one,
    a zip of ``<机构>/name`` when several institutions have one."""
    found = sorted(folder.rglob(name))
    if not found:
        raise CwdxError(f"没有可保存的{Path(name).stem}：请先完成上面的步骤后再保存。")
    if len(found) == 1:
        return Download(name, found[0].read_bytes())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in found:
            archive.write(path, path.relative_to(folder).as_posix())
    return Download(zip_name, buffer.getvalue(), "application/zip")


# -------------------------------------------------------------------------------- 查看表样


class TemplateSection:
    """查看表样: download the two template workbooks."""

    def __init__(self, alert: Alert | None = None) -> None:
        from cwdx.templates import TEMPLATE_FILE_NAMES

        self.alert = alert or Alert("cwdx-templates-alert")
        self.names = TEMPLATE_FILE_NAMES
        self.downloads = {
            table: Downloader(
                f"下载{TABLE_TITLES[table]}表样",
                lambda _p, t=table: self._build(t),
                self.alert,
                f"cwdx-template-{table}",
            )
            for table in ("cases", "staff")
        }
        self.widget = section(
            "查看表样",
            "cwdx-templates",
            [
                note(
                    "请按表样整理数据：第一个工作表为数据，第一行为列名；“填写说明”工作表列出每列的格式和取值。"
                ),
                widgets.HBox([d.widget for d in self.downloads.values()]),
                self.alert.widget,
            ],
        )

    def _build(self, table: str) -> Download:
        from cwdx.templates import write_template

        with tempfile.TemporaryDirectory(prefix="cwdx-template-") as tmp:
            path = write_template(table, Path(tmp) / self.names[table])  # type: ignore[arg-type]
            return Download(self.names[table], path.read_bytes())

    def refresh(self, state: PageState) -> None:
        """Nothing depends on the workspace."""


# -------------------------------------------------------------------------------- 导入


def _safe_name(name: str) -> str:
    """The base name of an uploaded file, without any folder part."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base or "上传文件.xlsx"


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
        self.alert = Alert(f"{prefix}-alert")
        self.upload = widgets.FileUpload(
            accept=".xlsx,.xlsm", multiple=True, description="选择文件", icon="upload"
        )
        self.upload.add_class(f"{prefix}-upload")
        self.selected = html_area(f"{prefix}-selected")
        self.upload.observe(self._on_select, names="value")
        self.import_button = LoadingButton(
            "开始导入", self._import, self.alert, f"{prefix}-import", button_style="primary"
        )
        self.import_button.enabled = False
        self.force_button = LoadingButton(
            "仍然导入（重复数据）",
            self._force_import,
            self.alert,
            f"{prefix}-force",
            button_style="warning",
        )
        self.force_button.widget.layout.display = "none"
        self.results = html_area(f"{prefix}-results")
        self.count = html_area(f"{prefix}-count")
        self.preview = html_area(f"{prefix}-preview")
        self.delete_button = widgets.Button(
            description="删除历史数据", icon="trash", layout=widgets.Layout(width="auto")
        )
        self.delete_button.add_class(f"{prefix}-delete")
        self.delete_button.on_click(lambda _b: self.ask_delete())
        self.confirm_text = widgets.HTML("")
        self.confirm_button = LoadingButton(
            "确认删除", self._delete, self.alert, f"{prefix}-delete-confirm", button_style="danger"
        )
        self.cancel_button = widgets.Button(description="取消", layout=widgets.Layout(width="auto"))
        self.cancel_button.add_class(f"{prefix}-delete-cancel")
        self.cancel_button.on_click(lambda _b: self.cancel_delete())
        self.confirm_box = widgets.VBox(
            [self.confirm_text, widgets.HBox([self.confirm_button.widget, self.cancel_button])],
            layout=widgets.Layout(display="none"),
        )
        self.confirm_box.add_class(f"{prefix}-delete-box")
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
                widgets.HBox([self.upload, self.import_button.widget]),
                self.selected,
                self.alert.widget,
                self.force_button.widget,
                self.results,
                self.count,
                self.preview,
                widgets.HBox([self.delete_button]),
                self.confirm_box,
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
        files = []
        for item in change["new"] or ():
            content = item["content"]
            data = content if isinstance(content, memoryview) else memoryview(bytes(content))
            files.append((_safe_name(item["name"]), data))
        if not files:
            return
        self._pending = files
        self.alert.clear()
        self.results.value = ""
        self.force_button.widget.layout.display = "none"
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
        self.force_button.widget.layout.display = "none"
        try:
            self._run_import(files, True, on_progress)
        except CwdxError:
            self._duplicates = files
            self.force_button.widget.layout.display = "" if files else "none"
            raise

    def _run_import(
        self, files: list[tuple[str, bytes | memoryview]], force: bool, on_progress: ProgressFn
    ) -> None:
        if not files:
            raise CwdxError("请先点击“选择文件”选择要导入的 .xlsx 文件。")
        self.selected.value = ""
        with tempfile.TemporaryDirectory(prefix="cwdx-upload-") as tmp:
            paths = []
            for index, (name, data) in enumerate(files):
                folder = Path(tmp) / str(index)  # two files may share a name
                folder.mkdir()
                path = folder / name
                path.write_bytes(data)
                paths.append(path)
            log.info("上传 %s：%d 个文件%s", self.table, len(paths), "（强制）" if force else "")
            try:
                outcomes = self.ws.import_files(
                    self.table, paths, force=force, on_progress=on_progress
                )
            finally:
                self.upload.value = ()
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
                report = outcome.report.describe() if outcome.report is not None else ""
                detail = f'<div class="cwdx-note">{html.escape(report)}</div>' if report else ""
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
            self.alert.success(f"导入完成：{len(imported)} 个文件，共 {rows:,} {unit}。")
        self._duplicates = duplicates
        self.force_button.widget.layout.display = "" if duplicates else "none"

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
        return "file", outcome.rejected or ""

    # ---- deleting

    def ask_delete(self) -> None:
        """Show the confirmation step of 删除历史数据."""
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
        self.confirm_text.value = (
            f'<div class="cwdx-alert cwdx-alert-warning">{html.escape(text)}</div>'
        )
        self.confirm_box.layout.display = ""

    def cancel_delete(self) -> None:
        """Hide the confirmation step."""
        self.confirm_box.layout.display = "none"

    def _delete(self, _on_progress: ProgressFn) -> None:
        self.confirm_box.layout.display = "none"
        result = self.ws.delete(self.table, everything=True, force=True)
        self.results.value = ""
        self.force_button.widget.layout.display = "none"
        self.refresh_page()
        self.alert.success(f"已删除{self.title} {result.total:,} {ROW_UNITS[self.table]}。")

    # ---- state

    def refresh(self, state: PageState) -> None:
        """Show the row count and the preview of the first rows."""
        self._state = state
        if self._duplicates and any(i.frozen for i in state.institutions):
            # checked since: the data is frozen, a forced import would be refused
            self._duplicates = []
            self.force_button.widget.layout.display = "none"
        rows = getattr(state, self.table)
        unit = ROW_UNITS[self.table]
        self.delete_button.disabled = rows == 0
        if rows == 0:
            self.count.value = f'<div class="cwdx-note">当前工作区中{self.title}：0 {unit}。</div>'
            self.preview.value = ""
            return
        self.count.value = (
            f'<div class="cwdx-note">当前工作区中{self.title}：<b>{rows:,}</b> {unit}。</div>'
        )
        head = self.ws.head(self.table, PREVIEW_ROWS)
        columns = [c for c in head.columns if not str(c).startswith("_")]
        shown = head[columns].copy()
        shown.insert(0, "行号", head["_row"])
        shown.insert(0, "文件", head["_file"])
        caption = f"预览：前 {len(head):,} 行（共 {rows:,} 行）"
        self.preview.value = f'<div class="cwdx-note">{caption}</div>' + frame_table(
            shown, limit=PREVIEW_ROWS
        )


# -------------------------------------------------------------------------------- 数据检测


class StepSection:
    """A step of the flow with one primary button (数据检测, 指标计算): its alert, the button,
    a hint under it saying why it is disabled, and the page section around ``body``."""

    def __init__(
        self,
        ws: Workspace,
        refresh_page: Refresh,
        name: str,
        title: str,
        label: str,
        action: Callable[[ProgressFn], None],
        intro: str,
    ) -> None:
        self.ws = ws
        self.refresh_page = refresh_page
        self.alert = Alert(f"cwdx-{name}-alert")
        self.run = LoadingButton(
            label, action, self.alert, f"cwdx-{name}-run", button_style="primary"
        )
        self.hint = html_area(f"cwdx-{name}-hint")
        self.title, self.name, self.intro = title, name, intro

    def build(self, body: list[widgets.Widget]) -> widgets.VBox:
        """The page section: intro, button, hint, alert, then ``body``."""
        head = [note(self.intro), widgets.HBox([self.run.widget]), self.hint, self.alert.widget]
        return section(self.title, f"cwdx-{self.name}", [*head, *body])

    def show_hint(self, text: str) -> None:
        """The grey line under the button (``""``: none)."""
        self.hint.value = f'<div class="cwdx-note">{html.escape(text)}</div>' if text else ""


class CheckSection(StepSection):
    """数据检测: run the check, show the verdict and rule counts, save the feedback workbooks."""

    def __init__(self, ws: Workspace, refresh_page: Refresh) -> None:
        super().__init__(
            ws,
            refresh_page,
            "check",
            "数据检测",
            "开始检测",
            self._check,
            "病案首页数据和申报人员信息都导入后才能检测；检测后数据冻结，如需修改数据，请删除历史数据后重新导入。",
        )
        self.verdict = html_area("cwdx-check-verdict")
        self.rules = html_area("cwdx-check-rules")
        self.feedback = {
            table: Downloader(
                label,
                lambda _p, t=table: self._build_feedback(t),
                self.alert,
                f"cwdx-feedback-{table}",
            )
            for table, label in FEEDBACK_LABELS.items()
        }
        self.widget = self.build(
            [self.verdict, self.rules, widgets.HBox([d.widget for d in self.feedback.values()])]
        )

    def _check(self, on_progress: ProgressFn) -> None:
        from cwdx.check import check_workspace

        state = read_state(self.ws)
        orgs = [i.org for i in state.at(STAGE_UPLOADED)]
        results = check_workspace(self.ws, orgs=orgs, on_progress=on_progress)
        self.refresh_page()
        failed = [org for org, r in results.items() if not r.passed]
        if failed:
            self.alert.error(
                f"检测完成：{len(failed)} 个机构有错误，请保存反馈表，按反馈表修改数据后删除历史数据并重新导入。"
            )
        else:
            self.alert.success("检测完成：没有错误，可以进行指标计算。")

    def _build_feedback(self, table: str) -> Download:
        """病案首页反馈表 / 申报人员反馈表 (``cases``/``staff``) or 精简版反馈信息表 (``brief``)."""
        from cwdx.feedback import BRIEF_FILE, FEEDBACK_FILES, export_feedback

        state = read_state(self.ws)
        orgs = [i.org for i in state.checked]
        if not orgs:
            raise CwdxError("还没有检测结果：请先点击“开始检测”。")
        with tempfile.TemporaryDirectory(prefix="cwdx-feedback-") as tmp:
            export_feedback(self.ws, tmp, orgs=orgs)
            name = BRIEF_FILE if table == "brief" else FEEDBACK_FILES[table]
            return _files_to_download(Path(tmp), name, f"{Path(name).stem}.zip")

    def refresh(self, state: PageState) -> None:
        """Enable the check when both tables have rows; show the stored verdict and counts."""
        uploaded = state.at(STAGE_UPLOADED)
        ready = state.cases > 0 and state.staff > 0 and bool(uploaded)
        self.run.enabled = ready
        if state.cases == 0 or state.staff == 0:
            self.show_hint("请先导入病案首页数据和申报人员信息。")
        elif not uploaded:
            self.show_hint("数据已检测。如需重新检测，请删除历史数据后重新导入。")
        else:
            self.show_hint("")
        checked = state.checked
        for download in self.feedback.values():
            download.enabled = bool(checked)
        if not checked:
            # the data was deleted (or unfrozen elsewhere): the last check's message is stale
            self.alert.clear()
            self.verdict.value = ""
            self.rules.value = ""
            return
        # the table first: the verdict appears with its table, never before it
        self.rules.value = "".join(self._rule_table(info, len(checked) > 1) for info in checked)
        if all(i.passed for i in checked):
            self.verdict.value = '<div class="cwdx-verdict cwdx-verdict-pass">数据检测通过</div>'
        else:
            self.verdict.value = '<div class="cwdx-verdict cwdx-verdict-fail">数据检测不通过</div>'

    @staticmethod
    def _rule_table(info: InstitutionInfo, heading: bool) -> str:
        from cwdx.rules import RULES

        columns = ["规则编号", "级别", "数量", "说明", "处理建议"]
        rows, classes = [], []
        for rule in RULES.values():
            count = int(info.counts.get(rule.id, 0))
            rows.append(
                [rule.id, rule.severity_label, count, rule.summary(count, info.cases), rule.advice]
            )
            if count and rule.severity == "error":
                classes.append("cwdx-row-error")
            elif count:
                classes.append("cwdx-row-warning")
            else:
                classes.append("")
        title = ""
        if heading:
            word = "通过" if info.passed else "不通过"
            title = f"<h4>{html.escape(info.display_name)}：{word}</h4>"
        summary = (
            f'<div class="cwdx-note cwdx-check-totals">错误 {info.errors:,} 个，警告 {info.warnings:,} 个'
            f"（检测时间 {html.escape(info.checked_at or '')}）</div>"
        )
        return (
            title
            + summary
            + html_table(
                columns,
                rows,
                css_class="cwdx-rules-wrap",  # taller: 29 rules with advice, read top to bottom
                row_classes=classes,
                numeric=["数量"],
                wrap=["说明", "处理建议"],
            )
        )


# -------------------------------------------------------------------------------- 指标计算


class ComputeSection(StepSection):
    """指标计算: compute institutions that passed, preview 指标汇总, save 计算结果表."""

    def __init__(self, ws: Workspace, refresh_page: Refresh) -> None:
        super().__init__(
            ws,
            refresh_page,
            "compute",
            "指标计算",
            "开始计算",
            self._compute,
            "数据检测通过后才能计算。专科目录（病种、术种）为示例目录，正式使用请替换为省级发布的目录。",
        )
        self.summary = html_area("cwdx-compute-summary")
        self.preview = html_area("cwdx-compute-preview")
        self.download = Downloader(
            "保存计算结果表", lambda _p: self._build_results(), self.alert, "cwdx-results"
        )
        self.widget = self.build([self.summary, self.preview, self.download.widget])

    def _compute(self, on_progress: ProgressFn) -> None:
        from cwdx.metrics import compute_workspace

        orgs = [i.org for i in read_state(self.ws).at(STAGE_PASSED)]
        if not orgs:
            raise CwdxError("没有检测通过的机构：请先完成数据检测，检测通过后再计算。")
        compute_workspace(self.ws, orgs=orgs, on_progress=on_progress)
        self.refresh_page()
        self.alert.success("计算完成：可以保存计算结果表。")

    def _build_results(self) -> Download:
        from cwdx.results import RESULTS_FILE, export_results

        orgs = [i.org for i in read_state(self.ws).at(STAGE_COMPUTED)]
        if not orgs:
            raise CwdxError("还没有计算结果：请先点击“开始计算”。")
        with tempfile.TemporaryDirectory(prefix="cwdx-results-") as tmp:
            written = export_results(self.ws, tmp, orgs=orgs)
            # One institution: its own workbook; several: the workbook of all of them.
            books = [Path(p) for p in written if Path(p).name == RESULTS_FILE]
            per_org = [p for p in books if p.parent != Path(tmp)]
            chosen = per_org[0] if len(per_org) == 1 else Path(tmp) / RESULTS_FILE
            return Download(RESULTS_FILE, chosen.read_bytes())

    def refresh(self, state: PageState) -> None:
        """Enable compute after a passing check; show the stored 指标汇总."""
        passed = state.at(STAGE_PASSED)
        computed = state.at(STAGE_COMPUTED)
        self.run.enabled = bool(passed)
        self.download.enabled = bool(computed)
        if not passed and not computed:
            if state.at(STAGE_FAILED):
                self.show_hint("数据检测不通过，不能计算：请按反馈表修改数据后重新导入并检测。")
            else:
                self.show_hint("请先完成数据检测，检测通过后才能计算。")
        elif computed and not passed:
            self.show_hint("已计算。数据已冻结；如需重新计算，请删除历史数据后重新导入、检测。")
        else:
            self.show_hint("")
        if not computed:
            self.alert.clear()  # the last compute's message is stale once its results are gone
            self.summary.value = ""
            self.preview.value = ""
            return
        from cwdx.metrics import MATCHED
        from cwdx.reports import province_summary

        table = province_summary(self.ws, computed)  # the 指标汇总 of them all, one table
        matched = int((table["匹配状态"] == MATCHED).sum()) if "匹配状态" in table else 0
        caption = f'<div class="cwdx-note">预览：前 {min(len(table), PREVIEW_ROWS):,} 行</div>'
        self.preview.value = caption + frame_table(table, limit=PREVIEW_ROWS)
        self.summary.value = (
            f'<div class="cwdx-note">指标汇总：申报人员 <b>{len(table):,}</b> 人，'
            f"已匹配 {matched:,} 人，未匹配 {len(table) - matched:,} 人。</div>"
        )


# -------------------------------------------------------------------------------- 关于


class AboutSection:
    """关于: product version, 口径 version, reference lists (rows, SHA-256)."""

    def __init__(self) -> None:
        self.body = html_area("cwdx-about-body")
        self.widget = widgets.Accordion(children=[self.body], titles=("关于",), selected_index=None)
        self.widget.add_class("cwdx-about")
        self.widget.observe(self._on_open, names="selected_index")

    def _on_open(self, change: dict[str, Any]) -> None:
        if change["new"] is not None and not self.body.value:
            try:
                self.body.value = self.render()
            except Exception as exc:  # never a traceback in the page
                alert = Alert()
                report_exception(alert, "读取版本信息", exc)
                self.body.value = alert.widget.value

    @staticmethod
    def render() -> str:
        """The section's HTML."""
        import cwdx
        from cwdx.reference import load_reference

        files = load_reference().files
        table = html_table(
            ["参考数据文件", "行数", "SHA-256"],
            [(f.file, f"{f.rows:,}", f.sha256) for f in files],
            numeric=["行数"],
        )
        return (
            f'<div class="cwdx-about-versions">产品版本：cwdx {html.escape(cwdx.__version__)}'
            f"<br>指标口径版本：{html.escape(cwdx.METRICS_VERSION)}</div>"
            '<div class="cwdx-note">参考数据（代码表与表样定义）：</div>' + table
        )

    def refresh(self, state: PageState) -> None:
        """Nothing depends on the workspace."""


# -------------------------------------------------------------------------------- 日志


class LogSection:
    """日志: the workspace log in a selectable text box, its download and its folder."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.alert = Alert("cwdx-log-alert")
        self.text = widgets.Textarea(
            value="", layout=widgets.Layout(width="100%", height="320px"), continuous_update=False
        )
        self.text.add_class("cwdx-log-text")
        self.text.observe(self._keep_text, names="value")
        self._content = ""
        self.reload = widgets.Button(
            description="刷新", icon="refresh", layout=widgets.Layout(width="auto")
        )
        self.reload.add_class("cwdx-log-refresh")
        self.reload.on_click(lambda _b: self.load())
        self.download = Downloader(
            "下载日志文件", lambda _p: self._build(), self.alert, "cwdx-log-download"
        )
        folder = Path(ws.log_path).parent
        self.folder = widgets.HTML(
            f'<div class="cwdx-note">日志文件保存在：<code>{html.escape(str(folder))}</code></div>'
        )
        self.folder.add_class("cwdx-log-folder")
        self.body = widgets.VBox(
            [
                self.folder,
                self.text,
                widgets.HBox([self.reload, self.download.widget]),
                self.alert.widget,
            ]
        )
        self.body.add_class("cwdx-log")
        self.widget = widgets.Accordion(children=[self.body], titles=("日志",), selected_index=None)
        self.widget.add_class("cwdx-log-section")
        self.widget.observe(self._on_open, names="selected_index")

    def _on_open(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            try:
                self.load()
            except Exception as exc:  # never a traceback in the page
                report_exception(self.alert, "读取日志", exc)

    def _keep_text(self, change: dict[str, Any]) -> None:
        # The box is a copy of the log: edits are undone so it always shows the file.
        if change["new"] != self._content:
            self.text.value = self._content

    def load(self) -> None:
        """Read (the last part of) the log file into the text box."""
        path = Path(self.ws.log_path)
        try:
            with path.open("rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(size - LOG_TAIL_BYTES, 0))
                data = handle.read()
        except FileNotFoundError:
            data, size = b"", 0
        except OSError as exc:
            self.alert.error(f"无法读取日志文件 {path}（{os_error_text(exc)}），请检查文件权限。")
            return
        text = data.decode("utf-8", errors="replace")
        if size > LOG_TAIL_BYTES:
            text = "……（仅显示最后部分，完整内容请下载日志文件）\n" + text.split("\n", 1)[-1]
        self._content = text or "（日志为空）"
        self.text.value = self._content

    def _build(self) -> Download:
        path = Path(self.ws.log_path)
        if not path.is_file():
            raise CwdxError("日志文件还不存在：进行一次导入或检测后再下载。")
        return Download(path.name, path.read_bytes(), "text/plain;charset=utf-8")

    def refresh(self, state: PageState) -> None:
        """Reload the log when the section is open."""
        if self.widget.selected_index is not None:
            self.load()
