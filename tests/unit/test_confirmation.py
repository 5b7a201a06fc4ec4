"""Confirmation and repair decisions (pure): confirmed, wait, repair what is missing, give up."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.commands import Operation
from zombiewatch.domain.confirmation import (
    Confirmed,
    Forget,
    GiveUp,
    Learnt,
    Repair,
    RepairPolicy,
    Unconfirmed,
    Wait,
    Watchlist,
    baseline,
    next_step,
    repaired,
)
from zombiewatch.domain.doctrine import ReportedFailure, zombie_failure
from zombiewatch.domain.ledger import LedgerReading, failure_request_id
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
POLICY = RepairPolicy(expiry=timedelta(minutes=5))
"""A v0.3 controller's policy: the 10-minute window of that version's 5-minute expiry."""
JOB = "claude-4aa57614-20260602085000"


def pending(*, baseline: int | None = 1) -> Unconfirmed:
    report = zombie_failure(task_id="t-1", job_name=JOB, reason=ZombieReason.POD_EVICTED, at=T0)
    return Unconfirmed(report=report, first_sent=T0, last_sent=T0,
                       trigger_count_at_publish=baseline)


def task(*, current_job: str = JOB, trigger_count: int = 1) -> TaskState:
    return TaskState(current_job=current_job, job_started_at=T0 - timedelta(minutes=30),
                     assignee="claude", trigger_count=trigger_count, max_triggers=3,
                     phase="in_progress")


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def parts(decision: object) -> set[Operation]:
    assert isinstance(decision, Repair)
    return {c.operation for c in decision.report.commands}


@pytest.mark.parametrize(("now_job", "count"), [
    ("", 2),  # both parts applied
    ("claude-4aa57614-20260602091500", 1),  # a new dispatch: whatever the count says
    ("claude-4aa57614-20260602091500", 0),
])
def test_a_task_that_moved_on_confirms_the_failure(now_job: str, count: int) -> None:
    step = next_step(pending(), task(current_job=now_job, trigger_count=count),
                     now=minutes(2), policy=POLICY)
    assert step == Confirmed(latency=timedelta(minutes=2))


def test_inside_the_window_it_waits_and_is_not_overdue() -> None:
    assert next_step(pending(), task(), now=minutes(9), policy=POLICY) == Wait(overdue=False)


def test_past_the_window_both_commands_are_sent_again_while_nothing_moved() -> None:
    assert parts(next_step(pending(), task(), now=minutes(10), policy=POLICY)) == set(Operation)


def test_a_moved_trigger_count_means_the_increment_arrived_send_the_update_only() -> None:
    decision = next_step(pending(), task(trigger_count=2), now=minutes(10), policy=POLICY)
    assert parts(decision) == {Operation.UPDATE_FRONTMATTER}


def test_without_the_count_at_publish_the_increment_is_never_sent_again() -> None:
    decision = next_step(pending(baseline=None), task(), now=minutes(10), policy=POLICY)
    assert parts(decision) == {Operation.UPDATE_FRONTMATTER}


def test_the_re_publish_is_the_same_failure_section_and_task() -> None:
    first = pending()
    decision = next_step(first, task(), now=minutes(10), policy=POLICY)
    assert isinstance(decision, Repair)
    assert decision.report.commands == first.report.commands
    assert decision.report.job_name == JOB


def test_re_publishes_back_off_then_the_failure_is_given_up() -> None:
    state = pending()
    sent = []
    for now in (minutes(m) for m in range(0, 200)):
        decision = next_step(state, task(), now=now, policy=POLICY)
        if isinstance(decision, Repair):
            sent.append((now - T0) / timedelta(minutes=1))
            state = repaired(state, at=now)
        elif isinstance(decision, GiveUp):
            sent.append(-(now - T0) / timedelta(minutes=1))
            break
    assert sent == [10, 20, 40, -80]
    assert POLICY.horizon == timedelta(minutes=80)


def test_a_task_the_feed_does_not_know_is_forgotten() -> None:
    assert next_step(pending(), None, now=minutes(30), policy=POLICY) == Forget()


def test_the_window_is_a_setting() -> None:
    short = RepairPolicy(expiry=timedelta(seconds=30), margin=timedelta(seconds=30),
                         max_repairs=1)
    assert parts(next_step(pending(), task(), now=minutes(1), policy=short)) == set(Operation)
    assert short.horizon == timedelta(minutes=2)


def test_the_give_up_of_the_schedule_is_the_horizon() -> None:
    """Repaired on time, a failure is given up when its first send leaves the horizon:
    the rule a new leader and a confirmer without the feed apply without the repairs."""
    state, now = pending(), T0
    while not isinstance(step := next_step(state, task(), now=now, policy=POLICY), GiveUp):
        if isinstance(step, Repair):
            state = repaired(state, at=now)
        now += timedelta(seconds=1)
    assert not POLICY.expired(T0, now=now)
    assert POLICY.expired(T0, now=now + timedelta(microseconds=1))


@given(minute=st.integers(0, 100))
def test_overdue_is_what_next_step_reports_as_late(minute: int) -> None:
    step = next_step(pending(), task(), now=minutes(minute), policy=POLICY)
    overdue = POLICY.overdue(T0, now=minutes(minute))
    assert overdue is (not isinstance(step, Wait) or step.overdue)


@pytest.mark.parametrize(("task_state", "expected"), [
    (task(trigger_count=2), 2),
    (task(current_job="claude-older", trigger_count=2), None),
    (None, None),
])
def test_the_baseline_is_the_count_of_a_task_naming_the_job(
    task_state: TaskState | None, expected: int | None,
) -> None:
    assert baseline(task_state, job_name=JOB) == expected


def test_the_watchlist_watches_a_publish_once_and_keeps_its_baseline() -> None:
    watchlist = Watchlist()
    report = replace(pending().report, trigger_count_before=4)
    watchlist.published(report, sent=T0)
    watchlist.published(replace(report, trigger_count_before=9), sent=T0)
    assert list(watchlist) == [JOB]
    assert watchlist[JOB].trigger_count_at_publish == 4
    assert watchlist.drop(JOB) is True  # ours: its latency is observed
    assert watchlist == {}


def test_an_update_only_publish_carries_no_baseline_until_its_increment_goes_out() -> None:
    watchlist = Watchlist()
    whole = replace(pending().report, trigger_count_before=4)
    update = tuple(c for c in whole.commands if c.operation is Operation.UPDATE_FRONTMATTER)
    increment = tuple(c for c in whole.commands
                      if c.operation is Operation.INCREMENT_FRONTMATTER)
    watchlist.published(replace(whole, commands=update), sent=T0)
    assert watchlist[JOB].trigger_count_at_publish is None
    watchlist.published(replace(whole, commands=increment), sent=minutes(3))
    assert watchlist[JOB].trigger_count_at_publish == 4
    # The increment went out later: the next step waits for it to expire.
    assert (watchlist[JOB].first_sent, watchlist[JOB].last_sent) == (T0, minutes(3))


def test_a_failure_learnt_from_the_ledger_is_rebuilt_with_its_evidence_and_detail() -> None:
    sent = zombie_failure(task_id="t-1", job_name=JOB, reason=ZombieReason.IMAGE_PULL_BACKOFF,
                          at=T0, evidence="ErrImagePull", detail='image "x:1": not found')
    update = failure_request_id(job_name=JOB, operation=Operation.UPDATE_FRONTMATTER)
    reading = LedgerReading(
        failures=(ReportedFailure(job_name=JOB, reason=sent.reason, at=T0,
                                  evidence="ErrImagePull", detail='image "x:1": not found'),),
        request_ids=((update, T0),), tasks=((JOB, "t-1"),))
    watchlist = Watchlist()

    watchlist.learn(reading, now=minutes(1), policy=POLICY)

    assert watchlist[JOB].report.commands == sent.commands  # a repair sends them as they were


def test_learning_skips_failures_past_the_horizon_and_marks_the_rest_derived() -> None:
    report = pending().report
    update = failure_request_id(job_name=JOB, operation=Operation.UPDATE_FRONTMATTER)
    reading = LedgerReading(
        failures=(ReportedFailure(job_name=JOB, reason=report.reason, at=T0),),
        request_ids=((update, T0), (update, minutes(10))), tasks=((JOB, "t-1"),))
    watchlist = Watchlist()
    assert watchlist.learn(reading, now=minutes(81), policy=POLICY) == Learnt()
    learnt = watchlist.learn(reading, now=minutes(79), policy=POLICY)
    assert learnt == Learnt(failures=1, with_baseline=0)
    assert (watchlist[JOB].repairs, watchlist[JOB].last_sent) == (1, minutes(10))
    assert watchlist.overdue(now=minutes(79), policy=POLICY) == 1
    assert [p.report.job_name for p in watchlist.expired(now=minutes(81), policy=POLICY)] == [JOB]
    assert watchlist.drop(JOB) is False  # derived: no latency of ours
