"""``defer_package_init``: a package's submodules load without its ``__init__``, and the first
attribute the package lacks runs the real ``__init__`` once, into the same module object.

Each test builds a small package of its own under ``tmp_path`` whose ``__init__`` counts its
runs in a file and imports a "heavy" submodule, and removes it from ``sys.modules`` after.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zombiewatch.adapters.kubernetes.lazy import defer_package_init, is_deferred


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    runs_file: Path

    def init_runs(self) -> int:
        return len(self.runs_file.read_text()) if self.runs_file.exists() else 0


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Package]:
    name = f"zwprobe_{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    (root / "sub").mkdir(parents=True)
    runs = tmp_path / "runs"
    (root / "__init__.py").write_text(
        f"with open({str(runs)!r}, 'a') as f:\n    f.write('x')\n"
        "from . import heavy\nfrom .light import LIGHT\nNAME = 'whole'\n")
    (root / "heavy.py").write_text("HEAVY = True\n")
    (root / "light.py").write_text("LIGHT = 'light'\n")
    (root / "sub" / "__init__.py").write_text("SUB_INIT = True\nfrom . import part\n")
    (root / "sub" / "part.py").write_text("PART = 1\n")
    (root / "sub" / "other.py").write_text("OTHER = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield Package(name, runs)
    finally:
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


def test_a_submodule_imports_without_the_package_init(package: Package) -> None:
    stub = defer_package_init(package.name)

    light = importlib.import_module(f"{package.name}.light")

    assert light.LIGHT == "light"
    assert package.init_runs() == 0
    assert f"{package.name}.heavy" not in sys.modules
    assert sys.modules[package.name] is stub
    assert is_deferred(stub)
    assert stub.light is light  # the import system made it the package's attribute


def test_the_first_missing_attribute_runs_the_real_init_once_in_the_same_module(
    package: Package,
) -> None:
    stub = defer_package_init(package.name)
    importlib.import_module(f"{package.name}.light")

    assert stub.NAME == "whole"
    assert stub.heavy.HEAVY is True
    assert getattr(stub, "LIGHT") == "light"  # noqa: B009 - the attribute the __init__ set
    assert package.init_runs() == 1
    assert not is_deferred(stub)
    assert importlib.import_module(package.name) is stub
    assert package.init_runs() == 1


def test_from_import_of_a_name_the_init_defines_runs_it(package: Package) -> None:
    defer_package_init(package.name)

    namespace: dict[str, object] = {}
    exec(f"from {package.name} import NAME", namespace)  # the statement under test

    assert namespace["NAME"] == "whole"
    assert package.init_runs() == 1


def test_an_attribute_the_package_lacks_is_an_attribute_error_after_its_init(
    package: Package,
) -> None:
    stub = defer_package_init(package.name)

    with pytest.raises(AttributeError, match="nothing_here"):
        _ = stub.nothing_here
    assert package.init_runs() == 1


def test_a_subpackage_is_deferred_under_a_deferred_parent(package: Package) -> None:
    parent = defer_package_init(package.name)
    sub = defer_package_init(f"{package.name}.sub")

    other = importlib.import_module(f"{package.name}.sub.other")

    assert other.OTHER == 2
    assert parent.sub is sub
    assert f"{package.name}.sub.part" not in sys.modules
    assert (is_deferred(parent), is_deferred(sub)) == (True, True)
    assert sub.SUB_INIT is True
    assert sub.part.PART == 1
    assert package.init_runs() == 0  # the parent's own __init__ still waits


def test_a_package_already_imported_is_left_alone(package: Package) -> None:
    whole = importlib.import_module(package.name)

    assert defer_package_init(package.name) is whole
    assert not is_deferred(whole)
    assert package.init_runs() == 1


def test_a_module_that_is_no_package_is_refused(package: Package) -> None:
    defer_package_init(package.name)

    with pytest.raises(ImportError, match=r"\.light is not an importable package"):
        defer_package_init(f"{package.name}.light")


def test_an_init_that_fails_leaves_no_half_made_package(package: Package, tmp_path: Path) -> None:
    (tmp_path / package.name / "__init__.py").write_text("raise RuntimeError('broken init')\n")
    stub = defer_package_init(package.name)

    with pytest.raises(RuntimeError, match="broken init"):
        _ = stub.NAME
    assert package.name not in sys.modules
