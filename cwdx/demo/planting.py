"""Planting: the rule problems every institution but the clean one carries.

Each plant spoils a clean row (or adds a staff row) so that it raises exactly the findings it
records in ``inst.case_findings`` / ``inst.staff_findings`` as ``(row, rule, column)``; the
manifest turns these into file, Excel row and column once the workbooks are laid out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from cwdx.columns import (
    CASE_ADMIT,
    CASE_DEPT,
    CASE_DISCHARGE,
    CASE_MAIN_DIAG,
    CASE_MAIN_PROC,
    CASE_NO,
    CASE_SEX,
    ORG,
    ORG_NAME,
    STAFF_BIRTH,
    STAFF_DEPT,
    STAFF_EDUCATION,
    STAFF_END,
    STAFF_KIND,
    STAFF_LEVEL,
    STAFF_LICENSE,
    STAFF_NAME,
    STAFF_SEX,
    STAFF_SPECIALTY,
    STAFF_START,
)
from cwdx.demo.people import UNUSED_DEPT
from cwdx.demo.rows import Institution, staff_row
from cwdx.values import canonical_icd9, canonical_icd10, canonical_rc023


def _absent(code: str, present: Callable[[str], bool]) -> str:
    """``code``, or the first variant ``code1``, ``code2``… that the list does not hold."""
    candidate, n = code, 0
    while present(candidate):
        n += 1
        candidate = f"{code}{n}"
    return candidate


def plant_cases(inst: Institution, free: list[dict[str, Any]]) -> None:
    """Plant each case rule a few times; every plant lists exactly the findings it causes."""
    ref = inst.ref
    i = inst.index
    found = inst.case_findings

    def take() -> dict[str, Any]:
        row = free.pop()
        row["_planted"] = True
        return row

    def invalid_icd10(code: str) -> str:
        return _absent(code, lambda c: canonical_icd10(c.upper(), ref) in ref.icd10)

    def invalid_icd9(code: str) -> str:
        return _absent(code, lambda c: canonical_icd9(c.upper(), ref) in ref.icd9)

    # E15: one format error cell each.
    row = take()
    row[CASE_SEX] = "男"
    found.append((row, "E15", CASE_SEX))
    row = take()
    row["住院次数"] = 0
    found.append((row, "E15", "住院次数"))
    row = take()
    row[CASE_DISCHARGE] = row[CASE_ADMIT].replace(hour=9, minute=0) - dt.timedelta(days=1)
    found.append((row, "E15", CASE_DISCHARGE))
    row = take()
    row[ORG] = inst.org[:8] + "@" + inst.org[9:]
    found.append((row, "E15", ORG))
    row = take()
    row["出院主要诊断名称"] += "（" + "待查；" * 40 + "）"  # longer than 100 characters
    found.append((row, "E15", "出院主要诊断名称"))

    def blank(rule: str, columns: tuple[str, ...]) -> None:
        """One row per column with that cell left empty: a ``rule`` finding on the cell."""
        for column in columns:
            row = take()
            row[column] = None
            found.append((row, rule, column))

    # E16: empty required cells.
    blank("E16", (CASE_NO, CASE_ADMIT, ORG_NAME, ORG))
    # W01 / W02 (each empty cell is also a W08 cell).
    row = take()
    row["主治医师"] = None
    found += [(row, "W01", None), (row, "W08", "主治医师")]
    row = take()
    row["主（副主）任医师"] = None
    row["住院医师"] = " "
    found += [(row, "W01", None), (row, "W08", "主（副主）任医师"), (row, "W08", "住院医师")]
    row = take()
    row["责任护士"] = "-"
    found += [(row, "W02", None), (row, "W08", "责任护士")]
    row = take()
    row["质控护师"] = None
    found += [(row, "W02", None), (row, "W08", "质控护师")]
    # W03: main diagnosis not in 国临版2.0 (count varies by institution).
    bad_diags = ["I21.999x999", "K35.9", "J18.999x901"]
    for n in range(1 + i % 3):
        row = take()
        row[CASE_MAIN_DIAG] = invalid_icd10(bad_diags[n])
        found.append((row, "W03", None))
    # W04: another procedure code not in 国临版3.0, its surgeon filled.
    row = take()
    inst.ensure_main_procedure(row)
    inst.add_other_procedure(row, invalid_icd9("36.0699x999"), "3", row["主要手术操作术者"])
    found.append((row, "W04", None))
    # W05: main procedure code not in 国临版3.0.
    row = take()
    inst.ensure_main_procedure(row)
    row[CASE_MAIN_PROC] = invalid_icd9("99.9999x999")
    found.append((row, "W05", None))
    # W06: procedure without surgeon (main: also a W08 cell; other k: W06 only).
    row = take()
    inst.ensure_main_procedure(row)
    row["主要手术操作术者"] = None
    found += [(row, "W06", None), (row, "W08", "主要手术操作术者")]
    row = take()
    inst.ensure_main_procedure(row)
    inst.add_other_procedure(row, row[CASE_MAIN_PROC], row["主要手术操作级别"], None)
    found.append((row, "W06", None))
    # W07: 出院科别 outside RC023.
    rc023 = ref.domain_codes("RC023")
    for value in (_absent("03.99", lambda c: canonical_rc023(c) in rc023), "心内科"):
        row = take()
        row[CASE_DEPT] = value
        found.append((row, "W07", CASE_DEPT))
    # W08: empty important cells.
    blank("W08", ("年龄（岁）", CASE_DISCHARGE, CASE_DEPT, CASE_MAIN_DIAG))
    row = take()
    inst.ensure_main_procedure(row)
    row["主要手术操作Ⅰ助"] = None
    found.append((row, "W08", "主要手术操作Ⅰ助"))
    # X01: other diagnoses not in 国临版2.0 (one row with two of them counts once).
    row = take()
    inst.set_other_diag(row, inst.free_diag_slot(row), invalid_icd10("E11.999x999"), "1")
    found.append((row, "X01", None))
    if i % 2 == 0:
        row = take()
        inst.set_other_diag(row, inst.free_diag_slot(row), invalid_icd10("I10.x99"), "1")
        inst.set_other_diag(row, inst.free_diag_slot(row), invalid_icd10("Z99.999x999"), "3")
        found.append((row, "X01", None))


def plant_staff(inst: Institution, members: dict[str, list[str]]) -> None:
    """Plant each staff rule (E01..E14, W10..W12) in new staff rows; ``members`` gives two
    real team members per department (for plants that must match the records)."""
    rows = inst.staff_rows
    found = inst.staff_findings

    def new(dept: str = "03.04", kind: str = "1", specialty: str = "心血管内科") -> dict[str, Any]:
        row = staff_row(inst, inst.person(), dept, kind, specialty)
        rows.append(row)
        return row

    row = new("04.01", "1", "普通外科")
    row[STAFF_EDUCATION] = None
    found.append((row, "E01", STAFF_EDUCATION))
    row = new("03.02", "2", "内科护理")
    row[STAFF_BIRTH] = None
    found.append((row, "E01", STAFF_BIRTH))
    row = new()
    row[STAFF_LICENSE] = row[STAFF_LICENSE][:6] + "#" + row[STAFF_LICENSE][7:]
    found.append((row, "E02", STAFF_LICENSE))
    row = new("04.03", "1", "骨外科")
    row[STAFF_START] = "2019-02-30"
    found.append((row, "E02", STAFF_START))
    row = new("05.01", "1", "妇科")
    row[ORG] = inst.org[:8] + "@" + inst.org[9:]
    found.append((row, "E02", ORG))
    row = new()
    row[STAFF_SPECIALTY] = "心内科"
    found.append((row, "E03", STAFF_SPECIALTY))
    row = new("04.01", "1", "外科护理")
    found.append((row, "E04", STAFF_SPECIALTY))
    row = new()
    rc023 = inst.ref.domain_codes("RC023")
    row[STAFF_DEPT] = _absent("03.99", lambda c: canonical_rc023(c) in rc023)
    found.append((row, "E05", STAFF_DEPT))
    row = new()
    row[STAFF_SEX] = "男"
    found.append((row, "E06", STAFF_SEX))
    row = new()
    row[STAFF_LEVEL] = "3"
    found.append((row, "E07", STAFF_LEVEL))
    row = new()
    row[STAFF_KIND] = "3"
    found.append((row, "E08", STAFF_KIND))
    row = new("03.01", "1", "呼吸内科")
    row[STAFF_BIRTH] = dt.date(2001, 3, 15)
    row[STAFF_START] = dt.date(2019, 3, 14)  # one day before turning 18
    found.append((row, "E09", None))
    row = new("03.01", "2", "内科护理")
    row[STAFF_START] = dt.date(2022, 1, 1)
    row[STAFF_END] = dt.date(2021, 12, 31)
    found.append((row, "E10", None))
    # E11: the same person twice in one department.
    row = new("04.03", "1", "骨外科")
    twin = dict(row)
    rows.append(twin)
    found += [(row, "E11", None), (twin, "E11", None)]
    # E12: one person in two departments with one cut-off date.
    row = new("03.02", "1", "消化内科")
    other = dict(row, **{STAFF_DEPT: "03.01", STAFF_SPECIALTY: "呼吸内科"})
    rows.append(other)
    found += [(row, "E12", None), (other, "E12", None)]
    # E13: one licence, two names.
    row = new("05.01", "2", "妇产科护理")
    other = dict(row, **{STAFF_NAME: inst.person()})
    rows.append(other)
    found += [(row, "E13", None), (other, "E13", None)]
    # E14: same name in one department with two licences.
    row = new("04.01", "1", "普通外科")
    other = dict(row, **{STAFF_LICENSE: inst.license("1")})
    rows.append(other)
    found += [(row, "E14", None), (other, "E14", None)]
    # W10: a real team member with an unknown 学历 (matched, so no W12).
    row = staff_row(inst, members["03.04"][0], "03.04", "1", "心血管内科")
    row[STAFF_EDUCATION] = "7"
    rows.append(row)
    found.append((row, "W10", STAFF_EDUCATION))
    # W11 (+W12): a department with no records at all.
    row = new(UNUSED_DEPT[0], "1", "肾内科")
    found += [(row, "W11", None), (row, "W12", None)]
    # W12: a name that never occurs in the records.
    row = new("05.01", "1", "妇科")
    found.append((row, "W12", None))
    # W12: a real member whose window ends before the first discharge.
    row = staff_row(inst, members["04.03"][1], "04.03", "1", "骨外科")
    row[STAFF_START] = dt.date(2021, 1, 1)
    row[STAFF_END] = dt.date(2022, 6, 30)
    rows.append(row)
    found.append((row, "W12", None))


def cross_institution_staff(insts: list[Institution]) -> None:
    """E12 and E13 across neighbouring planted institutions (each finding in its own row's).

    Loaded alone, an institution has no twin for these rows: they carry no error then, so W12
    (which looks only at applicants without an error) reports them, their names being in no
    case of the institution. Both ways are recorded (``cross_rows``, ``alone_findings``)."""
    for left, right in zip(insts, insts[1:], strict=False):
        # E12: the same person in two institutions with one cut-off date.
        name = left.person()
        while name in right.used_names:  # a name new to both institutions
            name = left.person()
        row = staff_row(left, right.reserve(name), "03.04", "1", "心血管内科")
        twin = dict(row, **{ORG: right.org, ORG_NAME: right.name})
        _cross(left, row, "E12")
        _cross(right, twin, "E12")
        # E13: one licence under two names in two institutions.
        row = staff_row(left, left.person(), "04.01", "2", "外科护理")
        twin = dict(row, **{ORG: right.org, ORG_NAME: right.name, STAFF_NAME: right.person()})
        _cross(left, row, "E13")
        _cross(right, twin, "E13")


def _cross(inst: Institution, row: dict[str, Any], rule: str) -> None:
    """Add a staff row whose ``rule`` finding needs the other institution (W12 when alone)."""
    inst.staff_rows.append(row)
    inst.staff_findings.append((row, rule, None))
    inst.cross_rows.add(id(row))
    inst.alone_findings.append((row, "W12", None))
