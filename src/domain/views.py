"""Frozen, slotted views: the only shape in which cluster state reaches the domain.

Adapters translate raw API JSON into these once, at the edge. They keep only
what classification, the sweeper and dedupe need, so a cached pod costs a few
hundred bytes instead of a full client model object.
All datetimes are timezone-aware UTC. Messages the cluster wrote are kept only
where the state carries them (None for a healthy pod) and already made safe
(``domain.detail.safe_detail``: one line, bounded, no secret values).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

TASK_ID_LABEL = "agent.benjamin-borbe.de/task-id"
"""Label on Jobs and pods naming the task they run."""

ASSIGNEE_LABEL = "agent.benjamin-borbe.de/assignee"
"""Label on Jobs and pods naming the agent the task is assigned to."""

ZOMBIE_REASON_ANNOTATION = "agent.benjamin-borbe.de/zombie-reason"
"""Durable dedupe: the reason a failure was published for this Job."""

ZOMBIE_REPORTED_AT_ANNOTATION = "agent.benjamin-borbe.de/zombie-reported-at"
"""Durable dedupe: when (RFC3339 UTC) the failure for this Job was published."""

ZOMBIE_REAPED_AT_ANNOTATION = "agent.benjamin-borbe.de/zombie-reaped-at"
"""When (RFC3339 UTC) zombiewatch shortened the reported Job's deadline to stop its pods."""


class PodPhase(StrEnum):
    """The pod phases the API defines; anything else is malformed input."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerView:
    """One container's current state (init or regular)."""

    name: str
    waiting_reason: str | None = None
    """``state.waiting.reason`` when the container is waiting, else None."""
    terminated_exit_code: int | None = None
    """``state.terminated.exitCode`` when the container has terminated, else None."""
    terminated_reason: str | None = None
    """``state.terminated.reason`` (``OOMKilled``, ``Error``, ...) when terminated, else None."""
    running: bool = False
    """True when ``state.running`` is present."""
    image: str = ""
    """The image reference the pod's spec names for this container ("" when unknown)."""
    memory_limit: str | None = None
    """``resources.limits.memory`` in the pod's spec (``4Gi``), None without a limit."""
    waiting_message: str | None = None
    """``state.waiting.message`` (the kubelet's pull or config error), a safe detail; None
    when not waiting, without a message, or in ``CrashLoopBackOff`` (whose back-off text
    names the pod and says nothing the exit code does not)."""
    terminated_message: str | None = None
    """``state.terminated.message`` of a container that exited non-zero, a safe detail."""
    last_exit_code: int | None = None
    """``lastState.terminated.exitCode`` of a container waiting in ``CrashLoopBackOff``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PodView:
    """What classification needs of a pod of an agent Job."""

    namespace: str
    name: str
    uid: str
    task_id: str
    job_name: str
    """Name of the owning Job (from the ownerReference of kind Job)."""
    phase: PodPhase
    status_reason: str | None
    """``status.reason`` (``Evicted`` for evicted pods)."""
    created_at: datetime
    scheduled: bool | None
    """The PodScheduled condition: True, False, or None when absent/Unknown."""
    init_containers: tuple[ContainerView, ...] = ()
    containers: tuple[ContainerView, ...] = ()
    disruption_reason: str | None = None
    """Reason of the ``DisruptionTarget=True`` condition ("" if it has none), None without it.

    Kubernetes writes it before it kills a pod for a drain/Eviction API call, a
    preemption, a taint or the kubelet's own shutdown: the pod ends ``Failed``
    with exit code 137, like any killed process, so only this condition tells
    an eviction from a crash."""
    node_name: str | None = None
    """``spec.nodeName``: the node the pod was bound to, None before scheduling."""
    status_message: str | None = None
    """``status.message`` (why an evicted pod was evicted), a safe detail."""
    unschedulable_message: str | None = None
    """The message of ``PodScheduled=False`` (the scheduler's why), a safe detail."""
    disruption_message: str | None = None
    """The message of ``DisruptionTarget=True``, a safe detail."""

    @property
    def all_containers(self) -> tuple[ContainerView, ...]:
        """Init containers first, then regular ones: both count for classification."""
        return self.init_containers + self.containers


@dataclass(frozen=True, slots=True, kw_only=True)
class JobView:
    """What classification, the sweeper and dedupe need of an agent Job."""

    namespace: str
    name: str
    uid: str
    task_id: str
    assignee: str
    """From the assignee label; empty when the label is absent."""
    created_at: datetime
    started_at: datetime | None
    """``status.startTime``, when the Job controller has set it."""
    failed_reason: str | None
    """Reason of the ``Failed=True`` (or, earlier, ``FailureTarget=True``) condition ("" if
    it has none); None when not failed."""
    complete: bool
    """True when ``Complete=True`` (or, earlier, ``SuccessCriteriaMet=True``) is present."""
    reported_reason: str | None = None
    """The zombie-reason annotation: set once a failure was published for this Job."""
    reported_at: str | None = None
    """The zombie-reported-at annotation, verbatim."""
    failure_target: bool = False
    """The failure was read from ``FailureTarget``: the Job controller has decided the Job
    fails but writes ``Failed`` only once its pods have terminated (Kubernetes >= 1.31)."""
    failed_at: datetime | None = None
    """``lastTransitionTime`` of the condition ``failed_reason`` came from, when given."""
    reaped_at: str | None = None
    """The zombie-reaped-at annotation, verbatim: zombiewatch stopped this Job's pods."""
    active_deadline_seconds: int | None = None
    """``spec.activeDeadlineSeconds``: reaping shortens it (SPEC §14)."""
    failed_message: str | None = None
    """The message of the condition ``failed_reason`` came from, a safe detail."""

    @property
    def reported(self) -> bool:
        """The durable dedupe layer: an annotated Job is never reported again."""
        return self.reported_reason is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfigView:
    """The fields of one Config custom resource this project reads (SPEC §8).

    Numeric knobs are kept raw (possibly invalid: an old schema may have let
    anything through); ``domain.config`` validates and resolves them.
    """

    namespace: str
    name: str
    assignee: str
    zombie_sweeper_interval_seconds: int | None = None
    zombie_job_timeout_seconds: int | None = None
    image: str | None = None
    task_types: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    type: str = "job"
    """``spec.type``: ``job`` (the default) or ``service`` (a StatefulSet: no task Jobs)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InFlightJob:
    """A Job the host registered right after spawning it (SPEC §6)."""

    task_id: str
    job_name: str
    assignee: str
    started_at: datetime | None
    """The host's ``job_started_at`` (the gate prefers the Job's own times when cached)."""
