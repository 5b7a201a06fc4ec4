"""The failure doctrine (SPEC §2): which commands a failure publishes.

Pure functions returning typed commands; the app publishes them. A zombie
failure is retry-aware: it frees the task (``current_job: ""``) and bumps
``trigger_count`` so the controller's trigger cap escalates persistent
causes. It never writes ``phase``, ``status``, ``assignee`` or
``previous_assignee``. Only a type mismatch escalates immediately, and only
:func:`type_mismatch_failure` may build one.

Inputs are validated and rejected with :class:`DoctrineError` rather than
sanitised: the reason and the names are written verbatim into task files that
operators grep, so silently rewriting them would hide a bug upstream. Free
text must be one line without control characters; a line break would end the
markdown bullet and could inject a heading. A zombie failure's ``detail`` (the
cluster's words: an image, a message) is the exception: it is made safe
(:func:`~zombiewatch.domain.detail.safe_detail`, idempotent, so a classifier's
detail is written as it is) rather than refused, because no message a cluster
writes may stop a failure being published.

Every command carries the task's own vault (``target_vault``, from its
frontmatter) when it is known, as today's executor does: a controller of another
vault sharing the topic then leaves it alone instead of reporting "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from zombiewatch.domain.commands import (
    BodySection,
    FailureReport,
    FrontmatterValue,
    IncrementFrontmatter,
    UpdateFrontmatter,
)
from zombiewatch.domain.detail import safe_detail
from zombiewatch.domain.names import dns1123_label_problem, single_line_problem, task_id_problem
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState
from zombiewatch.domain.timestamps import (
    NaiveDatetimeError,
    parse_rfc3339_seconds,
    rfc3339_seconds,
)

FAILURE_HEADING: Final = "## Failure"
CURRENT_JOB: Final = "current_job"
ASSIGNEE: Final = "assignee"
PREVIOUS_ASSIGNEE: Final = "previous_assignee"
TRIGGER_COUNT: Final = "trigger_count"
SPAWN_NOTIFICATION: Final = "spawn_notification"
JOB_STARTED_AT: Final = "job_started_at"


class DoctrineError(ValueError):
    """A failure or helper command was requested with inputs the doctrine refuses."""


def _check(problem: str | None) -> None:
    if problem is not None:
        raise DoctrineError(problem)


def _timestamp(at: datetime) -> str:
    try:
        return rfc3339_seconds(at)
    except NaiveDatetimeError as exc:
        raise DoctrineError(str(exc)) from exc


def _check_names(*, task_id: str, job_name: str) -> None:
    _check(task_id_problem(task_id))
    _check(dns1123_label_problem(job_name, what="job name"))


def reason_line(reason: ZombieReason, evidence: str = "") -> str:
    """The Reason bullet's text: ``pod_oom_killed (OOMKilled/137)``, or the bare reason."""
    return f"{reason.value} ({evidence})" if evidence else reason.value


DETAIL_PREFIX: Final = "- **Detail:** "


def failure_section(
    *, at: datetime, job_name: str, reason: ZombieReason, evidence: str = "", detail: str = ""
) -> str:
    """The ``## Failure`` section of a zombie failure, byte-exact per SPEC §2.

    ``evidence`` (``<terminated reason>/<exit code>``) follows the reason in
    parentheses, as today's executor writes it; it must be one line without
    parentheses so the reason stays the first word and the line parses back.
    ``detail``, made safe (:func:`safe_detail`), is a ``Detail:`` line after the
    Reason line when it is not empty (today's executor writes none).
    """
    _check(dns1123_label_problem(job_name, what="job name"))
    _check(single_line_problem(evidence, what="evidence"))
    if "(" in evidence or ")" in evidence:
        raise DoctrineError(f"evidence must not contain parentheses: {evidence!r}")
    safe = safe_detail(detail)
    return (
        f"{FAILURE_HEADING}\n\n"
        f"- **Timestamp:** {_timestamp(at)}\n"
        f"- **Job:** {job_name}\n"
        f"- **Reason:** {reason_line(reason, evidence)}\n"
        + (f"{DETAIL_PREFIX}{safe}\n" if safe else "")
    )


def type_mismatch_section(*, at: datetime, prior_assignee: str, detail: str) -> str:
    """The ``## Failure`` section of a type-mismatch failure, byte-exact per SPEC §2."""
    _check(single_line_problem(prior_assignee, what="assignee"))
    _check(single_line_problem(detail, what="detail"))
    return (
        f"{FAILURE_HEADING}\n\n"
        f"- **Timestamp:** {_timestamp(at)}\n"
        f"- **Assignee:** {prior_assignee}\n"
        f"- **Reason:** {ZombieReason.TYPE_MISMATCH.value}\n"
        f"- **Detail:** {detail}\n"
    )


def increment_trigger_count(
    task_id: str, *, delta: int = 1, target_vault: str | None = None
) -> IncrementFrontmatter:
    """``trigger_count += delta`` (the dispatch path bumps by 1 before a spawn)."""
    _check(task_id_problem(task_id))
    return IncrementFrontmatter(task_identifier=task_id, field=TRIGGER_COUNT, delta=delta,
                                target_vault=target_vault or None)


def zombie_failure(
    *, task_id: str, job_name: str, reason: ZombieReason, at: datetime, evidence: str = "",
    detail: str = "", target_vault: str | None = None,
) -> FailureReport:
    """A retry-aware zombie failure: clear ``current_job``, bump ``trigger_count``.

    The two commands are (update, increment), in that order; the publisher
    sends them in one transaction. Raises DoctrineError for ``type_mismatch``
    (use :func:`type_mismatch_failure`) and for invalid names.
    """
    if reason is ZombieReason.TYPE_MISMATCH:
        raise DoctrineError(
            "type_mismatch is not a zombie failure: use type_mismatch_failure(), "
            "which escalates instead of retrying"
        )
    _check_names(task_id=task_id, job_name=job_name)
    safe = safe_detail(detail)
    update = UpdateFrontmatter(
        task_identifier=task_id,
        updates={CURRENT_JOB: ""},
        body=BodySection(
            heading=FAILURE_HEADING,
            section=failure_section(at=at, job_name=job_name, reason=reason, evidence=evidence,
                                    detail=safe),
        ),
        target_vault=target_vault or None,
    )
    return FailureReport(
        task_id=task_id,
        job_name=job_name,
        reason=reason,
        occurred_at=at,
        commands=(update, increment_trigger_count(task_id, target_vault=target_vault)),
        evidence=evidence,
        detail=safe,
        target_vault=target_vault or None,
    )


def type_mismatch_failure(
    *, task_id: str, job_name: str, prior_assignee: str, detail: str, at: datetime,
    target_vault: str | None = None,
) -> FailureReport:
    """Immediate escalation: the assigned agent does not accept the task's type.

    One update: ``assignee: ""``, ``current_job: ""`` and, when the prior
    assignee is not empty, ``previous_assignee``. No trigger_count bump:
    retrying cannot help.
    """
    _check_names(task_id=task_id, job_name=job_name)
    section = type_mismatch_section(at=at, prior_assignee=prior_assignee, detail=detail)
    updates: dict[str, FrontmatterValue] = {ASSIGNEE: "", CURRENT_JOB: ""}
    if prior_assignee:
        updates[PREVIOUS_ASSIGNEE] = prior_assignee
    update = UpdateFrontmatter(
        task_identifier=task_id,
        updates=updates,
        body=BodySection(heading=FAILURE_HEADING, section=section),
        target_vault=target_vault or None,
    )
    return FailureReport(
        task_id=task_id,
        job_name=job_name,
        reason=ZombieReason.TYPE_MISMATCH,
        occurred_at=at,
        commands=(update,),
        target_vault=target_vault or None,
    )


def spawn_notification(
    *, task_id: str, job_name: str, started_at: datetime, target_vault: str | None = None
) -> UpdateFrontmatter:
    """Tell the controller a Job was spawned: ``spawn_notification``, ``current_job``, start."""
    _check_names(task_id=task_id, job_name=job_name)
    return UpdateFrontmatter(
        task_identifier=task_id,
        updates={
            SPAWN_NOTIFICATION: True,
            CURRENT_JOB: job_name,
            JOB_STARTED_AT: _timestamp(started_at),
        },
        target_vault=target_vault or None,
    )


def success_clear(
    *, task_id: str, job_name: str, target_vault: str | None = None
) -> UpdateFrontmatter:
    """After a Job completed: ``current_job: ""``, no body, no increment (executor v0.13).

    The agent published its own result; this only tells the task it no longer
    runs ``job_name``, so the next dispatch is not blocked by a finished Job.
    """
    _check_names(task_id=task_id, job_name=job_name)
    return UpdateFrontmatter(task_identifier=task_id, updates={CURRENT_JOB: ""},
                             target_vault=target_vault or None)


def success_clear_due(
    *, task_id: str, job_name: str, task: TaskState | None
) -> UpdateFrontmatter | None:
    """The success clear of the completed Job ``job_name``, or None when none is due.

    Due only while the task, as the caught-up task feed shows it (``task``; None
    when the feed is not usable or does not know the task), still names the Job
    as its ``current_job``: a task that moved on (freed, or running a newer Job)
    must not lose its newer state. Without the feed nothing tells, so nothing is
    sent. The clear names the task's own vault, like a failure.
    """
    if task is None or task.current_job != job_name:
        return None
    return success_clear(task_id=task_id, job_name=job_name, target_vault=task.target_vault)


@dataclass(frozen=True, slots=True)
class ReportedFailure:
    """A zombie failure as read back from its ``## Failure`` section."""

    job_name: str
    reason: ZombieReason
    at: datetime
    evidence: str = ""
    detail: str = ""
    """The ``Detail:`` line's text, "" when the section has none."""


_SECTION_PREFIX: Final = f"{FAILURE_HEADING}\n\n- **Timestamp:** "


def parse_failure_section(section: str) -> ReportedFailure | None:
    """The inverse of :func:`failure_section`; None for anything it did not produce.

    Used to recognise failures already committed on the topic (by this
    instance before a crash, or by a previous leader), so they are not
    published twice, and the executor's (shadow mode). A ``Detail:`` line after
    the Reason line is read as it is, whoever wrote it: the reason is what
    counts; for a section :func:`failure_section` wrote, the detail rebuilds it
    byte for byte.
    """
    if not section.startswith(_SECTION_PREFIX):
        return None
    lines = section[len(FAILURE_HEADING) + 2 :].split("\n")
    if len(lines) not in (4, 5) or lines[-1] != "":
        return None
    stamp, job, reason = (
        _bullet(lines[0], "Timestamp"), _bullet(lines[1], "Job"), _bullet(lines[2], "Reason"))
    detail = _bullet(lines[3], "Detail") if len(lines) == 5 else ""
    if stamp is None or job is None or reason is None or detail is None:
        return None
    reason, evidence = _split_reason(reason)
    try:
        at = parse_rfc3339_seconds(stamp)
        parsed_reason = ZombieReason(reason)
    except ValueError:
        return None
    if parsed_reason is ZombieReason.TYPE_MISMATCH or dns1123_label_problem(job) is not None:
        return None
    return ReportedFailure(job_name=job, reason=parsed_reason, at=at, evidence=evidence,
                           detail=detail)


def _split_reason(text: str) -> tuple[str, str]:
    """``"pod_oom_killed (OOMKilled/137)"`` → (reason, evidence); no suffix → (text, "")."""
    reason, sep, rest = text.partition(" (")
    if sep and rest.endswith(")") and "(" not in rest and ")" not in rest[:-1]:
        return reason, rest[:-1]
    return text, ""


def _bullet(line: str, name: str) -> str | None:
    prefix = f"- **{name}:** "
    return line[len(prefix) :] if line.startswith(prefix) else None
