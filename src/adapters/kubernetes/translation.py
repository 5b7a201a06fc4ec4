"""Decoded wire shapes -> the domain's frozen views. Pure: no I/O, no clock.

The translator is total over API data: malformed or unexpected objects come
back as :class:`Skipped` (kind, namespace, name, reason) for the caller to
count and log. Nothing here raises on input bytes or JSON-like objects.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias, TypeVar

from zombiewatch.adapters.kubernetes.wire import (
    Condition,
    ContainerStatus,
    InitContainerStatus,
    JobCondition,
    JobStatus,
    ObjectMeta,
    RawConfig,
    RawJob,
    RawPod,
    SpecContainer,
)
from zombiewatch.domain.detail import safe_detail
from zombiewatch.domain.views import (
    ASSIGNEE_LABEL,
    TASK_ID_LABEL,
    ZOMBIE_REAPED_AT_ANNOTATION,
    ZOMBIE_REASON_ANNOTATION,
    ZOMBIE_REPORTED_AT_ANNOTATION,
    AgentConfigView,
    ContainerView,
    JobView,
    PodPhase,
    PodView,
)

MAX_REASON_CHARS = 200
"""Skip reasons are logged; a hostile object must not flood the log."""

MAX_NAME_CHARS = 253
"""DNS-1123 subdomain limit: longer names cannot be real objects."""

MAX_IMAGE_CHARS = 1024
"""Bound on a kept image reference (a real one is far shorter; a hostile one is cut)."""

_PHASES: dict[str, PodPhase] = {p.value: p for p in PodPhase}


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """An object the translator refused; the informer counts and logs it."""

    kind: str
    namespace: str
    name: str
    reason: str


V = TypeVar("V")
Translated: TypeAlias = V | Skipped
"""Either the view or why the object was skipped."""


def clip(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` cut to ``limit`` characters (skip reasons and names get logged)."""
    return text if len(text) <= limit else text[:limit] + "..."


def _meta_ident(meta: ObjectMeta | None) -> tuple[str, str]:
    if meta is None:
        return "", ""
    return clip(meta.namespace or "", MAX_NAME_CHARS), clip(meta.name or "", MAX_NAME_CHARS)


def _check_meta(kind: str, meta: ObjectMeta | None) -> Skipped | None:
    """The metadata every view needs: name, namespace, uid, an aware creation time."""
    if (
        meta is not None
        and meta.name
        and meta.namespace
        and meta.uid
        and meta.creation_timestamp is not None
        and meta.creation_timestamp.tzinfo is not None
        and len(meta.name) <= MAX_NAME_CHARS
        and len(meta.namespace) <= MAX_NAME_CHARS
    ):
        return None  # the fast path: a well-formed object
    namespace, name = _meta_ident(meta)
    if meta is None:
        return Skipped(kind=kind, namespace=namespace, name=name, reason="no metadata")
    if not meta.name or len(meta.name) > MAX_NAME_CHARS:
        return Skipped(kind=kind, namespace=namespace, name=name,
                       reason="missing or oversized metadata.name")
    if not meta.namespace or len(meta.namespace) > MAX_NAME_CHARS:
        return Skipped(kind=kind, namespace=namespace, name=name,
                       reason="missing or oversized metadata.namespace")
    if not meta.uid:
        return Skipped(kind=kind, namespace=namespace, name=name, reason="missing metadata.uid")
    if meta.creation_timestamp is None:
        return Skipped(kind=kind, namespace=namespace, name=name,
                       reason="missing metadata.creationTimestamp")
    return Skipped(kind=kind, namespace=namespace, name=name,
                   reason="creationTimestamp without time zone")


def _task_id(meta: ObjectMeta) -> str | None:
    labels = meta.labels
    if not labels:
        return None
    task_id = labels.get(TASK_ID_LABEL)
    return task_id or None


_ContainerKey = tuple[
    str, str | None, int | None, str | None, bool, str, str | None, str | None, str | None,
    int | None,
]
_CONTAINER_VIEWS: dict[_ContainerKey, ContainerView] = {}
"""Shared ``ContainerView``s. Views are immutable and the states of agent containers
repeat endlessly (``agent`` running, ``agent`` waiting with ``ImagePullBackOff``...),
so one object serves every pod in that state: no constructor call on the hot path
and no per-pod copy in the cache."""
_CONTAINER_VIEWS_MAX = 4096
"""Bound on the shared views (exit codes, names, images and messages are open-ended):
cleared when full."""

CRASH_LOOP_WAITING_REASON = "CrashLoopBackOff"
"""Its waiting message names the pod and its back-off (nothing to act on): not kept, so
crash-looping containers still share their views; their last exit code is kept instead."""


def shared_container_views() -> int:
    """How many shared ``ContainerView``s are held (at most ``_CONTAINER_VIEWS_MAX``)."""
    return len(_CONTAINER_VIEWS)


def _container_view(key: _ContainerKey) -> ContainerView:
    view = _CONTAINER_VIEWS.get(key)
    if view is None:
        if len(_CONTAINER_VIEWS) >= _CONTAINER_VIEWS_MAX:
            _CONTAINER_VIEWS.clear()
        (name, waiting, exit_code, terminated_reason, running, image, memory_limit,
         waiting_message, terminated_message, last_exit_code) = key
        view = _CONTAINER_VIEWS[key] = ContainerView(
            name=name, waiting_reason=waiting, terminated_exit_code=exit_code,
            terminated_reason=terminated_reason, running=running, image=image,
            memory_limit=memory_limit, waiting_message=waiting_message,
            terminated_message=terminated_message, last_exit_code=last_exit_code,
        )
    return view


def _message(text: str | None) -> str | None:
    """A cluster message as the views keep it: safe, interned (pods share them), None
    when empty."""
    if not text:
        return None
    return sys.intern(safe_detail(text)) or None


def _spec_of(name: str, spec: list[SpecContainer] | None) -> tuple[str, str | None]:
    """The image and memory limit the pod's spec names for container ``name``, interned
    (every pod of an agent repeats them)."""
    for container in spec or ():
        if container.name == name:
            limits = container.resources.limits if container.resources else None
            memory = limits.get("memory") if limits else None
            return (sys.intern(clip(container.image or "", MAX_IMAGE_CHARS)),
                    sys.intern(clip(str(memory), MAX_NAME_CHARS)) if memory is not None else None)
    return "", None


def _containers(
    statuses: Sequence[ContainerStatus] | None, spec: list[SpecContainer] | None
) -> tuple[ContainerView, ...] | str:
    if not statuses:
        return ()
    out: list[ContainerView] = []
    for status in statuses:
        name = status.name
        if not name:
            return "container status without a name"
        image, memory_limit = _spec_of(name, spec)
        state = status.state
        if state is None:
            out.append(_container_view(
                (name, None, None, None, False, image, memory_limit, None, None, None)))
            continue
        waiting, terminated = state.waiting, state.terminated
        waiting_reason = waiting.reason if waiting is not None else None
        waiting_message = last_exit_code = None
        if waiting is not None:
            if waiting_reason == CRASH_LOOP_WAITING_REASON:
                last = status.last_state.terminated if status.last_state else None
                last_exit_code = last.exit_code if last is not None else None
            else:
                waiting_message = _message(waiting.message)
        exit_code = terminated.exit_code if terminated is not None else None
        out.append(
            _container_view((
                name,
                waiting_reason,
                exit_code,
                terminated.reason if terminated is not None else None,
                state.running is not None,
                image,
                memory_limit,
                waiting_message,
                _message(terminated.message) if terminated is not None and exit_code else None,
                last_exit_code,
            ))
        )
    return tuple(out)


def _condition_status(status: str | None) -> bool | None:
    return True if status == "True" else False if status == "False" else None


@dataclass(frozen=True, slots=True)
class _PodConditions:
    """What the pod's conditions say, read in one pass (shared instances for the two
    states almost every pod is in: no conditions yet, scheduled, ready to start and not
    disrupted)."""

    scheduled: bool | None = None
    """PodScheduled: True, False, None when absent/Unknown."""
    unschedulable_message: str | None = None
    disruption_reason: str | None = None
    """The reason of ``DisruptionTarget=True`` ("" without one; None when absent)."""
    disruption_message: str | None = None
    ready_to_start: bool | None = None
    """PodReadyToStartContainers: as PodScheduled."""


_NO_CONDITIONS = _PodConditions()
_READY = _PodConditions(scheduled=True, ready_to_start=True)


def _pod_conditions(conditions: list[Condition] | None) -> _PodConditions:
    """One pass over the conditions: PodScheduled, ``DisruptionTarget=True`` and
    PodReadyToStartContainers, with the messages a failure's detail quotes (kept only when
    the condition says what failed)."""
    if not conditions:
        return _NO_CONDITIONS
    scheduled: bool | None = None
    unschedulable: str | None = None
    disruption: str | None = None
    disruption_message: str | None = None
    ready_to_start: bool | None = None
    for cond in conditions:
        kind = cond.type
        if kind == "PodScheduled":
            scheduled = _condition_status(cond.status)
            unschedulable = _message(cond.message) if scheduled is False else None
        elif kind == "DisruptionTarget" and cond.status == "True":
            disruption = clip(cond.reason or "")
            disruption_message = _message(cond.message)
        elif kind == "PodReadyToStartContainers":
            ready_to_start = _condition_status(cond.status)
    if scheduled is True and disruption is None and ready_to_start is True:
        return _READY
    return _PodConditions(scheduled, unschedulable, disruption, disruption_message,
                          ready_to_start)



def _init_running_since(statuses: list[InitContainerStatus] | None) -> datetime | None:
    """When the newest running init container started (an aware time), else None."""
    newest: datetime | None = None
    for status in statuses or ():
        running = status.state.running if status.state is not None else None
        started = running.started_at if running is not None else None
        if started is not None and started.tzinfo is not None and (
                newest is None or started > newest):
            newest = started
    return newest


def translate_pod(raw: RawPod) -> Translated[PodView]:
    """A decoded pod -> ``PodView``, or why not."""
    meta = raw.metadata
    bad = _check_meta("Pod", meta)
    if bad is not None or meta is None or meta.creation_timestamp is None:
        return bad or Skipped(kind="Pod", namespace="", name="", reason="no metadata")
    namespace, name = meta.namespace or "", meta.name or ""
    task_id = _task_id(meta)
    if task_id is None:
        return Skipped(kind="Pod", namespace=namespace, name=name,
                       reason=f"missing label {TASK_ID_LABEL}")
    job_name = None
    for ref in meta.owner_references or ():
        if ref.kind == "Job" and ref.name:
            job_name = ref.name
            break
    if job_name is None:
        return Skipped(kind="Pod", namespace=namespace, name=name,
                       reason="no ownerReference of kind Job")
    status = raw.status
    if status is None or status.phase is None:
        return Skipped(kind="Pod", namespace=namespace, name=name, reason="missing status.phase")
    phase = _PHASES.get(status.phase)
    if phase is None:
        return Skipped(kind="Pod", namespace=namespace, name=name,
                       reason=clip(f"unknown phase {status.phase!r}"))
    spec = raw.spec
    init = _containers(status.init_container_statuses, spec.init_containers if spec else None)
    if isinstance(init, str):
        return Skipped(kind="Pod", namespace=namespace, name=name, reason=init)
    regular = _containers(status.container_statuses, spec.containers if spec else None)
    if isinstance(regular, str):
        return Skipped(kind="Pod", namespace=namespace, name=name, reason=regular)
    conditions = _pod_conditions(status.conditions)
    node_name = spec.node_name if spec else None
    return PodView(
        namespace=sys.intern(namespace),
        name=name,
        uid=meta.uid or "",
        task_id=task_id,
        job_name=job_name,
        phase=phase,
        status_reason=status.reason,
        created_at=meta.creation_timestamp,
        scheduled=conditions.scheduled,
        init_containers=init,
        containers=regular,
        disruption_reason=conditions.disruption_reason,
        node_name=sys.intern(clip(node_name, MAX_NAME_CHARS)) if node_name else None,
        status_message=_message(status.message),
        unschedulable_message=conditions.unschedulable_message,
        disruption_message=conditions.disruption_message,
        ready_to_start=conditions.ready_to_start,
        terminating=meta.deletion_timestamp is not None,
        init_running_since=_init_running_since(status.init_container_statuses),
    )


def translate_job(raw: RawJob) -> Translated[JobView]:
    """A decoded Job -> ``JobView``, or why not."""
    meta = raw.metadata
    bad = _check_meta("Job", meta)
    if bad is not None or meta is None or meta.creation_timestamp is None:
        return bad or Skipped(kind="Job", namespace="", name="", reason="no metadata")
    namespace, name = meta.namespace or "", meta.name or ""
    task_id = _task_id(meta)
    if task_id is None:
        return Skipped(kind="Job", namespace=namespace, name=name,
                       reason=f"missing label {TASK_ID_LABEL}")
    assignee = (meta.labels or {}).get(ASSIGNEE_LABEL, "")
    status = raw.status
    started_at = status.start_time if status is not None else None
    if started_at is not None and started_at.tzinfo is None:
        return Skipped(kind="Job", namespace=namespace, name=name,
                       reason="status.startTime without time zone")
    failed: JobCondition | None = None
    failure_target: JobCondition | None = None
    complete = False
    for cond in (status.conditions if status is not None else None) or ():
        if cond.status != "True":
            continue
        if cond.type == "Failed" and failed is None:
            failed = cond
        elif cond.type == "FailureTarget" and failure_target is None:
            failure_target = cond
        elif cond.type in ("Complete", "SuccessCriteriaMet"):
            complete = True
    # Kubernetes >= 1.31 writes FailureTarget (same reason) seconds before Failed, and
    # SuccessCriteriaMet before Complete: the early condition already decides.
    failure = failed or failure_target
    failed_at = failure.last_transition_time if failure is not None else None
    if failed_at is not None and failed_at.tzinfo is None:
        failed_at = None
    annotations = (raw.metadata.annotations if raw.metadata else None) or {}
    return JobView(
        namespace=namespace,
        name=name,
        uid=meta.uid or "",
        task_id=task_id,
        assignee=assignee,
        created_at=meta.creation_timestamp,
        started_at=started_at,
        failed_reason=(failure.reason or "") if failure is not None else None,
        complete=complete,
        reported_reason=annotations.get(ZOMBIE_REASON_ANNOTATION),
        reported_at=annotations.get(ZOMBIE_REPORTED_AT_ANNOTATION),
        failure_target=failure is not None and failed is None,
        failed_at=failed_at,
        reaped_at=annotations.get(ZOMBIE_REAPED_AT_ANNOTATION),
        active_deadline_seconds=raw.spec.active_deadline_seconds if raw.spec else None,
        failed_message=_message(failure.message) if failure is not None else None,
        suspended=bool(raw.spec.suspend) if raw.spec else False,
        pods_counted=_pods_counted(status),
    )


def _pods_counted(status: JobStatus | None) -> int:
    """The pods the Job controller counts in its status (0 before its first sync)."""
    if status is None:
        return 0
    return sum(max(0, n or 0) for n in (status.active, status.succeeded, status.failed,
                                         status.terminating))


def translate_config(raw: RawConfig) -> Translated[AgentConfigView]:
    """A decoded Config custom resource -> ``AgentConfigView``, or why not.

    Numeric knobs are passed through as they are (even below the floors):
    ``domain.config`` validates, logs and replaces them.
    """
    meta = raw.metadata
    namespace, name = _meta_ident(meta)
    if meta is None or not meta.name or not meta.namespace:
        return Skipped(kind="Config", namespace=namespace, name=name,
                       reason="missing metadata.name/namespace")
    spec = raw.spec
    if spec is None or not spec.assignee:
        return Skipped(kind="Config", namespace=namespace, name=name,
                       reason="missing spec.assignee")
    env: tuple[tuple[str, str], ...]
    if spec.env is None:
        env = ()
    elif isinstance(spec.env, dict):
        env = tuple(spec.env.items())
    else:
        env = tuple((var.name, var.value) for var in spec.env)
    return AgentConfigView(
        namespace=namespace,
        name=name,
        assignee=spec.assignee,
        zombie_sweeper_interval_seconds=spec.zombie_sweeper_interval_seconds,
        zombie_job_timeout_seconds=spec.zombie_job_timeout_seconds,
        image=spec.image,
        task_types=tuple(spec.task_types or ()),
        env=env,
        type=spec.type or "job",
    )
