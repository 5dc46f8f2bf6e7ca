"""Realistic demo workbooks with planted problems (``cwdx demo DIR``).

For each institution the case rows are split over two workbooks (``病案首页数据-1.xlsx`` with
Excel date cells, ``病案首页数据-2.xlsx`` with dates as text) plus ``申报人员信息.xlsx``; a
``demo_manifest.json`` states, by construction, what every check and some indicators must give.

Every institution but the last carries a few problems of every rule of ``checks.md``; the last
one is clean (no finding at all) and holds applicants whose indicators are known exactly. All
institutions carry cells in accepted non-canonical forms (``0304``, ``3.04``, ``20200105``,
``张三 1``, lower-case ICD codes …) that must read as their canonical values and raise nothing.

Deterministic: one :class:`random.Random` per institution derived from ``seed``; no global state.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from cwdx.errors import CwdxError, os_error_text
from cwdx.reference import Reference, load_reference, reference_dir
from cwdx.templates import TEMPLATE_SHEET_NAMES
from cwdx.values import canonical_icd9, canonical_icd10, canonical_rc023
from cwdx.xlsx import Book, atomic_path

#: Every rule id of checks.md, in the order the manifest lists them.
RULE_IDS: tuple[str, ...] = (
    *(f"E{n:02d}" for n in range(1, 17)),
    *(f"W{n:02d}" for n in range(1, 13)),
    "X01",
)
CASE_FILES = ("病案首页数据-1.xlsx", "病案首页数据-2.xlsx")
STAFF_FILE = "申报人员信息.xlsx"
MANIFEST_FILE = "demo_manifest.json"
README_FILE = "演示数据说明.txt"
MIN_CASES = 150
_log = logging.getLogger("cwdx.demo")

DATA_START = dt.date(2023, 1, 1)
DATA_END = dt.date(2025, 12, 31)
CUTOFF = dt.date(2025, 12, 31)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕鹏辉健斌宇浩凯晨欣怡佳琪雪梅婷丹"
    "海波建国志明文博晓东春雨冬梅立新嘉怡子涵思远俊杰雅琴慧敏振华永刚秋菊金凤亚楠宏伟国强美玲"
)
HOSPITAL_NAMES = (
    "演示市第一人民医院",
    "演示市中心医院",
    "演示县人民医院",
    "演示市第二人民医院",
    "演示市中医院",
    "演示市妇幼保健院",
)


@dataclass(frozen=True)
class _Dept:
    code: str
    name: str
    physician_specialty: str
    nurse_specialty: str
    weight: float
    surgical: float
    death: float
    los: tuple[int, int]
    diagnoses: tuple[str, ...]
    procedures: tuple[tuple[str, str], ...]  # (code prefix, level)


DEPARTMENTS: tuple[_Dept, ...] = (
    _Dept(
        "03.04", "心血管内科", "心血管内科", "内科护理", 0.22, 0.40, 0.02, (3, 12),
        ("I21.0", "I21.1", "I21.4", "I20.0", "I50.0", "I50.1", "I48", "I10", "I25.1", "I42.0", "I49.5", "I44.2"),
        (("36.06", "4"), ("00.66", "3"), ("88.56", "2"), ("37.34", "4"), ("37.81", "3"), ("37.83", "3")),
    ),
    _Dept(
        "04.01", "普通外科", "普通外科", "外科护理", 0.20, 0.85, 0.005, (3, 14),
        ("K35", "K80", "K81", "K40", "C16", "C18", "K56", "K85"),
        (("47.01", "2"), ("47.0", "2"), ("51.23", "3"), ("51.2", "3"), ("53.0", "2"), ("53.1", "2"), ("43.5", "4"), ("45.7", "4")),
    ),
    _Dept(
        "04.03", "骨外科", "骨外科", "外科护理", 0.18, 0.90, 0.003, (5, 20),
        ("S72.0", "S72.1", "S82", "S52.5", "M16", "M17"),
        (("81.51", "4"), ("81.52", "3"), ("81.54", "4"), ("79.35", "3"), ("79.3", "3")),
    ),
    _Dept(
        "03.02", "消化内科", "消化内科", "内科护理", 0.15, 0.35, 0.008, (3, 12),
        ("K25", "K29", "K70", "K74", "K92"),
        (("45.13", "2"), ("45.42", "3"), ("44.43", "3"), ("45.23", "2")),
    ),
    _Dept(
        "05.01", "妇科", "妇科", "妇产科护理", 0.12, 0.75, 0.001, (3, 10),
        ("N80", "D25", "N83"),
        (("68.41", "3"), ("68.4", "3"), ("65.25", "3"), ("65.01", "2")),
    ),
    _Dept(
        "03.01", "呼吸内科", "呼吸内科", "内科护理", 0.13, 0.15, 0.015, (4, 14),
        ("J18", "J44", "J45", "J15"),
        (("33.24", "2"), ("33.22", "2"), ("34.91", "1"), ("96.04", "1")),
    ),
)  # fmt: skip
_DEPT_BY_CODE = {d.code: d for d in DEPARTMENTS}
#: A department no demo record uses (W11 plant).
UNUSED_DEPT = ("03.06", "肾内科")

COMORBIDITY_PREFIXES = ("I10", "E11.9", "E78", "N18", "J18.9", "K29", "I25.1")
COMPLICATION_PREFIXES = ("T81", "K91", "I97", "J95", "M96")

TEAM_SIZES = {"chiefs": 2, "attendings": 3, "residents": 4, "nurses": 5, "qc": 2}
PROTECTED_PER_DEPT = 6  # first rows of each department cycle through the whole team


# ------------------------------------------------------------------------------------------
# Manifest
# ------------------------------------------------------------------------------------------


@dataclass
class ExpectedApplicant:
    """An applicant of the clean institution whose indicators are known by construction."""

    license: str
    name: str
    kind: str  # "1" 医师, "2" 护士
    specialty: str
    department: str
    start: str
    end: str
    indicators: dict[str, Any]


@dataclass
class InstitutionManifest:
    """What one demo institution holds and what its check must report."""

    org: str
    name: str
    case_rows: int
    staff_rows: int
    case_files: list[str]
    staff_file: str
    expected_counts: dict[str, int]
    passes: bool
    #: one entry per expected finding: rule, table, file, row (Excel), column (None: row rule)
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: cells written in accepted non-canonical forms: table, file, row, column, written, reads_as
    accepted_forms: list[dict[str, Any]] = field(default_factory=list)
    applicants: list[ExpectedApplicant] = field(default_factory=list)


@dataclass
class DemoManifest:
    """Returned by :func:`write_demo` and written as ``demo_manifest.json``."""

    seed: int
    institutions_requested: int
    cases_per_institution: int
    institutions: list[InstitutionManifest]

    def institution(self, org: str) -> InstitutionManifest:
        """The manifest entry of one institution code."""
        for inst in self.institutions:
            if inst.org == org:
                return inst
        raise KeyError(org)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the content of ``demo_manifest.json``)."""
        return asdict(self)


def read_manifest(path: str | Path) -> DemoManifest:
    """Load a ``demo_manifest.json`` written by :func:`write_demo`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    insts = []
    for item in data["institutions"]:
        item = dict(item)
        item["applicants"] = [ExpectedApplicant(**a) for a in item["applicants"]]
        insts.append(InstitutionManifest(**item))
    return DemoManifest(
        seed=data["seed"],
        institutions_requested=data["institutions_requested"],
        cases_per_institution=data["cases_per_institution"],
        institutions=insts,
    )


def _round2(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _mean(values: list[float]) -> float | None:
    if not values:
        return None
    return _round2(sum(Decimal(str(v)) for v in values) / len(values))


def _pct(count: int, total: int) -> float | None:
    if not total:
        return None
    return _round2(Decimal(count) * 100 / Decimal(total))


# ------------------------------------------------------------------------------------------
# Code pools
# ------------------------------------------------------------------------------------------

_ICD10_SIMPLE = re.compile(r"^[A-Z]\d\d\.[0-9X]\d\d(X\d{3})?$")
_ICD9_SIMPLE = re.compile(r"^\d\d\.\d[\dX]\d\d(X\d{3})?$")


class _Pools:
    """Department code pools drawn from the national lists (sorted, so deterministic)."""

    def __init__(self, ref: Reference) -> None:
        self.ref = ref
        # 国临-only codes have no name of their own; the list gives their 医保 mapping's name.
        self.icd10_names = dict(ref.icd10_names)
        self.icd9_names = dict(ref.icd9_names)
        for file, names in (
            ("icd10_national_clinical_v2.csv", self.icd10_names),
            ("icd9cm3_national_clinical_v3.csv", self.icd9_names),
        ):
            with (reference_dir() / file).open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    code = row["code"].upper()
                    if not names.get(code):
                        names[code] = row["yb2_name"]
        self._icd10 = sorted(
            c for c in ref.icd10 if _ICD10_SIMPLE.match(c) and 0 < len(self.icd10_names[c]) <= 100
        )
        self._icd9 = sorted(
            c for c in ref.icd9 if _ICD9_SIMPLE.match(c) and 0 < len(self.icd9_names[c]) <= 100
        )
        self._cache: dict[tuple[str, str], list[str]] = {}

    def diag(self, prefix: str) -> list[str]:
        """The usable ICD-10 codes starting with ``prefix``."""
        return self._starting("ICD-10", self._icd10, prefix)

    def proc(self, prefix: str) -> list[str]:
        """The usable ICD-9-CM-3 codes starting with ``prefix``."""
        return self._starting("ICD-9-CM-3", self._icd9, prefix)

    def _starting(self, list_name: str, codes: list[str], prefix: str) -> list[str]:
        key = (list_name, prefix)
        if key not in self._cache:
            found = [c for c in codes if c.startswith(prefix)]
            if not found:
                raise RuntimeError(f"no {list_name} code for prefix {prefix}")
            self._cache[key] = found
        return self._cache[key]


def _display_icd10(code: str) -> str:
    """How exports usually write a list code: the extension ``x`` in lower case."""
    return code[:3] + code[3:].replace("X", "x")


def _display_icd9(code: str) -> str:
    """ICD-9-CM-3 codes as the list writes them (``43.5x00``)."""
    return code.replace("X", "x")


# ------------------------------------------------------------------------------------------
# One institution
# ------------------------------------------------------------------------------------------

_OTHER_DIAG = [(f"出院其他诊断编码{k}", f"出院其他诊断入院病情{k}") for k in range(1, 11)]
_OTHER_PROC = [
    (f"其他手术操作编码{k}", f"其他手术操作日期{k}", f"其他手术操作级别{k}", f"其他手术操作术者{k}", f"其他手术操作Ⅰ助{k}")
    for k in range(1, 6)
]  # fmt: skip
_MAIN_PROC = (
    "主要手术操作编码",
    "主要手术操作日期",
    "主要手术操作级别",
    "主要手术操作术者",
    "主要手术操作Ⅰ助",
)


@dataclass
class _Team:
    chiefs: list[str]
    attendings: list[str]
    residents: list[str]
    nurses: list[str]
    qc: list[str]


class _Institution:
    def __init__(self, index: int, cases: int, seed: int, pools: _Pools, clean: bool) -> None:
        self.index = index
        self.cases = cases
        self.clean = clean
        self.rng = random.Random(seed * 1009 + index)
        self.pools = pools
        self.ref = pools.ref
        self.org = f"12330000470{index + 1:06d}X"
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
        self.staff_forms: list[tuple[dict[str, Any], str, Any, str]] = []
        self.applicants: list[ExpectedApplicant] = []
        # Set for the clean institution by _special_specs.
        self.special_people: tuple[str, ...] = ()
        self.special_doctor: tuple[str, list[dict[str, Any]]] = ("", [])
        self.special_nurse: tuple[str, list[dict[str, Any]], list[dict[str, Any]]] = ("", [], [])
        self.special_surgeon: tuple[str, list[dict[str, Any]]] = ("", [])

    # -- names and codes ----------------------------------------------------------------
    def person(self) -> str:
        rng = self.rng
        for _ in range(1000):
            given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
            name = rng.choice(SURNAMES) + given
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        raise RuntimeError("name pool exhausted")

    def reserve(self, name: str) -> str:
        self.used_names.add(name)
        return name

    def _team(self) -> _Team:
        return _Team(**{role: [self.person() for _ in range(n)] for role, n in TEAM_SIZES.items()})

    def license(self, kind: str) -> str:
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

    def clean_row(self, dept: _Dept, k: int) -> dict[str, Any]:
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
            "组织机构代码": self.org,
            "医疗机构名称": self.name,
            "病案号": case_no,
            "住院次数": times + 1,
            "性别": sex,
            "出生日期": birth,
            "年龄（岁）": age,
            "入院时间": admit,
            "出院时间": discharge,
            "出院科别": dept.code,
            "实际住院（天）": los,
            "出院主要诊断编码": _display_icd10(diag),
            "出院主要诊断名称": self.pools.icd10_names[diag],
            "出院主要诊断入院病情": "1" if rng.random() < 0.9 else "2",
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
                row, slot, _display_icd10(rng.choice(self.pools.diag(prefix))), rng.choice("1113")
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
                    row, slot, _display_icd10(code), "4" if rng.random() < 0.8 else "1"
                )
        row["住院总费用"] = round(fee, 2)
        return row

    @staticmethod
    def set_other_diag(
        row: dict[str, Any], slot: int, code: str | None, condition: str | None
    ) -> None:
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
        cols = _MAIN_PROC if slot == 0 else _OTHER_PROC[slot - 1]
        row[cols[0]] = _display_icd9(code)
        row[cols[1]] = when
        row[cols[2]] = level
        row[cols[3]] = surgeon
        row[cols[4]] = assistant
        if slot == 0:
            row["主要手术操作名称"] = self.pools.icd9_names.get(code.upper()) or None

    def clear_procedures(self, row: dict[str, Any]) -> None:
        for cols in (_MAIN_PROC, *_OTHER_PROC):
            for col in cols:
                row[col] = None
        row["主要手术操作名称"] = None
        row["主要手术操作Ⅱ助"] = None

    def clear_other_diags(self, row: dict[str, Any]) -> None:
        for slot in range(1, 11):
            self.set_other_diag(row, slot, None, None)

    def ensure_main_procedure(self, row: dict[str, Any]) -> None:
        if row.get("主要手术操作编码"):
            return
        dept = _DEPT_BY_CODE[row["_dept"]]
        prefix, level = dept.procedures[0]
        when = row["入院时间"] + dt.timedelta(days=1)
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
        for slot in range(1, 6):
            if not row.get(_OTHER_PROC[slot - 1][0]):
                return slot
        return 5

    def free_diag_slot(self, row: dict[str, Any]) -> int:
        for slot in range(1, 11):
            if not row.get(_OTHER_DIAG[slot - 1][0]):
                return slot
        return 10


# ------------------------------------------------------------------------------------------
# Public entry point
# ------------------------------------------------------------------------------------------


def write_demo(
    out_dir: str | Path,
    institutions: int = 3,
    cases: int = 2000,
    seed: int = 20261125,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> DemoManifest:
    """Write demo workbooks for ``institutions`` hospitals of ``cases`` case rows each.

    Files: ``out_dir/<组织机构代码>/病案首页数据-1.xlsx``, ``-2.xlsx``, ``申报人员信息.xlsx``,
    ``out_dir/demo_manifest.json`` and ``out_dir/演示数据说明.txt``. The last institution is
    clean; the others carry planted problems of every rule. ``on_progress(done, total, label)``
    is called as institutions are generated and files written. Raises :class:`CwdxError` for
    unusable arguments or an unwritable folder.
    """
    if institutions < 1:
        raise CwdxError("演示机构数（--institutions）至少为 1。")
    if cases < MIN_CASES:
        raise CwdxError(f"每个机构的病案条数（--cases）至少为 {MIN_CASES}，以便放入全部示例问题。")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CwdxError(
            f"无法创建演示数据目录“{out}”（{os_error_text(exc)}）：请换一个目录。"
        ) from exc
    total = 4 * institutions
    done = 0

    def step(label: str) -> None:
        nonlocal done
        if on_progress:
            on_progress(done, total, label)
        done += 1

    pools = _Pools(load_reference())
    insts = [
        _Institution(i, cases, seed, pools, clean=i == institutions - 1)
        for i in range(institutions)
    ]
    case_rows = {}
    for inst in insts:
        step(f"正在生成 {inst.name} 的病案")
        case_rows[inst.index] = _build_cases(inst)
    for inst in insts:
        _build_staff(inst)
    _cross_institution_staff([i for i in insts if not i.clean])
    manifests = []
    try:
        for inst in insts:
            manifests.append(_write_institution(out, inst, case_rows[inst.index], step))
            del case_rows[inst.index]
        manifest = DemoManifest(seed, institutions, cases, manifests)
        _write_text(
            out / MANIFEST_FILE,
            json.dumps(manifest.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n",
        )
        _write_text(out / README_FILE, _readme(manifest))
    except OSError as exc:
        raise CwdxError(
            f"无法写入演示数据到“{out}”（{os_error_text(exc)}）：请检查磁盘空间和权限。"
        ) from exc
    for inst in manifests:
        _log.info(
            "演示数据：机构 %s，病案 %d 条，人员 %d 条，预期检测结果 %d 项",
            inst.org,
            inst.case_rows,
            inst.staff_rows,
            sum(inst.expected_counts.values()),
        )
    if on_progress:
        on_progress(total, total, "演示数据已生成")
    return manifest


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _readme(manifest: DemoManifest) -> str:
    """A short Chinese note for users who open the demo folder."""
    lines = [
        "cwdx 演示数据说明",
        "",
        "本文件夹中的数据全部为程序生成的虚构数据，仅用于练习和测试，不对应任何真实医院、患者或人员。",
        "每个机构一个文件夹（以组织机构代码命名），内有两个病案首页数据文件和一个申报人员信息文件；",
        "请按“病案首页数据-1、病案首页数据-2”的顺序导入病案首页数据。",
        "",
    ]
    for inst in manifest.institutions:
        if inst.passes:
            verdict = "数据无问题，应检测通过，可进行指标计算"
        else:
            verdict = "故意埋入了各类错误和警告，应检测不通过，可用来查看反馈表"
        lines.append(
            f"{inst.org}  {inst.name}：病案首页 {inst.case_rows} 条，申报人员 {inst.staff_rows} 人；{verdict}。"
        )
    lines += [
        "",
        f"各机构每条检测规则的预期结果见 {MANIFEST_FILE}（供测试使用）。",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Case table: base rows, specials, duplicates, plants, accepted forms
# ------------------------------------------------------------------------------------------


def _allocation(extra: dict[str, int], total: int) -> dict[str, int]:
    """Case rows per department: by weight, at least 15 plus the special rows."""
    minimum = {d.code: 15 + extra.get(d.code, 0) for d in DEPARTMENTS}
    counts = {d.code: max(minimum[d.code], int(total * d.weight)) for d in DEPARTMENTS}
    # Adjust the largest department so that the counts add up to total.
    diff = total - sum(counts.values())
    largest = max(DEPARTMENTS, key=lambda d: counts[d.code] - minimum[d.code]).code
    counts[largest] += diff
    if counts[largest] < minimum[largest]:
        raise CwdxError(f"每个机构的病案条数（--cases）至少为 {MIN_CASES}。")
    return counts


def _build_cases(inst: _Institution) -> list[dict[str, Any]]:
    n_dups = 0 if inst.clean else 2
    specials = _special_specs(inst) if inst.clean else []
    extra: dict[str, int] = Counter(spec["dept"] for spec in specials)
    counts = _allocation(extra, inst.cases - n_dups)
    rows: list[dict[str, Any]] = []
    for dept in DEPARTMENTS:
        rows.extend(
            inst.clean_row(dept, k) for k in range(counts[dept.code] - extra.get(dept.code, 0))
        )
    for spec in specials:
        rows.append(_special_row(inst, spec))
    rows.sort(key=lambda r: (r["出院时间"], r["病案号"]))

    rng = inst.rng
    free = [i for i, r in enumerate(rows) if not r["_protected"] and not r.get("_special")]
    rng.shuffle(free)
    half = (inst.cases + 1) // 2
    if n_dups:
        # source 1 in file 1, its copy in file 2; source 2 and its copy both in file 1.
        first_half = [i for i in free if i < half - 1]
        src1, src2 = first_half[0], first_half[1]
        for src in (src1, src2):
            rows[src]["_dup_source"] = True
        copy1 = dict(rows[src1])
        copy2 = dict(rows[src2])
        for dup in (copy1, copy2):
            dup["_dup_source"] = False
            dup["_protected"] = True
            inst.case_findings.append((dup, "W09", None))
        file1, file2 = rows[: half - 1], rows[half - 1 :]
        file1.insert(rng.randrange(src2 + 1, len(file1) + 1), copy2)
        file2.insert(rng.randrange(1, len(file2) + 1), copy1)
        rows = file1 + file2
        free_rows = [
            r
            for r in rows
            if not r["_protected"] and not r.get("_special") and not r.get("_dup_source")
        ]
    else:
        free_rows = [r for r in rows if not r["_protected"] and not r.get("_special")]
    rng.shuffle(free_rows)
    _accepted_case_forms(inst, free_rows)
    if not inst.clean:
        _plant_cases(inst, free_rows)
    assert len(rows) == inst.cases
    return rows


def _absent(code: str, present: Callable[[str], bool]) -> str:
    """``code``, or the first variant ``code1``, ``code2``… that the list does not hold."""
    candidate, n = code, 0
    while present(candidate):
        n += 1
        candidate = f"{code}{n}"
    return candidate


def _plant_cases(inst: _Institution, free: list[dict[str, Any]]) -> None:
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
    row["性别"] = "男"
    found.append((row, "E15", "性别"))
    row = take()
    row["住院次数"] = 0
    found.append((row, "E15", "住院次数"))
    row = take()
    row["出院时间"] = row["入院时间"].replace(hour=9, minute=0) - dt.timedelta(days=1)
    found.append((row, "E15", "出院时间"))
    row = take()
    row["组织机构代码"] = inst.org[:8] + "@" + inst.org[9:]
    found.append((row, "E15", "组织机构代码"))
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
    blank("E16", ("病案号", "入院时间", "医疗机构名称", "组织机构代码"))
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
        row["出院主要诊断编码"] = invalid_icd10(bad_diags[n])
        found.append((row, "W03", None))
    # W04: another procedure code not in 国临版3.0, its surgeon filled.
    row = take()
    inst.ensure_main_procedure(row)
    inst.add_other_procedure(row, invalid_icd9("36.0699x999"), "3", row["主要手术操作术者"])
    found.append((row, "W04", None))
    # W05: main procedure code not in 国临版3.0.
    row = take()
    inst.ensure_main_procedure(row)
    row["主要手术操作编码"] = invalid_icd9("99.9999x999")
    found.append((row, "W05", None))
    # W06: procedure without surgeon (main: also a W08 cell; other k: W06 only).
    row = take()
    inst.ensure_main_procedure(row)
    row["主要手术操作术者"] = None
    found += [(row, "W06", None), (row, "W08", "主要手术操作术者")]
    row = take()
    inst.ensure_main_procedure(row)
    inst.add_other_procedure(row, row["主要手术操作编码"], row["主要手术操作级别"], None)
    found.append((row, "W06", None))
    # W07: 出院科别 outside RC023.
    rc023 = ref.domain_codes("RC023")
    for value in (_absent("03.99", lambda c: canonical_rc023(c) in rc023), "心内科"):
        row = take()
        row["出院科别"] = value
        found.append((row, "W07", "出院科别"))
    # W08: empty important cells.
    blank("W08", ("年龄（岁）", "出院时间", "出院科别", "出院主要诊断编码"))
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
            b = row["出生日期"]
            written: Any = {
                "text": b.strftime("%Y%m%d"),
                "chinese": f"{b.year}年{b.month}月{b.day}日",
                "number": int(b.strftime("%Y%m%d")),
            }[form]
            self.put(row, "出生日期", written, b.isoformat())


def _accepted_case_forms(inst: _Institution, free: list[dict[str, Any]]) -> None:
    """Cells in accepted non-canonical forms (templates.md "Normalisation"); no finding."""
    ref = inst.ref
    planter = _FormPlanter(free, inst.case_forms, "_dept", from_end=True)
    take, put = planter.take, planter.put

    planter.departments(
        "出院科别", (("03.04", "0304"), ("04.01", "A04.01"), ("04.03", 4.03), ("03.02", "A0302"))
    )
    planter.birth_dates()
    row = take()
    a = row["入院时间"]
    put(
        row,
        "入院时间",
        f"{a.year}/{a.month}/{a.day} {a.hour}:{a.minute:02d}",
        a.strftime("%Y-%m-%d %H:%M:%S"),
    )
    row = take()
    a = row["出院时间"]
    text = a.strftime("%Y-%m-%d %H:%M")
    put(row, "出院时间", text.translate(_FULL_WIDTH), a.strftime("%Y-%m-%d %H:%M:%S"))
    row = take()
    put(row, "年龄（岁）", str(row["年龄（岁）"]).translate(_FULL_WIDTH), str(row["年龄（岁）"]))
    for written in (inst.suffixed[:-1] + " 1", inst.suffixed[:-1] + "１"):
        row = take("03.04")
        row["主治医师"] = inst.suffixed
        put(row, "主治医师", written, inst.suffixed)
    row = take()
    put(row, "责任护士", "\u3000" + row["责任护士"] + " ", row["责任护士"])
    row = take()
    code = row["出院主要诊断编码"]
    put(row, "出院主要诊断编码", code.lower(), code.upper())
    row = take()
    code = row["出院主要诊断编码"]
    put(row, "出院主要诊断编码", code.upper(), code.upper())
    row = take()
    # a diagnosis written without its dagger/asterisk part
    base = "E11.200X011" if "E11.200X011" in ref.icd10_by_base else min(ref.icd10_by_base)
    slot = inst.free_diag_slot(row)
    inst.set_other_diag(row, slot, None, "1")
    put(row, _OTHER_DIAG[slot - 1][0], _display_icd10(base), ref.icd10_by_base[base])
    row = take()
    put(row, "组织机构代码", inst.org.lower(), inst.org)
    row = take()
    put(row, "病案号", int(row["病案号"]), str(int(row["病案号"])))
    row = take()
    put(row, "性别", float(row["性别"]), row["性别"])
    row = take()
    put(row, "离院方式", int(row["离院方式"]), row["离院方式"])
    row = take()
    put(row, "住院总费用", f"{row['住院总费用']:.2f}", repr(float(f"{row['住院总费用']:.2f}")))
    row = take()
    put(row, "出院其他诊断编码9", "-", "")
    put(row, "出院其他诊断入院病情9", "—", "")
    row = take(need="主要手术操作编码")
    put(row, "主要手术操作Ⅱ助", "－", "")


_FULL_WIDTH = str.maketrans({**{str(d): chr(0xFF10 + d) for d in range(10)}, "-": "－", ":": "："})


# ------------------------------------------------------------------------------------------
# The clean institution's applicants with known indicators
# ------------------------------------------------------------------------------------------


def _special_specs(inst: _Institution) -> list[dict[str, Any]]:
    """Rows built for the known-indicator applicants of the clean institution."""
    doc = inst.reserve("欧阳志远")
    nurse = inst.reserve("司马晓雯")
    surgeon = inst.reserve("诸葛明远")
    inst.special_people = (doc, nurse, surgeon)
    specs: list[dict[str, Any]] = []
    # Physician 欧阳志远 (心血管内科, 03.04), window 2024-01-01 .. 2024-12-31, always 主治医师.
    diags = ["I21.0", "I21.1", "I21.4", "I21.0", "I20.0", "I20.0", "I50.0", "I50.1", "I48", "I48"]
    discharge = [
        dt.datetime(2024, 1, 1, 10, 0),  # first day of the window
        dt.datetime(2024, 2, 12, 9, 30),
        dt.datetime(2024, 3, 20, 15, 0),
        dt.datetime(2024, 5, 8, 11, 0),
        dt.datetime(2024, 6, 18, 16, 20),
        dt.datetime(2024, 7, 30, 10, 10),
        dt.datetime(2024, 9, 2, 9, 0),
        dt.datetime(2024, 10, 15, 14, 0),
        dt.datetime(2024, 11, 26, 10, 0),
        dt.datetime(2024, 12, 31, 18, 0),  # last day of the window
    ]
    los = [5, 7, 6, 12, 4, 3, 9, 8, 6, 10]
    fees = [
        38210.55,
        52630.2,
        41877.1,
        61220.0,
        18440.35,
        9760.8,
        15320.4,
        13980.05,
        11200.0,
        16555.6,
    ]
    leave = ["1", "1", "1", "5", "1", "1", "1", "5", "1", "2"]
    for n in range(10):
        spec = {
            "dept": "03.04",
            "diag": diags[n],
            "discharge": discharge[n],
            "los": los[n],
            "fee": fees[n],
            "leave": leave[n],
            "roles": {"主治医师": doc},
            "procedures": [],
            "other_diags": [],
        }
        if n < 4:
            spec["procedures"].append(("36.06", "4", doc, None))
        if n == 4:
            spec["procedures"].append(("88.56", "3", doc, None))
        if n == 0:
            spec["procedures"].append(("88.56", "3", doc, None))
        if n == 5:  # 欧阳志远 is Ⅰ助 of the chief's procedure
            spec["procedures"].append(("88.56", "2", None, doc))
        if n == 1:
            spec["other_diags"].append(("T81.0", "4"))  # complication arising in hospital
        if n == 2:
            spec["other_diags"].append(("T81.4", "1"))  # present on admission: not counted
        if n == 6:
            spec["other_diags"].append(("I97", "4"))  # no procedure of his: not counted
        specs.append(spec)
    for when in (dt.datetime(2023, 12, 31, 17, 0), dt.datetime(2025, 1, 1, 9, 0)):
        specs.append(
            {
                "dept": "03.04",
                "diag": "I21.0",
                "discharge": when,
                "los": 6,
                "fee": 30000.0,
                "leave": "1",
                "roles": {"主治医师": doc},
                "procedures": [("36.06", "4", doc, None)],
                "other_diags": [],
            }
        )
    inst.special_doctor = (doc, specs[:10])

    # Nurse 司马晓雯 (内科护理, 03.04), window 2024-01-01 .. 2024-12-31.
    nurse_specs = []
    n_diags = ["I10", "I10", "I25.1", "I48", "I50.0", "I21.0", "I21.1", "I20.0"]
    n_los = [4, 6, 5, 7, 9, 8, 6, 3]
    n_leave = ["1", "1", "1", "1", "5", "1", "1", "1"]
    for n in range(8):
        nurse_specs.append(
            {
                "dept": "03.04",
                "diag": n_diags[n],
                "discharge": dt.datetime(2024, 1 + n, 10 + n, 10, 0),
                "los": n_los[n],
                "fee": 9000.0 + 1000 * n,
                "leave": n_leave[n],
                "roles": {"责任护士": nurse},
                "procedures": [("36.06", "4", None, None)] if n >= 5 else [],
                "other_diags": [],
            }
        )
    for n in range(3):
        nurse_specs.append(
            {
                "dept": "03.04",
                "diag": "I50.1",
                "discharge": dt.datetime(2024, 9, 3 + n, 10, 0),
                "los": 5,
                "fee": 12000.0,
                "leave": "1",
                "roles": {"质控护师": nurse},
                "procedures": [],
                "other_diags": [],
            }
        )
    for when in (dt.datetime(2023, 12, 30, 10, 0), dt.datetime(2025, 2, 1, 10, 0)):
        nurse_specs.append(
            {
                "dept": "03.04",
                "diag": "I10",
                "discharge": when,
                "los": 4,
                "fee": 8000.0,
                "leave": "1",
                "roles": {"责任护士": nurse},
                "procedures": [],
                "other_diags": [],
            }
        )
    inst.special_nurse = (nurse, nurse_specs[:8], nurse_specs[8:11])

    # Surgeon 诸葛明远 (普通外科, 04.01), window 2023-07-01 .. 2025-06-30, 主（副主）任医师.
    g_specs = []
    g_diags = ["K80", "K80", "K81", "K35", "K35", "K40"]
    g_procs = [("51.23", "3"), ("51.23", "3"), ("51.2", "3"), ("47.01", "2"), ("47.0", "2"), None]
    g_los = [4, 5, None, 3, 4, 2]  # None: 实际住院 empty, LOS from the dates
    g_fees = [21000.0, 23500.5, 19800.0, None, 15200.0, 8800.0]  # None: fee empty
    g_days = [3, 5, 6, 2, 3, 2]  # calendar days between admission and discharge
    for n in range(6):
        g_specs.append(
            {
                "dept": "04.01",
                "diag": g_diags[n],
                "discharge": dt.datetime(2023, 8, 1, 10, 0) + dt.timedelta(days=120 * n),
                "los": g_los[n],
                "days": g_days[n],
                "fee": g_fees[n],
                "leave": "1",
                "roles": {"主（副主）任医师": surgeon},
                "procedures": [(g_procs[n][0], g_procs[n][1], surgeon, None)] if g_procs[n] else [],
                "other_diags": [],
            }
        )
    inst.special_surgeon = (surgeon, g_specs)
    return specs + nurse_specs + g_specs


def _special_row(inst: _Institution, spec: dict[str, Any]) -> dict[str, Any]:
    dept = _DEPT_BY_CODE[spec["dept"]]
    row = inst.clean_row(dept, PROTECTED_PER_DEPT)  # random team, not protected
    pools = inst.pools
    days = spec.get("days", spec["los"])
    discharge = spec["discharge"]
    # minute 31: base rows use multiples of 5, so (病案号, 入院时间) stays unique
    admit = (discharge - dt.timedelta(days=days)).replace(hour=8, minute=31)
    inst.keys.add((row["病案号"], admit))
    diag = pools.diag(spec["diag"])[0]
    row.update(
        {
            "入院时间": admit,
            "出院时间": discharge,
            "实际住院（天）": spec["los"],
            "出院主要诊断编码": _display_icd10(diag),
            "出院主要诊断名称": inst.pools.icd10_names[diag],
            "住院总费用": spec["fee"],
            "离院方式": spec["leave"],
            "_special": True,
        }
    )
    row.update(spec["roles"])
    inst.clear_procedures(row)
    inst.clear_other_diags(row)
    for slot, (prefix, level, surgeon, assistant) in enumerate(spec["procedures"]):
        team = inst.teams[dept.code]
        inst.set_procedure(
            row,
            slot,
            pools.proc(prefix)[0],
            level,
            surgeon or team.chiefs[0],
            assistant or team.residents[0],
            admit + dt.timedelta(hours=3),
        )
    for slot, (prefix, condition) in enumerate(spec["other_diags"], start=1):
        inst.set_other_diag(row, slot, _display_icd10(pools.diag(prefix)[0]), condition)
    return row


def _special_applicants(inst: _Institution) -> None:
    """Staff rows and expected indicators of the clean institution's special applicants."""
    ref = inst.ref
    window = ("2024-01-01", "2024-12-31")

    def catalogue(specialty: str, kind: str) -> list[tuple[str, ...]]:
        return [g[3] for g in ref.specialty_groups if g[0] == specialty and g[1] == kind]

    def covered(groups: list[tuple[str, ...]], codes: list[str]) -> tuple[int, int]:
        hit = sum(1 for prefixes in groups if any(c.startswith(prefixes) for c in codes))
        rows = sum(
            1 for c in codes if any(c.startswith(p) for prefixes in groups for p in prefixes)
        )
        return hit, rows

    def proc_code(prefix: str) -> str:
        return inst.pools.proc(prefix)[0]

    def diag_code(prefix: str) -> str:
        return inst.pools.diag(prefix)[0]

    # Physician.
    doc, specs = inst.special_doctor
    procs = [
        (proc_code(p[0]), p[1], n)
        for n, s in enumerate(specs)
        for p in s["procedures"]
        if p[2] == doc
    ]
    assists = [p for s in specs for p in s["procedures"] if p[3] == doc]
    surgery_rows = {n for _, _, n in procs}
    complication_rows = {
        n
        for n in surgery_rows
        for prefix, cond in specs[n]["other_diags"]
        if cond != "1" and prefix[:3] in ref.complications
    }
    diags = [diag_code(s["diag"]) for s in specs]
    disease_groups = catalogue("心血管内科", "病种")
    proc_groups = catalogue("心血管内科", "术种")
    d_hit, d_rows = covered(disease_groups, diags)
    p_hit, p_rows = covered(proc_groups, [c for c, _, _ in procs])
    deaths = sum(1 for s in specs if s["leave"] == "5")
    fours = sum(1 for _, lv, _ in procs if lv == "4")
    doc_indicators = {
        "出院患者人数": len(specs),
        "作为主（副主）任医师出院人数": 0,
        "作为主治医师出院人数": len(specs),
        "作为住院医师出院人数": 0,
        "出院患者病种数": len({d[:3] for d in diags}),
        "平均住院日": _mean([s["los"] for s in specs]),
        "次均费用": _mean([s["fee"] for s in specs]),
        "死亡人数": deaths,
        "死亡率(%)": _pct(deaths, len(specs)),
        "手术患者人数": len(surgery_rows),
        "手术例数": len(procs),
        "三级手术例数": sum(1 for _, lv, _ in procs if lv == "3"),
        "四级手术例数": fours,
        "四级手术占比(%)": _pct(fours, len(procs)),
        "术种数": len({c[:5] for c, _, _ in procs}),
        "作为Ⅰ助手术例数": len(assists),
        "手术患者并发症例数": len(complication_rows),
        "手术患者并发症发生率(%)": _pct(len(complication_rows), len(surgery_rows)),
        **_catalogue_indicators(
            len(disease_groups), d_hit, d_rows, len(proc_groups), p_hit, p_rows
        ),
    }
    _add_special_staff(inst, doc, "1", "心血管内科", "03.04", window, doc_indicators)

    # Nurse.
    nurse, n_specs, q_specs = inst.special_nurse
    nurse_indicators = {
        "责任护理出院患者人数": len(n_specs),
        "作为质控护师病例数": len(q_specs),
        "护理患者病种数": len({diag_code(s["diag"])[:3] for s in n_specs}),
        "护理患者平均住院日": _mean([s["los"] for s in n_specs]),
        "护理手术患者人数": sum(1 for s in n_specs if s["procedures"]),
        "护理死亡患者人数": sum(1 for s in n_specs if s["leave"] == "5"),
    }
    _add_special_staff(inst, nurse, "2", "内科护理", "03.04", window, nurse_indicators)

    # General surgeon: LOS from dates when 实际住院 is empty, fee mean over filled fees only.
    surgeon, g_specs = inst.special_surgeon
    g_procs = [proc_code(p[0]) for s in g_specs for p in s["procedures"]]
    g_levels = [p[1] for s in g_specs for p in s["procedures"]]
    g_diags = [diag_code(s["diag"]) for s in g_specs]
    g_disease = catalogue("普通外科", "病种")
    g_proc_groups = catalogue("普通外科", "术种")
    gd_hit, gd_rows = covered(g_disease, g_diags)
    gp_hit, gp_rows = covered(g_proc_groups, g_procs)
    surgeon_indicators = {
        "出院患者人数": len(g_specs),
        "作为主（副主）任医师出院人数": len(g_specs),
        "作为主治医师出院人数": 0,
        "作为住院医师出院人数": 0,
        "出院患者病种数": len({d[:3] for d in g_diags}),
        "平均住院日": _mean(
            [s["los"] if s["los"] is not None else max(1, s["days"]) for s in g_specs]
        ),
        "次均费用": _mean([s["fee"] for s in g_specs if s["fee"] is not None]),
        "死亡人数": 0,
        "死亡率(%)": 0.0,
        "手术患者人数": sum(1 for s in g_specs if s["procedures"]),
        "手术例数": len(g_procs),
        "三级手术例数": g_levels.count("3"),
        "四级手术例数": g_levels.count("4"),
        "四级手术占比(%)": _pct(g_levels.count("4"), len(g_procs)),
        "术种数": len({c[:5] for c in g_procs}),
        "作为Ⅰ助手术例数": 0,
        "手术患者并发症例数": 0,
        "手术患者并发症发生率(%)": 0.0,
        **_catalogue_indicators(
            len(g_disease), gd_hit, gd_rows, len(g_proc_groups), gp_hit, gp_rows
        ),
    }
    _add_special_staff(
        inst, surgeon, "1", "普通外科", "04.01", ("2023-07-01", "2025-06-30"), surgeon_indicators
    )


def _catalogue_indicators(
    diseases: int, d_hit: int, d_rows: int, procedures: int, p_hit: int, p_rows: int
) -> dict[str, Any]:
    """The eight 目录病种/目录术种 indicators from the catalogue sizes, groups hit and rows."""
    return {
        "目录病种数": diseases,
        "目录病种覆盖数": d_hit,
        "目录病种覆盖率(%)": _pct(d_hit, diseases),
        "目录病种例数": d_rows,
        "目录术种数": procedures,
        "目录术种覆盖数": p_hit,
        "目录术种覆盖率(%)": _pct(p_hit, procedures),
        "目录术种例数": p_rows,
    }


def _add_special_staff(
    inst: _Institution,
    name: str,
    kind: str,
    specialty: str,
    dept: str,
    window: tuple[str, str],
    indicators: dict[str, Any],
) -> None:
    row = _staff_row(inst, name, dept, kind, specialty, level="2")
    row["现专业技术职务聘任时间"] = dt.date.fromisoformat(window[0])
    row["提取工作量数据截止时间"] = dt.date.fromisoformat(window[1])
    inst.staff_rows.append(row)
    inst.applicants.append(
        ExpectedApplicant(
            license=row["执业证书编码"],
            name=name,
            kind=kind,
            specialty=specialty,
            department=dept,
            start=window[0],
            end=window[1],
            indicators=indicators,
        )
    )


# ------------------------------------------------------------------------------------------
# Staff table
# ------------------------------------------------------------------------------------------


def _staff_row(
    inst: _Institution, name: str, dept: str, kind: str, specialty: str, level: str = "2"
) -> dict[str, Any]:
    rng = inst.rng
    birth = dt.date(rng.randrange(1966, 1988), rng.randrange(1, 13), rng.randrange(1, 29))
    appointed_year = min(2022, max(birth.year + 26, rng.randrange(2012, 2023)))
    return {
        "组织机构代码": inst.org,
        "医疗机构名称": inst.name,
        "姓名": name,
        "性别": rng.choice("12"),
        "出生日期": birth,
        "执业证书编码": inst.license(kind),
        "所在科室": dept,
        "人员类别": kind,
        "拟申报级别": level,
        "学历": rng.choice("11223334"),
        "申报专业": specialty,
        "现专业技术职务聘任时间": dt.date(appointed_year, rng.randrange(1, 13), 1),
        "提取工作量数据截止时间": CUTOFF,
    }


def _build_staff(inst: _Institution) -> None:
    rows = inst.staff_rows
    members: dict[str, list[str]] = {}
    for dept in DEPARTMENTS:
        team = inst.teams[dept.code]
        rows.append(_staff_row(inst, team.chiefs[0], dept.code, "1", dept.physician_specialty, "1"))
        rows.append(_staff_row(inst, team.attendings[0], dept.code, "1", dept.physician_specialty))
        rows.append(_staff_row(inst, team.nurses[0], dept.code, "2", dept.nurse_specialty))
        rows.append(_staff_row(inst, team.qc[0], dept.code, "2", "护理学", "1"))
        members[dept.code] = [team.attendings[1], team.residents[1]]
    if inst.clean:
        _special_applicants(inst)
    else:
        _plant_staff(inst, members)
    _accepted_staff_forms(inst)
    inst.rng.shuffle(rows)


def _plant_staff(inst: _Institution, members: dict[str, list[str]]) -> None:
    rows = inst.staff_rows
    found = inst.staff_findings

    def new(dept: str = "03.04", kind: str = "1", specialty: str = "心血管内科") -> dict[str, Any]:
        row = _staff_row(inst, inst.person(), dept, kind, specialty)
        rows.append(row)
        return row

    row = new("04.01", "1", "普通外科")
    row["学历"] = None
    found.append((row, "E01", "学历"))
    row = new("03.02", "2", "内科护理")
    row["出生日期"] = None
    found.append((row, "E01", "出生日期"))
    row = new()
    row["执业证书编码"] = row["执业证书编码"][:6] + "#" + row["执业证书编码"][7:]
    found.append((row, "E02", "执业证书编码"))
    row = new("04.03", "1", "骨外科")
    row["现专业技术职务聘任时间"] = "2019-02-30"
    found.append((row, "E02", "现专业技术职务聘任时间"))
    row = new("05.01", "1", "妇科")
    row["组织机构代码"] = inst.org[:8] + "@" + inst.org[9:]
    found.append((row, "E02", "组织机构代码"))
    row = new()
    row["申报专业"] = "心内科"
    found.append((row, "E03", "申报专业"))
    row = new("04.01", "1", "外科护理")
    found.append((row, "E04", "申报专业"))
    row = new()
    rc023 = inst.ref.domain_codes("RC023")
    row["所在科室"] = _absent("03.99", lambda c: canonical_rc023(c) in rc023)
    found.append((row, "E05", "所在科室"))
    row = new()
    row["性别"] = "男"
    found.append((row, "E06", "性别"))
    row = new()
    row["拟申报级别"] = "3"
    found.append((row, "E07", "拟申报级别"))
    row = new()
    row["人员类别"] = "3"
    found.append((row, "E08", "人员类别"))
    row = new("03.01", "1", "呼吸内科")
    row["出生日期"] = dt.date(2001, 3, 15)
    row["现专业技术职务聘任时间"] = dt.date(2019, 3, 14)  # one day before turning 18
    found.append((row, "E09", None))
    row = new("03.01", "2", "内科护理")
    row["现专业技术职务聘任时间"] = dt.date(2022, 1, 1)
    row["提取工作量数据截止时间"] = dt.date(2021, 12, 31)
    found.append((row, "E10", None))
    # E11: the same person twice in one department.
    row = new("04.03", "1", "骨外科")
    twin = dict(row)
    rows.append(twin)
    found += [(row, "E11", None), (twin, "E11", None)]
    # E12: one person in two departments with one cut-off date.
    row = new("03.02", "1", "消化内科")
    other = dict(row, **{"所在科室": "03.01", "申报专业": "呼吸内科"})
    rows.append(other)
    found += [(row, "E12", None), (other, "E12", None)]
    # E13: one licence, two names.
    row = new("05.01", "2", "妇产科护理")
    other = dict(row, **{"姓名": inst.person()})
    rows.append(other)
    found += [(row, "E13", None), (other, "E13", None)]
    # E14: same name in one department with two licences.
    row = new("04.01", "1", "普通外科")
    other = dict(row, **{"执业证书编码": inst.license("1")})
    rows.append(other)
    found += [(row, "E14", None), (other, "E14", None)]
    # W10: a real team member with an unknown 学历 (matched, so no W12).
    row = _staff_row(inst, members["03.04"][0], "03.04", "1", "心血管内科")
    row["学历"] = "7"
    rows.append(row)
    found.append((row, "W10", "学历"))
    # W11 (+W12): a department with no records at all.
    row = new(UNUSED_DEPT[0], "1", "肾内科")
    found += [(row, "W11", None), (row, "W12", None)]
    # W12: a name that never occurs in the records.
    row = new("05.01", "1", "妇科")
    found.append((row, "W12", None))
    # W12: a real member whose window ends before the first discharge.
    row = _staff_row(inst, members["04.03"][1], "04.03", "1", "骨外科")
    row["现专业技术职务聘任时间"] = dt.date(2021, 1, 1)
    row["提取工作量数据截止时间"] = dt.date(2022, 6, 30)
    rows.append(row)
    found.append((row, "W12", None))


def _cross_institution_staff(insts: list[_Institution]) -> None:
    """E12 and E13 across neighbouring planted institutions (each finding in its own row's)."""
    for left, right in zip(insts, insts[1:], strict=False):
        # E12: the same person in two institutions with one cut-off date.
        name = left.person()
        while name in right.used_names:  # a name new to both institutions
            name = left.person()
        row = _staff_row(left, right.reserve(name), "03.04", "1", "心血管内科")
        twin = dict(row, **{"组织机构代码": right.org, "医疗机构名称": right.name})
        left.staff_rows.append(row)
        right.staff_rows.append(twin)
        left.staff_findings.append((row, "E12", None))
        right.staff_findings.append((twin, "E12", None))
        # E13: one licence under two names in two institutions.
        row = _staff_row(left, left.person(), "04.01", "2", "外科护理")
        twin = dict(
            row, **{"组织机构代码": right.org, "医疗机构名称": right.name, "姓名": right.person()}
        )
        left.staff_rows.append(row)
        right.staff_rows.append(twin)
        left.staff_findings.append((row, "E13", None))
        right.staff_findings.append((twin, "E13", None))


def _accepted_staff_forms(inst: _Institution) -> None:
    planted = {id(r) for r, _, _ in inst.staff_findings}
    pool = [
        r for r in inst.staff_rows if id(r) not in planted and r["姓名"] not in inst.special_people
    ]
    planter = _FormPlanter(pool, inst.staff_forms, "所在科室", from_end=False)
    take, put = planter.take, planter.put

    planter.departments("所在科室", (("03.04", "0304"), ("04.01", 4.01), ("04.03", "A04.03")))
    planter.birth_dates()
    row = take()
    b = row["现专业技术职务聘任时间"]
    put(row, "现专业技术职务聘任时间", f"{b.year}/{b.month}/{b.day}", b.isoformat())
    row = take()
    put(row, "提取工作量数据截止时间", "２０２５－１２－３１", "2025-12-31")
    for row in inst.staff_rows:
        if row["姓名"] == inst.suffixed and id(row) not in planted:
            put(row, "姓名", inst.suffixed[:-1] + "１", inst.suffixed)
            break
    row = take()
    put(row, "组织机构代码", inst.org.lower(), inst.org)
    row = take()
    put(row, "性别", float(row["性别"]), row["性别"])
    row = take()
    put(row, "人员类别", int(row["人员类别"]), row["人员类别"])
    row = take()
    put(row, "拟申报级别", row["拟申报级别"].translate(_FULL_WIDTH), row["拟申报级别"])


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------


def _as_text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    return value


def _write_rows(
    path: Path, table: str, rows: list[dict[str, Any]], text_dates: bool, constant_memory: bool
) -> None:
    specs = load_reference().columns(table)  # type: ignore[arg-type]
    columns = [spec.name for spec in specs]
    text_cols = {i for i, spec in enumerate(specs) if spec.type in ("text", "name", "code")}
    with atomic_path(path) as tmp, Book(tmp, constant_memory=constant_memory) as book:
        book.workbook.set_properties({"created": dt.datetime(2026, 1, 1)})

        def values():
            for row in rows:
                if text_dates:
                    yield [_as_text(row.get(c)) for c in columns]
                else:
                    yield [row.get(c) for c in columns]

        book.write_table(
            TEMPLATE_SHEET_NAMES[table],
            columns,
            values(),
            column_formats={i: book.text for i in text_cols},
        )


def _write_institution(
    out: Path, inst: _Institution, rows: list[dict[str, Any]], step: Callable[[str], None]
) -> InstitutionManifest:
    folder = out / inst.org
    folder.mkdir(parents=True, exist_ok=True)
    half = (len(rows) + 1) // 2
    parts = (rows[:half], rows[half:])
    where: dict[int, tuple[str, int]] = {}
    big = len(rows) > 20000
    for (name, part), text_dates in zip(
        zip(CASE_FILES, parts, strict=True), (False, True), strict=True
    ):
        for n, row in enumerate(part):
            where[id(row)] = (name, n + 2)
        step(f"正在写入 {inst.org}/{name}")
        _write_rows(folder / name, "cases", part, text_dates, big)
    for n, row in enumerate(inst.staff_rows):
        where[id(row)] = (STAFF_FILE, n + 2)
    step(f"正在写入 {inst.org}/{STAFF_FILE}")
    _write_rows(folder / STAFF_FILE, "staff", inst.staff_rows, False, False)

    findings = []
    for table, items in (("cases", inst.case_findings), ("staff", inst.staff_findings)):
        for row, rule, column in items:
            file, excel_row = where[id(row)]
            findings.append(
                {"rule": rule, "table": table, "file": file, "row": excel_row, "column": column}
            )
    findings.sort(key=lambda f: (f["table"], f["file"], f["row"], f["rule"], f["column"] or ""))
    counts = Counter(f["rule"] for f in findings)
    forms = []
    for table, items in (("cases", inst.case_forms), ("staff", inst.staff_forms)):
        for row, column, written, reads_as in items:
            file, excel_row = where[id(row)]
            forms.append(
                {
                    "table": table,
                    "file": file,
                    "row": excel_row,
                    "column": column,
                    "written": written,
                    "reads_as": reads_as,
                }
            )
    forms.sort(key=lambda f: (f["table"], f["file"], f["row"], f["column"]))
    expected = {rule: counts.get(rule, 0) for rule in RULE_IDS}
    return InstitutionManifest(
        org=inst.org,
        name=inst.name,
        case_rows=len(rows),
        staff_rows=len(inst.staff_rows),
        case_files=[f"{inst.org}/{name}" for name in CASE_FILES],
        staff_file=f"{inst.org}/{STAFF_FILE}",
        expected_counts=expected,
        passes=not any(expected[r] for r in RULE_IDS if r.startswith("E")),
        findings=findings,
        accepted_forms=forms,
        applicants=inst.applicants,
    )


__all__ = [
    "RULE_IDS",
    "DemoManifest",
    "ExpectedApplicant",
    "InstitutionManifest",
    "read_manifest",
    "write_demo",
]
