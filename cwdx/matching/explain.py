"""The nearest-miss line of ``metrics.md`` "Explain" for applicants without cases.

:func:`explain` gives, per applicant that is unmatched or whose main count is 0, the first
reason that applies (name elsewhere, outside the window, rows left out, similar names …), so a
statistician can see why the applicant got no cases.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from cwdx.columns import (
    CASE_NURSE_ROLES,
    CASE_PHYSICIAN_ROLES,
    CASE_PROC_SLOTS,
    KIND_NURSE,
    KIND_PHYSICIAN,
    STAFF_KIND,
)
from cwdx.matching.eligibility import (
    LEFT_OUT_REASONS,
    CaseView,
    codes_in,
    factorize_strings,
    isin_codes,
    resolve_eligibility,
    text_column,
)
from cwdx.matching.pairing import credited_lean, match_staff, staff_keys
from cwdx.reference import Reference
from cwdx.values import arrow_strings

#: Where an applicant's name is looked up first, per 人员类别 (the main roles).
_MAIN_COLUMNS: dict[str, tuple[str, ...]] = {
    KIND_PHYSICIAN: CASE_PHYSICIAN_ROLES,
    KIND_NURSE: CASE_NURSE_ROLES[:1],  # 责任护士
}
#: Case positions with the names found at them (one role column, or one procedure role).
_Sources = list[tuple[np.ndarray, pa.Array]]


def _example(cases: pd.DataFrame, pos: int) -> str:
    """``（例：文件 第 n 行）`` for one case position, when the frame knows its file and row."""
    if "_file" in cases.columns and "_row" in cases.columns:
        file = cases["_file"].iloc[pos]
        row = cases["_row"].iloc[pos]
        if pd.notna(file) and pd.notna(row):
            return f"（例：{file} 第 {int(row)} 行）"
    return ""


def _within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance ≤ 1."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la == lb:
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def _strip_digits(name: str) -> str:
    return name.rstrip("0123456789")


def similar_names(name: str, candidates: dict[str, int], limit: int = 3) -> list[str]:
    """Up to ``limit`` names of ``candidates`` (name -> count) similar to ``name``.

    Similar: edit distance ≤ 1, or the same name once trailing digits are removed from both
    (``张三`` / ``张三12``). The name itself is not similar to itself. Most frequent first, then
    by name.
    """
    base = _strip_digits(name)
    hits = [
        other
        for other in candidates
        if other != name and (_within_one_edit(name, other) or _strip_digits(other) == base)
    ]
    hits.sort(key=lambda other: (-candidates[other], other))
    return hits[:limit]


def _fmt_day(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


_KIND_LABELS = {
    KIND_PHYSICIAN: ("主（副主）任医师、主治医师或住院医师", "术者或Ⅰ助"),
    KIND_NURSE: ("责任护士", "质控护师"),
}


def explain(
    cases: pd.DataFrame,
    staff: pd.DataFrame,
    reference: Reference,
    counts: pd.DataFrame | None = None,
    eligible: pd.Series | None = None,
    view: CaseView | None = None,
) -> pd.Series:
    """The nearest-miss line (``metrics.md`` "Explain") per applicant, ``""`` when not needed.

    A line is given to every applicant that is unmatched or whose main count (|M| for 医师,
    |N| for 护士) is 0. The name is looked up in the applicant's main role columns
    (主（副主）任医师/主治医师/住院医师, or 责任护士) of the institution's eligible rows, and the
    first that applies of these is given:

    0. the applicant's keys are invalid (cannot be matched at all);
    1. the name occurs, never with 出院科别 = 所在科室: its departments, with counts;
    2. name and department match but all outside the window: the nearest 出院时间;
    *  name, department and window match only in rows left out of computation, naming the
       reasons (W03, W09, invalid 出院时间);
    *  name, department and window match only in the secondary role (术者/Ⅰ助 of eligible
       procedures, 质控护师);
    *  name, department and window match only as 术者/Ⅰ助 of procedures left out (W04/W05);
    *  the name occurs only in the secondary role: steps 1 and 2 on those occurrences;
    3. the name never occurs: up to three similar names in that department;
    4. the department has no rows in the window;
    *  otherwise: the name does not occur and no similar name is found.

    Pass ``counts`` (from :func:`match_staff`) and ``view`` (from :func:`case_view`) to avoid
    recomputing them; ``eligible`` overrides the view's eligibility.
    """
    view, elig, procedures = resolve_eligibility(cases, reference, view, eligible)
    if counts is None:
        lean, _ = credited_lean(cases, staff, reference, view, eligible)
        counts = match_staff(cases, staff, reference, lean)
    keys = staff_keys(staff, reference)
    # an empty 人员类别 is NA: compare in pandas and fill, never ``ndarray == NURSE`` on NA
    nurse = (text_column(staff, STAFF_KIND) == KIND_NURSE).fillna(False).to_numpy(dtype=bool)
    main = np.where(nurse, counts["N"].to_numpy(), counts["M"].to_numpy())
    need = (~counts["matched"].to_numpy(dtype=bool)) | (main == 0)
    lines = np.full(len(staff), "", dtype=object)
    if not need.any():
        return pd.Series(lines, index=staff.index, name="说明", dtype="string")

    for pos in np.flatnonzero(need & ~keys.valid):
        lines[pos] = (
            "申报人员的组织机构代码、姓名、所在科室、人员类别或评价周期为空或有误，无法匹配病案"
        )

    todo = keys.frame[need[keys.frame["staff_pos"].to_numpy()]]
    if todo.empty:
        return pd.Series(lines, index=staff.index, name="说明", dtype="string")

    lookup = _Lookup.of(view, todo)
    tables = _occurrence_tables(cases, reference, view, elig, procedures, todo, lookup)
    days_of, names_of = _department_context(cases, view, elig, todo, lookup, tables)

    # one sub-frame per (org, name): each applicant then looks only at its own occurrences
    empty = {kind: tuple(t.iloc[:0] for t in frames) for kind, frames in tables.items()}
    by_name = {
        kind: tuple(dict(iter(t.groupby(["org", "name"], sort=False))) for t in frames)
        for kind, frames in tables.items()
    }
    for key in todo.itertuples(index=False):
        main_occ, second_occ, left_out, bad_procedures = (
            found.get((key.org, key.name), blank)
            for found, blank in zip(by_name[key.kind], empty[key.kind], strict=True)
        )
        pair = lookup.pair(key.org, key.dept)
        lines[key.staff_pos] = _explain_one(
            cases,
            view,
            key,
            main_occ,
            second_occ,
            left_out,
            bad_procedures,
            days_of.get(pair, np.array([], dtype="datetime64[ns]")),
            names_of.get((key.kind, pair), {}),
        )
    return pd.Series(lines, index=staff.index, name="说明", dtype="string")


@dataclass(frozen=True)
class _Lookup:
    """The orgs, departments and names of the applicants to explain, and the case rows' org
    and 出院科别 coded against them (-1 when absent)."""

    org_values: list[str]
    dept_values: list[str]
    name_values: np.ndarray
    name_dict: pa.Array
    org_c: np.ndarray
    dept_c: np.ndarray

    @classmethod
    def of(cls, view: CaseView, todo: pd.DataFrame) -> _Lookup:
        org_values = sorted(set(todo["org"]))
        dept_values = sorted(set(todo["dept"]))
        name_values = np.array(sorted(set(todo["name"])), dtype=object)
        return cls(
            org_values=org_values,
            dept_values=dept_values,
            name_values=name_values,
            name_dict=pa.array(list(name_values), type=pa.large_string()),
            org_c=codes_in(view.org, pa.array(org_values, type=pa.large_string())),
            dept_c=codes_in(view.dept, pa.array(dept_values, type=pa.large_string())),
        )

    def pair(self, org: str, dept: str) -> int:
        """The integer code of an (org, department) pair of ``todo``."""
        return self.org_values.index(org) * len(self.dept_values) + self.dept_values.index(dept)


def _occurrence_tables(
    cases: pd.DataFrame,
    reference: Reference,
    view: CaseView,
    elig: np.ndarray,
    procedures: pd.DataFrame,
    todo: pd.DataFrame,
    lookup: _Lookup,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """Per 人员类别 of ``todo``: where its names occur in the institution's rows, as (main role
    in eligible rows, secondary role in eligible rows, main role in rows left out, 术者/Ⅰ助 of
    procedures left out) frames of (case_pos, name, org, dept, day)."""
    org_np = np.array(lookup.org_values, dtype=object)
    in_org = lookup.org_c >= 0
    everywhere = np.arange(len(cases), dtype="int64")
    at_procedure = procedures["case_pos"].to_numpy(dtype="int64")

    def columns(*names: str) -> _Sources:
        return [(everywhere, arrow_strings(text_column(cases, name), large=True)) for name in names]

    def occurrences(sources: _Sources, rows: np.ndarray) -> pd.DataFrame:
        """(case_pos, name, org, dept, day) where a name of ``todo`` is one of the ``sources``
        (case positions with the names at them) in one of the ``rows``."""
        parts = [pd.DataFrame({"case_pos": np.zeros(0, dtype="int64"), "name_c": 0})]
        for positions, names in sources:
            name_c = codes_in(names, lookup.name_dict)
            keep = (name_c >= 0) & rows[positions]
            parts.append(pd.DataFrame({"case_pos": positions[keep], "name_c": name_c[keep]}))
        frame = pd.concat(parts, ignore_index=True).drop_duplicates()
        at = frame["case_pos"].to_numpy(dtype="int64")
        return pd.DataFrame(
            {
                "case_pos": at,
                "name": lookup.name_values[frame["name_c"].to_numpy(dtype="int64")],
                "org": org_np[lookup.org_c[at]],
                "dept": view.dept.take(pa.array(at, type=pa.int64())).to_numpy(
                    zero_copy_only=False
                ),
                "day": view.day[at],
            }
        )

    def sources(kind: str) -> tuple[_Sources, _Sources, _Sources]:
        """Where the names of ``kind`` are looked up: the main roles; the secondary ones (术者/Ⅰ助
        of eligible procedures, or 质控护师); 术者/Ⅰ助 of procedures left out (W04/W05)."""
        if kind == KIND_NURSE:
            return columns(*_MAIN_COLUMNS[KIND_NURSE]), columns(CASE_NURSE_ROLES[1]), []
        left_out_procedures: _Sources = []
        for code_column, _level, surgeon, assistant in CASE_PROC_SLOTS:
            code = text_column(cases, code_column)
            bad = np.flatnonzero(
                code.notna().to_numpy(dtype=bool)
                & ~isin_codes(code, reference.icd9).to_numpy(dtype=bool)
            )
            if len(bad):
                taken = pa.array(bad, type=pa.int64())
                for column in (surgeon, assistant):
                    names = arrow_strings(text_column(cases, column), large=True).take(taken)
                    left_out_procedures.append((bad, names))
        return (
            columns(*_MAIN_COLUMNS[KIND_PHYSICIAN]),
            [
                (at_procedure, arrow_strings(procedures["surgeon"], large=True)),
                (at_procedure, arrow_strings(procedures["assistant"], large=True)),
            ],
            left_out_procedures,
        )

    tables = {}
    for kind in (KIND_PHYSICIAN, KIND_NURSE):
        if not (todo["kind"] == kind).any():
            continue
        main_sources, second_sources, bad_sources = sources(kind)
        tables[kind] = (
            occurrences(main_sources, elig & in_org),
            occurrences(second_sources, elig & in_org),
            occurrences(main_sources, ~elig & in_org),
            occurrences(bad_sources, elig & in_org),
        )
    return tables


def _department_context(
    cases: pd.DataFrame,
    view: CaseView,
    elig: np.ndarray,
    todo: pd.DataFrame,
    lookup: _Lookup,
    kinds: Iterable[str],
) -> tuple[dict[int, np.ndarray], dict[tuple[str, int], dict[str, tuple[int, int]]]]:
    """The eligible rows of the (org, department) pairs of ``todo``: per pair, their sorted
    days; per (人员类别, pair), their main-role names with (count, first case position)."""
    n_dept = len(lookup.dept_values)
    in_org = lookup.org_c >= 0
    pair_c = np.where(in_org & (lookup.dept_c >= 0), lookup.org_c * n_dept + lookup.dept_c, -1)
    wanted_pairs = {lookup.pair(o, d) for o, d in zip(todo["org"], todo["dept"], strict=True)}
    in_pair = elig & np.isin(pair_c, list(wanted_pairs))
    pair_pos = np.flatnonzero(in_pair)
    days_of: dict[int, np.ndarray] = {}
    if len(pair_pos):
        frame = pd.DataFrame({"pair": pair_c[pair_pos], "day": view.day[pair_pos]})
        for pair, group in frame.groupby("pair"):
            days_of[int(pair)] = np.sort(group["day"].to_numpy(dtype="datetime64[ns]"))
    names_of: dict[tuple[str, int], dict[str, tuple[int, int]]] = {}
    for kind in kinds:
        main_cols = _MAIN_COLUMNS[kind]
        # the main-role names of those rows, integer-coded (one dictionary for all columns)
        taken = pa.array(pair_pos, type=pa.int64())
        names = pa.concat_arrays(
            [arrow_strings(text_column(cases, c), large=True).take(taken) for c in main_cols]
        )
        name_codes, labels = factorize_strings(names)
        long = pd.DataFrame(
            {
                "pair": np.tile(pair_c[pair_pos], len(main_cols)),
                "pos": np.tile(pair_pos, len(main_cols)),
                "name": name_codes,
            }
        )
        long = long[long["name"] >= 0].drop_duplicates()
        grouped = long.groupby(["pair", "name"])["pos"].agg(["size", "min"])
        for (pair, name), size, first in zip(
            grouped.index, grouped["size"], grouped["min"], strict=True
        ):
            names_of.setdefault((kind, int(pair)), {})[str(labels[name])] = (int(size), int(first))
    return days_of, names_of


def _explain_one(
    cases: pd.DataFrame,
    view: CaseView,
    key,
    main_occ: pd.DataFrame,
    second_occ: pd.DataFrame,
    left_out: pd.DataFrame,
    bad_procedures: pd.DataFrame,
    dept_days: np.ndarray,
    dept_names: dict[str, tuple[int, int]],
) -> str:
    start, end = pd.Timestamp(key.start), pd.Timestamp(key.end)
    window = f"{_fmt_day(start)} 至 {_fmt_day(end)}"
    main_label, second_label = _KIND_LABELS[key.kind]

    def select(frame: pd.DataFrame, *, dept: bool = False, inside: bool = False) -> pd.DataFrame:
        """Rows of ``frame`` (already this applicant's org and name) in its department and/or
        window."""
        if frame.empty:
            return frame
        mask = np.ones(len(frame), dtype=bool)
        if dept:
            mask &= frame["dept"].to_numpy(dtype=object) == key.dept
        if inside:
            days = frame["day"].to_numpy(dtype="datetime64[ns]")
            mask &= (days >= np.datetime64(start, "ns")) & (days <= np.datetime64(end, "ns"))
        return frame[mask]

    def elsewhere(mine: pd.DataFrame, only: str = "") -> str | None:
        """Steps 1 and 2: the name occurs, but never in the department, or never in the window
        (``only``: the occurrences are in the secondary role)."""
        if mine.empty:
            return None
        mine_dept = select(mine, dept=True)
        if mine_dept.empty:
            depts = Counter(mine["dept"].dropna())
            ranked = sorted(depts.items(), key=lambda x: (-x[1], x[0]))[:5]
            listed = "、".join(d for d, _ in ranked) + ("等" if len(depts) > 5 else "")
            return (
                f"姓名在本机构病案中{only and '仅作为' + only}出现 {mine['case_pos'].nunique()} 次，"
                f"出院科别为 {listed}；申报科室为 {key.dept}"
                f"{_example(cases, int(mine['case_pos'].min()))}"
            )
        if not select(mine_dept, inside=True).empty:
            return None
        distance = np.minimum(
            (mine_dept["day"] - start).abs().to_numpy(),
            (mine_dept["day"] - end).abs().to_numpy(),
        )
        nearest = int(np.argmin(distance))
        return (
            f"姓名与申报科室 {key.dept} 在病案中同时出现 {mine_dept['case_pos'].nunique()} 次"
            f"{only and '（仅作为' + only + '）'}，但出院时间均不在评价周期 {window} 内，"
            f"最近的出院时间为 {_fmt_day(mine_dept['day'].to_numpy()[nearest])}"
            f"{_example(cases, int(mine_dept['case_pos'].to_numpy()[nearest]))}"
        )

    line = elsewhere(main_occ)
    if line:
        return line

    def in_window(frame: pd.DataFrame, text: str) -> str:
        """A line about rows of the department and window: ``text`` and the first example."""
        first = int(frame["case_pos"].min())
        return f"姓名在申报科室 {key.dept} 评价周期内的{text}{_example(cases, first)}"

    dropped = select(left_out, dept=True, inside=True)
    if not dropped.empty:
        bits = int(np.bitwise_or.reduce(view.left_out[dropped["case_pos"].to_numpy()]))
        reasons = "、".join(r for i, r in enumerate(LEFT_OUT_REASONS) if bits >> i & 1)
        return in_window(
            dropped,
            f" {dropped['case_pos'].nunique()} 条病案中出现，但这些病案因{reasons}，未参与计算",
        )
    second = select(second_occ, dept=True, inside=True)
    if not second.empty:
        return in_window(
            second,
            f"病案中仅作为{second_label}出现 {second['case_pos'].nunique()} 次，"
            f"未作为{main_label}出现",
        )
    bad = select(bad_procedures, dept=True, inside=True)
    if not bad.empty:
        return in_window(
            bad,
            f" {bad['case_pos'].nunique()} 条病案中作为{second_label}出现，"
            "但这些手术操作编码不在国临版3.0内（W04/W05），未计入",
        )
    if main_occ.empty:
        line = elsewhere(second_occ, second_label)
        if line:
            return line
        similar = similar_names(key.name, {n: c for n, (c, _) in dept_names.items()})
        if similar:
            listed = "、".join(f"{n}（{dept_names[n][0]} 次）" for n in similar)
            return (
                f"姓名在本机构病案中未出现；申报科室 {key.dept} 的病案中有相似姓名：{listed}"
                f"{_example(cases, dept_names[similar[0]][1])}"
            )
    start64, end64 = np.datetime64(start, "ns"), np.datetime64(end, "ns")
    rows_in_window = int(
        np.searchsorted(dept_days, end64, side="right")
        - np.searchsorted(dept_days, start64, side="left")
    )
    if rows_in_window == 0:
        return (
            f"申报科室 {key.dept} 在评价周期 {window} 内没有参与计算的出院病案"
            f"（该科室共有 {len(dept_days)} 条参与计算的病案）"
        )
    return (
        f"姓名在本机构病案中未出现，申报科室 {key.dept} 评价周期内的 {rows_in_window} 条病案中"
        "也没有相似姓名"
    )
