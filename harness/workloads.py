"""Real workloads for the node: Job manifests and waits on what Kubernetes writes back.

Nothing here patches a status: the kubelet, the scheduler and the Job controller write it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client

from harness.kubelet import agent_labels
from harness.waiting import wait_until_sync

BUSYBOX = "localhost/busybox:1"
MISSING_IMAGE = "localhost/does-not-exist:1"


def job_manifest(name: str, *, args: list[str] | None = None, image: str = BUSYBOX,
                 task_id: str | None = None, backoff_limit: int = 0,
                 active_deadline_seconds: int | None = None,
                 pod_spec: dict[str, Any] | None = None,
                 container: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Job of one ``agent`` container; ``task_id`` adds the labels the daemon selects on.

    ``image``'s entrypoint is ``/bin/busybox`` for the local busybox, so ``args`` is the
    applet and its arguments.
    """
    labels = agent_labels(task_id, "claude") if task_id else {}
    main = {"name": "agent", "image": image, "imagePullPolicy": "IfNotPresent",
            "args": args or ["true"], **(container or {})}
    spec: dict[str, Any] = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2,
                            "automountServiceAccountToken": False, "containers": [main],
                            **(pod_spec or {})}
    job: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {"backoffLimit": backoff_limit, "template": {
            "metadata": {"labels": labels}, "spec": spec}}}
    if active_deadline_seconds is not None:
        job["spec"]["activeDeadlineSeconds"] = active_deadline_seconds
    return job


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_job(api: Any, namespace: str, manifest: dict[str, Any]) -> Any:
    batch: Any = client.BatchV1Api(api)
    return batch.create_namespaced_job(namespace, manifest)


def wait_for(fetch: Callable[[], Any], done: Callable[[Any], bool], *, timeout: float,
             what: str, interval: float = 0.25) -> Any:
    """Poll ``fetch`` until ``done`` holds of what it returned, and return that; the
    assertion names what never happened and the last value seen."""
    last: list[Any] = [None]

    def holds() -> bool:
        last[0] = fetch()
        return done(last[0])

    wait_until_sync(holds, what, timeout=timeout, interval=interval,
                    detail=lambda: f"last: {last[0]}")
    return last[0]


def job_condition_types(job: Any) -> list[str]:
    """The True conditions of a Job, in the order the controller added them."""
    return [c.type for c in (job.status.conditions or []) if c.status == "True"]


def job_pods(api: Any, namespace: str, job_name: str) -> list[Any]:
    core: Any = client.CoreV1Api(api)
    return list(core.list_namespaced_pod(namespace, label_selector=f"job-name={job_name}").items)


def waiting_reasons(pod: Any) -> list[str]:
    """Waiting reasons of every (init and main) container of a pod."""
    statuses = [*(pod.status.init_container_statuses or []),
                *(pod.status.container_statuses or [])]
    return [s.state.waiting.reason for s in statuses if s.state and s.state.waiting]
