"""Write ``docs/REFERENCE.md``: the rules, the indicators and the two templates, for users.

The tables come from the code that applies them (the rule catalogue, the indicator
definitions, the templates' 填写说明 sheet), so the document says what the program does.
``tests/test_user_docs.py`` fails when the file is out of date; refresh it with

    .venv/bin/python tools/user_docs.py
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from cwdx.metrics.definitions import CATALOGUE_INDICATORS, NURSE_INDICATORS, PHYSICIAN_INDICATORS
from cwdx.reference import TABLE_TITLES
from cwdx.rules import RULES
from cwdx.templates import GUIDE_COLUMNS, TEMPLATE_FILE_NAMES, guide_rows

TARGET = Path(__file__).resolve().parent.parent / "docs" / "REFERENCE.md"


def _cell(value: object) -> str:
    """A Markdown table cell: blank for None, ``|`` escaped, line breaks as ``<br>``."""
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>").strip()


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _rule_text(message: str) -> str:
    """A rule's summary message with its count placeholders (``**``, ``*``) as N."""
    return re.sub(r"\*\*?", "N", message)


def render() -> str:
    """The whole of ``docs/REFERENCE.md``."""
    lines = [
        "# 检测规则、指标口径与表样",
        "",
        "本文件由 `tools/user_docs.py` 根据程序中的规则表、指标定义和表样定义生成，"
        "与程序实际执行的内容一致（请勿手工修改）。使用流程见 [使用说明](USER_GUIDE.md)。",
        "",
        "## 检测规则",
        "",
        "“错误”阻止该机构进行指标计算，必须修改后重新导入；“警告”不阻止计算，但相关记录可能不计入"
        "工作量。说明中的 N 为反馈表中给出的实际数量。",
        "",
    ]
    lines += _table(
        ["规则编号", "级别", "数据表", "说明", "处理建议"],
        (
            (r.id, r.severity_label, TABLE_TITLES[r.table], _rule_text(r.message), r.advice)
            for r in RULES.values()
        ),
    )
    lines += ["## 指标口径", ""]
    for title, definitions in (
        ("医师指标", PHYSICIAN_INDICATORS),
        ("专业目录指标（医师，按申报专业的病种、术种目录）", CATALOGUE_INDICATORS),
        ("护士指标", NURSE_INDICATORS),
    ):
        lines += [f"### {title}", ""]
        lines += _table(["指标", "口径"], definitions.items())
    lines += [
        "## 表样",
        "",
        "可在机构版页面“查看表样”或用 `cwdx template cases|staff -o 文件.xlsx` 下载表样；"
        "表样的“填写说明”工作表与下表相同，并附有代码表。",
        "",
    ]
    keep = [GUIDE_COLUMNS.index(c) for c in ("列名", "类型", "是否必填", "取值范围", "说明")]
    for table, title in TABLE_TITLES.items():
        lines += [f"### {title}（{TEMPLATE_FILE_NAMES[table]}）", ""]
        lines += _table(
            [GUIDE_COLUMNS[i] for i in keep],
            ([row[i] for i in keep] for row in guide_rows(table)),  # type: ignore[arg-type]
        )
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    """Write the file; ``--check`` only compares (exit 1 when it is out of date)."""
    text = render()
    if "--check" in sys.argv[1:]:
        current = TARGET.read_text(encoding="utf-8") if TARGET.is_file() else ""
        return 0 if current == text else 1
    TARGET.write_text(text, encoding="utf-8")
    print(f"已写入 {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
