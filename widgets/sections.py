"""The sections of the institution app (机构版), top to bottom as ``apps.md`` lists them.

Each section is a class with a ``widget`` (an ipywidgets box carrying CSS classes for the
browser tests) and a ``refresh(state)`` method; actions call :mod:`cwdx` and then ask the page
to refresh every section from the workspace (:class:`PageState`). One module per section
(``section_template`` … ``section_compute``, shared parts in ``section_base``); this module
re-exports them. The 关于 and 日志 dialogs are :mod:`cwdx_widgets.vue.info`'s, shared with the
平台版.
"""

from __future__ import annotations

from cwdx_widgets.section_base import (
    PREVIEW_ROWS,
    PageState,
    Refresh,
    StepSection,
    export_download,
    read_state,
)
from cwdx_widgets.section_check import FEEDBACK_LABELS, CheckSection
from cwdx_widgets.section_compute import ComputeSection
from cwdx_widgets.section_import import APPEND_NOTICE, IMPORT_TITLES, ROW_UNITS, ImportSection
from cwdx_widgets.section_template import TemplateSection

__all__ = [
    "APPEND_NOTICE",
    "FEEDBACK_LABELS",
    "IMPORT_TITLES",
    "PREVIEW_ROWS",
    "ROW_UNITS",
    "CheckSection",
    "ComputeSection",
    "ImportSection",
    "PageState",
    "Refresh",
    "StepSection",
    "TemplateSection",
    "export_download",
    "read_state",
]
