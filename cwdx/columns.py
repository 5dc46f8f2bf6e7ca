"""The one vocabulary of column names and coded values, shared by every layer.

Names are the exact template headers (``cwdx/resources/reference/*_template.csv``). Each
constant says which table it belongs to: ``CASE_*`` for 病案首页数据, ``STAFF_*`` for 申报人员信息自然表, and a
plain name for a header both tables share (组织机构代码, 医疗机构名称). Use these instead of
spelling a header again, so that "科室" never means 所在科室 in one module and 出院科别 in another.
"""

from __future__ import annotations

# -- both tables -------------------------------------------------------------------------------

ORG = "组织机构代码"
ORG_NAME = "医疗机构名称"

# -- 申报人员信息自然表 (staff) ------------------------------------------------------------------

STAFF_NAME = "姓名"
STAFF_SEX = "性别"
STAFF_BIRTH = "出生日期"
STAFF_LICENSE = "执业证书编码"
STAFF_DEPT = "所在科室"
STAFF_KIND = "人员类别"
STAFF_LEVEL = "拟申报级别"
STAFF_EDUCATION = "学历"
STAFF_SPECIALTY = "申报专业"
STAFF_START = "现专业技术职务聘任时间"
STAFF_END = "提取工作量数据截止时间"

#: 人员类别 codes.
KIND_PHYSICIAN = "1"
KIND_NURSE = "2"

# -- 病案首页数据 (cases) ------------------------------------------------------------------------

CASE_NO = "病案号"
CASE_SEX = "性别"
CASE_BIRTH = "出生日期"
CASE_ADMIT = "入院时间"
CASE_DISCHARGE = "出院时间"
CASE_DEPT = "出院科别"
CASE_MAIN_DIAG = "出院主要诊断编码"
CASE_MAIN_DIAG_ON_ADMISSION = "出院主要诊断入院病情"
CASE_MAIN_PROC = "主要手术操作编码"

#: 出院其他诊断编码1..10 and their 入院病情 columns, slot by slot.
CASE_OTHER_DIAGS: tuple[str, ...] = tuple(f"出院其他诊断编码{k}" for k in range(1, 11))
CASE_OTHER_DIAGS_ON_ADMISSION: tuple[str, ...] = tuple(
    f"出院其他诊断入院病情{k}" for k in range(1, 11)
)
CASE_OTHER_PROCS: tuple[str, ...] = tuple(f"其他手术操作编码{k}" for k in range(1, 6))

#: Name columns of a case row that credit a physician, and a nurse.
CASE_PHYSICIAN_ROLES: tuple[str, ...] = ("主（副主）任医师", "主治医师", "住院医师")
CASE_NURSE_ROLES: tuple[str, ...] = ("责任护士", "质控护师")
#: Role names of a procedure slot (the headers carry the slot's prefix or suffix).
SURGEON = "术者"
ASSISTANT = "Ⅰ助"

#: (编码, 级别, 术者, Ⅰ助) headers of slot 0 (主要手术操作) and slots 1..5 (其他手术操作k).
CASE_PROC_SLOTS: tuple[tuple[str, str, str, str], ...] = (
    ("主要手术操作编码", "主要手术操作级别", "主要手术操作术者", "主要手术操作Ⅰ助"),
    *(
        (
            f"其他手术操作编码{k}",
            f"其他手术操作级别{k}",
            f"其他手术操作术者{k}",
            f"其他手术操作Ⅰ助{k}",
        )
        for k in range(1, 6)
    ),
)

# -- bookkeeping columns of a stored row frame (docs/DESIGN.md) ----------------------------------

FILE = "_file"
ROW = "_row"
IMPORT = "_import"
ROW_ORG = "_org"

#: Bookkeeping columns of the stored row frame, in stored order (the reader fills all but
#: ``_import``, which the workspace adds).
BOOKKEEPING_COLUMNS = (FILE, ROW, IMPORT, ROW_ORG)
