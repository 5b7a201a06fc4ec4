"""The ledger's pure parts: which commands of a failure are delivered, what is left to send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.ledger import (
    DeliveredCommands,
    LedgerReading,
    failure_request_id,
    undelivered,
)
from zombiewatch.domain.reasons import ZombieReason

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)


def report(job: str = "job-a") -> FailureReport:
    return zombie_failure(task_id="t-1", job_name=job, reason=ZombieReason.POD_EVICTED, at=T0)


def test_a_failure_whose_commands_are_all_on_the_topic_leaves_nothing_to_send() -> None:
    assert undelivered(report(), frozenset(Operation)) is None


def test_nothing_delivered_means_the_whole_failure_is_sent() -> None:
    whole = report()
    assert undelivered(whole, frozenset()) is whole


@given(st.sets(st.sampled_from(list(Operation))))
def test_what_is_left_is_exactly_what_is_missing(delivered: set[Operation]) -> None:
    rest = undelivered(report(), frozenset(delivered))
    left = set() if rest is None else {c.operation for c in rest.commands}
    assert left == set(Operation) - delivered


def test_delivered_commands_are_answered_per_job_and_operation() -> None:
    book = DeliveredCommands()
    book.learn([(failure_request_id(job_name="job-a", operation=Operation.INCREMENT_FRONTMATTER),
                 T0)])
    book.learn_report(report("job-b"), at=T0)

    assert book.delivered("job-a") == {Operation.INCREMENT_FRONTMATTER}
    assert book.delivered("job-b") == set(Operation)
    assert book.delivered("job-c") == set()


def test_entries_older_than_the_window_are_forgotten() -> None:
    book = DeliveredCommands()
    book.learn_report(report("old"), at=T0)
    book.learn_report(report("new"), at=T0 + timedelta(hours=1))

    book.forget_before(T0 + timedelta(minutes=30))

    assert book.delivered("old") == set()
    assert book.delivered("new") == set(Operation)
    assert len(book) == 2


def test_a_later_sighting_of_an_id_keeps_it_longer() -> None:
    book = DeliveredCommands()
    rid = failure_request_id(job_name="job-a", operation=Operation.UPDATE_FRONTMATTER)
    book.learn([(rid, T0 + timedelta(hours=1)), (rid, T0)])
    book.forget_before(T0 + timedelta(minutes=30))
    assert book.delivered("job-a") == {Operation.UPDATE_FRONTMATTER}


def test_the_baseline_of_a_failure_is_the_one_its_first_increment_carried() -> None:
    increment = failure_request_id(job_name="job-a", operation=Operation.INCREMENT_FRONTMATTER)
    older = failure_request_id(job_name="job-b", operation=Operation.INCREMENT_FRONTMATTER)
    later = T0 + timedelta(minutes=10)
    reading = LedgerReading(failures=(), request_ids=(), counts_before=(
        (increment, later, 9),  # read first, sent later (another partition's order)
        (increment, T0, 4),
        (older, T0, None),  # an older version's record: no header
        (older, later, 7),
    ))

    assert reading.trigger_count_before("job-a") == 4
    assert reading.trigger_count_before("job-b") is None
    assert reading.trigger_count_before("job-c") is None


@given(st.sets(st.sampled_from(list(Operation))))
def test_fully_delivered_is_exactly_nothing_left_to_send(delivered: set[Operation]) -> None:
    ledger = DeliveredCommands()
    ledger.learn((failure_request_id(job_name="job-a", operation=op), T0) for op in delivered)
    assert ledger.fully_delivered("job-a") is (undelivered(report(), frozenset(delivered)) is None)
    assert not ledger.fully_delivered("job-b")
