"""Rules about a row (E04, E09, E10, W01, W02, W04, W06, W09, X01) and about groups of rows
that repeat each other (E11, E12, E13), with the helpers that name the related rows."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from cwdx.columns import (
    CASE_ADMIT,
    CASE_MAIN_DIAG,
    CASE_NO,
    CASE_NURSE_ROLES,
    CASE_OTHER_DIAGS,
    CASE_OTHER_PROCS,
    CASE_PHYSICIAN_ROLES,
    CASE_PROC_SLOTS,
    FILE,
    IMPORT,
    ORG,
    ROW,
    ROW_ORG,
    STAFF_BIRTH,
    STAFF_DEPT,
    STAFF_END,
    STAFF_KIND,
    STAFF_LICENSE,
    STAFF_NAME,
    STAFF_SPECIALTY,
    STAFF_START,
)
from cwdx.matching import w09_repeated_rows
from cwdx.rules.catalogue import rule
from cwdx.rules.model import STAFF_TITLE, CheckContext, Hits, TableState

#: (编码, 术者) of the main and the other procedure slots.
_SURGEON_SLOTS = tuple((code, surgeon) for code, _level, surgeon, _assistant in CASE_PROC_SLOTS)

# --------------------------------------------------------------------------- helpers


def any_of(state: TableState, flags: Iterable[pd.Series]) -> pd.Series:
    """Rows of ``state`` where any of the boolean ``flags`` is True."""
    mask = pd.Series(False, index=state.df.index)
    for flag in flags:
        mask |= flag
    return mask


def aligned(state: TableState, mask: pd.Series) -> np.ndarray:
    """A boolean Series as NumPy booleans over the rows of ``state`` (absent rows: False)."""
    if not mask.index.equals(state.df.index):
        mask = mask.reindex(state.df.index, fill_value=False)
    return mask.to_numpy(dtype=bool)


def hit_positions(state: TableState, mask: pd.Series) -> np.ndarray:
    """Positions of the rows of ``state`` where ``mask`` is True."""
    return np.flatnonzero(aligned(state, mask))


def on_hits(state: TableState, positions: np.ndarray, values: np.ndarray) -> pd.Series:
    """A text per row of ``state``: ``values`` at ``positions``, ``""`` elsewhere."""
    out = np.full(len(state.df), "", dtype=object)
    out[positions] = values
    return pd.Series(out, index=state.df.index, dtype="object")


def join_where(
    state: TableState,
    parts: dict[str, pd.Series],
    mask: pd.Series,
    sep: str,
    with_value: bool = False,
) -> pd.Series:
    """Per hit row, the names (optionally ``name“value”``) of the columns whose part is True,
    joined by ``sep`` (vectorised over the hit rows; ``""`` for rows not hit)."""
    rows = hit_positions(state, mask)
    joined = np.full(len(rows), "", dtype=object)
    for col, flag in parts.items():
        flagged = aligned(state, flag)[rows]
        if not flagged.any():
            continue
        piece: object = col
        if with_value:
            value = state.df[col].iloc[rows[flagged]].astype("string").fillna("")
            piece = col + "“" + value.to_numpy(dtype=object) + "”"
        glue = np.where(joined[flagged] != "", sep, "").astype(object)
        joined[flagged] = joined[flagged] + glue + piece
    return on_hits(state, rows, joined)


def _texts(series: pd.Series, rows: np.ndarray) -> np.ndarray:
    return series.iloc[rows].to_numpy(dtype=object)


def empty_row_hits(ctx: CheckContext, columns: tuple[str, ...], text: str) -> list[Hits]:
    """Case rows where any of ``columns`` is empty, naming the empty ones (W01, W02)."""
    state = ctx.cases
    mask = any_of(state, [state.empty[col] for col in columns])
    cells = join_where(state, {col: state.empty[col] for col in columns}, mask, "|")
    rows = hit_positions(state, mask)
    names = [c.replace("|", "、").replace("、", "”、“") for c in _texts(cells, rows)]
    message = on_hits(state, rows, np.array(["“" + n + "”为空，" + text for n in names], object))
    return [Hits("cases", mask, "", message, cells=cells)]


def code_list_row_hits(ctx: CheckContext, columns: tuple[str, ...], list_title: str) -> list[Hits]:
    """Case rows with at least one filled code of ``columns`` not in its list (W04, X01)."""
    state = ctx.cases
    parts = {col: state.invalid[col] for col in columns}
    mask = any_of(state, parts.values())
    cells = join_where(state, parts, mask, "|")
    listed = join_where(state, parts, mask, "、", with_value=True)
    rows = hit_positions(state, mask)
    message = on_hits(state, rows, _texts(listed, rows) + f"不在{list_title}中，请更正编码")
    return [Hits("cases", mask, "", message, cells=cells)]


# --------------------------------------------------------------------------- staff rows


@rule(
    "E04",
    severity="error",
    table="staff",
    unit="cell",
    columns=(STAFF_SPECIALTY, STAFF_KIND),
    message=f"{STAFF_TITLE}中的申报人员的“申报专业”，与申报人员类型不匹配（参见《申报人员信息自然表-申报专业列表》），共有**个字段。",
    advice="临床医学类申报专业的“人员类别”应为医师（1），护理类申报专业的“人员类别”应为护士（2）。请核对申报专业或人员类别。",
)
def specialty_kind_mismatch(ctx: CheckContext) -> list[Hits]:
    """申报专业 of another 人员类别 (both valid), reported on the specialty cell."""
    state = ctx.staff
    both = state.valid(STAFF_SPECIALTY) & state.valid(STAFF_KIND)
    needed = state.text(STAFF_SPECIALTY).map(
        lambda s: str(ctx.reference.specialties.get(s, {}).get("staff_kind", ""))
    )
    mismatch = (needed.astype("string") != state.text(STAFF_KIND)).fillna(False).astype(bool)
    message = "“申报专业”与“人员类别”不匹配：临床医学类专业的人员类别应为1（医师），护理类专业应为2（护士），请核对申报专业或人员类别"
    cells = f"{STAFF_SPECIALTY}|{STAFF_KIND}"
    return [Hits("staff", both & mismatch, STAFF_SPECIALTY, message, cells=cells)]


@rule(
    "E09",
    severity="error",
    table="staff",
    unit="row",
    columns=(STAFF_BIRTH, STAFF_START),
    message=f"{STAFF_TITLE}中，“现专业技术职务聘任时间”早于18岁，共有**条记录。",
    advice="现专业技术职务聘任时间不能早于申报人员年满18周岁之日，请核对“出生日期”和“现专业技术职务聘任时间”。",
)
def appointed_before_eighteen(ctx: CheckContext) -> list[Hits]:
    """现专业技术职务聘任时间 before the 18th birthday."""
    state = ctx.staff
    both = state.valid(STAFF_BIRTH) & state.valid(STAFF_START)
    birth = state.typed[STAFF_BIRTH]
    app = state.typed[STAFF_START]
    month = birth.dt.month
    day = birth.dt.day
    leap = (month == 2) & (day == 29)
    # The 18th birthday; a 29 Feb birthday counts from 1 Mar (year + 18 is never a leap year).
    adult = (birth.dt.year + 18) * 10000 + month.where(~leap, 3) * 100 + day.where(~leap, 1)
    appointed = app.dt.year * 10000 + app.dt.month * 100 + app.dt.day
    mask = both & (appointed < adult).fillna(False).astype(bool)
    message = (
        "“现专业技术职务聘任时间”（"
        + state.text(STAFF_START)
        + "）早于申报人员年满18周岁之日（出生日期 "
        + state.text(STAFF_BIRTH)
        + "），请核对这两个日期"
    )
    return [Hits("staff", mask, "", message, cells=f"{STAFF_BIRTH}|{STAFF_START}")]


@rule(
    "E10",
    severity="error",
    table="staff",
    unit="row",
    columns=(STAFF_START, STAFF_END),
    message=f"{STAFF_TITLE}中提取工作量数据截止时间早于现专业技术职务聘任时间，共有**条记录。",
    advice="“提取工作量数据截止时间”不能早于“现专业技术职务聘任时间”，请核对这两个日期。",
)
def cutoff_before_appointment(ctx: CheckContext) -> list[Hits]:
    """提取工作量数据截止时间 earlier than 现专业技术职务聘任时间 (both valid)."""
    state = ctx.staff
    both = state.valid(STAFF_START) & state.valid(STAFF_END)
    mask = both & (state.typed[STAFF_END] < state.typed[STAFF_START]).fillna(False).astype(bool)
    message = (
        "“提取工作量数据截止时间”（"
        + state.text(STAFF_END)
        + "）早于“现专业技术职务聘任时间”（"
        + state.text(STAFF_START)
        + "），请核对这两个日期"
    )
    return [Hits("staff", mask, "", message, cells=f"{STAFF_START}|{STAFF_END}")]


# --------------------------------------------------------------------------- groups of rows


def group_frame(state: TableState, columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows whose ``columns`` are all filled and valid, with the compared values."""
    ok = state.all_valid(columns)
    data = {}
    for col in columns:
        data[col] = state.typed[col][ok] if col in state.typed else state.text(col)[ok]
    frame = pd.DataFrame(data, index=state.df.index[ok])
    for col in (IMPORT, FILE, ROW, ROW_ORG):
        frame[col] = state.df[col][ok]
    return frame


#: At most this many related rows are named in a group finding's 说明.
NAMED_ROWS = 3


def related_rows(
    frame: pd.DataFrame, keys: tuple[str, ...], flagged: pd.Series, differ: str | None = None
) -> pd.Series:
    """For each flagged row of ``frame``, the other rows of its group (same ``keys``; with
    ``differ``, only those whose ``differ`` value is different) as ``“文件”第n行`` (with the
    institution when it is another one), at most :data:`NAMED_ROWS`, joined by ``、``."""
    out = pd.Series("", index=frame.index, dtype="object")
    if not flagged.any():
        return out
    group = frame.groupby(list(keys), sort=False, dropna=False).ngroup()
    wanted = set(group[flagged])
    members: dict[int, list] = {}
    for idx, gid in group.items():
        if gid in wanted:
            members.setdefault(gid, []).append(idx)
    for idx in flagged[flagged].index:
        own_org = frame.at[idx, ROW_ORG]
        others = [
            o
            for o in members[group[idx]]
            if o != idx and (differ is None or frame.at[o, differ] != frame.at[idx, differ])
        ]
        parts = []
        for o in others[:NAMED_ROWS]:
            where = f"“{frame.at[o, FILE]}”第{int(frame.at[o, ROW])}行"
            org = frame.at[o, ROW_ORG]
            parts.append(where if org == own_org else f"机构{org}的{where}")
        text = "、".join(parts)
        if len(others) > NAMED_ROWS:
            text += f"等{len(others)}行"
        out.at[idx] = text
    return out


def on_own_rows(
    ctx: CheckContext, frame: pd.DataFrame, flagged: pd.Series, message: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Map rows flagged in ``all_staff`` (and their messages) onto the institution's rows."""
    state = ctx.staff
    mask = pd.Series(False, index=state.df.index)
    text = pd.Series("", index=state.df.index, dtype="object")
    if not flagged.any() or state.df.empty:
        return mask, text
    key = [IMPORT, FILE, ROW]
    own = state.df[key].astype("string").reset_index(drop=True)
    own["_pos"] = range(len(own))
    hit = frame.loc[flagged, key].astype("string")
    hit["_message"] = message[flagged].to_numpy()
    joined = own.merge(hit.drop_duplicates(key), on=key, how="inner")
    positions = joined["_pos"].to_numpy()
    mask.iloc[positions] = True
    text.iloc[positions] = joined["_message"].to_numpy()
    return mask, text


def institution_group_hits(
    ctx: CheckContext, flagged: pd.Series, message: pd.Series, cells: str
) -> Hits:
    """Hits of a group rule within the institution (E11, E14): the ``flagged`` rows of the
    staff group frame (indexed like the staff table) with their messages."""
    rows = flagged[flagged].index
    mask = pd.Series(False, index=ctx.staff.df.index)
    mask.loc[rows] = True
    text = pd.Series("", index=ctx.staff.df.index, dtype="object")
    text.loc[rows] = message.loc[rows]
    return Hits("staff", mask, "", text, cells=cells)


@rule(
    "E11",
    severity="error",
    table="staff",
    unit="row",
    columns=(ORG, STAFF_NAME, STAFF_LICENSE, STAFF_DEPT),
    message=f"{STAFF_TITLE}中，组织机构代码、姓名、执业证书编码、科室完全一致的共有**条记录，疑似重复。",
    advice="组织机构代码、姓名、执业证书编码、所在科室完全一致的记录属于重复记录，请删除多余的行。",
)
def duplicate_applicants(ctx: CheckContext) -> list[Hits]:
    """Applicant rows repeating another's 组织机构代码, 姓名, 执业证书编码 and 所在科室."""
    keys = (ORG, STAFF_NAME, STAFF_LICENSE, STAFF_DEPT)
    frame = group_frame(ctx.staff, keys)
    size = frame.groupby(list(keys), dropna=False)[keys[0]].transform("size")
    flagged = size >= 2
    related = related_rows(frame, keys, flagged)
    message = (
        "组织机构代码、姓名、执业证书编码、所在科室与"
        + related
        + "完全一致，疑似重复，请删除多余的行"
    )
    return [institution_group_hits(ctx, flagged, message, "|".join(keys))]


@rule(
    "E12",
    severity="error",
    table="staff",
    unit="row",
    scope="workspace",
    columns=(STAFF_NAME, STAFF_LICENSE, STAFF_END, ORG, STAFF_DEPT),
    message=f"{STAFF_TITLE}中，存在姓名、执业证书编码、提取工作量数据截止时间均一致的**条记录，请对跨科室、跨机构人员的提取工作量数据截止时间字段加以区分。",
    advice="同一人员可以在多个机构或科室各有一行，但每一行的“提取工作量数据截止时间”必须不同，请加以区分。",
)
def same_cutoff_elsewhere(ctx: CheckContext) -> list[Hits]:
    """The same person and cutoff in another institution or department of the workspace."""
    keys = (STAFF_NAME, STAFF_LICENSE, STAFF_END)
    frame = group_frame(ctx.all_staff, (*keys, ORG, STAFF_DEPT))
    frame["_pair"] = frame[ORG].astype("string") + "\x1f" + frame[STAFF_DEPT].astype("string")
    spans = frame.groupby(list(keys), dropna=False)["_pair"].transform("nunique")
    flagged = spans >= 2
    related = related_rows(frame, keys, flagged, differ="_pair")
    message = (
        "姓名、执业证书编码、提取工作量数据截止时间与"
        + related
        + "（不同机构或科室）一致，请区分提取工作量数据截止时间"
    )
    mask, text = on_own_rows(ctx, frame, flagged, message)
    return [Hits("staff", mask, "", text, cells=f"{STAFF_NAME}|{STAFF_LICENSE}|{STAFF_END}")]


@rule(
    "E13",
    severity="error",
    table="staff",
    unit="row",
    scope="workspace",
    columns=(STAFF_LICENSE, STAFF_NAME),
    message=f"{STAFF_TITLE}中，存在同一执业证书编码，对应多个不同姓名的**条记录，请对执业证书编码的唯一性进行确认。",
    advice="一个执业证书编码只属于一个人，请更正执业证书编码或姓名。",
)
def license_with_two_names(ctx: CheckContext) -> list[Hits]:
    """One 执业证书编码 with different 姓名 anywhere in the workspace."""
    frame = group_frame(ctx.all_staff, (STAFF_LICENSE, STAFF_NAME))
    flagged = frame.groupby(STAFF_LICENSE)[STAFF_NAME].transform("nunique") >= 2
    related = related_rows(frame, (STAFF_LICENSE,), flagged, differ=STAFF_NAME)
    message = "执业证书编码与" + related + "相同但姓名不同，请确认执业证书编码或姓名"
    mask, text = on_own_rows(ctx, frame, flagged, message)
    return [Hits("staff", mask, "", text, cells=f"{STAFF_LICENSE}|{STAFF_NAME}")]


# --------------------------------------------------------------------------- case rows


@rule(
    "W01",
    severity="warning",
    table="cases",
    unit="row",
    columns=CASE_PHYSICIAN_ROLES,
    message="病案首页信息中，共有**条记录无医师姓名，无法匹配。",
    advice="缺少医师姓名的病案无法计入任何医师的工作量，请补充填写，或确认后保持不变。",
)
def no_physician(ctx: CheckContext) -> list[Hits]:
    """Case rows with an empty physician column."""
    return empty_row_hits(ctx, CASE_PHYSICIAN_ROLES, "无法匹配到医师，请补充填写")


@rule(
    "W02",
    severity="warning",
    table="cases",
    unit="row",
    columns=CASE_NURSE_ROLES,
    message="病案首页信息中，共有**条记录无护士姓名，无法匹配。",
    advice="缺少护士姓名的病案无法计入任何护士的工作量，请补充填写，或确认后保持不变。",
)
def no_nurse(ctx: CheckContext) -> list[Hits]:
    """Case rows with an empty nurse column."""
    return empty_row_hits(ctx, CASE_NURSE_ROLES, "无法匹配到护士，请补充填写")


@rule(
    "W04",
    severity="warning",
    table="cases",
    unit="row",
    cell_values=True,
    columns=CASE_OTHER_PROCS,
    message='病案首页信息中，"其他手术操作编码"不符合要求（请参考《手术操作分类代码国家临床版3.0》），共有**个记录。',
    advice="编码不在《手术操作分类代码国家临床版3.0》中的手术操作不参与指标计算，请更正编码。",
)
def other_procedure_unknown(ctx: CheckContext) -> list[Hits]:
    """Case rows with an 其他手术操作编码k not in 国临版3.0."""
    return code_list_row_hits(ctx, CASE_OTHER_PROCS, "《手术操作分类代码国家临床版3.0》")


@rule(
    "W06",
    severity="warning",
    table="cases",
    unit="row",
    columns=tuple(surgeon for _, surgeon in _SURGEON_SLOTS),
    message="病案首页信息中，存在手术记录，但术者为空，共有**条记录，占**%。",
    advice="填写了手术操作编码的手术操作必须填写术者，请补充填写。",
)
def procedure_without_surgeon(ctx: CheckContext) -> list[Hits]:
    """Case rows with a coded procedure whose 术者 is empty."""
    state = ctx.cases
    parts = {surgeon: ~state.empty[code] & state.empty[surgeon] for code, surgeon in _SURGEON_SLOTS}
    mask = any_of(state, parts.values())
    cells = join_where(state, parts, mask, "|")
    rows = hit_positions(state, mask)
    names = np.array([c.replace("|", "、") for c in _texts(cells, rows)], dtype=object)
    message = on_hits(state, rows, "已填写手术操作编码，但" + names + "为空，请补充填写术者")
    return [Hits("cases", mask, "", message, cells=cells)]


_W09_KEYS = (ORG, CASE_NO, CASE_ADMIT, CASE_MAIN_DIAG)


@rule(
    "W09",
    severity="warning",
    table="cases",
    unit="row",
    columns=_W09_KEYS,
    message="病案首页信息中，组织机构代码、病案号、入院时间、出院主要诊断编码完全一致，共有**条记录，系统判定为重复记录并已移除。",
    advice="重复记录只保留导入顺序中的第一条，其余不参与计算。请查看反馈表；如确属重复，无需处理。",
)
def repeated_case(ctx: CheckContext) -> list[Hits]:
    """Later copies of a case (the grouping of :func:`cwdx.matching.w09_repeated_rows`),
    each naming the row it repeats."""
    df = ctx.cases.df
    repeated = w09_repeated_rows(df, ctx.reference, ctx.cases.parsed("datetime"))
    ctx.w09_repeated = repeated.to_numpy()  # the matching of W11/W12 reuses the grouping
    mask = (repeated >= 0).astype(bool)
    message = pd.Series("", index=df.index, dtype="object")
    if mask.any():
        first = repeated[mask].to_numpy()
        files = df[FILE].astype("string").fillna("").iloc[first]
        rows = pd.to_numeric(df[ROW]).astype("Int64").astype("string").fillna("").iloc[first]
        text = (
            "与“"
            + files.to_numpy(dtype=object)
            + "”第"
            + rows.to_numpy(dtype=object)
            + "行的组织机构代码、病案号、入院时间、出院主要诊断编码完全一致，已作为重复记录移除；如确属重复，无需处理"
        )
        message.loc[mask] = text
    return [Hits("cases", mask, "", message, cells="|".join(_W09_KEYS))]


@rule(
    "X01",
    severity="warning",
    table="cases",
    unit="row",
    cell_values=True,
    columns=CASE_OTHER_DIAGS,
    message="病案首页信息中，出院其他诊断编码不符合要求（请参考《疾病分类与代码国家临床版2.0》），共有**条记录。",
    advice="不在《疾病分类与代码国家临床版2.0》中的出院其他诊断在统计并发症时不予计入，请更正编码。",
)
def other_diagnosis_unknown(ctx: CheckContext) -> list[Hits]:
    """Case rows with an 出院其他诊断编码k not in 国临版2.0."""
    return code_list_row_hits(ctx, CASE_OTHER_DIAGS, "《疾病分类与代码国家临床版2.0》")
