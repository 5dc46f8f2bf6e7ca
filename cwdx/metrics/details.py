"""The detail tables of ``outputs.md``: 病种明细, 术种明细, 年度明细 and 病例清单."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cwdx.matching import ROLES
from cwdx.metrics.definitions import (
    CASE_LIST_COLUMNS,
    DETAIL_KEYS,
    DISEASE_COLUMNS,
    PROCEDURE_COLUMNS,
    YEAR_COLUMNS,
)
from cwdx.metrics.pairs import Pairs, counted, empty_detail, staff_ids
from cwdx.values import typed_column


def _by_staff(out: pd.DataFrame, positions: pd.Series | np.ndarray) -> pd.DataFrame:
    """``out`` indexed by the staff position of each row (how a table computed over several
    institutions is split per institution; single-institution callers reset the index)."""
    out.index = pd.Index(np.asarray(positions, dtype="int64"))
    return out


def disease_detail(
    staff: pd.DataFrame,
    m: Pairs,
    nurse_pairs: Pairs,
    cat3: np.ndarray,
    labels: np.ndarray,
) -> pd.DataFrame:
    who = np.concatenate([m.staff, nurse_pairs.staff])
    codes = np.concatenate([cat3[m.case], cat3[nurse_pairs.case]])
    staff_pos, code, size = counted(who, codes)
    if not len(staff_pos):
        return empty_detail(DISEASE_COLUMNS)
    table = pd.DataFrame({"s": staff_pos, "c": labels[code], "n": size})
    table = table.sort_values(["s", "n", "c"], ascending=[True, False, True], kind="stable")
    out = staff_ids(staff, table["s"].to_numpy(dtype="int64"))
    out["疾病类目"] = pd.array(table["c"].tolist(), dtype="string")
    out["病例数"] = table["n"].to_numpy(dtype="int64")
    return _by_staff(out, table["s"])


def procedure_detail(
    staff: pd.DataFrame, p: Pairs, sub: np.ndarray, labels: np.ndarray, level: np.ndarray
) -> pd.DataFrame:
    if not len(p.staff):
        return empty_detail(PROCEDURE_COLUMNS)
    width = int(sub.max()) + 1
    keys, inverse = np.unique(p.staff * width + sub, return_inverse=True)
    table = pd.DataFrame({"s": keys // width, "c": labels[keys % width]})
    table["手术例数"] = np.bincount(inverse, minlength=len(keys))
    for k, column in enumerate(
        ("级别未填例数", "一级手术例数", "二级手术例数", "三级手术例数", "四级手术例数")
    ):
        table[column] = np.bincount(inverse[level == k], minlength=len(keys))
    table = table.sort_values(["s", "手术例数", "c"], ascending=[True, False, True], kind="stable")
    out = staff_ids(staff, table["s"].to_numpy(dtype="int64"))
    out["术种"] = pd.array(table["c"].tolist(), dtype="string")
    for column in PROCEDURE_COLUMNS[len(DETAIL_KEYS) + 1 :]:
        out[column] = table[column].to_numpy(dtype="int64")
    return _by_staff(out, table["s"])


def year_detail(
    staff: pd.DataFrame,
    m: Pairs,
    p: Pairs,
    nurse_pairs: Pairs,
    year: np.ndarray,
    physician: np.ndarray,
) -> pd.DataFrame:
    parts = []
    for pairs, column in (
        (m, "出院患者人数"),
        (p, "手术例数"),
        (nurse_pairs, "责任护理出院患者人数"),
    ):
        staff_pos, years, size = counted(pairs.staff, year[pairs.case])
        parts.append(
            pd.Series(size, index=pd.MultiIndex.from_arrays([staff_pos, years]), name=column)
        )
    table = pd.concat(parts, axis=1)
    if table.empty:
        return empty_detail(YEAR_COLUMNS)
    table = table.sort_index()
    positions = table.index.get_level_values(0).to_numpy(dtype="int64")
    out = staff_ids(staff, positions)
    out["出院年份"] = table.index.get_level_values(1).to_numpy(dtype="int64")
    is_physician = physician[positions]
    for column, own in (
        ("出院患者人数", is_physician),
        ("手术例数", is_physician),
        ("责任护理出院患者人数", ~is_physician),
    ):
        values = table[column].fillna(0).astype("int64").to_numpy()
        out[column] = pd.array(
            [int(v) if keep else None for v, keep in zip(values, own, strict=True)],
            dtype="Int64",
        )
    return _by_staff(out, positions)


_SLOT_LABELS = ("主要手术操作",) + tuple(f"其他手术操作{k}" for k in range(1, 6))


def case_list_table(
    cases: pd.DataFrame, staff: pd.DataFrame, lean: pd.DataFrame, procedures: pd.DataFrame
) -> pd.DataFrame:
    if lean.empty:
        return empty_detail(CASE_LIST_COLUMNS)
    proc = lean["proc"].to_numpy(dtype="int64")
    slots = procedures["slot"].to_numpy(dtype="int64")
    labels = [
        ROLES[role] if k < 0 else f"{ROLES[role]}（{_SLOT_LABELS[slots[k]]}）"
        for role, k in zip(lean["role"].tolist(), proc.tolist(), strict=True)
    ]
    frame = pd.DataFrame(
        {"staff_pos": lean["staff_pos"], "case_pos": lean["case_pos"], "label": labels}
    )
    joined = (
        frame.groupby(["staff_pos", "case_pos"], sort=True)["label"]
        .agg(lambda s: "、".join(dict.fromkeys(s)))
        .reset_index()
    )
    case_pos = joined["case_pos"].to_numpy(dtype="int64")
    out = staff_ids(staff, joined["staff_pos"].to_numpy(dtype="int64"))

    def taken(values: pd.Series) -> pd.Series:
        return values.take(case_pos).reset_index(drop=True)

    out["病案号"] = taken(cases["病案号"].astype("string"))
    out["住院次数"] = taken(typed_column(cases["住院次数"], "int"))  # a number in the workbook
    out["出院时间"] = taken(cases["出院时间"].astype("string"))
    out["角色"] = pd.array(joined["label"].tolist(), dtype="string")
    if "_file" in cases.columns:
        out["文件"] = cases["_file"].astype("string").take(case_pos).reset_index(drop=True)
    else:
        out["文件"] = pd.array([None] * len(out), dtype="string")
    if "_row" in cases.columns:
        out["行号"] = cases["_row"].to_numpy(dtype="int64")[case_pos]
    else:
        out["行号"] = pd.array([None] * len(out), dtype="Int64")
    return _by_staff(out, joined["staff_pos"])
