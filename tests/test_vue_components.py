"""The shared Vuetify components (cwdx_widgets.vue) in the kernel: what each shows after an
action, as the page's widgets hold it (the browser tests drive them in Chromium)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from cwdx.errors import CwdxError, Hint
from cwdx_widgets import vue
from cwdx_widgets.vue.table import rows_items


def test_message_replaces_and_clears() -> None:
    message = vue.Message("x-alert")
    message.success("第一条")
    message.error("第二条")
    assert (message.kind, message.text) == ("error", "第二条")
    assert message.widget.children == [message.alert]  # one alert, never a stack
    assert message.alert.children == ["第二条"]
    assert message.alert.class_ == "cwdx-alert cwdx-alert-error my-2"
    message.clear()
    assert message.widget.children == [] and message.text == ""
    with pytest.raises(ValueError):
        message.show("fatal", "?")


def test_snackbar_replaces_and_keeps_errors_open() -> None:
    bar = vue.Snackbar()
    bar.success("已保存")
    assert bar.widget.v_model is True and bar.widget.timeout == 6000
    bar.error("失败")
    assert bar.widget.children == ["失败"] and bar.widget.timeout == -1
    bar.widget.v_model = False  # closed in the page
    assert bar.text == ""


def test_loading_btn_reports_errors_progress_and_double_clicks() -> None:
    message = vue.Message()
    seen: list[tuple[object, ...]] = []

    def action(on_progress) -> None:
        assert button.button.disabled and button.button.loading
        on_progress(1, 4, "文件")
        seen.append((button.progress.running, button.progress.text, button.progress.bar.max))
        raise RuntimeError("boom")

    button = vue.LoadingBtn("开始检测", action, message, "x-run")
    assert button.click() is False
    assert seen == [(True, "文件 1/4", 4)]
    assert message.text == vue.UNEXPECTED.format(action="开始检测", kind="RuntimeError")
    assert not button.button.disabled and not button.button.loading
    assert not button.progress.running

    button.action = lambda _p: (_ for _ in ()).throw(CwdxError("工作区正忙，请稍后再试。"))
    button.click()
    assert (message.kind, message.text) == ("error", "工作区正忙，请稍后再试。")

    runs: list[int] = []
    button.action = lambda _p: runs.append(1)
    button.enabled = False
    assert button.click() is False and button.button.disabled
    button.enabled = True
    button.click()
    # a click the browser sent while the action ran is ignored once it is handled
    button.button.click_sent = datetime.now(UTC) - timedelta(seconds=5)
    button._on_click()
    button.button.click_sent = None
    assert runs == [1]


def test_refusal_hint_goes_to_the_next_step() -> None:
    offered: list[Hint | None] = []

    class Step:
        def offer(self, hint: Hint | None) -> None:
            offered.append(hint)

    hint = Hint(action="unfreeze", orgs=("H001",), stage="check")
    message = vue.Message()

    def refused(_p) -> None:
        raise CwdxError("数据已冻结。", hint=hint)

    vue.LoadingBtn("开始导入", refused, message, "y", next_step=Step()).click()
    assert offered == [None, hint]  # hidden while running, then offered


def test_loading_button_decorator() -> None:
    message = vue.Message()
    button = vue.ClickBtn(children=["清空"])

    @vue.loading_button(message, button)
    def handler() -> None:
        assert button.loading and button.disabled
        raise CwdxError("没有可清空的数据。")

    handler()
    assert message.text == "没有可清空的数据。"
    assert not button.loading and not button.disabled


def test_stage_chip_colours() -> None:
    chip = vue.StageChip()
    chip.set("已检测-未通过")
    (inner,) = chip.widget.children
    assert inner.children == ["已检测-未通过"] and inner.color == "error"
    assert inner.prepend_icon == "mdi-lock"  # frozen
    assert "cwdx-stage-failed" in inner.class_
    assert vue.stage_chip("已上传").prepend_icon is None
    chip.set("")
    assert chip.widget.children == []


def test_data_table_from_a_frame() -> None:
    frame = pd.DataFrame(
        {"机构.代码": ["H001", "H002"], "名称": ["甲", None], "病案数": [10.0, 2.5]}
    )
    picked: list[list[object]] = []
    table = vue.DataTable("t", selectable=True, on_select=picked.append)
    table.set_frame(frame, caption="预览：前 2 行", numeric=["病案数"], key_column="机构.代码")
    assert [h["title"] for h in table.table.headers] == ["机构.代码", "名称", "病案数"]
    assert table.table.headers[2]["align"] == "end"
    assert table.items == [
        {"c0": "H001", "c1": "甲", "c2": "10", "_key": "H001"},
        {"c0": "H002", "c1": "", "c2": "2.5", "_key": "H002"},
    ]
    assert table.caption == "预览：前 2 行"
    table.table.selected = ["H002"]  # ticked in the page
    assert picked == [["H002"]] and table.selected == ["H002"]
    table.set_frame(frame.head(1), key_column="机构.代码")
    assert table.selected == []  # the ticked row is gone
    table.clear()
    assert table.items == [] and table.rows == 0


def test_server_table_fetches_only_the_page_shown() -> None:
    rows = [[f"H{i:04d}", f"医院{i}", i] for i in range(1000)]
    asked: list[tuple[int, int, str]] = []

    def fetch(offset, limit, sort_by, search):
        asked.append((offset, limit, search))
        found = [r for r in rows if search in r[1]]
        return rows_items(found[offset : offset + limit], start=offset, key_column=0), len(found)

    table = vue.ServerDataTable("s", ["代码", "名称", "数"], fetch, selectable=True)
    table.reload()
    assert len(table.items) == 25 and table.table.items_length == 1000
    table.table.vue_options_changed({"page": 3, "itemsPerPage": 50, "sortBy": []})
    assert asked[-1] == (100, 50, "") and table.items[0]["_key"] == "H0100"
    table.table.search = "医院99"
    assert asked[-1] == (0, 50, "医院99")
    assert table.table.items_length == 11  # 医院99, 医院990…医院999


def test_confirm_dialog_needs_the_word() -> None:
    done: list[int] = []
    dialog = vue.ConfirmDialog("清空所有数据（危险）", "c", lambda: done.append(1))
    dialog.ask("将删除全部数据。")
    assert dialog.is_open and dialog.ok.disabled
    dialog.field.v_model = "确"
    assert dialog.ok.disabled and dialog.confirm() is False and done == []
    dialog.field.v_model = "确认"
    assert not dialog.ok.disabled
    assert dialog.confirm() is True and done == [1] and not dialog.is_open
    dialog.ask("再来一次")
    dialog.close()
    assert done == [1] and dialog.field.v_model == ""


def test_panel_reads_on_open() -> None:
    opened: list[int] = []
    panel = vue.Panel("日志", [], "p", on_open=lambda: opened.append(1))
    panel.open()
    assert panel.is_open and opened == [1]
    panel.close()
    assert not panel.is_open


def test_downloader_script_saves_once() -> None:
    message = vue.Message()
    down = vue.Downloader("保存", lambda _p: vue.Download("表.xlsx", b"abc"), message, "d")
    assert down.click() is True
    assert down.last is not None and down.last.filename == "表.xlsx"
    (output,) = down.output.outputs
    script = output["data"]["application/javascript"]
    assert "window.cwdxSaved[k]" in script and '"\\u8868.xlsx"' in script


def test_app_bar_buttons() -> None:
    clicks: list[str] = []
    bar = vue.AppBar(
        "机构版", on_about=lambda: clicks.append("about"), on_log=lambda: clicks.append("log")
    )
    assert bar.title_text == "临床工作数据提取 · 机构版"
    bar.about.fire_event("click", {})
    bar.log.fire_event("click", {})
    assert clicks == ["about", "log"]


def test_data_table_height_follows_its_rows() -> None:
    table = vue.DataTable("h", height="300px")
    table.set_rows(["a"], [[i] for i in range(3)])
    assert table.table.height == ""  # a few rows: as high as they are
    table.set_rows(["a"], [[i] for i in range(100)])
    assert table.table.height == "300px"  # many rows scroll inside the table
