"""Who and what the demo hospitals hold: names, departments, care teams and code pools.

Names are drawn from :data:`SURNAMES` and :data:`GIVEN`; each department (:class:`Dept`) says
how many of the rows it gets, how surgical and how deadly it is, and which diagnosis and
procedure prefixes its records use. :class:`CodePools` turns those prefixes into real codes of
the national lists (sorted, so the draw is deterministic).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass

from cwdx.reference import Reference, reference_dir

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
class Dept:
    """A demo department: its RC023 code and name, the 申报专业 of its physicians and nurses,
    its share of the rows, its surgery and death rates, its length-of-stay range and the
    diagnosis and procedure prefixes its records draw from."""

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


#: The departments every demo institution has.
DEPARTMENTS: tuple[Dept, ...] = (
    Dept(
        "03.04", "心血管内科", "心血管内科", "内科护理", 0.22, 0.40, 0.02, (3, 12),
        ("I21.0", "I21.1", "I21.4", "I20.0", "I50.0", "I50.1", "I48", "I10", "I25.1", "I42.0", "I49.5", "I44.2"),
        (("36.06", "4"), ("00.66", "3"), ("88.56", "2"), ("37.34", "4"), ("37.81", "3"), ("37.83", "3")),
    ),
    Dept(
        "04.01", "普通外科", "普通外科", "外科护理", 0.20, 0.85, 0.005, (3, 14),
        ("K35", "K80", "K81", "K40", "C16", "C18", "K56", "K85"),
        (("47.01", "2"), ("47.0", "2"), ("51.23", "3"), ("51.2", "3"), ("53.0", "2"), ("53.1", "2"), ("43.5", "4"), ("45.7", "4")),
    ),
    Dept(
        "04.03", "骨外科", "骨外科", "外科护理", 0.18, 0.90, 0.003, (5, 20),
        ("S72.0", "S72.1", "S82", "S52.5", "M16", "M17"),
        (("81.51", "4"), ("81.52", "3"), ("81.54", "4"), ("79.35", "3"), ("79.3", "3")),
    ),
    Dept(
        "03.02", "消化内科", "消化内科", "内科护理", 0.15, 0.35, 0.008, (3, 12),
        ("K25", "K29", "K70", "K74", "K92"),
        (("45.13", "2"), ("45.42", "3"), ("44.43", "3"), ("45.23", "2")),
    ),
    Dept(
        "05.01", "妇科", "妇科", "妇产科护理", 0.12, 0.75, 0.001, (3, 10),
        ("N80", "D25", "N83"),
        (("68.41", "3"), ("68.4", "3"), ("65.25", "3"), ("65.01", "2")),
    ),
    Dept(
        "03.01", "呼吸内科", "呼吸内科", "内科护理", 0.13, 0.15, 0.015, (4, 14),
        ("J18", "J44", "J45", "J15"),
        (("33.24", "2"), ("33.22", "2"), ("34.91", "1"), ("96.04", "1")),
    ),
)  # fmt: skip
#: :data:`DEPARTMENTS` by RC023 code.
DEPT_BY_CODE = {d.code: d for d in DEPARTMENTS}
#: A department no demo record uses (W11 plant).
UNUSED_DEPT = ("03.06", "肾内科")

COMORBIDITY_PREFIXES = ("I10", "E11.9", "E78", "N18", "J18.9", "K29", "I25.1")
COMPLICATION_PREFIXES = ("T81", "K91", "I97", "J95", "M96")

TEAM_SIZES = {"chiefs": 2, "attendings": 3, "residents": 4, "nurses": 5, "qc": 2}
PROTECTED_PER_DEPT = 6  # first rows of each department cycle through the whole team


@dataclass
class Team:
    """The care team of one department: names by role (:data:`TEAM_SIZES` of each)."""

    chiefs: list[str]
    attendings: list[str]
    residents: list[str]
    nurses: list[str]
    qc: list[str]


# ------------------------------------------------------------------------------------------
# Code pools
# ------------------------------------------------------------------------------------------

_ICD10_SIMPLE = re.compile(r"^[A-Z]\d\d\.[0-9X]\d\d(X\d{3})?$")
_ICD9_SIMPLE = re.compile(r"^\d\d\.\d[\dX]\d\d(X\d{3})?$")


class CodePools:
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


def display_icd10(code: str) -> str:
    """How exports usually write a list code: the extension ``x`` in lower case."""
    return code[:3] + code[3:].replace("X", "x")


def display_icd9(code: str) -> str:
    """ICD-9-CM-3 codes as the list writes them (``43.5x00``)."""
    return code.replace("X", "x")
