"""Batch reports (``cwdx report``) and the analyst notebook, executed with papermill.

Modelled on papermill's own tests: execute the notebooks on a fixture (a small demo workspace:
one institution with problems of every rule, one clean and computed) and assert on the output
HTML/notebook a user opens: the Chinese headings, the finding counts, an applicant's indicator,
no code cells, and that a failed report is listed at the end while the others are written.
"""

from __future__ import annotations

import gc
import html
import json
import re
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest
from ws_helper import case_book, staff_book

from cwdx import reports, resources
from cwdx.check import check_workspace
from cwdx.cli import main
from cwdx.demo import write_demo
from cwdx.errors import CwdxError
from cwdx.metrics import compute_workspace
from cwdx.reports import runner
from cwdx.workspace import STAGE_COMPUTED, STAGE_FAILED, Workspace

NOTEBOOKS = resources.notebook_dir()


# ------------------------------------------------------------------------------------ fixtures


# papermill's kernel clients leave sockets and event loops to the garbage collector; their
# ResourceWarnings would surface in whichever test happens to collect them
pytestmark = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(scope="module", autouse=True)
def _collect_kernel_clients() -> Iterator[None]:
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """2 demo institutions × 200 cases: imported, checked, the clean one computed."""
    root = tmp_path_factory.mktemp("reports")
    manifest = write_demo(root / "demo", institutions=2, cases=200, seed=7)
    ws = Workspace(root / "ws")
    for inst in manifest.institutions:
        ws.import_files("cases", [root / "demo" / f for f in inst.case_files])
        ws.import_files("staff", [root / "demo" / inst.staff_file])
    check_workspace(ws)
    compute_workspace(ws)
    return ws


@pytest.fixture(scope="module")
def orgs(demo_ws: Workspace) -> tuple[str, str]:
    """(the institution that failed its check, the computed one)."""
    infos = {info.stage: info.org for info in demo_ws.institutions()}
    return infos[STAGE_FAILED], infos[STAGE_COMPUTED]


@pytest.fixture
def uploaded_ws(tmp_path: Path) -> Workspace:
    """A workspace with one institution that is only imported (not checked)."""
    ws = Workspace(tmp_path / "ws")
    ws.import_files("staff", [staff_book(tmp_path / "人员.xlsx", "H001")])
    ws.import_files("cases", [case_book(tmp_path / "病案.xlsx", "H001", "H001")])
    return ws


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class _Tables(HTMLParser):
    """Headings, paragraphs and tables (rows of cell texts) of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.paragraphs: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._text: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "h1", "h2", "h3", "p"):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._text is not None:
            self._row.append("".join(self._text).strip())
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None
        elif tag in ("h1", "h2", "h3") and self._text is not None:
            self.headings.append("".join(self._text).strip())
        elif tag == "p" and self._text is not None:
            self.paragraphs.append("".join(self._text).strip())
        if tag in ("td", "th", "h1", "h2", "h3", "p"):
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def table_with(self, *header: str) -> pd.DataFrame:
        """The first table whose header row holds these columns, as a DataFrame of texts."""
        for table in self.tables:
            if table and all(h in table[0] for h in header):
                return pd.DataFrame(table[1:], columns=table[0])
        raise AssertionError(f"no table with columns {header}")


def parse(path: Path) -> _Tables:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def visible_text(text: str) -> str:
    """The words a reader of the page sees (tags, styles and scripts removed)."""
    visible = re.sub(r"<(style|script)\b.*?</\1>", "", text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", visible))


#: A file-system path as a report must never show it (``/tmp/…/ws``, ``C:\\…``, ``file://``).
PATH_LIKE = re.compile(r"file:|[A-Za-z]:\\|(?:^|[\s（(：:])/[^\s/]+/")


def assert_no_code(text: str) -> None:
    """The exported page is the report alone: the product name, the outputs, no code cell
    input, no prompts, no scripts, no file paths."""
    assert not re.search(r'class="[^"]*jp-(InputArea|InputPrompt|OutputPrompt)', text)
    assert "<script" not in text.lower()
    assert "default-src 'none'" in text  # the page may fetch nothing, run nothing
    assert '<span class="cwdx-product">临床工作数据提取</span>' in text
    # no warnings (e.g. missing glyphs) or other text on stderr/stdout made it into the page
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in text
    assert 'data-mime-type="text/plain"' not in text
    visible = visible_text(text)
    assert PATH_LIKE.findall(visible) == []
    assert "工作区 /" not in visible and "工作区：" not in visible
    assert "In [" not in visible and "Out[" not in visible
    assert "build_institution_report" not in visible and "build_province_report" not in visible
    assert "import" not in visible and "Traceback" not in visible
    assert_self_contained(text)


#: A reference the browser would fetch: an attribute, a CSS url(), an import or a script/style
#: file name (a URL in a CSS comment or an SVG namespace is not fetched).
FETCHED_URL = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?|import\s*\(?\s*["'])https?://"""
    r"""|https?://[^\s"'<>()]+\.(?:js|mjs|css|woff2?|ttf)\b""",
    re.I,
)


def assert_self_contained(text: str) -> None:
    """The report loads nothing from other hosts (no require.js, MathJax or mermaid CDN): it
    opens the same on a hospital PC without internet."""
    assert FETCHED_URL.findall(text) == []


INSTITUTION_HEADINGS = ["数据量", "检测结果", "问题最多的字段", "申报人员指标", "未匹配的申报人员"]
PROVINCE_HEADINGS = ["机构与数据量", "检测通过率", "全省最常见的问题", "指标分布", "离群值"]


# -------------------------------------------------------------------- cwdx report (papermill)


@pytest.mark.slow
def test_report_all_writes_one_html_per_institution(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    demo_ws: Workspace,
    orgs: tuple[str, str],
) -> None:
    failed, computed = orgs
    out = tmp_path / "报告"
    code, stdout, err = run(capsys, "-w", str(demo_ws.path), "report", "--all", "-o", str(out))
    assert code == 0, err
    assert stdout == ""
    lines = err.splitlines()
    assert lines[-1] == "共 2 份报告：已生成 2 份。"
    names = {info.org: info.display_name for info in demo_ws.institutions()}
    for org in orgs:
        target = out.resolve() / org / "机构报告.html"
        assert f"已生成机构 {names[org]}的机构报告：{target}" in lines
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        f"{org}/机构报告.html" for org in orgs
    )

    # the institution that failed its check: counts by rule, worst columns, no indicators
    path = out / failed / "机构报告.html"
    text = path.read_text(encoding="utf-8")
    assert_no_code(text)
    page = parse(path)
    assert page.headings[0] == f"机构报告：{names[failed]}"
    assert page.headings[1:] == INSTITUTION_HEADINGS
    assert text.count("<img alt=") == 1  # the bar chart of the rules
    record = demo_ws.load_check(failed)
    by_rule = page.table_with("规则编号", "级别", "问题数").set_index("规则编号")
    expected = {rid: n for rid, n in record.counts.items() if n}
    assert by_rule["问题数"].astype(int).to_dict() == expected
    assert by_rule.loc["W08", "级别"] == "警告"
    assert by_rule.index[0] == max(expected, key=lambda r: expected[r])  # most frequent first
    info = demo_ws.institution(failed)
    assert (
        f"检测结论：未通过（检测时间 {record.time}）。共发现错误 {info.errors} 个、警告 {info.warnings} 个。"
        in page.paragraphs
    )
    worst = page.table_with("数据表", "字段", "问题数", "涉及规则")
    named = record.findings[record.findings["column"].fillna("") != ""]
    top = named.groupby(["table", "column"]).size().max()
    assert int(worst["问题数"].iloc[0]) == top
    assert len(worst) == 10
    assert (
        f"本机构尚未完成指标计算（当前阶段：{STAGE_FAILED}）；数据检测通过并执行指标计算后，这里会列出申报人员的指标。"
        in page.paragraphs
    )

    # the computed institution: indicator tables, distribution charts, matched applicants
    path = out / computed / "机构报告.html"
    text = path.read_text(encoding="utf-8")
    assert_no_code(text)
    page = parse(path)
    assert page.headings[1:6] == INSTITUTION_HEADINGS[:4] + ["医师（14 人）"]
    assert "未发现任何问题。" in page.paragraphs
    summary = demo_ws.load_results(computed)["指标汇总"]
    # 6 identity columns and 26 indicators: split into parts of at most 10 columns that fit
    # the width of an A4 page, each part after the first repeating 姓名 and 执业证书编码
    physicians = page.table_with("姓名", "执业证书编码", "拟申报级别", "出院患者人数")
    days = page.table_with("姓名", "执业证书编码", "平均住院日")
    assert "本表列数较多，分 4 段列出，每段都列出姓名、执业证书编码。" in page.paragraphs
    assert max(len(table[0]) for table in page.tables) <= reports.MAX_TABLE_COLUMNS
    assert "组织机构代码" not in physicians  # the report's own institution
    assert len(physicians) == len(days) == int((summary["人员类别"] == "1").sum()) == 14
    person = summary[summary["人员类别"] == "1"].iloc[0]
    row = physicians[physicians["执业证书编码"] == person["执业证书编码"]].iloc[0]
    assert row["姓名"] == person["姓名"]
    assert row["出院患者人数"] == str(person["出院患者人数"])
    assert days[days["执业证书编码"] == person["执业证书编码"]].iloc[0]["平均住院日"] == (
        f"{person['平均住院日']:.2f}"
    )
    assert row["拟申报级别"] in ("正高级", "副高级")
    nurses = page.table_with("姓名", "责任护理出院患者人数")
    assert len(nurses) == 13
    assert text.count("<img alt=") == 2  # 医师, 护士 box plots by 申报专业
    assert "全部申报人员均已匹配到病案。" in page.paragraphs
    noted = page.table_with("姓名", "说明")
    assert noted["说明"].str.contains("仅作为质控护师出现").all()


@pytest.mark.slow
def test_report_province(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    demo_ws: Workspace,
    orgs: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a user's Jupyter folder whose python3 kernel points elsewhere does not matter: the
    # report kernel is always this Python
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["/nonexistent/python", "-f", "{connection_file}"],
                "language": "python",
                "display_name": "x",
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    out = tmp_path / "省"
    code, _, err = run(capsys, "-w", str(demo_ws.path), "report", "--province", "-o", str(out))
    assert code == 0, err
    assert err.splitlines()[-1] == "共 1 份报告：已生成 1 份。"
    path = out / "全省报告.html"
    text = path.read_text(encoding="utf-8")
    assert_no_code(text)
    page = parse(path)
    assert page.headings == ["全省报告", *PROVINCE_HEADINGS]
    stages = page.table_with("阶段", "机构数").set_index("阶段")["机构数"].to_dict()
    assert stages == {"已上传": "0", "已检测-未通过": "1", "已检测-通过": "0", "已计算": "1"}
    assert (
        "已检测 2 个机构，通过 1 个，未通过 1 个，通过率 50.00%；未检测 0 个。" in page.paragraphs
    )
    problems = page.table_with("规则编号", "问题数", "涉及机构数").set_index("规则编号")
    counts = demo_ws.load_check(orgs[0]).counts
    assert problems.loc["W08", "问题数"] == str(counts["W08"])
    assert problems.loc["W08", "涉及机构数"] == "1"
    assert len(problems) == 15
    # rule bar chart + (医师, 护士) × (申报专业, 拟申报级别) box plots
    assert text.count("<img alt=") == 5
    assert "来自 1 个已计算机构的 27 位申报人员。" in page.paragraphs
    # outliers are judged within each 申报专业; the demo's specialties hold 1–6 applicants
    expected = reports.outliers(demo_ws.load_results(orgs[1])["指标汇总"])
    if expected.empty:
        assert "未发现离群值。" in page.paragraphs
    else:
        found = page.table_with("姓名", "指标", "数值", "参考范围")
        assert len(found) == len(expected)
        assert f"共发现 {len(expected)} 个离群值。" in page.paragraphs


@pytest.mark.slow
def test_failed_report_is_listed_at_the_end(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_ws: Workspace, orgs: tuple[str, str]
) -> None:
    out = tmp_path / "nb"
    argv = ["-w", str(demo_ws.path), "report", "--org", "NOPE", orgs[1], "--format", "ipynb"]
    code, _, err = run(capsys, *argv, "-o", str(out))
    assert code == 1
    assert err.splitlines()[-2:] == [
        "共 2 份报告：已生成 1 份，未生成 1 份：",
        "机构 NOPE 的机构报告未生成：工作区中没有机构 NOPE，请用 status 命令（或机构列表）查看已导入的机构代码。",
    ]
    assert [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()] == [
        f"{orgs[1]}/机构报告.ipynb"
    ]
    notebook = nbformat.read(out / orgs[1] / "机构报告.ipynb", as_version=4)
    assert notebook.cells[0].metadata.tags == ["parameters"]
    assert notebook.cells[1].metadata.tags == ["injected-parameters"]
    assert f'org = "{orgs[1]}"' in notebook.cells[1].source
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert {o.output_type for o in outputs} == {"display_data"}  # no warnings on stderr
    html_out = "".join(o.get("data", {}).get("text/html", "") for o in notebook.cells[2].outputs)
    assert "申报人员指标" in html_out


@pytest.mark.slow
def test_a_notebook_error_becomes_one_chinese_sentence(
    tmp_path: Path, demo_ws: Workspace, orgs: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CwdxError raised in the notebook keeps its message; anything else is an internal
    error naming the log; the other report is still written; no partial file is left."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                'workspace = ""\norg = ""', metadata={"tags": ["parameters"]}
            ),
            nbformat.v4.new_code_cell(
                "from cwdx.errors import CwdxError\n"
                f"if org == {orgs[0]!r}:\n    raise CwdxError('工作区已损坏，请重新导入。')\n"
                "from IPython.display import HTML, display\n"
                "print('打印的文字')\n"
                "display(HTML('<p>好</p>'))"
            ),
        ],
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
    )
    nbformat.write(notebook, folder / reports.INSTITUTION_NOTEBOOK)
    monkeypatch.setattr(resources, "notebook_dir", lambda: folder)
    lines: list[str] = []
    progress: list[tuple[int, int]] = []
    code = reports.run_reports(
        demo_ws,
        tmp_path / "out",
        on_progress=lambda done, total, label: progress.append((done, total)),
        report=lines.append,
    )
    assert code == 1
    names = {info.org: info.display_name for info in demo_ws.institutions()}
    assert lines[-1] == f"机构 {names[orgs[0]]}的机构报告未生成：工作区已损坏，请重新导入。"
    assert progress[0] == (0, 2) and progress[-1] == (2, 2)
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
    )
    assert written == [orgs[1], f"{orgs[1]}/机构报告.html"]
    page = (tmp_path / "out" / orgs[1] / "机构报告.html").read_text(encoding="utf-8")
    assert "<p>好</p>" in page
    assert "打印的文字" not in page  # text streams (warnings, prints) never reach the report


def test_internal_error_text() -> None:
    job = reports.ReportJob("全省报告", Path("x.ipynb"), {}, Path("out/全省报告.html"))
    error = papermill.PapermillExecutionError(0, 1, "", "ValueError", "boom", [])
    assert runner._failure_text(job, error) == (
        "全省报告未生成：生成报告时发生内部错误，详情已写入日志文件。"
    )
    error = papermill.PapermillExecutionError(0, 1, "", "CwdxError", "找不到工作区。", [])
    assert runner._failure_text(job, error) == "全省报告未生成：找不到工作区。"
    from nbclient.exceptions import DeadKernelError

    assert runner._failure_text(job, DeadKernelError("Kernel died")) == (
        "全省报告未生成：运行报告的 Python 内核未能启动、意外退出或超时（可能是内存不足），"
        "请关闭其他程序后重试；详情已写入日志文件。"
    )


def test_usage_problems(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_ws: Workspace
) -> None:
    empty = tmp_path / "empty"
    Workspace(empty)
    code, _, err = run(capsys, "-w", str(empty), "report", "--all", "-o", str(tmp_path / "o"))
    assert (code, err) == (2, "工作区中还没有任何机构的数据，请先导入数据后再生成机构报告。\n")
    with pytest.raises(CwdxError, match="^未知的报告格式“docx”，请使用 html、pdf 或 ipynb。$"):
        reports.run_reports(demo_ws, tmp_path / "o", fmt="docx")
    code, _, err = run(capsys, "-w", str(demo_ws.path), "report", "-o", str(tmp_path / "o"))
    assert code == 2 and "必须给出以下参数之一：--org --all --province" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "-w", str(demo_ws.path), "report", "--province", "-o", str(blocker))
    assert code == 2
    assert (
        err == f"无法创建输出文件夹 {blocker.resolve()}（已有同名文件），请换一个可写的文件夹。\n"
    )


def test_missing_report_packages_are_named(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    demo_ws: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # by name: another test may have re-imported cwdx.reports (the CLI imports it lazily)
    monkeypatch.setattr("cwdx.reports.runner.REPORT_PACKAGES", ("papermill", "没有这个包"))
    code, _, err = run(capsys, "-w", str(demo_ws.path), "report", "--province", "-o", str(tmp_path))
    assert (code, err) == (
        2,
        '批量报告需要的组件未安装（没有这个包），请执行 pip install "cwdx[app]" 后重试。\n',
    )


# ----------------------------------------------------------------- report building (in-process)


def test_reports_of_a_workspace_not_checked(uploaded_ws: Workspace) -> None:
    report = reports.build_institution_report(uploaded_ws, "H001")
    assert [s.heading for s in report.sections] == INSTITUTION_HEADINGS
    assert report.find("检测结果").blocks == [
        "<p>本机构尚未进行数据检测（当前阶段：已上传），暂无检测结果；请先执行数据检测。</p>"
    ]
    assert report.find("未匹配的申报人员").blocks == [
        "<p>本机构尚未完成指标计算，暂无匹配结果。</p>"
    ]
    province = reports.build_province_report(uploaded_ws.path)
    assert [s.heading for s in province.sections] == PROVINCE_HEADINGS
    assert province.find("检测通过率").blocks == ["<p>还没有机构完成数据检测。</p>"]
    assert province.find("指标分布").blocks == ["<p>还没有机构完成指标计算，暂无指标分布。</p>"]
    with pytest.raises(CwdxError, match="^工作区中没有机构 H999，"):
        reports.build_institution_report(uploaded_ws, "H999")
    with pytest.raises(CwdxError, match="^找不到工作区文件夹 "):
        reports.build_province_report(uploaded_ws.path / "nope")


def test_tables_are_escaped_text() -> None:
    frame = pd.DataFrame({"姓名": ["<script>x</script>", None], "数值": [1.5, float("nan")]})
    html_text = reports.table_html(frame)
    assert "<script>" not in html_text and "&lt;script&gt;x&lt;/script&gt;" in html_text
    assert "<td>1.50</td>" in html_text and "<td></td>" in html_text
    assert reports.table_html(frame.iloc[:0]) == "<p>（无）</p>"


def test_worst_columns_and_rule_counts() -> None:
    findings = pd.DataFrame(
        {
            "table": ["cases", "cases", "staff", "cases", "cases"],
            "column": ["出院科别", "出院科别", "学历", "", "出院时间"],
            "rule_id": ["W07", "E15", "E01", "W09", "E15"],
        }
    )
    worst = reports.worst_columns(findings)
    assert worst.to_dict("records") == [
        {"数据表": "病案首页数据", "字段": "出院科别", "问题数": 2, "涉及规则": "E15、W07"},
        {"数据表": "病案首页数据", "字段": "出院时间", "问题数": 1, "涉及规则": "E15"},
        {"数据表": "申报人员信息", "字段": "学历", "问题数": 1, "涉及规则": "E01"},
    ]
    counts = reports.rule_counts({"W07": 2, "E15": 3, "E01": 0, "W06": 2}, case_rows=200)
    assert list(counts["规则编号"]) == ["E15", "W06", "W07"]
    assert (
        counts["说明"].iloc[1] == "病案首页信息中，存在手术记录，但术者为空，共有2条记录，占1.00%。"
    )


def test_outliers_are_judged_within_each_specialty() -> None:
    """Each 申报专业 against itself: 40 is far out among cardiologists (10–14) though not
    against the whole province; a specialty with fewer than 5 values is not judged."""
    specialties = ["心血管内科"] * 6 + ["骨科"] * 5 + ["眼科"] * 4
    summary = pd.DataFrame(
        {
            "组织机构代码": ["H1"] * 8 + ["H2"] * 7,
            "姓名": [f"人{i}" for i in range(15)],
            "申报专业": specialties,
            "出院患者人数": pd.array(
                [10, 11, 12, 13, 14, 40, 100, 105, 110, 115, 120, 1, 2, 3, 100], dtype="Int64"
            ),
            "死亡人数": pd.array([0] * 5 + [5] + [0] * 9, dtype="Int64"),  # IQR 0: not judged
            "平均住院日": pd.array(
                [8.0] * 6 + [7.0, 7.5, 8.0, 8.5, 1.0] + [None] * 4, dtype="Float64"
            ),
        }
    )
    found = reports.outliers(summary)
    assert found[["姓名", "申报专业", "指标", "数值", "参考范围"]].values.tolist() == [
        ["人5", "心血管内科", "出院患者人数", "40", "7.50–17.50"],
        ["人10", "骨科", "平均住院日", "1.00", "5.50–9.50"],
    ]
    # judged over everyone at once, the very same numbers would give other answers
    pooled = reports.outliers(summary.drop(columns="申报专业"))
    assert "人5" not in set(pooled["姓名"])
    assert reports.MIN_GROUP == 5


def test_box_plots_only_for_groups_of_five_or_more() -> None:
    """Groups of 6 and 5 get a box, groups of 4 and 1 one point per value; a group with only
    3 values in a panel gets points in that panel."""
    sizes = {"心血管内科": 6, "普通外科": 5, "眼科": 4, "儿科": 1}
    specialty = [name for name, n in sizes.items() for _ in range(n)]
    surgeries = [float(i) for i in range(6)] + [1.0, 2.0, 3.0, None, None] + [1.0] * 5
    summary = pd.DataFrame(
        {
            "申报专业": specialty,
            "出院患者人数": pd.array(range(16), dtype="Int64"),
            "手术例数": pd.array(surgeries, dtype="Float64"),
        }
    )
    figure = reports.box_plots(summary, "申报专业", ["出院患者人数", "手术例数"], "分布")
    assert figure is not None

    def drawn(ax) -> dict[str, int]:
        out = {}
        for artist in ax.get_children():
            gid = artist.get_gid()
            if gid and gid.startswith(("box:", "points:")):
                out[gid] = len(artist.get_xdata()) if gid.startswith("points:") else 1
        return out

    assert drawn(figure.axes[0]) == {
        "box:心血管内科": 1,
        "box:普通外科": 1,
        "points:眼科": 4,
        "points:儿科": 1,
    }
    assert drawn(figure.axes[1]) == {
        "box:心血管内科": 1,
        "points:普通外科": 3,
        "points:眼科": 4,
        "points:儿科": 1,
    }
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["眼科（4 人）", "普通外科（5 人）", "心血管内科（6 人）", "儿科（1 人）"]


def test_wide_tables_are_split_to_fit_the_page() -> None:
    frame = pd.DataFrame([range(13)], columns=[f"c{i}" for i in range(13)])
    parts = reports.column_parts(frame, keys=("c0", "c1"), width=5)
    assert [list(part.columns) for part in parts] == [
        ["c0", "c1", "c2", "c3", "c4"],
        ["c0", "c1", "c5", "c6", "c7"],
        ["c0", "c1", "c8", "c9", "c10"],
        ["c0", "c1", "c11", "c12"],
    ]
    assert reports.column_parts(frame.iloc[:, :5], keys=("c0",), width=5)[0] is not None
    assert len(reports.column_parts(frame, width=13)) == 1
    section = reports.Section("表").table(frame, keys=("c0", "c1"))
    assert section.blocks[0] == "<p>本表列数较多，分 2 段列出，每段都列出c0、c1。</p>"
    assert [len(b.columns) for b in section.blocks[1:]] == [10, 5]


def test_charts_use_a_chinese_font_without_warnings(
    demo_ws: Workspace, orgs: tuple[str, str]
) -> None:
    rc = reports.chart_rc()
    assert rc["font.family"][0] == "WenQuanYi Micro Hei"
    assert rc["font.family"][-1] == reports.FALLBACK_FONT
    summary = demo_ws.load_results(orgs[1])["指标汇总"]
    physicians = summary[summary["人员类别"] == "1"]
    levels = physicians["拟申报级别"].value_counts()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = reports.box_plots(
            physicians, "拟申报级别", ["出院患者人数", "手术例数"], "医师指标分布"
        )
        assert figure is not None
        assert [ax.get_title() for ax in figure.axes] == ["出院患者人数", "手术例数"]
        assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == [
            f"正高级（{levels['1']} 人）",
            f"副高级（{levels['2']} 人）",
        ]
        html_text = reports.figure_html(figure)
    assert html_text.startswith("<img alt='医师指标分布' src='data:image/png;base64,")
    assert reports.box_plots(summary.iloc[:0], "申报专业", ["出院患者人数"], "空") is None


# ------------------------------------------------------------------------------ explore.ipynb


@pytest.mark.slow
def test_explore_notebook_runs_on_the_demo_workspace(
    tmp_path: Path, demo_ws: Workspace, orgs: tuple[str, str]
) -> None:
    output = tmp_path / "explore.ipynb"
    notebook = papermill.execute_notebook(
        str(NOTEBOOKS / "explore.ipynb"),
        str(output),
        parameters={"workspace": str(demo_ws.path)},
        progress_bar=False,
        kernel_manager_class=runner._kernel_manager_class(),
    )
    texts = [
        "".join(o.get("text", "") for o in cell.get("outputs", []))
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]
    record = demo_ws.load_check(orgs[0])
    assert f"检测未通过，共 {len(record.findings)} 条问题记录" in "".join(texts)
    top = max(record.counts, key=lambda r: record.counts[r])
    assert re.search(rf"规则 {top}（(警告|错误)）：{record.counts[top]} 条问题记录", "".join(texts))
    assert re.search(r"：全部 \d+ 项指标重新计算结果与已保存结果一致", texts[-2])
    shown = "".join(o.get("data", {}).get("text/html", "") for o in notebook.cells[-1].outputs)
    assert f"<h1>机构报告：{demo_ws.institution(orgs[1]).display_name}</h1>" in shown
    # the analyst notebook only reads: the workspace is unchanged
    assert {i.org: i.stage for i in demo_ws.institutions()} == {
        orgs[0]: STAGE_FAILED,
        orgs[1]: STAGE_COMPUTED,
    }
    assert json.loads(output.read_text(encoding="utf-8"))["metadata"]["papermill"][
        "parameters"
    ] == {"workspace": str(demo_ws.path)}
