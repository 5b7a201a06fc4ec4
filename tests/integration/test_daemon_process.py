"""``zombiewatch run`` as a process: HTTP endpoints, SIGTERM, SIGKILL, two replicas, RBAC."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import client

from harness.daemons import (
    daemon_processes,
    free_port,
    running,
    scrape,
    wait_ready,
)
from harness.support import DEPLOY_BASE
from harness.waiting import wait_until
from tests.integration.worlds.daemon_stage import Stage, service_account_kubeconfig

pytestmark = pytest.mark.integration


def _termination_grace_seconds() -> float:
    """What deploy/'s Deployment gives a stopping pod before its SIGKILL."""
    deployment = yaml.safe_load((DEPLOY_BASE / "deployment.yaml").read_text())
    return float(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


def leader_of(ports: dict[str, int]) -> str | None:
    for name, port in ports.items():
        status, body = scrape(port)
        if status == 200 and "\nzombiewatch_leader 1.0" in body:
            return name
    return None


async def test_the_daemon_process_serves_health_readiness_metrics_and_stops_on_sigterm(
    stage: Stage,
) -> None:
    port = free_port()
    with daemon_processes(stage.tmp_path) as start:
        proc = start(stage.settings, port=port)
        await wait_ready(proc, port)
        name = stage.failing_job()
        await stage.reader.wait_for_failures(1)
        health = scrape(port, "/healthz")
        metrics = scrape(port, "/metrics")[1]
        exit_seconds = proc.terminate()

    assert health == (200, "ok\n")
    assert ('zombiewatch_failures_published_total{cause="image",path="informer",'
            'reason="image_pull_backoff"} 1.0') in metrics
    assert 'zombiewatch_informer_synced{kind="pods"} 1.0' in metrics
    assert proc.process.returncode == 0
    # Gone before Kubernetes would SIGKILL it (how much sooner depends on the machine).
    assert exit_seconds < _termination_grace_seconds()
    log_text = proc.log_text()
    assert "event=failure_published task=" in log_text
    assert f"job={name}" in log_text
    assert stage.reader.reasons_by_job() == {name: ["image_pull_backoff (ImagePullBackOff)"]}


async def test_a_daemon_killed_hard_after_publishing_does_not_publish_again_on_restart(
    stage: Stage,
) -> None:
    port = free_port()
    with daemon_processes(stage.tmp_path) as start:
        first = start(stage.settings, port=port)
        await wait_ready(first, port)
        name = stage.failing_job()
        await stage.reader.wait_for_failures(1)
        await wait_until(lambda: _annotated(stage, name), what="annotation")
        first.kill()
        during = stage.failing_job("CrashLoopBackOff")

        second = start(stage.settings, port=port)
        await wait_ready(second, port)
        await stage.reader.wait_for_failures(2, timeout=60)
        await stage.reader.quiet(2.0)

    assert stage.reader.reasons_by_job() == {
        name: ["image_pull_backoff (ImagePullBackOff)"],
        during: ["pod_crash_no_stdout (CrashLoopBackOff)"]}


def _annotated(stage: Stage, job_name: str) -> bool:
    job = stage.batch.read_namespaced_job(job_name, stage.namespace)
    return bool((job.metadata.annotations or {}).get("agent.benjamin-borbe.de/zombie-reason"))


async def test_two_replicas_one_leader_publishes_and_the_other_takes_over_when_it_is_killed(
    stage: Stage,
) -> None:
    ports = {"a": free_port(), "b": free_port()}
    with daemon_processes(stage.tmp_path) as start:
        procs = {n: start(stage.settings, port=p, identity=f"replica-{n}")
                 for n, p in ports.items()}
        await wait_until(lambda: leader_of(ports) is not None, what="a leader", timeout=60)
        leader = leader_of(ports)
        assert leader is not None
        follower = "b" if leader == "a" else "a"
        first = stage.failing_job()
        await stage.reader.wait_for_failures(1)

        procs[leader].kill()
        second = stage.failing_job("CrashLoopBackOff")
        await stage.reader.wait_for_failures(
            2, timeout=stage.settings.leader.lease_duration_seconds + 30)
        await stage.reader.quiet(2.0)
        follower_metrics = scrape(ports[follower])[1]

    assert stage.reader.reasons_by_job() == {
        first: ["image_pull_backoff (ImagePullBackOff)"],
        second: ["pod_crash_no_stdout (CrashLoopBackOff)"]}
    assert "\nzombiewatch_leader 1.0" in follower_metrics


async def test_the_deploy_service_account_can_do_everything_the_daemon_needs(
    stage: Stage,
) -> None:
    from dataclasses import replace  # noqa: PLC0415

    settings = replace(stage.settings, kubeconfig=service_account_kubeconfig(stage))
    async with running(settings) as runtime:
        await wait_until(runtime.leader.is_leader,
                         what="leadership with the SA token")
        name = stage.failing_job()
        await stage.reader.wait_for_failures(1)
        await wait_until(lambda: _annotated(stage, name), what="annotation with the SA token")
        await runtime.sweep_now()
        errors = runtime.metrics.registry.get_sample_value(
            "zombiewatch_annotate_errors_total", {"kind": "forbidden"})

    assert stage.reader.reasons_by_job() == {name: ["image_pull_backoff (ImagePullBackOff)"]}
    assert errors is None
    coordination: Any = client.CoordinationV1Api(stage.api_client)
    lease = coordination.read_namespaced_lease(
        "zombiewatch", stage.namespace)
    assert lease.spec.holder_identity in ("", None)  # released on stop
