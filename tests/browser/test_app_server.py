"""The app as a server: Host check, kernel cap, Chinese error pages, upload limit.

Plain HTTP against ``cwdx app institution`` (started as users start it); the upload limit in
headless Chromium, since the refusal happens in the page before anything is sent."""

from __future__ import annotations

import http.client
import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from page_helper import open_app, show_tab

from cwdx.serve_voila import UPLOAD_MESSAGE_OVERHEAD, too_many_pages_text, upload_refusal_text

pytestmark = pytest.mark.browser

#: The Chinese texts of the refusals.
HOST_REFUSED = "请在本机浏览器中用启动时显示的地址（例如 http://127.0.0.1:端口/）打开本系统。"
FORBIDDEN = "没有权限访问这个地址，请从首页重新打开本系统。"
NOT_FOUND = "页面不存在"


class Reply:
    """One HTTP reply: status, headers, body text."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.text = response.read().decode("utf-8", errors="replace")


def fetch(
    url: str, path: str = "/", host: str | None = None, method: str = "GET", **headers: str
) -> Reply:
    """``method path`` on the app at ``url``, with ``Host: host`` when given (no redirects)."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    try:
        sent = dict(headers)
        if host is not None:
            sent["Host"] = host
        connection.request(method, path, headers=sent)
        return Reply(connection.getresponse())
    finally:
        connection.close()


def assert_chinese_error(reply: Reply, status: int, title: str, advice: str = "") -> None:
    """An error page in Chinese that says nothing about the server software or its files."""
    assert reply.status == status, reply.text
    assert reply.headers.get_content_type() == "text/html"
    assert "Server" not in reply.headers
    assert f'<h1 style="font-size: 22px;">{title}</h1>' in reply.text
    if advice:
        assert advice in reply.text
    for leak in ("tornado", "Tornado", "Traceback", "voila", "Voil", "python", "/work", "/tmp"):
        assert leak not in reply.text, leak


def test_foreign_host_is_refused(start_app) -> None:
    app = start_app()
    port = urlsplit(app.url).port
    # DNS rebinding: a page of evil.example reaches the app under its own host name
    for path in (
        "/",
        "/voila/static/voila.js",
        "/api/kernels/00000000-0000-0000-0000-000000000000/channels",
        "/voila/templates/x",
    ):
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}"):
            assert_chinese_error(fetch(app.url, path, host=host), 403, "无权访问", HOST_REFUSED)
    assert "403 GET / (127.0.0.1): 拒绝了 Host 为 'evil.example' 的请求" in app.server_file()
    assert "拒绝了一个不是从本机地址打开的请求（Host：evil.example）。" in app.server_log()
    # the served address, under every name of this machine's loopback
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", "127.0.0.1"):
        reply = fetch(app.url, "/voila/static/voila.js", host=host)
        assert reply.status == 200, host
    page = fetch(app.url, "/", host=f"localhost:{port}")
    assert page.status == 200 and "正在打开页面，请稍候……" in page.text


def test_kernel_cap_refuses_the_extra_tab_in_chinese(start_app) -> None:
    app = start_app(max_kernels=2)
    first, second = fetch(app.url), fetch(app.url)
    assert (first.status, second.status) == (200, 200)
    extra = fetch(app.url)
    assert_chinese_error(extra, 503, "系统繁忙", too_many_pages_text(2))
    assert "已打开的页面过多（最多 2 个），请关闭其他标签页后刷新本页。" in extra.text
    # closing a tab shuts its kernel down (Voilà's beforeunload beacon): then a page opens
    kernel_id = json.loads(
        re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
            first.text,
            re.S,
        ).group(1)
    )["kernelId"]
    token = "0123456789abcdef"  # the beacon sends the page's _xsrf cookie as a form field
    closed = fetch(
        app.url,
        f"/voila/api/shutdown/{kernel_id}?_xsrf={token}",
        method="POST",
        Cookie=f"_xsrf={token}",
    )
    assert closed.status == 204, closed.text
    assert fetch(app.url).status == 200


def test_default_cap_is_four_pages(tmp_path: Path) -> None:
    from cwdx import resources
    from cwdx.app import voila_command

    settings = json.loads((resources.voila_config_dir() / "voila.json").read_text(encoding="utf-8"))
    assert settings["CwdxVoila"]["max_kernels"] == 4
    assert not any("max_kernels" in part for part in voila_command("institution", 9999))
    assert "--CwdxVoila.max_kernels=7" in voila_command("institution", 9999, 7)


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/voila/templates/x", 404, NOT_FOUND),
        ("/voila/templates/lab/x", 404, NOT_FOUND),
        ("/voila/templates/lab/static/nothing.js", 404, NOT_FOUND),
        ("/voila/templates/../../etc/passwd", 404, NOT_FOUND),
        ("/voila/files/notebooks/institution.ipynb", 403, "无权访问"),
        ("/voila/files/nothing.xlsx", 403, "无权访问"),
        ("/api/kernels/00000000-0000-0000-0000-000000000000", 404, NOT_FOUND),
    ],
)
def test_error_pages_are_chinese(module_app, path: str, status: int, title: str) -> None:
    reply = fetch(module_app.url, path)
    if reply.headers.get_content_type() == "application/json":  # Jupyter's API answers JSON
        assert reply.status == status
        assert json.loads(reply.text)["message"].startswith(f"{title}：")
        assert "Server" not in reply.headers
    else:
        assert_chinese_error(reply, status, title, FORBIDDEN if status == 403 else "")


def test_upload_over_the_limit_is_refused_at_once(start_app, page, tmp_path: Path) -> None:
    app = start_app()
    seconds = open_app(page, app.url)
    print(f"首个按钮可用用时 {seconds:.2f} 秒")
    big = tmp_path / "大文件.xlsx"
    with big.open("wb") as sparse:  # 300 MB without writing 300 MB
        sparse.truncate(300 * 1024 * 1024)
    show_tab(page, "import")
    started = time.monotonic()
    with page.expect_file_chooser() as chooser:
        page.locator(".cwdx-cases-upload").click()
    chooser.value.set_files(str(big))
    limit_mb = (256 * 1024 * 1024 - UPLOAD_MESSAGE_OVERHEAD) // (1024 * 1024)
    expected = upload_refusal_text("institution", str(app.workspace), limit_mb).replace(
        "{size}", "300"
    )
    assert expected.startswith("所选文件共 300 MB，超过了网页上传的上限 255 MB，没有上传。")
    assert f'cwdx -w "{app.workspace}" import cases 文件.xlsx' in expected
    notice = page.locator("#cwdx-upload-refused .cwdx-upload-refused-text")
    notice.wait_for(state="visible", timeout=10_000)
    assert notice.inner_text() == expected
    assert time.monotonic() - started < 10
    # nothing was selected, so nothing can be imported
    assert "已选择" not in page.locator(".cwdx-cases-selected").inner_text()
    page.locator("#cwdx-upload-refused button").click()
    assert not notice.is_visible()
