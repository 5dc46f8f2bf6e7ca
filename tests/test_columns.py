"""Every header named in ``cwdx.columns`` is a real template header of the table it says."""

from __future__ import annotations

import cwdx.columns as columns
from cwdx.reference import load_reference


def _names(value: object) -> list[str]:
    if isinstance(value, tuple):
        return [name for item in value for name in _names(item)]
    return [value] if isinstance(value, str) else []


def test_column_constants_are_template_headers():
    reference = load_reference()
    cases = {spec.name for spec in reference.columns("cases")}
    staff = {spec.name for spec in reference.columns("staff")}
    not_headers = {
        columns.KIND_PHYSICIAN, columns.KIND_NURSE, columns.SURGEON, columns.ASSISTANT,
        columns.FILE, columns.ROW, columns.IMPORT, columns.ROW_ORG,
    }  # fmt: skip
    checked = 0
    for constant, value in vars(columns).items():
        if not constant.isupper():
            continue
        for name in _names(value):
            if name in not_headers:
                continue
            table = (
                cases
                if constant.startswith("CASE_")
                else staff
                if constant.startswith("STAFF_")
                else cases & staff
            )
            assert name in table, f"{constant}: {name}"
            checked += 1
    assert checked > 40
