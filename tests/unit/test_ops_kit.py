"""deploy/'s ops kit: the dashboard and the alerts name only metrics the daemon exports,
and the kustomize layout holds together (``kubectl kustomize`` is not needed to read it).

promtool checks and unit-tests the alerts themselves: ``make ops-check``.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.worlds.exported import daemon_metrics, sample_names
from tests.unit.worlds.sweeping import World
from zombiewatch.domain.views import AgentConfigView

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MONITORING = DEPLOY / "monitoring"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
METRIC = re.compile(r"\bzombiewatch_[a-z0-9_]+\b")


def exported_names() -> set[str]:
    """Every sample name the daemon's registry can expose (``_total``, ``_bucket``, ...)."""
    return sample_names(daemon_metrics())


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"]
               for target in panel.get("targets", [])]
    queries += [variable["definition"] for variable in dashboard["templating"]["list"]
                if variable.get("definition")]
    return queries


def alert_rules() -> list[dict[str, Any]]:
    body = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    return [rule for group in body["spec"]["groups"] for rule in group["rules"]]


def test_every_dashboard_query_names_metrics_the_daemon_exports() -> None:
    # Arrange
    exported = exported_names()
    queries = dashboard_queries()
    # Act
    named = [set(METRIC.findall(query)) for query in queries]
    # Assert
    assert len(queries) >= 15
    assert all(named), "a query that names no zombiewatch metric"
    unknown = set().union(*named) - exported
    assert unknown == set()


def test_the_dashboard_covers_the_main_metrics() -> None:
    named = set().union(*(METRIC.findall(q) for q in dashboard_queries()))

    assert named >= {"zombiewatch_failures_published_total", "zombiewatch_leader",
                     "zombiewatch_publish_errors_total", "zombiewatch_in_flight_jobs",
                     "zombiewatch_informer_synced", "zombiewatch_sweep_duration_seconds_bucket",
                     "zombiewatch_sweep_interval_seconds",
                     "zombiewatch_detection_latency_seconds_bucket"}


def test_the_alerts_name_only_exported_metrics() -> None:
    exported = exported_names()
    named = set().union(*(METRIC.findall(rule["expr"]) for rule in alert_rules()))

    assert named
    assert named - exported == set()


def test_the_dashboard_shows_what_every_alert_watches() -> None:
    shown = set().union(*(METRIC.findall(q) for q in dashboard_queries()))
    alerted = set().union(*(METRIC.findall(rule["expr"]) for rule in alert_rules()))

    assert alerted - shown == set()


def test_the_operator_alerts_are_all_there() -> None:
    assert {rule["alert"] for rule in alert_rules()} == {
        "ZombiewatchNoLeader", "ZombiewatchAbsent", "ZombiewatchInformerNotSynced",
        "ZombiewatchPublishErrors", "ZombiewatchFailuresUnconfirmed",
        "ZombiewatchFailuresGivenUp", "ZombiewatchTaskFeedDown", "ZombiewatchSweepSlow",
        "ZombiewatchStormIncident"}
    assert all(rule["labels"]["severity"] in {"warning", "critical"} for rule in alert_rules())


def runbooks() -> dict[str, str]:
    """docs/OPERATIONS.md's runbook sections: alert name -> text."""
    text = OPERATIONS.read_text().split("\n## Runbooks\n", 1)[1]
    sections = re.split(r"^### (\S+)\n", text, flags=re.MULTILINE)[1:]
    return dict(zip(sections[::2], sections[1::2], strict=True))


def test_every_alert_links_its_runbook_section() -> None:
    links = {rule["alert"]: rule["annotations"]["runbook_url"] for rule in alert_rules()}

    assert links == {alert: f"docs/OPERATIONS.md#{alert.lower()}" for alert in links}
    assert set(runbooks()) == set(links)


@pytest.mark.parametrize("part", ["**What it means.**", "**What to check.**",
                                  "**What to do.**"])
def test_each_runbook_says_what_it_means_what_to_check_and_what_to_do(part: str) -> None:
    sections = runbooks()

    assert [alert for alert, text in sections.items() if part not in text] == []
    assert len(sections) == len(alert_rules())


async def test_the_sweeper_exports_the_interval_the_slow_sweep_alert_compares_with() -> None:
    # Arrange
    world = World()
    world.cache.config_views.append(AgentConfigView(
        namespace="agents", name="a", assignee="a", zombie_sweeper_interval_seconds=15))
    task = asyncio.create_task(world.sweeper.run())
    for _ in range(100):
        if world.sweeper.ticks:
            break
        await asyncio.sleep(0.01)
    # Act
    value = world.metrics.registry.get_sample_value("zombiewatch_sweep_interval_seconds")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Assert
    assert value == 15


# --- the kustomize layout ----------------------------------------------------------------

def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_the_complete_install_is_the_base_plus_the_crd_component() -> None:
    root = load(DEPLOY / "kustomization.yaml")
    component = load(DEPLOY / "components" / "crd" / "kustomization.yaml")

    assert (root["resources"], root["components"]) == (["base"], ["components/crd"])
    assert (component["apiVersion"], component["kind"]) == (
        "kustomize.config.k8s.io/v1alpha1", "Component")
    assert load(DEPLOY / "components" / "crd" / component["resources"][0])["kind"] == (
        "CustomResourceDefinition")


@pytest.mark.parametrize("folder", ["base", "components/crd", "components/servicemonitor",
                                    "monitoring"])
def test_each_kustomization_lists_exactly_the_manifests_beside_it(folder: str) -> None:
    body = load(DEPLOY / folder / "kustomization.yaml")
    generated = {entry.split("=")[-1] for gen in body.get("configMapGenerator", [])
                 for entry in gen.get("files", [])}

    on_disk = {p.name for p in (DEPLOY / folder).iterdir() if p.is_file()} - {
        "kustomization.yaml"}

    assert set(body["resources"]) | generated == on_disk


def test_the_disruption_budget_selects_the_deployments_pods_and_leaves_one_running() -> None:
    pdb = load(DEPLOY / "base" / "pdb.yaml")
    deployment = load(DEPLOY / "base" / "deployment.yaml")

    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert deployment["spec"]["replicas"] >= 2


def test_the_dashboard_configmap_is_labelled_for_grafanas_sidecar() -> None:
    (generator,) = load(MONITORING / "kustomization.yaml")["configMapGenerator"]

    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}
    assert json.loads((MONITORING / "dashboard.json").read_text())["uid"] == "zombiewatch"


def test_the_servicemonitor_scrapes_the_metrics_service_of_the_base() -> None:
    (monitor,) = [load(DEPLOY / "components" / "servicemonitor" / name) for name in
                  load(DEPLOY / "components" / "servicemonitor" / "kustomization.yaml")[
                      "resources"]]
    service = load(DEPLOY / "base" / "service.yaml")
    base_labels = load(DEPLOY / "base" / "kustomization.yaml")["labels"][0]["pairs"]

    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= base_labels.items()
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [
        (service["spec"]["ports"][0]["name"], "/metrics")]


def test_the_example_overlay_in_the_docs_is_the_one_in_deploy() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", OPERATIONS.read_text(), re.DOTALL)
    overlay = (DEPLOY / "overlays" / "example" / "kustomization.yaml").read_text()

    assert overlay in blocks
    assert load(DEPLOY / "overlays" / "example" / "kustomization.yaml")["resources"] == [
        "../../base"]
