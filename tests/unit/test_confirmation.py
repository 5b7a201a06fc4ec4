"""Confirmation and repair decisions (pure): confirmed, wait, repair what is missing, give up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zombiewatch.domain.commands import Operation
from zombiewatch.domain.confirmation import (
    Confirmed,
    Forget,
    GiveUp,
    Repair,
    RepairPolicy,
    Unconfirmed,
    Wait,
    next_step,
    repaired,
)
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
POLICY = RepairPolicy()
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


@pytest.mark.parametrize("now_job", ["", "claude-4aa57614-20260602091500"])
def test_a_task_that_moved_on_confirms_the_failure(now_job: str) -> None:
    assert next_step(pending(), task(current_job=now_job), now=minutes(2), policy=POLICY) == (
        Confirmed(latency=timedelta(minutes=2)))


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
    short = RepairPolicy(window=timedelta(minutes=1), max_repairs=1)
    assert parts(next_step(pending(), task(), now=minutes(1), policy=short)) == set(Operation)
    assert short.horizon == timedelta(minutes=2)
