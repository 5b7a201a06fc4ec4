"""A realistic agent pod as the API server returns it (``kubectl get pod -o json``).

Modelled on a pod of an agent Job on a real cluster (v1.2x): metadata with
generateName, labels, ownerReferences and the managedFields of the Job
controller and the kubelet; a spec with an init container and the agent
container (env, volumeMounts, resources, probes), volumes (projected
service-account token, secret, emptyDir), tolerations; a status with the four
conditions and container statuses. Every pod gets distinct names, uids,
resourceVersions and timestamps, so nothing is accidentally shared or cached.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from zombiewatch.domain.views import ASSIGNEE_LABEL, TASK_ID_LABEL

NAMESPACE = "agents"
_T0 = datetime(2026, 6, 2, 9, 0, 0, tzinfo=UTC)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields(*keys: str) -> dict[str, Any]:
    return {key: {} for key in keys}


def pod_object(index: int, *, namespace: str = NAMESPACE) -> dict[str, Any]:
    """The ``index``-th distinct running agent pod."""
    bits = random.Random(index)
    rnd = uuid.UUID(int=bits.getrandbits(128), version=4)
    task_id = str(uuid.UUID(int=bits.getrandbits(128), version=4))
    job_uid = str(uuid.UUID(int=bits.getrandbits(128), version=4))
    created = _T0 + timedelta(seconds=index)
    started = created + timedelta(seconds=4)
    job_name = f"claude-{task_id[:8]}-20260602{index:06d}"
    name = f"{job_name}-{rnd.hex[:5]}"
    labels = {
        TASK_ID_LABEL: task_id,
        ASSIGNEE_LABEL: "claude",
        "controller-uid": job_uid,
        "job-name": job_name,
        "app.kubernetes.io/managed-by": "agent-executor",
    }
    env: list[dict[str, Any]] = [
        {"name": f"AGENT_SETTING_{n}", "value": f"value-{n}-{index}"} for n in range(8)]
    env += [
        {"name": "TASK_ID", "value": task_id},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                        "fieldPath": "metadata.name"}}},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "agent-secrets",
                                                             "key": "token"}}},
    ]
    mounts = [
        {"name": "workspace", "mountPath": "/workspace"},
        {"name": "agent-secrets", "mountPath": "/etc/agent", "readOnly": True},
        {"name": "kube-api-access-x7k2p",
         "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True},
    ]
    resources = {"limits": {"cpu": "2", "memory": "4Gi"},
                 "requests": {"cpu": "500m", "memory": "1Gi"}}
    image = "registry.example.com/agents/claude:2026.06.01-4f2a9c1"
    agent = {
        "name": "agent", "image": image, "args": ["--task", task_id, "--output", "/workspace"],
        "env": env, "resources": resources, "volumeMounts": mounts,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError", "imagePullPolicy": "IfNotPresent",
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    init = {
        "name": "fetch-task", "image": "registry.example.com/agents/fetcher:1.4.2",
        "command": ["/fetch", "--dest", "/workspace"], "resources": resources,
        "volumeMounts": mounts[:1], "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
    }
    volumes = [
        {"name": "workspace", "emptyDir": {"sizeLimit": "10Gi"}},
        {"name": "agent-secrets", "secret": {"secretName": "agent-secrets",
                                             "defaultMode": 420}},
        {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt",
                           "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ]}},
    ]
    conditions = [
        {"type": kind, "status": "True", "lastProbeTime": None,
         "lastTransitionTime": _ts(started)}
        for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    spec_fields = {
        "f:containers": {'k:{"name":"agent"}': {".": {}, **_fields(
            "f:args", "f:env", "f:image", "f:imagePullPolicy", "f:name", "f:resources",
            "f:securityContext", "f:terminationMessagePath", "f:terminationMessagePolicy",
            "f:volumeMounts")}},
        "f:initContainers": {'k:{"name":"fetch-task"}': {".": {}, **_fields(
            "f:command", "f:image", "f:name", "f:resources", "f:volumeMounts")}},
        **_fields("f:dnsPolicy", "f:enableServiceLinks", "f:restartPolicy",
                  "f:schedulerName", "f:securityContext", "f:serviceAccount",
                  "f:terminationGracePeriodSeconds", "f:volumes"),
    }
    status_fields = {
        "f:conditions": {f'k:{{"type":"{kind}"}}': {".": {}, **_fields(
            "f:lastProbeTime", "f:lastTransitionTime", "f:status", "f:type")}
            for kind in ("ContainersReady", "Initialized", "Ready")},
        **_fields("f:containerStatuses", "f:hostIP", "f:initContainerStatuses", "f:phase",
                  "f:podIP", "f:podIPs", "f:startTime"),
    }
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "generateName": f"{job_name}-",
            "namespace": namespace,
            "uid": str(rnd),
            "resourceVersion": str(1_000_000 + index),
            "creationTimestamp": _ts(created),
            "labels": labels,
            "annotations": {"agent.benjamin-borbe.de/spawned-by": "executor-7d9f8b6c5-qz2lw"},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                                 "uid": job_uid, "controller": True,
                                 "blockOwnerDeletion": True}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update",
                 "apiVersion": "v1", "time": _ts(created), "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {
                     "f:generateName": {},
                     "f:labels": {".": {}, **_fields(*(f"f:{k}" for k in labels))},
                     "f:ownerReferences": {".": {}, f'k:{{"uid":"{job_uid}"}}': {}}},
                     "f:spec": spec_fields}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                 "time": _ts(started), "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": status_fields}},
            ],
        },
        "spec": {
            "volumes": volumes,
            "initContainers": [init],
            "containers": [agent],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "agent",
            "serviceAccount": "agent",
            "nodeName": f"worker-{index % 7}",
            "securityContext": {"fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
            ],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": f"10.0.{index % 7}.10",
            "podIP": f"10.244.{index % 250}.{index % 200 + 2}",
            "podIPs": [{"ip": f"10.244.{index % 250}.{index % 200 + 2}"}],
            "startTime": _ts(created),
            "initContainerStatuses": [{
                "name": "fetch-task", "state": {"terminated": {
                    "exitCode": 0, "reason": "Completed", "startedAt": _ts(created),
                    "finishedAt": _ts(started), "containerID": f"containerd://{rnd.hex}0"}},
                "lastState": {}, "ready": True, "restartCount": 0,
                "image": "registry.example.com/agents/fetcher:1.4.2",
                "imageID": "registry.example.com/agents/fetcher@sha256:" + "ab" * 32,
                "containerID": f"containerd://{rnd.hex}0"}],
            "containerStatuses": [{
                "name": "agent", "state": {"running": {"startedAt": _ts(started)}},
                "lastState": {}, "ready": True, "restartCount": 0, "image": image,
                "imageID": "registry.example.com/agents/claude@sha256:" + "cd" * 32,
                "containerID": f"containerd://{rnd.hex}1", "started": True}],
            "qosClass": "Burstable",
        },
    }


def pod_json(index: int) -> bytes:
    """The pod object's JSON, as one list item or a GET body."""
    return json.dumps(pod_object(index), separators=(",", ":")).encode()


def watch_line(index: int, event_type: str = "MODIFIED") -> bytes:
    """One watch-stream line carrying the pod."""
    return json.dumps({"type": event_type, "object": pod_object(index)},
                      separators=(",", ":")).encode()
