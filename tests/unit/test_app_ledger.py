"""The ledger decides before any retry: nothing the controller already has is sent again.

The fake publisher writes into the fake topic (``ScriptedHistory``) what a real
broker would keep: committed records, and — with ``reach_log_on_failure`` —
the records of a transaction aborted after its sends, which a
``read_uncommitted`` consumer (the real controller) applies.
"""

from __future__ import annotations

from datetime import timedelta

from tests.builders import job_view
from tests.unit.worlds.reporting import World
from zombiewatch.domain.commands import Operation
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.ledger import LEDGER_MARGIN
from zombiewatch.domain.ports import BrokerErrorKind, ReadError
from zombiewatch.domain.reasons import ZombieReason


def wired(*, reach_log: bool) -> World:
    world = World()
    world.publisher.topic = world.history
    world.publisher.reach_log_on_failure = reach_log
    return world


def sent_operations(world: World) -> list[list[tuple[str, Operation]]]:
    """Every attempt, as (job, operation) of each command it carried."""
    return [[(f.job_name, c.operation) for f in attempt for c in f.commands]
            for attempt in world.publisher.attempts]


BOTH = [("job-a", Operation.UPDATE_FRONTMATTER), ("job-a", Operation.INCREMENT_FRONTMATTER)]


async def test_records_of_an_aborted_attempt_that_reached_the_log_are_not_sent_again() -> None:
    world = wired(reach_log=True)
    world.cache.put_job(job_view("job-a"))
    world.publisher.fail_next = 1

    world.detect("job-a")
    await world.settle()
    world.clock.advance(10)
    world.detect("job-a")
    await world.settle()
    world.detect("job-a")
    await world.settle()

    assert sent_operations(world) == [BOTH]
    assert world.annotator.annotated == [("job-a", ZombieReason.IMAGE_PULL_BACKOFF)]
    assert world.metric("zombiewatch_dedupe_hits_total", layer="ledger") == 1


async def test_the_ledger_is_read_from_the_failed_attempt_on_after_settling() -> None:
    world = wired(reach_log=True)
    world.cache.put_job(job_view("job-a"))
    world.publisher.fail_next = 1
    world.detect("job-a")
    await world.settle()
    failed_at = world.clock.now()
    settled_before = world.publisher.settled

    world.clock.advance(30)
    world.detect("job-a")
    await world.settle()

    assert world.history.calls[-1] == failed_at - LEDGER_MARGIN
    assert world.publisher.settled == settled_before + 1


async def test_an_attempt_that_left_nothing_in_the_log_is_sent_again_whole() -> None:
    """``read_committed`` consumers, or an attempt that failed before any send."""
    world = wired(reach_log=False)
    world.cache.put_job(job_view("job-a"))
    world.publisher.fail_next = 1

    world.detect("job-a")
    await world.settle()
    world.detect("job-a")
    await world.settle()

    assert sent_operations(world) == [BOTH, BOTH]
    assert world.publisher.reported_jobs() == ["job-a"]


async def test_only_the_missing_command_of_a_half_delivered_failure_is_sent() -> None:
    world = wired(reach_log=False)
    world.cache.put_job(job_view("job-a"))
    report = zombie_failure(task_id="t-1", job_name="job-a",
                            reason=ZombieReason.IMAGE_PULL_BACKOFF, at=world.clock.now())
    world.history.deliver(report, at=world.clock.now() - timedelta(minutes=1),
                          operations=[Operation.UPDATE_FRONTMATTER])

    world.detect("job-a")
    await world.settle()

    assert sent_operations(world) == [[("job-a", Operation.INCREMENT_FRONTMATTER)]]
    assert world.annotator.annotated == [("job-a", ZombieReason.IMAGE_PULL_BACKOFF)]


async def test_an_increment_alone_on_the_topic_is_never_bumped_again() -> None:
    world = wired(reach_log=False)
    world.cache.put_job(job_view("job-a"))
    report = zombie_failure(task_id="t-1", job_name="job-a",
                            reason=ZombieReason.IMAGE_PULL_BACKOFF, at=world.clock.now())
    world.history.deliver(report, at=world.clock.now() - timedelta(minutes=1),
                          operations=[Operation.INCREMENT_FRONTMATTER])

    world.detect("job-a")
    await world.settle()

    assert sent_operations(world) == [[("job-a", Operation.UPDATE_FRONTMATTER)]]


async def test_nothing_is_sent_while_the_last_attempt_cannot_be_settled() -> None:
    world = wired(reach_log=True)
    world.cache.put_job(job_view("job-a"))
    world.publisher.fail_next = 1
    world.detect("job-a")
    await world.settle()

    world.publisher.fail_settle = True
    world.detect("job-a")
    await world.settle()
    assert len(world.publisher.attempts) == 1

    world.publisher.fail_settle = False
    world.detect("job-a")
    await world.settle()
    assert sent_operations(world) == [BOTH]
    assert world.dedupe.seen("job-a", now=world.clock.now())


async def test_nothing_is_sent_while_the_ledger_cannot_be_read_after_a_failure() -> None:
    world = wired(reach_log=False)
    world.cache.put_job(job_view("job-a"))
    world.publisher.fail_next = 1
    world.detect("job-a")
    await world.settle()

    world.history.error = ReadError(BrokerErrorKind.UNAVAILABLE, "broker down")
    world.detect("job-a")
    await world.settle()
    assert len(world.publisher.attempts) == 1

    world.history.error = None
    world.detect("job-a")
    await world.settle()
    assert sent_operations(world) == [BOTH, BOTH]


async def test_a_committed_publish_needs_no_ledger_read_before_the_next() -> None:
    world = wired(reach_log=False)
    world.cache.put_job(job_view("job-a"))
    world.cache.put_job(job_view("job-b"))

    world.detect("job-a")
    await world.settle()
    world.detect("job-b")
    await world.settle()

    assert len(world.history.calls) == 1  # the term's read only
    assert world.publisher.reported_jobs() == ["job-a", "job-b"]
