"""The agent Job manifest (SPEC §9), for the host's spawn path.

Job name: ``<assignee or "agent">-<first 8 chars of task id>-<UTC yyyymmddHHMMSS>``,
always a valid DNS-1123 label of at most 63 characters:

- each part is sanitised (lowercased, runs of other characters → one '-',
  dashes trimmed); an assignee that sanitises to nothing becomes ``agent``,
  a task-id prefix that does becomes ``task``;
- the timestamp (14 chars) and the task-id part (≤ 8) are never shortened; a
  long assignee is truncated to the room left (at least 39 chars), so Jobs of
  one agent still sort and grep by agent. Two agents whose sanitised names
  share their first 39 chars cannot both run the same task in the same
  second, so truncation cannot make names collide in practice.

The labels must carry the assignee and task id verbatim (the cluster-side
in-flight records are built from them), so those are validated, not
sanitised: an invalid label value raises ManifestError.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from zombiewatch.domain.config import DEFAULT_JOB_TIMEOUT_SECONDS, EffectiveConfig
from zombiewatch.domain.names import (
    DNS1123_LABEL_MAX,
    dns1123_label_problem,
    label_value_problem,
    sanitize_dns1123,
    task_id_problem,
)
from zombiewatch.domain.timestamps import NaiveDatetimeError, compact_utc
from zombiewatch.domain.views import ASSIGNEE_LABEL, TASK_ID_LABEL

DEFAULT_NAME_PREFIX: Final = "agent"
TASK_ID_PREFIX_LENGTH: Final = 8
TASK_PART_FALLBACK: Final = "task"
TTL_SECONDS_AFTER_FINISHED: Final = 1800
"""Finished Jobs linger 30 min: long enough for the sweeper and an operator to look."""
CONTAINER_NAME: Final = "agent"
RESERVED_ENV: Final = ("TASK_CONTENT", "TASK_ID", "KAFKA_BROKERS", "BRANCH", "PHASE", "TASK_TYPE")
"""Set by the builder; a Config ``env`` entry with one of these names is dropped."""


class ManifestError(ValueError):
    """The inputs cannot make a valid Job manifest."""


def job_name(*, assignee: str, task_id: str, at: datetime) -> str:
    """``<assignee or "agent">-<task id[:8]>-<yyyymmddHHMMSS UTC>``, a DNS-1123 label ≤ 63."""
    try:
        stamp = compact_utc(at)
    except NaiveDatetimeError as exc:
        raise ManifestError(str(exc)) from exc
    task_part = sanitize_dns1123(task_id[:TASK_ID_PREFIX_LENGTH]) or TASK_PART_FALLBACK
    suffix = f"{task_part}-{stamp}"
    room = DNS1123_LABEL_MAX - len(suffix) - 1
    prefix = sanitize_dns1123(assignee, max_len=room) or DEFAULT_NAME_PREFIX
    return f"{prefix}-{suffix}"


def _env(name: str, value: str) -> dict[str, object]:
    return {"name": name, "value": value}


def build_job_manifest(
    *,
    task_id: str,
    assignee: str,
    task_content: str,
    task_type: str,
    phase: str,
    kafka_brokers: str,
    branch: str,
    image: str | None,
    config: EffectiveConfig | None,
    at: datetime,
    namespace: str,
) -> dict[str, object]:
    """The ``batch/v1`` Job for one task, as a plain dict ready for the API.

    ``image`` wins over the Config's image; one of them is required. The
    deadline is the Config's effective Job timeout (1800 s without a Config).
    """
    for problem in (
        task_id_problem(task_id),
        label_value_problem(task_id, what="task id"),
        label_value_problem(assignee, what="assignee"),
        dns1123_label_problem(namespace, what="namespace"),
    ):
        if problem is not None:
            raise ManifestError(problem)
    resolved_image = image or (config.image if config is not None else None)
    if not resolved_image:
        raise ManifestError(f"no image for assignee {assignee!r}: neither given nor configured")
    timeout = (
        int(config.job_timeout.total_seconds())
        if config is not None
        else DEFAULT_JOB_TIMEOUT_SECONDS
    )
    labels: dict[str, object] = {TASK_ID_LABEL: task_id}
    if assignee:
        labels[ASSIGNEE_LABEL] = assignee
    env = [
        _env("TASK_CONTENT", task_content),
        _env("TASK_ID", task_id),
        _env("KAFKA_BROKERS", kafka_brokers),
        _env("BRANCH", branch),
        _env("PHASE", phase),
        _env("TASK_TYPE", task_type),
    ]
    if config is not None:
        env.extend(_env(name, value) for name, value in config.env if name not in RESERVED_ENV)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(assignee=assignee, task_id=task_id, at=at),
            "namespace": namespace,
            "labels": dict(labels),
        },
        "spec": {
            "activeDeadlineSeconds": timeout,
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": CONTAINER_NAME, "image": resolved_image, "env": env},
                    ],
                },
            },
        },
    }
