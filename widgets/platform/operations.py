"""数据操作 of the 平台版: 单机构数据操作 (delete cases, staff or all of the ticked
institutions), the two unfreeze actions, and 全局数据操作. Deletes and the four global actions
first ask the operator to type 确认; the task is then submitted (and logged) in the user's name."""

from __future__ import annotations

from collections.abc import Callable

import ipyvuetify as v

from cwdx_widgets.platform.actions import (
    CONFIRM_WORD,
    DELETE_ACTIONS,
    GLOBAL_ACTIONS,
    Actions,
    Submitted,
)


class ConfirmDialog:
    """A dialog that runs its action only after the operator typed 确认."""

    def __init__(self) -> None:
        self.title = v.CardTitle(children=[""])
        self.text = v.CardText(children=[""])
        self.word = v.TextField(
            label=f"请输入“{CONFIRM_WORD}”", v_model="", class_="cwdx-confirm-word", autofocus=True
        )
        self.ok = v.Btn(color="error", class_="cwdx-confirm-ok", children=["执行"], disabled=True)
        self.cancel = v.Btn(variant="text", class_="cwdx-confirm-cancel", children=["取消"])
        self.dialog = v.Dialog(
            v_model=False,
            max_width=560,
            persistent=True,
            class_="cwdx-confirm",
            children=[
                v.Card(
                    class_="cwdx-confirm-card",
                    children=[
                        self.title,
                        self.text,
                        v.CardText(children=[self.word]),
                        v.CardActions(children=[v.Spacer(), self.cancel, self.ok]),
                    ],
                )
            ],
        )
        self._action: Callable[[str], None] | None = None
        self.word.observe(lambda _c: self._typed(), "v_model")
        self.ok.on_event("click", lambda *_a: self.confirm())
        self.cancel.on_event("click", lambda *_a: self.close())

    def _typed(self) -> None:
        self.ok.disabled = (self.word.v_model or "").strip() != CONFIRM_WORD

    def ask(self, title: str, text: str, action: Callable[[str], None]) -> None:
        """Open the dialog; ``action(typed word)`` runs on 执行."""
        self.title.children = [title]
        self.text.children = [text + f" 此操作不可撤销。确认执行请在下面输入“{CONFIRM_WORD}”。"]
        self.word.v_model = ""
        self._action = action
        self.dialog.v_model = True

    def confirm(self) -> None:
        """执行: run the action with the typed word (the action refuses anything but 确认)."""
        action, self._action = self._action, None
        typed = self.word.v_model or ""
        self.close()
        if action is not None:
            action(typed)

    def close(self) -> None:
        """Close without doing anything."""
        self.dialog.v_model = False
        self.word.v_model = ""


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
        self.confirm = ConfirmDialog()
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
                self.confirm.dialog,
            ],
        )

    def _button(self, label: str, css: str, color: str) -> v.Btn:
        btn = v.Btn(color=color, variant="outlined", class_=f"ma-1 {css}", children=[label])
        self.buttons[label] = btn
        return btn

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
        self.confirm.ask(
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
        self.confirm.ask(
            label,
            f"{what}。",
            lambda typed: self._run(lambda: self.actions.global_action(label, typed)),
        )
