"""The real-services harness is a package of its own: tests, scripts and benchmarks use it,
and it never imports the tests (so a script or a benchmark never depends on a test module)."""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_harness_never_imports_the_tests() -> None:
    modules = sorted(HARNESS.glob("*.py"))
    offenders = {
        path.name: sorted(
            m for m in imported_modules(path) if m == "tests" or m.startswith("tests."))
        for path in modules
    }

    assert len(modules) > 5
    assert {name: found for name, found in offenders.items() if found} == {}


def test_scripts_and_benchmarks_never_import_the_tests() -> None:
    root = HARNESS.parent
    paths = [*root.glob("scripts/*.py"), *root.glob("benchmarks/*.py")]
    offenders = {
        str(path.relative_to(root)): sorted(
            m for m in imported_modules(path) if m == "tests" or m.startswith("tests."))
        for path in paths
    }

    assert paths
    assert {name: found for name, found in offenders.items() if found} == {}
