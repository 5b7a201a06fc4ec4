"""``domain.triage`` with the task feed: superseded Jobs, and Jobs the feed names that the
namespace does not have (pure; ``zombiewatch scan`` shows these rows)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.builders import judged
from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.gate import DeadlineInputs, GateInputs, decide
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState, feed_registration
from zombiewatch.domain.triage import NotYet, Waiting, triage, triage_missing
from zombiewatch.domain.views import InFlightJob, JobView, PodPhase, PodView

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
DEADLINE = timedelta(minutes=30)
HEARTBEAT = timedelta(minutes=5)
OLD_START = NOW - timedelta(minutes=20)


def failed_job() -> JobView:
    """A Job its agent crashed in (BackoffLimitExceeded), pods gone: a zombie on its own."""
    return JobView(namespace="agents", name="claude-1", uid="u", task_id="t", assignee="claude",
                   created_at=OLD_START, started_at=OLD_START, active_deadline_seconds=1800,
                   failed_reason="BackoffLimitExceeded", complete=False)


def state(current_job: str, started: datetime | None) -> TaskState:
    return TaskState(current_job=current_job, job_started_at=started, assignee="claude",
                     trigger_count=1, max_triggers=3, phase="in_progress")


def judge(task: TaskState | None) -> Verdict | NotYet:
    job = failed_job()
    record = InFlightJob(task_id="t", job_name=job.name, assignee="claude", started_at=OLD_START)
    return triage(record, job=job, pods=(), now=NOW, deadline=DEADLINE,
                  heartbeat_window=HEARTBEAT, last_heartbeat=None, task=task)


def test_without_the_feed_the_failed_job_is_a_zombie() -> None:
    assert isinstance(judge(None), Verdict)


@pytest.mark.parametrize("status", ["completed", "aborted"])
def test_a_job_of_a_closed_task_is_held_and_triage_says_so(status: str) -> None:
    task = replace(state("claude-1", OLD_START), status=status)
    # Act
    outcome = judge(task)
    # Assert: the same hold for the event path, the sweep and scan
    assert outcome == NotYet(Waiting.TASK_CLOSED, None, status)
    assert outcome.describe() == f"task closed ({status})"
    assert isinstance(judge(replace(task, status="in_progress")), Verdict)


def test_a_job_whose_task_names_a_newer_job_is_superseded_by_it_and_no_zombie() -> None:
    # Act
    outcome = judge(state("claude-2", OLD_START + timedelta(minutes=5)))
    # Assert
    assert outcome == NotYet(Waiting.SUPERSEDED, None, "claude-2")
    assert outcome.describe() == "superseded by claude-2"


@pytest.mark.parametrize("task", [
    state("claude-1", OLD_START),  # still the current Job
    state("", None),  # the feed lags: the task was not updated yet
    state("claude-0", OLD_START - timedelta(minutes=5)),  # an older Job: no proof
    state("claude-2", None),  # no start time: no proof it is newer
], ids=["current", "none", "older", "no-start"])
def test_only_a_provably_newer_job_supersedes(task: TaskState) -> None:
    assert isinstance(judge(task), Verdict)


def missing(started: datetime | None, *pods: PodView) -> Verdict | NotYet:
    return triage_missing("t", state("claude-gone", started), pods=pods, now=NOW,
                          deadline=DEADLINE, heartbeat_window=HEARTBEAT)


def test_a_missing_job_past_its_deadline_is_executor_watch_lost() -> None:
    assert judged(missing(NOW - DEADLINE)) == Verdict(ZombieReason.EXECUTOR_WATCH_LOST,
                                              Rule.DEADLINE_NO_POD)


def test_a_missing_job_before_its_deadline_says_when_it_is_due() -> None:
    # Act
    outcome = missing(NOW - timedelta(minutes=18))
    # Assert
    assert outcome == NotYet(Waiting.JOB_MISSING, timedelta(minutes=12))
    assert outcome.describe() == "job not in the namespace, deadline in 12 min"


def test_a_missing_job_without_a_start_time_is_never_judged() -> None:
    outcome = missing(None)

    assert isinstance(outcome, NotYet)
    assert outcome.waiting is Waiting.JOB_MISSING
    assert outcome.remaining is None
    assert outcome.describe() == "job not in the namespace (no job_started_at, never judged)"


def test_a_missing_job_with_a_running_pod_left_is_not_a_zombie() -> None:
    pod = PodView(namespace="agents", name="claude-gone-x", uid="p", task_id="t",
                  job_name="claude-gone", phase=PodPhase.RUNNING, status_reason=None,
                  created_at=NOW - timedelta(hours=1), scheduled=True)

    outcome = missing(NOW - timedelta(hours=1), pod)

    assert outcome == NotYet(Waiting.RUNNING, None, "past its deadline")


@pytest.mark.parametrize("minutes", [0, 1, 29, 30, 31, 90])
def test_the_missing_verdict_is_the_daemons_gate_on_the_feed_registration(minutes: int) -> None:
    """One home: the row says what the sweeper's gate decides for a feed-only Job."""
    # Arrange
    task = state("claude-gone", NOW - timedelta(minutes=minutes))
    # Act
    outcome = triage_missing("t", task, pods=(), now=NOW, deadline=DEADLINE,
                             heartbeat_window=HEARTBEAT)
    decision = decide(GateInputs(
        job_name="claude-gone", job=None, registration=feed_registration("t", task), now=NOW,
        deadline=DeadlineInputs(deadline=DEADLINE, heartbeat_window=HEARTBEAT,
                                last_heartbeat=None), task=task))
    # Assert
    assert (outcome if isinstance(outcome, Verdict) else None) == decision
