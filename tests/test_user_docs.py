"""The user documentation in ``docs/`` and the README: current, self-contained in a clone."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from cwdx.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
#: Documents a user of a clone (or of the installed package) reads.
USER_DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "USER_GUIDE.md",
    ROOT / "docs" / "REFERENCE.md",
    *sorted((ROOT / "cwdx" / "resources").rglob("*.md")),
]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _user_docs_module():
    spec = importlib.util.spec_from_file_location("user_docs", ROOT / "tools" / "user_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_document_is_current() -> None:
    """docs/REFERENCE.md says what the code does (refresh: python tools/user_docs.py)."""
    text = _user_docs_module().render()
    assert (ROOT / "docs" / "REFERENCE.md").read_text(encoding="utf-8") == text
    for rule in RULES.values():
        assert f"| {rule.id} | {rule.severity_label} |" in text
    assert "| 出院患者人数 |" in text and "| 责任护理出院患者人数 |" in text
    assert "### 病案首页数据（病案首页数据表样.xlsx）" in text
    assert "### 申报人员信息自然表（申报人员信息自然表表样.xlsx）" in text


def test_user_documents_point_only_at_files_a_clone_has() -> None:
    """No pointer to the developers' spec folder; every relative link resolves."""
    for path in USER_DOCS:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"shared/spec|\.\./spec\b|\.\./shared", text), path
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            assert (path.parent / target).exists(), (path, target)


def test_readme_says_what_needs_the_network_and_shows_the_app() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### 安装时需要联网的内容") :]
    section = section[: section.index("\n`make app`")]
    for word in ("PyPI", "constraints.txt", "apt-get", "chromium", "fonts-wqy-microhei"):
        assert word in section, word
    assert "![机构版界面](docs/screenshot-institution.png)" in text
    assert (ROOT / "docs" / "screenshot-institution.png").is_file()
    assert "docs/USER_GUIDE.md" in text and "docs/REFERENCE.md" in text
    assert "--format html\\|pdf\\|ipynb" in text
