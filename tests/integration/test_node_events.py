"""zombiewatch's Events on the real node, as an operator sees them: a zombie Job (a pod that
can never be scheduled) is reported and reaped by the daemon, and ``kubectl describe job``
lists ``ZombieReported`` with the reason and the task beside the Job controller's own
``DeadlineExceeded``, and ``ZombieReaped``.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from harness import workloads
from harness.daemons import running
from harness.waiting import wait_until
from tests.integration.worlds.describe import describe_job, event_rows
from tests.integration.worlds.node_scene import WAIT, NodeScene

pytestmark = [pytest.mark.integration, pytest.mark.node]


def _rows(scene: NodeScene, name: str) -> list[str]:
    return event_rows(describe_job(scene.node.kubeconfig, scene.namespace, name))


async def test_kubectl_describe_job_shows_that_zombiewatch_reported_and_reaped_it(
    node_scene: NodeScene,
) -> None:
    async with running(node_scene.settings):
        key = f"zombiewatch.test/{workloads.unique('nowhere')}"
        name = node_scene.job("events-unsched", args=["sleep", "3600"],
                              pod_spec={"nodeSelector": {key: "true"}})
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        await wait_until(
            lambda: {"ZombieReported", "ZombieReaped", "DeadlineExceeded"} <= {
                row.split()[1] for row in _rows(node_scene, name) if len(row.split()) > 1},
            timeout=WAIT, what=f"zombiewatch's and the Job controller's Events on {name}")
    batch: Any = client.BatchV1Api(node_scene.api)
    task_id = batch.read_namespaced_job(name, node_scene.namespace).metadata.labels[
        "agent.benjamin-borbe.de/task-id"]

    rows = _rows(node_scene, name)
    assert node_scene.reader.reasons_by_job() == {name: ["pod_not_scheduled"]}
    assert any(row.startswith("Warning") and "ZombieReported" in row and "zombiewatch" in row
               and f"pod_not_scheduled: failure reported for task {task_id}" in row
               for row in rows), rows
    assert any(row.startswith("Normal") and "ZombieReaped" in row for row in rows), rows
