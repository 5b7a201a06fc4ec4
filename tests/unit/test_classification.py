"""SPEC §5: the pod table, the Job-condition table and the sweeper, row by row."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import judged, sweep_verdict
from zombiewatch.domain.classification import (
    COMPLETED,
    GRACE,
    JobCompleted,
    Rule,
    Verdict,
    classify_job,
    classify_pod,
)
from zombiewatch.domain.gate import DeadlineInputs
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.triage import sweep_inputs
from zombiewatch.domain.views import (
    ContainerView,
    InFlightJob,
    JobView,
    PodPhase,
    PodView,
)
from zombiewatch.testing.strategies import (
    POD_TABLE_REASONS,
    REFERENCE_NOW,
    durations,
    failing_pod_views,
    healthy_pod_views,
    in_flight_jobs,
    job_views,
    pod_views,
    utc_datetimes,
)

NOW = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)
CREATED = NOW - timedelta(minutes=10)
DEADLINE = timedelta(minutes=30)
HEARTBEAT = timedelta(minutes=5)


def waiting(reason: str, name: str = "agent") -> ContainerView:
    return ContainerView(name=name, waiting_reason=reason)


def terminated(exit_code: int, name: str = "agent", reason: str | None = None) -> ContainerView:
    return ContainerView(name=name, terminated_exit_code=exit_code, terminated_reason=reason)


RUNNING_CONTAINER = ContainerView(name="agent", running=True)


def make_pod(
    *,
    phase: PodPhase = PodPhase.RUNNING,
    status_reason: str | None = None,
    created_at: datetime = CREATED,
    scheduled: bool | None = True,
    init_containers: tuple[ContainerView, ...] = (),
    containers: tuple[ContainerView, ...] = (RUNNING_CONTAINER,),
) -> PodView:
    return PodView(
        namespace="agents",
        name="claude-3f2a9c1d-20260602094600-abcde",
        uid="pod-uid",
        task_id="3f2a9c1d-0000-0000-0000-000000000000",
        job_name="claude-3f2a9c1d-20260602094600",
        phase=phase,
        status_reason=status_reason,
        created_at=created_at,
        scheduled=scheduled,
        init_containers=init_containers,
        containers=containers,
    )


def make_job(
    *,
    failed_reason: str | None = None,
    complete: bool = False,
    started_at: datetime | None = CREATED,
    created_at: datetime = CREATED,
    reported_reason: str | None = None,
) -> JobView:
    return JobView(
        namespace="agents",
        name="claude-3f2a9c1d-20260602094600",
        uid="job-uid",
        task_id="3f2a9c1d-0000-0000-0000-000000000000",
        assignee="claude",
        created_at=created_at,
        started_at=started_at,
        failed_reason=failed_reason,
        complete=complete,
        reported_reason=reported_reason,
    )


def make_record(*, started_at: datetime | None = CREATED) -> InFlightJob:
    return InFlightJob(
        task_id="3f2a9c1d-0000-0000-0000-000000000000",
        job_name="claude-3f2a9c1d-20260602094600",
        assignee="claude",
        started_at=started_at,
    )


# --- the pod table ------------------------------------------------------------------------

POD_TABLE = [
    pytest.param(
        make_pod(phase=PodPhase.PENDING, containers=(waiting("ImagePullBackOff"),)),
        Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL,
                "ImagePullBackOff"),
        id="waiting ImagePullBackOff is image_pull_backoff",
    ),
    pytest.param(
        make_pod(phase=PodPhase.PENDING, containers=(waiting("ErrImagePull"),)),
        Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL,
                "ErrImagePull"),
        id="waiting ErrImagePull is image_pull_backoff",
    ),
    pytest.param(
        make_pod(phase=PodPhase.PENDING, containers=(waiting("InvalidImageName"),)),
        Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL,
                "InvalidImageName"),
        id="waiting InvalidImageName is image_pull_backoff",
    ),
    pytest.param(
        make_pod(containers=(waiting("CrashLoopBackOff"),)),
        Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.WAITING_CRASH_LOOP,
                "CrashLoopBackOff"),
        id="waiting CrashLoopBackOff is pod_crash_no_stdout",
    ),
    pytest.param(
        make_pod(phase=PodPhase.FAILED, status_reason="Evicted", containers=()),
        Verdict(ZombieReason.POD_EVICTED, Rule.EVICTED),
        id="status reason Evicted is pod_evicted",
    ),
    pytest.param(
        make_pod(phase=PodPhase.FAILED, containers=(terminated(1, reason="Error"),)),
        Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, "Error/1"),
        id="failed with a non-zero exit is pod_crash_no_stdout, its reason/code the evidence",
    ),
    pytest.param(
        make_pod(phase=PodPhase.FAILED, containers=(terminated(137),)),
        Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, "/137"),
        id="failed with a non-zero exit and no terminated reason: the bare code is the evidence",
    ),
    pytest.param(
        make_pod(phase=PodPhase.FAILED, containers=(terminated(137, reason="OOMKilled"),)),
        Verdict(ZombieReason.POD_OOM_KILLED, Rule.FAILED_OOM_KILLED, "OOMKilled/137"),
        id="failed with an OOMKilled non-zero exit is pod_oom_killed",
    ),
    pytest.param(
        make_pod(phase=PodPhase.FAILED, containers=(
            terminated(1, name="sidecar", reason="Error"), terminated(137, reason="OOMKilled"))),
        Verdict(ZombieReason.POD_OOM_KILLED, Rule.FAILED_OOM_KILLED, "OOMKilled/137"),
        id="an OOMKilled container explains the pod before another that failed",
    ),
    pytest.param(
        make_pod(phase=PodPhase.FAILED, containers=(
            terminated(0, name="sidecar", reason="OOMKilled"), terminated(2, reason="Error"))),
        Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, "Error/2"),
        id="an OOMKilled container that exited zero explains nothing",
    ),
    pytest.param(
        make_pod(phase=PodPhase.PENDING, scheduled=False, containers=()),
        Verdict(ZombieReason.POD_NOT_SCHEDULED, Rule.UNSCHEDULABLE_PAST_GRACE),
        id="pending and unschedulable past grace is pod_not_scheduled",
    ),
    pytest.param(
        make_pod(phase=PodPhase.PENDING, containers=(waiting("CreateContainerConfigError"),)),
        Verdict(ZombieReason.CONTAINER_CONFIG_ERROR, Rule.CONTAINER_CONFIG_ERROR_PAST_GRACE,
                "CreateContainerConfigError"),
        id="waiting CreateContainerConfigError past grace is container_config_error",
    ),
    pytest.param(
        make_pod(phase=PodPhase.PENDING, containers=(waiting("CreateContainerError"),)),
        Verdict(ZombieReason.CONTAINER_CONFIG_ERROR, Rule.CONTAINER_CONFIG_ERROR_PAST_GRACE,
                "CreateContainerError"),
        id="waiting CreateContainerError past grace is container_config_error",
    ),
    pytest.param(make_pod(), None, id="a running pod is not a zombie"),
    pytest.param(
        make_pod(phase=PodPhase.SUCCEEDED, containers=(terminated(0),)),
        None,
        id="a succeeded pod is not a zombie",
    ),
    pytest.param(
        make_pod(phase=PodPhase.FAILED, containers=(terminated(0),)),
        None,
        id="a failed pod whose containers all exited zero is not a zombie",
    ),
    pytest.param(
        make_pod(phase=PodPhase.SUCCEEDED, containers=(terminated(0, reason="OOMKilled"),)),
        None,
        id="a succeeded pod whose child was killed for memory is not a zombie",
    ),
    pytest.param(
        make_pod(phase=PodPhase.RUNNING, containers=(terminated(137, reason="OOMKilled"),)),
        None,
        id="an OOMKilled container of a pod not yet Failed is not decided yet",
    ),
    pytest.param(
        make_pod(phase=PodPhase.FAILED, containers=(waiting("ContainerCreating"),)),
        None,
        id="a failed pod without a terminated container is not a zombie",
    ),
    pytest.param(
        make_pod(phase=PodPhase.PENDING, scheduled=None, containers=()),
        None,
        id="a pending pod without a PodScheduled condition is not a zombie",
    ),
    pytest.param(
        make_pod(phase=PodPhase.RUNNING, scheduled=False, containers=()),
        None,
        id="an unschedulable condition outside Pending is not a zombie",
    ),
    pytest.param(
        make_pod(phase=PodPhase.PENDING, containers=(waiting("ContainerCreating"),)),
        None,
        id="a pod creating its container is not a zombie",
    ),
]


@pytest.mark.parametrize(("pod", "expected"), POD_TABLE)
def test_pod_table_row(pod: PodView, expected: Verdict | None) -> None:
    # Arrange: the pod is the parameter.
    # Act
    verdict = classify_pod(pod, now=NOW)
    # Assert
    assert judged(verdict) == expected


@pytest.mark.parametrize(
    "reason", ["ImagePullBackOff", "CrashLoopBackOff", "CreateContainerConfigError"]
)
def test_init_containers_count_like_regular_containers(reason: str) -> None:
    # Arrange
    regular = make_pod(phase=PodPhase.PENDING, containers=(waiting(reason),))
    init = make_pod(
        phase=PodPhase.PENDING,
        init_containers=(waiting(reason, name="init"),),
        containers=(waiting("PodInitializing"),),
    )
    # Act
    verdicts = (classify_pod(regular, now=NOW), classify_pod(init, now=NOW))
    # Assert
    assert verdicts[0] is not None
    assert judged(verdicts[0]) == judged(verdicts[1])


def test_an_init_container_that_failed_with_non_zero_exit_is_a_crash() -> None:
    # Arrange
    pod = make_pod(
        phase=PodPhase.FAILED,
        init_containers=(terminated(1, name="init"),),
        containers=(waiting("PodInitializing"),),
    )
    # Act
    verdict = classify_pod(pod, now=NOW)
    # Assert
    assert judged(verdict) == Verdict(
        ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, "/1")


PRECEDENCE = [
    pytest.param(
        make_pod(containers=(waiting("CrashLoopBackOff"), waiting("ErrImagePull", name="b"))),
        Rule.WAITING_IMAGE_PULL,
        id="image pull beats crash loop, whatever the container order",
    ),
    pytest.param(
        make_pod(status_reason="Evicted", containers=(waiting("CrashLoopBackOff"),)),
        Rule.WAITING_CRASH_LOOP,
        id="crash loop beats evicted",
    ),
    pytest.param(
        make_pod(phase=PodPhase.FAILED, status_reason="Evicted", containers=(terminated(137),)),
        Rule.EVICTED,
        id="evicted beats failed with non-zero exit",
    ),
    pytest.param(
        make_pod(
            phase=PodPhase.PENDING,
            scheduled=False,
            containers=(waiting("CreateContainerConfigError"),),
        ),
        Rule.UNSCHEDULABLE_PAST_GRACE,
        id="unschedulable beats container config error",
    ),
    pytest.param(
        make_pod(
            phase=PodPhase.PENDING,
            scheduled=False,
            init_containers=(waiting("InvalidImageName", name="init"),),
        ),
        Rule.WAITING_IMAGE_PULL,
        id="image pull beats unschedulable",
    ),
]


@pytest.mark.parametrize(("pod", "rule"), PRECEDENCE)
def test_the_first_matching_row_of_the_pod_table_wins(pod: PodView, rule: Rule) -> None:
    # Arrange: the pod is the parameter.
    # Act
    verdict = classify_pod(pod, now=NOW)
    # Assert
    assert verdict is not None
    assert verdict.rule is rule


@pytest.mark.parametrize(
    "pod",
    [
        pytest.param(
            make_pod(phase=PodPhase.PENDING, scheduled=False, containers=()), id="unsched"
        ),
        pytest.param(
            make_pod(phase=PodPhase.PENDING, containers=(waiting("CreateContainerError"),)),
            id="config",
        ),
    ],
)
@pytest.mark.parametrize(
    ("age", "is_zombie"),
    [
        pytest.param(GRACE - timedelta(microseconds=1), False, id="just inside grace"),
        pytest.param(GRACE, True, id="exactly at grace"),
        pytest.param(GRACE + timedelta(seconds=1), True, id="past grace"),
        pytest.param(timedelta(seconds=-30), False, id="created in the future"),
    ],
)
def test_time_dependent_rows_fire_once_the_pod_is_at_least_grace_old(
    pod: PodView, age: timedelta, is_zombie: bool
) -> None:
    # Arrange
    aged = replace(pod, created_at=NOW - age)
    # Act
    verdict = classify_pod(aged, now=NOW)
    # Assert
    assert (verdict is not None) is is_zombie


def test_the_grace_window_is_two_minutes() -> None:
    assert timedelta(seconds=120) == GRACE


def test_a_custom_grace_window_is_honoured() -> None:
    # Arrange
    pod = make_pod(phase=PodPhase.PENDING, scheduled=False, created_at=NOW - timedelta(seconds=30))
    # Act
    default = classify_pod(pod, now=NOW)
    short = classify_pod(pod, now=NOW, grace=timedelta(seconds=30))
    # Assert
    assert default is None
    assert short is not None


def test_image_pull_is_reported_immediately_without_waiting_for_grace() -> None:
    # Arrange
    pod = make_pod(phase=PodPhase.PENDING, created_at=NOW, containers=(waiting("ErrImagePull"),))
    # Act
    verdict = classify_pod(pod, now=NOW)
    # Assert
    assert verdict is not None
    assert verdict.reason is ZombieReason.IMAGE_PULL_BACKOFF


@given(pod=pod_views(), now=utc_datetimes(), grace=durations(max_seconds=600))
def test_pod_classification_is_total_and_deterministic(
    pod: PodView, now: datetime, grace: timedelta
) -> None:
    # Act
    first = classify_pod(pod, now=now, grace=grace)
    second = classify_pod(pod, now=now, grace=grace)
    # Assert
    assert first == second
    assert first is None or isinstance(first, Verdict)


@given(data=st.data(), reason=st.sampled_from(POD_TABLE_REASONS))
def test_every_failing_pod_is_classified_with_its_reason(
    data: st.DataObject, reason: ZombieReason
) -> None:
    # Arrange
    pod = data.draw(failing_pod_views(reason))
    # Act
    verdict = classify_pod(pod, now=REFERENCE_NOW)
    # Assert
    assert verdict is not None
    assert verdict.reason is reason


@given(pod=healthy_pod_views(), now=utc_datetimes())
def test_a_healthy_pod_is_never_a_zombie(pod: PodView, now: datetime) -> None:
    # Act
    verdict = classify_pod(pod, now=now)
    # Assert
    assert verdict is None


# --- Job conditions -------------------------------------------------------------------------

JOB_TABLE = [
    pytest.param(
        make_job(failed_reason="DeadlineExceeded"),
        Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.JOB_FAILED_DEADLINE),
        id="failed DeadlineExceeded is deadline_exceeded",
    ),
    pytest.param(
        make_job(failed_reason="BackoffLimitExceeded"),
        Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.JOB_FAILED_OTHER),
        id="failed BackoffLimitExceeded on its own is a bare pod_crash_no_stdout",
    ),
    pytest.param(
        make_job(failed_reason="PodFailurePolicy"),
        Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.JOB_FAILED_OTHER),
        id="failed for another reason is pod_crash_no_stdout",
    ),
    pytest.param(
        make_job(failed_reason=""),
        Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.JOB_FAILED_OTHER),
        id="failed without a reason is pod_crash_no_stdout",
    ),
    pytest.param(make_job(complete=True), COMPLETED, id="complete is completed"),
    pytest.param(
        make_job(complete=True, failed_reason="DeadlineExceeded"),
        COMPLETED,
        id="complete wins over failed",
    ),
    pytest.param(make_job(), None, id="a running job is healthy"),
]


@pytest.mark.parametrize(("job", "expected"), JOB_TABLE)
def test_job_condition_row(job: JobView, expected: Verdict | JobCompleted | None) -> None:
    # Act
    outcome = classify_job(job)
    # Assert
    assert judged(outcome) == expected


@given(job=job_views())
def test_job_classification_is_total_and_deterministic(job: JobView) -> None:
    # Act
    first = classify_job(job)
    second = classify_job(job)
    # Assert
    assert first == second
    assert first is None or first is COMPLETED or isinstance(first, Verdict)


# --- the sweeper ----------------------------------------------------------------------------


def judge(
    *,
    job: JobView | None = None,
    pods: tuple[PodView, ...] = (),
    now: datetime = NOW,
    record: InFlightJob | None = None,
    last_heartbeat: datetime | None = None,
) -> Verdict | None:
    limits = DeadlineInputs(deadline=DEADLINE, heartbeat_window=HEARTBEAT,
                            last_heartbeat=last_heartbeat)
    return sweep_verdict(sweep_inputs(record or make_record(), job=job, pods=pods, now=now,
                                      limits=limits))


PAST_DEADLINE = CREATED + DEADLINE
PENDING_POD = make_pod(phase=PodPhase.PENDING, containers=(waiting("ContainerCreating"),))

SWEEPER_TABLE = [
    pytest.param(
        {"job": make_job(), "pods": (make_pod(containers=(waiting("ErrImagePull"),)),)},
        Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL, "ErrImagePull"),
        id="the pod table is re-applied before the deadline",
    ),
    pytest.param(
        {"job": make_job(), "pods": (make_pod(phase=PodPhase.PENDING, scheduled=False),)},
        Verdict(ZombieReason.POD_NOT_SCHEDULED, Rule.UNSCHEDULABLE_PAST_GRACE),
        id="an unschedulable pod is caught after grace, long before the deadline",
    ),
    pytest.param(
        {"job": make_job(failed_reason="DeadlineExceeded")},
        Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.JOB_FAILED_DEADLINE),
        id="a missed Job failure event is caught",
    ),
    pytest.param(
        {"job": make_job(), "pods": (make_pod(),)},
        None,
        id="a running Job before its deadline is healthy",
    ),
    pytest.param(
        {"job": make_job(), "pods": (PENDING_POD,), "now": PAST_DEADLINE},
        Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.DEADLINE_POD_NOT_RUNNING),
        id="past the deadline with no running pod is deadline_exceeded",
    ),
    pytest.param(
        {"job": make_job(), "now": PAST_DEADLINE},
        Verdict(ZombieReason.EXECUTOR_WATCH_LOST, Rule.DEADLINE_NO_POD),
        id="past the deadline with no pod at all is executor_watch_lost",
    ),
    pytest.param(
        {"job": None, "now": PAST_DEADLINE},
        Verdict(ZombieReason.EXECUTOR_WATCH_LOST, Rule.DEADLINE_NO_POD),
        id="a host record without a Job past its deadline is executor_watch_lost",
    ),
    pytest.param(
        {"job": None, "now": PAST_DEADLINE - timedelta(seconds=1)},
        None,
        id="a host record without a Job before its deadline is left alone",
    ),
    pytest.param(
        {"job": make_job(), "pods": (PENDING_POD, make_pod()), "now": PAST_DEADLINE},
        None,
        id="past the deadline a running pod keeps the Job alive",
    ),
    pytest.param(
        {
            "job": make_job(),
            "pods": (PENDING_POD,),
            "now": PAST_DEADLINE,
            "last_heartbeat": PAST_DEADLINE - HEARTBEAT,
        },
        None,
        id="past the deadline a heartbeat exactly at the window edge keeps the Job alive",
    ),
    pytest.param(
        {
            "job": make_job(),
            "pods": (PENDING_POD,),
            "now": PAST_DEADLINE,
            "last_heartbeat": PAST_DEADLINE - HEARTBEAT - timedelta(seconds=1),
        },
        Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.DEADLINE_POD_NOT_RUNNING),
        id="past the deadline a stale heartbeat does not keep the Job alive",
    ),
    pytest.param(
        {"job": make_job(), "now": PAST_DEADLINE - timedelta(microseconds=1)},
        None,
        id="just before the deadline nothing is judged",
    ),
    pytest.param(
        {"job": make_job(complete=True), "now": PAST_DEADLINE + DEADLINE},
        None,
        id="a completed Job is never a zombie",
    ),
    pytest.param(
        {
            "job": make_job(complete=True),
            "pods": (make_pod(phase=PodPhase.FAILED, containers=(terminated(2),)),),
        },
        None,
        id="a completed Job is never a zombie whatever its pods say",
    ),
    pytest.param(
        {
            "job": make_job(reported_reason="image_pull_backoff"),
            "pods": (make_pod(containers=(waiting("ErrImagePull"),)),),
            "now": PAST_DEADLINE,
        },
        None,
        id="an already reported Job is never judged again",
    ),
    pytest.param(
        {
            "job": make_job(started_at=None, created_at=CREATED + timedelta(minutes=5)),
            "now": PAST_DEADLINE,
        },
        None,
        id="without a start time elapsed counts from the Job's creation",
    ),
    pytest.param(
        {
            "job": make_job(started_at=CREATED + timedelta(minutes=5)),
            "now": PAST_DEADLINE,
            "record": make_record(started_at=CREATED - timedelta(hours=1)),
        },
        None,
        id="the Job's start time wins over the host's",
    ),
    pytest.param(
        {"job": None, "now": PAST_DEADLINE, "record": make_record(started_at=None)},
        None,
        id="with no start time known at all nothing is judged",
    ),
]


@pytest.mark.parametrize(("case", "expected"), SWEEPER_TABLE)
def test_sweeper_row(case: dict[str, object], expected: Verdict | None) -> None:
    # Arrange: the case is the parameter.
    # Act
    verdict = judge(**case)  # type: ignore[arg-type]
    # Assert
    assert judged(verdict) == expected


def test_the_first_pod_with_a_verdict_wins() -> None:
    # Arrange
    pods = (
        make_pod(),
        make_pod(status_reason="Evicted", phase=PodPhase.FAILED),
        make_pod(containers=(waiting("ErrImagePull"),)),
    )
    # Act
    verdict = judge(job=make_job(), pods=pods)
    # Assert
    assert verdict == Verdict(ZombieReason.POD_EVICTED, Rule.EVICTED)


def test_a_pod_verdict_wins_over_the_job_condition() -> None:
    # Arrange
    job = make_job(failed_reason="DeadlineExceeded")
    pods = (make_pod(phase=PodPhase.FAILED, status_reason="Evicted"),)
    # Act
    verdict = judge(job=job, pods=pods)
    # Assert
    assert verdict is not None
    assert verdict.reason is ZombieReason.POD_EVICTED


@given(data=st.data())
def test_the_sweeper_is_total_and_never_reports_completed_or_reported_jobs(
    data: st.DataObject,
) -> None:
    # Arrange
    record = data.draw(in_flight_jobs())
    job = data.draw(st.one_of(st.none(), job_views()))
    pods = data.draw(st.lists(pod_views(), max_size=3))
    now = data.draw(utc_datetimes())
    deadline = data.draw(durations())
    heartbeat = data.draw(durations(max_seconds=600))
    last_heartbeat = data.draw(st.one_of(st.none(), utc_datetimes()))
    # Act
    limits = DeadlineInputs(deadline=deadline, heartbeat_window=heartbeat,
                            last_heartbeat=last_heartbeat)
    verdict = sweep_verdict(sweep_inputs(record, job=job, pods=pods, now=now, limits=limits))
    # Assert
    if job is not None and (job.complete or job.reported):
        assert verdict is None
    if verdict is not None:
        assert verdict.reason is not ZombieReason.TYPE_MISMATCH


@given(
    pods=st.lists(healthy_pod_views(created_at=st.just(CREATED)), max_size=3),
    elapsed=durations(max_seconds=int(DEADLINE.total_seconds()) - 1),
)
def test_a_healthy_job_within_its_deadline_is_never_classified(
    pods: list[PodView], elapsed: timedelta
) -> None:
    # Arrange
    now = CREATED + elapsed
    # Act
    verdict = judge(job=make_job(), pods=tuple(pods), now=now)
    # Assert
    assert verdict is None
