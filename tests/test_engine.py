"""The columnar check: many institutions checked in one pass give what each gives alone, the
batches a workspace is cut into, and the byte-level cell tests against Arrow's own kernels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from frames_helper import cases, staff

from cwdx.check import check_frames, check_institutions
from cwdx.fanout import cut_batches
from cwdx.reference import load_reference
from cwdx.values import canonical_datetimes, text_facts

TODAY = dt.date(2025, 6, 1)


def _two_institutions() -> tuple[pd.DataFrame, pd.DataFrame]:
    case_frame = pd.concat(
        [
            cases({}, {"病案号": None}, {"出院科别": "99.99"}),
            cases(
                {"组织机构代码": "H002", "主治医师": None},
                {"组织机构代码": "H002", "出院时间": "2019-01-01 08:00:00"},
                org="H002",
                import_id=3,
            ),
        ],
        ignore_index=True,
    )
    staff_frame = pd.concat(
        [
            staff({}, {"姓名": "李四", "执业证书编码": "C9", "学历": "9"}),
            staff(
                {"组织机构代码": "H002"},
                {"组织机构代码": "H002", "姓名": "李斯", "执业证书编码": "C9"},
                org="H002",
                import_id=4,
            ),
        ],
        ignore_index=True,
    )
    return case_frame, staff_frame


def test_many_institutions_in_one_pass_equal_each_alone() -> None:
    case_frame, staff_frame = _two_institutions()
    together = check_institutions(case_frame, staff_frame, None, load_reference(), TODAY)
    assert list(together) == ["H001", "H002"]
    for org, result in together.items():
        alone = check_frames(
            case_frame[case_frame["_org"] == org],
            staff_frame[staff_frame["_org"] == org],
            staff_frame,
            load_reference(),
            TODAY,
            org=org,
        )
        assert result.counts == alone.counts
        assert (result.passed, result.case_rows, result.staff_rows) == (
            alone.passed,
            alone.case_rows,
            alone.staff_rows,
        )
        pd.testing.assert_frame_equal(result.findings, alone.findings)
    assert {k: v for k, v in together["H001"].counts.items() if v} == {
        "E12": 1,
        "E13": 1,
        "E16": 1,
        "W07": 1,
    }
    assert set(together["H002"].findings["institution"]) == {"H002"}


def test_institutions_not_asked_for_are_left_out() -> None:
    case_frame, staff_frame = _two_institutions()
    only = check_institutions(
        case_frame, staff_frame, staff_frame, load_reference(), TODAY, ["H002"]
    )
    assert list(only) == ["H002"]
    assert (only["H002"].case_rows, only["H002"].staff_rows) == (2, 2)


def test_batches_are_bounded_and_keep_the_order() -> None:
    sizes = [("A", 100), ("B", 200), ("C", 50), ("D", 400), ("E", 10)]
    assert cut_batches(sizes, 300) == [("A", "B"), ("C",), ("D",), ("E",)]
    assert cut_batches(sizes, 1000) == [("A", "B", "C", "D", "E")]
    assert cut_batches([], 10) == []
    # two runners: about two batches each (760 rows / 4 = 190 per batch), whole institutions
    assert cut_batches(sizes, 1000, width=2) == [("A",), ("B",), ("C",), ("D",), ("E",)]
    sizes = [(name, 10) for name in "ABCDEFGH"]
    assert cut_batches(sizes, 1000, width=2) == [("A", "B"), ("C", "D"), ("E", "F"), ("G", "H")]


def _python_datetime(text: str | None, with_time: bool) -> np.datetime64:
    fmt = "%Y-%m-%d %H:%M:%S" if with_time else "%Y-%m-%d"
    shaped = text is not None and len(text) == len(dt.datetime(2000, 1, 1).strftime(fmt))
    try:
        moment = dt.datetime.strptime(text, fmt) if shaped and text.isascii() else None  # type: ignore[arg-type]
    except ValueError:
        moment = None
    if moment is None or moment.strftime(fmt) != text:  # strptime accepts 1-digit fields
        return np.datetime64("NaT", "ns")
    if not dt.datetime(1677, 9, 22) <= moment < dt.datetime(2262, 4, 10):
        return np.datetime64("NaT", "ns")
    return np.datetime64(moment, "ns")


def test_canonical_datetimes_read_only_real_canonical_moments() -> None:
    texts = [
        "2020-02-29 23:59:59",
        "2021-02-29 00:00:00",
        "1900-02-29 00:00:00",
        "2000-02-29 12:00:00",
        "2020-13-01 00:00:00",
        "2020-00-10 00:00:00",
        "2020-01-00 00:00:00",
        "2020-04-31 00:00:00",
        "2020-01-01 24:00:00",
        "2020-01-01 23:60:00",
        "2020-01-01 23:59:60",
        "2020-01-01T08:00:00",
        "2020-1-01 08:00:00 ",
        "２020-01-01 08:00:00",
        "1677-09-21 23:59:59",
        "1677-09-22 00:00:00",
        "2262-04-09 23:59:59",
        "2262-04-10 00:00:00",
        "0001-01-01 00:00:00",
        "#N/A",
        "",
        None,
    ]
    for with_time in (True, False):
        values = texts if with_time else [t[:10] if t else t for t in texts]
        arr = pa.array(values, type=pa.string())
        expected = np.array([_python_datetime(t, with_time) for t in values])
        np.testing.assert_array_equal(canonical_datetimes(arr, with_time), expected)
        np.testing.assert_array_equal(
            canonical_datetimes(arr.slice(3), with_time), expected[3:]
        )  # an array with an offset


def test_text_facts_agree_with_arrow_kernels() -> None:
    spaces = [chr(c) for c in range(0x3001) if not 0xD800 <= c <= 0xDFFF]
    values = spaces + [c + "x" for c in spaces[:200]] + ["", None, "#N/A", "#NAME", "长名字长名字"]
    arr = pa.array(values, type=pa.string()).slice(1)
    empty, too_long, error = text_facts(arr, 5)
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(arr), ""), True)
    np.testing.assert_array_equal(empty, blank.to_numpy(zero_copy_only=False))
    longer = pc.fill_null(pc.greater(pc.utf8_length(arr), 5), False)
    np.testing.assert_array_equal(too_long, longer.to_numpy(zero_copy_only=False))
    assert [values[1 + i] for i in np.flatnonzero(error)] == ["#N/A"]
