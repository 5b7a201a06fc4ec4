"""deploy/ is accepted by the real API server, object by object (server-side dry run)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import utils
from kubernetes.client.exceptions import ApiException

from tests.integration.support import DEPLOY

pytestmark = pytest.mark.integration


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    return loaded


def test_the_kustomization_lists_every_manifest_in_deploy() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}

    assert listed == on_disk


create_from_dict: Any = utils.create_from_dict  # untyped in the client package


def test_every_deploy_object_is_accepted_by_the_api_server(
    api_client: Any, namespace: str
) -> None:
    accepted: list[str] = []
    refused: dict[str, set[int]] = {}
    for file_name in kustomization()["resources"]:
        body = yaml.safe_load((DEPLOY / file_name).read_text())
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
        "Service"])


def test_the_deployment_is_hardened_and_probed() -> None:
    deployment = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
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
    role = yaml.safe_load((DEPLOY / "role.yaml").read_text())
    grants = {(r["apiGroups"][0], r["resources"][0]): sorted(r["verbs"]) for r in role["rules"]}

    assert grants == {
        ("", "pods"): ["get", "list", "watch"],
        ("batch", "jobs"): ["get", "list", "patch", "watch"],
        ("agent.benjamin-borbe.de", "configs"): ["get", "list", "watch"],
        ("coordination.k8s.io", "leases"): ["create", "get", "update"],
    }
