"""What the node proofs share: kubectl, ServiceAccount kubeconfigs, a pod watch, recordings.

The node's own kubectl (v1.37.2, built with the node) drives drains, labels and the
watch streams, so each step is what an operator would type. Recordings go to
``tests/data/corpus/`` (file names ``node-*``) only with ``ZOMBIEWATCH_RECORD_CORPUS=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from harness.node_fixtures import RealNode
from harness.support import DEPLOY_BASE
from zwservices import paths

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
NODE_NAME = "zw-node"


def kubectl(node: RealNode, *args: str, timeout: float = 180.0) -> str:
    """Run the node's kubectl as admin; its stdout (a failure raises with stderr)."""
    out = subprocess.run([str(paths.node_bin_dir() / "kubectl"),
                          f"--kubeconfig={node.kubeconfig}", *args],
                         capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {out.returncode}: {out.stderr}")
    return out.stdout


def can_i(node: RealNode, user: str, namespace: str, verb: str, resource: str) -> bool:
    """``kubectl auth can-i`` as ``user`` (the admin impersonating it)."""
    out = subprocess.run([str(paths.node_bin_dir() / "kubectl"),
                          f"--kubeconfig={node.kubeconfig}", "auth", "can-i", verb, resource,
                          "-n", namespace, f"--as={user}"],
                         capture_output=True, text=True, timeout=60, check=False)
    return out.stdout.strip() == "yes"


def token_kubeconfig(node: RealNode, api: Any, namespace: str, account: str,
                     path: Path) -> Path:
    """A kubeconfig for the node's API server with a token of ``account`` in ``namespace``."""
    core: Any = client.CoreV1Api(api)
    token = core.create_namespaced_service_account_token(
        account, namespace,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"audiences": [], "expirationSeconds": 3600}}).status.token
    admin = yaml.safe_load(node.kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": account,
        "clusters": [{"name": "node", "cluster": {
            "server": cluster["server"],
            "certificate-authority": cluster["certificate-authority"]}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "node", "user": account,
                                                   "namespace": namespace}}],
    }))
    return path


def deploy_role_kubeconfig(node: RealNode, api: Any, namespace: str, path: Path) -> Path:
    """deploy/base's ServiceAccount, Role and RoleBinding in ``namespace``; its token's config."""
    rbac: Any = client.RbacAuthorizationV1Api(api)
    core: Any = client.CoreV1Api(api)
    for file_name in ("serviceaccount.yaml", "role.yaml", "rolebinding.yaml"):
        body = yaml.safe_load((DEPLOY_BASE / file_name).read_text())
        body["metadata"]["namespace"] = namespace
        if body["kind"] == "ServiceAccount":
            core.create_namespaced_service_account(namespace, body)
        elif body["kind"] == "Role":
            rbac.create_namespaced_role(namespace, body)
        else:
            rbac.create_namespaced_role_binding(namespace, body)
    return token_kubeconfig(node, api, namespace, "zombiewatch", path)


def read_only_kubeconfig(node: RealNode, api: Any, namespace: str, rules: list[dict[str, Any]],
                         path: Path) -> Path:
    """A ServiceAccount ``scanner`` bound to a Role of ``rules``; its token's kubeconfig."""
    core: Any = client.CoreV1Api(api)
    rbac: Any = client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "scanner"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "scanner"}, "rules": rules})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "scanner"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "scanner"},
        "subjects": [{"kind": "ServiceAccount", "name": "scanner", "namespace": namespace}]})
    return token_kubeconfig(node, api, namespace, "scanner", path)


def parse_stream(text: str) -> list[dict[str, Any]]:
    """The JSON documents kubectl printed one after the other (``-w -o json``)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return found
        try:
            document, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:  # the last one is still being written
            return found
        found.append(document)


class PodWatch:
    """``kubectl get pods -w --output-watch-events -o json`` of a namespace, into a file.

    Every state the API server had for each pod reaches the stream (the watch has no
    gaps within one connection), so "no container ever ran" is read from it.
    """

    def __init__(self, node: RealNode, namespace: str, path: Path) -> None:
        self.path = path
        self._out = path.open("wb")
        self._process = subprocess.Popen(
            [str(paths.node_bin_dir() / "kubectl"), f"--kubeconfig={node.kubeconfig}",
             "-n", namespace, "get", "pods", "-w", "--output-watch-events", "-o", "json"],
            stdout=self._out, stderr=subprocess.DEVNULL, start_new_session=True)

    def events(self) -> list[dict[str, Any]]:
        self._out.flush()
        return parse_stream(self.path.read_text(errors="replace"))

    def of_job(self, job_name: str) -> list[dict[str, Any]]:
        return [e for e in self.events()
                if (e["object"]["metadata"].get("labels") or {}).get("job-name") == job_name]

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._out.close()


@contextlib.contextmanager
def pod_watch(node: RealNode, namespace: str, path: Path) -> Iterator[PodWatch]:
    watch = PodWatch(node, namespace, path)
    try:
        yield watch
    finally:
        watch.close()


def ever_ran(events: list[dict[str, Any]]) -> list[str]:
    """What in the stream says a container of the pod started: phase Running, a container
    running or terminated, ``started: true``. Empty when nothing ever ran."""
    signs: list[str] = []
    for event in events:
        status = event["object"].get("status") or {}
        if status.get("phase") == "Running":
            signs.append(f"{event['type']} phase Running")
        for container in [*(status.get("initContainerStatuses") or []),
                          *(status.get("containerStatuses") or [])]:
            state = container.get("state") or {}
            if "running" in state or container.get("started"):
                signs.append(f"{event['type']} {container['name']} running")
            terminated = state.get("terminated")
            if terminated and terminated.get("startedAt"):
                signs.append(f"{event['type']} {container['name']} terminated after start")
    return signs


def recording() -> bool:
    return os.environ.get("ZOMBIEWATCH_RECORD_CORPUS") == "1"


def record_objects(node: RealNode, namespace: str, job_name: str, file_name: str) -> None:
    """The Job and its pods as ``kubectl get -o json`` prints them (a List), into the corpus."""
    if not recording():
        return
    document = json.loads(kubectl(node, "-n", namespace, "get", "jobs,pods", "-o", "json"))
    document["items"] = [
        item for item in document["items"]
        if item["metadata"]["name"] == job_name
        or (item["metadata"].get("labels") or {}).get("job-name") == job_name]
    (CORPUS / file_name).write_text(json.dumps(document, indent=4) + "\n")


def record_stream(watch: PodWatch, job_name: str, file_name: str) -> None:
    """The pod watch events of one Job, as kubectl printed them, into the corpus."""
    if not recording():
        return
    text = "".join(json.dumps(e, indent=4) + "\n" for e in watch.of_job(job_name))
    (CORPUS / file_name).write_text(text)


def node_allocatable_millicpu(api: Any) -> int:
    core: Any = client.CoreV1Api(api)
    return parse_millicpu(core.read_node(NODE_NAME).status.allocatable["cpu"])


def requested_millicpu(api: Any) -> int:
    """CPU requested by every pod bound to the node that has not ended."""
    core: Any = client.CoreV1Api(api)
    total = 0
    for pod in core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={NODE_NAME}").items:
        if pod.status.phase in ("Succeeded", "Failed"):
            continue
        for container in pod.spec.containers:
            requests = (container.resources.requests if container.resources else None) or {}
            total += parse_millicpu(requests.get("cpu", "0"))
    return total


def parse_millicpu(quantity: str) -> int:
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return int(float(quantity) * 1000)
