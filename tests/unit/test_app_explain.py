"""``zombiewatch explain``: the daemon's classification of one object, for triage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from zombiewatch.app.cli import main

TASK = "4aa57614-8835-4992-87e9-ca483ddbeae6"


def pod(*, waiting: str | None = None, phase: str = "Pending") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if waiting:
        status["containerStatuses"] = [{"name": "agent", "state": {"waiting": {"reason": waiting}}}]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "claude-4aa57614-x", "namespace": "agents", "uid": "u1",
            "creationTimestamp": "2026-06-02T09:00:00Z",
            "labels": {"agent.benjamin-borbe.de/task-id": TASK},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                 "name": "claude-4aa57614", "uid": "j1", "controller": True}],
        },
        "status": status,
    }


def job(*, complete: bool) -> dict[str, Any]:
    condition = {"type": "Complete" if complete else "Failed", "status": "True",
                 "reason": "Completed" if complete else "DeadlineExceeded"}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "claude-4aa57614", "namespace": "agents", "uid": "j1",
                     "creationTimestamp": "2026-06-02T09:00:00Z",
                     "labels": {"agent.benjamin-borbe.de/task-id": TASK}},
        "status": {"conditions": [condition]},
    }


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
        *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    path = tmp_path / "object"
    path.write_text(text)
    code = main(["explain", str(path), *extra])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_a_pod_in_image_pull_backoff_is_explained_with_its_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, answers, _ = run(tmp_path, capsys, json.dumps(pod(waiting="ImagePullBackOff")))

    assert code == 0
    assert answers == [{"kind": "Pod", "name": "claude-4aa57614-x",
                        "reason": "image_pull_backoff", "rule": "waiting_image_pull",
                        "evidence": "ImagePullBackOff"}]


def test_the_grace_rows_depend_on_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = json.dumps(pod(waiting="CreateContainerConfigError"))

    _, early, _ = run(tmp_path, capsys, text, "--now", "2026-06-02T09:01:59Z")
    _, late, _ = run(tmp_path, capsys, text, "--now", "2026-06-02T09:02:00Z")

    assert early[0]["reason"] is None
    assert late[0]["reason"] == "container_config_error"
    assert late[0]["rule"] == "container_config_error_past_grace"


def test_a_yaml_list_is_explained_item_by_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {"apiVersion": "v1", "kind": "List",
                "items": [job(complete=False), job(complete=True), pod(phase="Running")]}

    code, answers, _ = run(tmp_path, capsys, yaml.safe_dump(document))

    assert code == 0
    assert [(a["kind"], a["reason"], a["rule"]) for a in answers] == [
        ("Job", "deadline_exceeded", "job_failed_deadline"),
        ("Job", None, None),
        ("Pod", None, None),
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("{not json: [", "neither JSON nor YAML"),
    ("[1, 2]", "expected a Kubernetes object"),
    (json.dumps({"kind": "Service"}), "expected kind Pod or Job"),
    (json.dumps({**pod(), "metadata": {"name": "x"}}), "cannot classify Pod"),
])
def test_unreadable_input_exits_non_zero_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, answers, err = run(tmp_path, capsys, text)

    assert code == 1
    assert answers == []
    assert message in err


def test_a_missing_file_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explain", str(tmp_path / "absent.json")])

    assert code == 1
    assert "cannot read" in capsys.readouterr().err


def test_explain_help_names_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["explain", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert all(rule in text for rule in (
        "disrupted", "job_failure_target_deadline", "job_failure_target_other",
        "waiting_image_pull", "deadline_pod_not_running"))
