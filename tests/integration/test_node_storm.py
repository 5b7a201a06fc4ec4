"""The storm guard on the real node: real pulls fail for one image, the daemon holds them.

The node has no registry: its containerd's image store plays the registry. An image
reference is a second tag of the node's busybox (``ctr images tag``); removing the tag
(``ctr images rm``; the content stays, busybox keeps it) makes every pull of it fail at
once (``IfNotPresent``, nothing listens on 127.0.0.1:80), tagging it again makes the
kubelet's next retry find it. The daemon runs in-process with the guard on; each task
lives in the reference controller's vault (harness/vault.py) fed from the request topic,
and every scenario ends with the vault showing every task freed at most once and none
lost. Run one at a time: ``flock /tmp/node.lock pytest tests/integration/test_node_storm.py
-m node``.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from harness import workloads
from harness.controller import KafkaController
from harness.daemons import running
from harness.fixtures import create_topics, delete_topics
from harness.vault import ReferenceVault
from harness.waiting import wait_until
from tests.integration.worlds.node_scene import NodeScene
from zombiewatch.adapters.logfields import FIELDS_ATTR

pytestmark = [pytest.mark.integration, pytest.mark.node]

JOBS = 10
REGISTRY_DOWN_SECONDS = 120.0
RUN_TIMEOUT = 420.0
"""After the image is back: the kubelet retries a failed pull on its back-off (10 s,
doubling, capped at 300 s), so a pod waiting two minutes starts within about three."""


@dataclass
class Storm:
    """The scene with a vault: one task per Job, the controller applying the topic."""

    scene: NodeScene
    vault: ReferenceVault
    controller: KafkaController
    socket: Path
    tasks: dict[str, str]
    """job name -> task id."""

    def ctr(self, *args: str) -> None:
        subprocess.run(["ctr", "-a", str(self.socket), "-n", "k8s.io", "images", *args],
                       check=True, capture_output=True, text=True)

    async def job(self, prefix: str, **options: Any) -> str:
        task_id = str(uuid.uuid4())
        name = workloads.unique(prefix)
        self.vault.put(task_id, {"assignee": "claude", "phase": "in_progress",
                                 "status": "in_progress", "current_job": name,
                                 "trigger_count": 0, "target_vault": self.vault.name})
        self.tasks[name] = task_id
        workloads.create_job(self.scene.api, self.scene.namespace, workloads.job_manifest(
            name, task_id=task_id, **options))
        return name

    def freeing(self) -> dict[str, str]:
        """job -> freed_once / doubled / lost (a failure published) or untouched."""
        table = {}
        for name, task_id in self.tasks.items():
            task = self.vault.task(task_id)
            assert task is not None, name
            if task.frontmatter.get("trigger_count") == 0:
                table[name] = "untouched"
            else:
                table[name] = self.vault.freeing(task_id)
        return table

    def complete(self, names: list[str]) -> set[str]:
        batch: Any = client.BatchV1Api(self.scene.api)
        done = set()
        for name in names:
            job = batch.read_namespaced_job(name, self.scene.namespace)
            if any(c.type == "Complete" and c.status == "True"
                   for c in (job.status.conditions or [])):
                done.add(name)
        return done


@pytest.fixture
async def storm(node_scene: NodeScene, tmp_path: Path) -> AsyncIterator[Storm]:
    settings = node_scene.settings
    bootstrap = settings.kafka.brokers
    prefix = settings.kafka.topic_prefix or ""
    events, results = f"{prefix}-agent-task-v1-event", f"{prefix}-agent-task-v1-result"
    create_topics(bootstrap, [events, results], 1)
    controller = KafkaController(
        bootstrap=bootstrap, request_topic=node_scene.reader.topic, event_topic=events,
        result_topic=results, vault=ReferenceVault(tmp_path / "vault", name="personal"),
        poll_interval=10.0)
    await controller.start()
    vault = controller.vault
    assert isinstance(vault, ReferenceVault)
    socket = Path(node_scene.node.handle.values["CONTAINERD_SOCKET"])
    try:
        yield Storm(node_scene, vault, controller, socket, {})
    finally:
        await controller.close()
        delete_topics(bootstrap, [events, results])


@pytest.fixture
def storm_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="zombiewatch.app.storm")
    return caplog


def json_events(records: list[logging.LogRecord], event: str) -> list[dict[str, Any]]:
    """The fields of each ``event`` line the daemon logged."""
    fields = [getattr(record, FIELDS_ATTR, None) for record in records]
    return [f for f in fields if isinstance(f, dict) and f.get("event") == event]


async def test_a_registry_that_refuses_then_serves_publishes_nothing_and_every_job_runs(
    storm: Storm, storm_logs: pytest.LogCaptureFixture,
) -> None:
    # Arrange: the image is known to the node, then removed: its pulls fail.
    image = f"localhost/storm-{uuid.uuid4().hex[:8]}:1"
    storm.ctr("tag", workloads.BUSYBOX, image)
    storm.ctr("rm", image)
    settings = replace(storm.scene.settings, storm_guard=True)
    try:
        async with running(settings) as runtime:
            names = [await storm.job("storm-pull", image=image) for _ in range(JOBS)]
            # Act: two minutes of failing pulls, then the registry serves again.
            await asyncio.sleep(REGISTRY_DOWN_SECONDS)
            held = runtime.metrics.registry.get_sample_value("zombiewatch_storm_held_jobs")
            storm.ctr("tag", workloads.BUSYBOX, image)
            back = time.monotonic()
            await wait_until(lambda: storm.complete(names) == set(names),
                             f"all {JOBS} Jobs complete", timeout=RUN_TIMEOUT, interval=2.0,
                             detail=lambda: f"complete: {sorted(storm.complete(names))}")
            ran = time.monotonic() - back
            await runtime.sweep_now()
            await storm.scene.reader.quiet(5.0)
    finally:
        storm.ctr("rm", image)
    # Assert
    print(f"\n[storm] held {held} during the outage; all {JOBS} ran {ran:.0f} s after the "
          f"image came back; freeing {set(storm.freeing().values())}")
    assert held == JOBS
    assert storm.scene.reader.reasons_by_job() == {}
    assert set(storm.freeing().values()) == {"untouched"}
    opened = json_events(storm_logs.records, "storm_opened")
    closed = json_events(storm_logs.records, "storm_closed")
    assert [o["cause"] for o in opened] == [f"image:{image}"]
    assert [(c["ending"], c["held"], c["released"]) for c in closed] == [
        ("cleared", JOBS, 0)]


async def test_a_tag_that_never_exists_is_one_incident_then_each_task_is_freed_once(
    storm: Storm, storm_logs: pytest.LogCaptureFixture,
) -> None:
    """With a control zombie of no shared cause (a crash) published at once meanwhile."""
    # Arrange: a short, test-set bound.
    hold = 60.0
    image = f"localhost/never-{uuid.uuid4().hex[:8]}:1"
    settings = replace(storm.scene.settings, storm_guard=True, storm_gather_seconds=10.0,
                       storm_hold_seconds=hold)
    async with running(settings) as runtime:
        started = time.monotonic()
        names = [await storm.job("storm-never", image=image) for _ in range(5)]
        await wait_until(
            lambda: runtime.metrics.registry.get_sample_value(
                "zombiewatch_storm_held_jobs") == len(names),
            "every Job held", timeout=60.0)
        # Act: a crash in the same window, then the bound.
        crashed_at = time.monotonic()
        crash = await storm.job("storm-control", args=["false"])
        await wait_until(lambda: crash in storm.scene.reader.reasons_by_job(),
                         "the control zombie published", timeout=60.0)
        control_latency = time.monotonic() - crashed_at
        before_bound = set(storm.scene.reader.reasons_by_job()) - {crash}
        held_for = time.monotonic() - started
        await storm.scene.reader.wait_for_failures(len(names) + 1, timeout=hold + 90.0)
        released = time.monotonic() - started
        for _ in range(3):  # the sweeps and the reaped Jobs' later Failed: nothing again
            await runtime.sweep_now()
        await storm.scene.reader.quiet(10.0)
    await wait_until(lambda: set(storm.freeing().values()) == {"freed_once"},
                     "the vault applied every failure", timeout=30.0,
                     detail=lambda: f"{storm.freeing()}")
    # Assert
    print(f"\n[storm] control published {control_latency:.1f} s after its creation "
          f"(incident held {held_for:.0f} s then); all released {released:.0f} s after the "
          f"first Job (bound {hold:.0f} s)")
    assert before_bound == set()
    assert held_for < hold
    published = storm.scene.reader.reasons_by_job()
    assert sorted(published) == sorted([*names, crash])
    assert all(len(reasons) == 1 for reasons in published.values()), published
    assert published[crash][0].startswith("pod_crash_no_stdout")
    assert set(storm.freeing().values()) == {"freed_once"}
    opened = json_events(storm_logs.records, "storm_opened")
    closed = json_events(storm_logs.records, "storm_closed")
    assert [o["cause"] for o in opened] == [f"image:{image}"]
    assert [(c["ending"], c["held"], c["released"]) for c in closed] == [
        ("expired", len(names), len(names))]
