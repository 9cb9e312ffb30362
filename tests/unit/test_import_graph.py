"""The library's import graph (every import, deferred ones included): no cycles, and nothing
imports upward: the bottom modules import nothing of the project, the entry points (commands,
tasks, DAG support) are imported by nobody, and the demo world only by the entry points and the
source registry (its ``demo`` kind)."""

import ast

from smarketing.config import PATHS

LIBRARY = PATHS.root / "plugins" / "smarketing"


def import_graph() -> dict[str, set[str]]:
    files = {}
    for path in LIBRARY.rglob("*.py"):
        name = ".".join(("smarketing", *path.relative_to(LIBRARY).with_suffix("").parts)).removesuffix(".__init__")
        files[name] = path
    graph = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "smarketing":
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                          for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.split(".")[0] == "smarketing"}
        graph[name] = found - {name, "smarketing"}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "open":
            found.append([*path[path.index(node):], node])
        elif node not in state:
            state[node] = "open"
            for other in sorted(graph.get(node, ())):
                visit(other, [*path, node])
            state[node] = "done"
    for node in sorted(graph):
        visit(node, [])
    return found


def test_the_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_library_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_nothing_imports_upward():
    graph = import_graph()
    importers = {target: sorted(m for m, deps in graph.items() if target in deps) for target in graph}
    bottom = ("smarketing.paths", "smarketing.mailbox", "smarketing.runs", "smarketing.sources.base")
    assert {m: sorted(graph[m]) for m in bottom} == {m: [] for m in bottom}
    entry_points = ("smarketing.cli", "smarketing.tasks", "smarketing.dag_support")
    assert {m: importers[m] for m in entry_points} == {m: [] for m in entry_points}
    demo = {m for m in graph if m == "smarketing.demo" or m.startswith("smarketing.demo.")}
    outside = {m: sorted(set(importers[m]) - demo) for m in demo}
    allowed = {"smarketing.cli", "smarketing.tasks", "smarketing.identity_score", "smarketing.sources"}
    assert {m: [i for i in users if i not in allowed] for m, users in outside.items()} == {m: [] for m in demo}
