"""What the app's server and its pages' kernels share, light enough for a page's kernel to
import (no tornado, no jupyter_server: importing :mod:`cwdx.login` costs the kernel ~0.8 s).

* :data:`USER_ENV` and :func:`download_url`: how the 平台版's login names the signed-in user to
  a page's kernel, and the login-protected address of a file an export task wrote.
* **Preheated pages**: the server runs each app notebook in a spare kernel before anybody asks
  for it (Voilà's ``preheat_kernel``), so a request gets the finished page at once. A page shown
  in such a kernel registers its refresh with :func:`on_request`; when the server hands the
  kernel to a request it runs :func:`request_code` in the kernel, which calls
  :func:`request_arrived`: the page re-reads the workspace (it shows the state at request time,
  not at pre-render time) and takes the signed-in user's name the server passed from the
  request's session (never from anything the browser sent).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable

#: Environment variable through which a page's kernel learns the signed-in user's name.
USER_ENV = "CWDX_USER"

#: The address prefix of downloads: ``/cwdx/download/<task id>/<file name>``.
DOWNLOAD_PREFIX = "/cwdx/download/"

#: The refresh of each page shown in this kernel (called with the user's name or ``None``).
_PAGES: list[Callable[[str | None], None]] = []
#: Whether the server has handed this kernel to a request (see :func:`awaiting_request`).
_HANDED_OUT = False


def download_url(task_id: int, name: str, base_url: str = "/") -> str:
    """The address (on the app's server, under ``base_url``) of the file ``name`` export task
    ``task_id`` wrote into ``WS/downloads/<task_id>/``; it answers only with a session (the
    login's download handler, never ``/voila/files``)."""
    base = base_url.rstrip("/")
    return f"{base}{DOWNLOAD_PREFIX}{int(task_id)}/{urllib.parse.quote(name, safe='')}"


def awaiting_request() -> bool:
    """Whether this kernel is a preheated one the server has not yet handed to a request (Voilà
    sets ``VOILA_PREHEAT=True`` in such kernels): the page it shows does not know its user yet,
    so what depends on the user waits for :func:`request_arrived`."""
    return os.environ.get("VOILA_PREHEAT") == "True" and not _HANDED_OUT


def on_request(refresh: Callable[[str | None], None]) -> None:
    """Have ``refresh(user)`` called when the server hands this (preheated) kernel to a page
    request; ``user`` is the signed-in user's name (``None`` without login)."""
    _PAGES.append(refresh)


def request_arrived(user: str | None = None) -> int:
    """The server handed this kernel to a request of ``user`` (``None``: no login): set
    :data:`USER_ENV` and refresh every page shown here. Returns how many pages were
    refreshed (a page shown later reads the workspace and the user when it is built)."""
    global _HANDED_OUT
    _HANDED_OUT = True
    if user is not None:
        os.environ[USER_ENV] = user
    for refresh in list(_PAGES):
        refresh(user)
    return len(_PAGES)


def request_code(user: str | None) -> str:
    """The code the server runs in a preheated kernel when it hands it to a request of
    ``user`` (the name is a Python literal: no name can run code of its own)."""
    return (
        '__import__("importlib").import_module("cwdx.page_kernel")'
        f".request_arrived({user if user is None else repr(str(user))})"
    )
