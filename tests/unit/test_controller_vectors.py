"""The reference controller against every public conformance vector.

``tests/data/controller-vectors.json`` was recorded by running the real
agent-task-controller (its executors, file lookup and split, yaml.v3 and the
cqrs consumer chain) on our commands and hand-written records. Each step is
applied to the controller's own file of the previous step, so one wrong step
does not cascade; outcome, frontmatter values *and* kinds, and body must match.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest

from zombiewatch.testing import _yamlv3 as yamlv3
from zombiewatch.testing._envelope import parse_request_time
from zombiewatch.testing._yamlv3 import format_timestamp
from zombiewatch.testing.controller import apply_record

VECTORS: Final = json.loads(
    (Path(__file__).parent.parent / "data" / "controller-vectors.json").read_text("utf-8")
)
NOW: Final = parse_request_time(VECTORS["request_time"]) + timedelta(seconds=1)
"""Just after the records' requestTime, as the vectors were consumed."""

GO_KINDS: Final[dict[str, type | tuple[type, ...]]] = {
    "string": str,
    "int": int,
    "float64": float,
    "bool": bool,
    "uint64": int,
    "time.Time": datetime,
    "[]interface {}": list,
    "lib.TaskFrontmatter": dict,
    "<nil>": type(None),
}

STEPS: Final = [
    pytest.param(case, index, id=f"{case['name']}#{index}")
    for case in VECTORS["cases"]
    for index in range(len(case["steps"]))
]


def _kind_matches(value: object, go_type: str) -> bool:
    kind = GO_KINDS[go_type]
    if isinstance(value, bool) and go_type != "bool":
        return False
    if go_type == "int":
        return isinstance(value, int) and -(2**63) <= value < 2**63
    if go_type == "uint64":
        return isinstance(value, int) and value >= 2**63
    return isinstance(value, kind)


def _comparable(value: Any) -> Any:
    """Our typed value in the vectors' JSON form (time.Time as RFC 3339)."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def test_the_vectors_are_the_complete_public_set() -> None:
    cases = VECTORS["cases"]
    assert len(cases) == 83
    assert sum(len(case["steps"]) for case in cases) == 144


@pytest.fixture(params=["libyaml", "pure-python"])
def yaml_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both PyYAML builds: with libyaml (the default when present) and without."""
    if request.param == "pure-python":
        monkeypatch.setattr(yamlv3, "LOADER", yamlv3.PythonLoader)
        monkeypatch.setattr(yamlv3, "DUMPER", yamlv3.PythonDumper)
    elif yamlv3.LOADER is yamlv3.PythonLoader:
        pytest.fail("PyYAML was built without libyaml; the default backend is the Python one")
    return str(request.param)


@pytest.mark.parametrize(("case", "index"), STEPS)
def test_each_step_matches_the_real_controller(
    case: dict[str, Any], index: int, yaml_backend: str
) -> None:
    # Arrange
    steps = case["steps"]
    step = steps[index]
    before = case["file"] if index == 0 else steps[index - 1]["file"]
    # Act
    applied = apply_record(before, step["value"].encode("utf-8"), now=NOW)
    # Assert
    assert applied.outcome == step["outcome"], case["rule"]
    assert applied.body == step["body"]
    if step["frontmatter"] is None:
        assert applied.frontmatter is None
        assert applied.parse_error is not None
        return
    assert applied.frontmatter is not None, applied.parse_error
    assert _comparable(applied.frontmatter) == step["frontmatter"]
    kinds = {
        key: go_type
        for key, go_type in step["types"].items()
        if not _kind_matches(applied.frontmatter[key], go_type)
    }
    assert kinds == {}, {key: type(applied.frontmatter[key]).__name__ for key in kinds}
