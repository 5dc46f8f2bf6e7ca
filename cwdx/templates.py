"""The downloadable template workbooks (表样), built from the template definitions
``cwdx/resources/reference/*_template.csv``.

Sheet 1 holds the exact template header and one realistic sample row that passes every rule;
sheet 填写说明 describes every column; the short code lists follow on their own sheets (the ICD
lists are referred to by name). Required headers are red bold on a light red fill.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from cwdx.code_lists import DOMAIN_SHEETS, LONG_LISTS, TEMPLATE_SHEET_NAMES, domain_sheet
from cwdx.errors import CwdxError, os_error_text
from cwdx.reference import TABLE_TITLES, ColumnSpec, Reference, TableName, load_reference
from cwdx.xlsx import Book, atomic_path

#: Suggested file names for the downloads.
TEMPLATE_FILE_NAMES: dict[str, str] = {
    "cases": "病案首页数据表样.xlsx",
    "staff": "申报人员信息自然表表样.xlsx",
}
GUIDE_SHEET = "填写说明"
GUIDE_COLUMNS = ("列名", "标准代码", "类型", "是否必填", "取值范围", "说明", "示例")

TYPE_NAMES: dict[str, str] = {
    "text": "文本",
    "name": "姓名（文本）",
    "code": "代码",
    "int": "整数",
    "decimal": "数值",
    "date": "日期",
    "datetime": "日期时间",
}
LEVEL_NAMES: dict[str, str] = {
    "required": "必填",
    "important": "重要（为空时警告）",
    "important-if-procedure": "有主要手术操作时重要",
    "optional": "选填",
}
# One realistic record per template; it passes every rule of checks.md.
_ORG = "12330100470000001X"
_HOSPITAL = "示例市第一人民医院"
SAMPLE_ROWS: dict[str, dict[str, Any]] = {
    "cases": {
        "组织机构代码": _ORG,
        "医疗机构名称": _HOSPITAL,
        "病案号": "0012345",
        "住院次数": 1,
        "性别": "1",
        "出生日期": dt.date(1962, 5, 14),
        "年龄（岁）": 61,
        "入院时间": dt.datetime(2024, 3, 5, 8, 30),
        "出院时间": dt.datetime(2024, 3, 12, 10, 0),
        "出院科别": "03.04",
        "实际住院（天）": 7,
        "出院主要诊断编码": "I21.001",
        "出院主要诊断名称": "急性前壁心肌梗死",
        "出院主要诊断入院病情": "1",
        "出院其他诊断编码1": "I10.x00",
        "出院其他诊断入院病情1": "1",
        "出院其他诊断编码2": "E11.900",
        "出院其他诊断入院病情2": "1",
        "离院方式": "1",
        "住院总费用": 45678.9,
        "主（副主）任医师": "张建国",
        "主治医师": "李明",
        "住院医师": "王磊",
        "责任护士": "陈静",
        "质控护师": "刘芳",
        "主要手术操作编码": "36.0601",
        "主要手术操作名称": "冠状动脉药物涂层支架置入术",
        "主要手术操作日期": dt.datetime(2024, 3, 5, 10, 20),
        "主要手术操作级别": "4",
        "主要手术操作术者": "张建国",
        "主要手术操作Ⅰ助": "李明",
        "主要手术操作Ⅱ助": "王磊",
        "其他手术操作编码1": "88.5600",
        "其他手术操作日期1": dt.datetime(2024, 3, 5, 10, 0),
        "其他手术操作级别1": "3",
        "其他手术操作术者1": "张建国",
        "其他手术操作Ⅰ助1": "李明",
    },
    "staff": {
        "组织机构代码": _ORG,
        "医疗机构名称": _HOSPITAL,
        "姓名": "李明",
        "性别": "1",
        "出生日期": dt.date(1980, 6, 18),
        "执业证书编码": "110330100012345",
        "所在科室": "03.04",
        "人员类别": "1",
        "拟申报级别": "2",
        "学历": "2",
        "申报专业": "心血管内科",
        "现专业技术职务聘任时间": dt.date(2018, 12, 1),
        "提取工作量数据截止时间": dt.date(2025, 12, 31),
    },
}

# English clauses of the template CSV notes -> Chinese (unknown clauses are left out).
_NOTE_CLAUSES: tuple[tuple[str, str], ...] = (
    (r"^ASCII letters, digits, '-'$", "仅限英文字母、数字和“-”"),
    (r"^ASCII letters and digits only, (\d+)-(\d+) chars$", "仅限英文字母和数字，\\1至\\2位"),
    (r"^(\d+)-(\d+) chars$", "\\1至\\2位"),
    (r"^compared upper-case$", "字母不区分大小写"),
    (r"^at most (\d+) chars$", "不超过\\1个字符"),
    (r"^a number cell is read as its digits$", "数字单元格按其数字读取，建议以文本填写"),
    (r"^integer >= (\d+)$", "不小于\\1的整数"),
    (r"^integer (\d+)\.\.(\d+)$", "\\1至\\2之间的整数"),
    (r"^number >= (\d+)$", "不小于\\1的数值"),
    (r"^1900-01-01 \.\. today$", "1900-01-01 至检测当日"),
    (r"^W08 calls it (.+)$", "为空时计入“重要计算字段为空”（W08，\\1）"),
    (r"^must not be earlier than (\S+) \(E15 on this cell\)$", "不得早于\\1（按日期比较）"),
    (r"^out-of-domain is (W\d\d), not E15$", "不在取值范围内为警告 \\1"),
    (r"^out-of-domain is a warning \((W\d\d)\)$", "不在取值范围内为警告 \\1"),
    (r"^out-of-list is (W03), not E15$", "不在目录内为警告 \\1，该记录不参与指标计算"),
    (r"^out-of-list is (W0[45]), not E15$", "不在目录内为警告 \\1，该手术操作不参与指标计算"),
    (r"^out-of-list is (X01) \(warning\)$", "不在目录内为警告 \\1，该诊断不计入并发症"),
    (r"^not checked against the code$", "不与编码核对"),
    (r"^(\d+) = (\S+)$", "\\1 = \\2"),
    (r"^the seed also calls it (\S+)$", "又称“\\1”"),
    (
        r"^important only when (\S+) is filled$",
        "仅在\\1已填写时为重要字段（为空计入警告 W08）",
    ),
    (
        r"^W06 when its code is filled and this is empty$",
        "该手术操作编码已填而术者为空时为警告 W06",
    ),
    (r"^(\S+)-style suffixes are allowed$", "同名人员可加数字后缀区分，如“\\1”"),
    (r"^digits only$", "只填数字代码"),
    (r"^男/女 in words is (E\d\d)$", "填“男”“女”等文字为错误 \\1"),
    (r"^names from specialties\.csv$", "填写申报专业列表中的名称"),
)


def _note_clauses(note: str) -> list[tuple[str, str]]:
    """The note's clauses with their Chinese rendering (clauses not understood are dropped)."""
    parts: list[tuple[str, str]] = []
    for clause in (c.strip() for c in note.split(";")):
        if not clause:
            continue
        for pattern, replacement in _NOTE_CLAUSES:
            if re.match(pattern, clause):
                parts.append((clause, re.sub(pattern, replacement, clause)))
                break
    return parts


def _note_zh(note: str) -> str:
    return "；".join(zh for _, zh in _note_clauses(note))


_RANGE_CLAUSE = re.compile(r"^(ASCII|\d+-\d+ chars|integer|number|1900-01-01)")


def _value_range(spec: ColumnSpec, ref: Reference) -> str:
    if spec.domain in LONG_LISTS:
        return LONG_LISTS[spec.domain]
    if spec.domain:
        sheet = domain_sheet(spec.domain)
        codes = sorted(ref.domain_codes(spec.domain))
        if 0 < len(codes) <= 12 and spec.domain != "SPECIALTY":
            listed = "、".join(
                f"{c} {ref.domains.get(spec.domain, {}).get(c, '')}".strip() for c in codes
            )
            return f"{listed}（见工作表“{sheet}”）"
        return f"见工作表“{sheet}”"
    ranges = [zh for en, zh in _note_clauses(spec.note) if _RANGE_CLAUSE.match(en)]
    if spec.type == "date":
        if ranges:
            return f"{ranges[0]}，写作 YYYY-MM-DD"
        return "1900-01-01 至 2100-12-31，写作 YYYY-MM-DD"
    if spec.type == "datetime":
        return "1900-01-01 至 2100-12-31，写作 YYYY-MM-DD HH:MM:SS（时间可省略）"
    if ranges:
        return "，".join(ranges)
    if spec.max_length:
        return f"不超过{spec.max_length}个字符"
    return ""


def _description(spec: ColumnSpec) -> str:
    parts = []
    if spec.type == "code" and spec.domain not in LONG_LISTS and spec.domain != "SPECIALTY":
        parts.append("填写代码，不填文字")
    if spec.domain == "RC023":
        parts.append("写作 03.04，也可写 0304、A03.04")
    if spec.type == "date":
        parts.append("日期单元格，或文本 2024-03-05、2024/3/5、20240305、2024年3月5日")
    if spec.type == "datetime":
        parts.append("日期时间单元格，或文本 2024-03-05 08:30（时间可省略）")
    note = _note_zh(spec.note)
    if note:
        parts.append(note)
    if spec.rules:
        parts.append("检测规则：" + "、".join(spec.rules))
    return "；".join(parts) + "。" if parts else ""


def _example_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def sample_row(table: TableName) -> dict[str, Any]:
    """The template's sample record: column name -> cell value (``None`` for empty cells)."""
    ref = load_reference()
    sample = SAMPLE_ROWS[table]
    return {spec.name: sample.get(spec.name) for spec in ref.columns(table)}


#: The columns that tell the template's sample record from a real one (not the 组织机构代码:
#: a clerk may have typed the own code into the sample row and kept the rest).
SAMPLE_KEYS: dict[str, tuple[str, ...]] = {
    "cases": ("病案号", "出院主要诊断编码"),
    "staff": ("姓名", "执业证书编码"),
}


def sample_identity(table: TableName) -> dict[str, str]:
    """The sample record's :data:`SAMPLE_KEYS` as stored text (a row still holding them is the
    template's example, not data)."""
    return {column: str(SAMPLE_ROWS[table][column]) for column in SAMPLE_KEYS[table]}


def _check_table(table: str) -> None:
    if table not in TEMPLATE_SHEET_NAMES:
        raise CwdxError(
            f"没有名为“{table}”的表样：请选择 cases（病案首页数据）或 staff（申报人员信息自然表）。"
        )


def write_template(table: TableName, path: str | Path) -> Path:
    """Write the template workbook of ``table`` ("cases" or "staff") to ``path`` and return it.

    The file is written under a temporary name and renamed, so an interrupted write never
    leaves a half file. Raises :class:`CwdxError` when the table is unknown or the file cannot
    be written.
    """
    _check_table(table)
    ref = load_reference()
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise CwdxError(f"表样文件名“{target.name}”须以 .xlsx 结尾，请改名后重试。")
    try:
        with atomic_path(target) as tmp, Book(tmp) as book:
            _fill(book, table, ref)
    except OSError as exc:
        raise CwdxError(
            f"无法写入表样文件“{target}”（{os_error_text(exc)}）：请换一个保存位置或关闭已打开的同名文件后重试。"
        ) from exc
    return target


def guide_rows(table: TableName, ref: Reference | None = None) -> list[list[Any]]:
    """The rows of the 填写说明 sheet, one per column (:data:`GUIDE_COLUMNS`: 列名, 标准代码,
    类型, 是否必填, 取值范围, 说明, 示例); also the source of the user documentation's tables."""
    ref = ref or load_reference()
    sample = sample_row(table)
    return [
        [
            spec.name,
            spec.standard_code or None,
            TYPE_NAMES.get(spec.type, spec.type),
            LEVEL_NAMES.get(spec.level, spec.level),
            _value_range(spec, ref),
            _description(spec),
            _example_text(sample[spec.name]),
        ]
        for spec in ref.columns(table)
    ]


def _fill(book: Book, table: TableName, ref: Reference) -> None:
    columns = ref.columns(table)
    sample = sample_row(table)

    # Sheet 1: header + sample row.
    header_formats = [book.required_header if c.required else None for c in columns]
    column_formats = {}
    for i, spec in enumerate(columns):
        if spec.type in ("text", "name", "code"):
            column_formats[i] = book.text
        elif spec.type == "date":
            column_formats[i] = book.date
        elif spec.type == "datetime":
            column_formats[i] = book.datetime
    main = book.write_table(
        TEMPLATE_SHEET_NAMES[table],
        [c.name for c in columns],
        [[sample[c.name] for c in columns]],
        header_formats=header_formats,
        column_formats=column_formats,
        cell_formats=column_formats,
        autofilter=False,
    )[0]
    main.set_row(0, 32)

    # Sheet 2: 填写说明.
    rows = guide_rows(table, ref)
    guide = book.write_table(
        GUIDE_SHEET,
        list(GUIDE_COLUMNS),
        rows,
        cell_formats={4: book.wrap, 5: book.wrap},
        widths={4: 36.0, 5: 60.0},
        autofilter=False,
    )[0]
    title = TABLE_TITLES[table]
    notes = [
        f"1. 数据只读取第一个工作表“{TEMPLATE_SHEET_NAMES[table]}”，第1行为表头，请勿改动表头文字；列的顺序可以调整。",
        "2. 表头为红色粗体、浅红底色的列为必填项，为空即为检测错误；“重要”列为空时给出警告，可能使相关人员的工作量减少。",
        "3. 代码列请填写代码（如性别填 1、科室填 03.04），不要填写文字；代码列已设为文本格式，输入 0304 等不会丢失前导零。",
        "4. 日期可填写日期单元格，或 2024-03-05、2024/3/5、20240305、2024年3月5日 等文本。",
        "5. 空白、空格或“-”均视为未填写。",
        f"6. 第2行为示例数据，正式上传前请删除或替换为本院{title}。",
    ]
    start = len(rows) + 2
    for offset, line in enumerate(notes):
        guide.write_string(start + offset, 0, line, book.bold if offset == 0 else None)

    # Code-list sheets for the short domains, in order of first use.
    seen: list[str] = []
    for spec in columns:
        if spec.domain and spec.domain not in LONG_LISTS and spec.domain not in seen:
            seen.append(spec.domain)
    for domain in seen:
        if domain == "SPECIALTY":
            _specialty_sheet(book, ref)
            continue
        codes = ref.domains.get(domain, {})
        book.write_table(
            domain_sheet(domain),
            ["代码", "名称"],
            [[code, name] for code, name in codes.items()],
            column_formats={0: book.text},
            autofilter=domain == "RC023",
        )


def _specialty_sheet(book: Book, ref: Reference) -> None:
    kinds = ref.domains.get("STAFF_KIND", {})
    rows = []
    for name, info in ref.specialties.items():
        kind = str(info["staff_kind"])
        listed = info["departments"]
        departments = [str(d) for d in listed] if isinstance(listed, list | tuple) else []
        rows.append(
            [
                name,
                info["category"],
                f"{kind} {kinds.get(kind, '')}".strip(),
                "、".join(
                    f"{d} {ref.domains.get('RC023', {}).get(d, '')}".strip() for d in departments
                ),
            ]
        )
    book.write_table(
        DOMAIN_SHEETS["SPECIALTY"],
        ["申报专业", "专业类别", "人员类别", "相关科室（参考）"],
        rows,
        column_formats={0: book.text},
    )
