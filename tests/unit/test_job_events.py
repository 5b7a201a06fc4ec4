"""Kubernetes Events on Jobs: the messages, the correlator (dedupe, count bump, rate limit),
the recorder's writes and queue, and the app services saying what they did."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import job_view, pod_view
from tests.unit.worlds.api import FakeApiClient
from tests.unit.worlds.reporting import World
from zombiewatch.adapters.kubernetes.events import KubernetesEventRecorder, event_body
from zombiewatch.app.judging import Detection
from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.detail import safe_detail
from zombiewatch.domain.job_events import (
    MESSAGE_MAX_BYTES,
    Bump,
    CorrelatorSettings,
    Create,
    EventCorrelator,
    EventReason,
    EventType,
    JobEvent,
    JobRef,
    RateLimited,
    event_name,
    reported,
)
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.testing.fakes import T0, FakeClock

JOB = JobRef("agents", "claude-4aa57614-20260602090000", "uid-1")
OOM = reported(JOB, reason=ZombieReason.POD_OOM_KILLED, evidence="OOMKilled/137",
               task_id="task-1")


def other_job(name: str) -> JobEvent:
    return replace(OOM, job_name=name, job_uid=f"uid-{name}")


# --- the messages -----------------------------------------------------------------------------

def test_reported_is_a_warning_naming_the_reason_its_evidence_and_the_task() -> None:
    assert (OOM.type, OOM.reason) == (EventType.WARNING, EventReason.REPORTED)
    assert OOM.message == "pod_oom_killed (OOMKilled/137): failure reported for task task-1"
    plain = reported(JOB, reason=ZombieReason.IMAGE_PULL_BACKOFF, evidence="", task_id="t")
    assert plain.message == "image_pull_backoff: failure reported for task t"


def test_reported_carries_the_detail_of_the_section() -> None:
    event = reported(JOB, reason=ZombieReason.CONTAINER_CONFIG_ERROR,
                     evidence="CreateContainerConfigError", task_id="t",
                     detail='container "agent": secret "db" not found')
    assert event.message == (
        "container_config_error (CreateContainerConfigError): failure reported for task t. "
        'Detail: container "agent": secret "db" not found')


@given(st.text(), st.text(min_size=1, max_size=300))
def test_the_message_stays_within_one_kilobyte_and_keeps_the_detail_s_start(
    detail: str, task: str
) -> None:
    event = reported(JOB, reason=ZombieReason.IMAGE_PULL_BACKOFF, evidence="ErrImagePull",
                     task_id=task, detail=detail)
    head = f"image_pull_backoff (ErrImagePull): failure reported for task {task}"
    assert event.message.startswith(head)
    if len(head.encode()) <= MESSAGE_MAX_BYTES - 20:
        assert len(event.message.encode()) <= MESSAGE_MAX_BYTES
    said = event.message[len(head):].removeprefix(". Detail: ")
    assert said == "" or safe_detail(detail).startswith(said.removesuffix("…"))


def test_a_long_multibyte_detail_is_cut_on_a_whole_character() -> None:
    event = reported(JOB, reason=ZombieReason.POD_EVICTED, evidence="", task_id="t",
                     detail="\U0001F600" * 300)  # 1,200 bytes: past the bound
    assert 1000 < len(event.message.encode()) <= MESSAGE_MAX_BYTES
    assert event.message.endswith("\U0001F600…")


def test_events_are_named_like_client_go_names_them() -> None:
    assert event_name("job-a", T0 + timedelta(microseconds=5)) == (
        f"job-a.{int(T0.timestamp()) * 1_000_000_000 + 5000:x}")


# --- the correlator ---------------------------------------------------------------------------

def test_the_same_event_within_the_window_bumps_the_count_of_the_first() -> None:
    correlator = EventCorrelator()

    first = correlator.observe(OOM, now=T0)
    second = correlator.observe(OOM, now=T0 + timedelta(minutes=1))
    third = correlator.observe(OOM, now=T0 + timedelta(minutes=2))

    assert isinstance(first, Create)
    assert second == Bump(OOM, first.name, 2, T0, T0 + timedelta(minutes=1))
    assert third == Bump(OOM, first.name, 3, T0, T0 + timedelta(minutes=2))


def test_another_message_or_job_or_a_repeat_after_the_window_is_a_new_event() -> None:
    correlator = EventCorrelator(CorrelatorSettings(window=timedelta(minutes=10)))
    first = correlator.observe(OOM, now=T0)

    other_message = correlator.observe(replace(OOM, message="other"), now=T0)
    other_object = correlator.observe(other_job("job-b"), now=T0)
    late = correlator.observe(OOM, now=T0 + timedelta(minutes=11))

    assert isinstance(first, Create)
    assert isinstance(other_message, Create)
    assert isinstance(other_object, Create)
    assert isinstance(late, Create)
    assert late.name != first.name


def test_a_job_gets_a_burst_then_one_event_per_refill() -> None:
    correlator = EventCorrelator(CorrelatorSettings(burst=2, refill=timedelta(minutes=5)))

    decisions = [correlator.observe(OOM, now=T0 + timedelta(seconds=i)) for i in range(3)]
    refilled = correlator.observe(OOM, now=T0 + timedelta(minutes=5, seconds=2))
    again = correlator.observe(OOM, now=T0 + timedelta(minutes=5, seconds=3))
    other = correlator.observe(other_job("job-b"), now=T0 + timedelta(seconds=3))

    assert [type(d) for d in decisions] == [Create, Bump, RateLimited]
    assert isinstance(refilled, Bump)
    assert refilled.count == 3
    assert isinstance(again, RateLimited)
    assert isinstance(other, Create)  # each Job has its own bucket


def test_the_memory_is_bounded_forgetting_the_least_recent_first() -> None:
    correlator = EventCorrelator(CorrelatorSettings(max_keys=2))
    correlator.observe(OOM, now=T0)
    correlator.observe(other_job("job-b"), now=T0)
    correlator.observe(other_job("job-c"), now=T0)

    assert isinstance(correlator.observe(OOM, now=T0), Create)  # forgotten: a new Event
    assert isinstance(correlator.observe(other_job("job-c"), now=T0), Bump)


def test_what_would_act_as_unknown_is_forgotten_so_the_memory_follows_recent_jobs() -> None:
    settings = CorrelatorSettings(window=timedelta(minutes=10), burst=2,
                                  refill=timedelta(minutes=5))
    correlator = EventCorrelator(settings)
    correlator.observe(OOM, now=T0)
    correlator.observe(OOM, now=T0 + timedelta(seconds=1))  # its bucket now empty
    correlator.observe(other_job("job-b"), now=T0)

    correlator.observe(other_job("job-c"), now=T0 + timedelta(minutes=6))
    busy = correlator.sizes  # every Event within the window, the first bucket refilling
    correlator.observe(other_job("job-d"), now=T0 + timedelta(minutes=11))
    idle = correlator.sizes  # c's Event is the only one within the window; d's bucket

    assert busy == (3, 3)
    assert idle == (2, 1)
    assert isinstance(correlator.observe(other_job("job-c"), now=T0 + timedelta(minutes=11)),
                      Bump)
    assert isinstance(correlator.observe(OOM, now=T0 + timedelta(minutes=11)), Create)


# --- the recorder (adapter) -------------------------------------------------------------------

class Counted:
    def __init__(self) -> None:
        self.dropped: list[str] = []
        self.errors: list[str] = []

    def recorder(self, api: FakeApiClient, *, capacity: int = 10,
                 settings: CorrelatorSettings | None = None) -> KubernetesEventRecorder:
        return KubernetesEventRecorder(api, clock=FakeClock(), instance="zw-0",
                                       on_dropped=self.dropped.append,
                                       on_error=self.errors.append, capacity=capacity,
                                       correlator=EventCorrelator(settings or
                                                                  CorrelatorSettings()))


def test_a_new_event_is_posted_on_the_job_with_its_uid_and_our_component() -> None:
    body = event_body(Create(OOM, "job.1", T0), instance="zw-0")

    assert body["involvedObject"] == {"apiVersion": "batch/v1", "kind": "Job",
                                      "namespace": "agents", "name": JOB.name, "uid": "uid-1"}
    assert (body["type"], body["reason"], body["count"]) == ("Warning", "ZombieReported", 1)
    assert body["message"] == OOM.message
    assert body["source"] == {"component": "zombiewatch"}
    assert (body["reportingComponent"], body["reportingInstance"]) == ("zombiewatch", "zw-0")
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-06-02T09:00:00Z"


async def test_writes_are_queued_and_written_in_order_post_then_patch() -> None:
    api, counted = FakeApiClient(), Counted()
    recorder = counted.recorder(api)
    recorder.record(OOM)
    recorder.record(OOM)
    assert api.requests == []  # queued: the caller never waits on the API server

    await recorder.start()
    await recorder.stop()

    (post, path, body, _), (patch, patched, bump, kind) = api.requests
    assert (post, path) == ("POST", "/api/v1/namespaces/agents/events")
    assert isinstance(body, dict)
    assert (patch, patched) == ("PATCH", f"/api/v1/namespaces/agents/events/"
                                         f"{body['metadata']['name']}")
    assert bump == {"count": 2, "lastTimestamp": "2026-06-02T09:00:00Z"}
    assert kind == "application/merge-patch+json"


def test_a_bump_of_an_event_that_is_gone_posts_it_anew_with_its_count() -> None:
    api, counted = FakeApiClient(by_method={"PATCH": 404}), Counted()
    bump = Bump(OOM, "job.1", 4, T0, T0 + timedelta(minutes=3))

    counted.recorder(api).write_blocking(bump)

    assert [r[0] for r in api.requests] == ["PATCH", "POST"]
    body = api.requests[1][2]
    assert isinstance(body, dict)
    assert (body["count"], body["firstTimestamp"], body["lastTimestamp"]) == (
        4, "2026-06-02T09:00:00Z", "2026-06-02T09:03:00Z")
    assert counted.errors == []


@pytest.mark.parametrize(("status", "kind"), [
    (403, "forbidden"), (422, "rejected"), (503, "unavailable")])
def test_a_refused_write_is_counted_by_kind_never_raised(status: int, kind: str) -> None:
    counted = Counted()

    counted.recorder(FakeApiClient(status=status)).write_blocking(Create(OOM, "job.1", T0))

    assert counted.errors == [kind]


def test_a_full_queue_drops_the_event_and_says_so() -> None:
    api, counted = FakeApiClient(), Counted()
    recorder = counted.recorder(api, capacity=2)

    for name in ("a", "b", "c"):
        recorder.record(other_job(name))

    assert counted.dropped == ["queue_full"]


def test_a_rate_limited_event_is_dropped_and_says_so() -> None:
    counted = Counted()
    recorder = counted.recorder(FakeApiClient(), settings=CorrelatorSettings(burst=1))

    recorder.record(OOM)
    recorder.record(OOM)

    assert counted.dropped == ["rate_limited"]


# --- the app services say what they did -------------------------------------------------------

OOM_VERDICT = Verdict(ZombieReason.POD_OOM_KILLED, Rule.FAILED_OOM_KILLED, "OOMKilled/137")


def oom_detection(job_name: str) -> Detection:
    return Detection(task_id="t-1", job_name=job_name, verdict=OOM_VERDICT, path="informer",
                     elapsed=None, seen_monotonic=0.0)


async def test_a_committed_failure_is_reported_on_its_job_with_the_evidence() -> None:
    world = World()
    job = job_view("job-a", task_id="t-1")
    world.cache.put_job(job)
    world.reporter.submit(oom_detection("job-a"))

    await world.settle()

    assert [(e.job_name, e.job_uid, e.type) for e in world.events.events
            if e.reason is EventReason.REPORTED] == [("job-a", job.uid, EventType.WARNING)]
    assert world.events.said(EventReason.REPORTED) == [
        ("job-a", "pod_oom_killed (OOMKilled/137): failure reported for task t-1")]


async def test_nothing_is_said_when_the_publish_fails() -> None:
    world = World()
    world.publisher.fail_next = 1
    world.cache.put_job(job_view("job-a", task_id="t-1"))
    world.reporter.submit(oom_detection("job-a"))

    await world.settle()

    assert world.publisher.published == []
    assert world.events.events == []


async def test_a_reaped_job_is_said_to_be_reaped_after_it_was_reported() -> None:
    world = World()
    job = job_view("job-a", task_id="t-1")
    world.cache.put_job(job)
    world.cache.put_pod(pod_view(job))
    world.reporter.submit(oom_detection("job-a"))

    await world.settle()
    await asyncio.sleep(0)

    assert [e.reason for e in world.events.events] == [
        EventReason.REPORTED, EventReason.REAPED]
    assert world.events.said(EventReason.REAPED) == [
        ("job-a", "reported zombie: activeDeadlineSeconds set to 1 to stop its pods")]
