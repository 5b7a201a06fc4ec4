"""The wheel ships zombiewatch.testing, and only its ``testing`` extra pulls in Hypothesis."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=240,
    )
    (built,) = out.glob("zombiewatch-*.whl")
    return built


def test_the_wheel_contains_the_test_kit_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("__init__", "containers", "controller", "fakes", "raw_api", "stateful",
                   "strategies", "_envelope", "_taskfile_text", "_yamlv3"):
        assert f"zombiewatch/testing/{module}.py" in names
    assert "zombiewatch/py.typed" in names
    # Only the package: no tests, harness, zwservices, scripts or benchmarks beside it.
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"zombiewatch"}


def test_hypothesis_is_required_only_by_the_testing_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode("utf-8"))
    requires = metadata.get_all("Requires-Dist") or []
    hypothesis = [r for r in requires if r.lower().startswith("hypothesis")]
    assert "testing" in (metadata.get_all("Provides-Extra") or [])
    assert hypothesis, requires
    assert all("extra ==" in r for r in hypothesis), hypothesis
    assert any('extra == "testing"' in r for r in hypothesis), hypothesis


def test_the_test_kit_imports_and_runs_from_the_wheel(wheel: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from datetime import UTC, datetime\n"
        "import zombiewatch\n"
        "from zombiewatch.testing.controller import apply_record\n"
        "from zombiewatch.testing import stateful, strategies, fakes\n"
        "assert zombiewatch.__file__.startswith(sys.argv[1]), zombiewatch.__file__\n"
        "print(apply_record('---\\n---\\n', b'{}', now=datetime.now(UTC)).outcome)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(wheel)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "dropped_expired"
