"""Play the kubelet and the Job controller: neither runs next to the bare API server.

Pod and Job status is written through the status subresources with strategic merge patches
(the generated client would otherwise default to JSON-patch for a dict body).
``pod`` / ``job`` arguments accept a name or an object with ``.metadata.name``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes import client

TASK_ID_LABEL = "agent.benjamin-borbe.de/task-id"
ASSIGNEE_LABEL = "agent.benjamin-borbe.de/assignee"
STRATEGIC = "application/strategic-merge-patch+json"
DEFAULT_IMAGE = "registry.invalid/agent:latest"


def now() -> str:
    """RFC 3339 UTC timestamp as the API server stores it."""
    return rfc3339(datetime.now(UTC))


def rfc3339(moment: datetime) -> str:
    """Seconds precision, trailing Z (what metav1.Time serializes)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name(obj: Any) -> str:
    """Accept a name or a model object."""
    return obj if isinstance(obj, str) else str(obj.metadata.name)


def patch_pod_status(core: Any, ns: str, pod: Any, status: dict[str, Any]) -> Any:
    """Strategic-merge ``status`` into the pod's status subresource."""
    return core.patch_namespaced_pod_status(_name(pod), ns, {"status": status},
                                            _content_type=STRATEGIC)


def _container_status(container: str, state: dict[str, Any], *, restart_count: int = 0,
                      ready: bool = False, image: str = DEFAULT_IMAGE) -> dict[str, Any]:
    """One containerStatuses entry."""
    return {"name": container, "state": state, "ready": ready, "restartCount": restart_count,
            "image": image, "imageID": ""}


def _statuses_key(init: bool) -> str:
    """Init containers report under their own list."""
    return "initContainerStatuses" if init else "containerStatuses"


def set_waiting(core: Any, ns: str, pod: Any, reason: str, *, container: str = "agent",
                init: bool = False, message: str = "", phase: str = "Pending",
                restart_count: int = 0) -> Any:
    """Container waiting with ``reason`` (ImagePullBackOff, CrashLoopBackOff, ...)."""
    waiting = {"waiting": {"reason": reason, "message": message}}
    entry = _container_status(container, waiting, restart_count=restart_count)
    return patch_pod_status(core, ns, pod, {"phase": phase, _statuses_key(init): [entry]})


def set_terminated(core: Any, ns: str, pod: Any, exit_code: int, *, phase: str = "Failed",
                   reason: str = "Error", container: str = "agent", init: bool = False,
                   message: str = "", restart_count: int = 0) -> Any:
    """Container terminated with ``exit_code``; pod phase ``phase``."""
    stamp = now()
    terminated = {"terminated": {"exitCode": exit_code, "reason": reason, "message": message,
                                 "startedAt": stamp, "finishedAt": stamp}}
    entry = _container_status(container, terminated, restart_count=restart_count)
    return patch_pod_status(core, ns, pod, {"phase": phase, _statuses_key(init): [entry]})


def set_evicted(core: Any, ns: str, pod: Any,
                message: str = "The node was low on resource: memory.") -> Any:
    """What the kubelet writes when it evicts a pod."""
    return patch_pod_status(core, ns, pod,
                            {"phase": "Failed", "reason": "Evicted", "message": message})


def set_unschedulable(core: Any, ns: str, pod: Any,
                      message: str = "0/1 nodes are available: 1 Insufficient cpu.") -> Any:
    """What the scheduler writes: Pending with PodScheduled=False/Unschedulable."""
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": message, "lastTransitionTime": now(), "lastProbeTime": None}
    return patch_pod_status(core, ns, pod, {"phase": "Pending", "conditions": [condition]})


def set_running(core: Any, ns: str, pod: Any, *, container: str = "agent") -> Any:
    """Scheduled, started and ready."""
    stamp = now()
    conditions = [{"type": kind, "status": "True", "lastTransitionTime": stamp,
                   "lastProbeTime": None}
                  for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
    entry = _container_status(container, {"running": {"startedAt": stamp}}, ready=True)
    return patch_pod_status(core, ns, pod, {"phase": "Running", "startTime": stamp,
                                            "conditions": conditions,
                                            "containerStatuses": [entry]})


def agent_labels(task_id: str, assignee: str) -> dict[str, str]:
    """The labels the controller selects on."""
    return {TASK_ID_LABEL: task_id, ASSIGNEE_LABEL: assignee}


def create_agent_job(batch: Any, ns: str, *, task_id: str, name: str, assignee: str = "claude",
                     active_deadline_seconds: int | None = None, image: str = DEFAULT_IMAGE,
                     backoff_limit: int = 0, labels: dict[str, str] | None = None,
                     annotations: dict[str, str] | None = None) -> Any:
    """A Job like the agent spawner creates (nothing will run it: no Job controller)."""
    all_labels = {**agent_labels(task_id, assignee), **(labels or {})}
    spec: dict[str, Any] = {
        "backoffLimit": backoff_limit,
        "template": {"metadata": {"labels": all_labels}, "spec": {
            "restartPolicy": "Never", "containers": [{"name": "agent", "image": image}]}},
    }
    if active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    body = {"apiVersion": "batch/v1", "kind": "Job", "spec": spec,
            "metadata": {"name": name, "labels": all_labels, "annotations": annotations or {}}}
    return batch.create_namespaced_job(ns, client.V1Job.model_validate(body))


def create_agent_pod(core: Any, ns: str, *, job: Any, task_id: str, name: str | None = None,
                     assignee: str = "claude", container: str = "agent",
                     image: str = DEFAULT_IMAGE, init_container: str | None = None,
                     labels: dict[str, str] | None = None) -> Any:
    """The Job's pod, owned by it (controller ownerReference), as the Job controller would."""
    job_name, job_uid = str(job.metadata.name), str(job.metadata.uid)
    all_labels = {**agent_labels(task_id, assignee), "job-name": job_name,
                  "controller-uid": job_uid, **(labels or {})}
    spec: dict[str, Any] = {"restartPolicy": "Never",
                            "containers": [{"name": container, "image": image}]}
    if init_container:
        spec["initContainers"] = [{"name": init_container, "image": image}]
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": job_uid,
             "controller": True, "blockOwnerDeletion": True}
    metadata = {"name": name or f"{job_name}-{job_uid[:5]}", "labels": all_labels,
                "ownerReferences": [owner]}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    return core.create_namespaced_pod(ns, client.V1Pod.model_validate(body))


def patch_job_status(batch: Any, ns: str, job: Any, status: dict[str, Any]) -> Any:
    """Strategic-merge ``status`` into the Job's status subresource."""
    return batch.patch_namespaced_job_status(_name(job), ns, {"status": status},
                                             _content_type=STRATEGIC)


def _job_condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    """A Job condition as the Job controller writes it."""
    stamp = now()
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": stamp, "lastTransitionTime": stamp}


def set_job_started(batch: Any, ns: str, job: Any, start_time: datetime | None = None) -> Any:
    """Job started (``status.startTime``, immutable once set) with one active pod."""
    stamp = rfc3339(start_time) if start_time else now()
    return patch_job_status(batch, ns, job, {"startTime": stamp, "active": 1})


def _ensure_started(batch: Any, ns: str, job: Any) -> None:
    """A finished Job needs ``startTime``; write it only if absent (it may not change)."""
    current = batch.read_namespaced_job_status(_name(job), ns)
    if current.status is None or current.status.start_time is None:
        patch_job_status(batch, ns, job, {"startTime": now()})


def set_job_failed(batch: Any, ns: str, job: Any, reason: str, message: str = "") -> Any:
    """Failed (e.g. BackoffLimitExceeded, DeadlineExceeded) the way the Job controller does it.

    The v1.37 API server rejects ``Failed=True`` without ``FailureTarget=True``; the real
    controller writes ``FailureTarget`` first, with the same reason, and ``Failed`` once the
    pods are gone: two writes here too.
    """
    _ensure_started(batch, ns, job)
    text = message or reason
    target = _job_condition("FailureTarget", reason, text)
    patch_job_status(batch, ns, job, {"conditions": [target]})
    # A strategic merge puts the patch's items first: repeating the earlier condition
    # (unchanged) keeps the controller's order, FailureTarget before Failed.
    return patch_job_status(batch, ns, job, {"active": 0, "failed": 1, "conditions": [
        target, _job_condition("Failed", reason, text)]})


def set_job_complete(batch: Any, ns: str, job: Any) -> Any:
    """Complete with one succeeded pod: ``SuccessCriteriaMet`` first, then ``Complete``.

    The order the real Job controller writes and the v1.37 API server enforces.
    """
    _ensure_started(batch, ns, job)
    text = "Reached expected number of succeeded pods"
    criteria = _job_condition("SuccessCriteriaMet", "CompletionsReached", text)
    patch_job_status(batch, ns, job, {"conditions": [criteria]})
    return patch_job_status(batch, ns, job, {
        "active": 0, "succeeded": 1, "completionTime": now(),
        "conditions": [criteria, _job_condition("Complete", "CompletionsReached", text)]})

