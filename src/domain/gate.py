"""May this Job be reported now? The one rule the event path, the sweeper and the
reporter all ask (SPEC §5-7).

:func:`decide` takes everything the answer depends on in one frozen
:class:`GateInputs`: the Job as the cache holds it (or None), its cached pods,
what the host told us (registration, result, heartbeat), whether a failure was
published recently, the time, and, on sweep ticks only, the deadline inputs.
It answers with a :class:`~zombiewatch.domain.classification.Verdict` (report
it), a :class:`Hold` (why it must not be reported, whatever its state), or
None (nothing wrong now).

In order:

1. the holds (:func:`hold_of`): a Job that neither the cache nor the host
   knows, a completed Job, an already reported one (memory, annotation, or an
   annotation still owed to a committed failure), one
   whose task the host saw resolved after the Job started, one that is no
   longer its task's current Job or whose task is completed or aborted (the
   task feed, when it is an input);
2. a failed Job (the Job conditions) settled with its pods
   (:func:`~zombiewatch.domain.classification.settle_job_failure`: a pod's verdict
   wins, the Job's own ``DeadlineExceeded`` explains its pods' exit 137, and the
   verdict waits — None — while a pod is still terminating);
3. the pod table over the cached pods and the last states of pods just deleted
   (the first pod with a verdict wins);
4. with deadline inputs, once the elapsed time reaches the deadline: not a
   zombie while a pod is ``Running`` or a heartbeat is within the window;
   otherwise ``executor_watch_lost`` when no pod is known, else
   ``deadline_exceeded``.

The event path passes no deadline inputs: the deadline is the sweeper's rule,
and a pod seen for the first time (every pod, after a restart) is no proof
that its Job is dead. So the two paths can differ only by step 4: whatever the
event path reports, a sweep of the same state reports too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from zombiewatch.domain.classification import (
    COMPLETED,
    GRACE,
    Rule,
    Verdict,
    classify_job,
    classify_pod,
    settle_job_failure,
)
from zombiewatch.domain.detail import safe_detail
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState
from zombiewatch.domain.views import InFlightJob, JobView, PodPhase, PodView


class Hold(StrEnum):
    """Why a Job must not be reported now, whatever its pods look like."""

    RECENTLY_REPORTED = "recently_reported"
    """The in-memory dedupe layer: this instance published it within the TTL, or its
    annotation is still owed (for as long as it is, whatever the TTL)."""
    REPORTED = "reported"
    """The durable layer: the Job carries the zombie annotations."""
    UNKNOWN = "unknown"
    """Neither the cache nor the host knows the Job: early (the Job informer has not
    seen it yet; its arrival judges its pods) or orphaned (nothing to annotate, so
    nothing would stop it being reported after every restart)."""
    COMPLETE = "complete"
    """``Complete=True``: the agent published its own result (SPEC §5: never publish)."""
    RESOLVED = "resolved"
    """The host observed the task's result after this Job started."""
    SUPERSEDED = "superseded"
    """The task feed names a newer Job as the task's current one."""
    TASK_CLOSED = "task_closed"
    """The task feed shows the task ``completed`` or ``aborted``: today's executor ignores
    such tasks, and a failure would only write into a finished task."""


DEFAULT_LIVENESS_WINDOW: Final = timedelta(minutes=5)
"""How recent a heartbeat must be to keep a Job past its deadline alive, unless the
daemon's ``--liveness-window`` says otherwise. Our own setting: a Config's
``heartbeat`` is the agent system's re-spawn interval, not a liveness window."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadlineInputs:
    """What the deadline rule needs; the sweeper passes it, the event path does not."""

    deadline: timedelta
    """The ``zombieJobTimeoutSeconds`` of the Config the Job was made from."""
    heartbeat_window: timedelta
    """The liveness window (the daemon's setting, :data:`DEFAULT_LIVENESS_WINDOW`)."""
    last_heartbeat: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GateInputs:
    """Everything :func:`decide` looks at, for one Job."""

    job_name: str
    job: JobView | None
    """The cached Job, None when the Job informer does not know it."""
    registration: InFlightJob | None = None
    """The host's record of the spawn, if it registered one."""
    pods: Sequence[PodView] = ()
    deleted: Sequence[PodView] = ()
    """Last states of pods of the Job just deleted (their DELETED events): a drained
    pod is decided there when its ``Failed`` was never seen."""
    recently_reported: bool = False
    """The in-memory dedupe layer knows the Job."""
    annotation_owed: bool = False
    """A failure of the Job was committed and its annotation has not landed yet: the Job
    counts as reported until it does (the TTL of the memory layer does not apply)."""
    result_at: datetime | None = None
    """When the host last observed a result of the Job's task."""
    now: datetime
    grace: timedelta = GRACE
    deadline: DeadlineInputs | None = None
    """Sweep ticks only (see the module docstring)."""
    task: TaskState | None = None
    """The task's state from the task feed, when that feed is wired in."""


Decision = Verdict | Hold | None
"""Report with this verdict, hold for this reason, or nothing wrong now."""


def start_of(job: JobView | None, registration: InFlightJob | None) -> datetime | None:
    """Job ``startTime``, else its creation time, else the host's start; None if unknown."""
    if job is not None:
        return job.started_at or job.created_at
    return registration.started_at if registration is not None else None


def elapsed_since_start(
    *, job: JobView | None, registration: InFlightJob | None, now: datetime
) -> timedelta | None:
    """How long the Job has run (from :func:`start_of`); None if no start is known."""
    start = start_of(job, registration)
    return None if start is None else now - start


def settled(job: JobView) -> bool:
    """Complete or annotated: out of flight for good, whatever else is known."""
    return job.complete or job.reported


def is_heartbeat(previous: PodView | None, current: PodView) -> bool:
    """A transition of a known pod is proof of life; the first sight is not (after a
    restart every pod is "added" by the initial list)."""
    return previous is not None and previous != current


def hold_of(inputs: GateInputs) -> Hold | None:
    """The first hold that applies, or None: step 1 of :func:`decide`."""
    job = inputs.job
    if inputs.recently_reported or inputs.annotation_owed:
        return Hold.RECENTLY_REPORTED
    if job is None:
        if inputs.registration is None:
            return Hold.UNKNOWN
    elif settled(job):
        return Hold.REPORTED if job.reported else Hold.COMPLETE
    if inputs.result_at is not None:
        start = start_of(job, inputs.registration)
        if start is None or start <= inputs.result_at:
            return Hold.RESOLVED
    if superseded(inputs.task, job_name=inputs.job_name, start=start_of(job, inputs.registration)):
        return Hold.SUPERSEDED
    if inputs.task is not None and inputs.task.closed:
        return Hold.TASK_CLOSED
    return None


def superseded(task: TaskState | None, *, job_name: str, start: datetime | None) -> bool:
    """The task feed names a *newer* Job as the task's current one.

    A late failure of this Job would clear that Job's ``current_job``. Only a
    provably newer Job counts: the feed lags the host by up to the controller's
    poll interval, so a task still naming no Job, or a Job spawned before this
    one, is no proof that this Job was replaced (holding it would delay or lose
    a real zombie).
    """
    if task is None or task.current_job in ("", job_name):
        return False
    return task.job_started_at is not None and start is not None and task.job_started_at > start


def decide(inputs: GateInputs) -> Decision:
    """May the Job be reported now, and why (see the module docstring)."""
    held = hold_of(inputs)
    if held is not None:
        return held
    now, pods = inputs.now, inputs.pods
    if inputs.job is not None:
        outcome = classify_job(inputs.job)
        if isinstance(outcome, Verdict):
            return settle_job_failure(inputs.job, outcome, pods, now=now, grace=inputs.grace,
                                      deleted=inputs.deleted)
        assert outcome is not COMPLETED  # held above
    for pod in pods:
        verdict = classify_pod(pod, now=now, grace=inputs.grace)
        if verdict is not None:
            return verdict
    for pod in inputs.deleted:
        verdict = classify_pod(pod, now=now, grace=inputs.grace, deleted=True)
        if verdict is not None:
            return verdict
    if inputs.deadline is None:
        return None
    due = deadline_rule(inputs, inputs.deadline)
    return due if isinstance(due, Verdict) else None


class Alive(StrEnum):
    """Why the deadline rule (step 4) does not fire."""

    NO_START = "no_start"
    """No start time is known, so no deadline either."""
    BEFORE_DEADLINE = "before_deadline"
    """The deadline is not reached yet."""
    RUNNING = "running"
    """Past the deadline, but a pod is ``Running``."""
    HEARTBEAT = "heartbeat"
    """Past the deadline, but a heartbeat was seen within the window."""


@dataclass(frozen=True, slots=True)
class NotDue:
    """The deadline rule holds back: why, and until when (None: no end known)."""

    why: Alive
    until: datetime | None = None


def deadline_rule(inputs: GateInputs, deadline: DeadlineInputs) -> Verdict | NotDue:
    """Step 4 of :func:`decide` for ``inputs`` (the steps before it found nothing)."""
    now, pods = inputs.now, inputs.pods
    start = start_of(inputs.job, inputs.registration)
    if start is None:
        return NotDue(Alive.NO_START)
    if now - start < deadline.deadline:
        return NotDue(Alive.BEFORE_DEADLINE, start + deadline.deadline)
    if any(pod.phase is PodPhase.RUNNING for pod in pods):
        return NotDue(Alive.RUNNING)
    beat = deadline.last_heartbeat
    if beat is not None and now - beat <= deadline.heartbeat_window:
        return NotDue(Alive.HEARTBEAT, beat + deadline.heartbeat_window)
    since = f"{int((now - start).total_seconds())} s after its start"
    limit = f"deadline {int(deadline.deadline.total_seconds())} s"
    if not pods:
        return Verdict(ZombieReason.EXECUTOR_WATCH_LOST, Rule.DEADLINE_NO_POD,
                       detail=safe_detail(f"no pod of the Job {since} ({limit})"))
    states = ", ".join(f'pod "{pod.name}" {pod.phase.value}' for pod in pods)
    return Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.DEADLINE_POD_NOT_RUNNING,
                   detail=safe_detail(f"{states}, no recent heartbeat, {since} ({limit})"))
