"""The storm guard in the daemon (app/storm.py between the judge and the reporter), over the
kit's recording fakes: what is held, what is released, once, and what is said."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from tests.builders import job_view, pod_view
from tests.unit.worlds.logs import json_events
from zombiewatch.app.storm import HELD_PATH
from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.job_events import EventReason
from zombiewatch.domain.views import JobView, PodPhase, PodView
from zombiewatch.testing.containers import (
    Fakes,
    faked_container,
    judge_with_cause,
    unit_settings,
)
from zombiewatch.testing.fakes import FakeLeader

IMAGE = Cause(CauseKind.IMAGE, "registry.example/agent:2")


class StormWorld:
    """The container's reporter, detection service and sweeper, the guard on."""

    def __init__(self, *, leading: bool = True, **settings: object) -> None:
        fakes = Fakes(leader=FakeLeader(leading))
        self.clock, self.cache, self.publisher = fakes.clock, fakes.cache, fakes.publisher
        self.events = fakes.events
        c = faked_container(fakes, unit_settings(**{"storm_guard": True, **settings}))
        # The cause the classifier gives an image-pull verdict, stood in for so the guard's
        # wiring is tested on its own.
        judge_with_cause(c, IMAGE)
        self.metrics = c.metrics()
        self.reporter = c.reporter()
        self.detection = c.detection()
        self.sweeper = c.sweeper()
        self.storm = c.storm()

    def pull_failures(self, count: int, prefix: str = "claude") -> list[JobView]:
        jobs = [job_view(f"{prefix}-{n:08x}-20260602090000", task_id=f"task-{prefix}-{n}")
                for n in range(count)]
        for job in jobs:
            self.cache.put_job(job)
            self.pod(pod_view(job, waiting="ImagePullBackOff"))
        return jobs

    def pod(self, pod: PodView) -> None:
        self.cache.put_pod(pod)
        self.detection.on_pod(pod)

    async def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.reporter.flush()

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


async def test_ten_jobs_failing_to_pull_one_image_publish_nothing_and_open_one_incident(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Arrange
    world = StormWorld()
    caplog.set_level(logging.INFO)
    # Act
    jobs = world.pull_failures(10)
    await world.reporter.flush()
    await world.later(60)  # past the gathering
    world.sweeper.sweep_once()  # the sweeper offers them again
    await world.later(600)
    # Assert
    assert world.publisher.reported_jobs() == []
    opened = json_events(caplog.records, "storm_opened")
    assert len(opened) == 1
    assert opened[0]["cause"] == IMAGE.key
    assert opened[0]["jobs"] == 3  # the threshold opened it; the rest joined
    said = world.events.said(EventReason.STORM_HELD)
    assert [job for job, _ in said] == [jobs[0].name]
    assert IMAGE.key in said[0][1]
    assert world.metric("zombiewatch_storm_incidents_open") == 1
    assert world.metric("zombiewatch_storm_held_jobs") == 10
    assert world.metric("zombiewatch_storm_incidents_total", cause_kind="image") == 1
    assert world.storm.next_check() == 900 - 660  # the bound of the first held Job


async def test_a_control_zombie_without_a_cause_in_the_same_window_is_published_at_once(
) -> None:
    # Arrange
    world = StormWorld()
    world.pull_failures(5)
    crashed = job_view("other-0000000a-20260602090000", task_id="task-crash")
    world.cache.put_job(crashed)
    # Act
    world.pod(pod_view(crashed, phase=PodPhase.FAILED, exit_code=1, terminated_reason="Error"))
    await world.reporter.flush()
    # Assert
    assert world.publisher.reported_jobs() == [crashed.name]


async def test_held_jobs_whose_pods_start_publish_nothing_and_the_incident_clears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Arrange
    world = StormWorld()
    caplog.set_level(logging.INFO)
    jobs = world.pull_failures(10)
    await world.later(120)
    # Act: the registry serves again; the kubelet's retries start the pods one by one.
    for n, job in enumerate(jobs):
        world.pod(pod_view(job, phase=PodPhase.RUNNING, running=True))
        await world.later(1 + n)
    # Assert
    assert world.publisher.reported_jobs() == []
    closed = json_events(caplog.records, "storm_closed")
    assert [(c["ending"], c["held"], c["recovered"], c["released"]) for c in closed] == [
        ("cleared", 10, 10, 0)]
    assert world.metric("zombiewatch_storm_jobs_total", outcome="recovered") == 10
    assert world.metric("zombiewatch_storm_incidents_open") == 0
    assert world.metric("zombiewatch_storm_held_jobs") == 0
    assert world.storm.next_check() is None


async def test_after_the_cause_cleared_the_jobs_still_failing_are_published_once() -> None:
    # Arrange
    world = StormWorld()
    jobs = world.pull_failures(4)
    await world.later(120)
    world.pod(pod_view(jobs[0], phase=PodPhase.RUNNING, running=True))
    await world.later(5)
    # Act
    await world.later(300)  # within the recovery time: the others may still pull
    early = world.publisher.reported_jobs()
    await world.later(30)
    world.sweeper.sweep_once()
    await world.later(60)
    # Assert
    assert early == []
    assert sorted(world.publisher.reported_jobs()) == sorted(j.name for j in jobs[1:])
    assert world.metric("zombiewatch_failures_published_total",
                        reason="image_pull_backoff", path=HELD_PATH, cause="image") == 3


async def test_at_the_bound_each_held_job_is_published_once() -> None:
    # Arrange
    world = StormWorld()
    jobs = world.pull_failures(10)
    await world.reporter.flush()  # the run loop's flush right after the events
    await world.later(899)
    world.sweeper.sweep_once()
    before = world.publisher.reported_jobs()
    # Act
    await world.later(1)
    world.sweeper.sweep_once()
    for job in jobs:  # the pods keep failing: every event judges them again
        world.pod(pod_view(job, waiting="ErrImagePull"))
    await world.later(60)
    # Assert
    assert before == []
    assert sorted(world.publisher.reported_jobs()) == sorted(j.name for j in jobs)
    assert world.metric("zombiewatch_storm_jobs_total", outcome="released") == 10


async def test_a_lone_pull_failure_is_published_after_the_gathering() -> None:
    # Arrange
    world = StormWorld()
    job = world.pull_failures(1)[0]
    await world.reporter.flush()  # the run loop's flush right after the event
    await world.later(29)
    # Act
    await world.later(1)
    # Assert
    assert world.publisher.reported_jobs() == [job.name]
    assert world.events.said(EventReason.STORM_HELD) == []


async def test_without_the_guard_every_pull_failure_is_published_at_once() -> None:
    # Arrange
    world = StormWorld(storm_guard=False)
    # Act
    jobs = world.pull_failures(10)
    await world.reporter.flush()
    # Assert
    assert sorted(world.publisher.reported_jobs()) == sorted(j.name for j in jobs)
    assert world.storm.next_check() is None


async def test_a_follower_holds_nothing() -> None:
    # Arrange
    world = StormWorld(leading=False)
    # Act
    world.pull_failures(5)
    # Assert
    assert world.storm.guard is not None
    assert world.storm.guard.held() == []
    assert world.metric("zombiewatch_storm_held_jobs") == 0


def test_the_policy_follows_the_settings() -> None:
    policy = unit_settings(storm_guard=True, storm_threshold=5, storm_gather_seconds=10,
                           storm_window_seconds=300, storm_hold_seconds=120).storm_policy
    assert policy is not None
    assert (policy.threshold, policy.gather, policy.window, policy.hold) == (
        5, timedelta(seconds=10), timedelta(seconds=300), timedelta(seconds=120))
    assert unit_settings(storm_guard=False).storm_policy is None


async def test_the_reporter_s_loop_releases_a_held_job_when_its_gathering_ends() -> None:
    # Arrange: the reporter runs on its own (no flush called by the test); a short
    # gathering, so the loop's timer (real seconds) fires within the test.
    world = StormWorld(storm_gather_seconds=0.1)
    loop = asyncio.get_running_loop().create_task(world.reporter.run())
    await asyncio.sleep(0)  # the loop waits: nothing held, no timer
    try:
        job = world.pull_failures(1)[0]
        await asyncio.sleep(0)
        held = world.publisher.reported_jobs()
        # Act: the gathering ends on the daemon's clock; the loop's next check sees it.
        world.clock.advance(1)
        await asyncio.sleep(0.5)
        published = world.publisher.reported_jobs()
    finally:
        world.reporter.stop()
        await asyncio.wait_for(loop, 5.0)
    # Assert
    assert held == []
    assert published == [job.name]
