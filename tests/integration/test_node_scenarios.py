"""Every daemon scenario on real workloads: the node's kubelet, scheduler and Job controller
write the states, the daemon runs in-process against the node and a real Kafka broker.

No status is patched. Each scenario reads the topic back (``read_committed``) and checks the
exact failures published. With ``ZOMBIEWATCH_RECORD_CORPUS=1`` each scenario also writes
``kubectl get jobs,pods -o json`` of its namespace, at the moment the daemon published (or,
for the healthy Job, once it completed), to ``tests/data/node_corpus/<scenario>.json``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from harness import workloads
from harness.daemons import daemon_processes, daemon_settings, free_port, running, scrape
from harness.support import (
    PULL_EITHER,
    create_config,
    pull_either,
)
from harness.waiting import wait_until
from tests.integration.worlds.node_scene import GRACE, WAIT, NodeScene

pytestmark = [pytest.mark.integration, pytest.mark.node]

MISSING = workloads.MISSING_IMAGE
SCENARIOS: dict[str, tuple[dict[str, Any], str]] = {
    "missing_image": ({"image": MISSING}, PULL_EITHER),
    "init_container_cannot_pull": (
        {"pod_spec": {"initContainers": [{"name": "init", "image": MISSING,
                                          "imagePullPolicy": "IfNotPresent"}]}},
        PULL_EITHER),
    "exit_1_before_output": ({"args": ["false"]}, "pod_crash_no_stdout (Error/1)"),
    "env_from_missing_secret": (
        {"container": {"envFrom": [{"secretRef": {"name": "does-not-exist"}}]}},
        "container_config_error (CreateContainerConfigError)"),
    "node_selector_matches_nothing": (
        {"pod_spec": {"nodeSelector": {"zombiewatch.test/no-such-node": "true"}}},
        "pod_not_scheduled"),
    "active_deadline_exceeded": (
        {"args": ["sleep", "3600"], "active_deadline_seconds": 5}, "deadline_exceeded"),
}


# On a real cluster the Job controller marks the Job FailureTarget/DeadlineExceeded, then
# kills the pod (exit 137, pod Failed) and writes Failed/DeadlineExceeded only once the pod is
# terminal: FailureTarget counts as Failed, and the Job's own deadline explains its pod's 137.
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_each_real_failure_publishes_exactly_its_reason(node_scene: NodeScene,
                                                              scenario: str) -> None:
    options, reason = SCENARIOS[scenario]
    async with running(node_scene.settings) as runtime:
        name = node_scene.job(scenario.replace("_", "-")[:40], **options)
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        node_scene.record(scenario)
        await runtime.sweep_now()
        await node_scene.reader.quiet(2.0)

    assert pull_either(node_scene.reader.reasons_by_job()) == {name: [reason]}


async def test_a_healthy_job_is_never_published(node_scene: NodeScene) -> None:
    batch: Any = client.BatchV1Api(node_scene.api)
    async with running(node_scene.settings) as runtime:
        name = node_scene.job("healthy", args=["echo", "done"])
        await wait_until(lambda: "Complete" in workloads.job_condition_types(
            batch.read_namespaced_job(name, node_scene.namespace)), timeout=WAIT,
            what=f"Job {name} Complete")
        node_scene.record("healthy_job")
        await runtime.sweep_now()
        await node_scene.reader.quiet(GRACE + 1.0)

    assert node_scene.reader.failures() == []


async def _running_pod(scene: NodeScene, job_name: str) -> str:
    """Wait until the Job's pod runs; return its name."""
    found: list[str] = []

    def running_pod() -> bool:
        pods = workloads.job_pods(scene.api, scene.namespace, job_name)
        found[:] = [p.metadata.name for p in pods if p.status.phase == "Running"]
        return bool(found)

    await wait_until(running_pod, timeout=WAIT, what=f"a Running pod of {job_name}")
    return found[0]


async def test_oom_of_the_main_process_is_pod_oom_killed(node_scene: NodeScene) -> None:
    hog = "x=$(head -c 67108864 /dev/zero | tr '\\000' a); echo never"
    async with running(node_scene.settings):
        name = node_scene.job("oom", args=["sh", "-c", hog], container={
            "resources": {"limits": {"memory": "8Mi"}, "requests": {"memory": "8Mi"}}})
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        node_scene.record("oom_main_process")
        await node_scene.reader.quiet(2.0)

    assert node_scene.reader.reasons_by_job() == {name: ["pod_oom_killed (OOMKilled/137)"]}
    pod = workloads.job_pods(node_scene.api, node_scene.namespace, name)[0]
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)


async def test_eviction_api_is_pod_evicted(node_scene: NodeScene) -> None:
    """A real eviction: DisruptionTarget=True (EvictionByEvictionAPI) while the pod still
    runs, the Job's FailureTarget (BackoffLimitExceeded) about a second later, then the pod
    Failed exit 137 and deleted. The Job's verdict waits for the pod's end: pod_evicted."""
    core: Any = client.CoreV1Api(node_scene.api)
    async with running(node_scene.settings):
        name = node_scene.job("evicted", args=["sleep", "3600"])
        pod = await _running_pod(node_scene, name)
        core.create_namespaced_pod_eviction(pod, node_scene.namespace, client.V1Eviction(
            metadata=client.V1ObjectMeta(name=pod, namespace=node_scene.namespace)))
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        node_scene.record("eviction_api")
        await node_scene.reader.quiet(2.0)

    assert node_scene.reader.reasons_by_job() == {name: ["pod_evicted"]}


async def test_deleting_the_pod_is_published_once(node_scene: NodeScene) -> None:
    core: Any = client.CoreV1Api(node_scene.api)
    async with running(node_scene.settings):
        name = node_scene.job("deleted", args=["sleep", "3600"])
        pod = await _running_pod(node_scene, name)
        core.delete_namespaced_pod(pod, node_scene.namespace)
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        node_scene.record("delete_pod")
        await node_scene.reader.quiet(3.0)

    assert node_scene.reader.reasons_by_job() == {name: ["pod_crash_no_stdout (Error/137)"]}


async def test_a_job_whose_pod_never_appears_is_lost_past_its_deadline(
    node_scene: NodeScene,
) -> None:
    """The ServiceAccount admission refuses every pod of this Job: the Job controller
    starts the Job but no pod ever exists; past the Config's deadline the sweeper reports.

    The grace is longer than the deadline here, so the deadline rule decides before the
    never-started Job row would (``pod_not_scheduled`` at the grace:
    test_node_never_started.py)."""
    create_config(node_scene.api, node_scene.namespace, "claude", {
        "assignee": "claude", "heartbeat": "1s", "zombieJobTimeoutSeconds": 30})
    batch: Any = client.BatchV1Api(node_scene.api)
    settings = dataclasses.replace(node_scene.settings, grace_seconds=120.0)
    async with running(settings) as runtime:
        await wait_until(lambda: any(True for _ in runtime.cache.configs()), what="config")
        name = node_scene.job("nopod", pod_spec={"serviceAccountName": "does-not-exist"})
        await wait_until(lambda: batch.read_namespaced_job(
            name, node_scene.namespace).status.start_time is not None, what="startTime")
        await asyncio.sleep(31)
        assert workloads.job_pods(node_scene.api, node_scene.namespace, name) == []
        assert node_scene.reader.failures() == []
        await runtime.sweep_now()
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        node_scene.record("no_pod_past_deadline")

    assert node_scene.reader.reasons_by_job() == {name: ["executor_watch_lost"]}


async def test_a_restarted_daemon_does_not_publish_again_but_catches_what_happened_meanwhile(
    node_scene: NodeScene,
) -> None:
    async with running(node_scene.settings):
        first = node_scene.job("before", image=MISSING)
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
    batch: Any = client.BatchV1Api(node_scene.api)
    second = node_scene.job("meanwhile", args=["false"])
    await wait_until(lambda: "Failed" in workloads.job_condition_types(
        batch.read_namespaced_job(second, node_scene.namespace)), timeout=WAIT,
        what=f"Job {second} Failed while no daemon runs")

    async with running(node_scene.settings) as runtime:
        await node_scene.reader.wait_for_failures(2, timeout=WAIT)
        await runtime.sweep_now()
        await node_scene.reader.quiet(2.0)

    # The second Job's pod is gone (the Job controller removes its tracking finalizer and
    # the pod stays Failed): whichever the daemon reads first, the pod (exit 1) or the Job
    # (BackoffLimitExceeded, no pod: a bare crash), the reason is pod_crash_no_stdout, with
    # the pod's evidence when the pod was read: once, either way.
    reasons = pull_either(node_scene.reader.reasons_by_job())
    assert reasons[first] == [PULL_EITHER]
    assert reasons[second] in (["pod_crash_no_stdout"], ["pod_crash_no_stdout (Error/1)"])
    assert set(reasons) == {first, second}


async def test_kafka_down_publishes_nothing_then_publishes_once_when_back(
    node_scene: NodeScene,
) -> None:
    async with running(node_scene.settings) as runtime:
        node_scene.node.stop_kafka()
        try:
            name = node_scene.job("kafka-down", image=MISSING)
            await wait_until(lambda: any(
                workloads.waiting_reasons(p) and workloads.waiting_reasons(p)[0] in
                ("ErrImagePull", "ImagePullBackOff")
                for p in workloads.job_pods(node_scene.api, node_scene.namespace, name)),
                timeout=WAIT, what="the pull failure")
            await asyncio.sleep(node_scene.settings.kafka.publish_timeout_seconds + 2)
            await runtime.sweep_now()
        finally:
            node_scene.node.start_kafka()
        await runtime.sweep_now()
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)
        await runtime.sweep_now()
        await node_scene.reader.quiet(2.0)

    assert pull_either(node_scene.reader.reasons_by_job()) == {name: [PULL_EITHER]}


def _leader_of(ports: dict[str, int]) -> str | None:
    for name, port in ports.items():
        status, body = scrape(port)
        if status == 200 and "\nzombiewatch_leader 1.0" in body:
            return name
    return None


async def test_two_replicas_one_leader_publishes_and_the_other_takes_over(
    node_scene: NodeScene, tmp_path: Path,
) -> None:
    settings = daemon_settings(
        kubeconfig=node_scene.node.kubeconfig, namespace=node_scene.namespace,
        bootstrap=node_scene.node.bootstrap_servers,
        topic_prefix=node_scene.settings.kafka.topic_prefix or "", leader=True,
        grace_seconds=GRACE)
    ports = {"a": free_port(), "b": free_port()}
    with daemon_processes(tmp_path) as start:
        replicas = {n: start(settings, port=p, identity=f"replica-{n}")
                    for n, p in ports.items()}
        await wait_until(lambda: _leader_of(ports) is not None, what="a leader", timeout=90)
        leader = _leader_of(ports)
        assert leader is not None
        follower = "b" if leader == "a" else "a"
        first = node_scene.job("leader", image=MISSING)
        await node_scene.reader.wait_for_failures(1, timeout=WAIT)

        replicas[leader].kill()
        second = node_scene.job("follower", args=["false"])
        await node_scene.reader.wait_for_failures(
            2, timeout=settings.leader.lease_duration_seconds + WAIT)
        await node_scene.reader.quiet(2.0)
        follower_metrics = scrape(ports[follower])[1]

    assert pull_either(node_scene.reader.reasons_by_job()) == {
        first: [PULL_EITHER], second: ["pod_crash_no_stdout (Error/1)"]}
    assert "\nzombiewatch_leader 1.0" in follower_metrics
