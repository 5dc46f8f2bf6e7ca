"""The institution app (机构版) end to end: real Voilà server, headless Chromium."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import time
from pathlib import Path

import openpyxl
import pytest
from page_helper import close_dialog, open_app, open_log_dialog, show_tab, wait_preheated
from ws_helper import staff_row, write_book

import cwdx
from cwdx.reader import read_workbook
from cwdx.reference import load_reference

pytestmark = pytest.mark.browser


def open_log(page, expected: str) -> str:
    """Open the 日志 panel and return its text once it shows ``expected``.

    Opening the panel is a message to the kernel, handled after every click sent before it
    (the kernel handles messages in order), so the text is the log after those clicks."""
    open_log_dialog(page)
    page.wait_for_function(
        "(s) => { const t = document.querySelector('.cwdx-log-text textarea');"
        " return t !== null && t.value.includes(s); }",
        arg=expected,
    )
    return page.locator(".cwdx-log-text textarea").input_value()


def upload(page, table: str, files: list[Path], double_click: bool = False) -> None:
    """Choose ``files`` in the table's FileUpload (on the 导入 tab) and click 开始导入; wait
    until it finished."""
    show_tab(page, "import")
    with page.expect_file_chooser() as chooser:
        page.locator(f".cwdx-{table}-upload").click()
    chooser.value.set_files([str(f) for f in files])
    page.locator(f".cwdx-{table}-selected").get_by_text(f"已选择 {len(files)} 个文件").wait_for()
    button = page.locator(f"button.cwdx-{table}-import")
    if double_click:
        button.dblclick()
    else:
        button.click()
    done = re.compile(r"^(导入完成|共 \d+ 个文件)")
    page.locator(f".cwdx-{table}-alert .cwdx-alert", has_text=done).wait_for(timeout=120_000)


def alert_text(page, css: str) -> str:
    """The text of a section's alert ("" when none is shown)."""
    alert = page.locator(f"{css} .cwdx-alert")
    return alert.inner_text() if alert.count() else ""


def run_check(page, message: str) -> None:
    """Click 开始检测 (on the 数据检测 tab) and wait for its closing message (shown after the
    page was refreshed, so the verdict and the rule table are complete when it appears)."""
    show_tab(page, "check")
    page.locator("button.cwdx-check-run").click()
    page.locator(".cwdx-check-alert .cwdx-alert", has_text=message).wait_for(timeout=120_000)


def test_extra_column_and_big_file_are_rejected(start_app, page, make_xlsx, tmp_path: Path) -> None:
    app = start_app()
    seconds = open_app(page, app.url)
    print(f"\n页面可用用时 {seconds:.2f} 秒")
    # generous: the target (< 3 s) is measured by benchmarks/bench_page.py; at load 20 on this
    # 2-core machine even a bare Voilà one-button page took up to 25 s
    assert seconds < 60
    assert page.locator(".cwdx-title").inner_text() == "临床工作数据提取 · 机构版"
    assert "工作区中还没有数据" in page.locator(".cwdx-status").inner_text()
    assert page.title() == "cwdx 机构版"
    for path in ("voila/files/institution.ipynb", "voila/files/../voila.json", "voila/tree"):
        assert page.request.get(app.url + path).status in (403, 404), path

    columns = [spec.name for spec in load_reference().columns("staff")]
    path = make_xlsx("人员-多一列.xlsx", [[*columns, "联系电话"], ["H001"]])
    # 12 MiB of junk named .xlsx: more than Voilà's default 10 MiB websocket message limit
    big = tmp_path / "大文件.xlsx"
    big.write_bytes(os.urandom(12 * 1024 * 1024))

    upload(page, "staff", [path, big])
    assert alert_text(page, ".cwdx-staff-alert") == (
        "共 2 个文件：导入 0 个（0 人），2 个文件未导入，原因见下方。请按原因修改文件后重新导入。"
    )
    results = page.locator(".cwdx-staff-results li").all_inner_texts()
    extra = read_workbook(path, "staff").rejected
    assert "联系电话" in extra  # the reader names the extra column
    assert results == [
        f"人员-多一列.xlsx：未导入。{extra}",
        f"大文件.xlsx：未导入。{read_workbook(big, 'staff').rejected}",
    ]
    assert (
        page.locator(".cwdx-staff-count").inner_text() == "当前工作区中申报人员信息自然表：0 人。"
    )
    assert "工作区中还没有数据" in page.locator(".cwdx-status").inner_text()
    show_tab(page, "check")
    assert page.locator("button.cwdx-check-run").is_disabled()

    # a double click on a download saves one file: the second click is ignored
    show_tab(page, "templates")
    with page.expect_download() as saved:
        page.locator("button.cwdx-template-staff").dblclick()
    assert saved.value.suggested_filename == "申报人员信息自然表表样.xlsx"

    # a double click imports once (the second click is ignored, not an error)
    good = write_book(tmp_path / "申报人员.xlsx", "staff", [staff_row("H001", "张三")])
    upload(page, "staff", [good], double_click=True)

    # the log, read after both double clicks were handled, shows each action once
    # (a second click is either ignored by the kernel or never sent: the button is disabled)
    text = open_log(page, "上传 staff：1 个文件")
    assert text.count("下载：申报人员信息自然表表样.xlsx") == 1
    assert text.count("上传 staff：1 个文件") == 1
    close_dialog(page, ".cwdx-log-section")
    assert alert_text(page, ".cwdx-staff-alert") == "导入完成：1 个文件，共 1 人。"
    assert (
        page.locator(".cwdx-staff-count").inner_text() == "当前工作区中申报人员信息自然表：1 人。"
    )


# ------------------------------------------------------------------------------- the whole flow

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")


def sheet_values(data: bytes | Path) -> dict[str, list[list[object]]]:
    """Every sheet's cell values, time stamps replaced (they differ between two runs)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    book = openpyxl.load_workbook(source, read_only=True)
    out = {}
    for sheet in book.worksheets:
        rows = []
        for row in sheet.iter_rows(values_only=True):
            rows.append(
                [
                    "<时间>"
                    if isinstance(v, dt.datetime) and sheet.title == "口径说明"
                    else TIMESTAMP.sub("<时间>", v)
                    if isinstance(v, str)
                    else v
                    for v in row
                ]
            )
        out[sheet.title] = rows
    return out


def download(page, css: str) -> tuple[str, bytes]:
    """Click a download button; returns the suggested file name and the bytes."""
    with page.expect_download(timeout=120_000) as info:
        page.locator(f"button.{css}").click()
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def rule_counts(page) -> dict[str, int]:
    """规则编号 -> 数量 as the page's rule table shows them."""
    counts = {}
    for row in page.locator(".cwdx-check-rules tbody tr").all():
        cells = row.locator("td").all_text_contents()  # the rules without findings are folded
        counts[cells[0]] = int(cells[2].replace(",", ""))
    return counts


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from cwdx.demo import write_demo

    folder = tmp_path_factory.mktemp("demo")
    manifest = write_demo(folder, institutions=2, cases=200, seed=11)
    return folder, manifest


def oneshot(tmp_path: Path, folder: Path, inst) -> Path:
    """What ``cwdx run`` writes for one institution's files."""
    from cwdx.run import run_oneshot

    out = tmp_path / f"run-{inst.org}"
    cases = [folder / name for name in inst.case_files]
    run_oneshot(cases, [folder / inst.staff_file], out, report=lambda _line: None)
    return out / inst.org


def import_institution(page, folder: Path, inst) -> None:
    upload(page, "cases", [folder / name for name in inst.case_files])
    assert alert_text(page, ".cwdx-cases-alert") == (
        f"导入完成：{len(inst.case_files)} 个文件，共 {inst.case_rows:,} 条。"
    )
    results = page.locator(".cwdx-cases-results").inner_text()
    for name in inst.case_files:
        assert f"{Path(name).name}：导入 " in results
    assert page.locator(".cwdx-cases-count").inner_text() == (
        f"当前工作区中病案首页数据：{inst.case_rows:,} 条。"
    )
    preview = page.locator(".cwdx-cases-preview")
    assert f"预览：前 100 行（共 {inst.case_rows:,} 行）" in preview.inner_text()
    assert preview.locator("tbody tr").count() == 100
    upload(page, "staff", [folder / inst.staff_file])
    assert alert_text(page, ".cwdx-staff-alert") == (
        f"导入完成：1 个文件，共 {inst.staff_rows:,} 人。"
    )


def assert_same_workbook(got: bytes, expected: Path) -> None:
    mine, theirs = sheet_values(got), sheet_values(expected)
    assert list(mine) == list(theirs)
    for name in mine:
        assert mine[name] == theirs[name], f"工作表 {name} 不同"


def test_full_flow(start_app, page, demo, tmp_path: Path) -> None:
    folder, manifest = demo
    failing = next(i for i in manifest.institutions if not i.passes)
    clean = next(i for i in manifest.institutions if i.passes)
    app = start_app()
    seconds = open_app(page, app.url)
    print(f"\n页面可用用时 {seconds:.2f} 秒")
    # generous: the target (< 3 s) is measured by benchmarks/bench_page.py; at load 20 on this
    # 2-core machine even a bare Voilà one-button page took up to 25 s
    assert seconds < 60

    # 查看表样 (the first tab)
    name, data = download(page, "cwdx-template-cases")
    assert name == "病案首页数据表样.xlsx"
    header = sheet_values(data)["病案首页数据"][0]
    assert header == [spec.name for spec in load_reference().columns("cases")]

    # a failing institution
    import_institution(page, folder, failing)
    status = page.locator(".cwdx-status").inner_text()
    assert f"病案首页数据 {failing.case_rows:,} 条，申报人员 {failing.staff_rows:,} 人" in status
    run_check(
        page, "检测完成：本机构数据有错误，请保存反馈表，按反馈表修改数据后删除历史数据并重新导入。"
    )
    verdict = page.locator(".cwdx-check-verdict .cwdx-verdict")
    assert verdict.inner_text() == "数据检测不通过"
    shown = rule_counts(page)
    assert len(shown) == 29
    assert {k: v for k, v in shown.items() if v} == {
        k: v for k, v in failing.expected_counts.items() if v
    }
    assert page.locator(".cwdx-check-rules tr.cwdx-row-error").count() == sum(
        1 for k, v in failing.expected_counts.items() if v and k.startswith("E")
    )
    # findings first: the error rules lead; a click on one lists its findings in the page
    first = page.locator(".cwdx-check-rules tbody tr").first
    assert "cwdx-row-error" in (first.get_attribute("class") or "")
    rule = first.locator("td").first.inner_text()
    page.locator(".cwdx-check-pick button", has_text=rule).first.click()
    findings = page.locator(".cwdx-check-findings")
    findings.get_by_text(f"规则 {rule}（错误）共").wait_for()
    header = findings.locator("th").all_inner_texts()
    assert header == ["文件", "行号", "列", "值", "说明"]
    assert findings.locator("tbody tr").count() == min(failing.expected_counts[rule], 100)
    # the page stays one screen-sized: tables scroll inside, old messages are replaced
    height = page.evaluate("() => document.documentElement.scrollHeight")
    print(f"页面高度 {height} px")
    assert height < 2600
    assert page.locator(".cwdx-alert").count() <= 3  # one per area shown, never a stack
    expected = oneshot(tmp_path, folder, failing)
    for table, file in (("cases", "病案首页反馈表.xlsx"), ("staff", "申报人员反馈表.xlsx")):
        name, data = download(page, f"cwdx-feedback-{table}")
        assert name == file
        assert_same_workbook(data, expected / file)
    show_tab(page, "compute")
    assert page.locator("button.cwdx-compute-run").is_disabled()

    # delete both tables (confirmation by typing 确认), which unfreezes the institution
    show_tab(page, "import")
    for table, word, frozen in (
        ("cases", "病案首页数据", True),  # checked: deleting also unfreezes
        ("staff", "申报人员信息自然表", False),  # already back at 已上传
    ):
        page.locator(f"button.cwdx-{table}-delete").click()
        box = page.locator(f".cwdx-{table}-delete-box")
        box.wait_for(state="visible")
        assert ("检测结果和计算结果一并清除" in box.inner_text()) is frozen
        ok = page.locator(f"button.cwdx-{table}-delete-box-ok")
        assert ok.is_disabled()  # until the word is typed
        page.locator(f".cwdx-{table}-delete-box-word input").fill("确认")
        page.locator(f"button.cwdx-{table}-delete-box-ok:not([disabled])").click()
        page.locator(f".cwdx-{table}-alert").get_by_text(f"已删除{word}").wait_for()
    assert "工作区中还没有数据" in page.locator(".cwdx-status").inner_text()
    show_tab(page, "check")
    assert page.locator(".cwdx-check-verdict").inner_text() == ""

    # the clean institution: passes, computes, downloads equal what `cwdx run` writes
    import_institution(page, folder, clean)
    show_tab(page, "check")
    assert alert_text(page, ".cwdx-check-alert") == ""  # the failed check's message went with it
    run_check(page, "检测完成：没有错误，可以进行指标计算。")
    assert verdict.inner_text() == "数据检测通过"
    assert page.locator(".cwdx-check-rules tr.cwdx-row-error").count() == 0
    show_tab(page, "compute")
    page.locator("button.cwdx-compute-run").click()
    page.locator(".cwdx-compute-alert .cwdx-alert", has_text="计算完成").wait_for(timeout=120_000)
    summary = page.locator(".cwdx-compute-summary")
    assert f"申报人员 {clean.staff_rows:,} 人" in summary.inner_text()
    assert page.locator(".cwdx-compute-preview tbody tr").count() == min(clean.staff_rows, 100)

    expected = oneshot(tmp_path, folder, clean)
    name, data = download(page, "cwdx-results")
    assert name == "计算结果表.xlsx"
    assert_same_workbook(data, expected / "计算结果表.xlsx")
    show_tab(page, "check")
    for table, file in (("cases", "病案首页反馈表.xlsx"), ("staff", "申报人员反馈表.xlsx")):
        name, data = download(page, f"cwdx-feedback-{table}")
        assert name == file
        assert_same_workbook(data, expected / file)
    name, data = download(page, "cwdx-feedback-brief")
    assert name == "精简版反馈信息表.xlsx"
    assert_same_workbook(data, expected.parent / name)

    # every button the user sees speaks Chinese (no English or Jupyter words)
    show_tab(page, "compute")
    labels = [t.strip() for t in page.locator("button:visible").all_inner_texts()]
    assert "开始计算" in labels and "保存计算结果表" in labels
    assert [t for t in labels if re.search(r"[A-Za-z]{2,}", t)] == []

    # 关于 and 日志
    page.locator(".cwdx-appbar-about").click()
    about = page.locator(".cwdx-about-body")
    about.get_by_text(f"指标口径版本：{cwdx.METRICS_VERSION}").wait_for()
    assert f"产品版本：cwdx {cwdx.__version__}" in about.inner_text()
    for ref_file in load_reference().files:
        assert ref_file.sha256 in about.inner_text()
    assert "《疾病分类与代码国家临床版2.0》" in about.inner_text()
    close_dialog(page, ".cwdx-about")
    text = open_log(page, "下载：计算结果表.xlsx")
    log_box = page.locator(".cwdx-log-text textarea")
    log_box.click()
    page.keyboard.press("Control+A")  # selects the whole log for Ctrl+C
    assert page.evaluate(
        "() => { const t = document.querySelector('.cwdx-log-text textarea');"
        " return t.selectionStart === 0 && t.selectionEnd === t.value.length; }"
    )
    for name in [*clean.case_files, clean.staff_file]:
        assert Path(name).name in text
    assert "通过=" not in text and "INFO" not in text  # time, level in Chinese, message
    assert str(app.workspace / "logs") in page.locator(".cwdx-log-folder").inner_text()
    name, data = download(page, "cwdx-log-download")
    assert name == "cwdx.log"
    assert "下载：计算结果表.xlsx".encode() in data


def page_kernels(server) -> list:
    """The kernel processes of the app's server."""
    return [p for p in server.children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]


def test_lost_kernel_says_reload_in_chinese(start_app, page) -> None:
    import psutil  # an ipykernel dependency

    app = start_app()
    wait_preheated(app)  # the page gets the preheated kernel
    open_app(page, app.url)
    server = psutil.Process(app.process.pid)
    # the page's kernel and, once Voilà has put it back, the spare preheated one (started
    # after the page's was handed out: the page's is the older)
    deadline = time.monotonic() + 60
    while len(kernels := page_kernels(server)) < 2:
        assert time.monotonic() < deadline, kernels
        time.sleep(0.2)
    assert len(kernels) == 2
    min(kernels, key=lambda p: p.create_time()).kill()  # as a crash, or culling, would
    notice = page.locator("#cwdx-disconnected")
    notice.wait_for()
    assert notice.inner_text().startswith(
        "与系统的连接已断开（例如长时间未操作、网络中断或系统已重启），页面上的按钮暂时无法使用。"
    )
    page.locator("#cwdx-disconnected button", has_text="刷新页面").click()
    page.locator("button.cwdx-template-cases:not([disabled])").wait_for(timeout=120_000)
    assert notice.count() == 0  # a new page with its own kernel
    assert "工作区中还没有数据" in page.locator(".cwdx-status").inner_text()
