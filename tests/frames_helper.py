"""Hand-built frames in the stored row format of ``DESIGN.md`` for the check tests."""

from __future__ import annotations

import pandas as pd

from cwdx.reference import load_reference

STAFF_OK = {
    "组织机构代码": "H001",
    "医疗机构名称": "测试医院",
    "姓名": "张三",
    "性别": "1",
    "出生日期": "1980-01-01",
    "执业证书编码": "110000001",
    "所在科室": "03.04",
    "人员类别": "1",
    "拟申报级别": "1",
    "学历": "1",
    "申报专业": "心血管内科",
    "现专业技术职务聘任时间": "2015-01-01",
    "提取工作量数据截止时间": "2024-12-31",
}

CASE_OK = {
    "组织机构代码": "H001",
    "医疗机构名称": "测试医院",
    "住院次数": "1",
    "性别": "1",
    "出生日期": "1960-01-01",
    "年龄（岁）": "60",
    "入院时间": "2020-01-01 08:00:00",
    "出院时间": "2020-01-10 08:00:00",
    "出院科别": "03.04",
    "实际住院（天）": "9",
    "出院主要诊断编码": "I21.000",
    "离院方式": "1",
    "住院总费用": "12345.5",
    "主（副主）任医师": "张三",
    "主治医师": "李四",
    "住院医师": "王五",
    "责任护士": "赵六",
    "质控护师": "钱七",
}


def _frame(table: str, rows: list[dict], defaults: dict, file: str, org: str, import_id: int):
    columns = [spec.name for spec in load_reference().columns(table)]  # type: ignore[arg-type]
    records = []
    for i, row in enumerate(rows):
        record = {col: None for col in columns}
        record.update(defaults)
        if table == "cases":
            record["病案号"] = f"BA{i + 1:05d}"
        record.update(row)
        record.setdefault("_file", file)
        record.setdefault("_row", i + 2)
        record.setdefault("_import", import_id)
        record.setdefault("_org", org)
        records.append(record)
    frame = pd.DataFrame(records, columns=[*columns, "_file", "_row", "_import", "_org"])
    for col in columns + ["_file", "_org"]:
        frame[col] = frame[col].astype("string")
    frame["_row"] = frame["_row"].astype("int64")
    frame["_import"] = frame["_import"].astype("int64")
    return frame


def staff(*rows: dict, file: str = "申报人员.xlsx", org: str = "H001", import_id: int = 2):
    """Staff rows: each dict overrides a valid applicant (``None`` = empty cell)."""
    return _frame("staff", list(rows), STAFF_OK, file, org, import_id)


def cases(*rows: dict, file: str = "病案首页.xlsx", org: str = "H001", import_id: int = 1):
    """Case rows: each dict overrides a valid record matching 张三 (``None`` = empty cell)."""
    return _frame("cases", list(rows), CASE_OK, file, org, import_id)


def write_book(path, table: str, rows: list[dict], sheet_name: str = "数据"):
    """A workbook with the template header of ``table`` and one text row per dict, exactly as
    given (``None`` or a missing key = blank cell)."""
    import xlsxwriter

    columns = [spec.name for spec in load_reference().columns(table)]  # type: ignore[arg-type]
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet(sheet_name)
    for col, name in enumerate(columns):
        sheet.write_string(0, col, name)
    for r, row in enumerate(rows, start=1):
        for col, name in enumerate(columns):
            value = row.get(name)
            if value is not None:
                sheet.write_string(r, col, str(value))
    book.close()
    return path


def write_rows_xlsx(path, table: str, rows: list[dict], defaults: dict | None = None):
    """A workbook with the template header and one row per dict overriding a valid row
    (text cells; ``None`` = blank; cases get 病案号 BA00001, … unless given)."""
    base = defaults if defaults is not None else (CASE_OK if table == "cases" else STAFF_OK)
    records = []
    for r, row in enumerate(rows, start=1):
        record = dict(base)
        if table == "cases":
            record["病案号"] = f"BA{r:05d}"
        record.update(row)
        records.append(record)
    return write_book(path, table, records, sheet_name="Sheet1")
