"""Triage of one in-flight Job: its verdict now, or why it is not (yet) a zombie.

``zombiewatch scan`` shows this for every Job; the verdict itself comes from
:func:`zombiewatch.domain.gate.decide` with the deadline inputs (the one home
of the rules, as on a sweep tick), and this module only explains the rest:
which row is still waiting and until when ("unschedulable, grace ends in 47 s",
"deadline in 12 min"), derived from the classifier's and the gate's own answers
(never a second copy of their grace and deadline rules).

With the task feed, two more rows: a Job its task no longer names
(:func:`~zombiewatch.domain.gate.superseded`, asked through ``decide``) is
"superseded by" the newer one and never a zombie, and a task naming a Job the
namespace does not have (:func:`triage_missing`) is judged like the daemon's
feed-only work, at its deadline from ``job_started_at``.
Pure: ``now`` is a parameter, the text is built from the values given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from zombiewatch.domain.classification import (
    CONTAINER_CONFIG_WAITING_REASONS,
    GRACE,
    Rule,
    Verdict,
    awaits_pod_end,
    classify_pod,
)
from zombiewatch.domain.gate import (
    Alive,
    DeadlineInputs,
    GateInputs,
    Hold,
    NotDue,
    deadline_rule,
    decide,
)
from zombiewatch.domain.never_started import (
    INIT_BOUND,
    first_pod_due,
    pod_due,
    running_init_names,
)
from zombiewatch.domain.tasks import TaskState, feed_registration
from zombiewatch.domain.views import InFlightJob, JobView, PodPhase, PodView


class Waiting(StrEnum):
    """Why a Job is not a zombie now; the values are what ``scan -o json`` prints."""

    COMPLETED = "completed"
    """The agent reported its own result (``Complete``/``SuccessCriteriaMet``)."""
    POD_ENDING = "pod_ending"
    """The Job failed; its verdict waits for a terminating pod's end."""
    DISRUPTED = "disrupted"
    """A pod is being evicted/preempted; decided once it ends (it may still finish)."""
    UNSCHEDULABLE = "unschedulable"
    """A pod cannot be scheduled; reported when its grace window ends."""
    CONFIG_ERROR = "container_config_error"
    """A container cannot be created; reported when the pod's grace window ends."""
    RUNNING = "running"
    """A pod is running, before the deadline (or past it: a running pod keeps it alive)."""
    HEARTBEAT = "heartbeat"
    """Past the deadline, but a heartbeat was seen within the window."""
    BEFORE_DEADLINE = "before_deadline"
    """Nothing running yet and nothing wrong yet: judged at the deadline."""
    NO_START = "no_start"
    """No start time is known, so no deadline either."""
    SUPERSEDED = "superseded"
    """The task feed names a newer Job as the task's current one: never reported."""
    TASK_CLOSED = "task_closed"
    """The task feed shows the task ``completed`` or ``aborted``: never reported."""
    JOB_MISSING = "job_missing"
    """The task feed names this Job as current and the namespace does not have it:
    judged at the deadline from the task's ``job_started_at``."""
    NOT_READY_TO_START = "not_ready_to_start"
    """A scheduled pod's volumes or sandbox are not ready; reported when its grace ends."""
    INIT_RUNNING = "init_running"
    """An init container runs; reported when it reaches the init bound."""
    NO_POD = "no_pod"
    """The Job was started and has no pod yet; reported when its grace ends."""


@dataclass(frozen=True, slots=True)
class NotYet:
    """Not a zombie now: why, and when that changes (``remaining``), when it is known."""

    waiting: Waiting
    remaining: timedelta | None = None
    detail: str = ""

    def describe(self) -> str:
        """One line for a human: ``unschedulable, grace ends in 47 s``."""
        if self.waiting is Waiting.SUPERSEDED:
            return f"superseded by {self.detail}"
        text = {
            Waiting.COMPLETED: "completed",
            Waiting.POD_ENDING: "job failed, waiting for its pod to end",
            Waiting.DISRUPTED: "disrupted, pod still terminating",
            Waiting.UNSCHEDULABLE: "unschedulable",
            Waiting.CONFIG_ERROR: "container config error",
            Waiting.RUNNING: "running",
            Waiting.HEARTBEAT: "past deadline, heartbeat",
            Waiting.BEFORE_DEADLINE: "not running yet",
            Waiting.NO_START: "no start time known",
            Waiting.JOB_MISSING: "job not in the namespace",
            Waiting.TASK_CLOSED: "task closed",
            Waiting.NOT_READY_TO_START: "not ready to start (volumes or sandbox)",
            Waiting.INIT_RUNNING: "init container running",
            Waiting.NO_POD: "no pod created yet",
        }[self.waiting]
        if self.detail:
            text = f"{text} ({self.detail})"
        if self.remaining is None:
            return text
        ends = {
            Waiting.UNSCHEDULABLE: "grace ends in",
            Waiting.CONFIG_ERROR: "grace ends in",
            Waiting.NOT_READY_TO_START: "grace ends in",
            Waiting.NO_POD: "grace ends in",
            Waiting.INIT_RUNNING: "bound ends in",
            Waiting.POD_ENDING: "decided in at most",
            Waiting.HEARTBEAT: "window ends in",
        }.get(self.waiting, "deadline in")
        return f"{text}, {ends} {format_duration(self.remaining)}"


Triage = Verdict | NotYet


def format_duration(span: timedelta) -> str:
    """``47 s``, ``12 min``, ``3 h 5 min``: rounded up, so "in 0 s" never shows too early."""
    seconds = max(0, int(-(-span.total_seconds() // 1)))
    if seconds < 120:
        return f"{seconds} s"
    minutes = -(-seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def sweep_inputs(
    record: InFlightJob,
    *,
    job: JobView | None,
    pods: Sequence[PodView],
    now: datetime,
    limits: DeadlineInputs,
    grace: timedelta = GRACE,
    task: TaskState | None = None,
    init_bound: timedelta = INIT_BOUND,
) -> GateInputs:
    """The gate's inputs for one in-flight Job as a sweep tick gives them: its host record,
    the Job and its pods, the deadline ``limits`` and the feed's state of its task (what
    :func:`triage` decides on)."""
    return GateInputs(job_name=record.job_name, job=job, registration=record, pods=pods,
                      now=now, grace=grace, deadline=limits, task=task, init_bound=init_bound)


def triage(
    record: InFlightJob,
    *,
    job: JobView | None,
    pods: Sequence[PodView],
    now: datetime,
    deadline: timedelta,
    heartbeat_window: timedelta,
    last_heartbeat: datetime | None,
    grace: timedelta = GRACE,
    task: TaskState | None = None,
    init_bound: timedelta = INIT_BOUND,
) -> Triage:
    """The sweeper's verdict now, or why not, for ``record``.

    An annotated (already reported) Job is judged as if it were not: the
    caller shows "reported" next to the verdict the rules give today.
    ``task`` is the task feed's state of the Job's task, when the feed was read.
    """
    if job is not None and job.reported:
        job = replace(job, reported_reason=None)
    limits = DeadlineInputs(deadline=deadline, heartbeat_window=heartbeat_window,
                            last_heartbeat=last_heartbeat)
    inputs = sweep_inputs(record, job=job, pods=pods, now=now, limits=limits, grace=grace,
                          task=task, init_bound=init_bound)
    decision = decide(inputs)
    if isinstance(decision, Verdict):
        return decision
    if decision is Hold.SUPERSEDED:
        assert task is not None  # only the feed's state supersedes a Job
        return NotYet(Waiting.SUPERSEDED, None, task.current_job)
    if decision is Hold.TASK_CLOSED:
        assert task is not None  # only the feed's state closes a task
        return NotYet(Waiting.TASK_CLOSED, None, task.status)
    return _why_not(inputs, decision, limits)


def _why_not(inputs: GateInputs, held: Hold | None, limits: DeadlineInputs) -> NotYet:
    """Why the gate gave no verdict, in the terms of the rule that held back.

    Each row is the classifier's or the gate's own answer, asked once more: the
    hold the gate gave, the failed Job waiting for a pod's end
    (:func:`~zombiewatch.domain.classification.awaits_pod_end`), a pod whose row
    fires only at its end (disruption) or once its time-dependent rows are due (the
    pod table asked at the end of the grace window or the init bound, as the
    attention index does), a started Job still without a pod (its grace from its
    start), and the deadline rule (:func:`~zombiewatch.domain.gate.deadline_rule`).
    """
    job, pods, now, grace = inputs.job, inputs.pods, inputs.now, inputs.grace
    if held is not None:
        # Triage gives the sweep's inputs without the dedupe layers, a result or the
        # annotation: a complete Job is the one hold left (the feed's are the caller's).
        assert held is Hold.COMPLETE, held
        return NotYet(Waiting.COMPLETED)
    if job is not None:
        until = awaits_pod_end(job, pods, now=now)
        if until is not None:
            return NotYet(Waiting.POD_ENDING, until - now, job.failed_reason or "")
    for pod in pods:
        at_end = classify_pod(pod, now=now, grace=grace, deleted=True)
        if at_end is not None and at_end.rule is Rule.DISRUPTED:
            return NotYet(Waiting.DISRUPTED, None, pod.disruption_reason or "")
    bound = inputs.init_bound
    for pod in pods:
        ends = pod_due(pod, grace=grace, bound=bound)
        later = classify_pod(pod, now=ends, grace=grace, init_bound=bound)
        if later is not None and later.rule is Rule.UNSCHEDULABLE_PAST_GRACE:
            return NotYet(Waiting.UNSCHEDULABLE, ends - now)
        if later is not None and later.rule is Rule.CONTAINER_CONFIG_ERROR_PAST_GRACE:
            waiting = next((c.waiting_reason for c in pod.all_containers
                            if c.waiting_reason in CONTAINER_CONFIG_WAITING_REASONS), "")
            return NotYet(Waiting.CONFIG_ERROR, ends - now, waiting or "")
        if later is not None and later.rule is Rule.NOT_READY_TO_START_PAST_GRACE:
            return NotYet(Waiting.NOT_READY_TO_START, ends - now)
        if later is not None and later.rule is Rule.INIT_PAST_BOUND:
            return NotYet(Waiting.INIT_RUNNING, ends - now, running_init_names(pod))
    first_pod = first_pod_due(job, grace=grace) if job is not None and not pods else None
    if first_pod is not None:
        return NotYet(Waiting.NO_POD, first_pod - now)
    outcome = deadline_rule(inputs, limits)
    assert isinstance(outcome, NotDue), outcome  # a verdict: the gate gave it above
    if outcome.why is Alive.NO_START:
        return NotYet(Waiting.NO_START)
    if outcome.why is Alive.RUNNING:
        return NotYet(Waiting.RUNNING, None, "past its deadline")
    assert outcome.until is not None
    if outcome.why is Alive.HEARTBEAT:
        return NotYet(Waiting.HEARTBEAT, outcome.until - now)
    running = any(pod.phase is PodPhase.RUNNING for pod in pods)
    return NotYet(Waiting.RUNNING if running else Waiting.BEFORE_DEADLINE, outcome.until - now)


def triage_missing(
    task_id: str,
    task: TaskState,
    *,
    pods: Sequence[PodView],
    now: datetime,
    deadline: timedelta,
    heartbeat_window: timedelta,
    grace: timedelta = GRACE,
) -> Triage:
    """The verdict now, or why not, for a task whose ``current_job`` the namespace lacks.

    The task's state stands in for the host's registration, as in the daemon's
    sweep (:func:`~zombiewatch.domain.tasks.feed_registration`): past its
    deadline from ``job_started_at`` it is ``executor_watch_lost``; without a
    start time it is never judged. The daemon's settling period (it reports
    only once the Job has been missing for the pod grace) needs a memory of
    earlier sweeps; the caller says so next to the row.
    """
    outcome = triage(feed_registration(task_id, task), job=None, pods=pods, now=now,
                     deadline=deadline, heartbeat_window=heartbeat_window,
                     last_heartbeat=None, grace=grace, task=task)
    if isinstance(outcome, NotYet) and outcome.waiting is Waiting.NO_START:
        return NotYet(Waiting.JOB_MISSING, None, "no job_started_at, never judged")
    if isinstance(outcome, NotYet) and outcome.waiting is Waiting.BEFORE_DEADLINE:
        return NotYet(Waiting.JOB_MISSING, outcome.remaining)
    return outcome
