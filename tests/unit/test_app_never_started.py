"""Never-started verdicts through the daemon's parts: timers, the sweep, the Events'
evidence read once before the report (app/evidence.py), and a failing lookup."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.builders import job_view, pod_view
from tests.unit.worlds.reporting import World
from zombiewatch.app.evidence import EventEvidence
from zombiewatch.app.judging import Detection
from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.event_evidence import EventView
from zombiewatch.domain.never_started import POD_EVENT_REASONS, EventQuery
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.testing.containers import unit_settings
from zombiewatch.testing.fakes import T0, ScriptedEventLookup

JOB = replace(job_view("job-a"), pods_counted=0)
NOT_READY = replace(pod_view(JOB), ready_to_start=False)
MOUNT = EventView(type="Warning", reason="FailedMount",
                  message='MountVolume.SetUp failed for volume "creds" : secret "db" not found',
                  at=T0)


async def test_a_pod_not_ready_to_start_is_published_when_its_grace_ends_and_looked_up_once(
) -> None:
    world = World()
    world.event_lookup.events[NOT_READY.uid] = [MOUNT]
    world.cache.put_job(replace(JOB, pods_counted=1))
    world.clock.advance(30)

    world.pod_event(NOT_READY)
    await world.settle()
    assert world.publisher.published == []
    assert [round(t.delay, 2) for t in world.scheduler.pending()] == [90.05]

    world.clock.advance(91)
    world.scheduler.fire_all()
    await world.settle()
    world.pod_event(NOT_READY)  # seen again: held, no second lookup
    await world.settle()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.CONTAINER_CONFIG_ERROR]
    assert world.event_lookup.looked_up == [("agents", NOT_READY.uid)]


async def test_a_job_without_a_pod_is_judged_again_when_its_grace_from_the_start_ends() -> None:
    world = World()
    world.clock.advance(20)

    world.job_event(JOB)
    await world.settle()
    assert world.publisher.published == []
    assert [round(t.delay, 2) for t in world.scheduler.pending()] == [100.05]

    world.clock.advance(101)
    world.scheduler.fire_all()
    await world.settle()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.POD_NOT_SCHEDULED]
    assert world.event_lookup.looked_up == [("agents", JOB.uid)]


async def test_a_job_whose_pod_appears_within_its_grace_is_never_published() -> None:
    world = World()
    world.job_event(JOB)
    world.clock.advance(60)
    running = replace(pod_view(JOB), ready_to_start=True)
    world.pod_event(running)
    world.job_event(replace(JOB, pods_counted=1))

    world.clock.advance(120)
    world.scheduler.fire_all()
    await world.sweep_all()

    assert world.publisher.published == []
    assert world.event_lookup.looked_up == []


async def test_the_sweeper_catches_a_job_without_a_pod_whose_event_was_missed() -> None:
    world = World()
    world.cache.put_job(JOB)
    world.detection.on_job(JOB)  # the attention index learns it; its timer is lost
    world.scheduler.timers.clear()
    world.clock.advance(121)

    await world.sweep_all()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.POD_NOT_SCHEDULED]


async def test_a_failing_lookup_never_stops_the_report(caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    world.event_lookup.error = "ForbiddenError: events is forbidden"
    world.cache.put_job(JOB)
    world.clock.advance(121)

    with caplog.at_level(logging.WARNING, logger="zombiewatch.app.evidence"):
        world.job_event(JOB)
        await world.settle()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.POD_NOT_SCHEDULED]
    assert [r.getMessage() for r in caplog.records] == [
        "event=evidence_lookup_failed job=job-a "
        "error=\"ForbiddenError: events is forbidden\""]


def _detection(verdict: Verdict) -> Detection:
    return Detection(task_id="t-1", job_name="job-a", verdict=verdict, path="sweeper",
                     elapsed=None, seen_monotonic=time.monotonic())


NEEDS_EVENTS = Verdict(ZombieReason.CONTAINER_CONFIG_ERROR, Rule.NOT_READY_TO_START_PAST_GRACE,
                       detail="from the status",
                       events=EventQuery("agents", "uid-1", POD_EVENT_REASONS))


async def test_the_evidence_fills_detail_and_cause_and_is_asked_for_no_other_verdict() -> None:
    lookup = ScriptedEventLookup(events={"uid-1": [MOUNT]})
    other = _detection(Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL))

    enriched = await EventEvidence(lookup=lookup).enrich([_detection(NEEDS_EVENTS), other])

    assert [d.verdict for d in enriched] == [
        replace(NEEDS_EVENTS, events=None, cause=Cause(CauseKind.OBJECT, "secret/db"),
                detail='FailedMount: MountVolume.SetUp failed for volume "creds" : '
                       'secret "db" not found'),
        other.verdict]
    assert lookup.looked_up == [("agents", "uid-1")]


@pytest.mark.parametrize("lookup", [
    pytest.param(ScriptedEventLookup(), id="no relevant Event"),
    pytest.param(ScriptedEventLookup(error="TransportError: refused"), id="lookup failed"),
])
async def test_without_evidence_the_verdict_keeps_its_own_detail(
    lookup: ScriptedEventLookup,
) -> None:
    enriched = await EventEvidence(lookup=lookup).enrich([_detection(NEEDS_EVENTS)])

    assert [d.verdict for d in enriched] == [replace(NEEDS_EVENTS, events=None)]


class Broken:
    async def events_of(self, *, namespace: str, uid: str) -> object:
        raise RuntimeError("a bug in the lookup")


async def test_a_lookup_that_raises_is_logged_and_the_verdict_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="zombiewatch.app.evidence"):
        enriched = await EventEvidence(lookup=Broken()).enrich(  # type: ignore[arg-type]
            [_detection(NEEDS_EVENTS)])

    assert [d.verdict for d in enriched] == [replace(NEEDS_EVENTS, events=None)]
    assert ["RuntimeError: a bug in the lookup" in r.getMessage() for r in caplog.records] == [
        True]


async def test_the_init_bound_setting_reaches_the_judge() -> None:
    world = World(settings=unit_settings(init_bound_seconds=30))
    pod = replace(pod_view(JOB), ready_to_start=True, init_running_since=T0,
                  init_containers=(replace(pod_view(JOB).containers[0], name="setup",
                                           running=True),))
    world.cache.put_job(replace(JOB, pods_counted=1))

    world.pod_event(pod)
    assert [round(t.delay, 2) for t in world.scheduler.pending()] == [30.05]
    world.clock.advance(31)
    world.scheduler.fire_all()
    await world.settle()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.DEADLINE_EXCEEDED]


class Hanging:
    """A lookup that answers the first uid at once and never answers the others."""

    def __init__(self) -> None:
        self.answered = ScriptedEventLookup(events={"uid-1": [MOUNT]})

    async def events_of(self, *, namespace: str, uid: str) -> object:
        if uid == "uid-1":
            return await self.answered.events_of(namespace=namespace, uid=uid)
        await asyncio.Event().wait()
        raise AssertionError("never answered")


async def test_a_lookup_that_never_answers_costs_the_batch_its_budget_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slow = replace(NEEDS_EVENTS, events=EventQuery("agents", "uid-2", POD_EVENT_REASONS))
    evidence = EventEvidence(lookup=Hanging(), budget_seconds=0.05)  # type: ignore[arg-type]

    with caplog.at_level(logging.WARNING, logger="zombiewatch.app.evidence"):
        enriched = await evidence.enrich([_detection(NEEDS_EVENTS), _detection(slow)])

    assert [(d.verdict.cause, d.verdict.events) for d in enriched] == [
        (Cause(CauseKind.OBJECT, "secret/db"), None), (None, None)]
    assert [r.getMessage() for r in caplog.records] == [
        "event=evidence_lookup_late verdicts=1 budget_s=0.05"]


async def test_an_init_container_starting_within_the_grace_re_arms_the_pods_timer() -> None:
    """The pod's first state (sandbox not ready yet) arms the grace timer; its init
    container then starts and falls due before the grace ends: the timer is re-armed for
    that earlier moment, so the pod is reported when its bound ends, not at the grace."""
    world = World(settings=unit_settings(init_bound_seconds=30))
    world.cache.put_job(replace(JOB, pods_counted=1))
    world.pod_event(NOT_READY)
    assert [round(t.delay, 2) for t in world.scheduler.pending()] == [120.05]

    world.clock.advance(10)
    setup = replace(pod_view(JOB).containers[0], name="setup", running=True)
    world.pod_event(replace(NOT_READY, ready_to_start=True, init_containers=(setup,),
                            init_running_since=T0 + timedelta(seconds=10)))
    assert [round(t.delay, 2) for t in world.scheduler.pending()] == [30.05]

    world.clock.advance(31)
    world.scheduler.fire_all()
    await world.settle()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.DEADLINE_EXCEEDED]


QUOTA = EventView(type="Warning", reason="FailedCreate",
                  message='Error creating: pods "p" is forbidden: exceeded quota: no-pods, '
                  "requested: pods=1, used: pods=0, limited: pods=0", at=T0)


async def test_jobs_one_quota_refuses_are_one_storm_incident_named_by_their_events() -> None:
    # Arrange: the storm guard on; three started Jobs whose every pod the same quota refuses
    world = World(settings=unit_settings(storm_guard=True))
    jobs = [replace(job_view(f"claude-{n:08x}-20260602090000", task_id=f"task-{n}"),
                    pods_counted=0) for n in range(3)]
    for job in jobs:
        world.event_lookup.events[job.uid] = [QUOTA]
        world.cache.put_job(job)
        world.job_event(job)
    # Act: past the grace, then past the gathering
    world.clock.advance(121)
    world.scheduler.fire_all()
    await world.settle()
    world.clock.advance(60)
    await world.settle()
    held = world.publisher.published[:]
    opened = world.metrics.registry.get_sample_value("zombiewatch_storm_incidents_open")
    world.clock.advance(15 * 60)  # the bound
    await world.settle()
    # Assert: held as one incident of the quota the Events name, then each published once
    # with that Event's detail, the Events read once per Job
    assert held == []
    assert opened == 1
    assert sorted(f.job_name for f in world.publisher.published) == sorted(j.name for j in jobs)
    assert {f.reason for f in world.publisher.published} == {ZombieReason.POD_NOT_SCHEDULED}
    assert all("exceeded quota: no-pods" in f.detail for f in world.publisher.published)
    assert sorted(world.event_lookup.looked_up) == sorted(("agents", j.uid) for j in jobs)
