"""Fill a namespace with N agent Jobs and their realistic running pods, straight into etcd.

Through the API server this VM takes ~50 writes/s while other suites load it, and an agent
is three writes (the Job, its pod, the pod's status: creating a pod drops its status), so
50,000 agents would take most of an hour. The objects are written instead as the API
server stores them, JSON under ``/registry/{jobs,pods}/<namespace>/<name>``, one etcd
transaction per agent from :data:`THREADS` threads. The API server reads them as it
reads any stored object (its storage decoder recognizes JSON besides its own protobuf: that
is how a cluster changes storage encodings), its watch cache receives them through its
watch of etcd, and every client then lists and watches them exactly as if they had been
created through the API; etcd assigns the resourceVersions (one transaction per agent, so
each agent gets its own, as a creation would). The benchmark waits until the API server's
watch cache holds them all (:func:`cached_count`), so no measured program pays for the
cache catching up with the writes.

The pods are :func:`benchmarks.podjson.pod_object` (~6.9 KB of JSON: labels,
ownerReferences, two managedFields entries, init and agent containers, volumes, a Running
status with four conditions); each Job is the one its pod names (same uid, task id and
labels), with the pod's spec as its template and a running Job's status.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3

from benchmarks.podjson import pod_object
from zombiewatch.adapters.kubernetes.decoding import decode_list_page

THREADS = 8


def pod_stored(index: int, namespace: str) -> dict[str, Any]:
    """The ``index``-th agent pod as etcd holds it (no resourceVersion: etcd's revision is)."""
    pod = pod_object(index, namespace=namespace)
    del pod["metadata"]["resourceVersion"]
    return pod


def job_stored(pod: dict[str, Any]) -> dict[str, Any]:
    """The running agent Job that owns ``pod``, as etcd holds it."""
    meta = pod["metadata"]
    owner = meta["ownerReferences"][0]
    labels = {k: v for k, v in meta["labels"].items() if k not in ("job-name", "controller-uid")}
    selector = {"batch.kubernetes.io/controller-uid": owner["uid"]}
    template_labels = {**labels, **selector, "batch.kubernetes.io/job-name": owner["name"],
                       "controller-uid": owner["uid"], "job-name": owner["name"]}
    template_spec = {k: v for k, v in pod["spec"].items()
                     if k not in ("nodeName", "serviceAccount", "priority",
                                  "enableServiceLinks", "preemptionPolicy")}
    created = meta["creationTimestamp"]
    started = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    fields: dict[str, Any] = {f"f:{k}": {} for k in labels}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": owner["name"], "namespace": meta["namespace"], "uid": owner["uid"],
            "generation": 1, "creationTimestamp": created, "labels": labels,
            "annotations": meta["annotations"],
            "managedFields": [
                {"manager": "agent-executor", "operation": "Update", "apiVersion": "batch/v1",
                 "time": created, "fieldsType": "FieldsV1", "fieldsV1": {
                     "f:metadata": {"f:labels": {".": {}, **fields},
                                    "f:annotations": {".": {}}},
                     "f:spec": {"f:activeDeadlineSeconds": {}, "f:backoffLimit": {},
                                "f:template": {"f:metadata": {"f:labels": {}},
                                               "f:spec": {"f:containers": {},
                                                          "f:volumes": {}}}}}},
                {"manager": "kube-controller-manager", "operation": "Update",
                 "apiVersion": "batch/v1", "time": created, "fieldsType": "FieldsV1",
                 "subresource": "status", "fieldsV1": {"f:status": {
                     "f:active": {}, "f:ready": {}, "f:startTime": {}, "f:terminating": {},
                     "f:uncountedTerminatedPods": {}}}},
            ],
        },
        "spec": {
            "parallelism": 1, "completions": 1, "activeDeadlineSeconds": 86400,
            "backoffLimit": 0, "selector": {"matchLabels": selector},
            "manualSelector": False,
            "template": {"metadata": {"labels": template_labels}, "spec": template_spec},
            "completionMode": "NonIndexed", "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
        },
        "status": {"startTime": (started + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "active": 1, "ready": 1, "terminating": 0, "uncountedTerminatedPods": {}},
    }


def _put(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"requestPut": {
        "key": base64.b64encode(key.encode()).decode(),
        "value": base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()}}


def agent_puts(index: int, namespace: str) -> list[dict[str, Any]]:
    """The two etcd puts of one agent: its Job, then its pod."""
    pod = pod_stored(index, namespace)
    job = job_stored(pod)
    return [_put(f"/registry/jobs/{namespace}/{job['metadata']['name']}", job),
            _put(f"/registry/pods/{namespace}/{pod['metadata']['name']}", pod)]


def write(etcd_endpoint: str, namespace: str, first: int, count: int) -> float:
    """Agents ``first .. first+count-1`` into etcd; the seconds it took."""
    pool = urllib3.PoolManager(maxsize=THREADS)

    def txn(index: int) -> None:
        ops = agent_puts(index, namespace)
        response = pool.request("POST", f"{etcd_endpoint}/v3/kv/txn",
                                body=json.dumps({"success": ops}).encode(),
                                headers={"Content-Type": "application/json"})
        if response.status != 200:
            raise RuntimeError(f"etcd txn: HTTP {response.status} {response.data[:300]!r}")

    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as workers:
        for _ in workers.map(txn, range(first, first + count)):
            pass
    return time.monotonic() - started


def cached_count(api_url: str, token: str, ca_file: str, path: str) -> int:
    """How many objects the API server's watch cache holds at ``path``.

    A LIST at ``resourceVersion=0`` is served from the watch cache however far it lags
    behind etcd (and whole: the cache ignores a limit there), so the count reaches N only
    once the cache has taken in every object written; a LIST at the current revision could
    be answered from etcd meanwhile and its next pages time out ("Too large resource
    version"). The items are counted without being decoded.
    """
    context = ssl.create_default_context(cafile=ca_file)
    request = urllib.request.Request(f"{api_url}{path}?resourceVersion=0",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, context=context, timeout=600) as response:
        return len(decode_list_page(response.read()).items)
