"""Writing a demo folder: :func:`write_demo` builds every institution and lays out the files.

Per institution the case rows are split over ``病案首页数据-1.xlsx`` (Excel date cells) and
``病案首页数据-2.xlsx`` (dates as text) plus ``申报人员信息.xlsx``; the manifest gives every
planted finding and accepted form its file, Excel row and column.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cwdx.code_lists import TEMPLATE_SHEET_NAMES
from cwdx.columns import CASE_DISCHARGE, CASE_NO
from cwdx.demo.forms import accepted_case_forms, accepted_staff_forms
from cwdx.demo.known import special_applicants, special_row, special_specs
from cwdx.demo.manifest import (
    CASE_FILES,
    MANIFEST_FILE,
    MIN_CASES,
    README_FILE,
    STAFF_FILE,
    DemoManifest,
    InstitutionManifest,
    readme_text,
)
from cwdx.demo.people import DEPARTMENTS, CodePools
from cwdx.demo.planting import cross_institution_staff, plant_cases, plant_staff
from cwdx.demo.rows import Institution, staff_row
from cwdx.errors import CwdxError, os_error_text
from cwdx.reference import TableName, load_reference
from cwdx.rules import RULE_IDS
from cwdx.xlsx import Book, atomic_path

_log = logging.getLogger("cwdx.demo")


def write_demo(
    out_dir: str | Path,
    institutions: int = 3,
    cases: int = 2000,
    seed: int = 20261125,
    on_progress: Callable[[int, int, str], None] | None = None,
    clean: int = 1,
) -> DemoManifest:
    """Write demo workbooks for ``institutions`` hospitals of ``cases`` case rows each.

    Files: ``out_dir/<组织机构代码>/病案首页数据-1.xlsx``, ``-2.xlsx``, ``申报人员信息.xlsx``,
    ``out_dir/demo_manifest.json`` and ``out_dir/演示数据说明.txt``. The last ``clean``
    institutions (default one) are clean; the others carry planted problems of every rule. ``on_progress(done, total, label)``
    is called as institutions are generated and files written. Raises :class:`CwdxError` for
    unusable arguments or an unwritable folder.
    """
    if institutions < 1:
        raise CwdxError("演示机构数（--institutions）至少为 1。")
    if not 0 <= clean <= institutions:
        raise CwdxError(f"无问题的演示机构数应在 0 到 {institutions} 之间。")
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

    pools = CodePools(load_reference())
    insts = [
        Institution(i, cases, seed, pools, clean=i >= institutions - clean)
        for i in range(institutions)
    ]
    case_rows = {}
    for inst in insts:
        step(f"正在生成 {inst.name} 的病案")
        case_rows[inst.index] = build_cases(inst)
    for inst in insts:
        build_staff(inst)
    cross_institution_staff([i for i in insts if not i.clean])
    manifests = []
    try:
        for inst in insts:
            manifests.append(write_institution(out, inst, case_rows[inst.index], step))
            del case_rows[inst.index]
        manifest = DemoManifest(seed, institutions, cases, manifests)
        _write_text(
            out / MANIFEST_FILE,
            json.dumps(manifest.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n",
        )
        _write_text(out / README_FILE, readme_text(manifest))
    except OSError as exc:
        raise CwdxError(
            f"无法写入演示数据到“{out}”（{os_error_text(exc)}）：请检查磁盘空间和权限。"
        ) from exc
    for entry in manifests:
        _log.info(
            "演示数据：机构 %s，病案 %d 条，人员 %d 条，预期检测结果 %d 项",
            entry.org,
            entry.case_rows,
            entry.staff_rows,
            sum(entry.expected_counts.values()),
        )
    if on_progress:
        on_progress(total, total, "演示数据已生成")
    return manifest


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


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


def build_cases(inst: Institution) -> list[dict[str, Any]]:
    """All case rows of ``inst`` in file order: clean rows, the special rows (clean
    institution), two duplicates (W09), then accepted forms and plants in free rows."""
    n_dups = 0 if inst.clean else 2
    specials = special_specs(inst) if inst.clean else []
    extra: dict[str, int] = Counter(spec["dept"] for spec in specials)
    counts = _allocation(extra, inst.cases - n_dups)
    rows: list[dict[str, Any]] = []
    for dept in DEPARTMENTS:
        rows.extend(
            inst.clean_row(dept, k) for k in range(counts[dept.code] - extra.get(dept.code, 0))
        )
    for spec in specials:
        rows.append(special_row(inst, spec))
    rows.sort(key=lambda r: (r[CASE_DISCHARGE], r[CASE_NO]))

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
    accepted_case_forms(inst, free_rows)
    if not inst.clean:
        plant_cases(inst, free_rows)
    assert len(rows) == inst.cases
    return rows


def build_staff(inst: Institution) -> None:
    """The staff rows of ``inst``: four per department, then specials or plants, forms."""
    rows = inst.staff_rows
    members: dict[str, list[str]] = {}
    for dept in DEPARTMENTS:
        team = inst.teams[dept.code]
        rows.append(staff_row(inst, team.chiefs[0], dept.code, "1", dept.physician_specialty, "1"))
        rows.append(staff_row(inst, team.attendings[0], dept.code, "1", dept.physician_specialty))
        rows.append(staff_row(inst, team.nurses[0], dept.code, "2", dept.nurse_specialty))
        rows.append(staff_row(inst, team.qc[0], dept.code, "2", "护理学", "1"))
        members[dept.code] = [team.attendings[1], team.residents[1]]
    if inst.clean:
        special_applicants(inst)
    else:
        plant_staff(inst, members)
    accepted_staff_forms(inst)
    inst.rng.shuffle(rows)


def _as_text(value: Any) -> Any:
    """Dates and times as the text an export would hold; other values unchanged."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    return value


def _write_rows(
    path: Path,
    table: TableName,
    rows: list[dict[str, Any]],
    text_dates: bool,
    constant_memory: bool,
) -> None:
    """One workbook of ``table``'s template columns (text columns formatted as text)."""
    specs = load_reference().columns(table)
    columns = [spec.name for spec in specs]
    text_cols = {i for i, spec in enumerate(specs) if spec.type in ("text", "name", "code")}
    with atomic_path(path) as tmp, Book(tmp, constant_memory=constant_memory) as book:
        book.workbook.set_properties({"created": dt.datetime(2026, 1, 1)})

        def values() -> Iterator[list[Any]]:
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


def _passes(counts: dict[str, int]) -> bool:
    """Whether a check with these counts passes (no error rule has a finding)."""
    return not any(counts[r] for r in RULE_IDS if r.startswith("E"))


def write_institution(
    out: Path, inst: Institution, rows: list[dict[str, Any]], step: Callable[[str], None]
) -> InstitutionManifest:
    """Write the three workbooks of ``inst`` and return its manifest entry."""
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

    def finding(table: str, row: dict[str, Any], rule: str, column: str | None) -> dict:
        file, excel_row = where[id(row)]
        alone = id(row) not in inst.cross_rows
        return {"rule": rule, "table": table, "file": file, "row": excel_row, "column": column,
                "alone": alone}  # fmt: skip

    def ordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda f: (f["table"], f["file"], f["row"], f["rule"],
                                            f["column"] or ""))  # fmt: skip

    findings = ordered(
        [
            finding(table, row, rule, column)
            for table, items in (("cases", inst.case_findings), ("staff", inst.staff_findings))
            for row, rule, column in items
        ]
    )
    alone_only = ordered(
        [finding("staff", row, rule, column) | {"alone": True}
         for row, rule, column in inst.alone_findings]
    )  # fmt: skip
    counts = Counter(f["rule"] for f in findings)
    forms = []
    for table, form_items in (("cases", inst.case_forms), ("staff", inst.staff_forms)):
        for row, column, written, reads_as in form_items:
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
    own = Counter(f["rule"] for f in [*findings, *alone_only] if f["alone"])
    alone = {rule: own.get(rule, 0) for rule in RULE_IDS}
    return InstitutionManifest(
        org=inst.org,
        name=inst.name,
        case_rows=len(rows),
        staff_rows=len(inst.staff_rows),
        case_files=[f"{inst.org}/{name}" for name in CASE_FILES],
        staff_file=f"{inst.org}/{STAFF_FILE}",
        expected_counts=expected,
        passes=_passes(expected),
        findings=findings,
        expected_counts_alone=alone,
        findings_alone_only=alone_only,
        passes_alone=_passes(alone),
        accepted_forms=forms,
        applicants=inst.applicants,
    )
