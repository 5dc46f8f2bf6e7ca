"""The data files cwdx ships inside its package, found with :mod:`importlib.resources`.

``cwdx/resources/`` holds the reference lists (``reference/*.csv`` and ``SOURCES.md``), the
app and report notebooks (``notebooks/*.ipynb``), Voilà's settings (``voila.json``) and the
Voilà page template (``share/jupyter/voila/templates/cwdx/``). They are package data, so a
wheel (``pip install .``) carries them and the commands find them wherever cwdx is installed.

Voilà, papermill and Jupyter need real file-system paths. cwdx is always installed as a
regular folder (a wheel unpacks into ``site-packages``; an editable install points at the
checkout), never run from a zip, so :func:`resource_root` returns the package folder itself;
a zipped cwdx is refused with a Chinese sentence instead of extracting files to a temporary
folder that would vanish while Voilà still serves from it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from cwdx.errors import CwdxError


def resource_root() -> Path:
    """The folder ``cwdx/resources`` of the imported cwdx."""
    root = files(__name__)
    if not isinstance(root, Path):  # a zip import: Voilà could not serve from it
        raise CwdxError(
            "cwdx 的数据文件不在普通文件夹中（可能是从压缩包运行），"
            "请用 pip install 安装 cwdx 后重试。"
        )
    return root


def reference_dir() -> Path:
    """The shipped reference lists (``reference/*.csv`` and ``SOURCES.md``)."""
    return resource_root() / "reference"


def notebook_dir() -> Path:
    """The folder of the app and report notebooks."""
    return resource_root() / "notebooks"


def notebook_path(name: str) -> Path:
    """The shipped notebook ``name`` (e.g. ``institution.ipynb``); it may not exist."""
    return notebook_dir() / name


def voila_config_dir() -> Path:
    """The folder holding ``voila.json`` (Voilà's only config path when cwdx serves)."""
    return resource_root()


def jupyter_template_root() -> Path:
    """The Jupyter data folder holding the Voilà page template ``cwdx``
    (``voila/templates/cwdx``), added to ``JUPYTER_PATH`` of the Voilà process."""
    return resource_root() / "share" / "jupyter"


def report_template_root() -> Path:
    """The folder holding the nbconvert template ``cwdx_report`` of the HTML (and PDF) reports:
    the report's outputs under the product name, without code, text streams or scripts."""
    return jupyter_template_root() / "nbconvert" / "templates"


def package_parent() -> Path:
    """The folder that holds the imported ``cwdx`` package (a checkout or ``site-packages``):
    put on a kernel's ``PYTHONPATH`` so it imports this very cwdx."""
    return resource_root().parent.parent
