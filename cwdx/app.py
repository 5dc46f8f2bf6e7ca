"""``cwdx app``: serve the Voilà apps on this machine.

The institution app (机构版) is the shipped notebook ``institution.ipynb`` (in
``cwdx/resources/notebooks/``) run by Voilà on 127.0.0.1. The workspace folder is handed to the
notebook's kernel through the ``CWDX_WORKSPACE`` environment variable; the Voilà settings
(upload size, kernel culling, no file serving) are in the shipped ``voila.json``
(see :mod:`cwdx.resources`).

The platform app (平台版) is ``platform.ipynb`` served the same way, behind a login
(:mod:`cwdx.login`). Both apps run the workspace's task dispatcher beside them: their pages
submit tasks (:func:`cwdx.tasks.submit_task`) and never compute in the page's kernel.

``make app`` writes the demo workbooks, imports the first demo institution into
``demo-workspace/`` and serves the institution app on it; ``make platform`` sets up a demo
province for the platform app (``tools/platform_demo.py``) and serves it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from cwdx import resources
from cwdx.errors import CwdxError

if TYPE_CHECKING:
    from cwdx.tasks.process import DispatcherProcess

#: Environment variable through which the app's kernel learns its workspace folder.
WORKSPACE_ENV = "CWDX_WORKSPACE"

NOTEBOOKS: dict[str, str] = {"institution": "institution.ipynb", "platform": "platform.ipynb"}

EDITION_TITLES: dict[str, str] = {"institution": "机构版", "platform": "平台版"}

#: The port each edition serves on unless told otherwise.
DEFAULT_PORTS: dict[str, int] = {"institution": 8866, "platform": 8867}

#: The 平台版's login (a jupyter_server IdentityProvider handed to Voilà).
PLATFORM_IDENTITY_PROVIDER = "cwdx.login.CwdxIdentityProvider"


def default_workspace() -> Path:
    """The per-user default workspace folder (``~/.local/share/cwdx/workspace`` on Linux).

    ``$XDG_DATA_HOME`` is honoured on Linux; on Windows ``%LOCALAPPDATA%\\cwdx\\workspace``.
    """
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "cwdx" / "workspace"


def notebook_path(edition: str) -> Path:
    """The app notebook of ``edition`` (``institution`` or ``platform``)."""
    if edition not in NOTEBOOKS:
        raise CwdxError(
            f"未知的应用版本“{edition}”，请使用 institution（机构版）或 platform（平台版）。"
        )
    path = resources.notebook_path(NOTEBOOKS[edition])
    if not path.is_file():
        raise CwdxError(
            f"找不到{EDITION_TITLES[edition]}应用的页面文件 {path}，请确认 cwdx 安装完整后重试。"
        )
    return path


def voila_command(
    edition: str, port: int, max_kernels: int | None = None, host: str = "127.0.0.1"
) -> list[str]:
    """The command line that runs Voilà for ``edition`` on ``host``:``port``.

    The 平台版 runs with its login (:data:`PLATFORM_IDENTITY_PROVIDER`).

    Voilà runs through :mod:`cwdx.serve_voila` (Host check, kernel cap, Chinese error pages,
    upload limit in the page) and reads the shipped ``voila.json`` (its folder is Voilà's only
    config path, so a stray ``voila.json`` in the current folder cannot change the settings). ``max_kernels`` overrides the setting ``CwdxVoila.max_kernels`` of voila.json.
    """
    command = [
        sys.executable,
        "-m",
        "cwdx.serve_voila",
        str(notebook_path(edition)),
        "--no-browser",
        f"--port={int(port)}",
        f"--Voila.ip={host}",
        "--Voila.port_retries=0",
        f"--Voila.config_file_paths={resources.voila_config_dir()}",
        f"--CwdxVoila.edition={edition}",
    ]
    if max_kernels is not None:
        command.append(f"--CwdxVoila.max_kernels={int(max_kernels)}")
    if edition == "platform":
        command.append(f"--Voila.identity_provider_class={PLATFORM_IDENTITY_PROVIDER}")
    return command


def app_environment(workspace: Path) -> dict[str, str]:
    """The environment of the Voilà process: ours plus ``CWDX_WORKSPACE``, and
    ``JUPYTER_PATH`` extended so Voilà finds the shipped page template."""
    env = dict(os.environ)
    env[WORKSPACE_ENV] = str(workspace)
    # the page template "cwdx" (voila.json) lives in resources/share/jupyter/voila/templates/cwdx
    paths = [
        str(resources.jupyter_template_root()),
        *filter(None, env.get("JUPYTER_PATH", "").split(os.pathsep)),
    ]
    env["JUPYTER_PATH"] = os.pathsep.join(paths)
    return env


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on ``host``:``port`` (probed as the server binds:
    with ``SO_REUSEADDR``, so connections closing in TIME_WAIT do not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError:
            return True
    return False


def refuse_without_accounts(workspace: Path) -> None:
    """Refuse to serve the 平台版 of ``workspace`` while no account may sign in (there is no
    default account), naming the command that adds one."""
    from cwdx.workspace import Workspace

    with Workspace(workspace) as ws:
        if ws.has_active_account():
            return
    raise CwdxError(
        "平台版需要登录，但这个工作区还没有可以登录的用户，没有启动。请先添加用户："
        f'cwdx -w "{workspace}" user add 用户名（按提示输入两次密码），再重新启动。'
    )


def start_task_dispatcher(
    workspace: Path, workers: int | None, scheduler: str | None
) -> DispatcherProcess:
    """Start (or find running) the task dispatcher of ``workspace``: the one seam between the
    apps and :mod:`cwdx.tasks` (``start_dispatcher``). Returns its handle, whose ``stop()``
    stops a dispatcher this call started (and leaves one found running alone)."""
    from cwdx.tasks import start_dispatcher

    return start_dispatcher(workspace, workers=workers, scheduler=scheduler)


def serve(
    edition: str = "institution",
    workspace: str | Path | None = None,
    port: int | None = None,
    max_kernels: int | None = None,
    *,
    host: str = "127.0.0.1",
    workers: int | None = None,
    scheduler: str | None = None,
) -> int:
    """Run the Voilà app of ``edition`` on http://``host``:``port``/ until Ctrl+C.

    ``port`` defaults to :data:`DEFAULT_PORTS` (8866 机构版, 8867 平台版). ``max_kernels`` caps
    the pages open at once (each runs a kernel); None keeps voila.json's
    ``CwdxVoila.max_kernels`` (4).

    ``workspace`` defaults to :func:`default_workspace`; the workspace is opened (created when
    missing) before Voilà starts, so a folder that cannot be a workspace is refused with a
    :class:`CwdxError` instead of serving a broken page, and so is a port already in use.
    The 平台版 is refused while the workspace has no account (:func:`refuse_without_accounts`).
    Both editions start the task dispatcher (``workers``, ``scheduler``;
    :func:`start_task_dispatcher`) and stop it when the server stops.
    The server prints the address once it accepts connections (not before: an early click
    would be refused), then blocks; returns Voilà's exit status (0 after Ctrl+C).
    """
    from cwdx.workspace import Workspace

    folder = Path(workspace).expanduser().resolve() if workspace else default_workspace()
    port = int(port or DEFAULT_PORTS.get(edition, 8866))
    command = voila_command(edition, port, max_kernels, host)
    Workspace(folder).close()  # creates it, or says in Chinese why this folder cannot be one
    if edition == "platform":
        refuse_without_accounts(folder)
    if port_in_use(port, host):  # Voilà would only say so in English, after "已启动"
        raise CwdxError(
            f"端口 {port} 已被占用（可能已有一个 cwdx 应用在运行，可直接用浏览器打开 "
            f"http://{host}:{port}/）；如需再启动一个，请用 --port 指定其他端口，"
            f"例如 --port {port + 1}。"
        )
    dispatcher = start_task_dispatcher(folder, workers, scheduler)
    try:
        return _run_server(command, folder)
    finally:
        if dispatcher.alive():
            print("正在停止后台任务调度进程（等待正在运行的任务结束）……", flush=True)
            dispatcher.stop()


def _run_server(command: list[str], folder: Path) -> int:
    """Run the server ``command`` until it ends, Ctrl+C or SIGTERM (then stop it)."""
    # the server itself prints the address once its port accepts connections, then one
    # Chinese line per page opened or closed; its English log goes to logs/app-server.log
    process = subprocess.Popen(command, env=app_environment(folder))

    def _stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if main else None
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
