"""Cell normalisation (templates.md "Types", "Emptiness", "Normalisation")."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from cwdx.reference import load_reference
from cwdx.values import (
    arrays,
    canonical_date,
    canonical_datetime,
    canonical_decimal,
    canonical_int,
    canonical_rc023,
    cell_text,
    is_empty,
    is_valid_license_code,
    is_valid_org_code,
    normalise_array,
    normalise_arrays,
    normalise_code,
    normalise_name,
    normalise_series,
    normalise_text,
    normalise_value,
    too_long_mask,
    typed_column,
    valid_license_code_mask,
    valid_org_code_mask,
)

REF = load_reference()


@pytest.mark.parametrize(
    "cell", [None, "", " ", "\t\n", "\u3000", "\u3000\u3000", "-", " - ", "－", "—", "\u3000—"]
)
def test_empty_cells(cell):
    assert is_empty(cell)
    for type_ in ("text", "name", "code", "int", "decimal", "date", "datetime"):
        assert normalise_value(cell, type_, "RC001") is None


@pytest.mark.parametrize("cell", ["0", "--", "-1", "无", "a", "—1"])
def test_filled_cells(cell):
    assert not is_empty(cell)


def test_text_nfkc_and_strip():
    assert normalise_text("\u3000Ａ医院 ") == "A医院"
    assert normalise_text("４５") == "45"
    assert normalise_text("123456") == "123456"
    assert normalise_text("=1+1") == "=1+1"
    assert normalise_value("ab-1", "text", upper=True) == "AB-1"


@pytest.mark.parametrize("cell", ["张三１", "张三 1", " 张 三\u30001 ", "张三1"])
def test_names(cell):
    assert normalise_name(cell) == "张三1"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("03.04", "03.04"),
        ("0304", "03.04"),
        ("A03.04", "03.04"),
        ("A0304", "03.04"),
        ("a0304", "03.04"),
        ("３.０４", "03.04"),
        ("3.04", "03.04"),  # the number Excel makes of a typed 03.04
        ("3.1", "03.10"),
        ("2", "02"),
        ("02", "02"),
        ("040101", "04.01.01"),
        ("04.01.01", "04.01.01"),
        ("304", "03.04"),  # Excel dropped the leading zero of 0304
        ("40101", "04.01.01"),
        ("内科", "内科"),
        ("3.041", "3.041"),
        ("0304x", "0304X"),
    ],
)
def test_rc023(cell, expected):
    assert normalise_code(cell, "RC023", REF) == expected


def test_rc023_no_form():
    assert canonical_rc023("ABC") is None
    assert canonical_rc023("1234567") is None


def test_icd10_upper_and_dagger():
    assert normalise_code("a01.000x003", "ICD10-NC2", REF) == "A01.000X003+G01*"
    assert normalise_code("A01.000X003+G01*", "ICD10-NC2", REF) == "A01.000X003+G01*"
    assert normalise_code("a00.000x001", "ICD10-NC2", REF) == "A00.000X001"
    assert normalise_code("A00.000X001", "ICD10-NC2", REF) == "A00.000X001"
    assert normalise_code(" zz9.9 ", "ICD10-NC2", REF) == "ZZ9.9"


def test_icd9_numeric_gets_zeros_back():
    assert normalise_code("00.0100", "ICD9CM3-NC3", REF) == "00.0100"
    assert normalise_code("0.01", "ICD9CM3-NC3", REF) == "00.0100"
    assert normalise_code("99.9999", "ICD9CM3-NC3", REF) == "99.9999"


@pytest.mark.parametrize(
    ("cell", "expected"), [("1", "1"), ("1.0", "1"), ("1.00", "1"), ("１", "1")]
)
def test_coded_integers(cell, expected):
    assert normalise_code(cell, "RC001", REF) == expected
    assert normalise_code(cell, "STAFF_SEX", REF) == expected


def test_words_stay_words():
    assert normalise_code("男", "STAFF_SEX", REF) == "男"
    assert normalise_code(" 内科学 ", "SPECIALTY", REF) == "内科学"
    assert normalise_code("1.5", "RC001", REF) == "1.5"


def test_codes_upper_case():
    assert normalise_code("x001", "", REF) == "X001"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("45", "45"), ("45.0", "45"), ("+45", "45"), ("045", "45"), ("４５", "45"), ("-3", "-3")],
)
def test_int(cell, expected):
    assert normalise_value(cell, "int") == expected


@pytest.mark.parametrize("cell", ["45.5", "四十五", "4 5", "1e3"])
def test_int_not_parsing_keeps_raw(cell):
    assert canonical_int(cell) is None
    assert normalise_value(f" {cell} ", "int") == cell


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("1234.5", "1234.5"),
        ("1234.50", "1234.5"),
        ("12", "12"),
        ("12.0", "12"),
        ("0.30", "0.3"),
        (".5", "0.5"),
        ("-2.25", "-2.25"),
        ("1e3", "1000"),
        ("１２３４.５", "1234.5"),
    ],
)
def test_decimal(cell, expected):
    assert normalise_value(cell, "decimal") == expected


@pytest.mark.parametrize("cell", ["nan", "inf", "1,234.5", "12元"])
def test_decimal_not_parsing(cell):
    assert canonical_decimal(cell) is None
    assert normalise_value(cell, "decimal") == cell


@pytest.mark.parametrize(
    "cell",
    [
        "2020-01-05",
        "2020-1-5",
        "2020/1/5",
        "2020/01/05",
        "2020.1.5",
        "20200105",
        "2020年1月5日",
        "2020年01月05日",
        "２０２０－０１－０５",
        "2020-01-05 00:00:00",  # how an Excel date cell reads
        "2020-01-05 08:30",  # a time part is allowed and dropped
        "2020/1/5 8:30:15",
        "2020-01-05T08:30",
        "2020年1月5日 8:30",
        "43835",  # Excel serial
        "43835.75",  # serial with time of day
        "43835.999999",  # the date of a date cell is not rounded up
        "2020-01-05 23:59:59.914",
    ],
)
def test_date_forms(cell):
    assert normalise_value(cell, "date") == "2020-01-05"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2020-01-05", "2020-01-05 00:00:00"),
        ("2020-01-05 8:30", "2020-01-05 08:30:00"),
        ("2020-01-05 08:30:15", "2020-01-05 08:30:15"),
        ("2020-01-05T08:30:15", "2020-01-05 08:30:15"),
        ("2020/1/5 8:30", "2020-01-05 08:30:00"),
        ("2020.1.5 23:59:59", "2020-01-05 23:59:59"),
        ("2020年1月5日 8:30", "2020-01-05 08:30:00"),
        ("20200105", "2020-01-05 00:00:00"),
        ("20200105 08:30", "2020-01-05 08:30:00"),
        ("43835.75", "2020-01-05 18:00:00"),
        ("43835.354166666664", "2020-01-05 08:30:00"),  # 8:30 as Excel stores it
        ("2020-01-05 08:30:15.400", "2020-01-05 08:30:15"),
        ("2020-01-05 08:29:59.999", "2020-01-05 08:30:00"),  # an Excel date-time cell
        ("2020-01-05 23:59:59.914", "2020-01-06 00:00:00"),
        ("43835.999999", "2020-01-06 00:00:00"),
    ],
)
def test_datetime_forms(cell, expected):
    assert normalise_value(cell, "datetime") == expected


def test_serial_dates_of_1900():
    assert canonical_date("1") == "1900-01-01"
    assert canonical_date("59") == "1900-02-28"
    assert canonical_date("60") is None  # Excel's non-existent 1900-02-29
    assert canonical_date("61") == "1900-03-01"
    assert canonical_date("2958465") == "9999-12-31"
    assert canonical_date("2958466") is None


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("1899-12-31", "1899-12-31"), ("2200/1/1", "2200-01-01"), ("18000101", "1800-01-01")],
)
def test_out_of_range_dates_keep_canonical_form(cell, expected):
    assert normalise_value(cell, "date") == expected


@pytest.mark.parametrize(
    "cell",
    [
        "2020-02-30",
        "2020-13-01",
        "2020-01-05 25:00",
        "2020-01-05 8:3",
        "2020-01-05 abc",
        "2020-01/05",
        "20201305",
        "0",
        "-5",
        "昨天",
        "2020年1月",
    ],
)
def test_dates_not_parsing_keep_raw(cell):
    assert canonical_date(cell) is None
    assert canonical_datetime(cell) is None
    assert normalise_value(f"\u3000{cell}", "date") == cell


def test_org_and_license_codes():
    assert is_valid_org_code("ab-12")
    assert is_valid_org_code("A" * 30)
    assert not is_valid_org_code("A" * 31)
    assert not is_valid_org_code("医院1")
    assert not is_valid_org_code("AB 1")
    assert not is_valid_org_code("")
    assert not is_valid_org_code(None)
    assert is_valid_license_code("X001")
    assert not is_valid_license_code("X-001")
    s = pd.Series(["AB-1", None, "医院", "X1"], dtype="string")
    assert valid_org_code_mask(s).tolist() == [True, False, False, True]
    assert valid_license_code_mask(s).tolist() == [False, False, False, True]


def test_too_long_mask():
    s = pd.Series(["甲" * 40, "甲" * 41, None], dtype="string")
    assert too_long_mask(s, 40).tolist() == [False, True, False]
    assert too_long_mask(s, None).tolist() == [False, False, False]


def test_normalise_array_counts_changes_over_cells():
    raw = pa.array(["0304", "03.04", "0304", None, " - ", "A0304", "内科", " 03.04 ", "3.04"])
    column = normalise_array(raw, "code", "RC023", REF)
    assert column.values.to_pylist() == [
        "03.04",
        "03.04",
        "03.04",
        None,
        None,
        "03.04",
        "内科",
        "03.04",
        "03.04",
    ]
    # white space and case alone are not changes; the three examples come in file order
    assert column.changed == 4
    assert column.examples == [("0304", "03.04"), ("A0304", "03.04"), ("3.04", "03.04")]


def test_normalise_array_quiet_forms():
    dates = normalise_array(pa.array(["2020-01-05 00:00:00", "2020/1/5"]), "date")
    assert dates.values.to_pylist() == ["2020-01-05", "2020-01-05"]
    assert dates.changed == 1
    assert dates.examples == [("2020/1/5", "2020-01-05")]
    times = normalise_array(pa.array(["2020-01-05", "2020-01-05 08:30:00"]), "datetime")
    assert times.values.to_pylist() == ["2020-01-05 00:00:00", "2020-01-05 08:30:00"]
    assert times.changed == 0


def test_normalise_array_names_and_upper():
    names = normalise_array(pa.array(["张三１", "张三 1", "Li Si"]), "name")
    assert names.values.to_pylist() == ["张三1", "张三1", "LiSi"]
    assert names.changed == 1  # only the full-width digit; white space is not a change
    codes = normalise_array(pa.array(["ab-1", "ＡＢ-1"]), "text", upper=True)
    assert codes.values.to_pylist() == ["AB-1", "AB-1"]
    assert codes.changed == 1


def test_normalise_array_full_width_space_is_not_a_change():
    # "\u3000杨燕娥 " only loses white space: the import report must not list it as a
    # rewrite that looks like "杨燕娥 → 杨燕娥"; a full-width letter still counts.
    names = normalise_array(pa.array(["\u3000杨燕娥 ", "杨\u3000燕娥", "\u00a0王伟"]), "name")
    assert names.values.to_pylist() == ["杨燕娥", "杨燕娥", "王伟"]
    assert names.changed == 0
    assert names.examples == []
    text = normalise_array(pa.array(["\u3000心内科\u3000", "\u3000Ａ"]), "text")
    assert text.changed == 1
    assert text.examples == [("Ａ", "A")]


@pytest.mark.parametrize(
    ("type_", "cells"),
    [
        ("int", ["45", "45.0", "x", None, "-", "４５"]),
        ("decimal", ["1234.5", "1234.50", "12", "x", None, "0.1"]),
        ("date", ["2020-01-05", "2020-01-05 00:00:00", "43835", "2020-02-30", None, "2020/1/5"]),
        ("datetime", ["2020-01-05 08:30:00", "2020-01-05", "2020/1/5 8:30", "x", None, "43835.5"]),
    ],
)
def test_fast_path_agrees_with_scalar_rules(type_, cells):
    column = normalise_array(pa.array(cells, type=pa.string()), type_)
    assert column.values.to_pylist() == [normalise_value(c, type_) for c in cells]


def test_normalise_series_uses_the_column_spec():
    spec = REF.column("staff", "所在科室")
    out = normalise_series(pd.Series(["0304", 3.04, None, "-", pd.NA, 2.0]), spec, REF)
    assert out.dtype == "string"
    assert out.tolist()[:2] == ["03.04", "03.04"]
    assert out.isna().tolist() == [False, False, True, True, True, False]
    assert out.iloc[5] == "02"
    case_no = normalise_series([123456.0, "00123", 1.5], REF.column("cases", "病案号"), REF)
    assert case_no.tolist() == ["123456", "00123", "1.5"]
    born = normalise_series(
        [dt.date(1980, 1, 5), dt.datetime(1980, 1, 5, 8, 0), 29225], REF.column("staff", "出生日期")
    )
    assert born.tolist() == ["1980-01-05", "1980-01-05", "1980-01-05"]


def test_cell_text():
    assert [cell_text(v) for v in (None, float("nan"), pd.NA, True, 45.0, 0.3, "x")] == [
        None,
        None,
        None,
        "true",
        "45",
        "0.3",
        "x",
    ]


def test_typed_column():
    dates = pd.Series(["2020-01-05", "2020-02-30", None, "x", "1600-01-01"], dtype="string")
    parsed = typed_column(dates, "date")
    assert str(parsed.dtype) == "datetime64[ns]"
    assert parsed.tolist()[0] == pd.Timestamp("2020-01-05")
    assert parsed.isna().tolist() == [False, True, True, True, True]

    times = pd.Series(["2020-01-05 08:30:15", "2020-01-05", None], dtype="string")
    parsed = typed_column(times, "datetime")
    assert parsed.tolist()[0] == pd.Timestamp("2020-01-05 08:30:15")
    assert parsed.isna().tolist() == [False, True, True]

    ints = typed_column(pd.Series(["45", "-3", "4.5", None], dtype="string"), "int")
    assert str(ints.dtype) == "Int64"
    assert ints.tolist()[:2] == [45, -3]
    assert ints.isna().tolist() == [False, False, True, True]

    decimals = typed_column(pd.Series(["1234.5", "1e-07", "x", None], dtype="string"), "decimal")
    assert str(decimals.dtype) == "Float64"
    assert decimals.tolist()[:2] == [1234.5, 1e-07]
    assert decimals.isna().tolist() == [False, False, True, True]

    names = pd.Series(["张三"], dtype="string")
    assert typed_column(names, "name") is names


AGREEMENT_CELLS = [
    "2020-01-05",
    "2020-1-5",
    "2020/1/5",
    "2020.1.5",
    "2020-1/5",
    "2020/1-5",
    "2020年1月5日",
    "2020年1月5",
    "2020年1-5日",
    "2020-01-05 8:30",
    "2020-01-05  8:30",
    "2020-01-05T8:30:15",
    "2020-01-05 24:00",
    "2020-01-05 23:60",
    "2020-01-05 8:30:61",
    "2020-02-29 00:00:00",
    "2019-02-29",
    "2020-04-31",
    "20200105",
    "20201301",
    "20200105 8:30",
    "43835.5",
    "2020-01-05 08:29:59.999",
    "2020年1月5日8:30",
    "2020年1月5日 8:30",
    "0001-01-01",
    "9999-12-31 23:59:59",
    "x",
    "",
    None,
]


@pytest.mark.parametrize("type_", ["date", "datetime"])
def test_vectorised_dates_agree_with_scalar_rules(type_):
    column = normalise_array(pa.array(AGREEMENT_CELLS, type=pa.string()), type_)
    assert column.values.to_pylist() == [normalise_value(c, type_) for c in AGREEMENT_CELLS]


@pytest.mark.parametrize("dtype", ["string", "str", object])
def test_typed_column_any_string_dtype(dtype):
    cells = ["2020-01-05 24:00:00", "2020-01-05 08:60:00", "2020-02-29 23:59:59", None]
    parsed = typed_column(pd.Series(cells, dtype=dtype), "datetime")
    assert parsed.isna().tolist() == [True, True, False, True]
    assert parsed.iloc[2] == pd.Timestamp("2020-02-29 23:59:59")
    assert typed_column(pd.Series(["2019-02-29"], dtype=dtype), "date").isna().tolist() == [True]
    mask = valid_org_code_mask(pd.Series(["A-1", None], dtype=dtype))
    assert mask.tolist() == [True, False]


def test_only_ascii_digits_and_line_breaks():
    assert canonical_date("٢٠٢٠-٠١-٠٥") is None  # Arabic-Indic digits are not dates
    assert canonical_int("٤٥") is None
    assert not is_valid_org_code("AB1\n")
    cells = ["2020-01-05\n08:30", "2020-01-05\n"]
    column = normalise_array(pa.array(cells), "datetime")
    assert column.values.to_pylist() == [normalise_value(c, "datetime") for c in cells]
    assert column.values.to_pylist() == ["2020-01-05 08:30:00", "2020-01-05 00:00:00"]


def test_discharged_before_admission_compares_dates_not_times() -> None:
    from cwdx.values import discharged_before_admission, typed_column

    discharge = typed_column(
        pd.Series(["2024-03-01 08:00:00", "2024-02-28 23:59:00", None, "2024-03-02 00:00:00"]),
        "datetime",
    )
    admission = typed_column(
        pd.Series(["2024-03-01 20:00:00", "2024-03-01 00:00:00", "2024-03-01 00:00:00", None]),
        "datetime",
    )
    # same day, earlier hour: not earlier; the day before: earlier; a missing side: never
    assert discharged_before_admission(discharge, admission).tolist() == [False, True, False, False]


@pytest.mark.parametrize(
    ("type_", "files"),
    [
        ("date", [["2020/1/5", None, "2020-01-05 00:00:00", "20200105"], ["2020/1/5", "昨天"], []]),
        ("datetime", [["2020-01-05", "2020/1/5 8:30"], [None, None], ["2020年1月5日", "2020/1/5 8:30"]]),
        ("code", [["0304", "03.04", "x"], ["03．04", "0304", None]]),
        ("name", [["张 三１", "李四"], ["王五２", "\u3000张 三１", "李四", "赵六３", "王五２"]]),
    ],
)  # fmt: skip
def test_many_files_normalise_as_each_alone(type_, files):
    """normalise_arrays (one pass over the same column of many files) gives every file exactly
    what normalise_array of that file alone gives: values, changed count, examples in order."""
    domain = "RC023" if type_ == "code" else ""
    together = normalise_arrays(
        [pa.array(cells, type=pa.string()) for cells in files], type_, domain, REF, max_examples=2
    )
    assert len(together) == len(files)
    for cells, column in zip(files, together, strict=True):
        alone = normalise_array(
            pa.array(cells, type=pa.string()), type_, domain, REF, max_examples=2
        )
        assert column.values.to_pylist() == alone.values.to_pylist()
        assert (column.changed, column.examples) == (alone.changed, alone.examples)
    assert together[0].changed > 0  # the cases do change something


# The import's fast path for date columns (cells already ``YYYY-MM-DD[ HH:MM:SS]``, as Excel date
# cells come) must store and count exactly what the general path does.
EXCEL_DATES = ["2020-01-05 00:00:00", "2021-12-31 00:00:00", "1958-04-07 00:00:00"]
EXCEL_TIMES = ["2020-01-05 08:30:00", "2021-12-31 23:59:59", "2023-01-02 15:00:00"]
FAST_PATH_CASES = {
    "excel dates": [EXCEL_DATES, EXCEL_DATES[::-1]],
    "excel date-times": [EXCEL_TIMES, [EXCEL_TIMES[0], None]],
    "excel and text dates": [
        [*EXCEL_DATES, "2020/1/5", "2020年1月5日", "20200105", "2020.1.5 8:30", "43835"],
        [" 2020-01-05 ", "２０２０-01-05", "2020-01-05\u3000", "2020-1-5", EXCEL_TIMES[0]],
    ],
    "impossible": [
        ["2021-02-29", "2021-02-29 00:00:00", "2020-02-29", "2020-04-31 00:00:00", "2020-13-01"],
        ["2020-01-05 24:00:00", "2020-01-05 23:60:00", "2020-01-05 23:59:60", "2020-00-10"],
    ],
    "empty": [[None, "", "-", " ", EXCEL_DATES[0], None], [None, None], []],
    "date only": [["2020-01-05", "2021-12-31", "2020-01-05"], ["2020-01-05", EXCEL_TIMES[1]]],
    "out of range": [
        ["1899-12-31", "2101-01-01 00:00:00", "1600-01-01", "0001-01-01", "9999-12-31 23:59:59"],
        ["1677-09-21", "1677-09-22", "2262-04-09 23:59:59", "2262-04-10", "2100-12-31"],
    ],
    "odd shapes": [
        ["2020-01-05T08:30:00", "2020-01-05 08:30", "2020-01-05 08:30:00.5", "2020-01-0500:00:00"],
        ["2020-01-05 08:30:00 ", "2020/01/05 00:00:00", "2020-01-05  08:30:00", "x" * 19, "x" * 10],
    ],
}


@pytest.mark.parametrize("quiet_forms", [True, False])
@pytest.mark.parametrize("type_", ["date", "datetime"])
@pytest.mark.parametrize("case", list(FAST_PATH_CASES))
def test_date_fast_path_agrees_with_general_path(case, type_, quiet_forms, monkeypatch):
    files = [pa.array(cells, type=pa.string()) for cells in FAST_PATH_CASES[case]]
    fast = normalise_arrays(files, type_, quiet_forms=quiet_forms, max_examples=20)
    monkeypatch.setattr(arrays, "_canonical_date_rows", lambda *args: None)
    general = normalise_arrays(files, type_, quiet_forms=quiet_forms, max_examples=20)
    for cells, own, expected in zip(FAST_PATH_CASES[case], fast, general, strict=True):
        assert own.values.to_pylist() == expected.values.to_pylist()
        assert own.values.to_pylist() == [normalise_value(c, type_) for c in cells]
        assert (own.changed, own.examples) == (expected.changed, expected.examples)


def test_date_fast_path_takes_the_canonical_cells():
    """The cells the fast path takes (so the test above compares both paths on them)."""
    cells = pa.array(
        [*EXCEL_DATES, "2020-01-05", EXCEL_TIMES[0], "2021-02-29", "2020/1/5", None, "1600-01-01"]
    )
    date = arrays._canonical_date_rows(cells, "date", True)
    assert date is not None
    # not 1600-01-01: outside what ``datetime64[ns]`` holds, left to the general path
    assert date.tolist() == [True, True, True, True, False, False, False, False, False]
    datetime = arrays._canonical_date_rows(cells, "datetime", False)
    assert datetime is not None
    assert datetime.tolist() == [True, True, True, False, True, False, False, False, False]
    assert arrays._canonical_date_rows(pa.array(["2020/1/5", None]), "date", True) is None
    assert arrays._canonical_date_rows(cells, "text", True) is None


def test_excel_date_column_counts_only_real_changes():
    column = normalise_array(pa.array([*EXCEL_DATES, "2020-01-05 08:30:00", "2020/1/5"]), "date")
    assert column.values.to_pylist() == [d[:10] for d in EXCEL_DATES] + ["2020-01-05"] * 2
    assert column.changed == 2
    assert column.examples == [("2020-01-05 08:30:00", "2020-01-05"), ("2020/1/5", "2020-01-05")]
