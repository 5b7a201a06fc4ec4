"""Laying a zombie to rest on the real node (SPEC §14): the reported Job's deadline is
shortened, the Job controller stops its pod, and what would have revived it (the node
labelled to match, the Secret created) starts nothing; a Job whose pod already failed is
left alone; no failure is published twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client

from harness import workloads
from harness.daemons import running
from harness.waiting import wait_until
from tests.integration.worlds.node_scene import WAIT, NodeScene
from zombiewatch.domain.views import ZOMBIE_REAPED_AT_ANNOTATION

pytestmark = [pytest.mark.integration, pytest.mark.node]

REVIVAL_WAIT = 15.0
"""How long a revived pod would need to start here (busybox starts in about a second)."""


def _job(scene: NodeScene, name: str) -> Any:
    batch: Any = client.BatchV1Api(scene.api)
    return batch.read_namespaced_job(name, scene.namespace)


def _failed_by_deadline(scene: NodeScene, name: str) -> bool:
    return any(c.type in ("FailureTarget", "Failed") and c.status == "True"
               and c.reason == "DeadlineExceeded"
               for c in _job(scene, name).status.conditions or [])


def _started_containers(scene: NodeScene, name: str) -> list[str]:
    return [pod.metadata.name for pod in workloads.job_pods(scene.api, scene.namespace, name)
            for status in pod.status.container_statuses or []
            if status.state.running is not None or status.state.terminated is not None]


async def _reported_and_reaped(scene: NodeScene, name: str) -> None:
    await wait_until(lambda: ZOMBIE_REAPED_AT_ANNOTATION in (
        _job(scene, name).metadata.annotations or {}), timeout=WAIT, what=f"{name} reaped")
    await wait_until(lambda: _failed_by_deadline(scene, name), timeout=WAIT,
                     what=f"the Job controller failing {name} at its new deadline")


async def test_a_reaped_unschedulable_job_never_starts_once_the_node_matches(
    node_scene: NodeScene,
) -> None:
    core: Any = client.CoreV1Api(node_scene.api)
    key = f"zombiewatch.test/{workloads.unique('pool')}"
    async with running(node_scene.settings) as runtime:
        name = node_scene.job("reap-unsched", args=["sleep", "3600"],
                              pod_spec={"nodeSelector": {key: "true"}})
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        await _reported_and_reaped(node_scene, name)
        node = core.list_node().items[0].metadata.name
        core.patch_node(node, {"metadata": {"labels": {key: "true"}}})
        try:
            await asyncio.sleep(REVIVAL_WAIT)
            started = _started_containers(node_scene, name)
            await runtime.sweep_now()
            await node_scene.reader.quiet(2.0)
        finally:
            core.patch_node(node, {"metadata": {"labels": {key: None}}})

    assert node_scene.reader.reasons_by_job() == {name: ["pod_not_scheduled"]}
    assert started == []
    assert _job(node_scene, name).spec.active_deadline_seconds == 1


async def test_a_reaped_job_stuck_on_a_missing_secret_never_starts_once_it_exists(
    node_scene: NodeScene,
) -> None:
    core: Any = client.CoreV1Api(node_scene.api)
    secret = workloads.unique("late")
    async with running(node_scene.settings) as runtime:
        name = node_scene.job("reap-secret", args=["sleep", "3600"],
                              container={"envFrom": [{"secretRef": {"name": secret}}]})
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        await _reported_and_reaped(node_scene, name)
        core.create_namespaced_secret(node_scene.namespace, {
            "metadata": {"name": secret}, "stringData": {"TOKEN": "now-it-exists"}})
        await asyncio.sleep(REVIVAL_WAIT)
        started = _started_containers(node_scene, name)
        await runtime.sweep_now()
        await node_scene.reader.quiet(2.0)

    assert node_scene.reader.reasons_by_job() == {
        name: ["container_config_error (CreateContainerConfigError)"]}
    assert started == []


async def test_a_job_whose_pod_already_failed_is_left_alone(node_scene: NodeScene) -> None:
    async with running(node_scene.settings) as runtime:
        name = node_scene.job("reap-crashed", args=["false"])
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        await wait_until(lambda: "Failed" in workloads.job_condition_types(
            _job(node_scene, name)), timeout=WAIT, what=f"Job {name} Failed")
        await runtime.sweep_now()
        await node_scene.reader.quiet(2.0)
        reaped = runtime.metrics.registry.get_sample_value("zombiewatch_jobs_reaped_total")

    job = _job(node_scene, name)
    assert node_scene.reader.reasons_by_job() == {name: ["pod_crash_no_stdout (Error/1)"]}
    assert ZOMBIE_REAPED_AT_ANNOTATION not in (job.metadata.annotations or {})
    assert job.spec.active_deadline_seconds != 1
    assert reaped == 0
