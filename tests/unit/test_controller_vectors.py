"""The reference controller against every public conformance vector, under its profile.

``tests/data/controller-vectors.json`` was recorded by running the v0.3
agent-task-controller (its executors, file lookup and split, yaml.v3 and the
cqrs consumer chain) on our commands and hand-written records;
``tests/data/controller-vectors-current.json`` by running today's controller
(vault ``personal``, 60-minute expiry) on the same records and 50 new cases.
Each step is applied to the controller's own file of the previous step, so one
wrong step does not cascade; outcome, frontmatter values *and* kinds, and body
must match. Cases with more task files than one, or with the vault scanner's
index, run through a whole :class:`ReferenceController`.
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
from zombiewatch.testing._taskfile_text import read_back
from zombiewatch.testing._yamlv3 import format_timestamp
from zombiewatch.testing.controller import TASK_PATH, ReferenceController, apply_record

DATA: Final = Path(__file__).parent.parent / "data"
V0_3: Final = json.loads((DATA / "controller-vectors.json").read_text("utf-8"))
CURRENT: Final = json.loads((DATA / "controller-vectors-current.json").read_text("utf-8"))
PROFILES: Final = {"v0.3": V0_3, "current": CURRENT}
"""Each vector file under the controller it was recorded from."""
NOW: Final = {
    profile: parse_request_time(vectors["request_time"]) + timedelta(milliseconds=500)
    for profile, vectors in PROFILES.items()
}
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
    pytest.param(profile, case, index, id=f"{profile}:{case['name']}#{index}")
    for profile, vectors in PROFILES.items()
    for case in vectors["cases"]
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


@pytest.mark.parametrize(
    ("vectors", "cases", "steps"), [(V0_3, 83, 144), (CURRENT, 133, 242)], ids=list(PROFILES)
)
def test_the_vectors_are_the_complete_public_set(
    vectors: dict[str, Any], cases: int, steps: int
) -> None:
    assert len(vectors["cases"]) == cases
    assert sum(len(case["steps"]) for case in vectors["cases"]) == steps


def test_the_current_vectors_were_recorded_as_the_current_profile_assumes() -> None:
    assert CURRENT["vault_name"] == "personal"
    assert CURRENT["command_expiry"] == "1h0m0s"


@pytest.fixture(params=["libyaml", "pure-python"])
def yaml_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both PyYAML builds: with libyaml (the default when present) and without."""
    if request.param == "pure-python":
        monkeypatch.setattr(yamlv3, "LOADER", yamlv3.PythonLoader)
        monkeypatch.setattr(yamlv3, "DUMPER", yamlv3.PythonDumper)
    elif yamlv3.LOADER is yamlv3.PythonLoader:
        pytest.fail("PyYAML was built without libyaml; the default backend is the Python one")
    return str(request.param)


def _extra_files_before(case: dict[str, Any], index: int) -> dict[str, str]:
    """The vault's other task files when step ``index`` is consumed."""
    for step in reversed(case["steps"][:index]):
        if "extra_files" in step:
            return dict(step["extra_files"])
    return dict(case.get("extra_files", {}))


def _in_a_whole_vault(profile: str, case: dict[str, Any], index: int, before: str
                      ) -> tuple[str, str | None, dict[str, str]]:
    """Step ``index`` through a :class:`ReferenceController`: the outcome, why, the files."""
    files = {TASK_PATH: before, **_extra_files_before(case, index)}
    controller = ReferenceController(files=files, profile=profile, vault=CURRENT["vault_name"],
                                     index=case.get("resolver"))
    dispatch = controller.apply(case["steps"][index]["value"].encode("utf-8"),
                                now=NOW[profile])
    return dispatch.outcome, dispatch.error, controller.files


def _assert_read_back_as(text: str, *, frontmatter: Any, types: Any, body: Any) -> None:
    back = read_back(text)
    assert back.body == body
    if frontmatter is None:
        assert back.frontmatter is None
        assert back.error is not None
        return
    assert back.frontmatter is not None, back.error
    assert _comparable(back.frontmatter) == frontmatter
    kinds = {
        key: go_type
        for key, go_type in types.items()
        if not _kind_matches(back.frontmatter[key], go_type)
    }
    assert kinds == {}, {key: type(back.frontmatter[key]).__name__ for key in kinds}


@pytest.mark.parametrize(("profile", "case", "index"), STEPS)
def test_each_step_matches_the_real_controller(
    profile: str, case: dict[str, Any], index: int, yaml_backend: str
) -> None:
    # Arrange
    steps = case["steps"]
    step = steps[index]
    before = case["file"] if index == 0 else steps[index - 1]["file"]
    whole_vault = "extra_files" in case or "resolver" in case
    # Act
    if whole_vault:
        outcome, detail, files = _in_a_whole_vault(profile, case, index, before)
        text = files.pop(TASK_PATH)
    else:
        applied = apply_record(before, step["value"].encode("utf-8"), now=NOW[profile],
                               profile=profile)
        outcome, detail, text, files = applied.outcome, applied.detail, applied.text, {}
    # Assert
    assert outcome == step["outcome"], case["rule"]
    if "detail" in step and step["outcome"] == "skipped":
        assert detail is not None
        assert detail.split(":")[0] == step["detail"].split(":")[0], detail
    _assert_read_back_as(text, frontmatter=step["frontmatter"], types=step["types"] or {},
                         body=step["body"])
    expected_extra = step.get("extra_files", _extra_files_before(case, index))
    assert files.keys() == expected_extra.keys()
    for path, expected in expected_extra.items():
        wanted = read_back(expected)
        _assert_read_back_as(files[path], frontmatter=_comparable(wanted.frontmatter),
                             types={}, body=wanted.body)
