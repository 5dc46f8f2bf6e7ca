"""Status chips for an institution's 阶段 (stage), coloured the same in both editions.

Stable names: ``STAGE_COLOURS``, ``FROZEN_LABEL``, ``StageChip``, ``stage_chip``.
"""

from __future__ import annotations

import ipyvuetify as v

from cwdx.workspace.stages import (
    FROZEN_STAGES,
    STAGE_COMPUTED,
    STAGE_FAILED,
    STAGE_PASSED,
    STAGE_UPLOADED,
)

#: Vuetify colour of each stage (apps.md "Workspace and stages"); an unknown stage is grey.
STAGE_COLOURS: dict[str, str] = {
    STAGE_UPLOADED: "blue-grey",
    STAGE_PASSED: "success",
    STAGE_FAILED: "error",
    STAGE_COMPUTED: "indigo",
}

#: Shown after a frozen stage's name (the stages after 已上传 freeze the data).
FROZEN_LABEL = "已冻结"

#: Stable CSS class of each stage's chip (``cwdx-stage-<key>``), for selectors.
STAGE_KEYS: dict[str, str] = {
    STAGE_UPLOADED: "uploaded",
    STAGE_PASSED: "passed",
    STAGE_FAILED: "failed",
    STAGE_COMPUTED: "computed",
}


def stage_chip(stage: str, *, label: str = "", size: str = "small") -> v.Chip:
    """A chip showing ``stage`` (or ``label``) in its colour, with a lock icon when frozen.

    Classes: ``cwdx-stage-chip cwdx-stage-<key>`` (keys of :data:`STAGE_KEYS`)."""
    frozen = stage in FROZEN_STAGES
    return v.Chip(
        children=[label or stage],
        color=STAGE_COLOURS.get(stage, "grey"),
        size=size,
        variant="flat" if frozen else "tonal",
        label=True,
        prepend_icon="mdi-lock" if frozen else None,
        class_=f"cwdx-stage-chip cwdx-stage-{STAGE_KEYS.get(stage, 'other')}",
    )


class StageChip:
    """A chip that follows a stage: :meth:`set` changes its text and colour in place
    (``widget`` stays the same object, so a page need not rebuild around it)."""

    def __init__(self, css_class: str = "cwdx-stage") -> None:
        self.css_class = css_class
        self.stage = ""
        self.widget = v.Html(tag="span", class_=css_class, children=[])

    def set(self, stage: str, label: str = "") -> None:
        """Show ``stage`` (``""``: nothing) with ``label`` as its text (default: the stage)."""
        self.stage = stage
        self.widget.children = [stage_chip(stage, label=label)] if stage else []
