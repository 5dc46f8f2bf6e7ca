"""What a demo folder holds and what checking it must give (``demo_manifest.json``).

The dataclasses here are the manifest :func:`cwdx.demo.write_demo` returns and writes;
:func:`read_manifest` loads it back, and :func:`readme_text` is the short Chinese note written
next to the workbooks.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CASE_FILES = ("病案首页数据-1.xlsx", "病案首页数据-2.xlsx")
STAFF_FILE = "申报人员信息.xlsx"
MANIFEST_FILE = "demo_manifest.json"
README_FILE = "演示数据说明.txt"
#: The fewest case rows per institution that leave room for every planted problem.
MIN_CASES = 150


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
    """What one demo institution holds and what its check must report, for both ways of
    loading it: ``expected_counts``/``passes`` with every demo institution in one workspace
    (as ``cwdx run`` on the whole folder, or the 平台版), ``expected_counts_alone``/
    ``passes_alone`` with this institution alone in its workspace (as the 机构版). They differ
    by the rules that compare institutions (E12, E13 across institutions) and by what follows
    from them: alone, such a row has no error, so W12 (applicants without an error that match
    no case) reports it (``findings_alone_only``)."""

    org: str
    name: str
    case_rows: int
    staff_rows: int
    case_files: list[str]
    staff_file: str
    expected_counts: dict[str, int]
    passes: bool
    #: one entry per expected finding (all together): rule, table, file, row (Excel), column
    #: (None: row rule), alone (False: the finding needs another institution in the workspace)
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: cells written in accepted non-canonical forms: table, file, row, column, written, reads_as
    accepted_forms: list[dict[str, Any]] = field(default_factory=list)
    applicants: list[ExpectedApplicant] = field(default_factory=list)
    #: the counts and verdict when this institution is loaded alone in a workspace
    expected_counts_alone: dict[str, int] = field(default_factory=dict)
    passes_alone: bool = False
    #: findings only seen when this institution is loaded alone (same keys as ``findings``)
    findings_alone_only: list[dict[str, Any]] = field(default_factory=list)


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


def readme_text(manifest: DemoManifest) -> str:
    """A short Chinese note for users who open the demo folder (``演示数据说明.txt``)."""
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
        changed = [
            f"{rule} {inst.expected_counts[rule]}→{inst.expected_counts_alone.get(rule, 0)}"
            for rule in inst.expected_counts
            if inst.expected_counts[rule] != inst.expected_counts_alone.get(rule, 0)
        ]
        if changed:
            lines.append(
                f"    单独导入本机构时检测结果有所不同：{'、'.join(changed)}"
                "（跨机构的人员重复只在多个机构一起导入时才能发现）。"
            )
    lines += [
        "",
        f"各机构每条检测规则的预期结果见 {MANIFEST_FILE}（供测试使用）：expected_counts 为全部机构"
        "一起导入时的结果，expected_counts_alone 为单独导入该机构时的结果。",
        "",
    ]
    return "\n".join(lines)
