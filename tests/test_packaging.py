"""The wheel: what it carries, and that it works installed into a fresh venv.

A regular (non-editable) install has no checkout to fall back on: every module, notebook,
reference list and the Voilà template must be inside the wheel, and every third-party import
must be a declared dependency. The slow test proves both the way a user would: it builds the
wheel, installs it with ``pip install -c constraints.txt 'cwdx[app]'`` into a new venv (pip's
cache makes this ~45 s), and from a folder outside the checkout runs ``cwdx demo``,
``cwdx run``, ``cwdx report`` and ``cwdx app institution``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What the copy the wheel is built from leaves out (a stale ``build/`` would leak old files).
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
    ".ruff_cache", ".mypy_cache", "demo-data", "demo-workspace", "tmp",
)  # fmt: skip


def _clean_env(tmp: Path) -> dict[str, str]:
    """Our environment without anything pointing at the checkout, Jupyter folders in ``tmp``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("CWDX_REFERENCE_DIR", None)
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "XDG_DATA_HOME"):
        env[name] = str(tmp / name.lower())
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


def _can_build_offline() -> bool:
    """Whether this Python can build the wheel itself (setuptools with ``bdist_wheel``: the
    ``wheel`` package or setuptools 70.1+); else pip fetches setuptools into an isolated
    build environment."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    if importlib.util.find_spec("wheel") is not None:
        return True
    from importlib.metadata import version

    major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    return (major, minor) >= (70, 1)


def build_wheel(tmp: Path) -> Path:
    """Build the wheel from a clean copy of the source tree; its path."""
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(source), "-w"]
    if _can_build_offline():
        command.insert(4, "--no-build-isolation")
    subprocess.run([*command, str(tmp / "dist")], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("cwdx-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_carries_every_module_and_data_file(wheel: Path) -> None:
    """Every .py of cwdx/ and widgets/ (as cwdx_widgets) and every shipped data file is in the
    wheel, so no subpackage or notebook is left out of a regular install."""
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "cwdx").rglob("*.py")}
    expected |= {
        "cwdx_widgets/" + p.relative_to(ROOT / "widgets").as_posix()
        for p in [*(ROOT / "widgets").rglob("*.py"), *(ROOT / "widgets").rglob("*.vue")]
    }
    assert "cwdx_widgets/vue/table.vue" in expected  # the data table's Vue template
    resources = ROOT / "cwdx" / "resources"
    data = [p for p in resources.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")]
    expected |= {p.relative_to(ROOT).as_posix() for p in data}
    assert not expected - names
    for name in ("institution", "report_institution", "report_province"):
        assert f"cwdx/resources/notebooks/{name}.ipynb" in names
    assert "cwdx/resources/voila.json" in names
    assert "cwdx/resources/share/jupyter/voila/templates/cwdx/index.html.j2" in names
    assert "cwdx/resources/reference/value_domains.csv" in names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "reference/"))]
    metadata = zipfile.ZipFile(wheel).read("cwdx-0.1.0.dist-info/METADATA").decode()
    assert "python-calamine" not in metadata
    for needed in ("fastexcel", "nbconvert", "jupyter_client", "voila", "papermill", "ipyvuetify"):
        assert f"Requires-Dist: {needed}" in metadata


def test_constraints_pin_every_declared_dependency() -> None:
    """constraints.txt (what CI installs from) pins each package the extras declare."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["app"]]
    declared += [d for d in project["optional-dependencies"]["test"] if not d.startswith("cwdx")]
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line
    }
    names = {
        d.split(">")[0].split("=")[0].split("[")[0].lower().replace("_", "-") for d in declared
    }
    assert names - pinned == set()
    assert "python-calamine" not in pinned


def test_resources_are_found_in_the_package_and_the_reference_folder_can_be_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cwdx import reference, resources

    monkeypatch.delenv("CWDX_REFERENCE_DIR", raising=False)
    assert resources.resource_root() == ROOT / "cwdx" / "resources"
    assert reference.reference_dir() == resources.reference_dir()
    assert all((resources.reference_dir() / name).is_file() for name in reference.REFERENCE_FILES)
    assert (resources.jupyter_template_root() / "voila/templates/cwdx/index.html.j2").is_file()
    assert resources.package_parent() == ROOT
    monkeypatch.setenv("CWDX_REFERENCE_DIR", str(tmp_path))
    assert reference.reference_dir() == tmp_path


def test_a_zipped_cwdx_is_refused_in_chinese(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cwdx import resources
    from cwdx.errors import CwdxError

    archive = tmp_path / "cwdx.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("cwdx/resources/voila.json", "{}")
    monkeypatch.setattr(resources, "files", lambda _name: zipfile.Path(archive, "cwdx/resources/"))
    with pytest.raises(CwdxError) as refused:
        resources.notebook_path("institution.ipynb")
    assert refused.value.message == (
        "cwdx 的数据文件不在普通文件夹中（可能是从压缩包运行），请用 pip install 安装 cwdx 后重试。"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_the_wheel_installed_in_a_fresh_venv_runs_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    env = _clean_env(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if sys.platform.startswith("win") else "bin")
    started = time.perf_counter()
    subprocess.run(
        [
            str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
            "-c", str(ROOT / "constraints.txt"), f"{wheel}[app]",
        ],
        check=True, capture_output=True, timeout=900, env=env,
    )  # fmt: skip
    print(f"fresh venv install: {time.perf_counter() - started:.0f} s")
    work = tmp_path / "elsewhere"
    work.mkdir()

    def cwdx(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_dir / "cwdx"), *args],
            cwd=work, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import cwdx, cwdx_widgets; print(cwdx.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(venv)  # not the checkout

    demo = cwdx("demo", "D", "--institutions", "2", "--cases", "200", "--seed", "3")
    assert (demo.returncode, demo.stderr) == (0, "")
    assert demo.stdout.strip() == f"已写入演示数据：{work / 'D'}"
    run = cwdx(
        "run", "--quiet", "--out", "OUT",
        "--cases", *sorted(str(p) for p in (work / "D").glob("*/病案首页数据-*.xlsx")),
        "--staff", *sorted(str(p) for p in (work / "D").glob("*/申报人员信息.xlsx")),
    )  # fmt: skip
    assert run.returncode == 1, run.stderr  # the first demo institution carries planted errors
    summary = json.loads((work / "OUT" / "summary.json").read_text(encoding="utf-8"))
    assert [i["passed"] for i in summary["institutions"]] == [False, True]
    assert (work / "OUT" / "计算结果表.xlsx").is_file()
    assert (work / "OUT" / "精简版反馈信息表.xlsx").is_file()
    orgs = [i["org"] for i in summary["institutions"]]
    assert all(list((work / "OUT" / org).glob("*.xlsx")) for org in orgs)

    report = cwdx("-w", "OUT/.cwdx-workspace", "report", "--province", "-o", "R", "--quiet")
    assert report.returncode == 0, report.stdout + report.stderr
    page = (work / "R" / "全省报告.html").read_text(encoding="utf-8")
    assert "全省" in page and "Traceback" not in page

    port = _free_port()
    log_path = tmp_path / "app.log"
    with log_path.open("w") as log:
        app = subprocess.Popen(
            [str(bin_dir / "cwdx"), "-w", "APPWS", "app", "institution", f"--port={port}"],
            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        status, body = 0, ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and app.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as reply:
                    status, body = reply.status, reply.read().decode("utf-8")
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200, log_path.read_text(encoding="utf-8", errors="replace")
        assert "正在打开页面，请稍候" in body  # the page template shipped in the wheel
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
    assert (work / "APPWS" / "cwdx.sqlite").is_file()
