"""The layers of the engine, read from its imports (module level and inside
functions alike): the science never imports the job system or the CLI, the
experiments never import the job system, the job system never imports the CLI, no
module imports Streamlit, and no two modules import each other, directly or in a
longer cycle."""
import ast
from pathlib import Path

from engine.environment import ROOT

ENGINE = ROOT / "engine"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    graph = {}
    for path in ENGINE.rglob("*.py"):
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rsplit(".", 1)[0]
                mod = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                found.add(mod)
                found |= {f"{mod}.{a.name}" for a in node.names}  # `from . import x` names a module
        graph[name] = found
    modules = set(graph)
    return {m: {i for i in deps if i in modules and i != m} for m, deps in graph.items()} | \
        {"_third_party": {i for deps in graph.values() for i in deps if i.split(".")[0] not in ("engine",)}}


def _layer(module: str) -> str:
    if module == "engine.__main__":  # `python -m engine`: the CLI's entry point
        return "engine.cli"
    for layer in ("engine.cli", "engine.jobs", "engine.experiments"):
        if module == layer or module.startswith(layer + "."):
            return layer
    return "science"


ALLOWED = {"science": {"science"}, "engine.experiments": {"science", "engine.experiments"},
           "engine.jobs": {"science", "engine.experiments", "engine.jobs"},
           "engine.cli": {"science", "engine.experiments", "engine.jobs", "engine.cli"}}


def test_dependencies_point_one_way():
    graph = _imports()
    third = graph.pop("_third_party")
    assert not [m for m in third if m.split(".")[0] == "streamlit"], "the engine imports Streamlit"
    wrong = [(m, d) for m, deps in graph.items() for d in deps
             if m != "engine" and _layer(d) not in ALLOWED[_layer(m)]]
    assert not wrong, f"imports against the layers (cli -> jobs -> experiments -> science): {wrong}"


def test_no_import_cycles():
    graph = _imports()
    graph.pop("_third_party")
    graph.pop("engine", None)  # the package's __init__ only names the version
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        for d in sorted(graph.get(m, ())):
            if d == "engine" or d not in graph:
                continue
            if state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import cycles: {cycles}"
