"""The shipped reference lists: columns, exact row counts, and internal consistency."""

from __future__ import annotations

import csv

import pytest

from cwdx.reference import REFERENCE_FILES, load_reference, reference_dir

EXPECTED = {
    "case_template.csv": (
        ["column", "standard_code", "type", "level", "domain", "rule", "note"],
        73,
    ),
    "staff_template.csv": (
        ["column", "standard_code", "type", "level", "domain", "rule", "note"],
        13,
    ),
    "icd10_national_clinical_v2.csv": (
        [
            "code", "name", "name_source", "base_code", "dagger_asterisk", "category3",
            "subcategory4", "extension", "chapter", "chapter_name", "yb2_code", "yb2_name",
            "same_code_in_yb2", "format_ok",
        ],
        35591,
    ),
    "icd10_national_clinical_v2_subcategories_derived.csv": (
        ["subcategory4", "source_code", "name"],
        9613,
    ),
    "icd9cm3_national_clinical_v3.csv": (
        [
            "code", "name", "name_source", "category2", "subcategory3", "fine4", "extension",
            "operation_category", "surgery_level", "yb2_code", "yb2_name", "same_code_in_yb2",
            "format_ok",
        ],
        13654,
    ),
    "frontpage_fields.csv": (
        [
            "version", "seq", "field_code", "name", "data_type", "length", "required",
            "value_domain", "description", "source",
        ],
        946,
    ),
    "value_domains.csv": (
        ["domain", "domain_name", "code", "name", "source", "confidence", "note"],
        313,
    ),
    "specialties.csv": (["specialty", "category", "staff_kind", "departments"], 65),
    "specialty_groups.csv": (["specialty", "kind", "group", "prefixes"], 42),
    "complications.csv": (["prefix", "name"], 18),
}  # fmt: skip


def _rows(name: str) -> list[list[str]]:
    with (reference_dir() / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_columns_and_row_counts(name: str) -> None:
    rows = _rows(name)
    columns, count = EXPECTED[name]
    assert rows[0] == columns
    assert len(rows) - 1 == count


def test_loaded_reference_matches_files() -> None:
    ref = load_reference()
    assert len(ref.case_columns) == 73
    assert len(ref.staff_columns) == 13
    assert len(ref.icd10) == 35591
    assert len(ref.icd9) == 13654
    assert len(ref.specialties) == 65
    assert len(ref.specialty_groups) == 42
    assert len(ref.complications) == 18
    assert [f.file for f in ref.files] == list(REFERENCE_FILES)
    assert {f.file: f.rows for f in ref.files}["icd10_national_clinical_v2.csv"] == 35591
    sizes = {d: len(codes) for d, codes in ref.domains.items()}
    assert sizes["RC023"] == 177
    assert sizes["RC001"] == 4 and sizes["RC019"] == 6 and sizes["RC027"] == 4
    assert sizes["RC029"] == 4
    assert sizes["STAFF_SEX"] == 2 and sizes["STAFF_KIND"] == 2
    assert sizes["STAFF_LEVEL"] == 2 and sizes["STAFF_EDU"] == 6


def test_template_domains_exist() -> None:
    ref = load_reference()
    for table in ("cases", "staff"):
        for spec in ref.columns(table):
            if spec.domain:
                assert ref.domain_codes(spec.domain), (table, spec.name, spec.domain)


def test_catalogue_prefixes_match_national_codes() -> None:
    ref = load_reference()
    for specialty, kind, group, prefixes in ref.specialty_groups:
        assert specialty in ref.specialties, specialty
        assert kind in ("病种", "术种")
        codes = ref.icd10 if kind == "病种" else ref.icd9
        for prefix in prefixes:
            assert any(code.startswith(prefix) for code in codes), (specialty, group, prefix)


def test_complication_prefixes_match_icd10() -> None:
    ref = load_reference()
    for prefix in ref.complications:
        assert any(code.startswith(prefix) for code in ref.icd10), prefix


def test_specialties_are_consistent() -> None:
    ref = load_reference()
    rc023 = ref.domain_codes("RC023")
    for name, info in ref.specialties.items():
        assert (info["category"], info["staff_kind"]) in (("临床医学类", "1"), ("护理类", "2")), (
            name
        )
        for dept in info["departments"]:  # type: ignore[union-attr]
            assert dept in rc023, (name, dept)
