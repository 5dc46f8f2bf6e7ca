"""The 平台版's login on the real server (``cwdx app platform`` in a subprocess): every route
needs a session, the lockout, the cookie's flags, kernels owned by their session, 退出登录,
authenticated downloads, and the login page in headless Chromium."""

from __future__ import annotations

import base64
import http.client
import os
import re
import socket
import urllib.parse

import pytest
from conftest import PLATFORM_PASSWORD, PLATFORM_USER, RunningApp

from cwdx.login import download_url
from cwdx.workspace import Workspace

pytestmark = pytest.mark.browser

WRONG = "用户名或密码不正确，请重新输入。"
NO_KERNEL = "00000000-0000-0000-0000-000000000000"


class Client:
    """One browser's worth of cookies against the app (no redirects followed)."""

    def __init__(self, app: RunningApp) -> None:
        address = urllib.parse.urlsplit(app.url)
        self.host, self.port = str(address.hostname), int(address.port or 80)
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> tuple[int, http.client.HTTPMessage, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        sent = {"Host": f"{self.host}:{self.port}", **headers}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
        finally:
            connection.close()
        self.set_cookies = response.headers.get_all("Set-Cookie") or []
        for header in self.set_cookies:
            name, value = header.split(";")[0].split("=", 1)
            if value in ('""', ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response.status, response.headers, text

    def xsrf(self) -> str:
        if "_xsrf" not in self.cookies:
            self.request("GET", "/login")
        return self.cookies["_xsrf"]

    def login(self, name: str, password: str, next_url: str = "/") -> tuple[int, str, str]:
        """POST the login form; ``(status, Location, page text)``."""
        form = {"_xsrf": self.xsrf(), "username": name, "password": password, "next": next_url}
        status, headers, text = self.request("POST", "/login", form)
        return status, headers.get("Location", ""), text

    def open_page(self) -> str:
        """Open the app's page; returns the id of the kernel it started."""
        status, _, text = self.request("GET", "/")
        assert status == 200, text[:300]
        return re.findall(r'"kernelId": "([0-9a-f-]{36})"', text)[0]

    def websocket(self, path: str) -> str:
        """The status line answering a websocket upgrade of ``path``."""
        with socket.create_connection((self.host, self.port), timeout=60) as sock:
            lines = [
                f"GET {path} HTTP/1.1",
                f"Host: {self.host}:{self.port}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
                "Sec-WebSocket-Version: 13",
                f"Origin: http://{self.host}:{self.port}",
            ]
            if self.cookies:
                lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            return sock.recv(4096).decode("latin-1").split("\r\n")[0]


def signed_in(app: RunningApp) -> Client:
    client = Client(app)
    status, location, text = client.login(PLATFORM_USER, PLATFORM_PASSWORD)
    assert (status, location) == (302, "/"), text[:500]
    return client


def test_without_a_session_every_route_is_refused_or_sent_to_login(platform_app) -> None:
    anonymous = Client(platform_app)
    for path in ("/", "/api/kernels", "/cwdx/download/1/结果.xlsx", "/voila/files/x.txt"):
        status, headers, _ = anonymous.request("GET", urllib.parse.quote(path))
        assert status == 302, path
        location = headers["Location"]
        assert location.startswith("/login?next="), (path, location)
        assert urllib.parse.unquote(location.split("next=")[1]) == urllib.parse.quote(path)
    for method, path in (
        ("GET", f"/api/kernels/{NO_KERNEL}"),
        ("DELETE", f"/api/kernels/{NO_KERNEL}"),
        ("POST", f"/voila/api/shutdown/{NO_KERNEL}"),
    ):
        status, _, text = anonymous.request(method, path)
        assert status == 403, (method, path, text)
    assert anonymous.websocket(f"/api/kernels/{NO_KERNEL}/channels") == "HTTP/1.1 403 Forbidden"
    # a signed-in user's page kernel cannot be reached without the session either
    kernel = signed_in(platform_app).open_page()
    assert anonymous.websocket(f"/api/kernels/{kernel}/channels") == "HTTP/1.1 403 Forbidden"
    assert anonymous.websocket(f"/voila/query/{kernel}") == "HTTP/1.1 403 Forbidden"
    status, _, text = anonymous.request("GET", f"/api/kernels/{kernel}")
    assert status == 403 and "尚未登录或登录已过期，请刷新页面重新登录。" in text
    # the login page and static assets need no session
    status, _, text = anonymous.request("GET", "/login")
    assert status == 200
    assert all(word in text for word in ('<label for="username">用户名', "密码", ">登录</button>"))
    status, _, _ = anonymous.request("GET", "/voila/static/voila.js")
    assert status == 200


def test_five_wrong_passwords_lock_the_name_for_five_minutes(platform_app) -> None:
    Workspace(platform_app.workspace).add_account("wang", "wang-password")
    client = Client(platform_app)
    for _ in range(4):
        status, _, text = client.login("wang", "not-the-password")
        assert status == 401 and WRONG in text
        assert 'value="wang"' in text  # the name stays typed in
    locked = (
        "用户“wang”连续 5 次登录失败，已被锁定 5 分钟；请在 5 分钟后重试，"
        "忘记密码请联系系统管理员重设。"
    )
    status, _, text = client.login("wang", "not-the-password")
    assert status == 429 and locked in text
    status, _, text = client.login("wang", "wang-password")  # the right one, while locked
    assert status == 429 and locked in text and "cwdx-session" not in client.cookies
    log = (platform_app.workspace / "logs" / "cwdx.log").read_text(encoding="utf-8")
    assert "用户 wang 连续 5 次登录失败，锁定 300 秒" in log
    assert "已锁定的用户 wang 尝试登录，被拒绝" in log
    for secret in ("not-the-password", "wang-password", PLATFORM_PASSWORD):
        for path in (platform_app.workspace / "logs").iterdir():
            assert secret not in path.read_text(encoding="utf-8", errors="replace")
        assert secret not in platform_app.server_log()


def test_login_sets_a_strict_httponly_session_cookie_and_opens_the_page(platform_app) -> None:
    client = Client(platform_app)
    status, _, _ = client.request("GET", "/")
    assert status == 302
    status, location, _ = client.login(PLATFORM_USER, PLATFORM_PASSWORD, next_url="/?a=1")
    assert (status, location) == (302, "/?a=1")
    (cookie,) = [c for c in client.set_cookies if c.startswith("cwdx-session=")]
    flags = [part.strip() for part in cookie.split(";")[1:]]
    assert sorted(flags) == ["HttpOnly", "Path=/", "SameSite=Strict"]  # no expiry date
    assert client.login(PLATFORM_USER, PLATFORM_PASSWORD, "//evil.example/")[1] == "/"
    client.open_page()
    assert f"用户 {PLATFORM_USER} 登录" in (platform_app.workspace / "logs" / "cwdx.log").read_text(
        encoding="utf-8"
    )


def test_a_page_kernel_belongs_to_the_session_that_opened_it(platform_app) -> None:
    first, second = signed_in(platform_app), signed_in(platform_app)  # same user, two browsers
    kernel = first.open_page()
    channels = f"/api/kernels/{kernel}/channels?session_id=x"
    assert first.websocket(channels) == "HTTP/1.1 101 Switching Protocols"
    assert second.websocket(channels) == "HTTP/1.1 403 Forbidden"
    # Voilà's request info of a preheated kernel: nobody else's either
    assert second.websocket(f"/voila/query/{kernel}") == "HTTP/1.1 403 Forbidden"
    other = "这个页面属于另一个登录会话，不能从这里使用；请刷新页面。"
    status, _, text = second.request("GET", f"/api/kernels/{kernel}")
    assert status == 403 and other in text
    form = {"_xsrf": second.xsrf()}
    status, _, text = second.request("POST", f"/voila/api/shutdown/{kernel}", form)
    assert status == 403 and other in text
    status, _, text = second.request("DELETE", f"/api/kernels/{kernel}", X_XSRFToken=form["_xsrf"])
    assert status == 403
    status, _, text = first.request("GET", f"/api/kernels/{kernel}")
    assert status == 200 and f'"id": "{kernel}"' in text


def test_logout_ends_the_session_and_its_pages(platform_app) -> None:
    client = signed_in(platform_app)
    kernel = client.open_page()
    status, _, text = client.request("GET", "/logout")
    assert status == 200 and 'class="cwdx-logout-button">退出登录</button>' in text
    status, _, _ = client.request("POST", "/logout", {})  # without the _xsrf token
    assert status == 403
    old_cookie = client.cookies["cwdx-session"]
    status, _, text = client.request("POST", "/logout", {"_xsrf": client.xsrf()})
    assert status == 200 and "已退出登录。" in text and ">登录</button>" in text
    assert "cwdx-session" not in client.cookies
    assert any(c.startswith('cwdx-session="";') for c in client.set_cookies)
    client.cookies["cwdx-session"] = old_cookie  # the old cookie is worth nothing now
    status, headers, _ = client.request("GET", "/")
    assert (status, headers["Location"]) == (302, "/login?next=%2F")
    assert client.websocket(f"/api/kernels/{kernel}/channels") == "HTTP/1.1 403 Forbidden"
    log = (platform_app.workspace / "logs" / "cwdx.log").read_text(encoding="utf-8")
    assert f"用户 {PLATFORM_USER} 退出登录" in log


def test_downloads_need_a_session_and_a_plain_file_name(platform_app) -> None:
    folder = platform_app.workspace / "downloads" / "7"
    folder.mkdir(parents=True, exist_ok=True)
    content = b"PK\x03\x04 workbook bytes"
    (folder / "全部机构计算结果.xlsx").write_bytes(content)
    (platform_app.workspace / "downloads" / "secret.txt").write_text("outside", encoding="utf-8")
    (folder / "link.txt").symlink_to(platform_app.workspace / "cwdx.sqlite")
    path = download_url(7, "全部机构计算结果.xlsx")
    anonymous = Client(platform_app)
    assert anonymous.request("GET", path)[0] == 302
    client = signed_in(platform_app)
    status, headers, _ = client.request("GET", path)
    assert status == 200
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"________.xlsx\"; filename*=UTF-8''"
        + urllib.parse.quote("全部机构计算结果.xlsx")
    )
    assert headers["Content-Length"] == str(len(content))
    missing = "要下载的文件不存在或已被删除，请回到页面重新生成下载。"
    for bad in (
        "/cwdx/download/7/..%2Fsecret.txt",
        "/cwdx/download/7/..%2F..%2Fcwdx.sqlite",
        "/cwdx/download/7/%2E%2E",
        "/cwdx/download/7/link.txt",
        "/cwdx/download/8/" + urllib.parse.quote("全部机构计算结果.xlsx"),
        "/cwdx/download/7/none.xlsx",
    ):
        status, _, text = client.request("GET", bad)
        assert status == 404 and missing in text, bad


def test_login_in_chromium(platform_app, page) -> None:
    page.goto(platform_app.url)
    assert "/login?next=" in page.url
    page.get_by_label("用户名").fill(PLATFORM_USER)
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    page.get_by_text(WRONG).wait_for()
    page.get_by_label("密码").fill(PLATFORM_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_text("退出登录").first.wait_for(timeout=120_000)
    assert "/login" not in page.url
    assert "平台版" in page.content()
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "cwdx-session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] == -1
    assert page.evaluate("document.cookie").find("cwdx-session") == -1  # not for scripts
    page.goto(platform_app.url + "logout")
    page.get_by_role("button", name="退出登录").click()
    page.get_by_text("已退出登录。").wait_for()
    page.goto(platform_app.url)
    assert "/login?next=" in page.url
