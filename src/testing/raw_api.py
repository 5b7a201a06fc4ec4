"""Raw Kubernetes API JSON: builders of agent Pods, Jobs and Configs, and strategies of odd JSON.

What the API server sends, before translation; for tests of anything that
reads API objects (the translators never raise on these)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = [
    "ASSIGNEE",
    "DELETE",
    "TASK",
    "api_shaped_json",
    "json_values",
    "raw_config",
    "raw_job",
    "raw_pod",
]

TASK = "agent.benjamin-borbe.de/task-id"
ASSIGNEE = "agent.benjamin-borbe.de/assignee"


def raw_pod(**overrides: Any) -> dict[str, Any]:
    """A well-formed agent pod as the API server sends it."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "agent-1234abcd-20260602094600-x7k2p",
            "namespace": "agents",
            "uid": "9b1c0f6e-1",
            "resourceVersion": "101",
            "creationTimestamp": "2026-06-02T09:46:00Z",
            "labels": {TASK: "1234abcd-task", ASSIGNEE: "claude", "job-name": "j"},
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": "agent-1234abcd", "uid": "j1"}
            ],
        },
        "spec": {"containers": [{"name": "agent", "image": "agent:1"}]},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [
                {"name": "agent", "state": {"waiting": {"reason": "ContainerCreating"}}}
            ],
        },
    }
    for path, value in overrides.items():
        _set(pod, path, value)
    return pod


def raw_job(**overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "agent-1234abcd",
            "namespace": "agents",
            "uid": "j1",
            "resourceVersion": "100",
            "creationTimestamp": "2026-06-02T09:46:00Z",
            "labels": {TASK: "1234abcd-task", ASSIGNEE: "claude"},
        },
        "spec": {"activeDeadlineSeconds": 1800, "backoffLimit": 0},
        "status": {"startTime": "2026-06-02T09:46:01Z"},
    }
    for path, value in overrides.items():
        _set(job, path, value)
    return job


def raw_config(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "apiVersion": "agent.benjamin-borbe.de/v1",
        "kind": "Config",
        "metadata": {"name": "claude", "namespace": "agents", "resourceVersion": "7"},
        "spec": {
            "assignee": "claude",
            "heartbeat": "5m",
            "zombieSweeperIntervalSeconds": 60,
            "zombieJobTimeoutSeconds": 1800,
            "image": "agent:1",
            "taskTypes": ["code", "review"],
            "env": [{"name": "A", "value": "1"}],
        },
    }
    for path, value in overrides.items():
        _set(cfg, path, value)
    return cfg


_DELETE = object()
DELETE = _DELETE
"""Pass as an override value to remove the field."""


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    """``metadata__labels`` style paths (double underscore separates keys)."""
    keys = path.split("__")
    for key in keys[:-1]:
        obj = obj.setdefault(key, {})
    if value is _DELETE:
        obj.pop(keys[-1], None)
    else:
        obj[keys[-1]] = value


def json_values() -> st.SearchStrategy[object]:
    """Arbitrary JSON-like values, odd unicode and huge numbers included."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=20), children, max_size=6)
        ),
        max_leaves=30,
    )


_KEYS = st.sampled_from(
    [
        "metadata", "status", "spec", "name", "namespace", "uid", "labels", "annotations",
        "creationTimestamp", "ownerReferences", "kind", "phase", "conditions", "type",
        "reason", "containerStatuses", "initContainerStatuses", "state", "waiting",
        "terminated", "running", "exitCode", "startTime", "activeDeadlineSeconds",
        "assignee", "env", "taskTypes", "zombieJobTimeoutSeconds", "resourceVersion",
        TASK, ASSIGNEE,
    ]
)  # fmt: skip


def api_shaped_json() -> st.SearchStrategy[object]:
    """JSON-like values using the keys the translator reads, so it gets deep."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
        | st.sampled_from(["Job", "Pending", "True", "False", "2026-06-02T09:46:00Z", "agents"])
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(_KEYS | st.text(max_size=5), children, max_size=6)
        ),
        max_leaves=40,
    )
