"""AbsentJobs: a Job the feed names counts as missing only after a settling period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zombiewatch.domain.absence import AbsentJobs
from zombiewatch.domain.tasks import TaskState

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
SETTLE = timedelta(minutes=2)


def named(*jobs: str) -> list[tuple[str, TaskState]]:
    return [(f"t-{job}", TaskState(current_job=job, job_started_at=T0, assignee="claude",
                                   trigger_count=0, max_triggers=3, phase="in_progress"))
            for job in jobs]


def missing(absent: AbsentJobs, jobs: list[tuple[str, TaskState]], *, at: timedelta,
            present: frozenset[str] = frozenset()) -> list[str]:
    return [state.current_job for _, state in
            absent.missing(jobs, exists=present.__contains__, now=T0 + at, settle=SETTLE)]


def test_a_job_is_missing_once_absent_for_the_settling_period() -> None:
    absent = AbsentJobs()
    assert missing(absent, named("a", "b"), at=timedelta(0)) == []
    assert missing(absent, named("a", "b"), at=SETTLE - timedelta(seconds=1)) == []
    assert missing(absent, named("a", "b"), at=SETTLE) == ["a", "b"]


def test_a_job_present_is_never_missing_and_its_clock_restarts() -> None:
    absent = AbsentJobs()
    missing(absent, named("a"), at=timedelta(0))
    assert missing(absent, named("a"), at=SETTLE, present=frozenset({"a"})) == []
    assert missing(absent, named("a"), at=SETTLE * 2 - timedelta(seconds=1)) == []
    assert missing(absent, named("a"), at=SETTLE * 3) == ["a"]


def test_jobs_no_longer_named_are_forgotten() -> None:
    absent = AbsentJobs()
    missing(absent, named("a", "b"), at=timedelta(0))
    assert len(absent) == 2
    missing(absent, named("b"), at=timedelta(seconds=1))
    assert len(absent) == 1
    assert missing(absent, named("a", "b"), at=SETTLE) == ["b"]  # a's clock started again
