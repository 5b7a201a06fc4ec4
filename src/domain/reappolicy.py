"""Laying a zombie to rest (SPEC §14): which reported Jobs to stop, and how far.

A reported Job can come back to life (an image that becomes pullable, a node
added for an unschedulable pod, a Secret created late) and run its agent
while the retried task runs again. zombiewatch stops it the Kubernetes way:
it shortens ``spec.activeDeadlineSeconds`` so the Job controller terminates
the pods and marks the Job ``Failed`` (``DeadlineExceeded``), keeping the Job
and its events until its TTL for triage. Pure: the caller brings the views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from zombiewatch.domain.classification import is_terminal
from zombiewatch.domain.never_started import awaits_first_pod
from zombiewatch.domain.views import JobView, PodView

REAPED_DEADLINE_SECONDS: Final = 1
"""The smallest deadline the API accepts (it must be positive): already past for any Job
that has started, so the Job controller acts at its next sync."""


def should_reap(job: JobView | None, pods: Sequence[PodView]) -> bool:
    """True when a reported Job still has a pod that may run, or may still get one: then its
    deadline is shortened.

    A started Job without any pod (its pods refused by a quota or admission) is reaped too:
    its controller keeps trying, so a pod would start once the quota frees up, and the Job
    stays active (blocking the task's re-dispatch) until it ends. Left alone: a Job that is
    gone, completed, already reaped, or failed (the Job controller is already stopping its
    pods), and a Job whose pods have all ended (nothing to stop; no pod will start after
    its failure).
    """
    if job is None or job.complete or job.reaped_at is not None:
        return False
    if job.failed_reason is not None:
        return False
    if not pods and awaits_first_pod(job):
        return True
    return any(not is_terminal(pod) for pod in pods)


def reaped_deadline(job: JobView) -> int | None:
    """The ``activeDeadlineSeconds`` to set, or None when the current one is already as short."""
    current = job.active_deadline_seconds
    if current is not None and current <= REAPED_DEADLINE_SECONDS:
        return None
    return REAPED_DEADLINE_SECONDS
