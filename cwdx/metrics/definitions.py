"""The names of the indicators and result tables, with their definitions (口径说明).

Column orders of 指标汇总 and the detail tables (``outputs.md``), the indicator definitions in
``metrics.md`` order, and the names the result tables are stored under.
"""

from __future__ import annotations

MATCHED = "已匹配"
UNMATCHED = "未匹配"

#: The applicant columns of 指标汇总, before the indicators (outputs.md).
IDENTITY_COLUMNS: tuple[str, ...] = (
    "组织机构代码",
    "医疗机构名称",
    "姓名",
    "执业证书编码",
    "所在科室",
    "人员类别",
    "申报专业",
    "拟申报级别",
    "现专业技术职务聘任时间",
    "提取工作量数据截止时间",
    "匹配状态",
    "说明",
)

#: Physician indicators with their definitions (口径说明), in metrics.md order.
PHYSICIAN_INDICATORS: dict[str, str] = {
    "出院患者人数": "评价周期内本人在本科室以主（副主）任医师、主治医师或住院医师身份出现的出院病案数（M）",
    "作为主（副主）任医师出院人数": "M 中主（副主）任医师为本人的病案数",
    "作为主治医师出院人数": "M 中主治医师为本人的病案数",
    "作为住院医师出院人数": "M 中住院医师为本人的病案数",
    "出院患者病种数": "M 中出院主要诊断编码前 3 位（ICD-10 类目）的不同个数",
    "平均住院日": "M 的住院天数平均值；住院天数取实际住院（天），为空时取出院日期减入院日期（至少 1 天）",
    "次均费用": "M 中住院总费用已填写病案的住院总费用平均值（元）",
    "死亡人数": "M 中离院方式为 5（死亡）的病案数",
    "死亡率(%)": "死亡人数 ÷ 出院患者人数 × 100",
    "手术患者人数": "本人为术者的手术（P）所在的不同病案数（一次住院多次手术计 1 人）",
    "手术例数": "评价周期内本人在本科室病案中作为术者的有效手术操作数（主要手术操作及其他手术操作1–5，编码在国临版3.0 内，P）",
    "三级手术例数": "P 中手术级别为 3 的手术数",
    "四级手术例数": "P 中手术级别为 4 的手术数",
    "四级手术占比(%)": "四级手术例数 ÷ 手术例数 × 100",
    "术种数": "P 中手术操作编码前 5 位（如 36.06）的不同个数",
    "作为Ⅰ助手术例数": "评价周期内本人在本科室病案中作为Ⅰ助的有效手术操作数（A）",
    "手术患者并发症例数": "手术患者中，有一个出院其他诊断编码在国临版2.0 内、以并发症目录前缀开头且其入院病情不为 1（有）的病案数；入院病情为空按不为 1 计",
    "手术患者并发症发生率(%)": "手术患者并发症例数 ÷ 手术患者人数 × 100",
}

#: Specialty catalogue indicators (physicians whose 申报专业 has groups of that kind).
CATALOGUE_INDICATORS: dict[str, str] = {
    "目录病种数": "申报专业在病种目录中的病种数；申报专业无病种目录时为空",
    "目录病种覆盖数": "至少有 1 例 M 病案的出院主要诊断编码以该病种任一编码前缀开头的目录病种数",
    "目录病种覆盖率(%)": "目录病种覆盖数 ÷ 目录病种数 × 100",
    "目录病种例数": "M 中出院主要诊断编码属于任一目录病种的病案数",
    "目录术种数": "申报专业在术种目录中的术种数；申报专业无术种目录时为空",
    "目录术种覆盖数": "至少有 1 例 P 手术的编码以该术种任一编码前缀开头的目录术种数",
    "目录术种覆盖率(%)": "目录术种覆盖数 ÷ 目录术种数 × 100",
    "目录术种例数": "P 中编码属于任一目录术种的手术数",
}

#: Nurse indicators with their definitions.
NURSE_INDICATORS: dict[str, str] = {
    "责任护理出院患者人数": "评价周期内本人在本科室作为责任护士的出院病案数（N）",
    "作为质控护师病例数": "评价周期内本人在本科室作为质控护师的出院病案数（Q）",
    "护理患者病种数": "N 中出院主要诊断编码前 3 位（ICD-10 类目）的不同个数",
    "护理患者平均住院日": "N 的住院天数平均值（住院天数取法同平均住院日）",
    "护理手术患者人数": "N 中至少有一个有效手术操作（编码在国临版3.0 内）的病案数",
    "护理死亡患者人数": "N 中离院方式为 5（死亡）的病案数",
}

#: Every indicator and its definition, in 指标汇总 column order.
INDICATOR_DEFINITIONS: dict[str, str] = {
    **PHYSICIAN_INDICATORS,
    **CATALOGUE_INDICATORS,
    **NURSE_INDICATORS,
}
INDICATOR_COLUMNS: tuple[str, ...] = tuple(INDICATOR_DEFINITIONS)
SUMMARY_COLUMNS: tuple[str, ...] = IDENTITY_COLUMNS + INDICATOR_COLUMNS

#: Indicator columns holding means or percentages (two decimals); the others are counts.
DECIMAL_COLUMNS: frozenset[str] = frozenset(
    {
        "平均住院日",
        "次均费用",
        "死亡率(%)",
        "四级手术占比(%)",
        "手术患者并发症发生率(%)",
        "目录病种覆盖率(%)",
        "目录术种覆盖率(%)",
        "护理患者平均住院日",
    }
)

#: Shared definitions (口径说明) of the matching itself.
MATCHING_DEFINITION = (
    "申报人员与病案的匹配：病案的组织机构代码与出院科别分别等于申报人员的组织机构代码与所在科室，"
    "出院日期在现专业技术职务聘任时间至提取工作量数据截止时间之间（两端含），且姓名（去空白、全角转半角后）"
    "出现在相应角色字段中（医师：主（副主）任医师、主治医师、住院医师、术者、Ⅰ助；护士：责任护士、质控护师）。"
    "参与计算的病案不含重复记录（W09 的后出现者）、出院主要诊断编码不在国临版2.0 内（W03）、"
    "出院时间或出院科别为空或无效的病案；编码不在国临版3.0 内的手术操作不计（W04/W05）。"
)
ROUNDING_DEFINITION = (
    "平均值与百分比按精确值四舍五入保留两位小数；分母为 0 时为空（不是 0）；计数项始终为数字。"
    "医师指标对护士为空，护士指标对医师为空。"
)
CATALOGUE_NOTE = (
    "随软件提供的专科病种/术种目录仅为示例，只覆盖心血管内科、普通外科、骨外科三个专业；"
    "正式评审请由省级主管部门替换为官方目录。"
)

#: Key (identity) columns of the detail tables.
DETAIL_KEYS: tuple[str, ...] = ("组织机构代码", "姓名", "执业证书编码", "所在科室", "人员类别")
DISEASE_COLUMNS: tuple[str, ...] = (*DETAIL_KEYS, "疾病类目", "病例数")
PROCEDURE_COLUMNS: tuple[str, ...] = (
    *DETAIL_KEYS,
    "术种",
    "手术例数",
    "一级手术例数",
    "二级手术例数",
    "三级手术例数",
    "四级手术例数",
    "级别未填例数",
)
YEAR_COLUMNS: tuple[str, ...] = (
    *DETAIL_KEYS,
    "出院年份",
    "出院患者人数",
    "手术例数",
    "责任护理出院患者人数",
)
CASE_LIST_COLUMNS: tuple[str, ...] = (
    *DETAIL_KEYS,
    "病案号",
    "住院次数",
    "出院时间",
    "角色",
    "文件",
    "行号",
)

#: Names of the stored result tables (``Workspace.save_results``).
SUMMARY = "指标汇总"
DISEASES = "病种明细"
PROCEDURES = "术种明细"
YEARS = "年度明细"
CASE_LIST = "病例清单"
PROVENANCE = "口径信息"

#: Columns of the stored 口径信息 table (and of the 口径说明 sheet).
PROVENANCE_COLUMNS: tuple[str, ...] = ("类别", "名称", "说明", "行数", "SHA-256")
