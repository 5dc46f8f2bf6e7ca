"""数据检测: run the check, show the verdict and rule counts, save the feedback workbooks."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

import ipywidgets as widgets

from cwdx.check import check_workspace
from cwdx.errors import CwdxError
from cwdx.feedback import BRIEF_FILE, FEEDBACK_FILES, export_feedback
from cwdx.rules import RULES
from cwdx.workspace import (
    STAGE_UPLOADED,
    InstitutionInfo,
    Workspace,
)
from cwdx_widgets.common import (
    Download,
    Downloader,
    ProgressFn,
    html_area,
    html_table,
)
from cwdx_widgets.section_base import (
    PageState,
    Refresh,
    StepSection,
    files_to_download,
    read_state,
)

FEEDBACK_LABELS: dict[str, str] = {
    "cases": "保存病案首页反馈表",
    "staff": "保存申报人员反馈表",
    "brief": "保存精简版反馈信息表",
}


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
        state = read_state(self.ws)
        orgs = [i.org for i in state.checked]
        if not orgs:
            raise CwdxError("还没有检测结果：请先点击“开始检测”。")
        with tempfile.TemporaryDirectory(prefix="cwdx-feedback-") as tmp:
            export_feedback(self.ws, tmp, orgs=orgs)
            name = BRIEF_FILE if table == "brief" else FEEDBACK_FILES[table]
            return files_to_download(Path(tmp), name, f"{Path(name).stem}.zip")

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
