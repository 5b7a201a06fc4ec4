"""An independent watch of one namespace: when each pod and Job state was first seen.

The demo and the node benchmarks time the daemon from what Kubernetes wrote, not from
what they did: this observer holds its own watches of the namespace's pods and Jobs
(threads, raw JSON lines, no client models) and notes, per Job, the monotonic time at
which each *sign* (``image_pull``, ``failed``, ``failed:BackoffLimitExceeded``...) first
arrived. The daemon receives the same events from the same API server over its own
watch, so "pair read minus sign seen" is the daemon's share: its decode, classification,
Kafka transaction and the reader's fetch, without the kubelet's or the controllers' time.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from kubernetes import client

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
IMAGE_PULL = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
CONFIG_ERROR = frozenset({"CreateContainerConfigError", "CreateContainerError"})


def pod_signs(pod: dict[str, Any]) -> set[str]:
    """What a pod object shows, as sign names (a pure function of the object)."""
    status = pod.get("status") or {}
    signs = {"pod"}
    containers = [*(status.get("initContainerStatuses") or []),
                  *(status.get("containerStatuses") or [])]
    waiting = {((c.get("state") or {}).get("waiting") or {}).get("reason") for c in containers}
    if waiting & IMAGE_PULL:
        signs.add("image_pull")
    if waiting & CONFIG_ERROR:
        signs.add("config_error")
    phase = status.get("phase")
    if phase in ("Running", "Failed", "Succeeded"):
        signs.add(phase.lower())
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            signs.add("unschedulable")
    return signs


def job_signs(job: dict[str, Any]) -> set[str]:
    """``started`` once the Job has a startTime, ``<Condition>:<reason>`` for True ones."""
    status = job.get("status") or {}
    signs = {"job"}
    if status.get("startTime"):
        signs.add("started")
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True":
            signs.add(condition.get("type", ""))
            signs.add(f"{condition.get('type')}:{condition.get('reason', '')}")
    return signs


def _lines(response: Any) -> Iterator[bytes]:
    buffer = b""
    for chunk in response.stream(65536, decode_content=True):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from (line for line in complete if line.strip())


class Observer:
    """Watches pods and Jobs of ``namespace`` from two threads until ``stop``."""

    def __init__(self, api: Any, namespace: str) -> None:
        self._api = api
        self.namespace = namespace
        self._lock = threading.Lock()
        self._first: dict[tuple[str, str], float] = {}
        self._last_job_signs: dict[str, set[str]] = {}
        self._stamps: dict[tuple[str, str], float] = {}
        self._stopping = threading.Event()
        self._responses: list[Any] = []
        self._threads = [threading.Thread(target=self._run, args=(kind,), daemon=True,
                                          name=f"observer-{kind}") for kind in ("pods", "jobs")]
        self._ready = threading.Barrier(3)

    def __enter__(self) -> Observer:
        for thread in self._threads:
            thread.start()
        self._ready.wait(timeout=60)  # both watches connected before anything is created
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def first(self, job: str, sign: str) -> float | None:
        """When ``sign`` was first seen for ``job`` (monotonic), None if never."""
        with self._lock:
            return self._first.get((job, sign))

    def stamp(self, job: str, name: str) -> float | None:
        """A time the API server wrote, on the monotonic clock: ``pod_created`` (the first
        pod's ``creationTimestamp``) or ``job_started`` (``status.startTime``). Both have
        one-second resolution, as the daemon reads them too (its grace and deadline
        count from them)."""
        with self._lock:
            wall = self._stamps.get((job, name))
        return None if wall is None else wall - (time.time() - time.monotonic())

    def _stamp(self, job: str, name: str, text: str | None) -> None:
        if text:
            with self._lock:
                self._stamps.setdefault((job, name), datetime.fromisoformat(text).timestamp())

    def job_signs_now(self, job: str) -> set[str]:
        """The signs of the Job's latest state."""
        with self._lock:
            return set(self._last_job_signs.get(job, set()))

    def _note(self, job: str, signs: set[str], arrived: float) -> None:
        with self._lock:
            for sign in signs:
                self._first.setdefault((job, sign), arrived)

    def _open(self, kind: str, resource_version: str) -> Any:
        core: Any = client.CoreV1Api(self._api)
        batch: Any = client.BatchV1Api(self._api)
        call = core.list_namespaced_pod if kind == "pods" else batch.list_namespaced_job
        return call(self.namespace, watch=True, resource_version=resource_version,
                    allow_watch_bookmarks=True, timeout_seconds=3600, _preload_content=False)

    def _run(self, kind: str) -> None:
        core: Any = client.CoreV1Api(self._api)
        batch: Any = client.BatchV1Api(self._api)
        listed = (core.list_namespaced_pod(self.namespace) if kind == "pods"
                  else batch.list_namespaced_job(self.namespace))
        version = listed.metadata.resource_version
        first = True
        while not self._stopping.is_set():
            response = self._open(kind, version)
            self._responses.append(response)
            if first:
                first = False
                self._ready.wait(timeout=60)
            with contextlib.suppress(Exception):  # closed by stop(), or the server ended it
                for line in _lines(response):
                    arrived = time.monotonic()
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    version = (obj.get("metadata") or {}).get("resourceVersion", version)
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self._apply(kind, obj, arrived)
            if not self._stopping.is_set():
                time.sleep(0.2)

    def _apply(self, kind: str, obj: dict[str, Any], arrived: float) -> None:
        meta = obj.get("metadata") or {}
        if kind == "pods":
            job = (meta.get("labels") or {}).get(JOB_NAME_LABEL)
            if job:
                self._note(job, pod_signs(obj), arrived)
                self._stamp(job, "pod_created", meta.get("creationTimestamp"))
            return
        name = meta.get("name", "")
        self._stamp(name, "job_started", (obj.get("status") or {}).get("startTime"))
        signs = job_signs(obj)
        self._note(name, signs, arrived)
        with self._lock:
            self._last_job_signs[name] = signs

    def stop(self) -> None:
        self._stopping.set()
        for response in self._responses:
            with contextlib.suppress(Exception):
                response.shutdown()
            with contextlib.suppress(Exception):
                response.release_conn()
        for thread in self._threads:
            thread.join(timeout=5)
