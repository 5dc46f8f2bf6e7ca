"""Login of the 平台版: a jupyter_server ``IdentityProvider`` handed to Voilà.

Modules: :mod:`.sessions` (sessions, lockout), :mod:`.pages` (login and logout pages, safe
names), :mod:`.provider` (the identity provider and its routes).

``cwdx app platform`` runs Voilà with ``--Voila.identity_provider_class=cwdx.login.CwdxIdentityProvider``. The provider brings
three routes of its own (:meth:`CwdxIdentityProvider.get_handlers`):

* ``/login``: the Chinese login page (用户名, 密码, 登录), self-contained (no scripts, no
  outside assets); the form carries the ``_xsrf`` token.
* ``/logout``: 退出登录. GET shows a one-button confirmation form (with ``_xsrf``); POST ends
  the session, shuts down the kernels of its pages and clears the cookie.
* ``/cwdx/download/<task id>/<file name>``: a file an export task wrote into
  ``WS/downloads/<task id>/``, as an attachment (:func:`download_url` makes the address).

Accounts live in the workspace (:mod:`cwdx.workspace.accounts`). Sessions and the failed-login
counters are kept in the server process only (a restart signs everybody out, as it also ends
every page's kernel): the session cookie holds a random session id, signed with the server's
cookie secret, HttpOnly, SameSite=Strict, without an expiry date; the server forgets a session
:data:`IDLE_SECONDS` after its last request. :data:`MAX_FAILURES` failed logins in a row for a
name lock that name for :data:`LOCK_SECONDS`.

Every request needs a session except the login and logout pages and static assets: the cwdx
guard (:class:`cwdx.serve_voila.GuardedHandler`) calls :meth:`CwdxIdentityProvider.check_request`
on every request. A page's kernel belongs to the session that opened it: the provider records
the owner when the page gets its kernel (started for it, or a preheated kernel handed to it:
:mod:`cwdx.serve_pages` asks :meth:`CwdxIdentityProvider.own_kernel`), and refuses the kernel's
websocket, REST and shutdown routes (and Voilà's ``/voila/query/<kernel id>``) to any other
session. The page's kernel learns its user's name from the session, never from the request's
headers: in the environment variable :data:`USER_ENV` of a kernel started for the page, or
passed by the server into a preheated kernel when it is handed out
(:func:`cwdx.page_kernel.request_code`); tasks the page submits are started by that name.
"""

from __future__ import annotations

from cwdx.login.provider import (
    DOWNLOADS_DIR,
    SESSION_COOKIE,
    CwdxIdentityProvider,
    DownloadHandler,
    LoginHandler,
    LogoutHandler,
)
from cwdx.login.sessions import IDLE_SECONDS, LOCK_SECONDS, MAX_FAILURES, LoginLimiter, SessionStore
from cwdx.page_kernel import USER_ENV, download_url

__all__ = [
    "DOWNLOADS_DIR",
    "IDLE_SECONDS",
    "LOCK_SECONDS",
    "MAX_FAILURES",
    "SESSION_COOKIE",
    "USER_ENV",
    "CwdxIdentityProvider",
    "DownloadHandler",
    "LoginHandler",
    "LoginLimiter",
    "LogoutHandler",
    "SessionStore",
    "download_url",
]
