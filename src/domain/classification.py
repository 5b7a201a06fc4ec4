"""Classification policy (SPEC §5): pure functions from views to verdicts.

Boundary choices (see docs/DOMAIN.md):

- Grace window: a pod is "older than the grace window" when
  ``now - created_at >= grace`` (a pod exactly 120 s old is past grace). A
  pod created in the future (clock skew) is never past grace.
- Deadline: a Job has "reached its deadline" when ``elapsed >= deadline``.
- Heartbeat: a heartbeat is "within the window" when
  ``now - last_heartbeat <= heartbeat_window`` (inclusive; a heartbeat from
  the future also counts).
- Complete beats Failed: Kubernetes never sets both terminal conditions, but
  if malformed input has both, ``Complete=True`` wins, because the agent has
  published its own result and SPEC §5 says "never publish" for it; a false
  failure would bump trigger_count of a finished task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Final

from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import ContainerView, JobView, PodPhase, PodView

GRACE: Final = timedelta(seconds=120)
"""How long a pod may stay unschedulable or fail to create its container before
it is a zombie: long enough for a cluster autoscaler to add a node or for a
just-created Secret/ConfigMap to appear, short enough that the operator hears
about it in minutes rather than at the 30-minute Job deadline."""

IMAGE_PULL_WAITING_REASONS: Final = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName"}
)
CRASH_LOOP_WAITING_REASONS: Final = frozenset({"CrashLoopBackOff"})
CONTAINER_CONFIG_WAITING_REASONS: Final = frozenset(
    {"CreateContainerConfigError", "CreateContainerError"}
)
EVICTED_STATUS_REASON: Final = "Evicted"
DEADLINE_JOB_FAILED_REASONS: Final = frozenset({"DeadlineExceeded", "BackoffLimitExceeded"})


class Rule(StrEnum):
    """Which row of the SPEC §5 tables fired; the CLI's ``explain`` prints the value."""

    # Pod table, in evaluation order.
    WAITING_IMAGE_PULL = "waiting_image_pull"
    WAITING_CRASH_LOOP = "waiting_crash_loop"
    EVICTED = "evicted"
    FAILED_NONZERO_EXIT = "failed_nonzero_exit"
    UNSCHEDULABLE_PAST_GRACE = "unschedulable_past_grace"
    CONTAINER_CONFIG_ERROR_PAST_GRACE = "container_config_error_past_grace"
    # Job conditions.
    JOB_FAILED_DEADLINE = "job_failed_deadline"
    JOB_FAILED_OTHER = "job_failed_other"
    # Sweeper, once the deadline is reached.
    DEADLINE_NO_POD = "deadline_no_pod"
    DEADLINE_POD_NOT_RUNNING = "deadline_pod_not_running"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A zombie: why (the on-disk reason) and which rule said so (for logs and triage)."""

    reason: ZombieReason
    rule: Rule


class JobCompleted(Enum):
    """Marker outcome of :func:`classify_job`: the agent published its own result.

    The caller forgets the Job and never publishes a failure for it.
    """

    COMPLETED = "completed"


COMPLETED: Final = JobCompleted.COMPLETED

JobOutcome = Verdict | JobCompleted | None
"""A zombie verdict, ``COMPLETED`` (forget, never publish), or None (healthy / still running)."""


def _any_waiting(containers: Sequence[ContainerView], reasons: frozenset[str]) -> bool:
    return any(c.waiting_reason in reasons for c in containers)


def _past_grace(pod: PodView, *, now: datetime, grace: timedelta) -> bool:
    return now - pod.created_at >= grace


def classify_pod(pod: PodView, *, now: datetime, grace: timedelta = GRACE) -> Verdict | None:
    """Apply the SPEC §5 pod table; the first matching row wins.

    Rows are tried in table order and each row looks at every container, init
    containers included, so a pod with one container in ``CrashLoopBackOff``
    and another in ``ImagePullBackOff`` is ``image_pull_backoff``.
    """
    containers = pod.all_containers
    if _any_waiting(containers, IMAGE_PULL_WAITING_REASONS):
        return Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL)
    if _any_waiting(containers, CRASH_LOOP_WAITING_REASONS):
        return Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.WAITING_CRASH_LOOP)
    if pod.status_reason == EVICTED_STATUS_REASON:
        return Verdict(ZombieReason.POD_EVICTED, Rule.EVICTED)
    if pod.phase is PodPhase.FAILED and any(
        c.terminated_exit_code is not None and c.terminated_exit_code != 0 for c in containers
    ):
        return Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT)
    past_grace = _past_grace(pod, now=now, grace=grace)
    if pod.phase is PodPhase.PENDING and pod.scheduled is False and past_grace:
        return Verdict(ZombieReason.POD_NOT_SCHEDULED, Rule.UNSCHEDULABLE_PAST_GRACE)
    if past_grace and _any_waiting(containers, CONTAINER_CONFIG_WAITING_REASONS):
        return Verdict(ZombieReason.CONTAINER_CONFIG_ERROR, Rule.CONTAINER_CONFIG_ERROR_PAST_GRACE)
    return None


def classify_job(job: JobView) -> JobOutcome:
    """Apply the SPEC §5 Job-condition table.

    ``Complete=True`` wins over ``Failed=True`` (see the module docstring).
    Whether the Job was already reported is not looked at here: that is the
    dedupe layers' business (``job.reported``).
    """
    if job.complete:
        return COMPLETED
    if job.failed_reason is None:
        return None
    if job.failed_reason in DEADLINE_JOB_FAILED_REASONS:
        return Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.JOB_FAILED_DEADLINE)
    return Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.JOB_FAILED_OTHER)
