"""The import graph stays one way: product modules never import the tooling, no module imports
itself back through others (no cycle, function-level imports included), and Dagster's private modules
(`dagster._...`) are imported by one adapter module only, which says why it needs each name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT, TOOLS = "music_pipeline", "music_pipeline_tools"
ADAPTER = "music_pipeline.core.dagster_internals"


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path) -> list[str]:
    """Every module name an import statement of the file names (module and function level)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            names += [base] + [f"{base}.{a.name}" for a in node.names]
    return names


def graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of `found` it imports (a name resolves to its longest known module)."""
    edges: dict[str, set[str]] = {m: set() for m in found}
    for module, path in found.items():
        for name in imports_of(module, path):
            while name and name not in found:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):  # a package's own __init__
                edges[module].add(name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, Path], dict[str, set[str]]]:
    found = modules(ROOT, (PRODUCT, TOOLS))
    return found, graph(found)


def test_the_product_never_imports_the_tooling_or_the_tests(project):
    _, edges = project
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in edges.items()
        if module.split(".")[0] == PRODUCT
        for target in targets
        if target.split(".")[0] != PRODUCT
    )
    found, _ = project
    tests = sorted(m for m, p in found.items() if any(n.startswith("music_pipeline_tests") for n in imports_of(m, p)))
    assert wrong == [] and tests == []


def test_there_is_no_import_cycle(project):
    _, edges = project
    assert cycles(edges) == []


def test_dagster_internals_are_imported_by_one_adapter_that_says_why(project):
    found, _ = project
    private = sorted(m for m, p in found.items() if any(n.startswith("dagster._") for n in imports_of(m, p)))
    assert private == [ADAPTER]
    tree = ast.parse(found[ADAPTER].read_text())
    doc = ast.get_docstring(tree) or ""
    names = [a.name for node in tree.body if isinstance(node, ast.ImportFrom) for a in node.names]
    assert names and [n for n in names if f"`{n}`" not in doc] == []  # each name's reason is in the docstring


def test_pandera_is_imported_through_one_module_without_its_unused_integrations(project):
    """Every module takes pandera from `quality/pandera_import.py`, so a check's process neither imports
    pyspark.pandas nor hypothesis through pandera (0.5 s of each check step's first work), even once a schema is
    built and a frame validated; both stay importable afterwards."""
    import subprocess
    import sys

    found, _ = project
    direct = sorted(m for m, p in found.items() if any(n.split(".")[0] == "pandera" for n in imports_of(m, p)))
    assert direct == ["music_pipeline.quality.pandera_import"]
    script = """
import sys
import pandas as pd
from music_pipeline.core import registry
from music_pipeline.quality import engine_checks, generic
schema = generic.model_of(registry.table("songs")).to_schema()
try:
    schema.validate(pd.DataFrame({"track_id": ["t1"]}))
except Exception as error:
    print(type(error).__name__)
print("pyspark.pandas" in sys.modules, "hypothesis" in sys.modules, "pandera" in sys.modules)
import hypothesis, pyspark.pandas
print("importable")
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["SchemaError", "False", "False", "True", "importable"]


def test_a_planted_cycle_is_found(tmp_path):
    """The checks above can fail: a package whose modules import each other back is reported."""
    package = tmp_path / "planted"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from planted.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from planted import a  # a function-level import counts\n")
    (package / "c.py").write_text("from . import a\n")
    edges = graph(modules(tmp_path, ("planted",)))
    assert cycles(edges) == [["planted.a", "planted.sub.b"]]
