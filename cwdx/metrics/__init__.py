"""Indicators (指标计算, ``metrics.md``): per-applicant workload indicators and detail tables.

:func:`compute_institution` is pure: stored case and staff frames of one institution in,
:class:`InstitutionResults` out. :func:`compute_workspace` runs it for the institutions of a
workspace that passed the check and stores the tables (moving them to 已计算).

Means and percentages are exact rationals rounded half up (四舍五入) to two decimals; a mean or
ratio with a zero denominator is empty (NA), never 0; counts are always numbers for the
applicant's own 人员类别 and empty for the other kind.

Modules: :mod:`.definitions` (column orders, indicator definitions, table names),
:mod:`.pairs` (credited pairs as arrays, half-up rounding), :mod:`.indicators`
(:func:`compute_institution`), :mod:`.details` (病种/术种/年度明细, 病例清单) and
:mod:`.compute` (:func:`compute_workspace`); their public names are re-exported here.
"""

from __future__ import annotations

from cwdx.metrics.compute import compute_workspace, provenance_table
from cwdx.metrics.definitions import (
    CASE_LIST,
    CASE_LIST_COLUMNS,
    CATALOGUE_INDICATORS,
    CATALOGUE_NOTE,
    DECIMAL_COLUMNS,
    DETAIL_KEYS,
    DISEASE_COLUMNS,
    DISEASES,
    IDENTITY_COLUMNS,
    INDICATOR_COLUMNS,
    INDICATOR_DEFINITIONS,
    MATCHED,
    MATCHING_DEFINITION,
    NURSE_INDICATORS,
    PHYSICIAN_INDICATORS,
    PROCEDURE_COLUMNS,
    PROCEDURES,
    PROVENANCE,
    PROVENANCE_COLUMNS,
    ROUNDING_DEFINITION,
    SUMMARY,
    SUMMARY_COLUMNS,
    UNMATCHED,
    YEAR_COLUMNS,
    YEARS,
)
from cwdx.metrics.indicators import InstitutionResults, compute_institution, length_of_stay
from cwdx.metrics.pairs import half_up, percent

__all__ = [
    "CASE_LIST",
    "CASE_LIST_COLUMNS",
    "CATALOGUE_INDICATORS",
    "CATALOGUE_NOTE",
    "DECIMAL_COLUMNS",
    "DETAIL_KEYS",
    "DISEASES",
    "DISEASE_COLUMNS",
    "IDENTITY_COLUMNS",
    "INDICATOR_COLUMNS",
    "INDICATOR_DEFINITIONS",
    "MATCHED",
    "MATCHING_DEFINITION",
    "NURSE_INDICATORS",
    "PHYSICIAN_INDICATORS",
    "PROCEDURES",
    "PROCEDURE_COLUMNS",
    "PROVENANCE",
    "PROVENANCE_COLUMNS",
    "ROUNDING_DEFINITION",
    "SUMMARY",
    "SUMMARY_COLUMNS",
    "UNMATCHED",
    "YEARS",
    "YEAR_COLUMNS",
    "InstitutionResults",
    "compute_institution",
    "compute_workspace",
    "half_up",
    "length_of_stay",
    "percent",
    "provenance_table",
]
