"""The 平台版's ``IdentityProvider`` and its routes (see :mod:`cwdx.login`)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import mimetypes
import os
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web
from tornado.websocket import WebSocketHandler
from traitlets import Unicode

from cwdx.app import WORKSPACE_ENV
from cwdx.log import get_logger
from cwdx.login.pages import (
    DOWNLOAD_PREFIX,
    NO_SESSION_TEXT,
    NOT_FOUND_DOWNLOAD_TEXT,
    OTHER_SESSION_TEXT,
    WRONG_LOGIN_TEXT,
    attachment_header,
    login_page,
    logout_page,
    safe_file_name,
    safe_next,
)
from cwdx.login.sessions import (
    LOCK_SECONDS,
    MAX_FAILURES,
    LoginLimiter,
    Session,
    SessionStore,
    locked_text,
)
from cwdx.workspace.accounts import AccountRecord

log = get_logger("login")

#: The session cookie's name.
SESSION_COOKIE = "cwdx-session"
#: Folder (in the workspace) of the files export tasks write, one subfolder per task id.
DOWNLOADS_DIR = "downloads"

#: Seconds an account read from the workspace is trusted before it is read again.
_ACCOUNT_TTL = 2.0
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class Refusal(web.HTTPError):
    """An HTTP error whose Chinese advice the cwdx guard shows (``cwdx_advice``)."""

    def __init__(self, status: int, advice: str, reason: str) -> None:
        super().__init__(status, reason)
        self.cwdx_advice = advice


@dataclass
class CwdxUser(User):
    """The signed-in user of a request, with the id of its session."""

    session: str = ""


#: The session of the page request being served (read where the page's kernel starts).
_PAGE_SESSION: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "cwdx_page_session", default=None
)


class CwdxIdentityProvider(IdentityProvider):
    """Accounts of the workspace, server-side sessions, lockout, kernel ownership."""

    cookie_name = Unicode(SESSION_COOKIE, config=True, help="会话 Cookie 的名称")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("login_handler_class", None)  # Voilà passes its own; ours is fixed
        kwargs["token"] = ""  # no token login: only accounts
        super().__init__(**kwargs)
        self.login_handler_class = LoginHandler
        self.logout_handler_class = LogoutHandler
        self.sessions = SessionStore()
        self.limiter = LoginLimiter()
        #: kernel id -> id of the session whose page started it
        self.kernel_owners: dict[str, str] = {}
        self._workspace: Any = None
        self._accounts: dict[str, tuple[float, AccountRecord | None]] = {}

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return True

    @property
    def logout_available(self) -> bool:
        return True

    def get_handlers(self) -> list[tuple[str, object]]:
        return [
            (r"/login", LoginHandler),
            (r"/logout", LogoutHandler),
            (DOWNLOAD_PREFIX + r"([0-9]+)/([^/]+)", DownloadHandler),
        ]

    # -- accounts -----------------------------------------------------------------------
    def workspace(self) -> Any:
        """The workspace of the app (``CWDX_WORKSPACE``), opened once."""
        if self._workspace is None:
            from cwdx.workspace import Workspace

            self._workspace = Workspace(os.environ[WORKSPACE_ENV], create=False)
        return self._workspace

    def account(self, name: str) -> AccountRecord | None:
        """The account ``name`` as stored (re-read at most every :data:`_ACCOUNT_TTL` s)."""
        now = time.monotonic()
        cached = self._accounts.get(name)
        if cached is not None and now - cached[0] < _ACCOUNT_TTL:
            return cached[1]
        account: AccountRecord | None = self.workspace().account(name)
        if len(self._accounts) > 1000:
            self._accounts.clear()
        self._accounts[name] = (now, account)
        return account

    async def authenticate(self, name: str, password: str) -> tuple[Session | None, str]:
        """Check a login; ``(session, "")`` on success, else ``(None, Chinese refusal)``."""
        left = self.limiter.locked_for(name)
        if left > 0:
            log.warning("已锁定的用户 %s 尝试登录，被拒绝", name)
            return None, locked_text(name, left)
        self._accounts.pop(name, None)
        account = self.account(name) if name else None
        matches = False
        if account is None:
            from cwdx.workspace.accounts import dummy_verify

            await asyncio.to_thread(dummy_verify, password)
        else:
            from cwdx.workspace.accounts import password_matches

            matches = await asyncio.to_thread(password_matches, account.password_hash, password)
        if account is None or not matches:
            if self.limiter.failed(name):
                log.warning(
                    "用户 %s 连续 %d 次登录失败，锁定 %d 秒", name, MAX_FAILURES, LOCK_SECONDS
                )
                return None, locked_text(name, LOCK_SECONDS)
            log.info("用户 %s 登录失败（用户名或密码不正确）", name)
            return None, WRONG_LOGIN_TEXT
        if account.disabled:
            log.info("已停用的用户 %s 尝试登录，被拒绝", name)
            return None, f"用户“{name}”已停用，请联系系统管理员。"
        self.limiter.succeeded(name)
        session = self.sessions.create(name, account.changed)
        log.info("用户 %s 登录（当前共 %d 个会话）", name, len(self.sessions))
        return session, ""

    # -- sessions -----------------------------------------------------------------------
    def session_of(self, handler: web.RequestHandler) -> Session | None:
        """The live session of ``handler``'s request (its cookie), or ``None``."""
        if hasattr(handler, "_cwdx_session"):
            cached: Session | None = handler._cwdx_session
            return cached
        session = None
        raw = handler.get_signed_cookie(self.cookie_name)
        if raw:
            session = self.sessions.get(raw.decode("ascii", "replace"))
        if session is not None:
            account = self.account(session.name)
            if account is None or account.disabled or account.changed != session.changed:
                self.sessions.end(session.id)
                log.info("用户 %s 的账户已停用或改了密码，会话已结束", session.name)
                session = None
            else:
                self.sessions.touch(session)
        handler._cwdx_session = session  # type: ignore[attr-defined]
        return session

    def get_user(self, handler: web.RequestHandler) -> User | None:
        session = self.session_of(handler)
        if session is None:
            return None
        return CwdxUser(session.name, session.name, session.name, session=session.id)

    def get_user_token(self, handler: web.RequestHandler) -> User | None:  # type: ignore[override]
        return None  # accounts only

    def identity_model(self, user: User) -> dict[str, Any]:
        model = super().identity_model(user)
        model.pop("session", None)  # the session id stays in its HttpOnly cookie
        return model

    def set_session_cookie(self, handler: web.RequestHandler, session: Session) -> None:
        """Give the browser ``session``'s cookie: HttpOnly, SameSite=Strict, no expiry date
        (the server ends it after :data:`IDLE_SECONDS` idle); Secure under https."""
        handler.set_signed_cookie(
            self.cookie_name,
            session.id,
            expires_days=None,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=handler.request.protocol == "https",
        )

    def clear_session_cookie(self, handler: web.RequestHandler) -> None:
        """Remove the session cookie from the browser."""
        handler.clear_cookie(self.cookie_name, path="/", httponly=True, samesite="Strict")

    async def end_session(self, handler: JupyterHandler, session: Session) -> None:
        """Sign ``session`` out and shut down the kernels of its pages."""
        self.sessions.end(session.id)
        for kernel_id in [k for k, s in self.kernel_owners.items() if s == session.id]:
            with contextlib.suppress(KeyError, web.HTTPError):  # already gone
                await ensure_async(handler.kernel_manager.shutdown_kernel(kernel_id))
            self.forget_kernel(kernel_id)
        log.info("用户 %s 退出登录", session.name)

    # -- every request ------------------------------------------------------------------
    def check_request(self, handler: web.RequestHandler) -> None:
        """Let ``handler``'s request through only with a session (except the login and logout
        pages and static assets), and a kernel's routes only to the session owning it.

        Without a session a page request is redirected to the login page (``?next=``);
        API, websocket and non-GET requests get 403."""
        if isinstance(handler, LoginHandler | LogoutHandler) or _is_static(handler):
            return
        session = self.session_of(handler)
        if session is None:
            self._refuse(handler)
            return
        kernel_ids = [
            value
            for value in (*handler.path_args, *handler.path_kwargs.values())
            if isinstance(value, str) and _UUID.fullmatch(value)
        ]
        for kernel_id in kernel_ids:
            if self.kernel_owners.get(kernel_id) != session.id:
                log.warning("用户 %s 试图使用不属于其会话的页面内核，被拒绝", session.name)
                raise Refusal(403, OTHER_SESSION_TEXT, "内核不属于这个会话")
        if isinstance(handler, WebSocketHandler):
            self._touch_on_messages(handler, session)
        elif isinstance(handler, JupyterHandler):
            _PAGE_SESSION.set(session)

    def _refuse(self, handler: web.RequestHandler) -> None:
        if (
            isinstance(handler, WebSocketHandler | APIHandler)
            or handler.request.method not in ("GET", "HEAD")
            or handler.request.headers.get("Upgrade", "").lower() == "websocket"
        ):
            raise Refusal(403, NO_SESSION_TEXT, "没有登录")
        handler.redirect("/login?" + urllib.parse.urlencode({"next": handler.request.uri}))

    def _touch_on_messages(self, handler: WebSocketHandler, session: Session) -> None:
        on_message = handler.on_message

        def touched(message: str | bytes) -> Any:
            self.sessions.touch(session)
            return on_message(message)

        handler.on_message = touched  # type: ignore[method-assign]

    # -- the kernels of pages (called by cwdx.serve_pages.PageKernels) --------------------
    def page_user(self) -> str:
        """The signed-in user of the page request being served: its session's name (never
        anything the browser sent); refuses a request without a session."""
        return self._page_session().name

    def own_kernel(self, kernel_id: str) -> None:
        """Record that ``kernel_id`` (started for, or handed to, the page request being served)
        belongs to that request's session: only it may use the kernel's routes."""
        self.kernel_owners.setdefault(kernel_id, self._page_session().id)

    def forget_kernel(self, kernel_id: str) -> None:
        """``kernel_id`` has shut down."""
        self.kernel_owners.pop(kernel_id, None)

    def _page_session(self) -> Session:
        session = _PAGE_SESSION.get()
        if session is None:
            raise Refusal(403, NO_SESSION_TEXT, "没有登录")
        return session


def _is_static(handler: web.RequestHandler) -> bool:
    """Static assets (scripts, styles, fonts, icons) are served without a session; files
    (Voilà's ``/voila/files/``) are not."""
    from voila.static_file_handler import AllowListFileHandler

    return isinstance(handler, web.StaticFileHandler) and not isinstance(
        handler, AllowListFileHandler
    )


def _provider(handler: web.RequestHandler) -> CwdxIdentityProvider:
    provider = handler.settings["identity_provider"]
    assert isinstance(provider, CwdxIdentityProvider)
    return provider


class LoginHandler(JupyterHandler):
    """``/login``: the Chinese login page and its form."""

    def _render(self, status: int = 200, name: str = "", message: str = "") -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        next_url = safe_next(self.get_argument("next", "/"))
        self.finish(login_page(self.xsrf_form_html(), next_url, name, message))

    @allow_unauthenticated
    def get(self) -> None:
        """The login page (a signed-in user goes on to the page)."""
        if _provider(self).session_of(self) is not None:
            self.redirect(safe_next(self.get_argument("next", "/")))
            return
        self._render()

    @allow_unauthenticated
    async def post(self) -> None:
        """Check 用户名 and 密码; on success set the session cookie and go on."""
        name = self.get_argument("username", "").strip()[:64]
        password = self.get_argument("password", "")
        session, message = await _provider(self).authenticate(name, password)
        if session is None:
            status = 429 if "锁定" in message else 401
            self._render(status, name, message)
            return
        _provider(self).set_session_cookie(self, session)
        self.redirect(safe_next(self.get_argument("next", "/")))


class LogoutHandler(JupyterHandler):
    """``/logout``: 退出登录."""

    @allow_unauthenticated
    def get(self) -> None:
        """The confirmation form (without a session: the login page)."""
        session = _provider(self).session_of(self)
        if session is None:
            self.redirect("/login")
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(logout_page(self.xsrf_form_html(), session.name))

    @allow_unauthenticated
    async def post(self) -> None:
        """End the session (the ``_xsrf`` check ran in ``prepare``), then the login page."""
        provider = _provider(self)
        session = provider.session_of(self)
        if session is not None:
            await provider.end_session(self, session)
        provider.clear_session_cookie(self)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            login_page(self.xsrf_form_html(), "/", message="").replace(
                "<h1>cwdx 平台版 登录</h1>",
                '<h1>cwdx 平台版 登录</h1><p class="note">已退出登录。</p>',
            )
        )


class DownloadHandler(JupyterHandler):
    """``/cwdx/download/<task id>/<file name>``: a file of ``WS/downloads/<task id>/``."""

    @web.authenticated
    async def get(self, task_id: str, name: str) -> None:
        """Send the file as an attachment, or the Chinese 404."""
        name = urllib.parse.unquote(name)
        folder = Path(os.environ[WORKSPACE_ENV]) / DOWNLOADS_DIR / task_id
        path = folder / name
        if not safe_file_name(name) or not _inside(path, folder) or not path.is_file():
            raise Refusal(404, NOT_FOUND_DOWNLOAD_TEXT, "下载文件不存在")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self.set_header("Content-Type", kind)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Disposition", attachment_header(name))
        self.set_header("Content-Length", str(path.stat().st_size))
        user = self.current_user.username if self.current_user else "?"
        log.info("用户 %s 下载了任务 %s 的文件 %s", user, task_id, name)
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                self.write(chunk)
                await self.flush()
        self.finish()


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` resolves (links followed) to a file directly in ``folder``."""
    try:
        return path.resolve().parent == folder.resolve()
    except OSError:
        return False
