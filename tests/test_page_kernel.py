"""What the server and the pages' kernels share (cwdx.page_kernel)."""

from __future__ import annotations

import os

import pytest

from cwdx import page_kernel
from cwdx.page_kernel import USER_ENV, download_url, request_code


@pytest.mark.parametrize(
    "name", ["张三", 'x"); import os; os.system("id") #', "a'b\\c\n", "}{", None]
)
def test_the_hand_out_code_passes_the_name_as_it_is(
    name: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever an account is called, the code the server runs only hands that name over."""
    seen: list[str | None] = []
    monkeypatch.setattr(page_kernel, "_PAGES", [seen.append])
    monkeypatch.setenv(USER_ENV, "before")
    namespace: dict = {}
    exec(request_code(name), namespace)
    assert seen == [name]
    assert os.environ[USER_ENV] == (name if name is not None else "before")
    assert set(namespace) == {"__builtins__"}  # nothing left in the page's namespace


def test_download_url_under_the_base_url() -> None:
    assert download_url(7, "全部 结果/1.xlsx") == (
        "/cwdx/download/7/%E5%85%A8%E9%83%A8%20%E7%BB%93%E6%9E%9C%2F1.xlsx"
    )
    assert download_url(7, "a.zip", "/app/") == "/app/cwdx/download/7/a.zip"
    assert download_url(7, "a.zip", "/app") == "/app/cwdx/download/7/a.zip"
