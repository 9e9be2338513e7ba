"""The package's import structure: the agent loads nothing of the project but itself,
and the modules of ``faults`` import one another in one direction only.

The crash hook imports :mod:`faults.agent` into every engine process; a package that
eagerly loaded its 30 modules (and redis) there would slow every worker down and make the
agent's "standard library only" untrue. An import circle makes module order matter and
hides which module is the model; the graph test reads every import statement, top-level
or inside a function, so a lazy import does not hide a circle either.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from faults.agent import CONTROLLER_ENV, HOOK_SPEC

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "faults"

_PROBE = """
import json, sys
import engine.crashpoints as cp
before = set(sys.modules)
cp.install_from_env()
print(json.dumps({"new": sorted(set(sys.modules) - before), "all": sorted(sys.modules)}))
"""


def test_the_crash_hook_loads_only_the_agent(tmp_path: Path) -> None:
    env = {**os.environ, "WORDCOUNT_CRASH_HOOK": HOOK_SPEC,
           CONTROLLER_ENV: str(tmp_path / "ctl.sock")}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    modules = json.loads(out.stdout)
    project = [m for m in modules["new"] if m.split(".")[0] in ("faults", "engine")]
    assert project == ["faults", "faults.agent"]
    assert not [m for m in modules["all"] if m.split(".")[0] in ("redis", "hypothesis")]


def _imports(path: Path) -> set[str]:
    """The ``faults.*`` modules that ``path`` imports anywhere in its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "faults":  # from faults import history: the submodule
                found.update(f"faults.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("faults.") and _exists(m)}


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel).is_dir()


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        graph[".".join(parts)] = _imports(path)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as a path, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_circle_in_the_package() -> None:
    graph = _graph()
    assert "faults.scenario" in graph and "faults.kinds" in graph["faults.scenario"]
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
