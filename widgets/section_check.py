"""数据检测: run the check, show the verdict and rule counts, save the feedback workbooks."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipyvuetify as v

from cwdx.errors import CwdxError
from cwdx.workspace.stages import STAGE_UPLOADED
from cwdx_widgets.common import html_area, html_table, row
from cwdx_widgets.section_base import (
    PREVIEW_ROWS,
    STARTED_BY,
    PageState,
    Refresh,
    StepSection,
    export_download,
    read_state,
)
from cwdx_widgets.task_state import wait_for_task
from cwdx_widgets.vue import DataTable, Download, Downloader, ProgressFn, report_exception
from cwdx_widgets.vue.buttons import ClickBtn

if TYPE_CHECKING:
    from cwdx.workspace import InstitutionInfo, Workspace

# The check runs as a task (cwdx.tasks). cwdx.feedback and cwdx.rules are imported where they run: they bring pandas,
# seconds on a busy PC, and the page must be usable before that (docs/BENCHMARKS.md).

#: Findings of one rule the page lists (the feedback workbooks have them all).
FINDINGS_SHOWN = 100
#: Finding columns as the page names them.
FINDING_HEADERS: dict[str, str] = {
    "excel_file": "文件",
    "excel_row": "行号",
    "column": "列",
    "value": "值",
    "message": "说明",
}

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
        self.pick_label = html_area("cwdx-check-pick-label")
        #: (org, rule id) of each rule button, and which one is chosen
        self.pick_options: list[tuple[str, tuple[str, str]]] = []
        self.picked: tuple[str, str] | None = None
        self.pick = v.Html(tag="div", class_="cwdx-check-pick d-flex flex-wrap ga-2", children=[])
        self.findings = DataTable("cwdx-check-findings", items_per_page=PREVIEW_ROWS)
        self.findings.hide()
        self.feedback = {
            table: Downloader(
                label,
                lambda p, t=table: self._build_feedback(t, p),
                self.alert,
                f"cwdx-feedback-{table}",
            )
            for table, label in FEEDBACK_LABELS.items()
        }
        self.widget = self.build(
            [
                self.verdict,
                self.rules,
                self.pick_label,
                self.pick,
                self.findings.widget,
                row([d.widget for d in self.feedback.values()]),
            ]
        )

    def _check(self, on_progress: ProgressFn) -> None:
        """Queue a check task for the institutions waiting for one and follow it (the
        workspace's dispatcher runs it, never this kernel)."""
        from cwdx.tasks import submit_task

        state = read_state(self.ws)
        missing = _missing_table(state)
        if missing:
            raise CwdxError(missing)
        orgs = [i.org for i in state.at(STAGE_UPLOADED)]
        task_id = submit_task(self.ws, "check", orgs, started_by=STARTED_BY)
        try:
            task = wait_for_task(self.ws, task_id, on_progress)
        finally:
            self.refresh_page()  # what finished before a failure stays recorded
        results = (task.details or {}).get("orgs") or {}
        failed = [org for org, counts in results.items() if not counts.get("passed")]
        if failed:
            who = "本机构数据" if len(results) == 1 else f"{len(failed)} 个机构"
            self.alert.error(
                f"检测完成：{who}有错误，请保存反馈表，按反馈表修改数据后删除历史数据并重新导入。"
            )
        else:
            self.alert.success("检测完成：没有错误，可以进行指标计算。")

    def _build_feedback(self, table: str, on_progress: ProgressFn) -> Download:
        """病案首页反馈表 / 申报人员反馈表 (``cases``/``staff``) or 精简版反馈信息表 (``brief``),
        written by an export task (:func:`export_download`)."""
        from cwdx.feedback import BRIEF_FILE, FEEDBACK_FILES

        orgs = [i.org for i in read_state(self.ws).checked]
        if not orgs:
            raise CwdxError("还没有检测结果：请先点击“开始检测”。")
        name = BRIEF_FILE if table == "brief" else FEEDBACK_FILES[table]
        return export_download(self.ws, f"feedback_{table}", orgs, name, on_progress)

    def refresh(self, state: PageState) -> None:
        """Enable the check when both tables have rows; show the stored verdict and counts."""
        uploaded = state.at(STAGE_UPLOADED)
        # one table missing: the button stays clickable and says which (see _check)
        self.run.enabled = bool(uploaded)
        if state.cases == 0 and state.staff == 0:
            self.show_hint("请先导入病案首页数据和申报人员信息。")
        elif _missing_table(state):
            self.show_hint(_missing_table(state))
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
            self._offer_rules([])
            return
        # the table first: the verdict appears with its table, never before it
        self.rules.value = "".join(self._rule_table(info, len(checked) > 1) for info in checked)
        self._offer_rules(checked)
        if all(i.passed for i in checked):
            self.verdict.value = '<div class="cwdx-verdict cwdx-verdict-pass">数据检测通过</div>'
        else:
            self.verdict.value = '<div class="cwdx-verdict cwdx-verdict-fail">数据检测不通过</div>'

    @staticmethod
    def _rule_table(info: InstitutionInfo, heading: bool) -> str:
        """The rules with findings first (errors, then warnings), the rules without findings
        folded into one line."""
        from cwdx.rules import RULES

        columns = ["规则编号", "级别", "数量", "说明", "处理建议"]
        found = [rule for rule in RULES.values() if int(info.counts.get(rule.id, 0))]
        found.sort(key=lambda rule: rule.severity != "error")  # stable: catalogue order within
        clean = [rule for rule in RULES.values() if not int(info.counts.get(rule.id, 0))]

        def row(rule: Any) -> list[object]:
            count = int(info.counts.get(rule.id, 0))
            return [
                rule.id,
                rule.severity_label,
                count,
                rule.summary(count, info.cases),
                rule.advice,
            ]

        def table(rules: list[Any], classes: list[str]) -> str:
            return html_table(
                columns,
                [row(rule) for rule in rules],
                css_class="cwdx-rules-wrap",  # taller: rules with advice, read top to bottom
                row_classes=classes,
                numeric=["数量"],
                wrap=["说明", "处理建议"],
            )

        title = ""
        if heading:
            word = "通过" if info.passed else "不通过"
            title = f"<h4>{html.escape(info.display_name)}：{word}</h4>"
        text = (
            f'<div class="cwdx-note cwdx-check-totals">错误 {info.errors:,} 个，警告 {info.warnings:,} 个'
            f"（检测时间 {html.escape(info.checked_at or '')}）</div>"
        )
        if found:
            text += table(
                found,
                ["cwdx-row-error" if r.severity == "error" else "cwdx-row-warning" for r in found],
            )
        if clean:
            line = (
                f"其余 {len(clean)} 条规则未发现问题"
                if found
                else f"{len(clean)} 条规则均未发现问题"
            )
            text += (
                f'<details class="cwdx-rules-clean"><summary>{line}（点击展开）</summary>'
                + table(clean, [""] * len(clean))
                + "</details>"
            )
        return title + text

    def _offer_rules(self, checked: list[InstitutionInfo]) -> None:
        """One button per rule with findings; a click lists its first findings below."""
        options: list[tuple[str, tuple[str, str]]] = []
        if not checked and not self.pick_options:
            return  # nothing checked, nothing offered (and no rule catalogue to load)
        from cwdx.rules import RULES

        for info in checked:
            for rule in RULES.values():
                if int(info.counts.get(rule.id, 0)):
                    label = rule.id if len(checked) == 1 else f"{info.org} {rule.id}"
                    options.append((label, (info.org, rule.id)))
        options.sort(key=lambda o: RULES[o[1][1]].severity != "error")
        if [o[1] for o in options] == [o[1] for o in self.pick_options]:
            return  # same check: keep the rule the user is looking at
        self.pick_options = options
        self.picked = None
        buttons = []
        for label, key in options:
            button = ClickBtn(
                children=[label],
                size="small",
                variant="tonal",
                color="error" if RULES[key[1]].severity == "error" else "warning",
                class_="text-none",
            )
            button.on_event("click", lambda *_args, k=key: self._on_pick(k))
            buttons.append(button)
        self.pick.children = buttons
        self.findings.clear()
        self.findings.hide()
        self.pick_label.value = (
            f'<div class="cwdx-note">点击规则编号，查看该规则的前 {FINDINGS_SHOWN} 个问题：</div>'
            if options
            else ""
        )

    def show_findings(self, org: str, rule_id: str) -> None:
        """List the first :data:`FINDINGS_SHOWN` findings of ``rule_id`` in ``org``'s check."""
        from cwdx.rules import RULES

        self.picked = (org, rule_id)
        for button, (_label, key) in zip(self.pick.children, self.pick_options, strict=False):
            button.variant = "flat" if key == self.picked else "tonal"
        record = self.ws.load_check(org)
        if record is None or record.findings is None:
            self.findings.clear()
            return
        rows = record.findings[record.findings["rule_id"] == rule_id]
        shown = rows.head(FINDINGS_SHOWN)[list(FINDING_HEADERS)].rename(columns=FINDING_HEADERS)
        rule = RULES[rule_id]
        caption = (
            f"规则 {rule_id}（{rule.severity_label}）共 {len(rows):,} 个问题"
            + (f"，下面列出前 {len(shown):,} 个" if len(rows) > len(shown) else "")
            + "；全部问题见反馈表。"
        )
        self.findings.set_frame(shown, caption=caption, wrap=["说明"])
        self.findings.show()

    def _on_pick(self, key: tuple[str, str]) -> None:
        try:
            self.show_findings(*key)
        except Exception as exc:  # never a traceback in the page
            report_exception(self.alert, "读取检测问题", exc)


def _missing_table(state: PageState) -> str:
    """Why the check cannot run yet: the table still missing (``""`` when both are there)."""
    for rows, title in ((state.cases, "病案首页数据"), (state.staff, "申报人员信息")):
        if rows == 0:
            return f"还没有导入{title}，请先在上方“导入{title}”中导入，再开始检测。"
    return ""
