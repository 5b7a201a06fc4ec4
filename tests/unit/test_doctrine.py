"""SPEC §2, the failure doctrine: exact sections, exact commands, nothing else written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.classification import classify_pod, termination_evidence
from zombiewatch.domain.commands import (
    BodySection,
    IncrementFrontmatter,
    Operation,
    UpdateFrontmatter,
)
from zombiewatch.domain.doctrine import (
    DoctrineError,
    ReportedFailure,
    failure_section,
    increment_trigger_count,
    parse_failure_section,
    spawn_notification,
    success_clear,
    success_clear_due,
    type_mismatch_failure,
    zombie_failure,
)
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState
from zombiewatch.domain.views import ContainerView, PodPhase, PodView
from zombiewatch.testing.strategies import job_names, task_ids, utc_datetimes

AT = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)
TASK = "3f2a9c1d-7b4e-4c1a-9d2e-0123456789ab"
JOB = "claude-3f2a9c1d-20260602094600"
ZOMBIE_REASONS = [r for r in ZombieReason if r is not ZombieReason.TYPE_MISMATCH]
NEVER_WRITTEN_BY_A_ZOMBIE_FAILURE = {"phase", "status", "assignee", "previous_assignee"}


def test_failure_section_is_byte_exact() -> None:
    # Act
    section = failure_section(at=AT, job_name=JOB, reason=ZombieReason.IMAGE_PULL_BACKOFF)
    # Assert
    assert section == (
        "## Failure\n\n"
        "- **Timestamp:** 2026-06-02T09:46:00Z\n"
        "- **Job:** claude-3f2a9c1d-20260602094600\n"
        "- **Reason:** image_pull_backoff\n"
    )


def test_failure_section_timestamp_is_utc_with_seconds_precision() -> None:
    # Arrange
    at = datetime(2026, 6, 2, 11, 46, 7, 999_999, tzinfo=timezone(timedelta(hours=2)))
    # Act
    section = failure_section(at=at, job_name=JOB, reason=ZombieReason.POD_EVICTED)
    # Assert
    assert "- **Timestamp:** 2026-06-02T09:46:07Z\n" in section


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(DoctrineError, match="timezone-aware"):
        failure_section(at=datetime(2026, 6, 2), job_name=JOB, reason=ZombieReason.POD_EVICTED)


def test_zombie_failure_is_an_update_then_an_increment() -> None:
    # Act
    report = zombie_failure(
        task_id=TASK, job_name=JOB, reason=ZombieReason.POD_NOT_SCHEDULED, at=AT
    )
    # Assert
    assert report.task_id == TASK
    assert report.job_name == JOB
    assert report.reason is ZombieReason.POD_NOT_SCHEDULED
    assert report.occurred_at == AT
    assert report.commands == (
        UpdateFrontmatter(
            task_identifier=TASK,
            updates={"current_job": ""},
            body=BodySection(
                heading="## Failure",
                section=(
                    "## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n"
                    f"- **Job:** {JOB}\n- **Reason:** pod_not_scheduled\n"
                ),
            ),
        ),
        IncrementFrontmatter(task_identifier=TASK, field="trigger_count", delta=1),
    )
    assert [c.operation for c in report.commands] == [
        Operation.UPDATE_FRONTMATTER,
        Operation.INCREMENT_FRONTMATTER,
    ]


def test_zombie_failure_refuses_type_mismatch() -> None:
    with pytest.raises(DoctrineError, match="type_mismatch_failure"):
        zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.TYPE_MISMATCH, at=AT)


@given(
    task_id=task_ids(),
    job_name=job_names(),
    reason=st.sampled_from(ZOMBIE_REASONS),
    at=utc_datetimes(),
)
def test_a_zombie_failure_never_writes_phase_status_or_assignees(
    task_id: str, job_name: str, reason: ZombieReason, at: datetime
) -> None:
    # Act
    report = zombie_failure(task_id=task_id, job_name=job_name, reason=reason, at=at)
    # Assert
    updates = [c for c in report.commands if isinstance(c, UpdateFrontmatter)]
    increments = [c for c in report.commands if isinstance(c, IncrementFrontmatter)]
    assert len(updates) == 1
    assert set(updates[0].updates) == {"current_job"}
    assert not NEVER_WRITTEN_BY_A_ZOMBIE_FAILURE & set(updates[0].updates)
    assert [(i.field, i.delta) for i in increments] == [("trigger_count", 1)]
    assert updates[0].body is not None
    assert f"- **Reason:** {reason.value}\n" in updates[0].body.section


@pytest.mark.parametrize(
    ("task_id", "job_name", "message"),
    [
        ("", JOB, "task id must not be empty"),
        ("   ", JOB, "task id must not be empty"),
        ("abc\ndef", JOB, "task id must be a single line"),
        (TASK, "", "job name must not be empty"),
        (TASK, "Claude-Job", "not a DNS-1123 label"),
        (TASK, "job-", "not a DNS-1123 label"),
        (TASK, "a" * 64, "longer than 63"),
    ],
)
def test_zombie_failure_refuses_invalid_names(task_id: str, job_name: str, message: str) -> None:
    with pytest.raises(DoctrineError, match=message):
        zombie_failure(task_id=task_id, job_name=job_name, reason=ZombieReason.POD_EVICTED, at=AT)


def test_doctrine_error_is_a_value_error() -> None:
    assert issubclass(DoctrineError, ValueError)


def test_type_mismatch_failure_escalates_in_one_update() -> None:
    # Act
    report = type_mismatch_failure(
        task_id=TASK,
        job_name=JOB,
        prior_assignee="claude",
        detail="task_type docs is not accepted by claude",
        at=AT,
    )
    # Assert
    assert report.reason is ZombieReason.TYPE_MISMATCH
    assert report.commands == (
        UpdateFrontmatter(
            task_identifier=TASK,
            updates={"assignee": "", "current_job": "", "previous_assignee": "claude"},
            body=BodySection(
                heading="## Failure",
                section=(
                    "## Failure\n\n"
                    "- **Timestamp:** 2026-06-02T09:46:00Z\n"
                    "- **Assignee:** claude\n"
                    "- **Reason:** type_mismatch\n"
                    "- **Detail:** task_type docs is not accepted by claude\n"
                ),
            ),
        ),
    )


def test_type_mismatch_with_no_prior_assignee_omits_previous_assignee() -> None:
    # Act
    report = type_mismatch_failure(
        task_id=TASK, job_name=JOB, prior_assignee="", detail="no agent", at=AT
    )
    # Assert
    (update,) = report.commands
    assert isinstance(update, UpdateFrontmatter)
    assert update.updates == {"assignee": "", "current_job": ""}
    assert update.body is not None
    assert "- **Assignee:** \n" in update.body.section


@pytest.mark.parametrize(
    ("prior", "detail", "message"),
    [
        ("claude", "two\nlines", "detail must be a single line"),
        ("claude", "carriage\rreturn", "detail must be a single line"),
        ("claude", "sep\u2028arator", "detail must be a single line"),
        ("cla\nude", "fine", "assignee must be a single line"),
    ],
)
def test_type_mismatch_refuses_multi_line_text(prior: str, detail: str, message: str) -> None:
    with pytest.raises(DoctrineError, match=message):
        type_mismatch_failure(
            task_id=TASK, job_name=JOB, prior_assignee=prior, detail=detail, at=AT
        )


def test_increment_trigger_count_bumps_by_one() -> None:
    # Act
    command = increment_trigger_count(TASK)
    # Assert
    assert command == IncrementFrontmatter(task_identifier=TASK, field="trigger_count", delta=1)


def test_spawn_notification_names_the_job_and_its_start() -> None:
    # Arrange
    started = datetime(2026, 6, 2, 9, 46, 0, 123_000, tzinfo=UTC)
    # Act
    command = spawn_notification(task_id=TASK, job_name=JOB, started_at=started)
    # Assert
    assert command == UpdateFrontmatter(
        task_identifier=TASK,
        updates={
            "spawn_notification": True,
            "current_job": JOB,
            "job_started_at": "2026-06-02T09:46:00Z",
        },
    )
    assert command.body is None


@given(
    job_name=st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?\Z"),
    reason=st.sampled_from([r for r in ZombieReason if r is not ZombieReason.TYPE_MISMATCH]),
    seconds=st.integers(min_value=0, max_value=2_000_000_000),
)
def test_a_failure_section_parses_back_to_its_job_reason_and_time(
    job_name: str, reason: ZombieReason, seconds: int
) -> None:
    at = datetime.fromtimestamp(seconds, UTC)

    parsed = parse_failure_section(failure_section(at=at, job_name=job_name, reason=reason))

    assert parsed == ReportedFailure(job_name=job_name, reason=reason, at=at)


@pytest.mark.parametrize("section", [
    "",
    "## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n- **Job:** j\n",
    "## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n- **Assignee:** claude\n"
    "- **Reason:** type_mismatch\n- **Detail:** no\n",
    "## Failure\n\n- **Timestamp:** yesterday\n- **Job:** j\n- **Reason:** pod_evicted\n",
    "## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n- **Job:** j\n- **Reason:** bored\n",
    "## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n- **Job:** Bad_Name\n"
    "- **Reason:** pod_evicted\n",
    "## Trigger Cap Escalation\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n",
])
def test_sections_we_did_not_write_do_not_parse(section: str) -> None:
    assert parse_failure_section(section) is None


# --- today's executor: evidence on the Reason line, targetVault, the success clear ----------


def test_the_reason_line_carries_the_evidence_in_parentheses() -> None:
    # Act
    section = failure_section(at=AT, job_name=JOB, reason=ZombieReason.POD_OOM_KILLED,
                              evidence="OOMKilled/137")
    # Assert
    assert section == (
        "## Failure\n\n"
        "- **Timestamp:** 2026-06-02T09:46:00Z\n"
        "- **Job:** claude-3f2a9c1d-20260602094600\n"
        "- **Reason:** pod_oom_killed (OOMKilled/137)\n"
    )


def test_a_reason_line_with_evidence_parses_back_to_reason_and_evidence() -> None:
    section = ("## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n"
               "- **Job:** claude-3f2a9c1d-20260602094600\n"
               "- **Reason:** pod_crash_no_stdout (Error/1)\n")

    assert parse_failure_section(section) == ReportedFailure(
        job_name=JOB, reason=ZombieReason.POD_CRASH_NO_STDOUT, at=AT, evidence="Error/1")


@given(
    terminated_reason=st.one_of(st.none(), st.text()),
    exit_code=st.integers().filter(lambda code: code != 0),
    reason=st.sampled_from(ZOMBIE_REASONS),
)
def test_any_evidence_the_classifier_makes_survives_the_reason_line(
    terminated_reason: str | None, exit_code: int, reason: ZombieReason
) -> None:
    # Arrange: whatever text the cluster puts in state.terminated.reason
    container = ContainerView(name="agent", terminated_exit_code=exit_code,
                              terminated_reason=terminated_reason)
    evidence = termination_evidence(container)
    # Act
    parsed = parse_failure_section(
        failure_section(at=AT, job_name=JOB, reason=reason, evidence=evidence))
    # Assert
    assert parsed == ReportedFailure(job_name=JOB, reason=reason, at=AT, evidence=evidence)
    assert evidence.endswith(f"/{exit_code}")


@pytest.mark.parametrize(("hostile", "evidence"), [
    ("OOM(Killed)", "OOM[Killed]/137"),
    ("Error)\n- **Reason:** pod_evicted", "Error] - **Reason:** pod_evicted/137"),
    ("a\u2028b\x00c", "a b c/137"),
    ("", "/137"),
])
def test_a_hostile_terminated_reason_is_made_safe_not_refused(hostile: str, evidence: str) -> None:
    # Arrange
    pod = PodView(namespace="agents", name=f"{JOB}-x", uid="u", task_id=TASK, job_name=JOB,
                  phase=PodPhase.FAILED, status_reason=None, created_at=AT, scheduled=True,
                  containers=(ContainerView(name="agent", terminated_exit_code=137,
                                            terminated_reason=hostile),))
    verdict = classify_pod(pod, now=AT)
    assert verdict is not None
    # Act
    report = zombie_failure(task_id=TASK, job_name=JOB, reason=verdict.reason, at=AT,
                            evidence=verdict.evidence)
    # Assert
    assert verdict.evidence == evidence
    update = report.commands[0]
    assert isinstance(update, UpdateFrontmatter)
    assert update.body is not None
    assert update.body.section.count("\n") == 5
    parsed = parse_failure_section(update.body.section)
    assert parsed is not None
    assert parsed.evidence == evidence


@pytest.mark.parametrize(("evidence", "message"), [
    ("OOM(Killed)/137", "parentheses"),
    ("Error)/1", "parentheses"),
    ("Error/1\n- **Reason:** pod_evicted", "single line"),
    ("Error\r/1", "single line"),
])
def test_evidence_that_would_break_the_reason_line_is_refused(evidence: str, message: str) -> None:
    with pytest.raises(DoctrineError, match=message):
        failure_section(at=AT, job_name=JOB, reason=ZombieReason.POD_CRASH_NO_STDOUT,
                        evidence=evidence)


@pytest.mark.parametrize("reason_text", [
    "pod_oom_killed (OOMKilled/137",
    "pod_oom_killed OOMKilled/137)",
    "pod_oom_killed (OOM(Killed)/137)",
    "pod_oom_killed(OOMKilled/137)",
])
def test_a_reason_line_with_malformed_evidence_does_not_parse(reason_text: str) -> None:
    section = ("## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n"
               f"- **Job:** {JOB}\n- **Reason:** {reason_text}\n")

    assert parse_failure_section(section) is None


@pytest.mark.parametrize(("given_vault", "sent"), [("personal", "personal"), ("", None),
                                                   (None, None)])
def test_every_command_names_the_tasks_vault_or_none(
    given_vault: str | None, sent: str | None
) -> None:
    # Act
    commands = [
        *zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_EVICTED, at=AT,
                        target_vault=given_vault).commands,
        *type_mismatch_failure(task_id=TASK, job_name=JOB, prior_assignee="claude",
                               detail="no", at=AT, target_vault=given_vault).commands,
        spawn_notification(task_id=TASK, job_name=JOB, started_at=AT, target_vault=given_vault),
        increment_trigger_count(TASK, target_vault=given_vault),
        success_clear(task_id=TASK, job_name=JOB, target_vault=given_vault),
    ]
    # Assert
    assert [command.target_vault for command in commands] == [sent] * 6


def test_the_success_clear_only_clears_current_job() -> None:
    # Act
    command = success_clear(task_id=TASK, job_name=JOB, target_vault="personal")
    # Assert
    assert command == UpdateFrontmatter(task_identifier=TASK, updates={"current_job": ""},
                                        body=None, target_vault="personal")


@pytest.mark.parametrize(("task_id", "job_name"), [("", JOB), (TASK, "Bad_Name")])
def test_the_success_clear_refuses_invalid_names(task_id: str, job_name: str) -> None:
    with pytest.raises(DoctrineError):
        success_clear(task_id=task_id, job_name=job_name)


def _task(current_job: str, vault: str = "work") -> TaskState:
    return TaskState(current_job=current_job, job_started_at=None, assignee="claude",
                     trigger_count=1, max_triggers=3, phase="in_progress", target_vault=vault)


def test_the_success_clear_is_due_only_while_the_task_names_the_job() -> None:
    assert success_clear_due(task_id=TASK, job_name=JOB, task=_task(JOB)) == success_clear(
        task_id=TASK, job_name=JOB, target_vault="work")
    assert success_clear_due(task_id=TASK, job_name=JOB, task=_task(JOB, vault="")) == (
        success_clear(task_id=TASK, job_name=JOB))
    assert success_clear_due(task_id=TASK, job_name=JOB, task=_task("")) is None
    assert success_clear_due(task_id=TASK, job_name=JOB, task=_task(f"{JOB}0")) is None
    assert success_clear_due(task_id=TASK, job_name=JOB, task=None) is None
