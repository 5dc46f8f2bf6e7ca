"""Reports an official can hand on: ``cwdx report --format pdf`` (A4, printed by the local
headless Chromium), pages whose tables fit the width of an A4 sheet, and ``-w`` taken like
every other command.

The PDF is read back with pypdf: its page size (MediaBox) and its text, which must hold the
product name, the report's headings and page numbers, and neither a file path nor code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pypdf import PdfReader
from ws_helper import case_book, staff_book

from cwdx import reports
from cwdx.check import check_workspace
from cwdx.cli import main
from cwdx.demo import write_demo
from cwdx.errors import CwdxError
from cwdx.metrics import compute_workspace
from cwdx.workspace import STAGE_COMPUTED, STAGE_FAILED, Workspace

pytestmark = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The width of an A4 page inside the report's margins (210 mm − 2 × 12 mm) in CSS pixels.
A4_CONTENT_PX = 186 / 25.4 * 96
#: A path as a report must never show it (``/tmp/…``, ``C:\…``, ``file://``).
PATH_LIKE = re.compile(r"file:|[A-Za-z]:\\|/[^\s/]+/")
CODE_WORDS = ("import", "build_institution_report", "build_province_report", "In [", "Traceback")


class Printed:
    """A demo workspace (one institution failed, one computed) and its reports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        manifest = write_demo(root / "demo", institutions=2, cases=200, seed=7)
        self.ws = Workspace(root / "ws")
        for inst in manifest.institutions:
            self.ws.import_files("cases", [root / "demo" / f for f in inst.case_files])
            self.ws.import_files("staff", [root / "demo" / inst.staff_file])
        check_workspace(self.ws)
        compute_workspace(self.ws)
        stages = {info.stage: info.org for info in self.ws.institutions()}
        self.failed, self.computed = stages[STAGE_FAILED], stages[STAGE_COMPUTED]
        self.pdf, self.html = root / "PDF", root / "HTML"

    def report(self, *argv: str) -> int:
        return main(["-w", str(self.ws.path), "report", *argv, "--quiet"])


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Printed:
    made = Printed(tmp_path_factory.mktemp("printed"))
    assert made.report("--all", "-o", str(made.pdf), "--format", "pdf") == 0
    assert made.report("--province", "-o", str(made.pdf), "--format", "pdf") == 0
    assert made.report("--all", "-o", str(made.html)) == 0
    assert made.report("--province", "-o", str(made.html)) == 0
    return made


def pdf_text(path: Path) -> tuple[list[tuple[float, float]], str]:
    """The page sizes (points) and the text of a PDF, its white space removed."""
    reader = PdfReader(path)
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    text = "".join(page.extract_text() or "" for page in reader.pages)
    return sizes, re.sub(r"\s+", "", text)


@pytest.mark.slow
def test_pdf_reports_are_a4_with_the_report_and_nothing_else(printed: Printed) -> None:
    files = sorted(p.relative_to(printed.pdf).as_posix() for p in printed.pdf.rglob("*"))
    assert [f for f in files if "." in f] == sorted(
        [f"{printed.failed}/机构报告.pdf", f"{printed.computed}/机构报告.pdf", "全省报告.pdf"]
    )
    names = {info.org: info.display_name for info in printed.ws.institutions()}
    summary = printed.ws.load_results(printed.computed)["指标汇总"]
    for path, headings in (
        (printed.pdf / printed.failed / "机构报告.pdf", ["数据量", "检测结果", "问题最多的字段"]),
        (printed.pdf / printed.computed / "机构报告.pdf", ["申报人员指标", "未匹配的申报人员"]),
        (printed.pdf / "全省报告.pdf", ["机构与数据量", "检测通过率", "指标分布", "离群值"]),
    ):
        assert path.read_bytes()[:5] == b"%PDF-"
        sizes, text = pdf_text(path)
        assert sizes and all((round(w), round(h)) == (595, 842) for w, h in sizes), sizes
        assert text.count("临床工作数据提取") >= 2  # the banner and the closing line
        for heading in headings:
            assert heading in text, (path, heading)
        assert f"第1页，共{len(sizes)}页" in text and f"第{len(sizes)}页，共{len(sizes)}页" in text
        assert PATH_LIKE.findall(text) == [], path
        for word in CODE_WORDS:
            assert word not in text, (path, word)
        assert re.sub(r"\s+", "", str(printed.root)) not in text
    _, text = pdf_text(printed.pdf / printed.computed / "机构报告.pdf")
    assert f"机构报告：{names[printed.computed]}".replace(" ", "") in text
    # every applicant and the last column of each kind's table made it onto the page
    for license_code in summary["执业证书编码"]:
        assert text.count(str(license_code)) >= 2  # in every part of the split table
    assert "目录术种例数" in text and "护理死亡患者人数" in text


def _table_edges(html_path: Path, extra_html: str = "") -> tuple[list[float], float]:
    """Right edges of every table and chart of the page laid out for print on A4, and the
    page's whole width (CSS pixels)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": round(A4_CONTENT_PX), "height": 1000}, bypass_csp=True
            )
            page = context.new_page()
            page.emulate_media(media="print")
            page.goto(html_path.as_uri())
            if extra_html:
                page.evaluate(
                    "html => document.querySelector('main').insertAdjacentHTML('beforeend', html)",
                    extra_html,
                )
            edges = page.evaluate(
                "() => Array.from(document.querySelectorAll('table, img'))"
                ".map(e => e.getBoundingClientRect().right)"
            )
            width = page.evaluate("() => document.documentElement.scrollWidth")
        finally:
            browser.close()
    return [float(e) for e in edges], float(width)


@pytest.mark.slow
def test_report_tables_fit_an_a4_page(printed: Printed) -> None:
    pages = [
        printed.html / printed.failed / "机构报告.html",
        printed.html / printed.computed / "机构报告.html",
        printed.html / "全省报告.html",
    ]
    for path in pages:
        edges, width = _table_edges(path)
        assert len(edges) >= 3, path
        assert max(edges) <= A4_CONTENT_PX + 0.5, (path, max(edges))
        assert width <= round(A4_CONTENT_PX), (path, width)
    # the check can fail: the physicians' 32 columns in one table would run off the page
    summary = printed.ws.load_results(printed.computed)["指标汇总"]
    whole = reports.indicator_tables(summary)["医师"]
    assert len(whole.columns) > reports.MAX_TABLE_COLUMNS
    edges, _ = _table_edges(pages[1], reports.table_html(whole))
    assert max(edges) > A4_CONTENT_PX + 50


def test_report_takes_w_like_every_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "空工作区"
    Workspace(empty)
    out = str(tmp_path / "o")
    sentence = "工作区中还没有任何机构的数据，请先导入数据后再生成机构报告。\n"
    for argv in (
        ["-w", str(empty), "report", "--all", "-o", out],
        ["report", "-w", str(empty), "--all", "-o", out],
        ["report", "--all", "-o", out, "--workspace", str(empty)],
    ):
        assert main(argv) == 2
        assert capsys.readouterr().err == sentence, argv
    monkeypatch.setenv("CWDX_WORKSPACE", str(empty))
    assert main(["report", "--all", "-o", out]) == 2
    assert capsys.readouterr().err == sentence
    monkeypatch.delenv("CWDX_WORKSPACE")
    assert main(["report", "--all", "-o", out]) == 2
    assert capsys.readouterr().err == "请用 -w 指定工作区文件夹，例如：cwdx -w 工作区 status。\n"


def test_pdf_without_chromium_is_one_sentence_before_any_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.import_files("staff", [staff_book(tmp_path / "人员.xlsx", "H001")])
    ws.import_files("cases", [case_book(tmp_path / "病案.xlsx", "H001")])
    out = tmp_path / "o"
    monkeypatch.setenv(reports.CHROMIUM_ENV, str(tmp_path / "没有浏览器"))
    code = main(["-w", str(ws.path), "report", "--all", "-o", str(out), "--format", "pdf"])
    assert code == 2
    assert capsys.readouterr().err == (
        "环境变量 CWDX_CHROMIUM 指定的浏览器程序不存在或不能运行，"
        "请改为 Chromium、Chrome 或 Edge 的程序文件后重试，或改用 --format html。\n"
    )
    assert not out.exists()
    monkeypatch.delenv(reports.CHROMIUM_ENV)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CwdxError) as info:
        reports.find_chromium()
    assert info.value.message.startswith("生成 PDF 需要本机安装 Chromium 浏览器（Debian/Ubuntu：")
    monkeypatch.setenv(reports.CHROMIUM_ENV, CHROMIUM)
    assert reports.find_chromium() == CHROMIUM
