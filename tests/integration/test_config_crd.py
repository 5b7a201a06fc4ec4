"""The Config CRD of deploy/ keeps every Config the agent system's own CRD accepts.

The agent system's executor installs its Config CRD and rewrites it on every start; a
cluster that once had ours applied must not have lost or refused any Config. So each field
the agent system's schema declares is written here with a value that schema accepts, to
the real API server with our CRD, and read back: the spec must come back unchanged (no
422, nothing pruned, nothing defaulted).
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from harness.support import apply_config_crd

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "agent.benjamin-borbe.de", "v1", "configs"

# What the agent system requires of every Job Config: an assignee, an image, a heartbeat
# (a re-spawn interval) and a task type.
MINIMAL: dict[str, Any] = {
    "assignee": "claude", "image": "registry.example/agent:1.2.3", "heartbeat": "30m",
    "taskType": "code"}

# One value per field of the agent system's Config spec, each one its schema accepts.
UPSTREAM_FIELDS: dict[str, Any] = {
    "type": "job",
    "taskTypes": ["code", "review-2"],
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "2Gi"},
                  "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "8Gi"}},
    "env": {"MODEL": "opus", "EMPTY": ""},
    "secretName": "agent-secrets",
    "volumeClaim": "agent-workspace",
    "volumeMountPath": "/workspace",
    "configMapName": "agent-prompts",
    "configMapMountPath": "/prompts",
    "configMapItems": [{"key": "system.md", "path": "system.md"}],
    "priorityClassName": "agents-low",
    "imagePullSecret": "registry-credentials",
    "zombieSweeperIntervalSeconds": 10,
    "zombieJobTimeoutSeconds": 5400,
    "maxConcurrentJobs": 0,
    "trigger": {"phases": ["planning", "in_progress"], "statuses": ["in_progress"]},
}


@pytest.fixture
def custom(api_client: Any) -> Any:
    # Per test, like api_client; replacing the CRD with the same manifest is a no-op.
    apply_config_crd(api_client)
    return client.CustomObjectsApi(api_client)


def _round_trip(custom: Any, namespace: str, name: str, spec: dict[str, Any]) -> Any:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Config", "metadata": {"name": name},
        "spec": spec})
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)["spec"]


@pytest.mark.parametrize("field", sorted(UPSTREAM_FIELDS))
def test_a_config_with_each_field_of_the_agent_systems_schema_reads_back_unchanged(
    custom: Any, namespace: str, field: str,
) -> None:
    spec = {**MINIMAL, field: UPSTREAM_FIELDS[field]}

    stored = _round_trip(custom, namespace, field.lower(), spec)

    assert stored == spec


def test_a_service_config_without_a_task_type_reads_back_unchanged(
    custom: Any, namespace: str,
) -> None:
    spec = {"assignee": "indexer", "image": "registry.example/indexer:1", "heartbeat": "1h",
            "type": "service"}

    assert _round_trip(custom, namespace, "service", spec) == spec


def test_fields_neither_schema_declares_are_kept_rather_than_pruned(
    custom: Any, namespace: str,
) -> None:
    spec = {**MINIMAL, "someFutureField": {"nested": [1, "two"]}}

    assert _round_trip(custom, namespace, "future", spec) == spec
