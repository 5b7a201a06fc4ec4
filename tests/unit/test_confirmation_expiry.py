"""The schedule rule (SPEC §13): no re-publish can be applied beside its original.

A failure is published again only once its previous send is certainly expired for
the controller (``last_sent + expiry + margin``) and only what the feed still shows
unapplied. Proved here against a model of the controller at its worst: backed up
(paused for as long as it likes, then working through its backlog one record at a
time), failing writes, its clock off ours and its task feed lagging, together less
than the margin. Whatever it does, the increment lands at most once and a confirmed
failure is freed exactly once. The same model with a policy that assumes v0.3's
5-minute expiry against today's 60-minute controller doubles: the rule is what holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zombiewatch.domain.commands import Operation
from zombiewatch.domain.confirmation import (
    DEFAULT_CONFIRM_MARGIN,
    Confirmed,
    GiveUp,
    PolicyError,
    Repair,
    RepairPolicy,
    Unconfirmed,
    Wait,
    Watchlist,
    next_step,
    observed,
    repaired,
)
from zombiewatch.domain.consumer import EXPIRY, V0_3_EXPIRY
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
JOB = "claude-4aa57614-20260602085000"
UPDATE, INCREMENT = Operation.UPDATE_FRONTMATTER, Operation.INCREMENT_FRONTMATTER


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def first(*, baseline: int | None = 0) -> Unconfirmed:
    report = zombie_failure(task_id="t-1", job_name=JOB, reason=ZombieReason.POD_EVICTED, at=T0)
    return Unconfirmed(report=report, first_sent=T0, last_sent=T0,
                       trigger_count_at_publish=baseline)


def task(*, current_job: str = JOB, trigger_count: int = 0) -> TaskState:
    return TaskState(current_job=current_job, job_started_at=T0 - timedelta(minutes=30),
                     assignee="claude", trigger_count=trigger_count, max_triggers=3,
                     phase="in_progress")


def parts(step: object) -> set[Operation]:
    assert isinstance(step, Repair), step
    return {c.operation for c in step.report.commands}


# ------------------------------------------------------------- the policy itself

def test_todays_schedule_waits_past_the_60_minute_expiry_every_time() -> None:
    policy = RepairPolicy()
    assert (policy.expiry, policy.window) == (EXPIRY, EXPIRY + DEFAULT_CONFIRM_MARGIN)
    assert [policy.wait(n) / timedelta(minutes=1) for n in range(4)] == [65, 65, 130, 260]
    assert policy.horizon == timedelta(minutes=520)


def test_a_v0_3_controller_keeps_the_old_schedule() -> None:
    policy = RepairPolicy.for_consumer(expiry=V0_3_EXPIRY)
    assert [policy.wait(n) / timedelta(minutes=1) for n in range(4)] == [10, 10, 20, 40]
    assert policy.horizon == timedelta(minutes=80)


def test_a_window_given_sets_the_margin_past_the_expiry() -> None:
    policy = RepairPolicy.for_consumer(expiry=timedelta(seconds=20),
                                       window=timedelta(seconds=26))
    assert (policy.margin, policy.window) == (timedelta(seconds=6), timedelta(seconds=26))


@pytest.mark.parametrize(("expiry", "window"), [(3600, 3600), (3600, 600), (0, 10)])
def test_a_window_not_past_the_expiry_is_refused(expiry: int, window: int) -> None:
    with pytest.raises(PolicyError, match="repair policy invalid"):
        RepairPolicy.for_consumer(expiry=timedelta(seconds=expiry),
                                  window=timedelta(seconds=window))


@given(expiry=st.integers(1, 7200), margin=st.integers(1, 900), repairs=st.integers(0, 3),
       since=st.integers(0, 20000), count=st.integers(0, 3), job=st.sampled_from([JOB, ""]))
def test_nothing_is_ever_sent_before_the_previous_send_is_past_expiry_and_margin(
    *, expiry: int, margin: int, repairs: int, since: int, count: int, job: str,
) -> None:
    policy = RepairPolicy(expiry=timedelta(seconds=expiry), margin=timedelta(seconds=margin))
    pending = replace(first(), repairs=repairs, last_sent=at(100))
    step = next_step(pending, task(current_job=job, trigger_count=count),
                     now=at(100 + since), policy=policy)
    if isinstance(step, Repair | GiveUp):
        assert since >= expiry + margin


# ------------------------------------------------- a pair split by the expiry

def test_update_dropped_increment_applied_re_sends_the_update_only() -> None:
    policy = RepairPolicy(expiry=timedelta(seconds=20), margin=timedelta(seconds=5))
    split = task(current_job=JOB, trigger_count=1)
    assert next_step(first(), split, now=at(24), policy=policy) == Wait(overdue=False)
    assert parts(next_step(first(), split, now=at(25), policy=policy)) == {UPDATE}


def test_update_applied_increment_dropped_re_sends_the_increment_only() -> None:
    policy = RepairPolicy(expiry=timedelta(seconds=20), margin=timedelta(seconds=5))
    split = task(current_job="", trigger_count=0)
    assert next_step(first(), split, now=at(24), policy=policy) == Wait(overdue=False)
    step = next_step(first(), split, now=at(25), policy=policy)
    assert parts(step) == {INCREMENT}
    assert isinstance(step, Repair)
    assert step.report.trigger_count_before == 0  # the same baseline travels again
    landed = task(current_job="", trigger_count=1)
    assert isinstance(next_step(repaired(first(), at=at(25)), landed, now=at(30),
                                policy=policy), Confirmed)


def test_a_cleared_task_without_a_baseline_is_confirmed_by_its_update() -> None:
    step = next_step(first(baseline=None), task(current_job="", trigger_count=0), now=at(1),
                     policy=RepairPolicy())
    assert isinstance(step, Confirmed)


# -------------------------------------- counters lowered by other producers

@pytest.mark.parametrize("lowered", [0, 1])
def test_a_count_lowered_below_the_baseline_is_never_bumped_again(lowered: int) -> None:
    """Baseline 2: a reset (the healthcheck, a scope update) took the count below it.
    Whether our increment landed before the reset cannot be told: the update is re-sent
    (never a lost failure), the increment is not (never a second bump)."""
    policy = RepairPolicy(expiry=timedelta(seconds=20), margin=timedelta(seconds=5))
    still = task(current_job=JOB, trigger_count=lowered)
    assert parts(next_step(first(baseline=2), still, now=at(25), policy=policy)) == {UPDATE}
    cleared = task(current_job="", trigger_count=lowered)
    assert isinstance(next_step(first(baseline=2), cleared, now=at(25), policy=policy),
                      Confirmed)


def test_a_count_that_moved_and_came_back_to_the_baseline_is_never_bumped_again() -> None:
    """Seen at 1 (our increment landed), then reset to 0 (complete-task's neighbour, the
    scanner): the baseline again, but the watchlist remembers the move."""
    policy = RepairPolicy(expiry=timedelta(seconds=20), margin=timedelta(seconds=5))
    watchlist = Watchlist()
    watchlist.published(replace(first().report, trigger_count_before=0), sent=T0)
    watchlist.observe(JOB, task(current_job=JOB, trigger_count=1))
    back = task(current_job=JOB, trigger_count=0)
    pending = watchlist.observe(JOB, back)
    assert pending.count_moved
    assert parts(next_step(pending, back, now=at(25), policy=policy)) == {UPDATE}
    # Without the look in between, the same feed state would send the increment.
    assert parts(next_step(first(), back, now=at(25), policy=policy)) == {UPDATE, INCREMENT}


def test_observing_without_a_baseline_or_a_task_changes_nothing() -> None:
    assert observed(first(baseline=None), task(trigger_count=5)) == first(baseline=None)
    assert observed(first(), None) == first()


# ---------------------------------------------- a backed-up controller, modelled

@dataclass
class Controller:
    """Today's controller at its worst, in whole seconds of our clock."""

    expiry: int
    skew: int
    """Its clock minus ours."""
    lag: int
    """How long after a write the feed shows it."""
    work: int
    """Seconds per record (a backlog is worked through one record at a time)."""
    pauses: list[tuple[int, int]]
    """``(from, to)``: consumes nothing in between (backed up)."""
    failing: set[int] = field(default_factory=set)
    """Indexes of records whose write fails (consumed, not retried)."""
    records: list[tuple[Operation, int, int]] = field(default_factory=list)
    """``(operation, requestTime, consumed at)`` in topic order."""

    def send(self, operation: Operation, now: int) -> None:
        start = max(now, self.records[-1][2] if self.records else 0)
        for begin, end in sorted(self.pauses):
            if begin <= start < end:
                start = end
        self.records.append((operation, now, start + self.work))

    def applied(self, until: float) -> list[Operation]:
        """The records it applied, as the feed shows them at ``until``."""
        return [op for index, (op, sent, consumed) in enumerate(self.records)
                if consumed + self.lag <= until and index not in self.failing
                and consumed + self.skew - sent < self.expiry]

    def task(self, until: float) -> TaskState:
        done = self.applied(until)
        return task(current_job="" if UPDATE in done else JOB,
                    trigger_count=done.count(INCREMENT))


@st.composite
def controllers(draw: st.DrawFn, *, expiry: int, margin: int) -> Controller:
    """Clock skew and feed lag together under the margin; anything else goes."""
    lag = draw(st.integers(0, margin - 1))
    skew = draw(st.integers(-(margin - 1 - lag), margin - 1 - lag))
    pauses = draw(st.lists(st.tuples(st.integers(0, 8 * expiry), st.integers(1, 4 * expiry)),
                           max_size=3))
    return Controller(expiry=expiry, skew=skew, lag=lag, work=draw(st.integers(0, 3)),
                      pauses=[(begin, begin + length) for begin, length in pauses],
                      failing=draw(st.sets(st.integers(0, 7), max_size=3)))


def run(controller: Controller, policy: RepairPolicy, *, baseline: int | None = 0) -> object:
    """Publish one failure, tick every second like the confirmer, then let the backlog
    drain; the last step taken."""
    for op in (UPDATE, INCREMENT):
        controller.send(op, 0)
    pending = first(baseline=baseline)
    end = int((policy.horizon + policy.window).total_seconds())
    step: object = None
    for now in range(end):
        state = controller.task(now)
        pending = observed(pending, state)
        step = next_step(pending, state, now=at(now), policy=policy)
        if isinstance(step, Repair):
            for command in step.report.commands:
                controller.send(command.operation, now)
            pending = repaired(pending, at=at(now))
        elif isinstance(step, Confirmed | GiveUp):
            break
    return step


@settings(max_examples=300, deadline=None)
@given(data=st.data(), margin=st.integers(2, 10))
def test_a_backed_up_controller_never_applies_a_re_publish_beside_its_original(
    data: st.DataObject, margin: int,
) -> None:
    expiry = 20
    controller = data.draw(controllers(expiry=expiry, margin=margin))
    policy = RepairPolicy(expiry=timedelta(seconds=expiry), margin=timedelta(seconds=margin))

    last = run(controller, policy)

    applied = controller.applied(float("inf"))
    assert applied.count(INCREMENT) <= 1, controller  # never doubled
    assert applied.count(UPDATE) <= 1, controller  # never sent beside its original
    if isinstance(last, Confirmed):
        assert sorted(applied) == sorted([UPDATE, INCREMENT])  # freed once


@settings(max_examples=100, deadline=None)
@given(data=st.data(), begin=st.integers(0, 40), length=st.integers(1, 60))
def test_a_controller_backed_up_once_gets_every_failure(
    data: st.DataObject, begin: int, length: int,
) -> None:
    """No write fails and the controller is backed up once, catching up before the last
    re-publish is due (100 s after the first send): never lost."""
    controller = data.draw(controllers(expiry=20, margin=5))
    controller.failing = set()
    controller.pauses = [(begin, begin + length)]
    policy = RepairPolicy(expiry=timedelta(seconds=20), margin=timedelta(seconds=5))

    assert isinstance(run(controller, policy), Confirmed), controller
    assert sorted(controller.applied(float("inf"))) == sorted([UPDATE, INCREMENT])


def test_the_v0_3_schedule_against_todays_expiry_doubles() -> None:
    """Why the schedule follows the expiry: re-publishing after 10 minutes (v0.3's
    window) while today's controller, backed up for 30, still holds the original."""
    minute = 60
    controller = Controller(expiry=60 * minute, skew=0, lag=0, work=0,
                            pauses=[(0, 30 * minute)])
    run(controller, RepairPolicy.for_consumer(expiry=V0_3_EXPIRY))
    assert controller.applied(float("inf")).count(INCREMENT) == 3  # re-sent at 10 and 20 min
    fixed = Controller(expiry=60 * minute, skew=0, lag=0, work=0, pauses=[(0, 30 * minute)])
    assert isinstance(run(fixed, RepairPolicy()), Confirmed)
    assert fixed.applied(float("inf")).count(INCREMENT) == 1
