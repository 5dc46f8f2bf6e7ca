"""How users find each code list: the template sheet names and the titles the check messages
cite (``《申报人员信息自然表-性别》``). Shared by the templates (which write those sheets) and
the rules (which name them), so both always agree.
"""

from __future__ import annotations

#: Name of the first (data) sheet of each template.
TEMPLATE_SHEET_NAMES: dict[str, str] = {"cases": "病案首页数据", "staff": "申报人员信息自然表"}

#: Sheet names of the short code lists (the check messages cite these names).
DOMAIN_SHEETS: dict[str, str] = {
    "STAFF_SEX": "性别",
    "STAFF_KIND": "人员类别",
    "STAFF_LEVEL": "拟申报级别",
    "STAFF_EDU": "学历",
    "SPECIALTY": "申报专业列表",
}

#: Lists too long for a sheet, referred to by name.
LONG_LISTS: dict[str, str] = {
    "ICD10-NC2": "见《疾病分类与代码国家临床版2.0》（本系统随附的代码表 icd10_national_clinical_v2.csv）",
    "ICD9CM3-NC3": "见《手术操作分类代码国家临床版3.0》（本系统随附的代码表 icd9cm3_national_clinical_v3.csv）",
}


def domain_sheet(domain: str) -> str:
    """The template sheet that lists ``domain``'s codes (the domain id when it has no name)."""
    return DOMAIN_SHEETS.get(domain, domain)


def domain_title(domain: str) -> str:
    """The name under which users find a code list, as the check messages cite it:
    ``《申报人员信息自然表-性别》``, ``《病案首页数据表样-RC023》``, or the ICD list's title."""
    if domain in LONG_LISTS:
        return LONG_LISTS[domain].removeprefix("见").split("（", 1)[0]
    if domain.startswith("STAFF_") or domain == "SPECIALTY":
        return f"《{TEMPLATE_SHEET_NAMES['staff']}-{domain_sheet(domain)}》"
    return f"《{TEMPLATE_SHEET_NAMES['cases']}表样-{domain_sheet(domain)}》"
