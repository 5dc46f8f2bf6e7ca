"""Batch reports (批量报告, ``apps.md`` "Batch reports (papermill)").

Two parameterised notebooks (package data in ``cwdx/resources/notebooks/``),
``report_institution.ipynb`` (parameters ``workspace``, ``org``) and ``report_province.ipynb``
(parameter ``workspace``), are thin: they call
:func:`build_institution_report` / :func:`build_province_report` and display the result. All
the logic (tables, charts, texts) is here, as plain tested Python:

- :mod:`cwdx.reports.tables`: the tables and texts (pandas only);
- :mod:`cwdx.reports.charts`: matplotlib figures with Chinese fonts, box plots;
- :mod:`cwdx.reports.content`: :class:`Report` / :class:`Section` and the two report builders;
- :mod:`cwdx.reports.runner`: :func:`run_reports` (papermill jobs, kernels, HTML/PDF export);
- :mod:`cwdx.reports.pdf`: :func:`html_to_pdf` (the page printed to A4 by a local Chromium).

Every public name of those modules is available here as ``cwdx.reports.<name>``.
"""

from __future__ import annotations

from cwdx.reports.charts import (
    CHART_INDICATORS,
    CHINESE_FONTS,
    FALLBACK_FONT,
    NURSE_CHART_INDICATORS,
    PHYSICIAN_CHART_INDICATORS,
    box_plots,
    chart_rc,
    figure_html,
    new_figure,
    rule_bar_chart,
)
from cwdx.reports.content import (
    STYLE,
    Block,
    Report,
    Section,
    build_institution_report,
    build_province_report,
)
from cwdx.reports.pdf import CHROMIUM_ENV, find_chromium, html_to_pdf
from cwdx.reports.runner import (
    EXECUTION_TIMEOUT,
    FORMATS,
    INSTITUTION_NOTEBOOK,
    INSTITUTION_REPORT,
    MAX_PARALLEL,
    PROVINCE_NOTEBOOK,
    PROVINCE_REPORT,
    REPORT_PACKAGES,
    START_TIMEOUT,
    ProgressCallback,
    ReportJob,
    plan_reports,
    run_reports,
)
from cwdx.reports.tables import (
    EXPLAINED_COLUMNS,
    FULL_TABLE_ROWS,
    KIND_LABELS,
    LEVEL_LABELS,
    MAX_TABLE_COLUMNS,
    MAX_TABLE_ROWS,
    MIN_GROUP,
    TABLE_LABELS,
    column_parts,
    indicator_tables,
    labelled_applicants,
    noted_applicants,
    open_workspace,
    outliers,
    province_problems,
    province_summary,
    rule_counts,
    stage_table,
    table_html,
    unmatched_applicants,
    volume_table,
    worst_columns,
)

__all__ = [
    "Block",
    "CHART_INDICATORS",
    "CHROMIUM_ENV",
    "CHINESE_FONTS",
    "EXECUTION_TIMEOUT",
    "EXPLAINED_COLUMNS",
    "FALLBACK_FONT",
    "FORMATS",
    "FULL_TABLE_ROWS",
    "INSTITUTION_NOTEBOOK",
    "INSTITUTION_REPORT",
    "KIND_LABELS",
    "LEVEL_LABELS",
    "MAX_PARALLEL",
    "MAX_TABLE_COLUMNS",
    "MAX_TABLE_ROWS",
    "MIN_GROUP",
    "NURSE_CHART_INDICATORS",
    "PHYSICIAN_CHART_INDICATORS",
    "PROVINCE_NOTEBOOK",
    "PROVINCE_REPORT",
    "ProgressCallback",
    "REPORT_PACKAGES",
    "Report",
    "ReportJob",
    "START_TIMEOUT",
    "STYLE",
    "Section",
    "TABLE_LABELS",
    "box_plots",
    "build_institution_report",
    "build_province_report",
    "chart_rc",
    "column_parts",
    "figure_html",
    "find_chromium",
    "html_to_pdf",
    "indicator_tables",
    "labelled_applicants",
    "new_figure",
    "noted_applicants",
    "open_workspace",
    "outliers",
    "plan_reports",
    "province_problems",
    "province_summary",
    "rule_bar_chart",
    "rule_counts",
    "run_reports",
    "stage_table",
    "table_html",
    "unmatched_applicants",
    "volume_table",
    "worst_columns",
]
