"""The codebase stays workable: small modules and functions, and an import graph that follows
the pipeline (read → normalise → store → check/match → compute → write → apps) with no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 120

#: Layer of each top-level module or package of ``cwdx`` (and ``cwdx_widgets``): a module may
#: import only from its own layer or a lower one. Matching sits beside the check: the rules
#: W09/W11/W12 call it, and the indicators build on it.
LAYERS: dict[str, int] = {
    "cwdx": 0, "cwdx.errors": 0, "cwdx.log": 0, "cwdx.columns": 0, "cwdx.code_lists": 0,
    "cwdx.reference": 0, "cwdx.hashing": 0, "cwdx.display": 0, "cwdx.numbers": 0,
    "cwdx.resources": 0, "cwdx.fanout": 0, "cwdx.page_kernel": 0,
    "cwdx.values": 1, "cwdx.typed": 1, "cwdx.xlsx_guard": 1, "cwdx.reader": 1,
    "cwdx.xlsx": 1, "cwdx.sheet_xml": 1, "cwdx.stored_rows": 1,
    "cwdx.workspace": 2, "cwdx.pool": 2,
    "cwdx.matching": 3, "cwdx.rules": 3, "cwdx.check": 3,
    "cwdx.metrics": 4,
    "cwdx.feedback": 5, "cwdx.results": 5, "cwdx.summary": 5, "cwdx.templates": 5,
    "cwdx.sheet_values": 5,
    "cwdx.run": 6, "cwdx.reports": 6, "cwdx.demo": 6, "cwdx.tasks": 6, "cwdx.inbox": 6,
    "cwdx.app": 7, "cwdx.serve_voila": 7, "cwdx.serve_pages": 7, "cwdx.cli": 7, "cwdx.login": 7,
    "cwdx_widgets": 8,
}  # fmt: skip


def _source_files() -> list[tuple[str, Path]]:
    files = []
    for package, folder in (("cwdx", ROOT / "cwdx"), ("cwdx_widgets", ROOT / "widgets")):
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files.append((".".join([package, *parts]), path))
    return files


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in ("cwdx", "cwdx_widgets")}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        if ".".join(parts[:cut]) in LAYERS:
            return LAYERS[".".join(parts[:cut])]
    return None


FILES = _source_files()
MODULES = {name for name, _ in FILES}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in FILES:
        graph[name] = {target for target in _imports(name, path) if target in MODULES} - {name}
    return graph


@pytest.mark.parametrize(("module", "path"), FILES, ids=[name for name, _ in FILES])
def test_module_and_functions_are_small(module: str, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= MAX_MODULE_LINES, f"{module} 有 {lines} 行"
    long = [
        f"{node.name}（{node.end_lineno - node.lineno + 1} 行）"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or 0) - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{module} 中的函数超过 {MAX_FUNCTION_LINES} 行：{long}"


def test_every_module_has_a_layer() -> None:
    assert [name for name in MODULES if _layer(name) is None] == []


def test_imports_never_go_up_a_layer() -> None:
    upward = [
        f"{source} → {target}"
        for source, targets in _graph().items()
        for target in sorted(targets)
        if (_layer(target) or 0) > (_layer(source) or 0)
    ]
    assert upward == []


def test_core_never_imports_the_widgets_or_voila() -> None:
    offenders = []
    for name, path in FILES:
        if not name.startswith("cwdx."):
            continue
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{name} → {n}"
                for n in names
                if n.split(".")[0] in ("cwdx_widgets", "ipywidgets", "ipyvuetify")
            ]
    assert offenders == []


def test_import_graph_has_no_cycles() -> None:
    graph = _graph()
    # a package's __init__ re-exporting its own submodules is not a cycle of design
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" → ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_module_imports_another_modules_private_names() -> None:
    """A helper used across modules is public (named without a leading underscore)."""
    private = []
    for name, path in FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cwdx"):
                private += [
                    f"{name} ← {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert private == []
