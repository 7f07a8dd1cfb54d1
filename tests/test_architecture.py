"""The package's shape: no import cycles between its modules, and no function longer than 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "src" / "trigger_schedule"
NAME = "trigger_schedule"


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = [NAME, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path, modules: set[str]) -> set[str]:
    """Every package module `path` imports, at the top or inside a function (TYPE_CHECKING ones too)."""
    this = module_name(path, root)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules and name != this)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    paths = sorted(root.rglob("*.py"))
    modules = {module_name(p, root) for p in paths}
    return {module_name(p, root): imported_modules(p, root, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 20 and "trigger_schedule.cli" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_sees_function_level_imports(tmp_path: Path) -> None:
    package = tmp_path / NAME
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from trigger_schedule.b import x\n")
    (package / "b.py").write_text("def f():\n    from trigger_schedule import a\n")
    (package / "c.py").write_text("import trigger_schedule.a\n")
    graph = import_graph(package)
    assert graph["trigger_schedule.b"] == {"trigger_schedule.a"}
    assert find_cycle(graph) == [
        "trigger_schedule.a",
        "trigger_schedule.b",
        "trigger_schedule.a",
    ]


MAX_FUNCTION_LINES = 60


def long_functions(root: Path = PACKAGE, limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """Every function (methods and nested ones too) longer than `limit` lines, from `def` to its last line."""
    found: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    found[f"{module}.{node.name}"] = lines
    return found


def test_no_function_is_longer_than_60_lines() -> None:
    long = long_functions()
    assert not long, f"split these (lines from def to end): {long}"


def test_the_length_check_counts_from_def_to_the_last_line(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    (tmp_path / "m.py").write_text(f"def short():\n{body[: -len('    x59 = 59') - 1]}\ndef long():\n{body}")
    assert long_functions(tmp_path) == {"trigger_schedule.m.long": 61}


def calls(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Per module, the dotted names it calls (`time.sleep`, `Interrupted`, ...)."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        names = found.setdefault(module_name(path, root), set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                names.add(ast.unparse(node.func))
    return found


def test_time_and_interrupts_have_one_home_each() -> None:
    """Waiting goes through the clock (fakeable), interrupts through the cancellation."""
    for module, names in calls().items():
        if module != "trigger_schedule.clock":
            assert not names & {"time.sleep", "time.time", "time.monotonic"} or module == "trigger_schedule.console", (
                f"{module}: use the injected clock"
            )
        if module != "trigger_schedule.cancellation":
            assert "Interrupted" not in names, f"{module}: raise through Cancellation (retrying.pause, raise_if_set)"
