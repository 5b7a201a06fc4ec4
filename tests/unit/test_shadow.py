"""Shadow mode's comparison rule (domain/shadow.py): per Job, zombiewatch against the executor."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.doctrine import failure_section, type_mismatch_section
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.shadow import (
    ExecutorFailure,
    OurVerdict,
    ShadowOutcome,
    compare,
    executor_failure,
    tally,
)
from zombiewatch.testing.strategies import durations, job_names, task_ids

T0 = datetime(2026, 10, 2, 9, 46, tzinfo=UTC)
SETTLE = timedelta(minutes=5)
OOM = ZombieReason.POD_OOM_KILLED
DEADLINE = ZombieReason.DEADLINE_EXCEEDED


def ours(job: str, reason: ZombieReason, at: datetime | None = T0, task: str = "t1") -> OurVerdict:
    return OurVerdict(task_id=task, job_name=job, reason=reason, at=at)


def theirs(job: str, reason: ZombieReason, at: datetime, task: str = "t1",
           evidence: str = "") -> ExecutorFailure:
    return ExecutorFailure(task_id=task, job_name=job, reason=reason, sent_at=at,
                           evidence=evidence, request_id=uuid4())


def test_the_executors_section_with_its_evidence_suffix_is_read_by_task_and_job() -> None:
    # Arrange
    section = failure_section(at=T0, job_name="claude-abc-1", reason=OOM, evidence="OOMKilled/137")
    rid = uuid4()
    # Act
    failure = executor_failure(task_id="task-9", section=section, sent_at=T0, request_id=rid)
    # Assert
    assert failure == ExecutorFailure(task_id="task-9", job_name="claude-abc-1", reason=OOM,
                                      sent_at=T0, evidence="OOMKilled/137", request_id=rid)


def test_a_detail_line_after_the_reason_line_is_read_past_whoever_wrote_it() -> None:
    written = failure_section(at=T0, job_name="claude-abc-1", reason=OOM, evidence="OOMKilled/137",
                            detail='container "agent" killed out of memory at its limit 8Mi')
    # A Detail line another writer made, not as safe_detail would: still the same failure.
    foreign = written.replace("killed out of memory", "killed  out of\tmemory")

    for section in (written, foreign):
        failure = executor_failure(task_id="task-9", section=section, sent_at=T0)
        assert failure is not None
        assert (failure.job_name, failure.reason, failure.evidence) == (
            "claude-abc-1", OOM, "OOMKilled/137")


def test_a_type_mismatch_or_foreign_section_is_no_executor_failure() -> None:
    mismatch = type_mismatch_section(at=T0, prior_assignee="claude", detail="task_type x")
    assert executor_failure(task_id="t", section=mismatch, sent_at=T0) is None
    assert executor_failure(task_id="t", section="## Failure\n\nsomething\n", sent_at=T0) is None


def test_each_case_is_named() -> None:
    # Arrange
    later = T0 + timedelta(seconds=40)
    mine = [ours("agree", DEADLINE), ours("differ", OOM), ours("only-us", DEADLINE),
            ours("twice", DEADLINE)]
    executor = [theirs("agree", DEADLINE, later), theirs("differ", ZombieReason.POD_CRASH_NO_STDOUT,
                                                         later, evidence="Error/1"),
                theirs("only-them", ZombieReason.IMAGE_PULL_BACKOFF, T0),
                theirs("twice", DEADLINE, later), theirs("twice", DEADLINE, later + SETTLE)]
    # Act
    rows = {r.job_name: r for r in compare(mine, executor, now=T0 + 2 * SETTLE, settle=SETTLE)}
    # Assert
    assert {name: r.outcome for name, r in rows.items()} == {
        "agree": ShadowOutcome.AGREEMENT, "differ": ShadowOutcome.REASON_DISAGREEMENT,
        "only-us": ShadowOutcome.ZOMBIEWATCH_ONLY, "only-them": ShadowOutcome.EXECUTOR_ONLY,
        "twice": ShadowOutcome.AGREEMENT}
    assert rows["twice"].executor_sends == 2
    assert rows["agree"].latency == timedelta(seconds=40)
    assert rows["only-them"].latency is None


def test_the_evidence_suffix_does_not_make_a_disagreement() -> None:
    rows = compare([ours("j", OOM)], [theirs("j", OOM, T0, evidence="OOMKilled/137")])
    assert rows[0].outcome is ShadowOutcome.AGREEMENT


def test_the_same_job_under_another_task_is_another_row() -> None:
    rows = compare([ours("j", DEADLINE, task="a")], [theirs("j", DEADLINE, T0, task="b")])
    assert [r.outcome for r in rows] == [ShadowOutcome.ZOMBIEWATCH_ONLY,
                                         ShadowOutcome.EXECUTOR_ONLY]


def test_one_side_alone_is_pending_until_the_other_had_the_settle_window() -> None:
    # Arrange
    mine, executor = [ours("j", DEADLINE)], [theirs("k", DEADLINE, T0)]
    # Act
    early = compare(mine, executor, now=T0 + SETTLE - timedelta(seconds=1), settle=SETTLE)
    late = compare(mine, executor, now=T0 + SETTLE, settle=SETTLE)
    # Assert
    assert [r.outcome for r in early] == [ShadowOutcome.PENDING] * 2
    assert [r.outcome for r in late] == [ShadowOutcome.ZOMBIEWATCH_ONLY,
                                         ShadowOutcome.EXECUTOR_ONLY]


def test_the_executors_first_send_decides_its_reason_and_time() -> None:
    # Act
    rows = compare([ours("j", OOM)], [theirs("j", DEADLINE, T0 + timedelta(seconds=9)),
                                      theirs("j", OOM, T0 + timedelta(seconds=3))])
    # Assert
    assert rows[0].outcome is ShadowOutcome.AGREEMENT
    assert rows[0].latency == timedelta(seconds=3)


def test_our_earliest_verdict_counts_and_a_negative_latency_means_the_executor_was_first() -> None:
    rows = compare([ours("j", OOM, at=T0 + timedelta(seconds=20)), ours("j", DEADLINE, at=T0)],
                   [theirs("j", DEADLINE, T0 - timedelta(seconds=5))])
    assert rows[0].outcome is ShadowOutcome.AGREEMENT
    assert rows[0].latency == timedelta(seconds=-5)


def test_disagreements_are_the_decided_outcomes_where_the_sides_differ() -> None:
    assert {o for o in ShadowOutcome if o.disagrees} == {
        ShadowOutcome.REASON_DISAGREEMENT, ShadowOutcome.ZOMBIEWATCH_ONLY,
        ShadowOutcome.EXECUTOR_ONLY}


reasons = st.sampled_from([r for r in ZombieReason if r is not ZombieReason.TYPE_MISMATCH])
keys = st.tuples(st.sampled_from(["t1", "t2"]), st.sampled_from(["job-a", "job-b", "job-c"]))
verdicts = st.builds(lambda k, r, d: OurVerdict(task_id=k[0], job_name=k[1], reason=r,
                                                at=T0 + d), keys, reasons, durations())
sends = st.builds(lambda k, r, d: ExecutorFailure(task_id=k[0], job_name=k[1], reason=r,
                                                  sent_at=T0 + d), keys, reasons, durations())


@given(st.lists(verdicts, max_size=6), st.lists(sends, max_size=6), durations(),
       st.randoms())
def test_every_job_is_one_row_and_every_send_is_counted_in_any_order(
    mine: list[OurVerdict], executor: list[ExecutorFailure], elapsed: timedelta,
    shuffle: random.Random,
) -> None:
    # Act
    now = T0 + elapsed
    rows = compare(mine, executor, now=now, settle=SETTLE)
    shuffled = list(executor)
    shuffle.shuffle(shuffled)
    again = compare(list(reversed(mine)), shuffled, now=now, settle=SETTLE)
    # Assert
    keys_seen = [(r.task_id, r.job_name) for r in rows]
    assert len(keys_seen) == len(set(keys_seen))
    assert set(keys_seen) == ({(v.task_id, v.job_name) for v in mine}
                              | {(f.task_id, f.job_name) for f in executor})
    assert sum(r.executor_sends for r in rows) == len(executor)
    assert sum(tally(rows).values()) == len(rows)
    assert [(r.job_name, r.outcome, r.latency) for r in rows] == [
        (r.job_name, r.outcome, r.latency) for r in again]
    for row in rows:
        both = row.ours is not None and row.executor_sends > 0
        assert both == (row.outcome in (ShadowOutcome.AGREEMENT,
                                        ShadowOutcome.REASON_DISAGREEMENT))
        if both:
            assert (row.outcome is ShadowOutcome.AGREEMENT) == (
                row.ours is not None and row.ours.reason is row.executor_reason)


@given(task_ids(), job_names(), reasons, st.sampled_from(["", "OOMKilled/137", "Error/2"]),
       st.text())
def test_any_failure_section_reads_back_as_the_executors_failure(
    task: str, job: str, reason: ZombieReason, evidence: str, detail: str,
) -> None:
    section = failure_section(at=T0, job_name=job, reason=reason, evidence=evidence,
                              detail=detail)
    failure = executor_failure(task_id=task, section=section, sent_at=T0)
    assert failure is not None
    assert (failure.task_id, failure.job_name, failure.reason, failure.evidence) == (
        task, job, reason, evidence)
