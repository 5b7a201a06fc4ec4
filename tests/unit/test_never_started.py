"""Jobs that never start (issue 22): the three rows, their boundaries, and the evidence
read from Warning Events."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import job_view, pod_view
from zombiewatch.app.cli import main
from zombiewatch.domain.attention import AttentionIndex
from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.classification import (
    GRACE,
    Rule,
    Verdict,
    classify_pod,
    classify_podless_job,
)
from zombiewatch.domain.detail import DETAIL_MAX_CHARS, safe_detail
from zombiewatch.domain.event_evidence import (
    EventView,
    Evidence,
    cause_of,
    evidence_of,
)
from zombiewatch.domain.gate import GateInputs, decide
from zombiewatch.domain.never_started import (
    INIT_BOUND,
    JOB_EVENT_REASONS,
    POD_EVENT_REASONS,
    EventQuery,
)
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.triage import NotYet, Waiting, triage
from zombiewatch.domain.views import ContainerView, InFlightJob, JobView, PodPhase, PodView
from zombiewatch.testing.fakes import T0
from zombiewatch.testing.raw_api import raw_job, raw_pod

JOB = job_view()
NOT_READY = replace(pod_view(JOB, waiting="ContainerCreating"), ready_to_start=False)
"""Scheduled, Pending, ``PodReadyToStartContainers=False`` (a volume cannot mount)."""
STARTED = replace(JOB, pods_counted=0)
"""A Job the Job controller started (``startTime``) and whose status counts no pod."""
SETUP = ContainerView(name="setup", running=True)
INITIALISING = replace(pod_view(JOB), ready_to_start=True, init_containers=(SETUP,),
                       init_running_since=T0 + timedelta(seconds=5))
"""Its sandbox is up and its init container ``setup`` runs since T0 + 5 s."""
SECONDS = st.integers(min_value=0, max_value=4 * 3600)


# ---------------------------------------------------------------- not ready to start

def test_a_pod_not_ready_to_start_past_the_grace_is_container_config_error() -> None:
    verdict = classify_pod(NOT_READY, now=T0 + GRACE)

    assert verdict == Verdict(
        ZombieReason.CONTAINER_CONFIG_ERROR, Rule.NOT_READY_TO_START_PAST_GRACE,
        detail="PodReadyToStartContainers=False: volumes not mounted or sandbox not created",
        events=EventQuery("agents", NOT_READY.uid, POD_EVENT_REASONS))


def test_exactly_at_the_grace_is_past_it_and_a_moment_before_is_not() -> None:
    assert classify_pod(NOT_READY, now=T0 + GRACE) is not None
    assert classify_pod(NOT_READY, now=T0 + GRACE - timedelta(microseconds=1)) is None


@given(SECONDS, SECONDS)
def test_a_pod_whose_sandbox_gets_ready_before_the_grace_is_never_a_zombie(
    ready_after: int, judged_after: int,
) -> None:
    """Once the condition turned True (a slow pull follows, never this row), no moment
    of judging it gives a verdict; before that, only a moment past the grace does."""
    pod = NOT_READY if judged_after < ready_after else replace(NOT_READY, ready_to_start=True)
    verdict = classify_pod(pod, now=T0 + timedelta(seconds=judged_after))

    past_grace = judged_after >= GRACE.total_seconds()
    assert (verdict is not None) == (pod.ready_to_start is False and past_grace)


@pytest.mark.parametrize("pod", [
    pytest.param(replace(NOT_READY, ready_to_start=None), id="condition absent (just created)"),
    pytest.param(replace(NOT_READY, ready_to_start=True), id="ready: a slow pull after it"),
    pytest.param(replace(NOT_READY, scheduled=None), id="not scheduled yet"),
    pytest.param(replace(NOT_READY, phase=PodPhase.FAILED), id="ended (its sandbox is gone)"),
    pytest.param(replace(NOT_READY, terminating=True), id="being deleted"),
])
def test_only_a_scheduled_pending_pod_still_alive_is_not_ready_to_start(pod: PodView) -> None:
    assert classify_pod(pod, now=T0 + 10 * GRACE) is None


def test_an_image_pull_failure_is_still_image_pull_backoff_whatever_the_condition() -> None:
    pod = replace(pod_view(JOB, waiting="ImagePullBackOff"), ready_to_start=False)

    verdict = classify_pod(pod, now=T0 + GRACE)

    assert verdict is not None
    assert verdict.rule is Rule.WAITING_IMAGE_PULL


# ---------------------------------------------------------------- init bound

def test_an_init_container_running_for_the_bound_is_deadline_exceeded() -> None:
    verdict = classify_pod(INITIALISING, now=T0 + timedelta(seconds=5) + INIT_BOUND)

    assert verdict == Verdict(ZombieReason.DEADLINE_EXCEEDED, Rule.INIT_PAST_BOUND,
                              detail="init container setup still running after 600 s")


def test_an_init_container_finishing_just_before_the_bound_is_never_a_zombie() -> None:
    due = T0 + timedelta(seconds=5) + INIT_BOUND
    just_before = due - timedelta(milliseconds=1)
    done = replace(INITIALISING, phase=PodPhase.RUNNING, init_running_since=None,
                   init_containers=(ContainerView(name="setup", terminated_exit_code=0),))

    assert classify_pod(INITIALISING, now=just_before) is None
    assert classify_pod(done, now=due + INIT_BOUND) is None


@given(SECONDS, st.integers(min_value=1, max_value=3600))
def test_the_bound_runs_from_the_running_init_container_start(after: int, bound: int) -> None:
    verdict = classify_pod(INITIALISING, now=T0 + timedelta(seconds=5 + after),
                           init_bound=timedelta(seconds=bound))

    assert (verdict is not None) == (after >= bound)


def test_the_init_bound_is_the_setting_given() -> None:
    five = timedelta(seconds=5)

    assert classify_pod(INITIALISING, now=T0 + 2 * five, init_bound=five) is not None
    assert classify_pod(INITIALISING, now=T0 + 2 * five) is None


# ---------------------------------------------------------------- no pod

def test_a_started_job_without_any_pod_past_the_grace_is_pod_not_scheduled() -> None:
    verdict = classify_podless_job(STARTED, [], now=T0 + GRACE)

    assert verdict == Verdict(
        ZombieReason.POD_NOT_SCHEDULED, Rule.NO_POD_PAST_GRACE,
        detail="no pod created: the Job controller's pods were refused",
        events=EventQuery("agents", STARTED.uid, JOB_EVENT_REASONS))
    assert classify_podless_job(STARTED, [], now=T0 + GRACE - timedelta(seconds=1)) is None


@pytest.mark.parametrize("job", [
    pytest.param(JOB, id="status not read (pods_counted None)"),
    pytest.param(replace(STARTED, started_at=None), id="not started by the Job controller"),
    pytest.param(replace(STARTED, suspended=True), id="suspended"),
    pytest.param(replace(STARTED, pods_counted=1), id="the controller counts a pod"),
    pytest.param(replace(STARTED, complete=True), id="complete"),
    pytest.param(replace(STARTED, failed_reason="DeadlineExceeded"), id="failed"),
])
def test_only_a_started_job_counting_no_pod_waits_for_its_first_pod(job: JobView) -> None:
    assert classify_podless_job(job, [], now=T0 + 10 * GRACE) is None


@given(SECONDS, SECONDS)
def test_a_job_whose_pod_appears_within_the_grace_is_never_a_zombie(
    appears_after: int, judged_after: int,
) -> None:
    """The gate over the Job and the pods known at the moment judged: once a pod appeared
    (the status counts it), never this row; before, only past the grace."""
    now = T0 + timedelta(seconds=judged_after)
    appeared = judged_after >= appears_after
    job = replace(STARTED, pods_counted=1) if appeared else STARTED
    pods = [replace(pod_view(JOB), phase=PodPhase.RUNNING, ready_to_start=True)] if appeared \
        else []
    decision = decide(GateInputs(job_name=job.name, job=job, pods=pods, now=now))

    expected = not appeared and judged_after >= GRACE.total_seconds()
    assert isinstance(decision, Verdict) == expected
    if expected:
        assert isinstance(decision, Verdict)
        assert decision.rule is Rule.NO_POD_PAST_GRACE


def test_a_pod_known_but_not_yet_counted_keeps_the_job_from_the_row() -> None:
    pod = replace(pod_view(JOB), ready_to_start=True)

    decision = decide(GateInputs(job_name=JOB.name, job=STARTED, pods=[pod],
                                 now=T0 + 10 * GRACE))

    assert decision is None


def test_the_gate_judges_the_job_row_after_the_pod_table() -> None:
    decision = decide(GateInputs(job_name=JOB.name, job=STARTED, pods=[NOT_READY],
                                 now=T0 + GRACE))

    assert isinstance(decision, Verdict)
    assert decision.rule is Rule.NOT_READY_TO_START_PAST_GRACE


# ---------------------------------------------------------------- attention and triage

def test_the_attention_index_holds_jobs_without_a_pod_and_pods_due_later() -> None:
    index = AttentionIndex(grace=GRACE, init_bound=timedelta(seconds=30))

    index.refresh("a", job=STARTED, pods=[])
    index.refresh("b", job=replace(STARTED, name="b"), pods=[INITIALISING])
    index.refresh("c", job=replace(STARTED, name="c", pods_counted=1),
                  pods=[replace(NOT_READY, ready_to_start=True)])

    assert ("a" in index, "b" in index, "c" in index) == (True, True, False)
    assert index.due(INITIALISING) == T0 + timedelta(seconds=35)  # before the grace ends
    assert AttentionIndex(grace=GRACE).due(INITIALISING) == T0 + timedelta(seconds=605)
    assert index.due(NOT_READY) == T0 + GRACE


def _triage(job: JobView, pods: list[PodView], now: datetime) -> object:
    record = InFlightJob(task_id=job.task_id, job_name=job.name, assignee="claude",
                         started_at=job.started_at)
    return triage(record, job=job, pods=pods, now=now, deadline=timedelta(minutes=30),
                  heartbeat_window=timedelta(minutes=5), last_heartbeat=None)


@pytest.mark.parametrize(("job", "pods", "waiting", "remaining", "text"), [
    (STARTED, [NOT_READY], Waiting.NOT_READY_TO_START, 90,
     "not ready to start (volumes or sandbox), grace ends in 90 s"),
    (STARTED, [INITIALISING], Waiting.INIT_RUNNING, 575,
     "init container running (setup), bound ends in 10 min"),
    (STARTED, [], Waiting.NO_POD, 90, "no pod created yet, grace ends in 90 s"),
])
def test_triage_names_the_never_started_row_still_waiting(
    job: JobView, pods: list[PodView], waiting: Waiting, remaining: int, text: str,
) -> None:
    answer = _triage(job, pods, T0 + timedelta(seconds=30))

    assert answer == NotYet(waiting, timedelta(seconds=remaining),
                            "setup" if waiting is Waiting.INIT_RUNNING else "")
    assert isinstance(answer, NotYet)
    assert answer.describe() == text


# ---------------------------------------------------------------- evidence from Events

AT = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)


def warning(reason: str, message: str, at: datetime | None = AT) -> EventView:
    return EventView(type="Warning", reason=reason, message=message, at=at)


@pytest.mark.parametrize(("message", "cause"), [
    ('MountVolume.SetUp failed for volume "creds" : secret "db-creds" not found',
     Cause(CauseKind.OBJECT, "secret/db-creds")),
    ('MountVolume.SetUp failed for volume "cfg" : configmap "app-config" not found',
     Cause(CauseKind.OBJECT, "configmap/app-config")),
    ('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox '
     'runtime: no runtime for "gvisor" is configured', Cause(CauseKind.SANDBOX, "gvisor")),
    ('Error creating: pods "job-x-abcde" is forbidden: exceeded quota: team-quota, '
     'requested: pods=1, used: pods=0, limited: pods=0',
     Cause(CauseKind.ADMISSION, "quota/team-quota")),
    ('Error creating: pods "job-x-abcde" is forbidden: violates PodSecurity '
     '"restricted:latest": allowPrivilegeEscalation != false',
     Cause(CauseKind.ADMISSION, "podsecurity/restricted")),
    ('Error creating: admission webhook "policy.example.com" denied the request: no',
     Cause(CauseKind.ADMISSION, "webhook/policy.example.com")),
    ('Error creating: pods "p" is forbidden: error looking up service account agents/bot: '
     'serviceaccount "bot" not found', Cause(CauseKind.OBJECT, "serviceaccount/bot")),
    ("Unable to attach or mount volumes: unmounted volumes=[creds]: timed out", None),
])
def test_the_cause_is_read_from_the_message(message: str, cause: Cause | None) -> None:
    assert cause_of(message) == cause


def test_the_newest_relevant_warning_is_the_evidence() -> None:
    events = [
        warning("FailedMount", 'secret "old" not found', AT - timedelta(minutes=1)),
        warning("FailedMount", 'secret "new" not found', AT),
        warning("FailedScheduling", 'secret "other" not found', AT + timedelta(minutes=1)),
        EventView(type="Normal", reason="FailedMount", message='secret "n" not found',
                  at=AT + timedelta(minutes=2)),
        warning("FailedMount", 'secret "undated" not found', None),
    ]

    assert evidence_of(events, POD_EVENT_REASONS) == Evidence(
        detail='FailedMount: secret "new" not found',
        cause=Cause(CauseKind.OBJECT, "secret/new"))
    assert evidence_of(events, JOB_EVENT_REASONS) is None
    assert evidence_of([], POD_EVENT_REASONS) is None


def test_the_detail_is_one_bounded_line_without_secret_values() -> None:
    message = "Error:\n\tbad\x00value password=hunter2 token=abc " + "x" * 1000
    evidence = evidence_of([warning("FailedMount", message)], POD_EVENT_REASONS)

    assert evidence is not None
    text = evidence.detail
    assert "\n" not in text
    assert "\x00" not in text
    assert "hunter2" not in text
    assert "abc" not in text
    assert text.startswith("FailedMount: Error: bad value password=*** token=*** x")
    assert len(text) == DETAIL_MAX_CHARS
    assert text.endswith("…")


@given(st.text())
def test_any_message_gives_one_printable_bounded_line(message: str) -> None:
    evidence = evidence_of([warning("FailedMount", message)], POD_EVENT_REASONS)

    assert evidence is not None
    assert len(evidence.detail) <= DETAIL_MAX_CHARS
    assert evidence.detail == safe_detail(evidence.detail)  # the one sanitiser: already safe
    assert "\n" not in evidence.detail
    assert evidence.detail == evidence.detail.strip()


# ---------------------------------------------------------------- explain

def test_explain_names_the_never_started_rules_with_the_bound_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    init = [{"name": "setup", "state": {"running": {"startedAt": "2026-06-02T09:46:10Z"}}}]
    objects = {"kind": "List", "items": [
        raw_pod(status__initContainerStatuses=init, metadata__name="p-init"),
        raw_pod(status__conditions=[{"type": "PodScheduled", "status": "True"},
                                    {"type": "PodReadyToStartContainers", "status": "False"}],
                metadata__name="p-mount", metadata__ownerReferences=[
                    {"apiVersion": "batch/v1", "kind": "Job", "name": "other", "uid": "j2"}]),
        raw_job(),
    ]}
    path = tmp_path / "objects.json"
    path.write_text(json.dumps(objects))

    code = main(["explain", str(path), "--now", "2026-06-02T09:47:10Z",
                 "--init-bound-seconds", "60"])
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    main(["explain", str(path), "--now", "2026-06-02T09:47:10Z"])
    default = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert code == 0
    assert [(a["name"], a["reason"], a["rule"]) for a in answers] == [
        ("p-init", "deadline_exceeded", "init_past_bound"),
        ("p-mount", None, None),  # 70 s old: inside the grace
        ("agent-1234abcd", None, None),  # its pod p-init was given with it
    ]
    assert default[0]["rule"] is None


def test_explain_judges_a_started_job_given_alone_by_the_no_pod_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(raw_job()))

    main(["explain", str(path), "--now", "2026-06-02T09:48:01Z"])
    (answer,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert (answer["reason"], answer["rule"]) == ("pod_not_scheduled", "no_pod_past_grace")
