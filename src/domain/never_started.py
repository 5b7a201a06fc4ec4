"""Jobs that never start (issue 22): the three signals, pure, read from the views.

Kubernetes leaves a Job that cannot start waiting until its deadline; these signals name
it within minutes, each only once it has lasted longer than a healthy start ever takes:

- **not ready to start** (:func:`not_ready_to_start`): the pod is scheduled and still
  ``Pending`` with ``PodReadyToStartContainers=False``. The kubelet sets that condition
  True once the pod's sandbox is created and its volumes are mounted, before any image is
  pulled: a volume that cannot mount (a missing Secret, ConfigMap or claim) or a sandbox
  the runtime cannot create keeps it False, while a slow image pull happens after it is
  True and never matches. Past the pod grace it is a verdict.
- **init overdue** (:func:`init_overdue`): the pod is ``Pending`` and an init container
  has been running for the init bound or longer: a setup step that never finishes.
- **no pod** (:func:`awaits_first_pod`): the Job controller has started the Job (it is not
  suspended, not finished) and counts no pod at all, and none is known: every pod it tried
  to create was refused (a quota, an admission rule). Past the pod grace from the Job's
  start it is a verdict.

None of these carries a message in the status: the reporter looks up the object's Warning
Events once, when the verdict is reached (:class:`EventQuery`,
:mod:`zombiewatch.domain.event_evidence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from zombiewatch.domain.views import JobView, PodPhase, PodView

INIT_BOUND: Final = timedelta(minutes=10)
"""How long one init container may run before its pod is a zombie (``--init-bound-seconds``).

Init containers are meant to be short setup steps (wait for a dependency, copy a file,
migrate): seconds to a few minutes. Ten minutes is five pod graces, a third of the agent
system's 30-minute default Job deadline: long enough that a slow but working setup is
left alone, early enough to free the task well before the deadline would."""

POD_EVENT_REASONS: Final = frozenset(
    {"FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox"})
"""The kubelet's and attach controller's Warning Events that explain a pod not ready to start."""
JOB_EVENT_REASONS: Final = frozenset({"FailedCreate"})
"""The Job controller's Warning Event for a pod it could not create."""


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which object's Warning Events explain a verdict, and which of their reasons count."""

    namespace: str
    uid: str
    reasons: frozenset[str]


def not_ready_to_start(pod: PodView) -> bool:
    """Scheduled, ``Pending``, not being deleted, and ``PodReadyToStartContainers=False``
    (see the module; a pod being deleted loses its sandbox whatever it waited for)."""
    return (pod.phase is PodPhase.PENDING and pod.scheduled is True
            and pod.ready_to_start is False and not pod.terminating)


def init_due(pod: PodView, *, bound: timedelta) -> datetime | None:
    """When the running init container of a ``Pending`` pod passes the bound; None: none runs."""
    if pod.phase is not PodPhase.PENDING or pod.init_running_since is None:
        return None
    return pod.init_running_since + bound


def init_overdue(pod: PodView, *, now: datetime, bound: timedelta) -> bool:
    """An init container of a ``Pending`` pod has run for ``bound`` or longer."""
    due = init_due(pod, bound=bound)
    return due is not None and now >= due


def pod_due(pod: PodView, *, grace: timedelta, bound: timedelta) -> datetime:
    """When the pod's time-dependent rows can fire: while an init container of a
    ``Pending`` pod runs, that container's bound (its sandbox is up and it is scheduled, so
    no grace row can fire then), else the end of its grace window."""
    due = init_due(pod, bound=bound)
    return pod.created_at + grace if due is None else due


def running_init_names(pod: PodView) -> str:
    """The running init containers' names, comma-separated (the verdict's detail)."""
    return ",".join(c.name for c in pod.init_containers if c.running)


def awaits_first_pod(job: JobView) -> bool:
    """Started, not suspended, not finished, and its status counts no pod yet."""
    return (job.started_at is not None and not job.suspended and job.pods_counted == 0
            and not job.complete and job.failed_reason is None)


def first_pod_due(job: JobView, *, grace: timedelta) -> datetime | None:
    """When a Job still without a pod becomes a zombie (its start + grace); None: it has
    one, or is not waiting for one."""
    if not awaits_first_pod(job) or job.started_at is None:
        return None
    return job.started_at + grace


def no_pod_past_grace(job: JobView, pods: Sequence[PodView], *, now: datetime,
                      grace: timedelta) -> bool:
    """The Job waits for its first pod (none known either) for ``grace`` or longer."""
    due = first_pod_due(job, grace=grace)
    return due is not None and not pods and now >= due
