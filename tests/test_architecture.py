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


# InfluxQL is told from the SQLite SQL of the ingest, ledger, alerts and recovery
# by what only InfluxDB has: its measurements (hub/store/points.py) after FROM,
# and its own statements and functions.
MEASUREMENTS = ("delivery", "tank_temperature", "coldchain", "station_status", "shift_summary")
INFLUXQL = re.compile(
    r"\bFROM\s+\"?(?:%s)\b(?![-_])" % "|".join(MEASUREMENTS)
    + r"|\bSHOW\s+(?:MEASUREMENTS|SERIES|TAG\s+(?:KEYS|VALUES)|FIELD\s+KEYS|DATABASES|RETENTION\s+POLICIES)\b"
    + r"|\b(?:CREATE|DROP)\s+DATABASE\s+\"|\bGROUP\s+BY\s+time\s*\(|\bfill\s*\(\s*(?:none|null|previous|linear)"
    + r"|\b(?:LAST|FIRST|MEAN|DISTINCT)\(")     # keywords as the hub writes them: capitals


def string_literals(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, text) of every string literal; an f-string with `{}` where its values go."""
    found = []
    tree = ast.parse(source, filename)
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    # Docstrings describe; they are never sent to InfluxDB.
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if id(node) in parts or id(node) in docs:   # an f-string's piece: read with the whole of it
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                           for v in node.values)
            found.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def influxql_in(source: str, filename: str = "<source>") -> list[str]:
    return [f"{filename}:{line}: {text.strip()[:80]}" for line, text in string_literals(source, filename)
            if INFLUXQL.search(text)]


def test_influxql_is_written_only_in_hub_store():
    found = []
    for path in sorted((REPO / "hub").rglob("*.py")):
        relative = path.relative_to(REPO)
        if relative.parts[:2] == ("hub", "store"):
            continue
        found += influxql_in(path.read_text(), relative.as_posix())
    assert found == [], "InfluxQL outside hub/store/:\n" + "\n".join(found)
    # ... where the checker does see it (it is not blind to how the hub writes queries).
    store = [q for path in sorted((REPO / "hub" / "store").glob("*.py")) for q in influxql_in(path.read_text())]
    assert len(store) >= 10


def test_the_influxql_checker_tells_influxql_from_sqlite():
    # It must be able to fail: today's kinds of InfluxDB reads are found...
    influx = '''
q = f"SELECT id, liters FROM delivery WHERE producer = '{code}' AND time >= '{start}'"
r = "SELECT LAST(status) AS status FROM station_status GROUP BY center, station"
s = (f"SELECT MEAN(temp_c) AS temp_c FROM tank_temperature WHERE center = '{c}' "
     f"AND time > '{a}' GROUP BY time({bucket}s) fill(none)")
t = 'SHOW MEASUREMENTS'
'''
    assert len(influxql_in(influx)) == 4
    # ... and the SQLite SQL of the ledger, alerts, notify and recovery is not.
    sqlite = '''
a = "SELECT 1 FROM delivery_message WHERE id = ?"
b = "SELECT paid_in, COUNT(*) FROM paid_delivery WHERE producer = ? GROUP BY paid_in"
c = f"SELECT {COLUMNS} FROM alerts WHERE {where} ORDER BY id"
d = "SELECT center, station, last_seen FROM stations"
e = "CREATE TABLE IF NOT EXISTS closed_period (period TEXT PRIMARY KEY)"
'''
    assert influxql_in(sqlite) == []
