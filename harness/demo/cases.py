"""The demo's cases: one real workload per failure mode, what it should publish, and
from which first-seen state (``harness.observer`` signs) its latency counts.

Every state comes from Kubernetes itself (kubelet, scheduler, Job controller, admission):
nothing here writes a status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness import workloads
from harness.observer import Observer

GRACE_SECONDS = 5.0
"""The daemon's grace window (``grace_seconds``; 120 s in production), so the
unschedulable and config-error rows show in seconds."""
JOB_TIMEOUT_SECONDS = 30
"""The Config's ``zombieJobTimeoutSeconds`` (the CRD's minimum)."""
SWEEPER_INTERVAL_SECONDS = 10
"""The Config's ``zombieSweeperIntervalSeconds`` (the CRD's minimum)."""

Due = Callable[[Observer, str], float | None]
"""(observer, job name) -> when the verdict became due (monotonic), None: not yet."""


def _sign(name: str) -> Due:
    return lambda obs, job: obs.first(job, name)


def _after_grace(name: str) -> Due:
    """The state was seen and the pod is older than the grace window (counted, as the
    daemon counts it, from the pod's ``creationTimestamp``)."""
    def due(obs: Observer, job: str) -> float | None:
        seen, created = obs.first(job, name), obs.stamp(job, "pod_created")
        if seen is None or created is None:
            return None
        return max(seen, created + GRACE_SECONDS)
    return due


def _earliest(*names: str) -> Due:
    def due(obs: Observer, job: str) -> float | None:
        times = [t for n in names if (t := obs.first(job, n)) is not None]
        return min(times) if times else None
    return due


def _started_past_grace(obs: Observer, job: str) -> float | None:
    """The Job's start plus the grace window: a started Job without a pod is due then."""
    started = obs.stamp(job, "job_started")
    return None if started is None else started + GRACE_SECONDS


@dataclass
class Case:
    """One Job (or, with ``manifest`` None, a registration only) and its expectation."""

    key: str
    title: str
    expected: str | None
    options: dict[str, Any] | None
    """``workloads.job_manifest`` options; None: the host registers a Job it never creates."""
    due: Due | None
    due_from: str
    """What the latency counts from, in words (printed under the table)."""
    job_end: bool = False
    """Wait for the Job's own end (Failed/Complete) before the table: shows what the Job
    controller did afterwards and gives a second publish the chance to happen."""
    job_name: str = ""
    task_id: str = ""
    published: list[str] = field(default_factory=list)
    seen_at: float | None = None


HOG = "x=$(head -c 67108864 /dev/zero | tr '\\000' a); echo never"
"""Fills a shell variable with 64 MiB before printing anything."""
POLITE = "trap 'exit 0' TERM; sleep 3600 & wait"
"""An agent that exits 0 when Kubernetes asks it to stop."""


def cases() -> list[Case]:
    missing = workloads.MISSING_IMAGE
    return [
        Case("missing_image", "image does not exist", "image_pull_backoff",
             {"image": missing}, _sign("image_pull"), "first ErrImagePull"),
        Case("init_cannot_pull", "init container cannot pull", "image_pull_backoff",
             {"pod_spec": {"initContainers": [{"name": "init", "image": missing,
                                               "imagePullPolicy": "IfNotPresent"}]}},
             _sign("image_pull"), "first ErrImagePull"),
        Case("exit_1", "exit 1 before any output", "pod_crash_no_stdout",
             {"args": ["false"]}, _sign("failed"), "pod Failed", job_end=True),
        Case("oom", "OOM (8Mi limit)", "pod_oom_killed",
             {"args": ["sh", "-c", HOG], "container": {"resources": {
                 "limits": {"memory": "8Mi"}, "requests": {"memory": "8Mi"}}}},
             _sign("failed"), "pod Failed", job_end=True),
        Case("missing_secret", "env from a missing Secret", "container_config_error",
             {"container": {"envFrom": [{"secretRef": {"name": "does-not-exist"}}]}},
             _after_grace("config_error"),
             f"config error seen and creationTimestamp + {GRACE_SECONDS:.0f} s"),
        Case("no_node", "nodeSelector no node matches", "pod_not_scheduled",
             {"pod_spec": {"nodeSelector": {"zombiewatch.demo/no-such-node": "true"}}},
             _after_grace("unschedulable"),
             f"Unschedulable seen and creationTimestamp + {GRACE_SECONDS:.0f} s"),
        Case("active_deadline", "activeDeadlineSeconds 5 passed", "deadline_exceeded",
             {"args": ["sh", "-c", POLITE], "active_deadline_seconds": 5},
             _earliest("FailureTarget:DeadlineExceeded", "Failed:DeadlineExceeded"),
             "the Job's FailureTarget (Failed follows once the pod ended)", job_end=True),
        Case("no_pod", "no pod ever admitted", "pod_not_scheduled",
             {"pod_spec": {"serviceAccountName": "does-not-exist"}}, _started_past_grace,
             f"Job startTime + {GRACE_SECONDS:.0f} s (the grace of a Job without a pod)"),
        Case("registered_only", "host registered, Job never created", "executor_watch_lost",
             None, None,
             f"registration + {JOB_TIMEOUT_SECONDS} s (swept every {SWEEPER_INTERVAL_SECONDS} s)"),
        Case("healthy", "healthy, completes", None, {"args": ["echo", "done"]}, None, "-",
             job_end=True),
    ]
