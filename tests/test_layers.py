"""The floors of the engine, read from its imports (module level and inside
functions alike): data and geometry below training, training below the analysis
and the planning, those below one run, then the experiments, the job system and
the CLI on top; no module imports Streamlit, and no two modules import each other,
directly or in a longer cycle."""
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


# The engine's floors, lowest first: a module imports its own package and the floors
# below it, never a floor above it nor a sibling on its own floor (data and geometry
# know nothing of each other; the analysis of a run and its planning neither).
FLOORS = [
    ("engine.config", "engine.environment", "engine.files"),  # what everything shares
    ("engine.data", "engine.geometry"),
    ("engine.training",),
    ("engine.analysis", "engine.planning"),
    ("engine.run",),                                       # one run: preflight, train, results
    ("engine.experiments",),
    ("engine.figures",),                                   # pure plotly, for the pages and the report
    ("engine.paper",),                                     # the whole paper in one command
    ("engine.jobs",),
    ("engine.cli",),
]
SHARED_ROOT = {"engine", "engine.__main__", "engine.run"} | set(FLOORS[0])


def _layer(module: str) -> str:
    if module == "engine.__main__":  # `python -m engine`: the CLI's entry point
        return "engine.cli"
    for floor in FLOORS:
        for layer in floor:
            if module == layer or module.startswith(layer + "."):
                return layer
    raise AssertionError(f"{module} is on no floor: put it in a subpackage (tests/test_layers.py FLOORS)")


def _allowed(layer: str) -> set[str]:
    level = next(i for i, floor in enumerate(FLOORS) if layer in floor)
    if level == 0:  # the shared modules lean on each other (environment reads the config); the cycle test guards them
        return set(FLOORS[0])
    return {layer} | {other for floor in FLOORS[:level] for other in floor}


def test_dependencies_point_one_way():
    graph = _imports()
    third = graph.pop("_third_party")
    assert not [m for m in third if m.split(".")[0] == "streamlit"], "the engine imports Streamlit"
    wrong = [(m, d) for m, deps in graph.items() for d in deps
             if m != "engine" and d != "engine" and _layer(d) not in _allowed(_layer(m))]
    assert not wrong, f"imports against the floors (tests/test_layers.py FLOORS): {wrong}"


def test_the_root_holds_only_what_everything_shares():
    """engine/'s root is the config, the environment, the files and the run entry;
    every other concept lives in its subpackage."""
    root = {_module(p) for p in ENGINE.glob("*.py")}
    assert root <= SHARED_ROOT, f"modules in engine/'s root that belong in a subpackage: {sorted(root - SHARED_ROOT)}"
    assert len(root) <= 8


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
