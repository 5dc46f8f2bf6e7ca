"""指标计算: compute the indicators, preview them, save the results workbook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cwdx.errors import CwdxError
from cwdx.workspace.stages import STAGE_COMPUTED, STAGE_FAILED, STAGE_PASSED
from cwdx_widgets.common import html_area
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
from cwdx_widgets.vue import DataTable, Download, Downloader, ProgressFn

if TYPE_CHECKING:
    from cwdx.workspace import Workspace

# The compute runs as a task (cwdx.tasks); cwdx.results and cwdx.reports are imported where
# they run (pandas).


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
        self.preview = DataTable("cwdx-compute-preview", items_per_page=PREVIEW_ROWS, search=True)
        self.download = Downloader(
            "保存计算结果表", self._build_results, self.alert, "cwdx-results"
        )
        self.widget = self.build([self.summary, self.download.widget, self.preview.widget])

    def _compute(self, on_progress: ProgressFn) -> None:
        """Queue a compute task for the institutions that passed and follow it (the
        workspace's dispatcher runs it, never this kernel)."""
        from cwdx.tasks import submit_task

        orgs = [i.org for i in read_state(self.ws).at(STAGE_PASSED)]
        if not orgs:
            raise CwdxError("没有检测通过的机构：请先完成数据检测，检测通过后再计算。")
        task_id = submit_task(self.ws, "compute", orgs, started_by=STARTED_BY)
        try:
            wait_for_task(self.ws, task_id, on_progress)
        finally:
            self.refresh_page()  # what finished before a failure stays recorded
        self.alert.success("计算完成：可以保存计算结果表。")

    def _build_results(self, on_progress: ProgressFn) -> Download:
        """计算结果表, written by an export task (:func:`export_download`): one institution's
        workbook, or the workbook of all of them."""
        from cwdx.results import RESULTS_FILE

        orgs = [i.org for i in read_state(self.ws).at(STAGE_COMPUTED)]
        if not orgs:
            raise CwdxError("还没有计算结果：请先点击“开始计算”。")
        return export_download(self.ws, "results", orgs, RESULTS_FILE, on_progress)

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
            self.preview.clear()
            return
        # lazy: cwdx.reports adds ~0.3 s to the page start (measured), needed only after a compute
        from cwdx.metrics import MATCHED
        from cwdx.reports import province_summary

        table = province_summary(self.ws, computed)  # the 指标汇总 of them all, one table
        matched = int((table["匹配状态"] == MATCHED).sum()) if "匹配状态" in table else 0
        caption = f"预览：前 {min(len(table), PREVIEW_ROWS):,} 行"
        self.preview.set_frame(table, limit=PREVIEW_ROWS, caption=caption)
        self.summary.value = (
            f'<div class="cwdx-note">指标汇总：申报人员 <b>{len(table):,}</b> 人，'
            f"已匹配 {matched:,} 人，未匹配 {len(table) - matched:,} 人。</div>"
        )
