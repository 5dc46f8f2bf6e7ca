"""Rules about an applicant (counted in 人): same-name applicants of one department (E14),
and applicants whose department or cases are not found (W11, W12, using :mod:`cwdx.matching`,
which the indicators share)."""

from __future__ import annotations

import pandas as pd

from cwdx.columns import ORG, STAFF_DEPT, STAFF_END, STAFF_LICENSE, STAFF_NAME, STAFF_START
from cwdx.matching import case_view, department_known, explain, match_staff
from cwdx.rules.catalogue import rule
from cwdx.rules.model import STAFF_TITLE, CheckContext, Hits
from cwdx.rules.rows import group_frame, institution_group_hits, related_rows


@rule(
    "E14",
    severity="error",
    table="staff",
    unit="person",
    columns=(ORG, STAFF_DEPT, STAFF_NAME, STAFF_LICENSE),
    message=f"{STAFF_TITLE}中对于同医院同科室同名人员，需要在病案信息中予以区分，共有**人。如不处理，所有重名人员都将不参与计算。",
    advice="同一科室的同名申报人员在病案中无法区分。请将其中一人改名，如“张三”改为“张三1”，并在申报人员表和该医师所管患者的病案首页中同时修改；一律采用“姓名+数字”的形式。",
)
def same_name_same_department(ctx: CheckContext) -> list[Hits]:
    """Applicants of one institution and department sharing a name but not a certificate."""
    keys = (ORG, STAFF_DEPT, STAFF_NAME)
    frame = group_frame(ctx.staff, (*keys, STAFF_LICENSE))
    flagged = frame.groupby(list(keys))[STAFF_LICENSE].transform("nunique") >= 2
    related = related_rows(frame, keys, flagged, differ=STAFF_LICENSE)
    message = (
        "与"
        + related
        + "同机构、同科室、同名，但执业证书编码不同；请以“姓名+数字”区分（申报表和病案中同时修改）"
    )
    return [institution_group_hits(ctx, flagged, message, f"{ORG}|{STAFF_DEPT}|{STAFF_NAME}")]


@rule(
    "W11",
    severity="warning",
    table="staff",
    unit="person",
    columns=(ORG, STAFF_DEPT),
    message=f"{STAFF_TITLE}中的申报人员所属科室，在病案首页信息中未找到，共有*人。",
    advice="该申报人员的“所在科室”从未作为本机构病案首页的“出院科别”出现，因此找不到其工作量。请使两者的科室代码一致。",
)
def department_not_in_cases(ctx: CheckContext) -> list[Hits]:
    """Applicants whose 所在科室 never occurs as the institution's 出院科别."""
    state = ctx.staff
    mask = _department_unknown(ctx)
    message = pd.Series("", index=state.df.index, dtype="object")
    if mask.any():
        _, why_not = _matching(ctx)
        default = "申报人员的所在科室在本机构病案首页的出院科别中未出现"
        message.loc[mask] = why_not.loc[mask].where(why_not.loc[mask] != "", default)
    return [Hits("staff", mask, "", message, cells=STAFF_DEPT)]


def _department_unknown(ctx: CheckContext) -> pd.Series:
    """W11's applicants: valid 组织机构代码 and 所在科室, never an 出院科别 of its institution."""
    state = ctx.staff
    ok = state.valid(ORG) & state.valid(STAFF_DEPT)
    return ok & ~department_known(ctx.cases.df, state.df).astype(bool)


@rule(
    "W12",
    severity="warning",
    table="staff",
    unit="person",
    after_errors=True,
    columns=(ORG, STAFF_NAME, STAFF_DEPT, STAFF_START, STAFF_END),
    message=f"{STAFF_TITLE}中的申报人员组织机构代码+姓名+科室+评价周期，在病案首页信息中未匹配到，共有*人。",
    advice="本机构该科室在评价周期内没有任何病案以该申报人员的姓名出现。请核对姓名写法、科室代码以及聘任时间和截止时间；“问题说明”给出了最接近的未匹配原因。",
)
def applicant_not_matched(ctx: CheckContext) -> list[Hits]:
    """Applicants without an error finding whom no case of the institution matches."""
    state = ctx.staff
    errors = (
        ctx.error_rows if ctx.error_rows is not None else pd.Series(False, index=state.df.index)
    )
    candidates = ~errors
    mask = pd.Series(False, index=state.df.index)
    message = pd.Series("", index=state.df.index, dtype="object")
    if candidates.any():
        matched, why_not = _matching(ctx)
        mask = candidates & ~matched
        default = "在病案首页中未匹配到该申报人员"
        message.loc[mask] = why_not.loc[mask].where(why_not.loc[mask] != "", default)
    cells = f"{STAFF_NAME}|{STAFF_DEPT}|{STAFF_START}|{STAFF_END}"
    return [Hits("staff", mask, "", message, cells=cells)]


def _matching(ctx: CheckContext) -> tuple[pd.Series, pd.Series]:
    """Ask :mod:`cwdx.matching` (shared with the indicators) which applicants match and why
    not, once per context: (matched, why-not line) of each applicant. The line is worked out
    only for the applicants W11 or W12 may report (an unknown department, or unmatched):
    each applicant's line depends on its own keys and the cases alone."""
    if ctx.matched is None or ctx.explain is None:
        cases, staff = ctx.cases.df, ctx.staff.df
        # parse the case frame once for both calls, reusing W09's grouping when it ran
        view = case_view(
            cases, ctx.reference, repeated=ctx.w09_repeated, parsed=ctx.cases.parsed("datetime")
        )
        counts = match_staff(cases, staff, ctx.reference, view=view)
        matched = counts["matched"].astype(bool)
        wanted = (~matched | _department_unknown(ctx)).to_numpy(dtype=bool)
        lines = pd.Series("", index=staff.index, dtype="object")
        if wanted.any():
            some = explain(cases, staff[wanted], ctx.reference, counts[wanted], view=view)
            lines[wanted] = some.astype("object").fillna("").to_numpy()
        # both set together: a crash above must not leave W12 with ``matched`` but no ``explain``
        ctx.matched = matched
        ctx.explain = lines
    return ctx.matched, ctx.explain
