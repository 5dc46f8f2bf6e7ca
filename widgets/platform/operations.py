"""数据操作 of the 平台版: 单机构数据操作 (delete cases, staff or all of the ticked
institutions), the two unfreeze actions, and 全局数据操作. Deletes and the four global actions
first ask the operator to type 确认; the task is then submitted (and logged) in the user's name."""

from __future__ import annotations

from collections.abc import Callable

import ipyvuetify as v

from cwdx_widgets.platform.actions import (
    DELETE_ACTIONS,
    GLOBAL_ACTIONS,
    Actions,
    Submitted,
)
from cwdx_widgets.vue import CONFIRM_WORD, ConfirmDialog


class OperationsPanel:
    """The data operations; ``ticked()`` gives the institutions ticked in the table."""

    def __init__(
        self,
        actions: Actions,
        ticked: Callable[[], list[str]],
        submitted: Callable[[Submitted], None],
        failed: Callable[[Exception], None],
    ) -> None:
        self.actions = actions
        self.ticked = ticked
        self.submitted = submitted
        self.failed = failed
        #: the action waiting for 确认 (called with the word the dialog checked)
        self.pending: Callable[[str], None] | None = None
        self.confirm = ConfirmDialog("确认操作", "cwdx-confirm", self._confirmed, ok_label="执行")
        self.buttons: dict[str, v.Btn] = {}
        single = []
        for label, what in DELETE_ACTIONS.items():
            btn = self._button(label, f"cwdx-delete-{what}", "warning")
            btn.on_event("click", lambda *_a, lb=label, w=what: self.ask_delete(lb, w))
            single.append(btn)
        for label, stage in (
            ("在上传阶段解冻数据检测", "check"),
            ("解冻数据检测和计算", "compute"),
        ):
            btn = self._button(label, f"cwdx-unfreeze-{stage}", "primary")
            btn.on_event("click", lambda *_a, s=stage: self.unfreeze(s))
            single.append(btn)
        dangerous = []
        for n, label in enumerate(GLOBAL_ACTIONS):
            btn = self._button(label, f"cwdx-global-{n}", "error")
            btn.on_event("click", lambda *_a, lb=label: self.ask_global(lb))
            dangerous.append(btn)
        self.widget = v.Html(
            tag="div",
            class_="cwdx-operations",
            children=[
                v.Card(
                    variant="outlined",
                    class_="pa-3 my-2",
                    children=[
                        v.CardTitle(class_="pa-0 pb-2", children=["单机构数据操作"]),
                        v.Html(
                            tag="div",
                            class_="text-caption",
                            children=[
                                "作用于在“查看上传医院及检测”中勾选的机构。已冻结（已检测、已计算）的机构须先解冻才能删除数据。"
                            ],
                        ),
                        v.Html(tag="div", children=single),
                    ],
                ),
                v.Card(
                    variant="outlined",
                    class_="pa-3 my-2",
                    children=[
                        v.CardTitle(class_="pa-0 pb-2", children=["全局数据操作"]),
                        v.Html(
                            tag="div",
                            class_="text-caption",
                            children=[
                                "作用于所有机构，每项都需要输入“确认”，并以当前用户的名义记录在日志中。"
                                "重新导入数据后要重新计算，须先清空原有数据。"
                            ],
                        ),
                        v.Html(tag="div", children=dangerous),
                    ],
                ),
                self.confirm.widget,
            ],
        )

    def _button(self, label: str, css: str, color: str) -> v.Btn:
        btn = v.Btn(
            color=color, variant="outlined", class_=f"ma-1 text-none {css}", children=[label]
        )
        self.buttons[label] = btn
        return btn

    def _ask(self, title: str, text: str, action: Callable[[str], None]) -> None:
        self.pending = action
        self.confirm.ask(
            f"{text} 此操作不可撤销。确认执行请在下面输入“{CONFIRM_WORD}”。", title=title
        )

    def _confirmed(self) -> None:
        action, self.pending = self.pending, None
        if action is not None:
            action(CONFIRM_WORD)

    def _run(self, submit: Callable[[], Submitted]) -> None:
        try:
            done = submit()
        except Exception as exc:
            self.failed(exc)
            return
        self.submitted(done)

    def ask_delete(self, label: str, what: str) -> None:
        """单机构数据操作: ask for 确认, then delete ``what`` of the ticked institutions."""
        orgs = self.ticked()
        if not orgs:
            self._run(lambda: self.actions.delete(orgs, what, ""))  # says: tick first
            return
        shown = "、".join(orgs[:5]) + (f" 等 {len(orgs)} 个机构" if len(orgs) > 5 else "")
        self._ask(
            label,
            f"将{label.removeprefix('删除')}从 {shown} 中删除。",
            lambda typed: self._run(lambda: self.actions.delete(orgs, what, typed)),
        )

    def unfreeze(self, stage: str) -> None:
        """在上传阶段解冻数据检测 / 解冻数据检测和计算 of the ticked institutions."""
        orgs = self.ticked()
        self._run(lambda: self.actions.unfreeze(orgs, stage))

    def ask_global(self, label: str) -> None:
        """A 全局数据操作: ask for 确认, then submit it."""
        _kind, _params, what = GLOBAL_ACTIONS[label]
        self._ask(
            label,
            f"{what}。",
            lambda typed: self._run(lambda: self.actions.global_action(label, typed)),
        )
