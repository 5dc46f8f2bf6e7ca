"""Realistic demo workbooks with planted problems (``cwdx demo DIR``).

For each institution the case rows are split over two workbooks (``病案首页数据-1.xlsx`` with
Excel date cells, ``病案首页数据-2.xlsx`` with dates as text) plus ``申报人员信息.xlsx``; a
``demo_manifest.json`` states, by construction, what every check and some indicators must give.

Every institution but the last carries a few problems of every rule of ``checks.md``; the last
one is clean (no finding at all) and holds applicants whose indicators are known exactly. All
institutions carry cells in accepted non-canonical forms (``0304``, ``3.04``, ``20200105``,
``张三 1``, lower-case ICD codes …) that must read as their canonical values and raise nothing.

Deterministic: one :class:`random.Random` per institution derived from ``seed``; no global state.

The modules: :mod:`~cwdx.demo.people` (names, departments, teams, code pools),
:mod:`~cwdx.demo.rows` (one institution and its clean rows), :mod:`~cwdx.demo.known` (the
applicants with known indicators), :mod:`~cwdx.demo.planting` (rule problems),
:mod:`~cwdx.demo.forms` (accepted forms), :mod:`~cwdx.demo.manifest` and
:mod:`~cwdx.demo.writer` (:func:`write_demo`).
"""

from __future__ import annotations

from cwdx.demo.manifest import (
    CASE_FILES,
    MANIFEST_FILE,
    MIN_CASES,
    README_FILE,
    STAFF_FILE,
    DemoManifest,
    ExpectedApplicant,
    InstitutionManifest,
    read_manifest,
)
from cwdx.demo.people import CUTOFF, DATA_END, DATA_START, DEPARTMENTS, UNUSED_DEPT
from cwdx.demo.writer import write_demo

# The manifest lists the rules in catalogue order (E01..E16, W01..W12, X01), as rules.py does.
from cwdx.rules import RULE_IDS

__all__ = [
    "CASE_FILES",
    "CUTOFF",
    "DATA_END",
    "DATA_START",
    "DEPARTMENTS",
    "MANIFEST_FILE",
    "MIN_CASES",
    "README_FILE",
    "RULE_IDS",
    "STAFF_FILE",
    "UNUSED_DEPT",
    "DemoManifest",
    "ExpectedApplicant",
    "InstitutionManifest",
    "read_manifest",
    "write_demo",
]
