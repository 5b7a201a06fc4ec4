"""AbsentJobs: a Job the feed names counts as missing only after a settling period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zombiewatch.domain.absence import AbsentJobs

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
SETTLE = timedelta(minutes=2)


def missing(absent: AbsentJobs, *jobs: str, at: timedelta) -> list[str]:
    return absent.missing(jobs, now=T0 + at, settle=SETTLE)


def test_a_job_is_missing_once_absent_for_the_settling_period() -> None:
    absent = AbsentJobs()
    assert missing(absent, "a", "b", at=timedelta(0)) == []
    assert missing(absent, "a", "b", at=SETTLE - timedelta(seconds=1)) == []
    assert missing(absent, "a", "b", at=SETTLE) == ["a", "b"]


def test_a_job_seen_again_restarts_its_clock() -> None:
    absent = AbsentJobs()
    missing(absent, "a", at=timedelta(0))
    assert missing(absent, at=SETTLE) == []  # present (or no longer named) this sweep
    assert missing(absent, "a", at=SETTLE * 2 - timedelta(seconds=1)) == []
    assert missing(absent, "a", at=SETTLE * 3 - timedelta(seconds=1)) == ["a"]


def test_jobs_no_longer_absent_are_forgotten() -> None:
    absent = AbsentJobs()
    missing(absent, "a", "b", at=timedelta(0))
    assert len(absent) == 2
    missing(absent, "b", at=timedelta(seconds=1))
    assert len(absent) == 1
    assert missing(absent, "a", "b", at=SETTLE) == ["b"]  # a's clock started again
