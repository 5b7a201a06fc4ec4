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
- Disruption (``DisruptionTarget=True``) is decided once the pod is terminal or
  deleted, never while it is still terminating: within its grace period the
  agent may still finish and report.
- A failed Job and its pods (:func:`settle_job_failure`): the newest pod's
  verdict is better than the Job's (``BackoffLimitExceeded`` only says "a pod
  failed"; the pod says how: ``OOMKilled/137``, ``Error/1``), except that the
  Job's own ``DeadlineExceeded`` explains the exit code 137 of the pods it
  killed. Today's executor (v0.13) reads a ``BackoffLimitExceeded`` Job the
  same way; its v0.6 predecessor called it ``deadline_exceeded``. While a pod
  of a Job that failed for any other reason is still terminating, the Job's
  verdict waits for that pod's end (at most :data:`POD_END_WAIT` after the
  failure condition appeared).
- Evidence: a verdict from a terminated container carries ``<reason>/<exit
  code>`` of that container, written after the reason on the failure's Reason
  line as today's executor writes it (``pod_oom_killed (OOMKilled/137)``); a
  verdict from a waiting container carries its waiting reason
  (``image_pull_backoff (ErrImagePull)``). Both come from the cluster, so they
  are made safe for that line (:func:`termination_evidence`,
  :func:`waiting_evidence`): whatever a runtime writes there, the failure is
  still published.
- Detail and cause: each row says what a reader needs to act (the image, the
  missing object, the limit, the node, the cluster's message) as one safe line
  (``domain.detail.safe_detail``), and names the shared cause outside the Job
  when there is one (docs/DOMAIN.md lists both per row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Final

from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.detail import missing_object, safe_detail, scheduling_subject
from zombiewatch.domain.names import has_control_chars
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
OOM_KILLED_REASON: Final = "OOMKilled"
"""``state.terminated.reason`` of a container the kernel killed at its memory limit."""
JOB_DEADLINE_REASON: Final = "DeadlineExceeded"
"""The Job's own ``activeDeadlineSeconds`` ran out: the Job controller killed its pods."""
DISRUPTION_REASONS: Final = frozenset({
    "EvictionByEvictionAPI", "PreemptionByScheduler", "DeletionByTaintManager",
    "TerminationByKubelet", "DeletionByPodGC",
})
"""The reasons Kubernetes writes on ``DisruptionTarget``; any ``DisruptionTarget=True``
counts, these are the ones known today (for docs and the corpus)."""
NODE_DISRUPTION_REASONS: Final = DISRUPTION_REASONS - {"PreemptionByScheduler"}
"""Disruptions that come from the node (a drain through the Eviction API, a taint, the
kubelet's shutdown, a node gone): pods on it share that cause. A preemption is the
scheduler making room for another pod: no node-wide cause."""
TERMINAL_PHASES: Final = frozenset({PodPhase.SUCCEEDED, PodPhase.FAILED})

POD_END_WAIT: Final = timedelta(seconds=120)
"""How long a failed Job's verdict waits for a terminating pod to end (its end names the
better reason). Pods get 30 s to terminate by default; a pod stuck terminating (its
node gone) must not hold the report back for ever."""


class Rule(StrEnum):
    """Which row of the SPEC §5 tables fired; the CLI's ``explain`` prints the value."""

    # Pod table, in evaluation order.
    WAITING_IMAGE_PULL = "waiting_image_pull"
    WAITING_CRASH_LOOP = "waiting_crash_loop"
    EVICTED = "evicted"
    DISRUPTED = "disrupted"
    """``DisruptionTarget=True`` and the pod ended (or was deleted): drain, Eviction API,
    preemption, taint manager, kubelet shutdown."""
    FAILED_OOM_KILLED = "failed_oom_killed"
    """Phase ``Failed`` and a container terminated ``OOMKilled`` with a non-zero exit."""
    FAILED_NONZERO_EXIT = "failed_nonzero_exit"
    UNSCHEDULABLE_PAST_GRACE = "unschedulable_past_grace"
    CONTAINER_CONFIG_ERROR_PAST_GRACE = "container_config_error_past_grace"
    # Job conditions.
    JOB_FAILED_DEADLINE = "job_failed_deadline"
    JOB_FAILED_OTHER = "job_failed_other"
    JOB_FAILURE_TARGET_DEADLINE = "job_failure_target_deadline"
    """As ``job_failed_deadline``, read from ``FailureTarget`` (seconds before ``Failed``)."""
    JOB_FAILURE_TARGET_OTHER = "job_failure_target_other"
    """As ``job_failed_other``, read from ``FailureTarget``."""
    # Sweeper, once the deadline is reached.
    DEADLINE_NO_POD = "deadline_no_pod"
    DEADLINE_POD_NOT_RUNNING = "deadline_pod_not_running"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A zombie: why (the on-disk reason) and which rule said so (for logs and triage)."""

    reason: ZombieReason
    rule: Rule
    evidence: str = ""
    """``<terminated reason>/<exit code>`` of the container that decided it (``OOMKilled/137``),
    empty when no terminated container did; written in parentheses after the reason."""
    detail: str = ""
    """What a reader needs to act (image reference, missing object, limit, node, the
    kubelet's message), one safe line; written as the failure's ``Detail:`` line. Empty
    when nothing more than the reason is known."""
    cause: Cause | None = None
    """The shared cause outside the Job, if any (the storm guard groups by it)."""


class JobCompleted(Enum):
    """Marker outcome of :func:`classify_job`: the agent published its own result.

    The caller forgets the Job and never publishes a failure for it.
    """

    COMPLETED = "completed"


COMPLETED: Final = JobCompleted.COMPLETED

JobOutcome = Verdict | JobCompleted | None
"""A zombie verdict, ``COMPLETED`` (forget, never publish), or None (healthy / still running)."""


def _first_waiting(
    containers: Sequence[ContainerView], reasons: frozenset[str]
) -> ContainerView | None:
    return next((c for c in containers if c.waiting_reason in reasons), None)


def _failed_container(containers: Sequence[ContainerView]) -> ContainerView | None:
    """The container whose non-zero exit explains a failed pod: an ``OOMKilled`` one first."""
    failed = [c for c in containers
              if c.terminated_exit_code is not None and c.terminated_exit_code != 0]
    for container in failed:
        if container.terminated_reason == OOM_KILLED_REASON:
            return container
    return failed[0] if failed else None


_EVIDENCE_SAFE: Final = str.maketrans("()", "[]")


def _evidence_safe(text: str) -> str:
    return "".join(" " if has_control_chars(ch) else ch for ch in text).translate(_EVIDENCE_SAFE)


def termination_evidence(container: ContainerView) -> str:
    """``<reason>/<exit code>`` as today's executor writes it (reason may be empty).

    The reason is the runtime's free text: a line break or control character
    becomes a space and parentheses become brackets, so the evidence always
    fits the failure's Reason line (which refuses both) and parses back from it.
    A hostile or broken runtime can thus never stop the failure being published.
    """
    reason = _evidence_safe(container.terminated_reason or "")
    return f"{reason}/{container.terminated_exit_code}"


def waiting_evidence(container: ContainerView) -> str:
    """The waiting reason (``ImagePullBackOff``), made safe as :func:`termination_evidence`."""
    return _evidence_safe(container.waiting_reason or "")


def _on_node(pod: PodView) -> str:
    return f' on node "{pod.node_name}"' if pod.node_name else ""


def _with_message(text: str, message: str | None) -> str:
    return f"{text}: {message}" if message else text


def _image_pull(container: ContainerView) -> Verdict:
    """The image, the kubelet's pull error; the image is the cause."""
    what = f'image "{container.image}"' if container.image else f'container "{container.name}"'
    return Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL,
                   waiting_evidence(container),
                   safe_detail(_with_message(what, container.waiting_message)),
                   Cause(CauseKind.IMAGE, container.image) if container.image else None)


def _crash_loop(pod: PodView, container: ContainerView) -> Verdict:
    code = container.last_exit_code
    restarts = f" restarting after exit code {code}" if code is not None else " restarting"
    return Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.WAITING_CRASH_LOOP,
                   waiting_evidence(container),
                   safe_detail(f'container "{container.name}"{restarts}{_on_node(pod)}'))


def _evicted(pod: PodView) -> Verdict:
    where = f'evicted from node "{pod.node_name}"' if pod.node_name else ""
    text = _with_message(where, pod.status_message) if where else pod.status_message or ""
    return Verdict(ZombieReason.POD_EVICTED, Rule.EVICTED, "", safe_detail(text),
                   Cause(CauseKind.NODE, pod.node_name) if pod.node_name else None)


def _disrupted(pod: PodView) -> Verdict:
    reason = pod.disruption_reason or "DisruptionTarget"
    node_wide = pod.node_name is not None and reason in NODE_DISRUPTION_REASONS
    return Verdict(ZombieReason.POD_EVICTED, Rule.DISRUPTED, "",
                   safe_detail(_with_message(reason + _on_node(pod), pod.disruption_message)),
                   Cause(CauseKind.NODE, pod.node_name) if node_wide and pod.node_name else None)


def _failed(pod: PodView, container: ContainerView) -> Verdict:
    evidence = termination_evidence(container)
    name, code = container.name, container.terminated_exit_code
    if container.terminated_reason == OOM_KILLED_REASON:
        limit = (f"at its memory limit {container.memory_limit}" if container.memory_limit
                 else "without a memory limit")
        text = f'container "{name}" killed out of memory {limit}{_on_node(pod)}'
        return Verdict(ZombieReason.POD_OOM_KILLED, Rule.FAILED_OOM_KILLED, evidence,
                       safe_detail(_with_message(text, container.terminated_message)))
    text = f'container "{name}" exited with code {code}{_on_node(pod)}'
    return Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, evidence,
                   safe_detail(_with_message(text, container.terminated_message)))


def _unschedulable(pod: PodView) -> Verdict:
    message = pod.unschedulable_message
    return Verdict(ZombieReason.POD_NOT_SCHEDULED, Rule.UNSCHEDULABLE_PAST_GRACE, "",
                   safe_detail(message or ""),
                   Cause(CauseKind.SCHEDULING, scheduling_subject(message)) if message else None)


def _config_error(container: ContainerView) -> Verdict:
    message = container.waiting_message
    missing = missing_object(message) if message else None
    text = _with_message(f'container "{container.name}"', message)
    return Verdict(ZombieReason.CONTAINER_CONFIG_ERROR, Rule.CONTAINER_CONFIG_ERROR_PAST_GRACE,
                   waiting_evidence(container), safe_detail(text),
                   Cause(CauseKind.OBJECT, missing) if missing else None)


def _past_grace(pod: PodView, *, now: datetime, grace: timedelta) -> bool:
    return now - pod.created_at >= grace


def is_terminal(pod: PodView) -> bool:
    """``Succeeded`` or ``Failed``: the pod's containers will not run again."""
    return pod.phase in TERMINAL_PHASES


def _disrupted_and_ended(pod: PodView, *, deleted: bool) -> bool:
    if pod.disruption_reason is None:
        return False
    if pod.phase is PodPhase.FAILED:
        return True
    return deleted and pod.phase is not PodPhase.SUCCEEDED


def classify_pod(
    pod: PodView, *, now: datetime, grace: timedelta = GRACE, deleted: bool = False
) -> Verdict | None:
    """Apply the SPEC §5 pod table; the first matching row wins.

    Rows are tried in table order and each row looks at every container, init
    containers included, so a pod with one container in ``CrashLoopBackOff``
    and another in ``ImagePullBackOff`` is ``image_pull_backoff``.

    ``deleted``: ``pod`` is the last state of a pod that is gone (its DELETED
    event). A disrupted pod is decided then even if its ``Failed`` was never
    seen; a pod that ``Succeeded`` finished its work whatever disrupted it.
    """
    containers = pod.all_containers
    waiting = _first_waiting(containers, IMAGE_PULL_WAITING_REASONS)
    if waiting is not None:
        return _image_pull(waiting)
    waiting = _first_waiting(containers, CRASH_LOOP_WAITING_REASONS)
    if waiting is not None:
        return _crash_loop(pod, waiting)
    if pod.status_reason == EVICTED_STATUS_REASON:
        return _evicted(pod)
    if _disrupted_and_ended(pod, deleted=deleted):
        return _disrupted(pod)
    failed = _failed_container(containers) if pod.phase is PodPhase.FAILED else None
    if failed is not None:
        return _failed(pod, failed)
    past_grace = _past_grace(pod, now=now, grace=grace)
    if pod.phase is PodPhase.PENDING and pod.scheduled is False and past_grace:
        return _unschedulable(pod)
    waiting = _first_waiting(containers, CONTAINER_CONFIG_WAITING_REASONS) if past_grace else None
    if waiting is not None:
        return _config_error(waiting)
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
    detail = safe_detail(_with_message(job.failed_reason or "Failed", job.failed_message))
    if job.failed_reason == JOB_DEADLINE_REASON:
        rule = Rule.JOB_FAILURE_TARGET_DEADLINE if job.failure_target else Rule.JOB_FAILED_DEADLINE
        return Verdict(ZombieReason.DEADLINE_EXCEEDED, rule, detail=detail)
    rule = Rule.JOB_FAILURE_TARGET_OTHER if job.failure_target else Rule.JOB_FAILED_OTHER
    return Verdict(ZombieReason.POD_CRASH_NO_STDOUT, rule, detail=detail)


def awaits_pod_end(job: JobView, pods: Sequence[PodView], *, now: datetime,
                   pod_end_wait: timedelta = POD_END_WAIT) -> datetime | None:
    """When the failed Job's verdict stops waiting for its terminating pods; None: it does not.

    It waits when the Job failed for a reason its pods explain better (not its own
    ``DeadlineExceeded``), a pod is not terminal yet, and the failure condition's
    time is known and less than ``pod_end_wait`` ago.
    """
    if job.failed_reason is None or job.failed_reason == JOB_DEADLINE_REASON:
        return None
    if job.failed_at is None or not any(not is_terminal(p) for p in pods):
        return None
    until = job.failed_at + pod_end_wait
    return until if now < until else None


def settle_job_failure(
    job: JobView,
    failure: Verdict,
    pods: Sequence[PodView],
    *,
    now: datetime,
    grace: timedelta = GRACE,
    deleted: Sequence[PodView] = (),
    pod_end_wait: timedelta = POD_END_WAIT,
) -> Verdict | None:
    """The verdict for a failed Job (``failure`` from :func:`classify_job`) given its pods.

    ``pods`` are the Job's current pods; ``deleted`` the last states of pods just
    deleted. A pod's verdict wins (the newest pod with one), except that the
    Job's own ``DeadlineExceeded`` explains a pod killed with a non-zero exit.
    None while the verdict waits for a terminating pod (see :func:`awaits_pod_end`):
    a drained pod ends ``Failed`` with ``DisruptionTarget`` seconds after the Job's
    ``FailureTarget`` (``BackoffLimitExceeded``), and a ``kubectl delete pod`` ends
    with exit code 137: both name their reason only at their end.
    """
    judged = sorted([(p, False) for p in pods] + [(p, True) for p in deleted],
                    key=lambda item: item[0].created_at, reverse=True)
    for pod, gone in judged:
        verdict = classify_pod(pod, now=now, grace=grace, deleted=gone)
        if verdict is None:
            continue
        killed = verdict.rule in (Rule.FAILED_NONZERO_EXIT, Rule.FAILED_OOM_KILLED)
        if job.failed_reason == JOB_DEADLINE_REASON and killed:
            return failure
        return verdict
    if awaits_pod_end(job, pods, now=now, pod_end_wait=pod_end_wait) is not None:
        return None
    return failure

