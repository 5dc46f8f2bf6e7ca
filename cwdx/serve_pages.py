"""The kernels of the app's pages (one per open page), as :mod:`cwdx.serve_voila` runs them.

:class:`PageKernels` wraps the server's kernel manager once, for both ways a page gets its
kernel:

* **handed out preheated** (``get_rendered_notebook``, Voilà's ``preheat_kernel``, what the
  shipped ``voila.json`` turns on): a spare kernel has already run the app notebook, so the page
  is sent at once. Before it is sent, the server runs :func:`cwdx.page_kernel.request_code` in
  that kernel: the page re-reads the workspace (it shows the state at request time, not at
  pre-render time) and takes the signed-in user's name from the request's session. Voilà then
  starts the next spare kernel;
* **started for the request** (``start_kernel``): without preheating, or for a request Voilà
  does not serve from its pool; the user's name goes into the kernel's environment
  (:data:`cwdx.page_kernel.USER_ENV`).

Either way the same rules hold: at most ``max_kernels`` pages live at once (the next one is
refused with :class:`TooManyPages`; the pool's spare kernel is no page, so at most
``max_kernels`` + the pool size kernels run), the login (:class:`PageLogin`, the 平台版) names
the user and records the session owning the kernel, and the terminal says when a page opens or
closes, with the number of open pages.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from jupyter_client.session import Session
from jupyter_core.utils import ensure_async
from tornado import web

from cwdx.page_kernel import USER_ENV, request_code

#: Seconds the server waits for a preheated page to take its request (re-read the workspace).
REQUEST_CODE_TIMEOUT = 120.0


def tell(text: str) -> None:
    """One timestamped Chinese line for the user on standard output, and the same line in the
    server log (standard error)."""
    line = f"[{time.strftime('%H:%M:%S')}] {text}"
    print(line, flush=True)
    print(f"cwdx: {line}", file=sys.stderr, flush=True)


class TooManyPages(web.HTTPError):
    """Refusal of a page that would start a kernel beyond the cap."""

    def __init__(self, max_kernels: int) -> None:
        super().__init__(503, "已达到页面内核上限 %d 个，拒绝了新页面", max_kernels)
        self.max_kernels = max_kernels


@runtime_checkable
class PageLogin(Protocol):
    """What the login (:class:`cwdx.login.CwdxIdentityProvider`) does for a page's kernel."""

    def page_user(self) -> str:
        """The signed-in user of the page request being served (refuses a request without)."""
        ...

    def own_kernel(self, kernel_id: str) -> None:
        """Record that ``kernel_id`` belongs to the session of the page request being served."""
        ...

    def forget_kernel(self, kernel_id: str) -> None:
        """``kernel_id`` has shut down."""
        ...


async def run_in_kernel(kernel_manager: Any, kernel_id: str, code: str) -> None:
    """Run ``code`` in kernel ``kernel_id`` (silently, through a client and session of its own)
    and wait for it; raises :class:`RuntimeError` when it fails or takes over
    :data:`REQUEST_CODE_TIMEOUT` seconds."""
    manager = kernel_manager.get_kernel(kernel_id)
    # a session of its own: the shell socket's identity is the session id, and Voilà's
    # client (same kernel manager, same session) may still be running the notebook's cells;
    # two sockets of one identity would lose that client's replies
    session = Session(key=manager.session.key, signature_scheme=manager.session.signature_scheme)
    client = manager.client(session=session)
    client.start_channels()
    try:
        reply = await client.execute(
            code, silent=True, store_history=False, reply=True, timeout=REQUEST_CODE_TIMEOUT
        )
    except TimeoutError as exc:
        raise RuntimeError(f"kernel {kernel_id} took over {REQUEST_CODE_TIMEOUT} s") from exc
    finally:
        client.stop_channels()
    content = reply["content"]
    if content.get("status") != "ok":
        raise RuntimeError(f"kernel {kernel_id}: {content.get('ename')}: {content.get('evalue')}")


class PageKernels:
    """The cap, the login's part and the terminal lines of the pages' kernels of
    ``kernel_manager`` (see the module docstring); installs itself on creation."""

    def __init__(
        self, kernel_manager: Any, max_kernels: int, login: PageLogin | None = None
    ) -> None:
        self.kernel_manager = kernel_manager
        self.max_kernels = max(1, max_kernels)
        self.login = login
        #: ids of the kernels pages got (started or handed out) and not yet shut down
        self.pages: set[str] = set()
        #: pages being given a kernel (counted from before the first ``await``)
        self.opening: set[str] = set()
        self._start = kernel_manager.start_kernel
        self._shutdown = kernel_manager.shutdown_kernel
        self._hand_out = getattr(kernel_manager, "get_rendered_notebook", None)
        kernel_manager.start_kernel = self.start_kernel
        kernel_manager.shutdown_kernel = self.shutdown_kernel
        if self._hand_out is not None:
            kernel_manager.get_rendered_notebook = self.get_rendered_notebook

    def count(self) -> int:
        """The pages open now (their kernels live)."""
        self.pages &= set(self.kernel_manager.list_kernel_ids())
        return len(self.pages)

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        """A place for one more page, or :class:`TooManyPages`."""
        if len(self.opening) + self.count() >= self.max_kernels:
            tell(f"已打开 {self.max_kernels} 个页面（上限），拒绝了新页面：请先关闭其他标签页。")
            raise TooManyPages(self.max_kernels)
        token = str(uuid.uuid4())
        self.opening.add(token)
        try:
            yield
        finally:
            self.opening.discard(token)

    def _opened(self, kernel_id: str) -> None:
        if self.login is not None:
            self.login.own_kernel(kernel_id)
        self.pages.add(kernel_id)
        tell(f"打开了一个页面（当前共 {self.count()} 个页面）。")

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:
        """Start a kernel for the page request being served."""
        if kwargs.get("kernel_id") in self.kernel_manager.list_kernel_ids():
            return str(await ensure_async(self._start(*args, **kwargs)))  # reuses a live kernel
        user = self.login.page_user() if self.login is not None else None
        with self._opening():
            if user is not None:
                kwargs["env"] = {**(kwargs.get("env") or os.environ), USER_ENV: user}
            kernel_id = str(await ensure_async(self._start(*args, **kwargs)))
            self._opened(kernel_id)
        return kernel_id

    async def get_rendered_notebook(self, *args: Any, **kwargs: Any) -> Any:
        """Hand a preheated kernel (and its rendered page) to the page request being served,
        once the page in it has taken the request (:func:`cwdx.page_kernel.request_code`)."""
        assert self._hand_out is not None
        user = self.login.page_user() if self.login is not None else None
        with self._opening():
            render_task, rendered, kernel_id = await self._hand_out(*args, **kwargs)
            try:
                await render_task  # the notebook has run (or runs its cells still to come)
                await run_in_kernel(self.kernel_manager, kernel_id, request_code(user))
            except BaseException:
                with contextlib.suppress(Exception):
                    await ensure_async(self._shutdown(kernel_id))
                raise
            self._opened(kernel_id)
        return render_task, rendered, kernel_id

    async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:
        """Shut a kernel down (a page closed, or the server stops)."""
        page = kernel_id in self.pages
        await ensure_async(self._shutdown(kernel_id, *args, **kwargs))
        if self.login is not None:
            self.login.forget_kernel(kernel_id)
        if page:
            self.pages.discard(kernel_id)
            tell(f"关闭了一个页面（当前共 {self.count()} 个页面）。")
