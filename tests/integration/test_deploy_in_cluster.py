"""deploy/ in the real node: the image built here, both replicas Ready, one leads, handover.

The image comes from ``services.py daemon-image`` (no registry, no Docker) and is imported
into the node's containerd. ``kubectl apply -k`` applies an overlay written into a temp dir
around deploy/ (kustomize refuses an overlay inside its own base), as an operator writes one:
the namespace, the image (``imagePullPolicy: Never``), the broker's address for pods and a
topic prefix merged into the base's ConfigMap; and the API server's address for pods. The
test node runs no kube-proxy, so the ``kubernetes`` Service's cluster IP leads nowhere; a
relay of the node's own (``node/relay.py``) listens on the node IP instead, and the overlay
points ``KUBERNETES_SERVICE_HOST``/``_PORT`` at it (a container's own env wins over the
kubelet's service variables). Everything else is deploy/ unchanged: the ServiceAccount's
token, the Role, the securityContext, the probes, the Lease, the spread over nodes (one
schedulable node here: both replicas run on it).

The zombies are real Jobs whose image does not exist (the kubelet writes ``ErrImagePull``);
their failure pairs are read back from Kafka, and after the leader pod is deleted the other
replica takes the Lease, with exactly one pair per Job on the topic.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from harness import workloads
from harness.node_fixtures import RealNode
from harness.support import (
    DEPLOY,
    PULL_EITHER,
    kubectl_binary,
    pull_either,
    reading,
    request_topic_for,
)
from harness.waiting import wait_until
from zwservices import daemon_image, procs
from zwservices.node import relay
from zwservices.node.layout import APISERVER_PORT, NODE_IP

pytestmark = [pytest.mark.integration, pytest.mark.node]

UID = 65532
READY_TIMEOUT = 300.0  # two Python daemons starting on a loaded 2-core machine
REPORT_TIMEOUT = 120.0
HANDOVER_TIMEOUT = 90.0  # a released Lease is taken at once; an expired one after 15 s


@pytest.fixture(scope="module")
def image(real_node: RealNode) -> str:
    """Build (or find cached) the daemon's image and import it into the node's containerd."""
    built = daemon_image.ensure()
    socket = Path(real_node.handle.values["CONTAINERD_SOCKET"])
    daemon_image.import_into(built.tar, socket, log=real_node.handle.layout.logs / "images.log")
    return built.tag


@pytest.fixture(scope="module")
def api_for_pods(real_node: RealNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``<node IP>:<port>`` where pods reach the API server (through the machine's relay)."""
    work = tmp_path_factory.mktemp("api-relay")
    port_file = work / "relay.port"
    host_port = real_node.handle.values["KUBE_API_PORT"]
    argv = [sys.executable, relay.__file__, f"--netns={real_node.handle.layout.netns}",
            f"--to-node={APISERVER_PORT}", f"--port-file={port_file}",
            f"--to-host={NODE_IP}:{APISERVER_PORT}={host_port}"]
    pid = procs.spawn(argv, work / "relay.log", tie_to_parent=True)
    try:
        procs.wait_until(port_file.is_file, timeout=30, pid=pid, name="api relay",
                         log=work / "relay.log")
        yield f"{NODE_IP}:{APISERVER_PORT}"
    finally:
        procs.stop_pid(pid, marker=str(port_file))


def write_overlay(folder: Path, *, namespace: str, image: str, kafka: str, prefix: str,
                  api: str) -> Path:
    """A kustomization around deploy/ as an operator writes one (deploy/overlays/example):
    the namespace, the image, the settings merged into the base's ConfigMap; and what only
    this test cluster needs, the API server's address for pods."""
    name, tag = image.rsplit(":", 1)
    api_host, api_port = api.rsplit(":", 1)
    settings = {"KAFKA_BROKERS": kafka, "TOPIC_PREFIX": prefix, "BRANCH": "e2e"}
    env = {"KUBERNETES_SERVICE_HOST": api_host, "KUBERNETES_SERVICE_PORT": api_port}
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "zombiewatch"},
             "spec": {"template": {"spec": {"containers": [{
                 "name": "zombiewatch", "imagePullPolicy": "Never",
                 "env": [{"name": k, "value": v} for k, v in env.items()]}]}}}}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "namespace": namespace, "resources": [os.path.relpath(DEPLOY, folder)],
        "images": [{"name": "zombiewatch", "newName": name, "newTag": tag}],
        "configMapGenerator": [{"name": "zombiewatch", "behavior": "merge",
                                "literals": [f"{k}={v}" for k, v in settings.items()]}],
        "patches": [{"patch": yaml.safe_dump(patch)}]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


class Cluster:
    """The namespace's Deployment, pods, Lease and Jobs, read through the admin client."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.core: Any = client.CoreV1Api(api)
        self.apps: Any = client.AppsV1Api(api)
        self.coordination: Any = client.CoordinationV1Api(api)
        self.api = api
        self.namespace = namespace

    def daemon_pods(self) -> list[Any]:
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector="app.kubernetes.io/name=zombiewatch").items
        return [p for p in pods if p.metadata.deletion_timestamp is None]

    def ready_pods(self) -> list[str]:
        return sorted(p.metadata.name for p in self.daemon_pods()
                      if any(c.type == "Ready" and c.status == "True"
                             for c in p.status.conditions or []))

    def holder(self) -> str | None:
        """The pod holding the Lease: its identity is ``<POD_NAME>-<6 hex>``, one per process."""
        try:
            lease = self.coordination.read_namespaced_lease("zombiewatch", self.namespace)
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        match = re.fullmatch(r"(.+)-[0-9a-f]{6}", lease.spec.holder_identity or "")
        return match.group(1) if match else None

    def describe(self) -> str:
        """The daemon pods' states and log tails, for a failure message."""
        lines = []
        for pod in self.daemon_pods():
            states = [(c.ready, c.restart_count, c.state) for c in
                      pod.status.container_statuses or []]
            lines.append(f"{pod.metadata.name} {pod.status.phase} {states}")
            try:
                log = self.core.read_namespaced_pod_log(pod.metadata.name, self.namespace,
                                                        tail_lines=15)
            except client.exceptions.ApiException as exc:
                log = f"(no log: {exc.status})"
            lines.append(log)
        return "\n".join(lines)

    async def until(self, fetch: Callable[[], Any], done: Callable[[Any], bool], *,
                    timeout: float, what: str) -> Any:
        """Poll ``fetch`` until ``done`` holds of what it returned, and return that, without
        blocking the loop (the topic reader runs on it); a timeout shows the cluster."""
        last: list[Any] = [None]

        def holds() -> bool:
            last[0] = fetch()
            return done(last[0])

        await wait_until(holds, what, timeout=timeout, interval=0.5,
                         detail=lambda: f"last: {last[0]}\n{self.describe()}")
        return last[0]

    def zombie(self) -> str:
        """A Job of an agent whose image does not exist: the kubelet fails its pull."""
        name = workloads.unique("claude-nopull")
        workloads.create_job(self.api, self.namespace, workloads.job_manifest(
            name, image=workloads.MISSING_IMAGE, task_id=str(uuid.uuid4())))
        return name


def container_process(socket: Path, pod: Any) -> int:
    """The host PID of the pod's zombiewatch container (containerd's task of that id)."""
    container_id = pod.status.container_statuses[0].container_id.split("://", 1)[1]
    listing = subprocess.run(["ctr", "-a", str(socket), "-n", "k8s.io", "tasks", "ls"],
                             check=True, capture_output=True, text=True).stdout
    for line in listing.splitlines()[1:]:
        task, pid, *_ = line.split()
        if task == container_id:
            return int(pid)
    raise AssertionError(f"no task {container_id} in containerd:\n{listing}")


def process_security(pid: int) -> dict[str, str]:
    """What the kernel enforces on a process: ids, capabilities, no_new_privs, seccomp, /."""
    fields = dict(line.split(":\t", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
    root = next(line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
                if line.split()[4] == "/")
    return {"uid": fields["Uid"].split()[0], "gid": fields["Gid"].split()[0],
            "effective caps": fields["CapEff"], "bounding caps": fields["CapBnd"],
            "no new privs": fields["NoNewPrivs"], "seccomp": fields["Seccomp"],
            "root mount": root[5].split(",")[0]}


@pytest.fixture
def deployed(real_node: RealNode, node_api: Any, node_namespace: str, *, image: str,
             api_for_pods: str, tmp_path: Path) -> tuple[Cluster, str]:
    """``kubectl apply -k`` of the overlay into a fresh namespace; the cluster and the topic."""
    prefix = f"deploy-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(real_node.bootstrap_servers, prefix)
    overlay = write_overlay(tmp_path / "overlay", namespace=node_namespace, image=image,
                            kafka=real_node.kafka_bootstrap_pods, prefix=prefix,
                            api=api_for_pods)
    applied = subprocess.run([kubectl_binary(), f"--kubeconfig={real_node.kubeconfig}", "apply",
                              "-k", str(overlay)], check=False, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    return Cluster(node_api, node_namespace), topic


async def test_deploy_runs_hardened_leads_reports_and_hands_over(
    real_node: RealNode, deployed: tuple[Cluster, str], image: str
) -> None:
    cluster, topic = deployed
    socket = Path(real_node.handle.values["CONTAINERD_SOCKET"])

    ready = await cluster.until(cluster.ready_pods, lambda names: len(names) == 2,
                                timeout=READY_TIMEOUT, what="both zombiewatch replicas Ready")
    for pod in cluster.daemon_pods():
        assert pod.spec.containers[0].image == image
        assert process_security(container_process(socket, pod)) == {
            "uid": str(UID), "gid": str(UID), "effective caps": "0000000000000000",
            "bounding caps": "0000000000000000", "no new privs": "1", "seccomp": "2",
            "root mount": "ro"}, pod.metadata.name
    leader = await cluster.until(cluster.holder, lambda h: h in ready,
                                 timeout=HANDOVER_TIMEOUT, what="one replica holding the Lease")

    async with reading(real_node.bootstrap_servers, topic) as reader:
        first = cluster.zombie()
        await cluster.until(reader.reasons_by_job, lambda seen: first in seen,
                            timeout=REPORT_TIMEOUT, what=f"the failure pair of {first}")

        cluster.core.delete_namespaced_pod(leader, cluster.namespace)
        # The standby, or the replica the Deployment starts in the deleted pod's place:
        # whichever asks first once the Lease is free (both are valid successors).
        await cluster.until(cluster.holder, lambda h: h is not None and h != leader,
                            timeout=HANDOVER_TIMEOUT,
                            what=f"a replica taking the Lease from the deleted {leader}")
        second = cluster.zombie()
        await cluster.until(reader.reasons_by_job, lambda seen: second in seen,
                            timeout=REPORT_TIMEOUT, what=f"the failure pair of {second}")
        await reader.quiet(5.0)  # a doubled pair (the new leader's read-back failing) shows

        assert pull_either(reader.reasons_by_job()) == {first: [PULL_EITHER],
                                                        second: [PULL_EITHER]}
