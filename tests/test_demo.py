"""Demo data generator: layout, determinism, manifest bookkeeping, planted cells."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import openpyxl
import pytest

from cwdx.demo import (
    CASE_FILES,
    MANIFEST_FILE,
    README_FILE,
    RULE_IDS,
    STAFF_FILE,
    DemoManifest,
    read_manifest,
    write_demo,
)
from cwdx.errors import CwdxError
from cwdx.reference import load_reference
from cwdx.values import canonical_icd10, canonical_rc023

CASES = 300


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoManifest]:
    out = tmp_path_factory.mktemp("demo")
    return out, write_demo(out, institutions=2, cases=CASES, seed=7)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _sheet_rows(path: Path) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    return rows


def test_layout_and_row_counts(demo) -> None:
    out, manifest = demo
    ref = load_reference()
    assert [i.org for i in manifest.institutions] == ["12330000470000001X", "12330000470000002X"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(i.org for i in manifest.institutions), MANIFEST_FILE, README_FILE]
    )
    readme = (out / README_FILE).read_text(encoding="utf-8")
    assert "12330000470000002X  演示市中心医院：病案首页 300 条" in readme
    assert "应检测通过" in readme and "应检测不通过" in readme
    for inst in manifest.institutions:
        assert sorted(p.name for p in (out / inst.org).iterdir()) == sorted(
            [*CASE_FILES, STAFF_FILE]
        )
        assert inst.case_files == [f"{inst.org}/{name}" for name in CASE_FILES]
        assert inst.case_rows == CASES
        parts = [_sheet_rows(out / f) for f in inst.case_files]
        for rows in parts:
            assert list(rows[0]) == [c.name for c in ref.case_columns]
        assert [len(rows) - 1 for rows in parts] == [150, 150]
        staff = _sheet_rows(out / inst.staff_file)
        assert list(staff[0]) == [c.name for c in ref.staff_columns]
        assert len(staff) - 1 == inst.staff_rows
        wb = openpyxl.load_workbook(out / inst.case_files[0], read_only=True)
        assert wb.sheetnames == ["病案首页数据"]
        wb.close()


def test_manifest_file_matches_returned_manifest(demo) -> None:
    out, manifest = demo
    data = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(manifest.to_dict(), ensure_ascii=False, default=str))
    assert read_manifest(out / MANIFEST_FILE) == manifest
    assert data["seed"] == 7 and data["cases_per_institution"] == CASES


def test_expected_counts_by_construction(demo) -> None:
    _, manifest = demo
    planted, clean = manifest.institutions
    for inst in manifest.institutions:
        assert list(inst.expected_counts) == list(RULE_IDS)
        assert sum(inst.expected_counts.values()) == len(inst.findings)
    # The clean (last) institution: no finding at all.
    assert clean.passes and not clean.findings
    assert set(clean.expected_counts.values()) == {0}
    # The planted one: every rule, a few times each, and it fails.
    assert not planted.passes
    counts = planted.expected_counts
    assert all(n >= 1 for n in counts.values()), counts
    assert counts == {
        "E01": 2, "E02": 3, "E03": 1, "E04": 1, "E05": 1, "E06": 1, "E07": 1, "E08": 1,
        "E09": 1, "E10": 1, "E11": 2, "E12": 2, "E13": 2, "E14": 2, "E15": 5, "E16": 4,
        "W01": 2, "W02": 2, "W03": 1, "W04": 1, "W05": 1, "W06": 2, "W07": 2, "W08": 11,
        "W09": 2, "W10": 1, "W11": 1, "W12": 3, "X01": 2,
    }  # fmt: skip
    # W08 overlaps: every empty doctor/nurse cell of a W01/W02 row is also a W08 cell.
    by_row: dict[tuple[str, int], set[str]] = {}
    for f in planted.findings:
        by_row.setdefault((f["file"], f["row"]), set()).add(f["rule"])
    assert sum(1 for rules in by_row.values() if {"W01", "W08"} <= rules) == 2
    assert sum(1 for rules in by_row.values() if {"W02", "W08"} <= rules) == 2
    assert sum(1 for rules in by_row.values() if {"W06", "W08"} <= rules) == 1
    assert sum(1 for rules in by_row.values() if {"W11", "W12"} <= rules) == 1


def test_three_institutions_cross_findings(tmp_path) -> None:
    progress: list[tuple[int, int, str]] = []
    manifest = write_demo(
        tmp_path, institutions=3, cases=160, seed=3, on_progress=lambda *a: progress.append(a)
    )
    assert [p[:2] for p in progress] == [(n, 12) for n in range(13)]
    assert progress[0][2] == "正在生成 演示市第一人民医院 的病案"
    assert progress[-1][2] == "演示数据已生成"
    first, second, last = manifest.institutions
    # E12/E13 planted across the two planted institutions count in both.
    assert first.expected_counts["E12"] == second.expected_counts["E12"] == 3
    assert first.expected_counts["E13"] == second.expected_counts["E13"] == 3
    # W03 and X01 counts vary by institution, so a mix-up shows.
    assert (first.expected_counts["W03"], second.expected_counts["W03"]) == (1, 2)
    assert (first.expected_counts["X01"], second.expected_counts["X01"]) == (2, 1)
    assert last.passes and sum(last.expected_counts.values()) == 0
    assert [i.case_rows for i in manifest.institutions] == [160, 160, 160]
    # Alone in a workspace, a planted institution keeps only its own E12/E13 pairs; the rows
    # whose twin is in the other institution carry no error then, so W12 reports them.
    for inst in manifest.institutions:
        changed = {
            rule: (inst.expected_counts[rule], inst.expected_counts_alone[rule])
            for rule in RULE_IDS
            if inst.expected_counts[rule] != inst.expected_counts_alone[rule]
        }
        if inst.passes:
            assert changed == {} and inst.passes_alone and not inst.findings_alone_only
            continue
        w12 = inst.expected_counts["W12"]
        assert changed == {"E12": (3, 2), "E13": (3, 2), "W12": (w12, w12 + 2)}
        assert not inst.passes_alone
        assert [f["rule"] for f in inst.findings_alone_only] == ["W12", "W12"]
        assert sum(inst.expected_counts_alone.values()) == (
            sum(f["alone"] for f in inst.findings) + len(inst.findings_alone_only)
        )
        text = (tmp_path / README_FILE).read_text(encoding="utf-8")
        assert f"单独导入本机构时检测结果有所不同：E12 3→2、E13 3→2、W12 {w12}→{w12 + 2}" in text


@pytest.mark.slow
def test_manifest_counts_match_cwdx_run_both_ways(tmp_path: Path) -> None:
    """The manifest's counts are what ``cwdx run`` reports: all institutions in one
    workspace (``expected_counts``), and each institution alone (``expected_counts_alone``)."""
    from cwdx.cli import main

    data = tmp_path / "演示"
    assert main(["demo", str(data), "--institutions", "3", "--cases", "150", "--seed", "11"]) == 0
    manifest = read_manifest(data / MANIFEST_FILE)

    def run(name: str, insts: list) -> list[dict]:
        out = tmp_path / name
        cases = [str(data / f) for inst in insts for f in inst.case_files]
        staff = [str(data / inst.staff_file) for inst in insts]
        code = main(["run", "--quiet", "--out", str(out), "--cases", *cases, "--staff", *staff])
        assert code == (0 if all(i.passes_alone for i in insts) and len(insts) == 1 else 1)
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        return summary["institutions"]

    together = {i["org"]: (i["counts"], i["passed"]) for i in run("全部", manifest.institutions)}
    assert together == {i.org: (i.expected_counts, i.passes) for i in manifest.institutions}
    for inst in manifest.institutions:
        (only,) = run(inst.org, [inst])
        assert (only["org"], only["counts"], only["passed"]) == (
            inst.org,
            inst.expected_counts_alone,
            inst.passes_alone,
        )
    first = manifest.institutions[0]
    assert first.expected_counts["E12"] > first.expected_counts_alone["E12"]


def test_planted_cells_hold_what_the_manifest_says(demo) -> None:
    out, manifest = demo
    ref = load_reference()
    planted = manifest.institutions[0]
    cache: dict[str, list[tuple]] = {}

    def cell(file: str, row: int, column: str):
        if file not in cache:
            cache[file] = _sheet_rows(out / planted.org / file)
        header = list(cache[file][0])
        return cache[file][row - 1][header.index(column)]

    seen = set()
    for f in planted.findings:
        if f["column"] is None:
            continue
        value = cell(f["file"], f["row"], f["column"])
        seen.add(f["rule"])
        if f["rule"] in ("E01", "E16", "W08"):
            assert value is None or str(value).strip() in ("", "-", "－", "—"), f
        elif f["rule"] == "W07":
            assert canonical_rc023(str(value)) not in ref.domain_codes("RC023"), f
        elif f["rule"] in ("E06", "E15") and f["column"] == "性别":
            assert value == "男"
    assert {"E01", "E02", "E15", "E16", "W07", "W08"} <= seen
    # W09: each later copy repeats the key of an earlier row.
    dup_rows = [f for f in planted.findings if f["rule"] == "W09"]
    assert len(dup_rows) == 2
    for f in dup_rows:
        key = tuple(cell(f["file"], f["row"], c) for c in ("病案号", "出院主要诊断编码"))
        earlier = [
            (file, r)
            for file in CASE_FILES
            for r in range(
                2, len(cache.setdefault(file, _sheet_rows(out / planted.org / file))) + 1
            )
            if (file, r) < (f["file"], f["row"])
            and tuple(cell(file, r, c) for c in ("病案号", "出院主要诊断编码")) == key
        ]
        assert earlier, f


def test_accepted_forms_are_written_as_stated(demo) -> None:
    out, manifest = demo
    for inst in manifest.institutions:
        assert len([f for f in inst.accepted_forms if f["table"] == "cases"]) >= 20
        assert len([f for f in inst.accepted_forms if f["table"] == "staff"]) >= 10
        files: dict[str, list[tuple]] = {}
        for form in inst.accepted_forms:
            rows = files.setdefault(form["file"], _sheet_rows(out / inst.org / form["file"]))
            header = list(rows[0])
            value = rows[form["row"] - 1][header.index(form["column"])]
            written = form["written"]
            if isinstance(written, float | int):
                assert math.isclose(float(value), float(written)), form
            else:
                assert value == written, form
    written = {f["written"] for f in manifest.institutions[0].accepted_forms}
    assert {"0304", "A04.01", 4.03, "E11.200x011", "12330000470000001x"} <= written


def test_records_use_real_codes(demo) -> None:
    out, manifest = demo
    ref = load_reference()
    clean = manifest.institutions[-1]
    rows = _sheet_rows(out / clean.case_files[0])
    header = list(rows[0])
    diag = header.index("出院主要诊断编码")
    proc = header.index("主要手术操作编码")
    dept = header.index("出院科别")
    procedures = 0
    for row in rows[1:]:
        assert canonical_icd10(str(row[diag]).upper(), ref) in ref.icd10
        if row[proc]:
            procedures += 1
            assert str(row[proc]).upper() in ref.icd9
        assert canonical_rc023(str(row[dept]).upper()) in ref.domain_codes("RC023")
    assert procedures > 30


def test_clean_institution_known_applicants(demo) -> None:
    out, manifest = demo
    clean = manifest.institutions[-1]
    names = {a.name: a for a in clean.applicants}
    assert set(names) == {"欧阳志远", "司马晓雯", "诸葛明远"}
    doctor = names["欧阳志远"].indicators
    assert doctor["出院患者人数"] == 10 and doctor["作为主治医师出院人数"] == 10
    assert (doctor["死亡人数"], doctor["手术例数"], doctor["手术患者人数"]) == (2, 6, 5)
    assert (doctor["四级手术占比(%)"], doctor["平均住院日"], doctor["次均费用"]) == (
        66.67,
        7.0,
        27919.51,
    )
    assert (doctor["目录病种覆盖数"], doctor["目录术种覆盖数"], doctor["手术患者并发症例数"]) == (
        4,
        2,
        1,
    )
    nurse = names["司马晓雯"].indicators
    assert nurse == {
        "责任护理出院患者人数": 8,
        "作为质控护师病例数": 3,
        "护理患者病种数": 6,
        "护理患者平均住院日": 6.0,
        "护理手术患者人数": 3,
        "护理死亡患者人数": 1,
    }
    surgeon = names["诸葛明远"].indicators
    assert (surgeon["平均住院日"], surgeon["次均费用"], surgeon["术种数"]) == (4.0, 17660.1, 3)
    staff = _sheet_rows(out / clean.staff_file)
    licences = {row[5] for row in staff[1:]}
    assert {a.license for a in clean.applicants} <= licences
    # In the workbooks: 欧阳志远 as 主治医师 in his 10 window rows + 2 outside the window.
    count = 0
    for file in clean.case_files:
        rows = _sheet_rows(out / file)
        col = list(rows[0]).index("主治医师")
        count += sum(1 for r in rows[1:] if r[col] == "欧阳志远")
    assert count == 12


def test_deterministic_for_a_seed(demo, tmp_path) -> None:
    out, manifest = demo
    again = write_demo(tmp_path / "again", institutions=2, cases=CASES, seed=7)
    assert again == manifest
    assert _digest(tmp_path / "again") == _digest(out)
    write_demo(tmp_path / "other", institutions=2, cases=CASES, seed=8)
    assert _digest(tmp_path / "other") != _digest(out)


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(CwdxError, match="至少为 150"):
        write_demo(tmp_path, institutions=1, cases=20)
    with pytest.raises(CwdxError, match="至少为 1"):
        write_demo(tmp_path, institutions=0)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CwdxError, match="无法创建演示数据目录"):
        write_demo(blocker / "sub", institutions=1, cases=150)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "12330000470000001X").write_text("")  # a file where a folder goes
    with pytest.raises(CwdxError, match="无法写入演示数据到“.*out”"):
        write_demo(tmp_path / "out", institutions=1, cases=150)
