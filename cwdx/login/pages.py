"""The pages and names of the 平台版's login: the Chinese login and logout pages
(self-contained: inline style, no scripts, no outside assets), the checks of a ``next`` address
and of a download's file name, and a download's ``Content-Disposition``."""

from __future__ import annotations

import html
import urllib.parse

from cwdx.page_kernel import DOWNLOAD_PREFIX, download_url

__all__ = ["DOWNLOAD_PREFIX", "download_url"]  # shared with the page's kernel


WRONG_LOGIN_TEXT = "用户名或密码不正确，请重新输入。"
NOT_FOUND_DOWNLOAD_TEXT = "要下载的文件不存在或已被删除，请回到页面重新生成下载。"
NO_SESSION_TEXT = "尚未登录或登录已过期，请刷新页面重新登录。"
OTHER_SESSION_TEXT = "这个页面属于另一个登录会话，不能从这里使用；请刷新页面。"


_PAGE_STYLE = (
    "body{font-family:'Microsoft YaHei','WenQuanYi Micro Hei','PingFang SC',sans-serif;"
    "background:#f3f5f8;margin:0}"
    ".box{max-width:360px;margin:12vh auto;background:#fff;border-radius:8px;padding:32px;"
    "box-shadow:0 2px 12px rgba(0,0,0,.12)}"
    "h1{font-size:22px;margin:0 0 24px;text-align:center;color:#1f3b63}"
    "label{display:block;font-size:15px;margin:14px 0 6px}"
    "input[type=text],input[type=password]{width:100%;box-sizing:border-box;font-size:16px;"
    "padding:8px 10px;border:1px solid #b8c2cc;border-radius:4px}"
    "button{width:100%;margin-top:24px;padding:10px;font-size:16px;color:#fff;"
    "background:#1976d2;border:0;border-radius:4px;cursor:pointer}"
    ".message{color:#c62828;font-size:14px;margin:0 0 8px}.note{color:#2e7d32;font-size:14px}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style></head>"
        f'<body><div class="box">{body}</div></body></html>\n'
    )


def login_page(xsrf_html: str, next_url: str, name: str = "", message: str = "") -> str:
    """The Chinese login page (a form posting 用户名 ``username`` and 密码 ``password``)."""
    error = f'<p class="message" role="alert">{html.escape(message)}</p>' if message else ""
    return _page(
        "登录 - cwdx 平台版",
        "<h1>cwdx 平台版 登录</h1>"
        f'{error}<form method="post" action="/login" class="cwdx-login">{xsrf_html}'
        f'<input type="hidden" name="next" value="{html.escape(next_url)}">'
        '<label for="username">用户名</label>'
        '<input type="text" id="username" name="username" autocomplete="username" required '
        f'autofocus value="{html.escape(name)}">'
        '<label for="password">密码</label>'
        '<input type="password" id="password" name="password" '
        'autocomplete="current-password" required>'
        '<button type="submit" class="cwdx-login-button">登录</button></form>',
    )


def logout_page(xsrf_html: str, name: str) -> str:
    """The confirmation of 退出登录 (a form posting to ``/logout``)."""
    return _page(
        "退出登录 - cwdx 平台版",
        f"<h1>退出登录</h1><p>当前用户：{html.escape(name)}</p>"
        f'<form method="post" action="/logout">{xsrf_html}'
        '<button type="submit" class="cwdx-logout-button">退出登录</button></form>'
        '<p style="text-align:center"><a href="/">返回平台版</a></p>',
    )


def safe_next(url: str | None) -> str:
    """``url`` if it is a path of this server (``/…``, not ``//host``), else ``/``."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


def safe_file_name(name: str) -> bool:
    """Whether ``name`` is a plain file name (no folder part, no hidden or special name)."""
    return (
        bool(name)
        and name not in (".", "..")
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
        and len(name) <= 255
    )


def attachment_header(name: str) -> str:
    """``Content-Disposition`` of a download named ``name`` (RFC 6266, UTF-8 name)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in name)
    quoted = urllib.parse.quote(name, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quoted}"
