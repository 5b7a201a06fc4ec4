"""deploy/ as ``kubectl kustomize`` renders it is accepted by the real API server, object by
object (server-side dry run); the example overlay sets what an operator sets."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import utils
from kubernetes.client.exceptions import ApiException

from harness.support import CRD_FILE, DEPLOY, DEPLOY_BASE, kustomize_build

pytestmark = pytest.mark.integration

EXAMPLE = DEPLOY / "overlays" / "example"


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(body["kind"] for body in objects)


def test_the_kustomization_assembles_every_manifest_of_the_base_and_the_crd() -> None:
    rendered = {(body["kind"], body["metadata"]["name"]) for body in kustomize_build()}
    on_disk = {(body["kind"], body["metadata"]["name"])
               for folder in (DEPLOY_BASE, CRD_FILE.parent) for path in folder.glob("*.yaml")
               if path.name != "kustomization.yaml"
               for body in [yaml.safe_load(path.read_text())]}
    (config_map,) = [name for kind, name in rendered if kind == "ConfigMap"]

    assert rendered == on_disk | {("ConfigMap", config_map)}
    assert config_map.startswith("zombiewatch-")  # the generator's hash: a change rolls out


create_from_dict: Any = utils.create_from_dict  # untyped in the client package


def dry_run(api_client: Any, objects: list[dict[str, Any]],
            namespace: str) -> tuple[list[str], dict[str, set[int]]]:
    """Each object created with ``dryRun=All`` in ``namespace``: the accepted kinds and the
    refused ones with their statuses."""
    accepted: list[str] = []
    refused: dict[str, set[int]] = {}
    for rendered in objects:
        body = rendered
        if "namespace" in body["metadata"]:
            body = {**body, "metadata": {**body["metadata"], "namespace": namespace}}
        try:
            create_from_dict(api_client, body, namespace=namespace, dry_run="All")
        except utils.FailToCreateError as exc:
            refused[body["kind"]] = {
                e.status for e in exc.api_exceptions if isinstance(e, ApiException)}
        else:
            accepted.append(body["kind"])
    return accepted, refused


def test_every_deploy_object_is_accepted_by_the_api_server(
    api_client: Any, namespace: str
) -> None:
    accepted, refused = dry_run(api_client, kustomize_build(), namespace)

    # The CRD is cluster-wide and other tests installed it already: 409 is its only refusal.
    assert refused in ({}, {"CustomResourceDefinition": {409}})
    assert sorted(accepted + list(refused)) == sorted([
        "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "ConfigMap",
        "Deployment", "Service", "PodDisruptionBudget"])


def test_the_example_overlay_sets_namespace_image_settings_and_release_label(
    api_client: Any, namespace: str
) -> None:
    objects = kustomize_build(EXAMPLE)
    by_kind = {body["kind"]: body for body in objects}
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config_map = by_kind["ConfigMap"]

    assert {body["metadata"].get("namespace") for body in objects
            if body["kind"] != "CustomResourceDefinition"} == {"agents"}
    assert container["image"].startswith("registry.example/zombiewatch:")
    assert config_map["data"]["KAFKA_BROKERS"] == "kafka-0.kafka:9092,kafka-1.kafka:9092"
    assert config_map["data"]["LOG_FORMAT"] == "json"  # the base's value, merged
    assert container["envFrom"][0]["configMapRef"]["name"] == config_map["metadata"]["name"]
    assert {body["kind"] for body in objects
            if body["metadata"]["labels"].get("release") == "kube-prometheus-stack"} >= {
        "ServiceMonitor", "Deployment"}
    # The bare API server has no Prometheus Operator: the ServiceMonitor is checked above.
    accepted, refused = dry_run(
        api_client, [body for body in objects if body["kind"] != "ServiceMonitor"], namespace)
    assert refused in ({}, {"CustomResourceDefinition": {409}})
    assert "Deployment" in accepted


def test_the_deployment_is_hardened_probed_spread_and_configured_from_outside() -> None:
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
    assert {e["name"] for e in container["env"]} == {
        "NAMESPACE", "POD_NAME", "LEADER_ELECTION", "LISTEN"}
    assert container["envFrom"] == [
        {"configMapRef": {"name": "zombiewatch"}},
        {"secretRef": {"name": "zombiewatch", "optional": True}}]
    (hosts,) = [c for c in pod["topologySpreadConstraints"]
                if c["topologyKey"] == "kubernetes.io/hostname"]
    assert (hosts["maxSkew"], hosts["whenUnsatisfiable"]) == (1, "DoNotSchedule")
    assert hosts["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_the_base_names_no_broker_and_no_branch() -> None:
    (config_map,) = [body for body in kustomize_build(DEPLOY_BASE) if body["kind"] == "ConfigMap"]

    assert config_map["data"] == {"LOG_FORMAT": "json"}


def test_the_role_grants_exactly_what_the_daemon_uses() -> None:
    role = yaml.safe_load((DEPLOY_BASE / "role.yaml").read_text())
    grants = {(r["apiGroups"][0], r["resources"][0]): sorted(r["verbs"]) for r in role["rules"]}

    assert grants == {
        ("", "pods"): ["get", "list", "watch"],
        ("batch", "jobs"): ["get", "list", "patch", "watch"],
        ("agent.benjamin-borbe.de", "configs"): ["get", "list", "watch"],
        ("coordination.k8s.io", "leases"): ["create", "get", "update"],
        ("", "events"): ["create", "get", "list", "patch"],
    }
