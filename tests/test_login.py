"""The 平台版's login, piece by piece: sessions and their idle expiry, the lockout, the session
cookie's flags, the pages and the download names (the real server: tests/browser/
test_platform_login.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from unittest import mock

import pytest
from tornado import httputil, web

from cwdx.login import IDLE_SECONDS, LOCK_SECONDS, CwdxIdentityProvider, LoginLimiter, SessionStore
from cwdx.login.pages import (
    attachment_header,
    download_url,
    login_page,
    safe_file_name,
    safe_next,
)
from cwdx.workspace import Workspace


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_after_8_hours_idle_and_requests_keep_it_alive() -> None:
    clock = Clock()
    store = SessionStore(clock=clock)
    session = store.create("张三", "stamp")
    assert IDLE_SECONDS == 8 * 3600
    clock.now += IDLE_SECONDS - 1
    assert store.get(session.id) is session
    store.touch(session)
    clock.now += IDLE_SECONDS - 1
    assert store.get(session.id) is session  # 16 hours after sign-in, but never 8 idle
    clock.now += 2
    assert store.get(session.id) is None
    assert len(store) == 0
    other = store.create("张三", "stamp")
    assert other.id != session.id and len(other.id) >= 40
    assert store.end(other.id) is other and store.get(other.id) is None


def test_five_failures_lock_a_name_for_five_minutes() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    assert [limiter.failed("li") for _ in range(4)] == [False] * 4
    assert limiter.locked_for("li") == 0
    assert limiter.failed("li") is True
    assert limiter.locked_for("li") == LOCK_SECONDS == 300
    assert limiter.locked_for("wang") == 0  # other names are not locked
    clock.now += 299
    assert limiter.locked_for("li") == 1
    clock.now += 1
    assert limiter.locked_for("li") == 0
    assert limiter.failed("li") is False  # counting starts again
    limiter.succeeded("li")
    assert [limiter.failed("li") for _ in range(4)] == [False] * 4


def _handler(app: web.Application, cookie: str = "") -> web.RequestHandler:
    headers = httputil.HTTPHeaders({"Host": "127.0.0.1:8867"})
    if cookie:
        headers["Cookie"] = cookie
    request = httputil.HTTPServerRequest(
        headers=headers,
        connection=mock.Mock(),
        start_line=httputil.RequestStartLine("GET", "/", "HTTP/1.1"),
    )
    return web.RequestHandler(app, request)


@pytest.fixture
def provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CwdxIdentityProvider:
    ws = Workspace(tmp_path / "ws")
    ws.add_account("张三", "password-1")
    ws.add_account("li", "password-2")
    monkeypatch.setenv("CWDX_WORKSPACE", str(ws.path))
    return CwdxIdentityProvider()


def _cookie_of(handler: web.RequestHandler) -> str:
    header = handler._new_cookie["cwdx-session"].OutputString()  # type: ignore[attr-defined]
    return header


def test_the_session_cookie_is_httponly_strict_and_has_no_expiry(
    provider: CwdxIdentityProvider,
) -> None:
    app = web.Application(cookie_secret="s" * 32)
    session, message = asyncio.run(provider.authenticate("张三", "password-1"))
    assert session is not None and message == ""
    handler = _handler(app)
    provider.set_session_cookie(handler, session)
    header = _cookie_of(handler)
    parts = [p.strip() for p in header.split(";")]
    assert "HttpOnly" in parts and "SameSite=Strict" in parts and "Path=/" in parts
    assert not any(p.lower().startswith(("expires", "max-age")) for p in parts)
    assert "Secure" not in parts  # plain http on 127.0.0.1; https adds it
    value = header.split(";")[0].split("=", 1)[1].strip('"')
    assert value.startswith("2|") and value != session.id  # signed with the cookie secret
    # the cookie brings the session back; a forged one does not
    user = provider.get_user(_handler(app, f"cwdx-session={value}"))
    assert user is not None and user.username == "张三"
    assert provider.get_user(_handler(app, f"cwdx-session={session.id}")) is None
    assert provider.get_user(_handler(app)) is None
    assert "session" not in provider.identity_model(user)


def test_a_new_password_or_disabling_ends_the_sessions(
    provider: CwdxIdentityProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cwdx.login.provider._ACCOUNT_TTL", 0.0)
    app = web.Application(cookie_secret="s" * 32)

    def signed_in(name: str, password: str) -> str:
        session, _ = asyncio.run(provider.authenticate(name, password))
        assert session is not None
        handler = _handler(app)
        provider.set_session_cookie(handler, session)
        return _cookie_of(handler).split(";")[0]

    cookie = signed_in("张三", "password-1")
    assert provider.get_user(_handler(app, cookie)) is not None
    provider.workspace().set_password("张三", "password-9")
    assert provider.get_user(_handler(app, cookie)) is None
    cookie = signed_in("li", "password-2")
    provider.workspace().disable_account("li")
    assert provider.get_user(_handler(app, cookie)) is None
    session, message = asyncio.run(provider.authenticate("li", "password-2"))
    assert session is None and message == "用户“li”已停用，请联系系统管理员。"


def test_authenticate_locks_a_name_after_five_wrong_passwords(
    provider: CwdxIdentityProvider,
) -> None:
    clock = Clock()
    provider.limiter = LoginLimiter(clock=clock)
    messages = [asyncio.run(provider.authenticate("张三", "wrong-pass"))[1] for _ in range(5)]
    assert messages[:4] == ["用户名或密码不正确，请重新输入。"] * 4
    locked = (
        "用户“张三”连续 5 次登录失败，已被锁定 5 分钟；请在 5 分钟后重试，"
        "忘记密码请联系系统管理员重设。"
    )
    assert messages[4] == locked
    # the right password is refused while locked
    session, message = asyncio.run(provider.authenticate("张三", "password-1"))
    assert session is None and message == locked
    clock.now += LOCK_SECONDS
    session, message = asyncio.run(provider.authenticate("张三", "password-1"))
    assert session is not None and message == ""
    # an unknown name gets the same answer as a wrong password, and is counted too
    assert (
        asyncio.run(provider.authenticate("nobody", "x"))[1] == "用户名或密码不正确，请重新输入。"
    )


def test_login_page_is_chinese_and_self_contained() -> None:
    page = login_page('<input type="hidden" name="_xsrf" value="T"/>', "/x", "a<b", "错误")
    for text in ("用户名", "密码", ">登录</button>", 'name="_xsrf"', 'value="/x"', "a&lt;b"):
        assert text in page
    assert "<script" not in page and "http://" not in page and "https://" not in page


@pytest.mark.parametrize(
    ("url", "safe"),
    [("/", "/"), ("/?a=1", "/?a=1"), ("//evil.example/", "/"), ("http://evil/", "/"),
     ("/\\evil", "/"), (None, "/")],
)  # fmt: skip
def test_next_stays_on_this_server(url: str | None, safe: str) -> None:
    assert safe_next(url) == safe


@pytest.mark.parametrize(
    ("name", "ok"),
    [("全部机构计算结果.xlsx", True), ("a.zip", True), ("..", False), (".", False),
     ("../cwdx.sqlite", False), ("a/b.xlsx", False), ("a\\b.xlsx", False), (".hidden", False),
     ("", False), ("a\x00b", False), ("x" * 256, False)],
)  # fmt: skip
def test_download_names_are_plain_file_names(name: str, ok: bool) -> None:
    assert safe_file_name(name) is ok


def test_attachment_header_names_the_file_in_utf8() -> None:
    assert attachment_header("计算结果 1.xlsx") == (
        'attachment; filename="____ 1.xlsx"; '
        "filename*=UTF-8''%E8%AE%A1%E7%AE%97%E7%BB%93%E6%9E%9C%201.xlsx"
    )
    assert attachment_header('a";b.zip').startswith('attachment; filename="a__b.zip"')


def test_download_url_quotes_the_file_name() -> None:
    assert download_url(7, "全部 结果/1.xlsx") == (
        "/cwdx/download/7/%E5%85%A8%E9%83%A8%20%E7%BB%93%E6%9E%9C%2F1.xlsx"
    )
