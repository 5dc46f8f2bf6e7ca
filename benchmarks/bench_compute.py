"""Benchmark: matching + indicators on 1,000,000 case rows and 2,000 applicants (on demand).

Synthesises stored frames (``DESIGN.md`` format) in memory, one institution with 50 departments,
then times :func:`cwdx.matching.case_view`, :func:`cwdx.matching.credited_lean` with
:func:`cwdx.matching.match_staff` (what W12 needs) and the whole
:func:`cwdx.metrics.compute_institution`, and a baseline in the same run: a bare pandas merge of
the same sizes (every physician name column of the 1,000,000 rows joined to the 2,000
applicants on org + department + name). Prints the timings and the ratio.

    python benchmarks/bench_compute.py [--cases 1000000] [--staff 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx import matching, metrics
from cwdx.reference import load_reference

ORG = "BENCH0001"


def _strings(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    array = pa.array(values.astype(object), type=pa.large_string())
    if mask is not None:
        array = pc.if_else(pa.array(mask), array, pa.scalar(None, pa.large_string()))
    return array


def _datetimes(seconds: np.ndarray, fmt: str) -> pa.Array:
    stamps = pa.array(seconds.astype("datetime64[s]"))
    return pc.strftime(stamps, format=fmt).cast(pa.large_string())


def synthesise(n_cases: int, n_staff: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stored case and staff frames of one institution."""
    rng = np.random.default_rng(seed)
    reference = load_reference()
    depts = np.array(sorted(reference.domain_codes("RC023")))[:50]
    icd10 = np.array(sorted(reference.icd10))[::15][:2000]
    icd9 = np.array(sorted(reference.icd9))[::10][:1000]

    # applicants: 70 % physicians, 30 % nurses, spread over the departments
    kinds = np.where(rng.random(n_staff) < 0.7, "1", "2")
    staff_dept = depts[rng.integers(0, len(depts), n_staff)]
    names = np.array([f"人员{i:05d}" for i in range(n_staff)])
    staff_columns = {c.name: pa.nulls(n_staff, pa.large_string()) for c in reference.staff_columns}
    staff_columns.update(
        {
            "组织机构代码": _strings(np.full(n_staff, ORG)),
            "医疗机构名称": _strings(np.full(n_staff, "基准医院")),
            "姓名": _strings(names),
            "执业证书编码": _strings(np.array([f"C{i:08d}" for i in range(n_staff)])),
            "所在科室": _strings(staff_dept),
            "人员类别": _strings(kinds),
            "申报专业": _strings(np.where(kinds == "1", "心血管内科", "内科护理")),
            "拟申报级别": _strings(np.full(n_staff, "1")),
            "现专业技术职务聘任时间": _strings(np.full(n_staff, "2019-01-01")),
            "提取工作量数据截止时间": _strings(np.full(n_staff, "2023-12-31")),
        }
    )
    staff = pa.table(staff_columns).to_pandas()
    staff["_file"], staff["_import"], staff["_org"] = "人员.xlsx", 1, ORG
    staff["_row"] = np.arange(2, n_staff + 2)

    # per department, the physicians and nurses who can appear in its records
    by_dept: dict[tuple[str, str], np.ndarray] = {}
    for dept in depts:
        for kind in ("1", "2"):
            pool = names[(staff_dept == dept) & (kinds == kind)]
            by_dept[(dept, kind)] = pool if len(pool) else np.array(["无名氏"])
    case_dept_idx = rng.integers(0, len(depts), n_cases)
    case_dept = depts[case_dept_idx]

    def pick(kind: str) -> np.ndarray:
        out = np.empty(n_cases, dtype=object)
        for i, dept in enumerate(depts):
            rows = np.flatnonzero(case_dept_idx == i)
            pool = by_dept[(dept, kind)]
            out[rows] = pool[rng.integers(0, len(pool), len(rows))]
        strangers = rng.random(n_cases) < 0.1  # names of people who do not apply
        out[strangers] = "其他医师"
        return out.astype(str)

    discharge = np.datetime64("2018-01-01T00:00:00").astype("int64") + rng.integers(
        0, 7 * 365 * 86400, n_cases
    )
    los = rng.integers(1, 30, n_cases)
    admit = discharge - los * 86400 - rng.integers(0, 86400, n_cases)
    has_main = rng.random(n_cases) < 0.4
    has_other = has_main & (rng.random(n_cases) < 0.25)
    columns = {c.name: pa.nulls(n_cases, pa.large_string()) for c in reference.case_columns}
    columns.update(
        {
            "组织机构代码": _strings(np.full(n_cases, ORG)),
            "医疗机构名称": _strings(np.full(n_cases, "基准医院")),
            "病案号": _strings(np.arange(n_cases).astype(str)),
            "入院时间": _datetimes(admit, "%Y-%m-%d %H:%M:%S"),
            "出院时间": _datetimes(discharge, "%Y-%m-%d %H:%M:%S"),
            "出院科别": _strings(case_dept),
            "实际住院（天）": _strings(los.astype(str), rng.random(n_cases) < 0.8),
            "出院主要诊断编码": _strings(icd10[rng.integers(0, len(icd10), n_cases)]),
            "出院其他诊断编码1": _strings(
                np.where(rng.random(n_cases) < 0.02, "T81.000", "I10.X00"),
                rng.random(n_cases) < 0.5,
            ),
            "出院其他诊断入院病情1": _strings(np.full(n_cases, "4"), rng.random(n_cases) < 0.5),
            "离院方式": _strings(np.where(rng.random(n_cases) < 0.02, "5", "1")),
            "住院总费用": _strings(np.round(rng.random(n_cases) * 50000, 2).astype(str)),
            "主（副主）任医师": _strings(pick("1")),
            "主治医师": _strings(pick("1")),
            "住院医师": _strings(pick("1")),
            "责任护士": _strings(pick("2")),
            "质控护师": _strings(pick("2")),
            "主要手术操作编码": _strings(icd9[rng.integers(0, len(icd9), n_cases)], has_main),
            "主要手术操作级别": _strings(rng.integers(1, 5, n_cases).astype(str), has_main),
            "主要手术操作术者": _strings(pick("1"), has_main),
            "主要手术操作Ⅰ助": _strings(pick("1"), has_main),
            "其他手术操作编码1": _strings(icd9[rng.integers(0, len(icd9), n_cases)], has_other),
            "其他手术操作级别1": _strings(rng.integers(1, 5, n_cases).astype(str), has_other),
            "其他手术操作术者1": _strings(pick("1"), has_other),
        }
    )
    cases = pa.table(columns).to_pandas()
    cases["_file"], cases["_import"], cases["_org"] = "病案.xlsx", 1, ORG
    cases["_row"] = np.arange(2, n_cases + 2)
    return cases, staff


def baseline(cases: pd.DataFrame, staff: pd.DataFrame) -> float:
    """A bare pandas merge of the same sizes: 3 name columns × n rows joined to the staff."""
    started = time.perf_counter()
    keys = staff[["组织机构代码", "所在科室", "姓名"]].rename(
        columns={"组织机构代码": "o", "所在科室": "d", "姓名": "n"}
    )
    total = 0
    for role in matching.PHYSICIAN_ROLES:
        left = pd.DataFrame({"o": cases["组织机构代码"], "d": cases["出院科别"], "n": cases[role]})
        total += len(left.merge(keys, on=["o", "d", "n"], how="inner"))
    elapsed = time.perf_counter() - started
    print(f"baseline merge: {elapsed:6.2f} s ({total:,} joined rows)")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--staff", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--unmatched",
        type=float,
        default=0.0,
        help="share of applicants renamed (姓名 + 'X') so that they match nothing (explain load)",
    )
    args = parser.parse_args()
    reference = load_reference()

    started = time.perf_counter()
    cases, staff = synthesise(args.cases, args.staff, args.seed)
    print(
        f"synthesised {len(cases):,} case rows, {len(staff):,} applicants in "
        f"{time.perf_counter() - started:.1f} s"
    )

    if args.unmatched:
        renamed = np.random.default_rng(args.seed).random(len(staff)) < args.unmatched
        staff.loc[renamed, "姓名"] = staff.loc[renamed, "姓名"] + "X"
        print(f"renamed {int(renamed.sum()):,} applicants so that they match nothing")

    base = baseline(cases, staff)

    started = time.perf_counter()
    view = matching.case_view(cases, reference)
    t_view = time.perf_counter() - started
    started = time.perf_counter()
    pairs, _procedures = matching.credited_lean(cases, staff, reference, view)
    counts = matching.match_staff(cases, staff, reference, pairs)
    t_match = time.perf_counter() - started
    print(
        f"case_view (eligibility, W09, dates): {t_view:6.2f} s "
        f"({int(view.eligible.sum()):,} eligible rows)"
    )
    print(
        f"credited_lean + match_staff:         {t_match:6.2f} s ({len(pairs):,} pairs, "
        f"{int(counts['matched'].sum()):,} matched)"
    )

    started = time.perf_counter()
    result = metrics.compute_institution(cases, staff, reference)
    t_compute = time.perf_counter() - started
    print(
        f"compute_institution (matching + indicators + details + explain): {t_compute:6.2f} s "
        f"({len(result.summary):,} applicants, {len(result.diseases):,} 病种明细 rows)"
    )
    print(f"ratio compute_institution / baseline merge: {t_compute / base:.1f}x")


if __name__ == "__main__":
    main()
