"""``cwdx run``: the one-shot pipeline in a fresh workspace (``outputs.md`` "Command line").

Import the case files then the staff files (in the order given), check every institution,
compute every one that passed, write the feedback workbooks, the results workbooks and
``summary.json`` under the output folder, and return the exit status.

The workspace lives in ``<out>/.cwdx-workspace`` (emptied at the start of every run), so the
log of the run and its data can be opened afterwards with ``cwdx -w <out>/.cwdx-workspace``.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwdx.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, CwdxError, os_error_text

if TYPE_CHECKING:
    from cwdx.fanout import Mapper
    from cwdx.tasks.cluster import Cluster
    from cwdx.workspace import Workspace

log = logging.getLogger("cwdx.run")

WORKSPACE_DIR = ".cwdx-workspace"

ProgressCallback = Callable[[int, int, str], None]


def _fresh_workspace(out: Path):
    from cwdx.workspace import Workspace

    if out.exists() and not out.is_dir():
        raise CwdxError(f"输出位置 {out} 是一个文件，请用 --out 指定一个文件夹。")
    path = out / WORKSPACE_DIR
    try:
        if path.exists():
            shutil.rmtree(path)
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CwdxError(
            f"无法在输出文件夹 {out} 中建立工作区（{os_error_text(exc)}），"
            "请检查该文件夹的权限和磁盘空间，或用 --out 换一个文件夹。"
        ) from exc
    return Workspace(path, create=True)


def run_oneshot(
    cases: Sequence[str | Path],
    staff: Sequence[str | Path],
    out_dir: str | Path,
    on_progress: ProgressCallback | None = None,
    report: Callable[[str], None] | None = None,
    case_list: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    verdict: Callable[[str], None] | None = None,
) -> int:
    """Run import → check → compute → export into ``out_dir`` and return the exit status.

    0: every institution passed its check and was computed; 1: some institution failed its
    check (or could not be computed); 2: no case file or no staff file could be read (the
    rejected files' reasons are reported and ``summary.json`` lists them). ``report`` receives
    one Chinese line per imported or rejected file (default: standard error). ``verdict``
    receives the outcome once the outputs are written: one line per institution, the passed and
    failed totals, where the outputs are, and the institutions that failed (default: ``report``;
    the command line prints them on standard output). ``case_list`` adds the 病例清单 sheet
    (every credited case of every applicant) to the results workbooks. ``workers``/``scheduler``
    choose where the institutions are checked, computed and written
    (:class:`cwdx.tasks.cluster.Cluster`: by default Dask workers only for big work).
    """
    from cwdx.tasks.cluster import Cluster

    cluster = Cluster(workers, scheduler)
    try:
        return _run(cases, staff, Path(out_dir), on_progress, report, verdict, case_list, cluster)
    finally:
        cluster.close()


def _run(
    cases: Sequence[str | Path],
    staff: Sequence[str | Path],
    out: Path,
    on_progress: ProgressCallback | None,
    report: Callable[[str], None] | None,
    verdict: Callable[[str], None] | None,
    case_list: bool,
    cluster: Cluster,
) -> int:
    """:func:`run_oneshot` with its cluster."""
    from cwdx.check import check_workspace
    from cwdx.metrics import compute_workspace
    from cwdx.reference import load_reference
    from cwdx.summary import write_summary
    from cwdx.tasks.cluster import rows_in_files

    # helpers (when the work wants them) are forked now: they get what was just imported and
    # loaded, and no database connection is open yet
    load_reference()
    rows = rows_in_files(cases)
    cluster.prepare(rows)
    mapper = cluster.mapper(rows)

    say = report or (lambda line: print(line, file=sys.stderr))
    ws = _fresh_workspace(out)
    imported = {"cases": 0, "staff": 0}
    # the files are decoded where the rest runs (the workers once big work started them)
    for table, files in (("cases", cases), ("staff", staff)):
        outcomes = ws.import_files(table, list(files), on_progress=on_progress, mapper=mapper)
        for outcome in outcomes:
            for line in outcome.lines():
                say(line)
            if outcome.ok:
                imported[table] += 1
    if not imported["cases"] or not imported["staff"]:
        write_summary(ws, out)
        missing = "病案首页数据" if not imported["cases"] else "申报人员信息"
        say(f"没有可读取的{missing}文件，未进行检测和计算；请按上面的提示修改文件后重新运行。")
        log.info("一键运行：没有可读取的%s文件，导入后停止", missing)
        return EXIT_USAGE

    mapper = cluster.mapper(sum(info.cases for info in ws.institutions()))
    checks = check_workspace(ws, on_progress=on_progress, mapper=mapper)
    passed = [org for org, result in checks.items() if result.passed]
    computed: set[str] = set()
    if passed:
        results = compute_workspace(
            ws, orgs=passed, on_progress=on_progress, case_list=case_list, mapper=mapper
        )
        computed = set(results)

    export_outputs(ws, out, mapper, results=bool(computed))

    tell = verdict or say
    names = {info.org: info.display_name for info in ws.institutions()}
    for org, result in checks.items():
        verdict_text = "数据检测通过" if result.passed else "数据检测不通过"
        done = "，已计算" if org in computed else ""
        tell(
            f"机构 {names.get(org, org)}：{verdict_text}（错误 {result.errors}，警告 {result.warnings}）"
            f"{done}。"
        )
    failed = [org for org, result in checks.items() if not result.passed]
    tell(
        f"共 {len(checks)} 个机构：数据检测通过 {len(passed)} 个（已计算 {len(computed)} 个），"
        f"未通过 {len(failed)} 个。"
    )
    tell(f"反馈表、计算结果表和 summary.json 已写入：{out.resolve()}")
    log.info("一键运行：%d 个机构，%d 个通过，%d 个已计算", len(checks), len(passed), len(computed))
    if failed:
        tell(f"数据检测未通过的机构：{'、'.join(failed)}；请查看各机构的反馈表。")
        return EXIT_CHECK_FAILED
    if set(passed) - computed:
        return EXIT_CHECK_FAILED
    return EXIT_OK


def export_outputs(ws: Workspace, out: Path, mapper: Mapper | None, results: bool) -> list[Path]:
    """Write every output of a run: 精简版反馈信息表, then in one fan-out through ``mapper`` the
    feedback workbooks, (``results``) the results workbooks and, last, ``summary.json``; the
    paths written. One fan-out rather than one per export: the pieces of both share the runners,
    with no wait for the slowest feedback piece before the first results piece starts."""
    from cwdx.fanout import call_piece, serial_map
    from cwdx.feedback import (
        BRIEF_FILE,
        brief_entries,
        feedback_piece,
        feedback_pieces,
        write_brief,
    )
    from cwdx.results import results_piece, results_pieces
    from cwdx.summary import SummaryPiece, summary_piece
    from cwdx.xlsx import publish_pieces

    pieces, infos = feedback_pieces(ws, out, None, mapper)
    jobs: list[tuple[Callable[[Any], list[tuple[str, str]]], Any]] = [
        (feedback_piece, piece) for piece in pieces
    ]
    if results:
        jobs += [(results_piece, piece) for piece in results_pieces(ws, out, None, mapper)]
    # last: a helper pool's caller runs the pieces from the back, the largest (the top results
    # workbook) and summary.json first
    jobs.append((summary_piece, SummaryPiece(str(ws.path), str(out))))
    # 精简版反馈信息表 first: summary.json, the last piece, is the last output to appear
    written = [write_brief(out / BRIEF_FILE, brief_entries(infos))]
    return written + publish_pieces(mapper or serial_map, call_piece, jobs)
