"""Reference data: code lists, value domains and the two template definitions.

Everything is loaded from the shipped ``cwdx/resources/reference/`` folder (or
``$CWDX_REFERENCE_DIR``) once per process; every other part of cwdx calls :func:`load_reference`.
Parsing the CSVs takes a few tenths of a second, so the parsed lists are also kept in a pickle in
the user's cache folder (:func:`cache_dir`), keyed by the SHA-256 of every CSV and of this
module's source: a changed list or loader makes a new key, and a missing, unreadable or
unwritable cache falls back to parsing.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from cwdx import __version__, resources
from cwdx.log import get_logger, user_cache_dir

TableName = Literal["cases", "staff"]

#: File names of the reference lists, in the order the 关于 page and 口径说明 list them.
REFERENCE_FILES: tuple[str, ...] = (
    "case_template.csv",
    "staff_template.csv",
    "icd10_national_clinical_v2.csv",
    "icd9cm3_national_clinical_v3.csv",
    "value_domains.csv",
    "specialties.csv",
    "specialty_groups.csv",
    "complications.csv",
)

#: Display names of the two tables.
TABLE_TITLES: dict[str, str] = {"cases": "病案首页数据", "staff": "申报人员信息自然表"}

UNKNOWN_ORG = "（未识别机构）"

log = get_logger("reference")


def reference_dir() -> Path:
    """The folder the reference CSVs are read from: ``$CWDX_REFERENCE_DIR`` when set (a
    province's own lists), else the lists shipped in the package."""
    env = os.environ.get("CWDX_REFERENCE_DIR")
    if env:
        return Path(env)
    return resources.reference_dir()


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a template, as ``case_template.csv`` / ``staff_template.csv`` define it."""

    name: str
    standard_code: str
    type: str  # text | name | code | int | decimal | date | datetime
    level: str  # required | important | optional | important-if-procedure
    domain: str  # RC023, ICD10-NC2, ICD9CM3-NC3, STAFF_SEX, SPECIALTY, ... or ""
    rules: tuple[str, ...]
    note: str
    max_length: int | None

    @property
    def required(self) -> bool:
        """Whether the template marks the column as required (必填)."""
        return self.level == "required"


@dataclass(frozen=True)
class ReferenceFile:
    """A reference list as shipped: file name, data rows and SHA-256 of its bytes."""

    file: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Reference:
    """All reference data, loaded once (see :func:`load_reference`)."""

    case_columns: tuple[ColumnSpec, ...]
    staff_columns: tuple[ColumnSpec, ...]
    #: domain id -> {code: name}; codes as in ``value_domains.csv`` (RC023 canonical ``03.04``).
    domains: dict[str, dict[str, str]]
    #: 国临版2.0 codes, upper-cased.
    icd10: frozenset[str]
    #: upper-cased base code (without dagger/asterisk part) -> upper-cased full code.
    icd10_by_base: dict[str, str]
    #: upper-cased ICD-10 code -> name (may be empty).
    icd10_names: dict[str, str]
    #: 国临版3.0 codes, upper-cased.
    icd9: frozenset[str]
    icd9_names: dict[str, str]
    #: 申报专业 -> {"category": 临床医学类|护理类, "staff_kind": "1"|"2", "departments": [...]}
    specialties: dict[str, dict[str, object]]
    #: rows of specialty_groups.csv: (specialty, kind 病种|术种, group, (prefix, ...))
    specialty_groups: tuple[tuple[str, str, str, tuple[str, ...]], ...]
    #: complication ICD-10 prefixes (upper-case) -> name
    complications: dict[str, str]
    files: tuple[ReferenceFile, ...] = field(default=())

    def columns(self, table: TableName) -> tuple[ColumnSpec, ...]:
        """Template columns of ``table`` in template order."""
        return self.case_columns if table == "cases" else self.staff_columns

    def column(self, table: TableName, name: str) -> ColumnSpec:
        """The spec of one template column by its exact header text."""
        for spec in self.columns(table):
            if spec.name == name:
                return spec
        raise KeyError(name)

    def domain_codes(self, domain: str) -> frozenset[str]:
        """The valid canonical codes of a domain id (RC…, STAFF_…, SPECIALTY, ICD lists)."""
        if domain == "ICD10-NC2":
            return self.icd10
        if domain == "ICD9CM3-NC3":
            return self.icd9
        if domain == "SPECIALTY":
            return frozenset(self.specialties)
        return frozenset(self.domains.get(domain, {}))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _max_length(note: str, type_: str) -> int | None:
    """Length limit of a text/name column, from the template's note ("at most N chars", "1-N chars")."""
    import re

    match = re.search(r"at most (\d+) chars", note) or re.search(r"\d+-(\d+) chars", note)
    if match:
        return int(match.group(1))
    return None


def _columns(path: Path) -> tuple[ColumnSpec, ...]:
    specs = []
    for row in _read_csv(path):
        specs.append(
            ColumnSpec(
                name=row["column"],
                standard_code=row["standard_code"],
                type=row["type"],
                level=row["level"],
                domain=row["domain"],
                rules=tuple(r for r in row["rule"].split("/") if r),
                note=row["note"],
                max_length=_max_length(row["note"], row["type"]),
            )
        )
    return tuple(specs)


def _file_info(path: Path) -> ReferenceFile:
    data = path.read_bytes()
    rows = max(data.count(b"\n") - 1, 0) if data.endswith(b"\n") else data.count(b"\n")
    return ReferenceFile(path.name, rows, hashlib.sha256(data).hexdigest())


def cache_dir() -> Path:
    """The folder of the parsed-reference cache: ``$CWDX_CACHE_DIR`` when set, else
    :func:`cwdx.log.user_cache_dir` (``~/.cache/cwdx``, where the log without a workspace is
    kept too)."""
    env = os.environ.get("CWDX_CACHE_DIR")
    return Path(env) if env else user_cache_dir()


def _cache_path(files: tuple[ReferenceFile, ...]) -> Path:
    """Where the parse of exactly these files, by exactly this loader, is cached."""
    key = hashlib.sha256(__version__.encode())
    key.update(Path(__file__).read_bytes())  # a changed loader or dataclass: a new key
    for info in files:
        key.update(f"\n{info.file}:{info.sha256}".encode())
    return cache_dir() / f"reference-{key.hexdigest()[:32]}.pickle"


def _read_cache(path: Path) -> Reference | None:
    """The cached parse at ``path``, or ``None`` when it is missing or unreadable."""
    try:
        with path.open("rb") as handle:
            if hasattr(os, "getuid") and os.fstat(handle.fileno()).st_uid != os.getuid():
                return None  # unpickling runs code: only a file this user wrote is read
            cached = pickle.load(handle)  # noqa: S301 - written by _write_cache below
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated or foreign file: parse again and overwrite it
        log.info("参考数据缓存 %s 无法读取（%s），重新解析代码表", path.name, type(exc).__name__)
        return None
    return cached if isinstance(cached, Reference) else None


def _write_cache(path: Path, reference: Reference) -> None:
    """Store ``reference`` at ``path`` via a temporary file and a rename; a folder that cannot
    be written only costs the next process the parse."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".reference-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(reference, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        log.info("参考数据缓存无法写入 %s（%s），下次仍解析代码表", path.parent, exc.strerror)
    finally:
        if tmp is not None:  # not renamed: a full disk, or the process was interrupted
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@cache
def load_reference(directory: str | None = None) -> Reference:
    """Load (once per process) every reference list from ``directory`` or :func:`reference_dir`:
    from the cache (:func:`cache_dir`) when it holds the parse of these very files, else by
    parsing the CSVs (and caching the result)."""
    base = Path(directory) if directory else reference_dir()
    files = tuple(_file_info(base / name) for name in REFERENCE_FILES)
    path = _cache_path(files)
    reference = _read_cache(path)
    if reference is None:
        reference = parse_reference(base, files)
        _write_cache(path, reference)
    return reference


def parse_reference(base: Path, files: tuple[ReferenceFile, ...] | None = None) -> Reference:
    """Parse the reference CSVs in ``base``, without the cache (``files``: their
    :class:`ReferenceFile` records when the caller has them already)."""
    if files is None:
        files = tuple(_file_info(base / name) for name in REFERENCE_FILES)
    domains: dict[str, dict[str, str]] = {}
    for row in _read_csv(base / "value_domains.csv"):
        domains.setdefault(row["domain"], {})[row["code"]] = row["name"]

    icd10_names: dict[str, str] = {}
    icd10_by_base: dict[str, str] = {}
    for row in _read_csv(base / "icd10_national_clinical_v2.csv"):
        code = row["code"].upper()
        icd10_names[code] = row["name"]
        base_code = row["base_code"].upper()
        if base_code and base_code != code:
            icd10_by_base.setdefault(base_code, code)
    icd9_names = {
        row["code"].upper(): row["name"]
        for row in _read_csv(base / "icd9cm3_national_clinical_v3.csv")
    }
    specialties: dict[str, dict[str, object]] = {}
    for row in _read_csv(base / "specialties.csv"):
        specialties[row["specialty"]] = {
            "category": row["category"],
            "staff_kind": row["staff_kind"],
            "departments": [d for d in row["departments"].split(";") if d],
        }
    groups = tuple(
        (
            row["specialty"],
            row["kind"],
            row["group"],
            tuple(p.strip().upper() for p in row["prefixes"].split(";") if p.strip()),
        )
        for row in _read_csv(base / "specialty_groups.csv")
    )
    complications = {
        row["prefix"].upper(): row["name"] for row in _read_csv(base / "complications.csv")
    }
    return Reference(
        case_columns=_columns(base / "case_template.csv"),
        staff_columns=_columns(base / "staff_template.csv"),
        domains=domains,
        icd10=frozenset(icd10_names),
        icd10_by_base=icd10_by_base,
        icd10_names=icd10_names,
        icd9=frozenset(icd9_names),
        icd9_names=icd9_names,
        specialties=specialties,
        specialty_groups=groups,
        complications=complications,
        files=files,
    )
