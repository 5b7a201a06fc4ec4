"""deploy/ is accepted by the real API server, object by object (server-side dry run)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import utils
from kubernetes.client.exceptions import ApiException

from harness.support import CRD_FILE, DEPLOY_BASE, kustomize_files

pytestmark = pytest.mark.integration


def test_the_kustomization_assembles_every_manifest_of_the_base_and_the_crd() -> None:
    listed = set(kustomize_files())
    on_disk = {p.resolve() for folder in (DEPLOY_BASE, CRD_FILE.parent)
               for p in folder.glob("*.yaml")} - {
        DEPLOY_BASE / "kustomization.yaml", CRD_FILE.parent / "kustomization.yaml"}

    assert listed == on_disk


create_from_dict: Any = utils.create_from_dict  # untyped in the client package


def test_every_deploy_object_is_accepted_by_the_api_server(
    api_client: Any, namespace: str
) -> None:
    accepted: list[str] = []
    refused: dict[str, set[int]] = {}
    for path in kustomize_files():
        body = yaml.safe_load(path.read_text())
        try:
            create_from_dict(api_client, body, namespace=namespace, dry_run="All")
        except utils.FailToCreateError as exc:
            refused[body["kind"]] = {
                e.status for e in exc.api_exceptions if isinstance(e, ApiException)}
        else:
            accepted.append(body["kind"])

    # The CRD is cluster-wide and other tests installed it already: 409 is its only refusal.
    assert refused in ({}, {"CustomResourceDefinition": {409}})
    assert sorted(accepted + list(refused)) == sorted([
        "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "Deployment",
        "Service", "PodDisruptionBudget"])


def test_the_deployment_is_hardened_and_probed() -> None:
    deployment = yaml.safe_load((DEPLOY_BASE / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]

    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "privileged": False,
        "capabilities": {"drop": ["ALL"]}}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert {e["name"] for e in container["env"]} >= {"NAMESPACE", "LEADER_ELECTION", "LISTEN"}


def test_the_role_grants_exactly_what_the_daemon_uses() -> None:
    role = yaml.safe_load((DEPLOY_BASE / "role.yaml").read_text())
    grants = {(r["apiGroups"][0], r["resources"][0]): sorted(r["verbs"]) for r in role["rules"]}

    assert grants == {
        ("", "pods"): ["get", "list", "watch"],
        ("batch", "jobs"): ["get", "list", "patch", "watch"],
        ("agent.benjamin-borbe.de", "configs"): ["get", "list", "watch"],
        ("coordination.k8s.io", "leases"): ["create", "get", "update"],
        ("", "events"): ["create", "patch"],
    }
