"""Jobs that never start, on the real node (issue 22): each reported once its grace (or the
init bound) has passed, with the reason the reference controller writes into its vault, and
never a pod that is merely slow and then starts.

The kubelet, the scheduler, the Job controller and the API server's admission write every
state; nothing is patched. The daemon runs in-process with a short grace and init bound; a
reference controller (today's: ``read_uncommitted``, 60-minute expiry) applies the request
topic to its vault. Each case prints its latency: from the moment the verdict was due (the
pod's ``creationTimestamp`` + grace, the Job's ``startTime`` + grace, the init container's
``startedAt`` + bound; whole seconds as the API writes them, so up to 1 s too early) to the
moment the failure was read back committed from the topic. docs/DOMAIN.md records them.
With ``ZOMBIEWATCH_RECORD_CORPUS=1`` each case also writes its namespace's Jobs and pods to
``tests/data/node_corpus/never_started_<case>.json`` (``explain`` judges them in the unit
tests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from harness import workloads
from harness.controller import KafkaController
from harness.daemons import running
from harness.fixtures import create_topics, delete_topics
from harness.support import PublishedFailure
from harness.vault import ReferenceVault
from harness.waiting import wait_until
from tests.integration.worlds.node_scene import WAIT, NodeScene

pytestmark = [pytest.mark.integration, pytest.mark.node]

GRACE = 10.0
"""The daemon's grace here (120 s by default): long enough for a healthy pod on a loaded
2-core node to get its sandbox, short enough that the file runs in a few minutes."""
INIT_BOUND = 8.0
"""The daemon's init bound here (600 s by default)."""
SLOW_GRACE = 40.0
"""The grace of the boundary case: the missing Secret appears well inside it."""


@dataclass
class World:
    """The node scene, a reference controller with its vault, and the daemon's settings."""

    scene: NodeScene
    controller: KafkaController
    vault: ReferenceVault

    @property
    def settings(self) -> Any:
        return dataclasses.replace(self.scene.settings, grace_seconds=GRACE,
                                   init_bound_seconds=INIT_BOUND)

    @property
    def core(self) -> Any:
        return client.CoreV1Api(self.scene.api)

    @property
    def namespace(self) -> str:
        return self.scene.namespace

    async def job(self, prefix: str, **options: Any) -> tuple[str, str]:
        """A task in the vault (in the controller's feed) and its agent Job: (job, task id)."""
        task_id = str(uuid.uuid4())
        name = workloads.unique(prefix)
        self.vault.put(task_id, {"assignee": "claude", "phase": "in_progress",
                                 "status": "in_progress", "current_job": name,
                                 "trigger_count": 0, "target_vault": self.vault.name})
        await self.controller.publish_task(task_id)
        workloads.create_job(self.scene.api, self.namespace,
                             workloads.job_manifest(name, task_id=task_id, **options))
        return name, task_id

    async def pod_where(self, job_name: str, holds: Callable[[Any], bool], what: str) -> Any:
        """The Job's pod once ``holds`` is true of it."""
        found: list[Any] = []

        def seen() -> bool:
            found[:] = [p for p in workloads.job_pods(self.scene.api, self.namespace, job_name)
                        if holds(p)]
            return bool(found)

        await wait_until(seen, what=f"{what} ({job_name})", timeout=WAIT)
        return found[0]

    async def freed_once(self, task_id: str, reason: str) -> None:
        """The vault shows the task freed exactly once, its failure naming ``reason``."""
        await wait_until(lambda: self.vault.freeing(task_id) == "freed_once",
                         what=f"task {task_id} freed", timeout=WAIT)
        await self.scene.reader.quiet(2.0)
        task = self.vault.task(task_id)
        assert task is not None
        assert self.vault.freeing(task_id) == "freed_once"
        assert f"- **Reason:** {reason}" in task.body, task.body


@pytest.fixture
async def world(node_scene: NodeScene, tmp_path: Path) -> AsyncIterator[World]:
    prefix = node_scene.settings.kafka.topic_prefix
    bootstrap = node_scene.node.bootstrap_servers
    events, results = f"{prefix}-agent-task-v1-event", f"{prefix}-agent-task-v1-result"
    create_topics(bootstrap, [events, results], 1)
    vault = ReferenceVault(tmp_path / "vault")
    controller = KafkaController(bootstrap=bootstrap, request_topic=node_scene.reader.topic,
                                 event_topic=events, result_topic=results, vault=vault,
                                 poll_interval=10.0, isolation="read_uncommitted")
    await controller.start()
    try:
        yield World(node_scene, controller, vault)
    finally:
        await controller.close()
        delete_topics(bootstrap, [events, results])


def condition(pod: Any, kind: str) -> str | None:
    """The status of the pod's condition ``kind`` ("True", "False"), None without it."""
    return next((c.status for c in (pod.status.conditions or []) if c.type == kind), None)


def not_ready_to_start(pod: Any) -> bool:
    return (pod.status.phase == "Pending" and condition(pod, "PodScheduled") == "True"
            and condition(pod, "PodReadyToStartContainers") == "False")


def latency(case: str, due: datetime, failure: PublishedFailure) -> float:
    """Seconds from ``due`` to the failure read back (its last record), printed."""
    delivered = time.time() - (time.monotonic() - failure.seen_at)
    seconds = delivered - due.timestamp()
    print(f"\n[never-started latency] {case}: {seconds:.2f} s after the verdict was due")
    return seconds


def the_failure(world: World, job_name: str) -> PublishedFailure:
    failures = [f for f in world.scene.reader.failures() if f.job_name == job_name]
    assert len(failures) == 1, world.scene.reader.reasons_by_job()
    return failures[0]


def cause_logged(caplog: pytest.LogCaptureFixture, job_name: str) -> str:
    """The cause the daemon read from the Events for ``job_name`` (its ``verdict_evidence``)."""
    lines = [r.getMessage() for r in caplog.records
             if "event=verdict_evidence" in r.getMessage() and f"job={job_name}" in r.getMessage()]
    assert len(lines) == 1, lines
    return lines[0]


async def _pod_case(world: World, caplog: pytest.LogCaptureFixture, case: str, *,
                    options: dict[str, Any], cause: str) -> float:
    """A pod that never gets ready to start: container_config_error once past the grace."""
    caplog.set_level(logging.INFO, logger="zombiewatch.app.evidence")
    async with running(world.settings):
        name, task_id = await world.job(case, **options)
        pod = await world.pod_where(name, not_ready_to_start, "PodReadyToStartContainers=False")
        due = pod.metadata.creation_timestamp + timedelta(seconds=GRACE)
        await world.scene.reader.wait_for_failures(1, timeout=WAIT + GRACE)
        world.scene.record(f"never_started_{case.replace('-', '_')}")
        await world.freed_once(task_id, "container_config_error")

    assert world.scene.reader.reasons_by_job() == {name: ["container_config_error"]}
    assert f"cause={cause}" in cause_logged(caplog, name)
    seconds = latency(case, due, the_failure(world, name))
    assert 0 <= seconds + 1 < 10  # not before it was due (1 s: the API's whole seconds)
    return seconds


async def test_a_secret_volume_that_cannot_mount_is_container_config_error(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    secret = f"missing-{uuid.uuid4().hex[:6]}"
    await _pod_case(world, caplog, "missing-secret-volume", cause=f"object:secret/{secret}",
                    options={"pod_spec": {"volumes": [
                        {"name": "creds", "secret": {"secretName": secret}}]},
                        "container": {"volumeMounts": [
                            {"name": "creds", "mountPath": "/creds"}]}})


async def test_a_runtime_handler_the_node_lacks_is_container_config_error(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    node_v1: Any = client.NodeV1Api(world.scene.api)
    runtime_class = f"zw-{uuid.uuid4().hex[:8]}"
    handler = "zw-no-such-handler"
    node_v1.create_runtime_class({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                                  "metadata": {"name": runtime_class}, "handler": handler})
    try:
        await _pod_case(world, caplog, "unknown-runtime-handler", cause=f"sandbox:{handler}",
                        options={"pod_spec": {"runtimeClassName": runtime_class}})
    finally:
        node_v1.delete_runtime_class(runtime_class)


async def _no_pod_case(world: World, caplog: pytest.LogCaptureFixture, case: str,
                       cause: str) -> float:
    """A Job whose every pod is refused: pod_not_scheduled once its grace from the start
    has passed."""
    caplog.set_level(logging.INFO, logger="zombiewatch.app.evidence")
    batch: Any = client.BatchV1Api(world.scene.api)
    async with running(world.settings):
        name, task_id = await world.job(case)
        job = await asyncio.to_thread(workloads.wait_for, lambda: batch.read_namespaced_job(
            name, world.namespace), lambda j: j.status.start_time is not None,
            timeout=WAIT, what=f"startTime of {name}")
        due = job.status.start_time + timedelta(seconds=GRACE)
        await world.scene.reader.wait_for_failures(1, timeout=WAIT + GRACE)
        world.scene.record(f"never_started_{case.replace('-', '_')}")
        await world.freed_once(task_id, "pod_not_scheduled")
        assert workloads.job_pods(world.scene.api, world.namespace, name) == []
        # Reaped: its deadline shortened, the Job ends (no pod admitted later, and the task
        # is no longer blocked by an active Job).
        ended = await asyncio.to_thread(workloads.wait_for, lambda: batch.read_namespaced_job(
            name, world.namespace), lambda j: "Failed" in workloads.job_condition_types(j),
            timeout=WAIT, what=f"{name} Failed once reaped")
        assert ended.spec.active_deadline_seconds == 1

    assert world.scene.reader.reasons_by_job() == {name: ["pod_not_scheduled"]}
    assert f"cause={cause}" in cause_logged(caplog, name)
    seconds = latency(case, due, the_failure(world, name))
    assert 0 <= seconds + 1 < 10
    return seconds


async def test_a_quota_that_admits_no_pod_is_pod_not_scheduled(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    quota = "no-pods"
    world.core.create_namespaced_resource_quota(world.namespace, {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": quota},
        "spec": {"hard": {"pods": "0"}}})
    # Admission refuses with "exceeded quota" only once the quota controller has counted.
    await wait_until(lambda: (world.core.read_namespaced_resource_quota(
        quota, world.namespace).status.hard or {}).get("pods") == "0",
        what="the quota counted", timeout=WAIT)
    await _no_pod_case(world, caplog, "quota-no-pods", f"admission:quota/{quota}")


async def test_a_pod_security_refusal_is_pod_not_scheduled(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    # The agent's pod runs as root without a seccomp profile: "restricted" refuses it.
    world.core.patch_namespace(world.namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    await _no_pod_case(world, caplog, "pod-security", "admission:podsecurity/restricted")


async def test_an_init_container_past_its_bound_is_deadline_exceeded(world: World) -> None:
    async with running(world.settings):
        name, task_id = await world.job("init-never-ends", pod_spec={"initContainers": [
            {"name": "setup", "image": workloads.BUSYBOX, "imagePullPolicy": "IfNotPresent",
             "args": ["sleep", "3600"]}]})
        pod = await world.pod_where(name, lambda p: any(
            s.state.running is not None for s in p.status.init_container_statuses or ()),
            "a running init container")
        started = pod.status.init_container_statuses[0].state.running.started_at
        due = started + timedelta(seconds=INIT_BOUND)
        await world.scene.reader.wait_for_failures(1, timeout=WAIT + INIT_BOUND)
        world.scene.record("never_started_init_past_bound")
        await world.freed_once(task_id, "deadline_exceeded")

    assert world.scene.reader.reasons_by_job() == {name: ["deadline_exceeded"]}
    seconds = latency("init-past-bound", due, the_failure(world, name))
    assert 0 <= seconds + 1 < 10


async def test_a_pod_whose_secret_appears_within_the_grace_starts_and_nothing_is_published(
    world: World,
) -> None:
    batch: Any = client.BatchV1Api(world.scene.api)
    secret = f"late-{uuid.uuid4().hex[:6]}"
    settings = dataclasses.replace(world.settings, grace_seconds=SLOW_GRACE)
    async with running(settings) as runtime:
        name, task_id = await world.job("slow-secret", args=["cat", "/creds/token"], pod_spec={
            "volumes": [{"name": "creds", "secret": {"secretName": secret}}]}, container={
            "volumeMounts": [{"name": "creds", "mountPath": "/creds"}]})
        pod = await world.pod_where(name, not_ready_to_start, "PodReadyToStartContainers=False")
        world.core.create_namespaced_secret(world.namespace, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret},
            "stringData": {"token": "late"}})
        await asyncio.to_thread(workloads.wait_for, lambda: batch.read_namespaced_job(
            name, world.namespace), lambda j: "Complete" in workloads.job_condition_types(j),
            timeout=WAIT, what=f"{name} Complete")
        world.scene.record("never_started_secret_in_time")
        ends = pod.metadata.creation_timestamp + timedelta(seconds=SLOW_GRACE + 2)
        await asyncio.sleep(max(0.0, ends.timestamp() - time.time()))
        await runtime.sweep_now()
        await world.scene.reader.quiet(2.0)

    assert world.scene.reader.failures() == []
    task = world.vault.task(task_id)
    assert task is not None
    assert task.frontmatter.get("trigger_count") == 0
