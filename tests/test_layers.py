"""respkit's layers, checked: a module imports only from its own layer or the ones below, and no
module-level imports go round in a cycle.

The layers, bottom up (a name stands for the module and everything under it):

0. foundations: the package itself (``respkit.__version__``), files, project, provenance, profiles, metrics,
   stats, decision;
1. signals and data: features, augment, mix, losses, models, data, analysis, detection;
2. training: train;
3. what a run does: inference, runs, recipes;
4. what a reader or a user calls: experiments, bench, scale, report, plot, book, the command line.

Data and models know nothing of training or recipes: a dataset can be read, and a model built, without
importing an optimiser. Imports inside functions are not module-level and are allowed to reach up (the
command line imports recipes when it runs one); ``if TYPE_CHECKING:`` imports are for annotations only.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "respkit"
LAYERS = [
    ["", "files", "project", "provenance", "profiles", "metrics", "stats", "decision"],
    ["features", "augment", "mix", "losses", "models", "data", "analysis", "detection"],
    ["train"],
    ["inference", "runs", "recipes"],
    ["experiments", "bench", "axes", "scale", "report", "plot", "book", "__main__"],
]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def module_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The respkit modules that ``name`` imports when it is imported (not inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        for statement in node.body if isinstance(node, ast.Try) else [node]:
            if isinstance(statement, ast.Import):
                imported |= {alias.name for alias in statement.names}
            elif isinstance(statement, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - statement.level + 1] if statement.level else []
                source = ".".join(base + ([statement.module] if statement.module else []))
                for alias in statement.names:  # `from respkit.recipes import common` imports a module
                    imported.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source)
    return {module for module in imported if module in known and module != name}


def layer(name: str) -> int:
    top = name.removeprefix("respkit").removeprefix(".").split(".")[0]
    return next(k for k, names in enumerate(LAYERS) if top in names)


GRAPH = {name: module_level_imports(name, path, set(modules())) for name, path in modules().items()}


def test_every_module_has_a_layer():
    for name in GRAPH:
        layer(name)  # StopIteration names a module no layer lists: add it to LAYERS and the docstring


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_a_module_imports_nothing_from_a_layer_above_it(name):
    above = sorted(module for module in GRAPH[name] if layer(module) > layer(name))
    assert above == [], f"{name} (layer {layer(name)}) imports from above: {above}"


def test_no_module_level_import_cycle():
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for module in sorted(GRAPH[name]):
            assert state.get(module) != "open", "import cycle: " + " -> ".join([*path, name, module])
            if module not in state:
                visit(module, [*path, name])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [])


def test_the_checks_catch_what_they_look_for(tmp_path):
    # A planted upward import and a planted cycle, read the way the real modules are read.
    low, high = tmp_path / "low.py", tmp_path / "high.py"
    low.write_text("from respkit.train.trainer import Trainer\n")
    high.write_text("import respkit.features\n")
    known = {"respkit.train.trainer", "respkit.features", "respkit.data.low"}
    assert module_level_imports("respkit.data.low", low, known) == {"respkit.train.trainer"}
    assert layer("respkit.train.trainer") > layer("respkit.data.low")
    guarded = tmp_path / "guarded.py"
    guarded.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from respkit.train import x\n"
        "def f():\n    from respkit.recipes import common\n"
    )
    assert module_level_imports("respkit.data.guarded", guarded, {"respkit.train", "respkit.recipes.common"}) == set()
