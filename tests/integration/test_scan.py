"""``zombiewatch scan`` against the real API server, under a Role that can only get and list.

A mix of states is written the way the kubelet and the Job controller write them; scan
runs with a ServiceAccount token whose Role grants get/list on jobs, pods and configs and
nothing else, names each Job's verdict or why not yet, changes no object (every
resourceVersion is the same afterwards), and says so when a namespace is not readable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from harness import kubelet
from harness.fixtures import unique_name
from harness.services import Services
from harness.support import apply_config_crd
from zombiewatch.app.cli import main
from zombiewatch.domain.views import ZOMBIE_REASON_ANNOTATION, ZOMBIE_REPORTED_AT_ANNOTATION

pytestmark = pytest.mark.integration

READ_ONLY_RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]},
    {"apiGroups": ["agent.benjamin-borbe.de"], "resources": ["configs"], "verbs": ["get", "list"]},
]


def read_only_kubeconfig(api_client: Any, services: Services, namespace: str,
                         path: Path) -> Path:
    """A ServiceAccount bound to a get/list-only Role in ``namespace``; its token's kubeconfig."""
    core: Any = client.CoreV1Api(api_client)
    rbac: Any = client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "scanner"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "scanner"},
                                            "rules": READ_ONLY_RULES})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "scanner"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "scanner"},
        "subjects": [{"kind": "ServiceAccount", "name": "scanner", "namespace": namespace}]})
    token = core.create_namespaced_service_account_token(
        "scanner", namespace,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"audiences": [], "expirationSeconds": 3600}}).status.token
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "scanner",
        "clusters": [{"name": "local", "cluster": {
            "server": services.api_url, "certificate-authority": str(services.ca_file)}}],
        "users": [{"name": "scanner", "user": {"token": token}}],
        "contexts": [{"name": "scanner", "context": {"cluster": "local", "user": "scanner"}}],
    }))
    return path


def resource_versions(api_client: Any, namespace: str) -> dict[str, str]:
    core: Any = client.CoreV1Api(api_client)
    batch: Any = client.BatchV1Api(api_client)
    found = {f"job/{j.metadata.name}": j.metadata.resource_version
             for j in batch.list_namespaced_job(namespace).items}
    found.update({f"pod/{p.metadata.name}": p.metadata.resource_version
                  for p in core.list_namespaced_pod(namespace).items})
    return found


@dataclass(frozen=True)
class Scene:
    api_client: Any
    namespace: str
    names: dict[str, str]
    """Job name per case."""
    kubeconfig: Path
    """The get/list-only scanner's."""


@pytest.fixture
def scene(api_client: Any, services: Services, namespace: str, tmp_path: Path) -> Scene:
    """Four in-flight Jobs (image pull, unschedulable, running, reported) and a completed one."""
    apply_config_crd(api_client)
    core: Any = client.CoreV1Api(api_client)
    batch: Any = client.BatchV1Api(api_client)
    names: dict[str, str] = {}
    for case in ("image", "unschedulable", "running", "reported", "done"):
        task = f"{case}-{unique_name('t')}"
        annotations = None
        if case == "reported":
            annotations = {ZOMBIE_REASON_ANNOTATION: "pod_crash_no_stdout",
                           ZOMBIE_REPORTED_AT_ANNOTATION: kubelet.now()}
        job = kubelet.create_agent_job(batch, namespace, task_id=task,
                                       name=unique_name(f"claude-{case}"),
                                       annotations=annotations)
        kubelet.set_job_started(batch, namespace, job)
        pod = kubelet.create_agent_pod(core, namespace, job=job, task_id=task)
        if case == "image":
            kubelet.set_waiting(core, namespace, pod, "ErrImagePull")
        elif case == "unschedulable":
            kubelet.set_unschedulable(core, namespace, pod)
        elif case == "running":
            kubelet.set_running(core, namespace, pod)
        elif case == "reported":
            kubelet.set_terminated(core, namespace, pod, 1)
        else:
            kubelet.set_terminated(core, namespace, pod, 0, phase="Succeeded",
                                   reason="Completed")
            kubelet.set_job_complete(batch, namespace, job)
        names[case] = str(job.metadata.name)
    kubeconfig = read_only_kubeconfig(api_client, services, namespace, tmp_path / "scanner")
    return Scene(api_client, namespace, names, kubeconfig)


def test_scan_under_a_get_list_role_names_each_jobs_verdict_and_changes_nothing(
    scene: Scene, capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange
    before = resource_versions(scene.api_client, scene.namespace)
    # Act
    # an hour of grace: the unschedulable pod stays inside it however slow the machine is
    scan = ["scan", "--namespace", scene.namespace, "--kubeconfig", str(scene.kubeconfig),
            "--grace-seconds", "3600"]
    code = main([*scan, "-o", "json"])
    out, err = capsys.readouterr()
    table_code = main(scan)
    table = capsys.readouterr().out
    # Assert
    assert (code, err) == (1, ""), err
    document = json.loads(out)
    rows = {row["job"]: row for row in document["jobs"]}
    names = scene.names
    assert set(rows) == {names["image"], names["unschedulable"], names["running"],
                         names["reported"]}
    assert (rows[names["image"]]["reason"], rows[names["image"]]["rule"]) == (
        "image_pull_backoff", "waiting_image_pull")
    assert rows[names["image"]]["reported"] is None
    unschedulable = rows[names["unschedulable"]]
    assert unschedulable["why"].startswith("unschedulable, grace ends in ")
    assert unschedulable["waiting"] == "unschedulable"
    assert 3000 < unschedulable["remaining_seconds"] <= 3600
    assert re.fullmatch(r"running, deadline in \d+ min", rows[names["running"]]["why"])
    assert rows[names["reported"]]["reason"] == "pod_crash_no_stdout"
    assert rows[names["reported"]]["reported"]["reason"] == "pod_crash_no_stdout"
    assert (document["completed"], document["unreported_zombies"]) == (1, 1)
    assert table_code == 1
    assert names["image"] in table
    assert "4 in flight, 2 zombies (1 not reported), 1 completed not shown" in table
    assert resource_versions(scene.api_client, scene.namespace) == before


def test_scan_of_a_namespace_it_cannot_read_says_so_and_exits_3(
    api_client: Any, services: Services, namespace: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange: the scanner may read its own namespace only
    kubeconfig = read_only_kubeconfig(api_client, services, namespace, tmp_path / "scanner")
    other = unique_name("zw-other")
    core: Any = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": other,
                                        "labels": {"zombiewatch.test/owned": "true"}}})
    try:
        # Act
        code = main(["scan", "--namespace", other, "--kubeconfig", str(kubeconfig)])
    finally:
        core.delete_namespace(other)
    # Assert
    captured = capsys.readouterr()
    assert code == 3
    assert captured.out == ""
    assert f"cannot read namespace {other}: 403" in captured.err
