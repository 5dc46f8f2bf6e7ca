"""Cell normalisation: emptiness, NFKC, names, codes, RC023, ICD, numbers and dates.

Everything the reader stores, the check compares and the indicators use goes through here, so
every part agrees on what a cell *is* (``templates.md`` "Types", "Emptiness", "Normalisation").

Two layers, re-exported here:

- :mod:`cwdx.values.cells`: scalar functions (:func:`normalise_value`, :func:`canonical_date`,
  :func:`canonical_rc023`, …) that define the rules for one value;
- :mod:`cwdx.values.arrays`: :func:`normalise_array` (:func:`normalise_arrays` for the same column
  of many files at once) / :func:`normalise_series`, which apply them
  to a whole column over its *unique* values (Arrow dictionary encoding), with Arrow-vectorised
  fast paths for the common already-canonical forms, and count what changed for the import
  report; :func:`typed_column` and the shared Arrow helpers (:func:`arrow_strings`, masks).

A filled cell is stored as its canonical string when it reads as its type; otherwise as its raw
text after NFKC + strip, so the check can report the raw value as a format error.
:func:`typed_column` parses canonical strings back (vectorised) for the check and indicators.
"""

from __future__ import annotations

from cwdx.values.arrays import (
    DATE_MAX,
    DATE_MIN,
    NormalisedColumn,
    arrow_strings,
    canonical_datetimes,
    code_set_array,
    column_upper,
    discharged_before_admission,
    empty_array,
    excel_error_array,
    excel_error_mask,
    nfkc_strip_array,
    normalise_array,
    normalise_arrays,
    normalise_series,
    pattern_array,
    text_facts,
    to_string_series,
    too_long_array,
    too_long_mask,
    typed_column,
    valid_license_code_mask,
    valid_org_code_mask,
)
from cwdx.values.cells import (
    EMPTY_MARKS,
    EXCEL_ERROR_VALUES,
    EXCEL_ERRORS,
    LICENSE_CODE_PATTERN,
    NUMBER_RE,
    ORG_CODE_PATTERN,
    SCALAR_CANONICAL,
    UPPER_CASE_COLUMNS,
    canonical_date,
    canonical_datetime,
    canonical_decimal,
    canonical_icd9,
    canonical_icd10,
    canonical_int,
    canonical_rc023,
    cell_text,
    is_empty,
    is_valid_license_code,
    is_valid_org_code,
    nfkc_strip,
    normalise_code,
    normalise_name,
    normalise_text,
    normalise_value,
    parse_datetime_text,
)

__all__ = [
    "DATE_MAX",
    "DATE_MIN",
    "EMPTY_MARKS",
    "EXCEL_ERRORS",
    "EXCEL_ERROR_VALUES",
    "LICENSE_CODE_PATTERN",
    "NUMBER_RE",
    "NormalisedColumn",
    "ORG_CODE_PATTERN",
    "SCALAR_CANONICAL",
    "UPPER_CASE_COLUMNS",
    "arrow_strings",
    "canonical_date",
    "canonical_datetimes",
    "canonical_datetime",
    "canonical_decimal",
    "canonical_icd10",
    "canonical_icd9",
    "canonical_int",
    "canonical_rc023",
    "cell_text",
    "code_set_array",
    "column_upper",
    "discharged_before_admission",
    "empty_array",
    "excel_error_array",
    "excel_error_mask",
    "is_empty",
    "is_valid_license_code",
    "is_valid_org_code",
    "nfkc_strip",
    "nfkc_strip_array",
    "normalise_array",
    "normalise_arrays",
    "normalise_code",
    "normalise_name",
    "normalise_series",
    "normalise_text",
    "normalise_value",
    "parse_datetime_text",
    "pattern_array",
    "text_facts",
    "to_string_series",
    "too_long_array",
    "too_long_mask",
    "typed_column",
    "valid_license_code_mask",
    "valid_org_code_mask",
]
