"""The clerk's words of the institution app: the import note, the log lines and the titles of
the reference lists, said the way a hospital statistician reads them."""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cwdx.reader import NormalisationReport

#: Chinese titles of the reference lists shipped with cwdx (关于).
REFERENCE_TITLES: dict[str, str] = {
    "icd10_national_clinical_v2.csv": "《疾病分类与代码国家临床版2.0》",
    "icd10_national_clinical_v2_subcategories_derived.csv": (
        "《疾病分类与代码国家临床版2.0》亚目表（由代码表整理）"
    ),
    "icd9cm3_national_clinical_v3.csv": "《手术操作分类代码国家临床版3.0》",
    "case_template.csv": "病案首页数据表样（列定义）",
    "staff_template.csv": "申报人员信息自然表表样（列定义）",
    "frontpage_fields.csv": "住院病案首页数据采集接口标准（数据项）",
    "value_domains.csv": "取值范围代码表（性别、人员类别、学历等）",
    "specialties.csv": "申报专业列表",
    "specialty_groups.csv": "病种与术种分组（示例）",
    "complications.csv": "医疗护理并发症与术后并发症诊断代码",
}

#: The log's level names in Chinese.
LEVELS: dict[str, str] = {
    "DEBUG": "调试",
    "INFO": "信息",
    "WARNING": "警告",
    "ERROR": "错误",
    "CRITICAL": "严重错误",
}

#: ``2026-12-02 08:37:03,123 INFO [4711] cwdx.app: message`` (cwdx/log.py's format).
_LOG_LINE = re.compile(
    r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:,\d+)? (DEBUG|INFO|WARNING|ERROR|CRITICAL)"
    r" \[\d+\] [\w.]+: (.*)$"
)
#: ``，通过=True`` and the like: a programmer's flag at the end of a message.
_FLAG = re.compile(r"[，,]\s*通过=(True|False)")


def reference_title(file: str) -> str:
    """The Chinese title of a reference list (its file name when it has none)."""
    return REFERENCE_TITLES.get(file, file)


def log_line(line: str) -> str:
    """A log line as the 日志 panel shows it: time, level in Chinese, message (no process id,
    no logger name, ``通过=True`` said in words); other lines (tracebacks) unchanged."""
    match = _LOG_LINE.match(line)
    if match is None:
        return line
    time, level, message = match.groups()
    message = _FLAG.sub(lambda m: "，通过" if m.group(1) == "True" else "，未通过", message)
    return f"{time}  {LEVELS[level]}  {message}"


def log_text(text: str) -> str:
    """:func:`log_line` of every line of ``text``."""
    return "\n".join(log_line(line) for line in text.split("\n"))


def _change_kind(before: str, after: str) -> str:
    """What normalisation did to one cell, in words."""
    if "+" in after and after.endswith("*") and "+" not in before:
        return "补全剑号星号编码"
    if unicodedata.normalize("NFKC", before) == after:
        return "全角字符改为半角"
    if unicodedata.normalize("NFKC", before).upper() == after:
        return "小写字母改为大写"
    return "统一代码和日期的写法"


def change_example(before: str, after: str) -> str:
    """One example of a change, explained (a dagger/asterisk completion in words)."""
    if _change_kind(before, after) == "补全剑号星号编码":
        dagger, star = after.split("+", 1)
        return (
            f"“{before}”按《疾病分类与代码国家临床版2.0》补全为“{after}”：{dagger} 是病因编码"
            f"（剑号编码），{star} 是它规定要同时填写的临床表现编码（星号编码），两者用“+”连写"
        )
    return f"“{before}”改为“{after}”"


def import_note(report: NormalisationReport | None) -> str:
    """The import note of one file as HTML: one line (how many cells were rewritten and mostly
    how), the details per column folded under it."""
    if report is None or not report.columns:
        return ""
    kinds: Counter[str] = Counter()
    for change in report.columns:
        if change.examples:
            kinds[_change_kind(*change.examples[0])] += change.changed
    line = f"按规范改写了 {report.total:,} 个单元格"
    if kinds:
        line += f"，主要是{kinds.most_common(1)[0][0]}"
    details = []
    for change in report.columns:
        text = f"“{change.column}”列 {change.changed:,} 个"
        if change.examples:
            text += "，如 " + change_example(*change.examples[0])
        details.append(f"<li>{html.escape(text)}。</li>")
    return (
        f'<details class="cwdx-import-note"><summary>{html.escape(line)}（点击查看明细）</summary>'
        f"<ul>{''.join(details)}</ul></details>"
    )
