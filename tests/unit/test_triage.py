"""``domain.triage``: the verdict now, or why not yet, with the time left."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.gate import DeadlineInputs, GateInputs, decide
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.triage import NotYet, Waiting, format_duration, triage
from zombiewatch.domain.views import (
    ContainerView,
    InFlightJob,
    JobView,
    PodPhase,
    PodView,
)
from zombiewatch.testing.strategies import (
    durations,
    in_flight_jobs,
    job_views,
    pod_views,
    utc_datetimes,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
DEADLINE = timedelta(minutes=30)
HEARTBEAT = timedelta(minutes=5)


def job(*, created: datetime, **changes: object) -> JobView:
    base = JobView(namespace="agents", name="claude-1", uid="u", task_id="t", assignee="claude",
                   created_at=created, started_at=created, active_deadline_seconds=1800,
                   failed_reason=None, complete=False)
    return replace(base, **changes)  # type: ignore[arg-type]


def pod(*, created: datetime, phase: PodPhase = PodPhase.PENDING, **changes: object) -> PodView:
    base = PodView(namespace="agents", name="claude-1-x", uid="p", task_id="t",
                   job_name="claude-1", phase=phase, status_reason=None, created_at=created,
                   scheduled=True)
    return replace(base, **changes)  # type: ignore[arg-type]


def record(created: datetime) -> InFlightJob:
    return InFlightJob(task_id="t", job_name="claude-1", assignee="claude", started_at=created)


def judge(the_job: JobView, pods: tuple[PodView, ...], *,
          last_heartbeat: datetime | None = None) -> Verdict | NotYet:
    return triage(record(the_job.created_at), job=the_job, pods=pods, now=NOW,
                  deadline=DEADLINE, heartbeat_window=HEARTBEAT, last_heartbeat=last_heartbeat)


AGO_73S = NOW - timedelta(seconds=73)
RUNNING = (ContainerView(name="agent", running=True),)

ROWS = [
    pytest.param(job(created=AGO_73S), (pod(created=AGO_73S, scheduled=False),),
                 "unschedulable, grace ends in 47 s", id="unschedulable"),
    pytest.param(job(created=AGO_73S),
                 (pod(created=AGO_73S, containers=(ContainerView(
                     name="agent", waiting_reason="CreateContainerConfigError"),)),),
                 "container config error (CreateContainerConfigError), grace ends in 47 s",
                 id="config error"),
    pytest.param(job(created=NOW - timedelta(minutes=18)),
                 (pod(created=NOW - timedelta(minutes=18), phase=PodPhase.RUNNING,
                      containers=RUNNING),),
                 "running, deadline in 12 min", id="running"),
    pytest.param(job(created=NOW - timedelta(minutes=40)),
                 (pod(created=NOW - timedelta(minutes=40), phase=PodPhase.RUNNING,
                      containers=RUNNING),),
                 "running (past its deadline)", id="running past the deadline"),
    pytest.param(job(created=NOW - timedelta(seconds=10)), (),
                 "not running yet, deadline in 30 min", id="no pod yet"),
    pytest.param(job(created=NOW - timedelta(seconds=20)),
                 (pod(created=NOW - timedelta(seconds=20), phase=PodPhase.RUNNING,
                      containers=RUNNING, disruption_reason="EvictionByEvictionAPI"),),
                 "disrupted, pod still terminating (EvictionByEvictionAPI)", id="draining"),
    pytest.param(job(created=NOW - timedelta(seconds=30), failed_reason="BackoffLimitExceeded",
                     failure_target=True, failed_at=NOW - timedelta(seconds=7)),
                 (pod(created=NOW - timedelta(seconds=30), phase=PodPhase.RUNNING,
                      containers=RUNNING),),
                 "job failed, waiting for its pod to end (BackoffLimitExceeded), decided in at "
                 "most 113 s",
                 id="failed job waiting for its pod"),
    pytest.param(job(created=NOW - timedelta(minutes=5), complete=True), (), "completed",
                 id="completed"),
]


@pytest.mark.parametrize(("the_job", "pods", "text"), ROWS)
def test_why_not_yet_row(the_job: JobView, pods: tuple[PodView, ...], text: str) -> None:
    # Act
    outcome = judge(the_job, pods)
    # Assert
    assert isinstance(outcome, NotYet)
    assert outcome.describe() == text


def test_a_heartbeat_past_the_deadline_says_when_its_window_ends() -> None:
    # Arrange
    old = job(created=NOW - timedelta(hours=1))
    # Act
    outcome = judge(old, (pod(created=old.created_at),),
                    last_heartbeat=NOW - timedelta(minutes=2))
    # Assert
    assert outcome == NotYet(Waiting.HEARTBEAT, timedelta(minutes=3))
    assert outcome.describe() == "past deadline, heartbeat, window ends in 3 min"


def test_a_reported_job_still_shows_the_verdict_the_rules_give() -> None:
    # Arrange
    reported = job(created=AGO_73S, reported_reason="image_pull_backoff")
    pods = (pod(created=AGO_73S, containers=(
        ContainerView(name="agent", waiting_reason="ImagePullBackOff"),)),)
    # Act
    outcome = judge(reported, pods)
    # Assert
    assert outcome == Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL,
                              "ImagePullBackOff", 'container "agent"')


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (0.2, "1 s"), (47, "47 s"), (119, "119 s"), (120, "2 min"), (719.5, "12 min"),
    (7199, "2 h"), (7000, "117 min"), (7200, "2 h"), (11100, "3 h 5 min"), (-5, "0 s"),
])
def test_durations_read_naturally_and_round_up(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


@given(data=st.data())
def test_triage_is_total_and_agrees_with_the_sweeper(data: st.DataObject) -> None:
    # Arrange
    the_record = data.draw(in_flight_jobs())
    the_job = data.draw(st.one_of(st.none(), job_views()))
    pods = data.draw(st.lists(pod_views(), max_size=3))
    now = data.draw(utc_datetimes())
    deadline = data.draw(durations())
    heartbeat = data.draw(durations(max_seconds=600))
    last = data.draw(st.one_of(st.none(), utc_datetimes()))
    # Act
    outcome = triage(the_record, job=the_job, pods=pods, now=now, deadline=deadline,
                     heartbeat_window=heartbeat, last_heartbeat=last)
    # Assert: a verdict exactly when the sweeper (ignoring the annotation) finds one
    unannotated = replace(the_job, reported_reason=None) if the_job is not None else None
    swept = decide(GateInputs(
        job_name=the_record.job_name, job=unannotated, registration=the_record, pods=pods,
        now=now, deadline=DeadlineInputs(deadline=deadline, heartbeat_window=heartbeat,
                                         last_heartbeat=last)))
    if not isinstance(swept, Verdict):
        assert isinstance(outcome, NotYet)
        assert outcome.describe()
    else:
        assert outcome == swept


@given(data=st.data())
def test_a_grace_row_names_the_moment_the_pod_table_fires(data: st.DataObject) -> None:
    """"Grace ends in N": N later the same state is a zombie (the classifier's own rule)."""
    the_record = data.draw(in_flight_jobs())
    the_job = data.draw(st.one_of(st.none(), job_views()))
    pods = data.draw(st.lists(pod_views(), max_size=3))
    now = data.draw(utc_datetimes())
    def at(moment: datetime) -> object:
        return triage(the_record, job=the_job, pods=pods, now=moment,
                      deadline=timedelta(days=3650), heartbeat_window=timedelta(0),
                      last_heartbeat=None)

    outcome = at(now)
    if not isinstance(outcome, NotYet) or outcome.waiting not in (
            Waiting.UNSCHEDULABLE, Waiting.CONFIG_ERROR):
        return
    assert outcome.remaining is not None
    assert isinstance(at(now + outcome.remaining), Verdict)
