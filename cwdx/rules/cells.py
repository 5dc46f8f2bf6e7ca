"""Rules about one cell: empty required cells (E01, E16, W08) and filled cells whose value
does not fit its column's domain or format (E02, E03, E05–E08, E15, W03, W05, W07, W10)."""

from __future__ import annotations

from cwdx.columns import (
    CASE_ADMIT,
    CASE_DEPT,
    CASE_DISCHARGE,
    CASE_MAIN_DIAG,
    CASE_MAIN_PROC,
    CASE_NO,
    CASE_NURSE_ROLES,
    CASE_PHYSICIAN_ROLES,
    CASE_PROC_SLOTS,
    ORG,
    ORG_NAME,
    STAFF_DEPT,
    STAFF_EDUCATION,
    STAFF_KIND,
    STAFF_LEVEL,
    STAFF_SEX,
    STAFF_SPECIALTY,
)
from cwdx.reference import TableName
from cwdx.rules.catalogue import RULES, codes_advice, every_column, rule
from cwdx.rules.model import STAFF_TITLE, CheckContext, Hits, domain_title, format_hint
from cwdx.values import discharged_before_admission

#: What to do about a value outside its list (default: 请改为列表中的代码).
_DOMAIN_FIX = {
    "ICD10-NC2": "请更正编码",
    "ICD9CM3-NC3": "请更正编码",
    "SPECIALTY": "请改为列表中的专业名称",
}

_REQUIRED = "此字段必填，请补充填写"


def value_hits(ctx: CheckContext, table: TableName, rule_id: str) -> list[Hits]:
    """Filled cells of every column of ``table`` whose domain/format rule is ``rule_id`` and
    whose value does not fit, one :class:`Hits` per column."""
    state = ctx.state(table)
    with_column = RULES[rule_id].column_in_finding
    hits = []
    for name, spec in state.specs.items():
        if state.cell_rule[name] != rule_id:
            continue
        mask = state.invalid[name]
        if spec.domain:
            message = (
                f"“{name}”不在规定取值范围内（{domain_title(spec, ctx.reference)}），"
                + _DOMAIN_FIX.get(spec.domain, "请改为列表中的代码")
            )
        else:
            message = f"“{name}”格式错误：{format_hint(spec, ctx.reference)}，请按此修改"
        if with_column:
            hits.append(Hits(table, mask, name, message))
        else:
            # a row-level rule (checks.md): no column, but the value and the marked cell
            hits.append(Hits(table, mask, "", message, value=state.df[name], cells=name))
    return hits


def empty_hits(ctx: CheckContext, table: TableName, columns: list[str]) -> list[Hits]:
    """Empty cells of each of ``columns`` (one :class:`Hits` per column)."""
    state = ctx.state(table)
    return [Hits(table, state.empty[col], col, f"“{col}”为空，{_REQUIRED}") for col in columns]


@rule(
    "E01",
    severity="error",
    table="staff",
    unit="cell",
    columns=every_column("staff"),
    message=f"{STAFF_TITLE}中，字段为空，共有**个字段。",
    advice="申报人员信息自然表的所有字段均为必填项。请根据反馈表中标注的空白单元格逐一补充填写。",
)
def staff_empty(ctx: CheckContext) -> list[Hits]:
    """Every empty cell of the staff table."""
    return empty_hits(ctx, "staff", list(ctx.staff.specs))


@rule(
    "E02",
    severity="error",
    table="staff",
    unit="cell",
    cell_values=True,
    format_fallback=True,
    message=f"{STAFF_TITLE}中，字段格式存在错误，共有**个字段。",
    advice="请按表样“填写说明”中各列的格式要求逐一修改标注的单元格（组织机构代码只能包含英文字母、数字和“-”，执业证书编码只能包含英文字母和数字，日期应为有效日期，姓名等文字不得超过规定长度）。",
)
def staff_format(ctx: CheckContext) -> list[Hits]:
    """Staff cells of the wrong format, length or range."""
    return value_hits(ctx, "staff", "E02")


@rule(
    "E03",
    severity="error",
    table="staff",
    unit="cell",
    cell_values=True,
    columns=(STAFF_SPECIALTY,),
    message=f"{STAFF_TITLE}中的申报人员的“申报专业”，不在规定取值范围内（参见《申报人员信息自然表-申报专业列表》），共有**个字段。",
    advice="“申报专业”必须是《申报人员信息自然表-申报专业列表》中的名称之一；如申报人员的专业确实不在列表中，请将该申报人员从表中删除。",
)
def specialty_unknown(ctx: CheckContext) -> list[Hits]:
    """申报专业 not in the specialty list."""
    return value_hits(ctx, "staff", "E03")


@rule(
    "E05",
    severity="error",
    table="staff",
    unit="cell",
    cell_values=True,
    columns=(STAFF_DEPT,),
    message=f"{STAFF_TITLE}中的申报人员的“所在科室”，不在规定取值范围内（参见《病案首页数据表样-RC023》），共有**个字段。",
    advice="“所在科室”必须填写RC023科室代码（如 03.04），并与该申报人员所管患者病案首页中的“出院科别”代码一致。",
)
def staff_dept_unknown(ctx: CheckContext) -> list[Hits]:
    """所在科室 not an RC023 code."""
    return value_hits(ctx, "staff", "E05")


@rule(
    "E06",
    severity="error",
    table="staff",
    unit="cell",
    cell_values=True,
    columns=(STAFF_SEX,),
    message=f"{STAFF_TITLE}中的申报人员的“性别”，不在规定取值范围内（参见《申报人员信息自然表-性别》），共有**个字段。",
    advice=codes_advice(STAFF_SEX),
)
def staff_sex_unknown(ctx: CheckContext) -> list[Hits]:
    """性别 not a listed code."""
    return value_hits(ctx, "staff", "E06")


@rule(
    "E07",
    severity="error",
    table="staff",
    unit="cell",
    cell_values=True,
    columns=(STAFF_LEVEL,),
    message=f"{STAFF_TITLE}中的申报人员的“拟申报级别”，不在规定取值范围内（参见《申报人员信息自然表-拟申报级别》），共有**个字段。",
    advice=codes_advice(STAFF_LEVEL),
)
def staff_level_unknown(ctx: CheckContext) -> list[Hits]:
    """拟申报级别 not a listed code."""
    return value_hits(ctx, "staff", "E07")


@rule(
    "E08",
    severity="error",
    table="staff",
    unit="cell",
    cell_values=True,
    columns=(STAFF_KIND,),
    message=f"{STAFF_TITLE}中的“人员类别”，不在规定取值范围内（参见《申报人员信息自然表-人员类别》），共有**个字段。",
    advice=codes_advice(STAFF_KIND),
)
def staff_kind_unknown(ctx: CheckContext) -> list[Hits]:
    """人员类别 not a listed code."""
    return value_hits(ctx, "staff", "E08")


@rule(
    "E15",
    severity="error",
    table="cases",
    unit="cell",
    cell_values=True,
    format_fallback=True,
    message="病案首页信息中，字段格式存在错误，共有**个字段。",
    advice="请按表样“填写说明”中各列的格式、取值范围和长度要求逐一修改标注的单元格；出院时间不能早于入院时间。",
)
def case_format(ctx: CheckContext) -> list[Hits]:
    """Case cells of the wrong format, length or range, and 出院时间 earlier than 入院时间
    (reported right after 出院时间's own format findings)."""
    hits = []
    for hit in value_hits(ctx, "cases", "E15"):
        hits.append(hit)
        if hit.column == CASE_DISCHARGE:
            hits.append(_discharge_before_admission(ctx))
    return hits


def _discharge_before_admission(ctx: CheckContext) -> Hits:
    """E15 on 出院时间: its date is earlier than the date of 入院时间 (both valid)."""
    state = ctx.cases
    both = state.valid(CASE_DISCHARGE) & state.valid(CASE_ADMIT)
    mask = both & discharged_before_admission(state.typed[CASE_DISCHARGE], state.typed[CASE_ADMIT])
    message = "“出院时间”的日期早于“入院时间”的日期，请核对这两个时间"
    return Hits("cases", mask, CASE_DISCHARGE, message)


@rule(
    "E16",
    severity="error",
    table="cases",
    unit="cell",
    columns=(ORG, ORG_NAME, CASE_NO, CASE_ADMIT),
    message="病案首页信息中，字段为空，共有**个字段。",
    advice="组织机构代码、医疗机构名称、病案号、入院时间为必填字段，请根据反馈表补充填写。",
)
def case_required_empty(ctx: CheckContext) -> list[Hits]:
    """Empty cells of the required case columns."""
    required = [name for name, spec in ctx.cases.specs.items() if spec.required]
    return empty_hits(ctx, "cases", required)


@rule(
    "W03",
    severity="warning",
    table="cases",
    unit="row",
    cell_values=True,
    column_in_finding=False,
    columns=(CASE_MAIN_DIAG,),
    message="病案首页信息中，出院主要诊断编码不符合要求（请参考《疾病分类与代码国家临床版2.0》），共有**条记录，占**%。",
    advice="出院主要诊断编码不在《疾病分类与代码国家临床版2.0》中的病案不参与指标计算，请更正编码。",
)
def main_diagnosis_unknown(ctx: CheckContext) -> list[Hits]:
    """出院主要诊断编码 not in 国临版2.0."""
    return value_hits(ctx, "cases", "W03")


@rule(
    "W05",
    severity="warning",
    table="cases",
    unit="row",
    cell_values=True,
    column_in_finding=False,
    columns=(CASE_MAIN_PROC,),
    message="病案首页信息中，主要手术操作编码不符合要求（请参考《手术操作分类代码国家临床版3.0》），共有**条记录，占**%。",
    advice="编码不在《手术操作分类代码国家临床版3.0》中的主要手术操作不参与指标计算，请更正编码。",
)
def main_procedure_unknown(ctx: CheckContext) -> list[Hits]:
    """主要手术操作编码 not in 国临版3.0."""
    return value_hits(ctx, "cases", "W05")


@rule(
    "W07",
    severity="warning",
    table="cases",
    unit="row",
    cell_values=True,
    columns=(CASE_DEPT,),
    message="病案首页信息中，“出院科别”不在规定取值范围（参见《病案首页数据表样-RC023》），共有**条记录，占**%。",
    advice="“出院科别”必须填写RC023科室代码（如 03.04）。",
)
def case_dept_unknown(ctx: CheckContext) -> list[Hits]:
    """出院科别 not an RC023 code."""
    return value_hits(ctx, "cases", "W07")


_MAIN_SLOT = CASE_PROC_SLOTS[0]


@rule(
    "W08",
    severity="warning",
    table="cases",
    unit="cell",
    columns=(
        CASE_DISCHARGE,
        "年龄（岁）",
        CASE_DEPT,
        CASE_MAIN_DIAG,
        *CASE_PHYSICIAN_ROLES,
        *CASE_NURSE_ROLES,
        _MAIN_SLOT[2],
        _MAIN_SLOT[3],
    ),
    message="病案首页信息中，重要计算字段为空，共有**个字段。",
    advice="这些字段用于指标计算，缺失会使申报人员的工作量统计偏少，请尽量补充填写。",
)
def important_empty(ctx: CheckContext) -> list[Hits]:
    """Empty important case cells (the procedure's only when a main procedure is coded)."""
    state = ctx.cases
    hits = []
    has_proc = ~state.empty[CASE_MAIN_PROC]
    for name, spec in state.specs.items():
        if spec.level == "important":
            mask = state.empty[name]
        elif spec.level == "important-if-procedure":
            mask = state.empty[name] & has_proc
        else:
            continue
        hits.append(Hits("cases", mask, name, f"“{name}”为空，该字段用于指标计算，请尽量补充填写"))
    return hits


@rule(
    "W10",
    severity="warning",
    table="staff",
    unit="cell",
    cell_values=True,
    columns=(STAFF_EDUCATION,),
    message='《申报人员信息自然表》中的申报人员的"学历"，不在规定取值范围内（参见《申报人员信息自然表 - 学历》），共有**条记录。',
    advice=codes_advice(STAFF_EDUCATION),
)
def education_unknown(ctx: CheckContext) -> list[Hits]:
    """学历 not a listed code."""
    return value_hits(ctx, "staff", "W10")
