"""Clean rows: one demo institution and the records and staff rows that pass every rule.

:class:`Institution` carries the random source of one hospital (derived from the seed and its
index, so institutions do not depend on each other), hands out names and licence numbers, and
builds case rows (:meth:`Institution.clean_row`) that the planting modules then spoil on
purpose. :func:`staff_row` is one clean 申报人员 row.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from cwdx.columns import (
    CASE_ADMIT,
    CASE_BIRTH,
    CASE_DEPT,
    CASE_DISCHARGE,
    CASE_MAIN_DIAG,
    CASE_MAIN_DIAG_ON_ADMISSION,
    CASE_MAIN_PROC,
    CASE_NO,
    CASE_OTHER_DIAGS,
    CASE_OTHER_DIAGS_ON_ADMISSION,
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
from cwdx.demo.manifest import ExpectedApplicant
from cwdx.demo.people import (
    COMORBIDITY_PREFIXES,
    COMPLICATION_PREFIXES,
    CUTOFF,
    DATA_END,
    DATA_START,
    DEPARTMENTS,
    DEPT_BY_CODE,
    GIVEN,
    HOSPITAL_NAMES,
    PROTECTED_PER_DEPT,
    SURNAMES,
    TEAM_SIZES,
    CodePools,
    Dept,
    Team,
    display_icd9,
    display_icd10,
)

_OTHER_DIAG = list(zip(CASE_OTHER_DIAGS, CASE_OTHER_DIAGS_ON_ADMISSION, strict=True))
_OTHER_PROC = [
    (f"其他手术操作编码{k}", f"其他手术操作日期{k}", f"其他手术操作级别{k}", f"其他手术操作术者{k}", f"其他手术操作Ⅰ助{k}")
    for k in range(1, 6)
]  # fmt: skip
_MAIN_PROC = (
    CASE_MAIN_PROC,
    "主要手术操作日期",
    "主要手术操作级别",
    "主要手术操作术者",
    "主要手术操作Ⅰ助",
)


def institution_code(index: int) -> str:
    """The 组织机构代码 of the demo institution at ``index`` (0-based): 12330000470000001X …"""
    return f"12330000470{index + 1:06d}X"


class Institution:
    """One demo hospital while it is built: its random source, people, teams and the rows,
    findings and accepted forms planted so far (the manifest is made from these)."""

    def __init__(self, index: int, cases: int, seed: int, pools: CodePools, clean: bool) -> None:
        self.index = index
        self.cases = cases
        self.clean = clean
        self.rng = random.Random(seed * 1009 + index)
        self.pools = pools
        self.ref = pools.ref
        self.org = institution_code(index)
        self.name = (
            HOSPITAL_NAMES[index] if index < len(HOSPITAL_NAMES) else f"演示市第{index + 1}人民医院"
        )
        self.used_names: set[str] = set()
        self.serial = 0
        self.license_serial = 0
        self.keys: set[tuple[str, dt.datetime]] = set()
        self.patients: list[str] = []
        self.stays: dict[str, tuple[int, str, dt.date]] = {}
        self.teams = {d.code: self._team() for d in DEPARTMENTS}
        # A doctor whose name needs a digit suffix: 王伟 exists elsewhere, so this one is 王伟1.
        base = self.teams["04.01"].residents[0]
        self.teams["03.04"].attendings[0] = base + "1"
        self.suffixed = base + "1"
        self.case_findings: list[tuple[dict[str, Any], str, str | None]] = []
        self.case_forms: list[tuple[dict[str, Any], str, Any, str]] = []
        self.staff_rows: list[dict[str, Any]] = []
        self.staff_findings: list[tuple[dict[str, Any], str, str | None]] = []
        #: ids of the staff rows whose findings need another institution in the workspace
        #: (E12/E13 across institutions): gone when this institution is loaded alone
        self.cross_rows: set[int] = set()
        #: findings that appear only when this institution is loaded alone
        self.alone_findings: list[tuple[dict[str, Any], str, str | None]] = []
        self.staff_forms: list[tuple[dict[str, Any], str, Any, str]] = []
        self.applicants: list[ExpectedApplicant] = []
        # Set for the clean institution by special_specs.
        self.special_people: tuple[str, ...] = ()
        self.special_doctor: tuple[str, list[dict[str, Any]]] = ("", [])
        self.special_nurse: tuple[str, list[dict[str, Any]], list[dict[str, Any]]] = ("", [], [])
        self.special_surgeon: tuple[str, list[dict[str, Any]]] = ("", [])

    # -- names and codes ----------------------------------------------------------------
    def person(self) -> str:
        """A new full name, unused so far in this institution."""
        rng = self.rng
        for _ in range(1000):
            given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
            name = rng.choice(SURNAMES) + given
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        raise RuntimeError("name pool exhausted")

    def reserve(self, name: str) -> str:
        """Mark ``name`` as used (so :meth:`person` never draws it) and return it."""
        self.used_names.add(name)
        return name

    def _team(self) -> Team:
        return Team(**{role: [self.person() for _ in range(n)] for role, n in TEAM_SIZES.items()})

    def license(self, kind: str) -> str:
        """A new 执业证书编码 of 人员类别 ``kind`` (physician or nurse form)."""
        self.license_serial += 1
        if kind == "1":
            return f"1103301{self.index + 1:02d}{self.license_serial:06d}"
        return f"2033{self.index + 1:02d}{self.license_serial:06d}"

    # -- case rows ------------------------------------------------------------------------
    def _admission(self, los: int) -> tuple[dt.datetime, dt.datetime]:
        """Admission and discharge times ``los`` days apart, discharge within the data years."""
        rng = self.rng
        day = DATA_START + dt.timedelta(days=rng.randrange((DATA_END - DATA_START).days - los))
        admit = dt.datetime(
            day.year, day.month, day.day, rng.randrange(7, 21), rng.randrange(0, 60, 5)
        )
        out = day + dt.timedelta(days=los)
        discharge = dt.datetime(
            out.year, out.month, out.day, rng.randrange(8, 18), rng.randrange(0, 60, 5)
        )
        return admit, discharge

    def _patient(self, admit: dt.datetime, female: bool) -> tuple[str, int, str, dt.date]:
        """病案号, earlier stays, sex and birth date: 5 % are readmissions of an earlier patient."""
        rng = self.rng
        if self.patients and rng.random() < 0.05:
            case_no = rng.choice(self.patients)
            times, sex, birth = self.stays[case_no]
            if sex == "2" or not female:
                return case_no, times, sex, birth
        self.serial += 1
        case_no = f"{self.index + 1:02d}{self.serial:06d}"
        sex = "2" if female or rng.random() < 0.45 else "1"
        age = rng.randrange(22, 60) if female else rng.randrange(18, 90)
        birth = dt.date(admit.year - age - 1, rng.randrange(1, 13), rng.randrange(1, 29))
        self.patients.append(case_no)
        return case_no, 0, sex, birth

    def clean_row(self, dept: Dept, k: int) -> dict[str, Any]:
        """A record that passes every rule; ``k`` is its number within the department."""
        rng = self.rng
        team = self.teams[dept.code]
        los = rng.randrange(*dept.los)
        while True:
            admit, discharge = self._admission(los)
            case_no, times, sex, birth = self._patient(admit, female=dept.code == "05.01")
            if (case_no, admit) not in self.keys:
                break
        self.keys.add((case_no, admit))
        self.stays[case_no] = (times + 1, sex, birth)
        age = admit.year - birth.year - ((admit.month, admit.day) < (birth.month, birth.day))
        diag = rng.choice(self.pools.diag(rng.choice(dept.diagnoses)))

        def pick(members: list[str]) -> str:
            return members[k % len(members)] if k < PROTECTED_PER_DEPT else rng.choice(members)

        row: dict[str, Any] = {
            ORG: self.org,
            ORG_NAME: self.name,
            CASE_NO: case_no,
            "住院次数": times + 1,
            CASE_SEX: sex,
            CASE_BIRTH: birth,
            "年龄（岁）": age,
            CASE_ADMIT: admit,
            CASE_DISCHARGE: discharge,
            CASE_DEPT: dept.code,
            "实际住院（天）": los,
            CASE_MAIN_DIAG: display_icd10(diag),
            "出院主要诊断名称": self.pools.icd10_names[diag],
            CASE_MAIN_DIAG_ON_ADMISSION: "1" if rng.random() < 0.9 else "2",
            "离院方式": "5" if rng.random() < dept.death else rng.choice("1111111124"),
            "主（副主）任医师": pick(team.chiefs),
            "主治医师": pick(team.attendings),
            "住院医师": pick(team.residents),
            "责任护士": pick(team.nurses),
            "质控护师": pick(team.qc),
            "_dept": dept.code,
            "_protected": k < PROTECTED_PER_DEPT,
        }
        comorbid = rng.sample(COMORBIDITY_PREFIXES, rng.choice((0, 0, 1, 1, 2, 3)))
        for slot, prefix in enumerate(comorbid, start=1):
            self.set_other_diag(
                row, slot, display_icd10(rng.choice(self.pools.diag(prefix))), rng.choice("1113")
            )
        fee = los * rng.uniform(800, 2500)
        if rng.random() < dept.surgical:
            prefix, level = rng.choice(dept.procedures)
            surgeon = rng.choice((row["主（副主）任医师"], row["主治医师"]))
            assistant = row["主治医师"] if surgeon != row["主治医师"] else row["住院医师"]
            day = admit + dt.timedelta(days=min(1, los), hours=1)
            self.set_procedure(
                row, 0, rng.choice(self.pools.proc(prefix)), level, surgeon, assistant, day
            )
            row["主要手术操作Ⅱ助"] = pick(team.residents) if rng.random() < 0.5 else None
            fee += rng.uniform(5000, 40000)
            if rng.random() < 0.3:
                prefix2, level2 = rng.choice(dept.procedures)
                self.set_procedure(
                    row, 1, rng.choice(self.pools.proc(prefix2)), level2, surgeon, assistant, day
                )
            if rng.random() < 0.06:
                slot = len(comorbid) + 1
                code = rng.choice(self.pools.diag(rng.choice(COMPLICATION_PREFIXES)))
                self.set_other_diag(
                    row, slot, display_icd10(code), "4" if rng.random() < 0.8 else "1"
                )
        row["住院总费用"] = round(fee, 2)
        return row

    @staticmethod
    def set_other_diag(
        row: dict[str, Any], slot: int, code: str | None, condition: str | None
    ) -> None:
        """Write 出院其他诊断编码``slot`` and its 入院病情."""
        code_col, cond_col = _OTHER_DIAG[slot - 1]
        row[code_col] = code
        row[cond_col] = condition

    def set_procedure(
        self,
        row: dict[str, Any],
        slot: int,
        code: str,
        level: str,
        surgeon: str | None,
        assistant: str | None,
        when: dt.datetime,
    ) -> None:
        """Write procedure ``slot`` (0: 主要手术操作, k: 其他手术操作k) with its date and people."""
        cols = _MAIN_PROC if slot == 0 else _OTHER_PROC[slot - 1]
        row[cols[0]] = display_icd9(code)
        row[cols[1]] = when
        row[cols[2]] = level
        row[cols[3]] = surgeon
        row[cols[4]] = assistant
        if slot == 0:
            row["主要手术操作名称"] = self.pools.icd9_names.get(code.upper()) or None

    def clear_procedures(self, row: dict[str, Any]) -> None:
        """Empty every procedure cell of ``row``."""
        for cols in (_MAIN_PROC, *_OTHER_PROC):
            for col in cols:
                row[col] = None
        row["主要手术操作名称"] = None
        row["主要手术操作Ⅱ助"] = None

    def clear_other_diags(self, row: dict[str, Any]) -> None:
        """Empty the ten other-diagnosis slots of ``row``."""
        for slot in range(1, 11):
            self.set_other_diag(row, slot, None, None)

    def ensure_main_procedure(self, row: dict[str, Any]) -> None:
        """Give ``row`` a main procedure of its department when it has none."""
        if row.get(CASE_MAIN_PROC):
            return
        dept = DEPT_BY_CODE[row["_dept"]]
        prefix, level = dept.procedures[0]
        when = row[CASE_ADMIT] + dt.timedelta(days=1)
        self.set_procedure(
            row,
            0,
            self.pools.proc(prefix)[0],
            level,
            row["主（副主）任医师"],
            row["住院医师"],
            when,
        )

    def add_other_procedure(
        self, row: dict[str, Any], code: str, level: str, surgeon: str | None
    ) -> None:
        """Another procedure in the row's first free slot, with the main procedure's Ⅰ助 and
        date (the row must already have a main procedure)."""
        self.set_procedure(
            row,
            self.free_other_slot(row),
            code,
            level,
            surgeon,
            row["主要手术操作Ⅰ助"],
            row["主要手术操作日期"],
        )

    def free_other_slot(self, row: dict[str, Any]) -> int:
        """The first empty 其他手术操作 slot (1..5; 5 when all are taken)."""
        for slot in range(1, 6):
            if not row.get(_OTHER_PROC[slot - 1][0]):
                return slot
        return 5

    def free_diag_slot(self, row: dict[str, Any]) -> int:
        """The first empty 出院其他诊断 slot (1..10; 10 when all are taken)."""
        for slot in range(1, 11):
            if not row.get(_OTHER_DIAG[slot - 1][0]):
                return slot
        return 10


def staff_row(
    inst: Institution, name: str, dept: str, kind: str, specialty: str, level: str = "2"
) -> dict[str, Any]:
    """A clean 申报人员 row of ``inst`` (random sex, birth, 学历 and appointment date; a new
    licence of ``kind``; cut-off :data:`CUTOFF`)."""
    rng = inst.rng
    birth = dt.date(rng.randrange(1966, 1988), rng.randrange(1, 13), rng.randrange(1, 29))
    appointed_year = min(2022, max(birth.year + 26, rng.randrange(2012, 2023)))
    return {
        ORG: inst.org,
        ORG_NAME: inst.name,
        STAFF_NAME: name,
        STAFF_SEX: rng.choice("12"),
        STAFF_BIRTH: birth,
        STAFF_LICENSE: inst.license(kind),
        STAFF_DEPT: dept,
        STAFF_KIND: kind,
        STAFF_LEVEL: level,
        STAFF_EDUCATION: rng.choice("11223334"),
        STAFF_SPECIALTY: specialty,
        STAFF_START: dt.date(appointed_year, rng.randrange(1, 13), 1),
        STAFF_END: CUTOFF,
    }
