"""No import circle in the package (issue 23): every import, also those inside functions, read
from the source (ast), module to module; and placement's solver in its layers: the core is
imported by the paths (lp, dual, exact) and they by `solve`, never back."""

from __future__ import annotations

import ast
from pathlib import Path

import collections_engine

ROOT = Path(collections_engine.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (`from pkg import mod` is the module mod)."""
    mods = _modules()

    def known(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        here = m.split(".") if path.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            graph[m] |= {known(n) for n in names if n.split(".")[0] == ROOT.name} - {m, ""}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import), by Tarjan's
    algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycles_finds_a_planted_circle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 100 and "collections_engine.assign.core" in graph["collections_engine.assign.solve"]
    assert cycles(graph) == []
    graph["collections_engine.assign.core"].add("collections_engine.assign.solve")  # a planted back edge
    assert any({"collections_engine.assign.core", "collections_engine.assign.solve"} <= set(c) for c in cycles(graph))


def test_the_solver_layers_import_downwards_only():
    g = import_graph()
    a = "collections_engine.assign."
    for path in ("lp", "dual", "exact"):
        assert a + "core" in g[a + path] and a + "solve" not in g[a + path]
    assert g[a + "core"] & {a + m for m in ("solve", "lp", "dual", "exact")} == set()
    assert a + "solve" not in g[a + "dual"] and a + "rules" in g[a + "model_data"]
