"""Accepted forms: cells written in non-canonical forms that must read as canonical values.

templates.md "Normalisation" accepts ``0304`` and ``4.03`` for a department, ``20200105`` for a
date, ``张三 1`` for 张三1, lower-case ICD codes, full-width digits and more. Every institution
(the clean one too) carries a few of each; none may raise a finding. Each is recorded as
``(row, column, written, reads_as)`` for the manifest.
"""

from __future__ import annotations

from typing import Any

from cwdx.columns import (
    CASE_ADMIT,
    CASE_BIRTH,
    CASE_DEPT,
    CASE_DISCHARGE,
    CASE_MAIN_DIAG,
    CASE_MAIN_PROC,
    CASE_NO,
    CASE_OTHER_DIAGS,
    CASE_SEX,
    ORG,
    STAFF_DEPT,
    STAFF_END,
    STAFF_KIND,
    STAFF_LEVEL,
    STAFF_NAME,
    STAFF_SEX,
    STAFF_START,
)
from cwdx.demo.people import display_icd10
from cwdx.demo.rows import Institution

_FULL_WIDTH = str.maketrans({**{str(d): chr(0xFF10 + d) for d in range(10)}, "-": "－", ":": "："})


class _FormPlanter:
    """Writes accepted non-canonical forms into rows taken from ``pool`` (each row used once)
    and records every ``(row, column, written, reads_as)`` in ``forms``."""

    def __init__(
        self, pool: list[dict[str, Any]], forms: list[Any], dept_column: str, from_end: bool
    ) -> None:
        self.pool = pool
        self.forms = forms
        self.dept_column = dept_column
        self.from_end = from_end

    def take(self, dept: str | None = None, need: str | None = None) -> dict[str, Any]:
        """The next free row (of department ``dept``; with column ``need`` filled)."""
        pool = self.pool
        positions = range(len(pool) - 1, -1, -1) if self.from_end else range(len(pool))
        for pos in positions:
            row = pool[pos]
            if (dept is None or row[self.dept_column] == dept) and (need is None or row.get(need)):
                return pool.pop(pos)
        raise RuntimeError("no row left for an accepted form")

    def put(self, row: dict[str, Any], column: str, written: Any, reads_as: str) -> None:
        """Write ``written`` into ``row[column]``; it must read as ``reads_as``."""
        row[column] = written
        self.forms.append((row, column, written, reads_as))

    def departments(self, column: str, written: tuple[tuple[str, Any], ...]) -> None:
        """One row of each department written in another accepted form (``0304``, 4.03…)."""
        for dept, form in written:
            self.put(self.take(dept), column, form, dept)

    def birth_dates(self) -> None:
        """出生日期 as text ``YYYYMMDD``, as ``YYYY年M月D日`` and as the number YYYYMMDD."""
        for form in ("text", "chinese", "number"):
            row = self.take()
            b = row[CASE_BIRTH]  # the same header in both tables
            written: Any = {
                "text": b.strftime("%Y%m%d"),
                "chinese": f"{b.year}年{b.month}月{b.day}日",
                "number": int(b.strftime("%Y%m%d")),
            }[form]
            self.put(row, CASE_BIRTH, written, b.isoformat())


def accepted_case_forms(inst: Institution, free: list[dict[str, Any]]) -> None:
    """Cells in accepted non-canonical forms (templates.md "Normalisation"); no finding."""
    ref = inst.ref
    planter = _FormPlanter(free, inst.case_forms, "_dept", from_end=True)
    take, put = planter.take, planter.put

    planter.departments(
        CASE_DEPT, (("03.04", "0304"), ("04.01", "A04.01"), ("04.03", 4.03), ("03.02", "A0302"))
    )
    planter.birth_dates()
    row = take()
    a = row[CASE_ADMIT]
    put(
        row,
        CASE_ADMIT,
        f"{a.year}/{a.month}/{a.day} {a.hour}:{a.minute:02d}",
        a.strftime("%Y-%m-%d %H:%M:%S"),
    )
    row = take()
    a = row[CASE_DISCHARGE]
    text = a.strftime("%Y-%m-%d %H:%M")
    put(row, CASE_DISCHARGE, text.translate(_FULL_WIDTH), a.strftime("%Y-%m-%d %H:%M:%S"))
    row = take()
    put(row, "年龄（岁）", str(row["年龄（岁）"]).translate(_FULL_WIDTH), str(row["年龄（岁）"]))
    for written in (inst.suffixed[:-1] + " 1", inst.suffixed[:-1] + "１"):
        row = take("03.04")
        row["主治医师"] = inst.suffixed
        put(row, "主治医师", written, inst.suffixed)
    row = take()
    put(row, "责任护士", "\u3000" + row["责任护士"] + " ", row["责任护士"])
    row = take()
    code = row[CASE_MAIN_DIAG]
    put(row, CASE_MAIN_DIAG, code.lower(), code.upper())
    row = take()
    code = row[CASE_MAIN_DIAG]
    put(row, CASE_MAIN_DIAG, code.upper(), code.upper())
    row = take()
    # a diagnosis written without its dagger/asterisk part
    base = "E11.200X011" if "E11.200X011" in ref.icd10_by_base else min(ref.icd10_by_base)
    slot = inst.free_diag_slot(row)
    inst.set_other_diag(row, slot, None, "1")
    put(row, CASE_OTHER_DIAGS[slot - 1], display_icd10(base), ref.icd10_by_base[base])
    row = take()
    put(row, ORG, inst.org.lower(), inst.org)
    row = take()
    put(row, CASE_NO, int(row[CASE_NO]), str(int(row[CASE_NO])))
    row = take()
    put(row, CASE_SEX, float(row[CASE_SEX]), row[CASE_SEX])
    row = take()
    put(row, "离院方式", int(row["离院方式"]), row["离院方式"])
    row = take()
    put(row, "住院总费用", f"{row['住院总费用']:.2f}", repr(float(f"{row['住院总费用']:.2f}")))
    row = take()
    put(row, "出院其他诊断编码9", "-", "")
    put(row, "出院其他诊断入院病情9", "—", "")
    row = take(need=CASE_MAIN_PROC)
    put(row, "主要手术操作Ⅱ助", "－", "")


def accepted_staff_forms(inst: Institution) -> None:
    """Staff cells in accepted non-canonical forms (rows not planted, not the specials)."""
    planted = {id(r) for r, _, _ in inst.staff_findings}
    pool = [
        r
        for r in inst.staff_rows
        if id(r) not in planted and r[STAFF_NAME] not in inst.special_people
    ]
    planter = _FormPlanter(pool, inst.staff_forms, STAFF_DEPT, from_end=False)
    take, put = planter.take, planter.put

    planter.departments(STAFF_DEPT, (("03.04", "0304"), ("04.01", 4.01), ("04.03", "A04.03")))
    planter.birth_dates()
    row = take()
    b = row[STAFF_START]
    put(row, STAFF_START, f"{b.year}/{b.month}/{b.day}", b.isoformat())
    row = take()
    put(row, STAFF_END, "２０２５－１２－３１", "2025-12-31")
    for row in inst.staff_rows:
        if row[STAFF_NAME] == inst.suffixed and id(row) not in planted:
            put(row, STAFF_NAME, inst.suffixed[:-1] + "１", inst.suffixed)
            break
    row = take()
    put(row, ORG, inst.org.lower(), inst.org)
    row = take()
    put(row, STAFF_SEX, float(row[STAFF_SEX]), row[STAFF_SEX])
    row = take()
    put(row, STAFF_KIND, int(row[STAFF_KIND]), row[STAFF_KIND])
    row = take()
    put(row, STAFF_LEVEL, row[STAFF_LEVEL].translate(_FULL_WIDTH), row[STAFF_LEVEL])
