"""The server guard of the apps (cwdx.serve_voila) without starting Voilà."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from tornado import httpserver, netutil, web

from cwdx.page_kernel import USER_ENV
from cwdx.serve_pages import PageKernels
from cwdx.serve_voila import (
    TooManyPages,
    guarded,
    host_allowed,
    upload_refusal_text,
)

SERVED = ("127.0.0.1", "localhost", "::1")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8866", True),
        ("localhost:8866", True),
        ("LocalHost.:8866", True),
        ("[::1]:8866", True),
        ("127.0.0.2:8866", True),  # loopback, this machine
        ("127.0.0.1", True),
        ("evil.example", False),
        ("evil.example:8866", False),
        ("127.0.0.1.evil.example:8866", False),
        ("localhost.evil.example", False),
        ("192.168.1.20:8866", False),
        ("", False),
    ],
)
def test_host_allowed(host: str, allowed: bool) -> None:
    assert host_allowed(host, SERVED) is allowed


def test_host_allowed_for_a_served_name_only_when_configured() -> None:
    assert host_allowed("stats.hospital.cn:443", ["stats.hospital.cn"])
    assert not host_allowed("127.0.0.1:8866", ["stats.hospital.cn"])  # loopback not served


def test_upload_refusal_names_the_limit_and_the_other_ways() -> None:
    assert upload_refusal_text("institution", "/data/ws", 255) == (
        "所选文件共 {size} MB，超过了网页上传的上限 255 MB，没有上传。"
        '请改用命令行导入：cwdx -w "/data/ws" import cases 文件.xlsx（申报人员表把 cases 换成 staff）。'
    )
    platform = upload_refusal_text("platform", "/data/ws", 255)
    assert platform.endswith("，或把文件放进 /data/ws/inbox，再在页面上从收件箱导入。")


class FakeKernelManager:
    """Starts "kernels" that take a moment, like the real one; ``spare`` is a preheated
    kernel of the pool (live, but no page's)."""

    def __init__(self, spare: int = 0) -> None:
        self.kernels: list[str] = [f"spare-{n}" for n in range(spare)]
        self.envs: dict[str, dict] = {}

    def list_kernel_ids(self) -> list[str]:
        return list(self.kernels)

    async def start_kernel(self, kernel_id: str | None = None, **kwargs: Any) -> str:
        await asyncio.sleep(0.05)
        kernel_id = kernel_id or f"k{len(self.kernels)}"
        self.kernels.append(kernel_id)
        self.envs[kernel_id] = kwargs.get("env") or {}
        await asyncio.sleep(0.05)  # listed, but the start has not returned yet
        return kernel_id

    async def shutdown_kernel(self, kernel_id: str) -> None:
        self.kernels.remove(kernel_id)


class FakeLogin:
    """The login's part (cwdx.serve_pages.PageLogin) for the request of ``user``."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.owned: set[str] = set()

    def page_user(self) -> str:
        return self.user

    def own_kernel(self, kernel_id: str) -> None:
        self.owned.add(kernel_id)

    def forget_kernel(self, kernel_id: str) -> None:
        self.owned.discard(kernel_id)


def run(coroutine: Any) -> Any:
    """``asyncio.run`` in a thread of its own (an earlier test may leave a loop running here)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def open_pages(manager: FakeKernelManager, count: int) -> list[object]:
    starts = [manager.start_kernel(path="/") for _ in range(count)]
    return await asyncio.gather(*starts, return_exceptions=True)


def test_kernel_cap_holds_for_concurrent_pages() -> None:
    manager = FakeKernelManager(spare=1)
    pages = PageKernels(manager, 2)
    results = run(open_pages(manager, 3))
    refused = [r for r in results if isinstance(r, TooManyPages)]
    # the pool's spare kernel is no page: two pages open beside it, the third is refused
    assert len(manager.kernels) == 3 and len(refused) == 1 and pages.count() == 2
    assert refused[0].status_code == 503 and refused[0].max_kernels == 2
    # sequential: the started kernels count, so the next page is refused too
    assert isinstance(run(open_pages(manager, 1))[0], TooManyPages)
    run(manager.shutdown_kernel(manager.kernels[-1]))  # a tab was closed
    assert pages.count() == 1
    assert run(open_pages(manager, 1))[0] in manager.kernels


def test_a_page_kernel_gets_the_session_user_and_owner(capsys: pytest.CaptureFixture) -> None:
    manager, login = FakeKernelManager(), FakeLogin("张三")
    PageKernels(manager, 4, login)
    [kernel_id] = run(open_pages(manager, 1))
    assert manager.envs[kernel_id][USER_ENV] == "张三" and login.owned == {kernel_id}
    run(manager.shutdown_kernel(kernel_id))
    assert login.owned == set()
    told = [line.split("] ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert told == ["打开了一个页面（当前共 1 个页面）。", "关闭了一个页面（当前共 0 个页面）。"]


class Broken(web.RequestHandler):
    def get(self) -> None:
        raise RuntimeError("/secret/path failed")


@contextlib.contextmanager
def guarded_server() -> Iterator[int]:
    """A tornado server of ``guarded(Broken)`` on a free port, in a thread with its own loop
    (Playwright's loop may still run in the main thread when the whole suite runs)."""
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()

    async def serve() -> None:
        application = web.Application(
            [(r"/broken", guarded(Broken))], cwdx_allowed_hosts=["127.0.0.1", "localhost"]
        )
        sockets = netutil.bind_sockets(0, "127.0.0.1")
        server = httpserver.HTTPServer(application)
        server.add_sockets(sockets)
        ready.put(sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.02)
        server.stop()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        stop.set()
        thread.join()


def get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
    """Status, headers and body of ``GET path``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        reply = connection.getresponse()
        return reply.status, dict(reply.headers), reply.read().decode("utf-8")
    finally:
        connection.close()


def test_server_error_is_chinese_and_says_nothing_about_the_server() -> None:
    with guarded_server() as port:
        status, headers, body = get(port, "/broken")
    assert status == 500
    assert '<h1 style="font-size: 22px;">系统内部错误</h1>' in body
    assert "请刷新页面重试；如果问题依旧，请联系系统管理员。" in body
    assert "secret" not in body and "Traceback" not in body and "Tornado" not in body
    assert "Server" not in headers


def test_foreign_host_never_reaches_the_handler() -> None:
    with guarded_server() as port:
        status, _headers, body = get(port, "/broken", Host="evil.example")
    assert status == 403 and "无权访问" in body
    assert "启动时显示的地址（例如 http://127.0.0.1:端口/）" in body
