"""The import structure docs/architecture.md promises: houses apart, no
cycles, nothing importing the tests, the topic root written once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("collector_station", "hub", "milk_common")
OTHERS = ("bench", "devtools")


def modules() -> dict[str, Path]:
    found = {}
    for top in PACKAGES + OTHERS:
        for path in (REPO / top).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """Every project module `path` imports, at module level or inside a function."""
    tree = ast.parse(path.read_text(), str(path))
    me = next((m for m, p in known.items() if p == path), "")
    package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[:len(package) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    resolved = set()
    for name in names:
        # `from a.b import c` names module a.b.c when it exists, else a.b.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            resolved.add(name)
    return resolved


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {mod: imports_of(path, known) - {mod} for mod, path in known.items()}


def test_station_and_hub_never_import_each_other(graph):
    for mod, deps in graph.items():
        house = mod.split(".")[0]
        for dep in deps:
            other = dep.split(".")[0]
            if house == "collector_station":
                assert other != "hub", f"{mod} imports {dep}"
            if house == "hub":
                assert other != "collector_station", f"{mod} imports {dep}"
            if house == "milk_common":
                assert other == "milk_common", f"{mod} imports {dep}"


def test_nothing_imports_the_tests():
    for top in PACKAGES + OTHERS:
        for path in (REPO / top).rglob("*.py"):
            assert not re.search(r"^\s*(from|import)\s+tests\b", path.read_text(), re.M), path


def test_no_import_cycles(graph):
    # Tarjan's strongly connected components; a package's __init__ that
    # re-exports its own modules is not a cycle between modules, so edges
    # into a package's own __init__ from inside it are left out.
    edges = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_topic_root_is_written_in_one_module():
    writers = [path.relative_to(REPO).as_posix()
               for top in PACKAGES for path in (REPO / top).rglob("*.py")
               if re.search(r"""["']milk/v1""", path.read_text())]
    assert writers == ["milk_common/contract/topics.py"]


def test_the_import_checker_sees_a_cycle(tmp_path):
    # The checker itself must be able to fail: two modules importing each other.
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("from a import x\n")
    known = {"a": tmp_path / "a.py", "b": tmp_path / "b.py"}
    graph = {m: imports_of(p, known) - {m} for m, p in known.items()}
    assert graph == {"a": {"b"}, "b": {"a"}}
    with pytest.raises(AssertionError):
        test_no_import_cycles(graph)
