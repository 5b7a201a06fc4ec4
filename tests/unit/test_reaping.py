"""Laying a zombie to rest (SPEC §14): which reported Jobs are stopped, through the
reporter's after-annotation hook, and how a failed patch is handled."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from returns.result import Failure, Result, Success

from tests.builders import job_view, pod_view
from tests.unit.worlds.api import FakeApiClient
from tests.unit.worlds.reporting import World
from zombiewatch.adapters.kubernetes.job_reaper import KubernetesJobReaper, reap_patch
from zombiewatch.app.reaper import Reaper
from zombiewatch.app.settings import parse_settings
from zombiewatch.domain.ports import ReapError, ReapErrorKind
from zombiewatch.domain.reappolicy import REAPED_DEADLINE_SECONDS, reaped_deadline, should_reap
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import ZOMBIE_REAPED_AT_ANNOTATION, PodPhase
from zombiewatch.testing.fakes import RecordingReaper

JOB = job_view()
PENDING = pod_view(JOB, scheduled=False)
FAILED = pod_view(JOB, phase=PodPhase.FAILED, exit_code=1)


@pytest.mark.parametrize(("job", "pods", "expected"), [
    pytest.param(JOB, (PENDING,), True, id="an unschedulable pod that may still start"),
    pytest.param(JOB, (pod_view(JOB, waiting="ImagePullBackOff"),), True,
                 id="an image that may become pullable"),
    pytest.param(JOB, (FAILED,), False, id="its pod already failed: left alone"),
    pytest.param(JOB, (), False, id="no pod: nothing to stop"),
    pytest.param(replace(JOB, pods_counted=0), (), True,
                 id="started, its pods refused: one may still be admitted"),
    pytest.param(replace(JOB, pods_counted=0, suspended=True), (), False,
                 id="suspended: no pod is meant to start"),
    pytest.param(replace(JOB, pods_counted=1), (), False,
                 id="its pod ended and is gone: nothing to stop"),
    pytest.param(replace(JOB, failed_reason="BackoffLimitExceeded"), (PENDING,), False,
                 id="the Job controller is already stopping it"),
    pytest.param(replace(JOB, complete=True), (PENDING,), False, id="completed"),
    pytest.param(replace(JOB, reaped_at="2026-06-02T09:05:00Z"), (PENDING,), False,
                 id="already reaped"),
    pytest.param(None, (PENDING,), False, id="gone"),
])
def test_which_jobs_are_reaped(job: Any, pods: Any, expected: bool) -> None:
    assert should_reap(job, pods) is expected


def test_the_deadline_is_shortened_to_the_smallest_the_api_accepts() -> None:
    assert reaped_deadline(JOB) == REAPED_DEADLINE_SECONDS == 1
    assert reaped_deadline(replace(JOB, active_deadline_seconds=None)) == 1
    assert reaped_deadline(replace(JOB, active_deadline_seconds=1)) is None


def world_with_reaper(port: RecordingReaper) -> World:
    world = World()
    reaper = Reaper(reaper=port, cache=world.cache, clock=world.clock, metrics=world.metrics,
                    namespace="agents", events=world.job_events)
    # What the container passes as the annotations' on_annotated, with this test's port.
    world.annotations._on_annotated = reaper.annotated
    return world


async def test_a_reported_job_with_a_pod_that_may_start_is_reaped_after_its_annotation() -> None:
    # Arrange
    port = RecordingReaper()
    world = world_with_reaper(port)
    world.cache.put_job(JOB)
    world.cache.put_pod(PENDING)
    world.clock.advance(121)
    # Act
    world.detection.on_pod(world.cache.pods_of_job(JOB.name)[0])
    await world.settle()
    # Assert
    assert world.annotator.annotated == [(JOB.name, ZombieReason.POD_NOT_SCHEDULED)]
    assert port.reaped == [(JOB.name, 1)]
    assert world.metric("zombiewatch_jobs_reaped_total") == 1


async def test_the_jobs_own_deadline_failure_afterwards_is_already_reported() -> None:
    # Arrange: reported and reaped
    port = RecordingReaper()
    world = world_with_reaper(port)
    world.cache.put_job(JOB)
    world.cache.put_pod(PENDING)
    world.clock.advance(121)
    world.detection.on_pod(PENDING)
    await world.settle()
    # Act: the Job controller stops the pod and fails the Job (DeadlineExceeded)
    failed = replace(world.cache.jobs_by_name[JOB.name], failed_reason="DeadlineExceeded",
                     failure_target=True, failed_at=world.clock.now())
    world.cache.put_job(failed)
    world.detection.on_job(failed)
    world.detection.on_pod(replace(PENDING, phase=PodPhase.FAILED))
    await world.settle()
    # Assert
    assert [f.reason for f in world.publisher.published] == [ZombieReason.POD_NOT_SCHEDULED]
    assert port.reaped == [(JOB.name, 1)]


async def test_a_job_whose_pod_already_failed_is_reported_and_left_alone() -> None:
    port = RecordingReaper()
    world = world_with_reaper(port)
    world.cache.put_job(JOB)
    world.cache.put_pod(FAILED)

    world.detection.on_pod(FAILED)
    await world.settle()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.POD_CRASH_NO_STDOUT]
    assert port.reaped == []


@pytest.mark.parametrize("kind", list(ReapErrorKind))
async def test_a_failed_reap_is_counted_and_never_blocks_reporting(kind: ReapErrorKind) -> None:
    # Arrange
    port = RecordingReaper(error=kind)
    world = world_with_reaper(port)
    other = job_view("job-b", task_id="t-b")
    for job in (JOB, other):
        world.cache.put_job(job)
        world.cache.put_pod(pod_view(job, waiting="ErrImagePull"))
    # Act
    for job in (JOB, other):
        world.detection.on_pod(world.cache.pods_of_job(job.name)[0])
    await world.settle()
    # Assert
    assert sorted(world.publisher.reported_jobs()) == sorted([JOB.name, "job-b"])
    assert len(world.annotator.annotated) == 2
    assert world.metric("zombiewatch_reap_errors_total", kind=kind.value) == 2
    assert world.metric("zombiewatch_jobs_reaped_total") == 0


async def test_a_reaper_that_raises_does_not_break_the_annotation_task() -> None:
    class Exploding(RecordingReaper):
        async def reap(self, *, namespace: str, job_name: str, active_deadline_seconds: int,
                       reaped_at: datetime) -> Result[None, ReapError]:
            raise RuntimeError("bug")

    world = world_with_reaper(Exploding())
    world.cache.put_job(JOB)
    world.cache.put_pod(pod_view(JOB, waiting="ErrImagePull"))

    world.detection.on_pod(world.cache.pods_of_job(JOB.name)[0])
    await world.settle()

    assert world.annotator.annotated == [(JOB.name, ZombieReason.IMAGE_PULL_BACKOFF)]
    assert world.metric("zombiewatch_reap_errors_total", kind="internal") == 1


async def test_reaping_is_on_by_default_and_no_reap_turns_it_off() -> None:
    base = ["--namespace", "agents", "--kafka-brokers", "k:9092"]
    on = parse_settings(base, environ={})
    off = parse_settings([*base, "--no-reap"], environ={})
    env_off = parse_settings(base, environ={"REAP": "false"})

    async def reaped(reap: bool) -> list[tuple[str, int]]:
        port, world = RecordingReaper(), World()
        world.cache.put_job(JOB)
        world.cache.put_pod(PENDING)
        reaper = Reaper(reaper=port, cache=world.cache, clock=world.clock,
                        metrics=world.metrics, namespace="agents", events=world.job_events,
                        enabled=reap)
        await reaper.annotated(JOB.name)
        return port.reaped

    assert (on.reap, off.reap, env_off.reap) == (True, False, False)
    assert await reaped(on.reap) == [(JOB.name, REAPED_DEADLINE_SECONDS)]
    assert await reaped(off.reap) == []


# --- the adapter ----------------------------------------------------------------------------

def test_the_reap_patch_shortens_the_deadline_and_stamps_the_annotation() -> None:
    api = FakeApiClient()
    body = reap_patch(1, datetime.fromisoformat("2026-06-02T09:05:00.7+00:00"))

    result = KubernetesJobReaper(api).patch_blocking("agents", "job-a", body)

    assert result == Success(None)
    assert api.requests == [("PATCH", "/apis/batch/v1/namespaces/agents/jobs/job-a", {
        "metadata": {"annotations": {ZOMBIE_REAPED_AT_ANNOTATION: "2026-06-02T09:05:00Z"}},
        "spec": {"activeDeadlineSeconds": 1}}, "application/merge-patch+json")]


@pytest.mark.parametrize(("status", "kind"), [
    (404, ReapErrorKind.NOT_FOUND), (409, ReapErrorKind.CONFLICT),
    (403, ReapErrorKind.FORBIDDEN), (422, ReapErrorKind.REJECTED),
    (503, ReapErrorKind.UNAVAILABLE),
])
def test_patch_failures_come_back_as_their_kind(status: int, kind: ReapErrorKind) -> None:
    result = KubernetesJobReaper(FakeApiClient(status=status)).patch_blocking(
        "agents", "job-a", reap_patch(1, datetime.fromisoformat("2026-06-02T09:05:00+00:00")))

    assert isinstance(result, Failure)
    assert result.failure().kind is kind
