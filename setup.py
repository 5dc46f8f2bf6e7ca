"""Package list for setuptools (everything else is in pyproject.toml).

Every package under ``cwdx/`` and ``widgets/`` (installed as ``cwdx_widgets``) is found when
the wheel is built, so a new subpackage is never left out of a regular install.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["cwdx", "cwdx.*"]),
        "cwdx_widgets",
        *(f"cwdx_widgets.{name}" for name in find_packages("widgets")),
    ]
)
