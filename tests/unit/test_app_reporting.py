"""The publish path: dedupe layers, leadership, record-after-commit, annotation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from returns.result import Result

from tests.builders import job_view, pod_view
from tests.unit.worlds.reporting import World
from zombiewatch.domain.commands import FailureReport, UpdateFrontmatter
from zombiewatch.domain.doctrine import ReportedFailure
from zombiewatch.domain.job_events import EventReason
from zombiewatch.domain.ports import BrokerErrorKind, PublishError, ReadError
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState
from zombiewatch.domain.views import ContainerView, PodPhase
from zombiewatch.testing.fakes import T0, RecordingPublisher


async def test_a_late_failure_of_a_job_its_task_replaced_is_never_published() -> None:
    """The task was re-dispatched (the feed names a newer Job): reporting the old one would
    clear the new Job's current_job. A Job the feed still names is reported as usual."""
    old, new = job_view("claude-4aa57614-20260602090000"), job_view(
        "claude-4aa57614-20260602093000", started_at=T0 + timedelta(minutes=30))
    world = World()
    world.tasks.put(old.task_id, TaskState(
        current_job=new.name, job_started_at=T0 + timedelta(minutes=30), assignee="claude",
        trigger_count=2, max_triggers=3, phase="in_progress"))
    world.cache.put_job(old)
    world.cache.put_job(new)

    world.pod_event(pod_view(old, waiting="ImagePullBackOff"))
    world.pod_event(pod_view(new, waiting="ImagePullBackOff"))
    await world.settle()

    assert world.publisher.reported_jobs() == [new.name]


async def test_a_failing_pod_is_published_once_recorded_and_annotated() -> None:
    world = World()
    job = job_view()
    world.cache.put_job(job)

    world.pod_event(pod_view(job, waiting="ImagePullBackOff"))
    world.pod_event(pod_view(job, waiting="ImagePullBackOff"))
    await world.settle()
    world.pod_event(pod_view(job, waiting="ErrImagePull"))
    await world.settle()

    assert world.publisher.reported_jobs() == [job.name]
    assert world.publisher.published[0].reason is ZombieReason.IMAGE_PULL_BACKOFF
    assert world.annotator.annotated == [(job.name, ZombieReason.IMAGE_PULL_BACKOFF)]
    assert world.dedupe.seen(job.name, now=world.clock.now())
    assert (
        world.metric(
            "zombiewatch_failures_published_total", reason="image_pull_backoff", path="informer",
            cause="none",
        )
        == 1
    )


async def test_the_detail_reaches_the_section_the_event_and_the_cause_label() -> None:
    world = World()
    job = job_view()
    world.cache.put_job(job)
    pulling = ContainerView(name="agent", waiting_reason="ErrImagePull", image="reg.io/agent:9",
                            waiting_message='manifest for "reg.io/agent:9" not found')
    world.pod_event(replace(pod_view(job), containers=(pulling,), node_name="n1"))
    await world.settle()

    detail = 'image "reg.io/agent:9": manifest for "reg.io/agent:9" not found'
    (report,) = world.publisher.published
    assert report.detail == detail
    update = report.commands[0]
    assert isinstance(update, UpdateFrontmatter)
    assert update.body is not None
    assert update.body.section.endswith(
        f"- **Reason:** image_pull_backoff (ErrImagePull)\n- **Detail:** {detail}\n")
    assert world.events.said(EventReason.REPORTED) == [(
        job.name, f"image_pull_backoff (ErrImagePull): failure reported for task {job.task_id}. "
        f"Detail: {detail}")]
    assert world.metric("zombiewatch_failures_published_total", reason="image_pull_backoff",
                        path="informer", cause="image") == 1


class GatedPublisher(RecordingPublisher):
    """A transaction that commits only when the test opens the gate (a slow broker)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def publish_failures(
        self, failures: Sequence[FailureReport]
    ) -> Result[None, PublishError]:
        self.entered.set()
        await self.gate.wait()
        return await super().publish_failures(failures)


async def test_overlapping_flushes_publish_a_resubmitted_job_once() -> None:
    """Seen on the real node: the run loop's flush waits on its transaction, the Job is
    detected again, ``sweep_now``'s flush takes it: both must not publish it."""
    publisher = GatedPublisher()
    world = World(publisher=publisher)
    world.cache.put_job(job_view("job-a"))
    world.detect("job-a")
    first = asyncio.create_task(world.reporter.flush())
    await publisher.entered.wait()
    world.detect("job-a")
    second = asyncio.create_task(world.reporter.flush())
    await asyncio.sleep(0)  # one turn of the loop (no time passes): the second flush starts
    publisher.gate.set()
    await asyncio.gather(first, second)
    await world.reporter.close()

    assert world.publisher.reported_jobs() == ["job-a"]


async def test_a_failed_publish_records_nothing_and_the_next_attempt_publishes() -> None:
    world = World()
    world.cache.put_job(job_view("job-a"))
    world.publisher.fail_next = 1

    world.detect("job-a")
    await world.settle()
    assert world.publisher.published == []
    assert not world.dedupe.seen("job-a", now=world.clock.now())
    assert world.annotator.annotated == []
    assert world.metric("zombiewatch_publish_errors_total", kind="unavailable") == 1

    world.detect("job-a")
    await world.settle()
    assert world.publisher.reported_jobs() == ["job-a"]


async def test_an_annotated_job_is_never_published_again_after_a_restart() -> None:
    world = World()
    world.cache.put_job(job_view("job-a", reported_reason="image_pull_backoff"))

    world.detect("job-a")
    await world.settle()

    assert world.publisher.published == []
    assert world.metric("zombiewatch_dedupe_hits_total", layer="annotation") == 1


async def test_the_memory_layer_suppresses_a_job_whose_annotation_failed() -> None:
    world = World()
    world.cache.put_job(job_view("job-a"))
    world.annotator.unavailable = True

    world.detect("job-a")
    await world.settle()
    world.detect("job-a")
    await world.settle()

    assert world.publisher.reported_jobs() == ["job-a"]
    assert world.metric("zombiewatch_dedupe_hits_total", layer="memory") == 1
    assert world.metric("zombiewatch_annotate_errors_total", kind="unavailable") >= 1


async def test_a_missing_annotation_is_retried_until_it_lands() -> None:
    world = World()
    world.cache.put_job(job_view("job-a"))
    world.annotator.unavailable = True
    world.detect("job-a")
    await world.settle()

    world.annotator.unavailable = False
    await world.reporter.flush()
    await world.reporter.close()

    assert world.annotator.annotated == [("job-a", ZombieReason.IMAGE_PULL_BACKOFF)]
    assert world.cache.jobs_by_name["job-a"].reported


async def test_an_owed_annotation_holds_the_job_past_the_ttl_and_lands_on_the_next_tick() -> None:
    """API down at the commit, back later, no new detection before the dedupe TTL runs
    out: the sweeper's tick holds the Job (its annotation is owed) and retries it."""
    world = World()
    job = job_view()
    world.cache.put_job(job)
    world.annotator.unavailable = True
    world.pod_event(pod_view(job, waiting="ImagePullBackOff"))
    await world.settle()
    assert world.publisher.reported_jobs() == [job.name]
    assert world.metric("zombiewatch_annotate_errors_total", kind="unavailable") == 1

    world.annotator.unavailable = False
    world.clock.advance(world.dedupe.ttl.total_seconds() + 1)
    assert not world.dedupe.seen(job.name, now=world.clock.now())
    assert world.sweeper.sweep_once().detected == 0  # held: the annotation is owed
    sweeping = asyncio.create_task(world.sweeper.run())
    try:
        await world.pause.reached.wait()  # a tick, and no flush since the API is back
        await world.reporter.close()
        assert world.annotator.annotated == [(job.name, ZombieReason.IMAGE_PULL_BACKOFF)]
        world.pause.interval_over()
        await world.pause.next_tick()
        await world.settle()
    finally:
        sweeping.cancel()

    assert world.publisher.reported_jobs() == [job.name]
    assert world.cache.jobs_by_name[job.name].reported
    assert world.metric("zombiewatch_annotate_errors_total", kind="unavailable") == 1


async def test_a_follower_publishes_nothing_and_records_nothing() -> None:
    world = World(leading=False)
    world.cache.put_job(job_view("job-a"))

    world.detect("job-a")
    await world.settle()

    assert world.publisher.published == []
    assert not world.dedupe.seen("job-a", now=world.clock.now())


async def test_a_burst_is_published_in_few_transactions_each_failure_whole() -> None:
    world = World()
    for i in range(1200):
        world.cache.put_job(job_view(f"job-{i}", task_id=f"task-{i}"))
        world.detect(f"job-{i}", task_id=f"task-{i}")

    await world.settle()

    assert len(world.publisher.published) == 1200
    assert len(set(world.publisher.reported_jobs())) == 1200
    assert world.publisher.transactions == 3  # batches of at most 500
    assert all(len(f.commands) == 2 for f in world.publisher.published)


async def test_a_completed_job_is_never_published_even_if_its_pod_looks_failed() -> None:
    world = World()
    job = job_view(complete=True)
    world.cache.put_job(job)

    world.job_event(job)
    world.pod_event(pod_view(job, phase=PodPhase.FAILED, exit_code=1))
    await world.settle()

    assert world.publisher.published == []


async def test_a_failed_job_with_deadline_exceeded_is_reported_as_deadline_exceeded() -> None:
    world = World()
    job = job_view(failed_reason="DeadlineExceeded")
    world.cache.put_job(job)

    world.job_event(job)
    await world.settle()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.DEADLINE_EXCEEDED]


async def test_a_result_observed_by_the_host_stops_reporting_of_that_job() -> None:
    world = World()
    job = job_view()
    world.cache.put_job(job)
    world.book.result_observed(job.task_id, at=world.clock.now() + timedelta(seconds=1))

    world.pod_event(pod_view(job, waiting="CrashLoopBackOff"))
    await world.settle()

    assert world.publisher.published == []


async def test_the_reporter_loop_drains_what_is_submitted_while_it_runs() -> None:
    world = World()
    world.cache.put_job(job_view("job-a"))
    loop_task = asyncio.create_task(world.reporter.run())

    world.detect("job-a")
    await world.publisher.committed.wait()
    loop_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop_task

    assert world.publisher.reported_jobs() == ["job-a"]


async def test_a_pod_whose_job_is_unknown_is_not_reported() -> None:
    world = World()
    orphan = pod_view(job_view("ghost-job"), waiting="ImagePullBackOff")

    world.pod_event(orphan)
    await world.settle()

    assert world.publisher.published == []


async def test_a_job_the_host_registered_is_reported_even_before_the_informer_knows_it() -> None:
    world = World()
    world.book.register(task_id="t-1", job_name="job-new", assignee="claude",
                        started_at=world.clock.now())

    world.detect("job-new")
    await world.settle()

    assert world.publisher.reported_jobs() == ["job-new"]


async def test_failures_already_on_the_topic_are_not_published_again_and_get_annotated() -> None:
    world = World()
    world.cache.put_job(job_view("job-a", task_id="t-a"))
    world.cache.put_job(job_view("job-b", task_id="t-b"))
    world.history.failures.append(ReportedFailure(
        job_name="job-a", reason=ZombieReason.POD_EVICTED,
        at=world.clock.now() - timedelta(minutes=5)))

    world.detect("job-a", task_id="t-a")
    world.detect("job-b", task_id="t-b")
    await world.settle()

    assert world.publisher.reported_jobs() == ["job-b"]
    assert sorted(world.annotator.annotated) == [
        ("job-a", ZombieReason.POD_EVICTED), ("job-b", ZombieReason.IMAGE_PULL_BACKOFF)]
    assert world.history.calls == [world.clock.now() - world.dedupe.ttl]


async def test_the_topic_is_recalled_once_per_leadership_term() -> None:
    world = World()
    for name in ("job-a", "job-b", "job-c"):
        world.cache.put_job(job_view(name))

    world.detect("job-a")
    await world.settle()
    world.detect("job-b")
    await world.settle()
    world.reporter.start_term()
    world.detect("job-c")
    await world.settle()

    assert len(world.history.calls) == 2
    assert world.publisher.reported_jobs() == ["job-a", "job-b", "job-c"]


async def test_nothing_is_published_while_the_topic_cannot_be_recalled() -> None:
    world = World()
    world.cache.put_job(job_view("job-a"))
    world.history.error = ReadError(BrokerErrorKind.UNAVAILABLE, "broker down")

    world.detect("job-a")
    await world.settle()
    assert world.publisher.published == []

    world.history.error = None
    world.detect("job-a")
    await world.settle()
    assert world.publisher.reported_jobs() == ["job-a"]


async def test_a_topic_we_may_not_read_does_not_stop_publishing() -> None:
    world = World()
    world.cache.put_job(job_view("job-a"))
    world.history.error = ReadError(BrokerErrorKind.REJECTED, "TopicAuthorizationFailed")

    world.detect("job-a")
    await world.settle()

    assert world.publisher.reported_jobs() == ["job-a"]


async def test_a_pod_unschedulable_inside_the_grace_window_is_judged_again_when_it_ends() -> None:
    world = World()
    job = job_view()
    world.cache.put_job(job)
    pod = pod_view(job, scheduled=False)
    world.cache.put_pod(pod)
    world.clock.advance(30)

    world.pod_event(pod)
    await world.settle()
    assert world.publisher.published == []
    assert [round(t.delay, 2) for t in world.scheduler.pending()] == [90.05]

    world.clock.advance(91)
    world.scheduler.fire_all()
    await world.settle()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.POD_NOT_SCHEDULED]


async def test_a_deleted_pod_cancels_its_grace_timer() -> None:
    world = World()
    job = job_view()
    world.cache.put_job(job)
    pod = pod_view(job, waiting="CreateContainerConfigError")
    world.cache.put_pod(pod)

    world.pod_event(pod)
    world.pod_event(pod)
    world.detection.on_pod_deleted(pod)

    assert len(world.scheduler.timers) == 1
    assert world.scheduler.pending() == []


async def test_a_pod_failure_seen_before_its_job_is_committed_when_the_job_arrives() -> None:
    world = World()
    job = job_view("job-late")
    world.pod_event(pod_view(job, waiting="ImagePullBackOff"))  # the Job is not cached yet
    await world.settle()
    assert world.publisher.published == []

    world.clock.advance(30)
    arrived = world.clock.now()
    world.job_event(job)
    await world.settle()

    assert [(f.job_name, f.reason) for f in world.publisher.published] == [
        ("job-late", ZombieReason.IMAGE_PULL_BACKOFF)]
    assert world.publisher.published[0].occurred_at - arrived < timedelta(seconds=1)
    assert world.sweeper.ticks == 0


async def test_a_job_whose_conditions_change_judges_its_cached_pods_again() -> None:
    world = World()
    job = job_view("job-a")
    world.job_event(job)
    world.book.result_observed(job.task_id, at=world.clock.now() + timedelta(seconds=1))
    world.pod_event(pod_view(job, phase=PodPhase.FAILED, exit_code=2))
    await world.settle()
    assert world.publisher.published == []  # resolved by the host

    respawned = job_view("job-a", started_at=world.clock.now() + timedelta(seconds=5))
    world.job_event(respawned)
    await world.settle()

    assert [f.reason for f in world.publisher.published] == [ZombieReason.POD_CRASH_NO_STDOUT]
