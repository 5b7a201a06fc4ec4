"""SPEC §9: the agent Job manifest and its name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given

from zombiewatch.domain.config import EffectiveConfig
from zombiewatch.domain.manifest import ManifestError, build_job_manifest, job_name
from zombiewatch.domain.names import is_dns1123_label
from zombiewatch.testing.strategies import assignees, odd_assignees, task_ids, utc_datetimes

AT = datetime(2026, 6, 2, 9, 46, 0, tzinfo=UTC)
TASK = "3f2a9c1d-7b4e-4c1a-9d2e-0123456789ab"


@pytest.mark.parametrize(
    ("assignee", "task_id", "expected"),
    [
        ("claude", TASK, "claude-3f2a9c1d-20260602094600"),
        ("", TASK, "agent-3f2a9c1d-20260602094600"),
        ("Claude_Code.v2", TASK, "claude-code-v2-3f2a9c1d-20260602094600"),
        ("___", TASK, "agent-3f2a9c1d-20260602094600"),
        ("claude", "AB_CD", "claude-ab-cd-20260602094600"),
        ("claude", "???", "claude-task-20260602094600"),
        ("a" * 80, TASK, "a" * 39 + "-3f2a9c1d-20260602094600"),
    ],
)
def test_job_name_is_assignee_task_prefix_and_utc_stamp(
    assignee: str, task_id: str, expected: str
) -> None:
    # Act
    name = job_name(assignee=assignee, task_id=task_id, at=AT)
    # Assert
    assert name == expected


def test_job_name_stamps_utc() -> None:
    # Arrange
    at = datetime(2026, 6, 2, 11, 46, 0, tzinfo=timezone(timedelta(hours=2)))
    # Act
    name = job_name(assignee="claude", task_id=TASK, at=at)
    # Assert
    assert name.endswith("-20260602094600")


@given(assignee=odd_assignees(), task_id=task_ids(), at=utc_datetimes())
def test_job_names_are_always_dns1123_labels_of_at_most_63_chars(
    assignee: str, task_id: str, at: datetime
) -> None:
    # Act
    name = job_name(assignee=assignee, task_id=task_id, at=at)
    # Assert
    assert is_dns1123_label(name)
    assert len(name) <= 63


def build(**overrides: object) -> dict[str, object]:
    arguments: dict[str, object] = {
        "task_id": TASK,
        "assignee": "claude",
        "task_content": "---\nassignee: claude\n---\n# Do it\n",
        "task_type": "code",
        "phase": "in_progress",
        "kafka_brokers": "kafka:9092",
        "branch": "dev",
        "image": None,
        "config": EffectiveConfig(
            assignee="claude",
            job_timeout=timedelta(seconds=900),
            image="registry.example/claude:1",
            env=(("MODEL", "opus"), ("TASK_ID", "spoofed")),
        ),
        "at": AT,
        "namespace": "agents",
    }
    arguments.update(overrides)
    return build_job_manifest(**arguments)  # type: ignore[arg-type]


def test_the_manifest_is_a_one_shot_job_with_the_configured_deadline() -> None:
    # Act
    manifest = build()
    # Assert
    labels = {
        "agent.benjamin-borbe.de/task-id": TASK,
        "agent.benjamin-borbe.de/assignee": "claude",
    }
    assert manifest == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "claude-3f2a9c1d-20260602094600",
            "namespace": "agents",
            "labels": labels,
        },
        "spec": {
            "activeDeadlineSeconds": 900,
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 1800,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "agent",
                            "image": "registry.example/claude:1",
                            "env": [
                                {
                                    "name": "TASK_CONTENT",
                                    "value": "---\nassignee: claude\n---\n# Do it\n",
                                },
                                {"name": "TASK_ID", "value": TASK},
                                {"name": "KAFKA_BROKERS", "value": "kafka:9092"},
                                {"name": "BRANCH", "value": "dev"},
                                {"name": "PHASE", "value": "in_progress"},
                                {"name": "TASK_TYPE", "value": "code"},
                                {"name": "MODEL", "value": "opus"},
                            ],
                        }
                    ],
                },
            },
        },
    }


def test_without_config_the_default_deadline_and_the_given_image_are_used() -> None:
    # Act
    manifest = build(config=None, image="registry.example/agent:2")
    # Assert
    spec = manifest["spec"]
    assert isinstance(spec, dict)
    assert spec["activeDeadlineSeconds"] == 1800
    assert "registry.example/agent:2" in repr(spec["template"])


def test_an_empty_assignee_has_no_assignee_label() -> None:
    # Act
    manifest = build(assignee="", config=None, image="img")
    # Assert
    metadata = manifest["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["labels"] == {"agent.benjamin-borbe.de/task-id": TASK}
    assert metadata["name"] == "agent-3f2a9c1d-20260602094600"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"config": None, "image": None}, "no image"),
        ({"assignee": "has space"}, "not a valid label value"),
        ({"task_id": ""}, "task id must not be empty"),
        ({"namespace": "Agents"}, "namespace"),
    ],
)
def test_invalid_inputs_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        build(**overrides)


@given(assignee=assignees(), task_id=task_ids(), at=utc_datetimes())
def test_labels_carry_task_id_and_assignee_verbatim(
    assignee: str, task_id: str, at: datetime
) -> None:
    # Act
    manifest = build(assignee=assignee, task_id=task_id, at=at)
    # Assert
    metadata = manifest["metadata"]
    assert isinstance(metadata, dict)
    labels = metadata["labels"]
    assert labels["agent.benjamin-borbe.de/task-id"] == task_id
    assert labels.get("agent.benjamin-borbe.de/assignee", "") == assignee
