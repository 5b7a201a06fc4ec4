"""``zombiewatch run`` as a process: HTTP endpoints, SIGTERM, SIGKILL, two replicas, RBAC."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from harness import kubelet
from harness.daemons import (
    daemon_processes,
    daemon_settings,
    free_port,
    running,
    scrape,
    wait_ready,
)
from harness.services import Services
from harness.support import (
    DEPLOY_BASE,
    CommittedReader,
    apply_config_crd,
    reading,
    request_topic_for,
)
from harness.waiting import wait_until
from zombiewatch.app.settings import Settings

pytestmark = pytest.mark.integration


class Stage:
    def __init__(self, *, services: Services, api_client: Any, namespace: str,
                 reader: CommittedReader, settings: Settings, tmp_path: Path) -> None:
        self.services = services
        self.api_client = api_client
        self.core: Any = client.CoreV1Api(api_client)
        self.batch: Any = client.BatchV1Api(api_client)
        self.namespace = namespace
        self.reader = reader
        self.settings = settings
        self.tmp_path = tmp_path

    def failing_job(self, reason: str = "ImagePullBackOff") -> str:
        task_id = str(uuid.uuid4())
        name = f"claude-{task_id[:8]}-{uuid.uuid4().hex[:6]}"
        job = kubelet.create_agent_job(self.batch, self.namespace, task_id=task_id, name=name)
        pod = kubelet.create_agent_pod(self.core, self.namespace, job=job, task_id=task_id)
        kubelet.set_waiting(self.core, self.namespace, pod, reason)
        return name


@pytest.fixture
async def stage(services: Services, api_client: Any, namespace: str, bootstrap_servers: str,
                tmp_path: Path) -> AsyncIterator[Stage]:
    apply_config_crd(api_client)
    prefix = f"proc-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(bootstrap_servers, prefix)
    settings = daemon_settings(kubeconfig=services.kubeconfig, namespace=namespace,
                               bootstrap=bootstrap_servers, topic_prefix=prefix, leader=True)
    async with reading(bootstrap_servers, topic) as reader:
        yield Stage(services=services, api_client=api_client, namespace=namespace,
                    reader=reader, settings=settings, tmp_path=tmp_path)


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
    assert 'zombiewatch_failures_published_total{path="informer",reason="image_pull_backoff"} 1.0' \
        in metrics
    assert 'zombiewatch_informer_synced{kind="pods"} 1.0' in metrics
    assert proc.process.returncode == 0
    assert exit_seconds < 10.0
    log_text = proc.log_text()
    assert "event=failure_published task=" in log_text
    assert f"job={name}" in log_text
    assert stage.reader.reasons_by_job() == {name: ["image_pull_backoff"]}


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
        name: ["image_pull_backoff"], during: ["pod_crash_no_stdout"]}


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
        first: ["image_pull_backoff"], second: ["pod_crash_no_stdout"]}
    assert "\nzombiewatch_leader 1.0" in follower_metrics


def _service_account_kubeconfig(stage: Stage) -> Path:
    """Apply deploy/'s ServiceAccount, Role and RoleBinding; a kubeconfig with its token."""
    for file_name in ("serviceaccount.yaml", "role.yaml", "rolebinding.yaml"):
        body = yaml.safe_load((DEPLOY_BASE / file_name).read_text())
        body["metadata"]["namespace"] = stage.namespace
        kind = body["kind"]
        if kind == "ServiceAccount":
            stage.core.create_namespaced_service_account(stage.namespace, body)
        elif kind == "Role":
            client.RbacAuthorizationV1Api(stage.api_client).create_namespaced_role(
                stage.namespace, body)
        else:
            client.RbacAuthorizationV1Api(stage.api_client).create_namespaced_role_binding(
                stage.namespace, body)
    core: Any = stage.core
    token = core.create_namespaced_service_account_token(
        "zombiewatch", stage.namespace,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"audiences": [], "expirationSeconds": 3600}}).status.token
    kubeconfig = stage.tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "local", "cluster": {
            "server": stage.services.api_url,
            "certificate-authority": str(stage.services.ca_file)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": "sa",
                                                "namespace": stage.namespace}}],
    }))
    return kubeconfig


async def test_the_deploy_service_account_can_do_everything_the_daemon_needs(
    stage: Stage,
) -> None:
    from dataclasses import replace  # noqa: PLC0415

    settings = replace(stage.settings, kubeconfig=_service_account_kubeconfig(stage))
    async with running(settings) as runtime:
        await wait_until(runtime.leader.is_leader,
                         what="leadership with the SA token")
        name = stage.failing_job()
        await stage.reader.wait_for_failures(1)
        await wait_until(lambda: _annotated(stage, name), what="annotation with the SA token")
        await runtime.sweep_now()
        errors = runtime.metrics.registry.get_sample_value(
            "zombiewatch_annotate_errors_total", {"kind": "forbidden"})

    assert stage.reader.reasons_by_job() == {name: ["image_pull_backoff"]}
    assert errors is None
    coordination: Any = client.CoordinationV1Api(stage.api_client)
    lease = coordination.read_namespaced_lease(
        "zombiewatch", stage.namespace)
    assert lease.spec.holder_identity in ("", None)  # released on stop
