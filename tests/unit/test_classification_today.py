"""SPEC §5 "Kubernetes as it runs today": DisruptionTarget, FailureTarget, SuccessCriteriaMet,
and a failed Job judged together with its pods (v1.37 writes the Job's verdict first)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import judged
from zombiewatch.domain.classification import (
    POD_END_WAIT,
    Rule,
    Verdict,
    awaits_pod_end,
    classify_job,
    classify_pod,
    settle_job_failure,
)
from zombiewatch.domain.gate import DeadlineInputs, Decision, GateInputs, decide
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import ContainerView, JobView, PodPhase, PodView
from zombiewatch.testing.strategies import job_views, pod_views, utc_datetimes

NOW = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)
CREATED = NOW - timedelta(minutes=10)
FAILED_AT = NOW - timedelta(seconds=5)
RUNNING = (ContainerView(name="agent", running=True),)
KILLED = (ContainerView(name="agent", terminated_exit_code=137, terminated_reason="Error"),)
"""A container killed from outside, as the node writes it (tests/data/corpus: ``Error``/137)."""
OOM_KILLED = (ContainerView(name="agent", terminated_exit_code=137, terminated_reason="OOMKilled"),)
EXIT_1 = (ContainerView(name="agent", terminated_exit_code=1, terminated_reason="Error"),)
EVICTED_VERDICT = Verdict(ZombieReason.POD_EVICTED, Rule.DISRUPTED)
CRASH_VERDICT = Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, "Error/137")
OOM_VERDICT = Verdict(ZombieReason.POD_OOM_KILLED, Rule.FAILED_OOM_KILLED, "OOMKilled/137")


def pod(
    *, phase: PodPhase = PodPhase.RUNNING, disruption: str | None = None,
    containers: tuple[ContainerView, ...] = RUNNING, uid: str = "pod-uid",
    created_at: datetime = CREATED,
) -> PodView:
    return PodView(
        namespace="agents", name=f"claude-3f2a9c1d-x-{uid}", uid=uid,
        task_id="3f2a9c1d", job_name="claude-3f2a9c1d-x", phase=phase, status_reason=None,
        created_at=created_at, scheduled=True, containers=containers,
        disruption_reason=disruption,
    )


def job(
    *, failed_reason: str | None = "BackoffLimitExceeded", failure_target: bool = True,
    failed_at: datetime | None = FAILED_AT,
) -> JobView:
    return JobView(
        namespace="agents", name="claude-3f2a9c1d-x", uid="job-uid", task_id="3f2a9c1d",
        assignee="claude", created_at=CREATED, started_at=CREATED, active_deadline_seconds=1800,
        failed_reason=failed_reason, complete=False, failure_target=failure_target,
        failed_at=failed_at,
    )


# --- the pod table's new row ------------------------------------------------------------------

DISRUPTION_ROWS = [
    pytest.param(pod(disruption="EvictionByEvictionAPI"), False, None,
                 id="a drained pod still terminating is not decided yet"),
    pytest.param(pod(phase=PodPhase.FAILED, disruption="EvictionByEvictionAPI", containers=KILLED),
                 False, EVICTED_VERDICT, id="a drained pod that ended Failed 137 is pod_evicted"),
    pytest.param(pod(phase=PodPhase.FAILED, disruption="PreemptionByScheduler",
                     containers=KILLED), False, EVICTED_VERDICT, id="preempted"),
    pytest.param(pod(phase=PodPhase.FAILED, disruption="DeletionByTaintManager",
                     containers=KILLED), False, EVICTED_VERDICT, id="taint manager"),
    pytest.param(pod(phase=PodPhase.FAILED, disruption="TerminationByKubelet",
                     containers=KILLED), False, EVICTED_VERDICT, id="kubelet shutdown"),
    pytest.param(pod(disruption="EvictionByEvictionAPI"), True, EVICTED_VERDICT,
                 id="a drained pod whose DELETED event is the last thing seen is pod_evicted"),
    pytest.param(pod(phase=PodPhase.SUCCEEDED, disruption="EvictionByEvictionAPI",
                     containers=(ContainerView(name="agent", terminated_exit_code=0),)),
                 True, None, id="a drained pod that finished within its grace period is not"),
    pytest.param(pod(phase=PodPhase.FAILED, containers=KILLED), False, CRASH_VERDICT,
                 id="kubectl delete pod: no DisruptionTarget, exit 137 is pod_crash_no_stdout"),
    pytest.param(pod(phase=PodPhase.FAILED, containers=KILLED), True, CRASH_VERDICT,
                 id="kubectl delete pod, seen at its DELETED event"),
    pytest.param(pod(), True, None,
                 id="a running pod deleted without DisruptionTarget names no reason"),
]


@pytest.mark.parametrize(("the_pod", "deleted", "expected"), DISRUPTION_ROWS)
def test_disruption_row(the_pod: PodView, deleted: bool, expected: Verdict | None) -> None:
    # Act
    verdict = classify_pod(the_pod, now=NOW, deleted=deleted)
    # Assert
    assert judged(verdict) == expected


@given(the_pod=pod_views(), now=utc_datetimes())
def test_deletion_only_ever_adds_the_disruption_verdict(the_pod: PodView, now: datetime) -> None:
    # Act
    alive = classify_pod(the_pod, now=now)
    gone = classify_pod(the_pod, now=now, deleted=True)
    # Assert: the DELETED event changes nothing but the disruption row, which now applies
    assert gone == alive or (
        the_pod.disruption_reason is not None and judged(gone) == EVICTED_VERDICT)


# --- FailureTarget names its own rules --------------------------------------------------------

@pytest.mark.parametrize(("reason", "target", "expected"), [
    ("BackoffLimitExceeded", True, Rule.JOB_FAILURE_TARGET_OTHER),
    ("DeadlineExceeded", True, Rule.JOB_FAILURE_TARGET_DEADLINE),
    ("PodFailurePolicy", True, Rule.JOB_FAILURE_TARGET_OTHER),
    ("BackoffLimitExceeded", False, Rule.JOB_FAILED_OTHER),
    ("DeadlineExceeded", False, Rule.JOB_FAILED_DEADLINE),
])
def test_failure_target_is_a_failure_with_the_same_reasons(
    reason: str, target: bool, expected: Rule
) -> None:
    # Act
    outcome = classify_job(job(failed_reason=reason, failure_target=target))
    # Assert
    assert isinstance(outcome, Verdict)
    assert outcome.rule is expected
    assert outcome.reason is (ZombieReason.DEADLINE_EXCEEDED if reason == "DeadlineExceeded"
                              else ZombieReason.POD_CRASH_NO_STDOUT)
    assert outcome.evidence == ""


# --- a failed Job settled with its pods -------------------------------------------------------

BACKOFF = Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.JOB_FAILURE_TARGET_OTHER)
"""A ``BackoffLimitExceeded`` Job no pod explains: a bare crash, as today's executor says."""
OLDER = CREATED - timedelta(minutes=5)

SETTLE_ROWS = [
    pytest.param(job(), (pod(disruption="EvictionByEvictionAPI"),), (), NOW, None,
                 id="BackoffLimitExceeded first: wait for the drained pod's end"),
    pytest.param(job(), (pod(phase=PodPhase.FAILED, disruption="EvictionByEvictionAPI",
                             containers=KILLED),), (), NOW, EVICTED_VERDICT,
                 id="the drained pod ended: pod_evicted beats the Job's BackoffLimitExceeded"),
    pytest.param(job(), (), (pod(disruption="EvictionByEvictionAPI"),), NOW, EVICTED_VERDICT,
                 id="the drained pod's DELETED event settles it"),
    pytest.param(job(), (pod(),), (), NOW, None,
                 id="kubectl delete pod: wait while the pod terminates"),
    pytest.param(job(), (pod(phase=PodPhase.FAILED, containers=KILLED),), (), NOW, CRASH_VERDICT,
                 id="kubectl delete pod ended: the pod's crash with its evidence beats the Job's"),
    pytest.param(job(), (pod(phase=PodPhase.FAILED, containers=OOM_KILLED),), (), NOW, OOM_VERDICT,
                 id="BackoffLimitExceeded with an OOM-killed pod is pod_oom_killed"),
    pytest.param(job(failure_target=False), (pod(phase=PodPhase.FAILED, containers=OOM_KILLED),),
                 (), NOW, OOM_VERDICT, id="the same once the Job is Failed"),
    pytest.param(job(), (), (pod(phase=PodPhase.FAILED, containers=OOM_KILLED),), NOW, OOM_VERDICT,
                 id="an OOM-killed pod's DELETED event settles it too"),
    pytest.param(job(), (pod(phase=PodPhase.FAILED, containers=EXIT_1, uid="new"),
                         pod(phase=PodPhase.FAILED, containers=OOM_KILLED, created_at=OLDER)),
                 (), NOW, Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT,
                                  "Error/1"),
                 id="of two failed pods the newest decides: a later exit 1"),
    pytest.param(job(), (pod(phase=PodPhase.FAILED, containers=EXIT_1, created_at=OLDER),),
                 (pod(phase=PodPhase.FAILED, containers=OOM_KILLED, uid="new"),), NOW,
                 OOM_VERDICT, id="of two failed pods the newest decides, deleted or not"),
    pytest.param(job(), (), (pod(),), NOW, BACKOFF,
                 id="a pod deleted while running names nothing: the Job's verdict"),
    pytest.param(job(), (pod(disruption="EvictionByEvictionAPI"),), (),
                 FAILED_AT + POD_END_WAIT, BACKOFF,
                 id="a pod stuck terminating holds the Job's verdict no longer than the wait"),
    pytest.param(job(failed_at=None), (pod(),), (), NOW, BACKOFF,
                 id="without the condition's time nothing waits"),
    pytest.param(job(), (), (), NOW, BACKOFF, id="no pod at all: the Job's verdict"),
    pytest.param(
        job(failed_reason="DeadlineExceeded"), (pod(),), (), NOW,
        Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.JOB_FAILURE_TARGET_DEADLINE),
        id="the Job's own deadline does not wait for the pods it kills"),
    pytest.param(
        job(failed_reason="DeadlineExceeded"), (pod(phase=PodPhase.FAILED, containers=KILLED),),
        (), NOW, Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.JOB_FAILURE_TARGET_DEADLINE),
        id="the Job's own deadline explains its pod's exit 137"),
    pytest.param(
        job(failed_reason="DeadlineExceeded"), (pod(phase=PodPhase.FAILED, containers=OOM_KILLED),),
        (), NOW, Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.JOB_FAILURE_TARGET_DEADLINE),
        id="the Job's own deadline wins over an OOM kill at its end, as upstream's"),
    pytest.param(
        job(failed_reason="DeadlineExceeded"),
        (pod(phase=PodPhase.FAILED, disruption="EvictionByEvictionAPI", containers=KILLED),),
        (), NOW, EVICTED_VERDICT, id="an eviction is an eviction whatever the Job says"),
]


@pytest.mark.parametrize(("the_job", "pods", "deleted", "now", "expected"), SETTLE_ROWS)
def test_settle_row(
    the_job: JobView, pods: tuple[PodView, ...], deleted: tuple[PodView, ...], now: datetime,
    expected: Verdict | None,
) -> None:
    # Arrange
    failure = classify_job(the_job)
    assert isinstance(failure, Verdict)
    # Act
    verdict = settle_job_failure(the_job, failure, pods, now=now, deleted=deleted)
    # Assert
    assert judged(verdict) == expected


def test_the_gate_settles_a_failed_job_the_same_way_on_sweeps() -> None:
    # Arrange
    def sweep(pods: tuple[PodView, ...], now: datetime) -> Decision:
        return decide(GateInputs(
            job_name="claude-3f2a9c1d-x", job=job(), pods=pods, now=now,
            deadline=DeadlineInputs(deadline=timedelta(minutes=30),
                                    heartbeat_window=timedelta(minutes=5),
                                    last_heartbeat=None)))

    terminating = (pod(disruption="EvictionByEvictionAPI"),)
    ended = (pod(phase=PodPhase.FAILED, disruption="EvictionByEvictionAPI", containers=KILLED),)
    # Act / Assert
    assert sweep(terminating, NOW) is None
    assert judged(sweep(ended, NOW)) == EVICTED_VERDICT
    assert judged(sweep(terminating, FAILED_AT + POD_END_WAIT)) == BACKOFF


@given(
    the_job=job_views(), pods=st.lists(pod_views(), max_size=3),
    deleted=st.lists(pod_views(), max_size=2), now=utc_datetimes(),
)
def test_settling_is_total_and_waits_only_within_the_bound(
    the_job: JobView, pods: list[PodView], deleted: list[PodView], now: datetime
) -> None:
    # Arrange
    failed = replace(the_job, failed_reason=the_job.failed_reason or "BackoffLimitExceeded",
                     complete=False)
    failure = classify_job(failed)
    assert isinstance(failure, Verdict)
    # Act
    verdict = settle_job_failure(failed, failure, pods, now=now, deleted=deleted)
    # Assert
    if verdict is None:
        until = awaits_pod_end(failed, pods, now=now)
        assert until is not None
        assert failed.failed_at is not None
        assert now < until <= failed.failed_at + POD_END_WAIT
        assert any(p.phase not in (PodPhase.SUCCEEDED, PodPhase.FAILED) for p in pods)
    else:
        assert verdict.reason is not ZombieReason.TYPE_MISMATCH
    if failed.failed_at is not None and now >= failed.failed_at + POD_END_WAIT:
        assert verdict is not None
