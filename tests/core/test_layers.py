"""The import graph of `core`: no cycles between modules (imports inside functions included), and nothing below
the job queue and the command line imports `core.jobs` (see ../shared/design.md, "Layers inside core").

Every core/*.py file is parsed with `ast`; each `import core.x` / `from core.x import y` anywhere in it (module
level, inside functions, under `if TYPE_CHECKING`) is an edge to the module it names (`from core.x import y`
is an edge to core.x.y when that is a module). A package's `__init__` is the module `core.x`.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"
# Only the job queue itself and the command line (which starts jobs) may import core.jobs; the pages do too,
# but they are outside core.
MAY_IMPORT_JOBS = ("core.jobs", "core.cli", "core.access")  # access scopes the run store to an identity


def module_name(path: Path, root: Path = CORE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = CORE) -> dict[str, set[str]]:
    modules = {module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:  # `import core.x.y` of a name inside core.x
                    target = target.rpartition(".")[0]
                if target.startswith("core") and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components with more than one module (Tarjan), each as a sorted tuple."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_of_core_has_no_cycles() -> None:
    found = cycles(import_graph())
    assert not found, f"import cycles in core: {found}"


def test_nothing_below_the_job_queue_imports_it() -> None:
    upward = sorted(f"{name} -> {target}" for name, targets in import_graph().items()
                    if not name.startswith(MAY_IMPORT_JOBS) for target in targets if target.startswith("core.jobs"))
    assert not upward, f"modules below core.jobs import it: {upward}"


def test_the_loop_knows_only_its_contract() -> None:
    graph = import_graph()
    for name in ("core.train.loop", "core.train.callbacks", "core.train.contract", "core.train.run_folder"):
        assert not {t for t in graph[name] if t.startswith(("core.tasks", "core.evaluate", "core.enhance"))}, name


# (imports of a module, expected cycles): the walker itself on tiny graphs
TEST_CASES_CYCLES = [
    ({"a": {"b"}, "b": set()}, []),
    ({"a": {"b"}, "b": {"a"}}, [("a", "b")]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [("a", "b", "c")]),
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, []),
]


@pytest.mark.parametrize("graph,expected", TEST_CASES_CYCLES)
def test_cycles_are_found(graph: dict[str, set[str]], expected: list[tuple[str, ...]]) -> None:
    assert sorted(cycles(graph)) == expected


def test_imports_inside_functions_and_relative_ones_count(tmp_path: Path) -> None:
    root = tmp_path / "core"
    (root / "jobs").mkdir(parents=True)
    for name, text in {"__init__.py": "", "jobs/__init__.py": "", "jobs/store.py": "X = 1\n",
                       "low.py": "def f():\n    from core.jobs.store import X\n",
                       "jobs/runner.py": "from . import store\nfrom .store import X\nimport core.low\n"}.items():
        (root / name).write_text(text)
    graph = import_graph(root)
    assert graph["core.low"] == {"core.jobs.store"}
    assert graph["core.jobs.runner"] == {"core.jobs.store", "core.low"}
