"""The confirmer: watches committed failures until the feed confirms them, repairs, gives up."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from returns.result import Result

from tests.builders import job_view
from tests.unit.worlds.reporting import World
from zombiewatch.app.confirming import ConfirmationMetrics, Confirmer
from zombiewatch.app.feedpart import TaskView
from zombiewatch.app.job_events import JobEvents
from zombiewatch.app.metrics import Metrics
from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.confirmation import RepairPolicy, Watchlist
from zombiewatch.domain.consumer import V0_3_EXPIRY
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.job_events import EventReason, EventType
from zombiewatch.domain.ports import PublishError
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState, TaskStates
from zombiewatch.testing.fakes import (
    FakeCache,
    FakeClock,
    FakeLeader,
    FeedSwitch,
    RecordingEventRecorder,
    RecordingPublisher,
    ScriptedHistory,
)

TASK = "4aa57614-2026-4602-8915-30aabbccddee"
V0_3_POLICY = RepairPolicy.for_consumer(expiry=V0_3_EXPIRY)
"""The 10-minute window of a v0.3 controller (round figures; today's is 65 minutes)."""
JOB = "claude-4aa57614-20260602085000"


class Rig:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.states = TaskStates()
        self.publisher = RecordingPublisher()
        self.leader = FakeLeader()
        self.metrics = Metrics()
        self.feed = FeedSwitch()
        self.watchlist = Watchlist()
        self.events = RecordingEventRecorder()
        self.cache = FakeCache()
        self.cache.put_job(job_view(JOB, task_id=TASK))
        self.confirmer = Confirmer(
            publisher=self.publisher, tasks=TaskView(self.states, self.feed),
            leader=self.leader, clock=self.clock, metrics=ConfirmationMetrics(self.metrics),
            policy=V0_3_POLICY, watchlist=self.watchlist,
            events=JobEvents(recorder=self.events, cache=self.cache))

    def task(self, *, current_job: str = JOB, trigger_count: int = 1) -> None:
        self.states.put(TASK, TaskState(current_job=current_job, job_started_at=None,
                                        assignee="claude", trigger_count=trigger_count,
                                        max_triggers=3, phase="in_progress"))

    def publish(self) -> None:
        """What the reporter does: the baseline before the publish, the report after it."""
        report = self.confirmer.with_baseline(zombie_failure(
            task_id=TASK, job_name=JOB, reason=ZombieReason.POD_EVICTED, at=self.clock.now()))
        self.confirmer.published(report)

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def sent(self) -> list[set[Operation]]:
        return [{c.operation for c in f.commands} for f in self.publisher.published]


async def test_a_failure_is_confirmed_when_its_task_moves_on() -> None:
    rig = Rig()
    rig.task()
    rig.publish()
    rig.clock.advance(90)
    rig.task(current_job="", trigger_count=2)

    await rig.confirmer.tick()

    assert rig.watchlist == {}
    assert rig.sample("zombiewatch_failures_confirmed_total") == 1
    assert rig.sample("zombiewatch_confirmation_latency_seconds_sum") == 90
    assert rig.publisher.published == []


async def test_unconfirmed_past_the_window_both_parts_are_sent_again_with_the_same_job() -> None:
    rig = Rig()
    rig.task()
    rig.publish()
    rig.clock.advance(9 * 60)
    await rig.confirmer.tick()
    assert rig.publisher.published == []
    assert rig.sample("zombiewatch_failures_unconfirmed") == 0

    rig.clock.advance(60)
    await rig.confirmer.tick()

    assert rig.sent() == [set(Operation)]
    assert rig.publisher.published[0].job_name == JOB
    assert rig.sample("zombiewatch_failures_republished_total", part="update") == 1
    assert rig.sample("zombiewatch_failures_republished_total", part="increment") == 1
    assert rig.sample("zombiewatch_failures_unconfirmed") == 1


async def test_the_increment_is_not_sent_again_once_the_count_moved() -> None:
    rig = Rig()
    rig.task(trigger_count=1)
    rig.publish()
    rig.task(trigger_count=2)  # the increment was applied, the update lost
    rig.clock.advance(600)

    await rig.confirmer.tick()

    assert rig.sent() == [{Operation.UPDATE_FRONTMATTER}]


async def test_after_the_last_re_publish_it_is_given_up_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.task()
    rig.publish()
    with caplog.at_level(logging.ERROR):
        for _ in range(200):
            rig.clock.advance(60)
            await rig.confirmer.tick()

    assert len(rig.publisher.published) == 3
    assert rig.sample("zombiewatch_failures_given_up_total") == 1
    assert rig.watchlist == {}
    assert any("failure_given_up" in r.getMessage() for r in caplog.records)


async def test_each_repair_and_the_giving_up_are_said_on_the_job() -> None:
    rig = Rig()
    rig.task()
    rig.publish()
    for _ in range(200):
        rig.clock.advance(60)
        await rig.confirmer.tick()

    repaired = rig.events.said(EventReason.DELIVERY_REPAIRED)
    assert repaired == [
        (JOB, f"failure for task {TASK} not confirmed yet: re-published update,increment "
              f"(attempt {n} of 3)") for n in (1, 2, 3)]
    (given_up,) = [e for e in rig.events.events if e.reason is EventReason.DELIVERY_GIVEN_UP]
    assert (given_up.job_name, given_up.type) == (JOB, EventType.WARNING)
    assert given_up.message.startswith(
        f"failure for task {TASK} still unconfirmed after 3 re-publishes: ")


async def test_nothing_is_judged_without_the_feed_and_old_failures_are_given_up() -> None:
    rig = Rig()
    rig.task()
    rig.publish()
    rig.feed.caught_up = False
    rig.clock.advance(30 * 60)
    await rig.confirmer.tick()
    assert rig.publisher.published == []
    assert rig.sample("zombiewatch_failures_unconfirmed") == 1

    rig.clock.advance(60 * 60)
    await rig.confirmer.tick()
    assert rig.sample("zombiewatch_failures_given_up_total") == 1
    assert rig.publisher.published == []


async def test_a_follower_does_not_repair() -> None:
    rig = Rig()
    rig.task()
    rig.publish()
    rig.leader.leading = False
    rig.clock.advance(600)

    await rig.confirmer.tick()

    assert rig.publisher.published == []


async def test_a_failed_re_publish_still_counts_as_an_attempt() -> None:
    rig = Rig()
    rig.task()
    rig.publish()
    rig.publisher.fail_next = 1
    rig.clock.advance(600)
    await rig.confirmer.tick()
    rig.clock.advance(60)
    await rig.confirmer.tick()

    assert rig.publisher.published == []  # the next one is due 10 minutes later
    assert rig.watchlist[JOB].repairs == 1
    assert rig.events.said(EventReason.DELIVERY_REPAIRED) == []  # nothing went out


async def test_a_new_leader_derives_the_pending_failures_from_the_ledger() -> None:
    rig = Rig()
    rig.task()
    history = ScriptedHistory()
    report = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_EVICTED,
                            at=rig.clock.now() - timedelta(minutes=25))
    history.deliver(report, at=report.occurred_at)
    history.deliver(report, at=report.occurred_at + timedelta(minutes=10),
                    operations=[Operation.UPDATE_FRONTMATTER])  # one repair already done
    reading = (await history.reported_since(rig.clock.now() - timedelta(hours=2))).unwrap()

    rig.confirmer.learn(reading, now=rig.clock.now())
    state = rig.watchlist[JOB]
    assert (state.repairs, state.trigger_count_at_publish) == (1, None)
    await rig.confirmer.tick()  # the second repair is due 10 min after the first
    assert rig.sent() == [{Operation.UPDATE_FRONTMATTER}]


async def test_the_reporter_hands_every_committed_failure_to_the_confirmer() -> None:
    rig = Rig()
    world = World(confirmer=rig.confirmer)
    world.cache.put_job(job_view("job-a", task_id=TASK))

    world.detect("job-a", task_id=TASK)
    await world.settle()

    assert list(rig.watchlist) == ["job-a"]


async def test_a_completion_without_the_increment_never_re_sends_the_increment() -> None:
    rig = Rig()
    rig.task(trigger_count=2)  # the earlier increment may or may not be in this count
    whole = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_EVICTED,
                           at=rig.clock.now())
    update_only = [c for c in whole.commands if c.operation is Operation.UPDATE_FRONTMATTER]
    rig.confirmer.published(replace(whole, commands=tuple(update_only)))
    rig.clock.advance(600)
    await rig.confirmer.tick()

    assert rig.watchlist[JOB].trigger_count_at_publish is None
    assert rig.sent() == [{Operation.UPDATE_FRONTMATTER}]


@dataclass
class AppliedDuringTheCommit(RecordingPublisher):
    """The controller reads uncommitted: it applies the increment and publishes the bumped
    task before our commit returns. The feed has moved by the time the reporter hears
    ``Success``."""

    states: TaskStates | None = None

    async def publish_failures(
        self, failures: Sequence[FailureReport]
    ) -> Result[None, PublishError]:
        assert self.states is not None
        for failure in failures:
            task = self.states.get(failure.task_id)
            assert task is not None
            self.states.put(failure.task_id, replace(task, trigger_count=task.trigger_count + 1))
        return await super().publish_failures(failures)


async def test_the_baseline_is_taken_before_the_publish_even_if_the_feed_moves_meanwhile() -> None:
    rig = Rig()
    rig.task(trigger_count=1)
    world = World(publisher=AppliedDuringTheCommit(states=rig.states), confirmer=rig.confirmer)
    world.cache.put_job(job_view(JOB, task_id=TASK))

    world.detect(JOB, task_id=TASK)
    await world.settle()
    moved = rig.states.get(TASK)
    assert moved is not None
    assert moved.trigger_count == 2  # the feed moved during the commit

    assert [f.trigger_count_before for f in world.publisher.published] == [1]
    assert rig.watchlist[JOB].trigger_count_at_publish == 1
    rig.clock.advance(600)  # the update was lost: current_job still names the Job
    await rig.confirmer.tick()
    assert rig.sent() == [{Operation.UPDATE_FRONTMATTER}]  # the applied increment: not again


async def test_no_baseline_while_the_feed_is_not_caught_up_or_does_not_know_the_task() -> None:
    rig = Rig()
    report = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_EVICTED,
                            at=rig.clock.now())
    assert rig.confirmer.with_baseline(report).trigger_count_before is None  # unknown task
    rig.task(current_job="claude-4aa57614-20260602080000", trigger_count=1)
    assert rig.confirmer.with_baseline(report).trigger_count_before is None  # older state
    rig.task(trigger_count=1)
    rig.feed.caught_up = False
    assert rig.confirmer.with_baseline(report).trigger_count_before is None  # catching up
    rig.feed.caught_up = True
    assert rig.confirmer.with_baseline(report).trigger_count_before == 1


async def new_leader_after(*, count_at_publish: int, count_now: int) -> Rig:
    """The first leader publishes and is gone; a new one learns from the ledger alone."""
    first = Rig()
    first.task(trigger_count=count_at_publish)
    world = World(confirmer=first.confirmer)
    world.publisher.topic = world.history
    world.history.task_of[JOB] = TASK
    world.cache.put_job(job_view(JOB, task_id=TASK))
    world.detect(JOB, task_id=TASK)
    await world.settle()
    assert world.publisher.reported_jobs() == [JOB]

    new = Rig()  # nothing in memory: a restart or another replica
    new.task(trigger_count=count_now)
    new.clock.advance(600)
    reading = (await world.history.reported_since(new.clock.now() - timedelta(hours=2))).unwrap()
    new.confirmer.learn(reading, now=new.clock.now())
    return new


async def test_learn_derives_the_baseline_from_the_first_sends_header() -> None:
    new = await new_leader_after(count_at_publish=2, count_now=2)

    assert new.watchlist[JOB].trigger_count_at_publish == 2


async def test_a_new_leader_re_sends_both_parts_while_the_count_has_not_moved() -> None:
    new = await new_leader_after(count_at_publish=1, count_now=1)  # both commands dropped

    await new.confirmer.tick()

    assert new.sent() == [set(Operation)]
    assert new.publisher.published[0].trigger_count_before == 1  # the same header again
    assert new.sample("zombiewatch_failures_republished_total", part="increment") == 1


async def test_a_new_leader_re_sends_the_update_only_once_the_count_moved() -> None:
    new = await new_leader_after(count_at_publish=1, count_now=2)  # the increment applied

    await new.confirmer.tick()

    assert new.sent() == [{Operation.UPDATE_FRONTMATTER}]


async def test_an_unreadable_baseline_on_the_ledger_is_counted_and_means_update_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.task(trigger_count=1)
    history = ScriptedHistory(unreadable_counts=1)
    history.task_of[JOB] = TASK
    report = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_EVICTED,
                            at=rig.clock.now())
    history.deliver(report, at=report.occurred_at)  # its header was unreadable: None
    rig.clock.advance(600)
    reading = (await history.reported_since(report.occurred_at)).unwrap()

    with caplog.at_level(logging.WARNING):
        rig.confirmer.learn(reading, now=rig.clock.now())
    await rig.confirmer.tick()

    assert rig.sample("zombiewatch_failure_baselines_unreadable_total") == 1
    assert any("ledger_baseline_unreadable" in r.getMessage() for r in caplog.records)
    assert rig.sent() == [{Operation.UPDATE_FRONTMATTER}]


async def test_a_derived_failure_completed_with_its_increment_gets_that_baseline() -> None:
    """The ledger held the update only; the reporter then sends the missing increment:
    the count it was sent against is the baseline from now on."""
    rig = Rig()
    rig.task(trigger_count=1)
    history = ScriptedHistory()
    history.task_of[JOB] = TASK
    whole = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_EVICTED,
                           at=rig.clock.now())
    history.deliver(whole, at=whole.occurred_at, operations=[Operation.UPDATE_FRONTMATTER])
    rig.confirmer.learn((await history.reported_since(whole.occurred_at)).unwrap(),
                        now=rig.clock.now())
    assert rig.watchlist[JOB].trigger_count_at_publish is None

    increment = tuple(c for c in whole.commands if c.operation is Operation.INCREMENT_FRONTMATTER)
    rig.confirmer.published(replace(rig.confirmer.with_baseline(whole), commands=increment))
    rig.clock.advance(600)
    await rig.confirmer.tick()

    assert rig.watchlist[JOB].trigger_count_at_publish == 1
    assert rig.sent() == [set(Operation)]
