"""Voilà as the cwdx apps run it: the guard every edition's server shares.

``python -m cwdx.serve_voila NOTEBOOK [Voilà options]`` (what ``cwdx app`` starts) is Voilà with
these additions, made in one place for the 机构版 and the 平台版 alike (the edition is the
``CwdxVoila.edition`` setting):

* **Host check**: a request whose ``Host`` header names anything but the served address
  (127.0.0.1, localhost, ``Voila.ip`` and ``CwdxVoila.allowed_hosts``) is refused with 403, so a
  page of another site cannot reach the app through DNS rebinding.
* **Preheated pages, kernel cap**: each opened page runs its own kernel (~130 MB). A spare
  kernel runs the app notebook before anybody asks (``VoilaConfiguration.preheat_kernel``, pool
  size 1): a request gets the rendered page at once, after the page re-read the workspace and
  took the signed-in user (:mod:`cwdx.serve_pages`). At most ``CwdxVoila.max_kernels`` pages
  live at once (plus the spare kernel); the extra tab gets a Chinese page saying to close
  other tabs.
* **Chinese error pages**: every error (404, 403, 500 …) is a short Chinese page without server
  name, version, traceback or paths; the ``Server`` header is not sent.
* **Upload limit in the page**: the largest upload the websocket accepts
  (``websocket_max_message_size``) and the Chinese refusal are handed to the page template
  (``page_config``), whose script refuses a bigger selection before anything is sent.
* **A quiet terminal**: standard output carries one Chinese line per event worth telling
  (started, once the port accepts connections; page opened; page closed; Host or cap
  refusal). Everything else the server and its kernels print (Voilà's English log, kernel
  warnings, tracebacks) goes to :data:`SERVER_LOG_NAME` in the workspace's ``logs`` folder.
* **Login (平台版)**: when the identity provider has a ``check_request`` method
  (:class:`cwdx.login.CwdxIdentityProvider`), every request passes through it right after the
  Host check: no session, no page, API, websocket or download.
* **Closing a tab frees its kernel**: the page is served with the ``_xsrf`` cookie, which the
  page's shutdown beacon (sent on ``beforeunload``) must carry to be accepted.
"""

from __future__ import annotations

import html
import ipaddress
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tornado import httputil, ioloop, web
from traitlets import Int, List, Unicode
from voila.app import Voila
from voila.handler import VoilaHandler

from cwdx.app import EDITION_TITLES, WORKSPACE_ENV
from cwdx.log import default_log_path
from cwdx.serve_pages import PageKernels, PageLogin, TooManyPages, tell

#: Host names always accepted: the loopback addresses the app is opened under.
LOOPBACK_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})

#: Bytes an upload message carries besides the files (names, types, comm envelope).
UPLOAD_MESSAGE_OVERHEAD = 1024 * 1024

#: Tornado's websocket message limit when ``websocket_max_message_size`` is not set.
TORNADO_DEFAULT_MESSAGE_SIZE = 10 * 1024 * 1024

#: The Chinese title and advice of each error status (others get the 500 wording).
ERROR_TEXTS: dict[int, tuple[str, str]] = {
    400: ("请求无效", "请从首页重新打开本系统。"),
    403: ("无权访问", "没有权限访问这个地址，请从首页重新打开本系统。"),
    404: ("页面不存在", "请检查地址，或从首页重新打开本系统。"),
    405: ("不支持的操作", "请从首页重新打开本系统。"),
    500: ("系统内部错误", "请刷新页面重试；如果问题依旧，请联系系统管理员。"),
    503: ("系统繁忙", "请稍后刷新页面重试。"),
}


#: What a request under a foreign ``Host`` gets (e.g. a DNS-rebinding page).
HOST_REFUSED_TEXT = "请在本机浏览器中用启动时显示的地址（例如 http://127.0.0.1:端口/）打开本系统。"


#: The file (in the workspace's ``logs`` folder) that takes what the server process and its
#: kernels write on standard error.
SERVER_LOG_NAME = "app-server.log"

#: Size at which the server log is moved aside (to ``app-server.log.1``) when the app starts.
SERVER_LOG_MAX_BYTES = 5 * 1024 * 1024


def server_log_path(workspace: str) -> Path:
    """Where the server's own output goes: ``WORKSPACE/logs/app-server.log``, or beside the
    default log file (:func:`cwdx.log.default_log_path`) without a workspace."""
    folder = Path(workspace) / "logs" if workspace else default_log_path().parent
    return folder / SERVER_LOG_NAME


def redirect_stderr(path: Path) -> None:
    """Send file descriptor 2 of this process (inherited by the kernels it starts) to
    ``path`` (appended; a file over :data:`SERVER_LOG_MAX_BYTES` is moved aside first).

    When the file cannot be opened, standard error is left as it is."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > SERVER_LOG_MAX_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return
    sys.stderr.flush()
    os.dup2(descriptor, 2)
    os.close(descriptor)


def started_lines(edition: str, url: str, workspace: str, log_path: Path) -> list[str]:
    """What the terminal shows once the app accepts connections."""
    return [
        f"cwdx {EDITION_TITLES.get(edition, edition)}已启动：{url}",
        f"工作区：{workspace}" if workspace else "",
        f"运行记录：{log_path}",
        "请用浏览器打开上面的地址；按 Ctrl+C 停止。",
    ]


def too_many_pages_text(max_kernels: int) -> str:
    """What the tab beyond the kernel cap shows."""
    return f"已打开的页面过多（最多 {max_kernels} 个），请关闭其他标签页后刷新本页。"


def upload_refusal_text(edition: str, workspace: str, limit_mb: int) -> str:
    """The Chinese refusal of an upload over the limit; ``{size}`` is filled in by the page
    with the selection's size in MB."""
    command = f'cwdx -w "{workspace}" import cases 文件.xlsx' if workspace else ""
    command = command or "cwdx -w 工作区文件夹 import cases 文件.xlsx"
    text = (
        f"所选文件共 {{size}} MB，超过了网页上传的上限 {limit_mb} MB，没有上传。"
        f"请改用命令行导入：{command}（申报人员表把 cases 换成 staff）"
    )
    if edition == "platform":
        inbox = os.path.join(workspace, "inbox") if workspace else "工作区的 inbox 文件夹"
        text += f"，或把文件放进 {inbox}，再在页面上从收件箱导入"
    return text + "。"


def host_allowed(host_header: str, allowed: Iterable[str]) -> bool:
    """Whether ``host_header`` (``name[:port]``) names one of the ``allowed`` hosts."""
    name, _port = httputil.split_host_and_port(host_header.strip().lower())
    name = name.rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    names = {a.strip().lower().strip("[]") for a in allowed}
    if name in names:
        return True
    try:  # 127.0.0.2, 0:0:0:0:0:0:0:1 … are loopback too, but only when loopback is served
        return ipaddress.ip_address(name).is_loopback and bool(names & LOOPBACK_HOSTS)
    except ValueError:
        return False


def served_host(ip: str) -> str:
    """The host name of the address printed for ``Voila.ip`` (127.0.0.1 for loopback or all
    interfaces; IPv6 in brackets)."""
    if not ip or ip in ("0.0.0.0", "::") or ip in LOOPBACK_HOSTS:
        return "127.0.0.1"
    return f"[{ip}]" if ":" in ip else ip


def error_page(title: str, message: str) -> str:
    """A self-contained Chinese error page (no scripts, no server details)."""
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family: sans-serif; margin: 3em;">'
        f'<h1 style="font-size: 22px;">{html.escape(title)}</h1>'
        f'<p style="font-size: 16px;">{html.escape(message)}</p></body></html>\n'
    )


class HostRefused(web.HTTPError):
    """Refusal of a request whose ``Host`` is not the served address."""

    def __init__(self, host: str) -> None:
        super().__init__(403, "拒绝了 Host 为 %r 的请求", host)


class GuardedHandler(web.RequestHandler):
    """Mixed in front of every handler of the app: Host check, Chinese errors, no ``Server``.

    The allowed hosts are the application setting ``cwdx_allowed_hosts``."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.clear_header("Server")

    async def prepare(self) -> None:
        if not host_allowed(self.request.host, self.settings.get("cwdx_allowed_hosts", ())):
            tell(f"拒绝了一个不是从本机地址打开的请求（Host：{self.request.host[:80]}）。")
            raise HostRefused(self.request.host)  # tornado logs it: 403 GET /… (ip): 拒绝了…
        # the 平台版's login (cwdx.login): every route but login and static assets needs a
        # session (else the login page, or 403 with a Chinese reason), a kernel's routes the
        # session owning it
        check_request = getattr(self.settings.get("identity_provider"), "check_request", None)
        if check_request is not None:
            check_request(self)
            if self._finished:  # redirected to the login page
                return
        prepared = super().prepare()  # jupyter_server's is async: it sets the current user
        if prepared is not None:
            await prepared
        if self._finished:
            return
        if isinstance(self, VoilaHandler):
            # the page's shutdown beacon sends this cookie; without it the kernel of a closed
            # tab is refused shutdown ("'_xsrf' argument missing") and lives until culled
            self.xsrf_token  # noqa: B018 - reading it sets the cookie

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        title, advice = ERROR_TEXTS.get(status_code, ERROR_TEXTS[500])
        if isinstance(error, TooManyPages):
            advice = too_many_pages_text(error.max_kernels)
        elif isinstance(error, HostRefused):
            advice = HOST_REFUSED_TEXT
        elif getattr(error, "cwdx_advice", None):
            advice = error.cwdx_advice
        self.clear_header("Server")
        if self._is_api():
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({"message": f"{title}：{advice}"}, ensure_ascii=False))
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(error_page(title, advice))

    def _is_api(self) -> bool:
        from jupyter_server.base.handlers import APIHandler

        return isinstance(self, APIHandler)


class GuardedNotFoundHandler(GuardedHandler):
    """What answers a URL no route matches: the Chinese 404."""

    async def prepare(self) -> None:
        await super().prepare()
        if not self._finished:
            raise web.HTTPError(404)


_GUARDED: dict[type, type] = {}


def guarded(handler_class: type) -> type:
    """``handler_class`` with :class:`GuardedHandler` in front (one subclass per class)."""
    if issubclass(handler_class, GuardedHandler):
        return handler_class
    if handler_class not in _GUARDED:
        extra: dict[str, Any] = {}
        if issubclass(handler_class, web.StaticFileHandler):
            extra["parse_url_path"] = _parse_static_path
        _GUARDED[handler_class] = type(
            f"Guarded{handler_class.__name__}", (GuardedHandler, handler_class), extra
        )
    return _GUARDED[handler_class]


def _parse_static_path(self: web.StaticFileHandler, url_path: str) -> str:
    # Voilà's template file handler fails with 500 on a path without "<template>/static/":
    # a malformed address is a page that does not exist
    parent: Any = super(type(self), self)  # the wrapped handler class's own parse_url_path
    try:
        return str(parent.parse_url_path(url_path))
    except (ValueError, AssertionError):
        raise web.HTTPError(404) from None


class CwdxVoila(Voila):
    """Voilà with the cwdx guard (see the module docstring)."""

    edition = Unicode("institution", help="institution（机构版）或 platform（平台版）").tag(
        config=True
    )
    max_kernels = Int(4, help="同时运行的页面内核数上限（每个打开的页面一个）").tag(config=True)
    allowed_hosts = List(
        Unicode(), help="除 127.0.0.1、localhost 与监听地址外允许的 Host 名称"
    ).tag(config=True)

    def init_settings(self) -> dict:
        if self.edition == "platform" and not hasattr(
            self.identity_provider_class, "check_request"
        ):
            raise SystemExit("平台版必须启用登录（identity_provider_class），已拒绝启动。")
        # before Voilà's kernel manager exists: its pool renders the page with this hook
        self._install_page_config_hook()
        settings = super().init_settings()
        login = getattr(self, "identity_provider", None)
        PageKernels(
            self.kernel_manager,
            self.max_kernels,
            login if isinstance(login, PageLogin) else None,
        )
        settings["cwdx_allowed_hosts"] = sorted(
            {*LOOPBACK_HOSTS, self.ip, *self.allowed_hosts} - {"", "0.0.0.0", "::"}
        )
        settings["default_handler_class"] = GuardedNotFoundHandler
        # runs once listen() has bound the port and the loop serves: only then the address
        ioloop.IOLoop.current().add_callback(self._say_started)
        return settings

    def _say_started(self) -> None:
        workspace = os.environ.get(WORKSPACE_ENV, "")
        url = f"http://{served_host(self.ip)}:{self.port}/"
        for line in started_lines(self.edition, url, workspace, server_log_path(workspace)):
            if line:
                print(line, flush=True)
        print("cwdx: 已启动", url, file=sys.stderr, flush=True)

    def init_handlers(self) -> list:
        return [(rule[0], guarded(rule[1]), *rule[2:]) for rule in super().init_handlers()]

    def upload_limit(self) -> int:
        """The largest selection (bytes) one upload message can carry."""
        size = self.tornado_settings.get("websocket_max_message_size")
        return int(size or TORNADO_DEFAULT_MESSAGE_SIZE) - UPLOAD_MESSAGE_OVERHEAD

    def _install_page_config_hook(self) -> None:
        previous = self.voila_configuration.page_config_hook
        limit = self.upload_limit()
        workspace = os.environ.get(WORKSPACE_ENV, "")
        refusal = upload_refusal_text(self.edition, workspace, limit // (1024 * 1024))

        def page_config_hook(page_config: dict, **kwargs: Any) -> dict:
            if previous is not None:
                page_config = previous(page_config, **kwargs)
            page_config["cwdxUploadLimit"] = limit
            page_config["cwdxUploadRefusal"] = refusal
            return page_config

        self.voila_configuration.page_config_hook = page_config_hook


def main(argv: list[str] | None = None) -> None:
    """Run :class:`CwdxVoila` with Voilà's command line (``argv`` defaults to ``sys.argv``);
    its standard error goes to the server log (:func:`server_log_path`)."""
    redirect_stderr(server_log_path(os.environ.get(WORKSPACE_ENV, "")))
    CwdxVoila.launch_instance(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
