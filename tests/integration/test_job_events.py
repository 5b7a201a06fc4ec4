"""Kubernetes Events on the real API server, with deploy/'s Role: the daemon says on the Job
that it reported it (the reason, the task) and reaped it, and ``kubectl describe job`` shows
both; a repeat of an Event bumps its count (the Role's ``patch`` on events is enough); the
Event lookup of a never-started verdict reads a Job's Warnings (``list`` on events).

The bare API server runs no Job controller: the pod's state is written by the test.
The same proof on the real node is ``test_node_events``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from harness import kubelet
from harness.waiting import wait_until
from tests.integration.worlds.daemon_stage import (
    Stage,
    leading_as_the_service_account,
    service_account_kubeconfig,
)
from tests.integration.worlds.describe import describe_job, event_rows
from zombiewatch.adapters.clock import SystemClock
from zombiewatch.adapters.kubernetes.client import api_client_factory
from zombiewatch.adapters.kubernetes.event_lookup import KubernetesEventLookup
from zombiewatch.adapters.kubernetes.events import KubernetesEventRecorder
from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.event_evidence import evidence_of
from zombiewatch.domain.job_events import JobRef, reported
from zombiewatch.domain.never_started import JOB_EVENT_REASONS
from zombiewatch.domain.reasons import ZombieReason

pytestmark = pytest.mark.integration


def _events(stage: Stage, name: str) -> list[Any]:
    return list(stage.core.list_namespaced_event(
        stage.namespace, field_selector=f"involvedObject.name={name}").items)


def _reasons(stage: Stage, name: str) -> set[str]:
    return {e.reason for e in _events(stage, name)}


async def test_a_reported_and_reaped_job_shows_both_events_in_kubectl_describe(
    stage: Stage,
) -> None:
    # Arrange: the daemon runs with deploy/'s ServiceAccount, Role and RoleBinding
    async with leading_as_the_service_account(stage) as runtime:
        # Act
        name = stage.failing_job("ErrImagePull")
        await stage.reader.wait_for_failures(1)
        await wait_until(lambda: {"ZombieReported", "ZombieReaped"} <= _reasons(stage, name),
                         what="both Events on the Job")
        errors = runtime.metrics.registry.get_sample_value("zombiewatch_event_errors_total",
                                                           {"kind": "forbidden"})
    # Assert
    job = stage.batch.read_namespaced_job(name, stage.namespace)
    task_id = job.metadata.labels["agent.benjamin-borbe.de/task-id"]
    events = {e.reason: e for e in _events(stage, name)}
    said = events["ZombieReported"]
    assert (said.type, said.involved_object.uid, said.involved_object.kind) == (
        "Warning", job.metadata.uid, "Job")
    assert said.message == (  # the section's Reason and Detail lines
        f"image_pull_backoff (ErrImagePull): failure reported for task {task_id}. "
        f'Detail: image "{kubelet.DEFAULT_IMAGE}"')
    assert (said.reporting_component, said.source.component) == ("zombiewatch", "zombiewatch")
    assert events["ZombieReaped"].type == "Normal"
    rows = event_rows(describe_job(stage.services.kubeconfig, stage.namespace, name))
    assert any("ZombieReported" in row and "image_pull_backoff" in row and task_id in row
               for row in rows), rows
    assert any("ZombieReaped" in row for row in rows), rows
    assert errors is None


async def test_a_repeated_event_is_one_event_whose_count_is_bumped(stage: Stage) -> None:
    # Arrange: the recorder writes with deploy/'s Role (create, then patch for the repeat)
    name = stage.failing_job("ErrImagePull")
    job = stage.batch.read_namespaced_job(name, stage.namespace)
    api = api_client_factory(str(service_account_kubeconfig(stage)))()
    dropped: list[str] = []
    errors: list[str] = []
    recorder = KubernetesEventRecorder(api, clock=SystemClock(), instance="test",
                                       on_dropped=dropped.append, on_error=errors.append)
    event = reported(JobRef(stage.namespace, name, job.metadata.uid),
                     reason=ZombieReason.IMAGE_PULL_BACKOFF, evidence="",
                     task_id=str(uuid.uuid4()))
    # Act
    await recorder.start()
    try:
        for _ in range(3):
            recorder.record(event)
    finally:
        await recorder.stop()
        api.close()
    # Assert
    (written,) = _events(stage, name)
    assert (written.reason, written.count) == ("ZombieReported", 3)
    assert (dropped, errors) == ([], [])


async def test_the_event_lookup_reads_a_jobs_warnings_with_the_role(stage: Stage) -> None:
    # Arrange: the Job controller's FailedCreate as it writes it, on one Job only
    name, other = stage.failing_job("ErrImagePull"), stage.failing_job("ErrImagePull")
    jobs = {n: stage.batch.read_namespaced_job(n, stage.namespace) for n in (name, other)}
    for job_name, message in ((name, QUOTA_REFUSAL), (other, "something else")):
        job = jobs[job_name]
        stage.core.create_namespaced_event(stage.namespace, {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{job_name}.{uuid.uuid4().hex[:8]}"},
            "involvedObject": {"apiVersion": "batch/v1", "kind": "Job",
                               "namespace": stage.namespace, "name": job_name,
                               "uid": job.metadata.uid},
            "type": "Warning", "reason": "FailedCreate", "message": message,
            "lastTimestamp": "2026-12-07T22:00:00Z", "count": 1,
            "source": {"component": "job-controller"}})
    api = api_client_factory(str(service_account_kubeconfig(stage)))()
    # Act
    try:
        result = await KubernetesEventLookup(api).events_of(
            namespace=stage.namespace, uid=jobs[name].metadata.uid)
    finally:
        api.close()
    # Assert
    events = result.unwrap()
    assert [(e.type, e.reason, e.message) for e in events] == [
        ("Warning", "FailedCreate", QUOTA_REFUSAL)]
    evidence = evidence_of(events, JOB_EVENT_REASONS)
    assert evidence is not None
    assert evidence.cause == Cause(CauseKind.ADMISSION, "quota/no-pods")


QUOTA_REFUSAL = ('Error creating: pods "x-abcde" is forbidden: exceeded quota: no-pods, '
                 "requested: pods=1, used: pods=0, limited: pods=0")
