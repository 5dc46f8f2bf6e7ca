"""The batch runner: report notebooks executed with papermill, exported as HTML or PDF.

:func:`run_reports` runs the notebooks, a bounded number at a time, each in its own kernel
(the Python of this process), and exports HTML without code cells
(``out_dir/<组织机构代码>/机构报告.html``, ``out_dir/全省报告.html``), prints that page to A4
PDF with a local headless Chromium (``--format pdf``, :mod:`cwdx.reports.pdf`) or keeps the
executed notebooks (``--format ipynb``). One failed report does not stop the others; the failures are
listed at the end, each as one Chinese sentence.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwdx import __version__, resources
from cwdx.errors import CwdxError, make_output_dir, os_error_text
from cwdx.feedback import institution_folder
from cwdx.log import get_logger
from cwdx.reports.pdf import find_chromium, html_to_pdf
from cwdx.workspace import Workspace, unknown_orgs_message
from cwdx.xlsx import atomic_path

log = get_logger("cwdx.reports")

#: The parameterised notebooks (shipped in ``cwdx/resources/notebooks/``).
INSTITUTION_NOTEBOOK = "report_institution.ipynb"
PROVINCE_NOTEBOOK = "report_province.ipynb"

#: Output names (without suffix): ``out_dir/<org>/机构报告.html``, ``out_dir/全省报告.html``.
INSTITUTION_REPORT = "机构报告"
PROVINCE_REPORT = "全省报告"
FORMATS = ("html", "pdf", "ipynb")

#: At most this many notebooks run at once (each in its own kernel process).
MAX_PARALLEL = 2
#: Seconds a kernel may take to start, and a whole report to run.
START_TIMEOUT = 120
EXECUTION_TIMEOUT = 1800

#: ``on_progress(done, total, label)``.
ProgressCallback = Callable[[int, int, str], None]


@dataclass
class ReportJob:
    """One report to produce: its label, notebook, parameters and output path."""

    label: str
    notebook: Path
    parameters: dict[str, str]
    output: Path
    error: str | None = None
    seconds: float = 0.0


def _kernel_manager_class() -> type:
    """An async kernel manager that always starts ``sys.executable -m ipykernel_launcher`` so
    the report kernel runs in this environment (where cwdx is installed), whatever kernel
    specs the user's Jupyter folders hold."""
    # lazy: jupyter_client, nbconvert and papermill cost seconds of start-up (measured)
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class CwdxKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kwargs: Any) -> None:  # type: ignore[override]
            # the kernel's own chatter (transport warnings, shutdown notices) is not for users
            kwargs.setdefault("stdout", subprocess.DEVNULL)
            kwargs.setdefault("stderr", subprocess.DEVNULL)
            # the kernel imports this very cwdx, even when it runs from a source folder
            env = dict(kwargs.get("env") or os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(resources.package_parent()), env.get("PYTHONPATH", "")) if p
            )
            kwargs["env"] = env
            await super().start_kernel(**kwargs)

        @property
        def kernel_spec(self) -> KernelSpec:
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (cwdx)",
                language="python",
                env={},
            )

    return CwdxKernelManager


def _failure_text(job: ReportJob, exc: BaseException) -> str:
    """One Chinese sentence for a failed report (the notebook's CwdxError message if any)."""
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename == "CwdxError" and evalue:
        return f"{job.label}未生成：{evalue}"
    if isinstance(exc, CwdxError):
        return f"{job.label}未生成：{exc.message}"
    if isinstance(exc, OSError) and not ename:
        return (
            f"{job.label}未生成：无法写入 {job.output}（{os_error_text(exc)}），"
            "请检查磁盘空间和权限，或换一个输出文件夹后重试。"
        )
    if type(exc).__name__ in ("DeadKernelError", "CellTimeoutError") or isinstance(
        exc, TimeoutError
    ):
        return (
            f"{job.label}未生成：运行报告的 Python 内核未能启动、意外退出或超时"
            "（可能是内存不足），请关闭其他程序后重试；详情已写入日志文件。"
        )
    return f"{job.label}未生成：生成报告时发生内部错误，详情已写入日志文件。"


def _export_html(notebook: Any, title: str) -> str:
    """The executed notebook as a page of its own: the product name, the report's display
    outputs (HTML, charts) and nothing else: no code, prompts, text streams or scripts, and
    nothing to load from other hosts (template ``cwdx_report``)."""
    # lazy: jupyter_client, nbconvert and papermill cost seconds of start-up (measured)
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="cwdx_report",
        extra_template_basedirs=[str(resources.report_template_root())],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        language_code="zh",
    )
    notebook.metadata["title"] = title
    body, _ = exporter.from_notebook_node(notebook, resources={"cwdx_version": __version__})
    return body


def _run_job(job: ReportJob, fmt: str) -> None:
    """Execute one notebook and write its output (HTML or executed notebook)."""
    # lazy: jupyter_client, nbconvert and papermill cost seconds of start-up (measured)
    import nbformat
    import papermill

    started = time.perf_counter()
    notebook = papermill.execute_notebook(
        str(job.notebook),
        None,
        parameters=job.parameters,
        kernel_name="python3",
        language="python",
        progress_bar=False,
        log_output=False,
        start_timeout=START_TIMEOUT,
        execution_timeout=EXECUTION_TIMEOUT,
        kernel_manager_class=_kernel_manager_class(),
    )
    if fmt == "pdf":
        html_to_pdf(_export_html(notebook, job.label), job.output)
    else:
        text = _export_html(notebook, job.label) if fmt == "html" else nbformat.writes(notebook)
        with atomic_path(job.output) as tmp:
            tmp.write_text(text, encoding="utf-8")
    job.seconds = time.perf_counter() - started


#: Packages the batch reports need beyond cwdx's core (the ``app`` extra).
REPORT_PACKAGES = ("papermill", "nbconvert", "nbformat", "ipykernel", "matplotlib", "IPython")


def _require_packages() -> None:
    """:class:`CwdxError` naming the missing packages when the report extras are absent."""
    missing = [name for name in REPORT_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise CwdxError(
            f"批量报告需要的组件未安装（{'、'.join(missing)}），"
            '请执行 pip install "cwdx[app]" 后重试。'
        )


def _notebook(name: str) -> Path:
    """The path of a report notebook (:class:`CwdxError` when it is missing)."""
    path = resources.notebook_path(name)
    if not path.is_file():
        raise CwdxError(f"找不到报告笔记本 {path}，请确认 cwdx 安装完整后重试。")
    return path


def plan_reports(
    ws: Workspace,
    out_dir: str | os.PathLike[str],
    orgs: Iterable[str] | None = None,
    province: bool = False,
    fmt: str = "html",
) -> tuple[list[ReportJob], list[str]]:
    """The reports to run and the failures known beforehand (unknown institution codes).

    ``orgs=None`` and not ``province``: every institution of the workspace. Raises
    :class:`CwdxError` for a wrong format or an empty workspace.
    """
    if fmt not in FORMATS:
        raise CwdxError(f"未知的报告格式“{fmt}”，请使用 html、pdf 或 ipynb。")
    out = Path(out_dir).resolve()
    suffix = f".{fmt}"
    infos = {info.org: info for info in ws.institutions()}
    workspace = str(Path(ws.path).resolve())
    jobs: list[ReportJob] = []
    failures: list[str] = []
    if province:
        jobs.append(
            ReportJob(
                PROVINCE_REPORT,
                _notebook(PROVINCE_NOTEBOOK),
                {"workspace": workspace},
                out / f"{PROVINCE_REPORT}{suffix}",
            )
        )
        return jobs, failures
    if orgs is None:
        if not infos:
            raise CwdxError("工作区中还没有任何机构的数据，请先导入数据后再生成机构报告。")
        targets = list(infos)
    else:
        targets = list(dict.fromkeys(orgs))
    notebook = _notebook(INSTITUTION_NOTEBOOK)
    for org in targets:
        label = f"机构 {org} 的{INSTITUTION_REPORT}"
        if org not in infos:
            failures.append(f"{label}未生成：{unknown_orgs_message([org])}")
            continue
        jobs.append(
            ReportJob(
                f"机构 {infos[org].display_name}的{INSTITUTION_REPORT}",
                notebook,
                {"workspace": workspace, "org": org},
                out / institution_folder(org) / f"{INSTITUTION_REPORT}{suffix}",
            )
        )
    return jobs, failures


def run_reports(
    ws: Workspace,
    out_dir: str | os.PathLike[str],
    orgs: Iterable[str] | None = None,
    province: bool = False,
    fmt: str = "html",
    on_progress: ProgressCallback | None = None,
    report: Callable[[str], None] | None = None,
) -> int:
    """Run the report notebooks with papermill and write them to ``out_dir``.

    ``province``: the province report ``out_dir/全省报告.html``; otherwise one institution
    report ``out_dir/<组织机构代码>/机构报告.html`` for each of ``orgs`` (default: every
    institution). ``fmt="pdf"`` prints each page to an A4 PDF with the local Chromium
    (``机构报告.pdf``; :class:`CwdxError` before any report runs when there is none);
    ``fmt="ipynb"`` keeps the executed notebooks instead of HTML. At most
    :data:`MAX_PARALLEL` notebooks run at once, each in its own kernel; a failed report does
    not stop the others. ``report(line)`` receives one line per report written and, at the
    end, one Chinese sentence per failed report (default: standard output / standard error).
    ``on_progress(done, total, label)`` is called as reports finish.

    Returns 0 when every report was written, 1 when any failed; raises :class:`CwdxError`
    (exit code 2) for usage problems (format, output folder, empty workspace).
    """
    say = report or (lambda line: print(line, flush=True))
    shout = report or (lambda line: print(line, file=sys.stderr, flush=True))
    jobs, failures = plan_reports(ws, out_dir, orgs, province, fmt)
    _require_packages()
    if fmt == "pdf" and jobs:
        find_chromium()  # no browser: one sentence now, not one failure per report
    make_output_dir(out_dir)
    total = len(jobs)
    done = 0
    if on_progress:
        on_progress(0, total, "正在生成报告")
    workers = max(1, min(MAX_PARALLEL, os.cpu_count() or 1, total))
    log.info("批量报告：%d 份，%d 个并行，格式 %s", total, workers, fmt)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cwdx-report")
    try:
        futures = {pool.submit(_run_job, job, fmt): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            what = job.parameters.get("org") or PROVINCE_REPORT
            try:
                future.result()
                say(f"已生成{job.label}：{job.output}")
                log.info("报告已生成：%s，用时 %.1f 秒", what, job.seconds)
            except Exception as exc:  # one failed report does not stop the others
                job.error = _failure_text(job, exc)
                # a notebook error's traceback may quote data: log only its exception name
                ename = getattr(exc, "ename", None)
                log.error(
                    "报告未生成：%s（%s）",
                    what,
                    ename or type(exc).__name__,
                    exc_info=None if ename else exc,
                )
            done += 1
            if on_progress:
                on_progress(done, total, f"已完成{job.label}")
    except BaseException:
        # Ctrl-C: start no further report; the running ones end on their own
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    failures += [job.error for job in jobs if job.error]
    written = sum(job.error is None for job in jobs)
    say(
        f"共 {written + len(failures)} 份报告：已生成 {written} 份"
        + (f"，未生成 {len(failures)} 份：" if failures else "。")
    )
    for line in failures:
        shout(line)
    return 1 if failures else 0
