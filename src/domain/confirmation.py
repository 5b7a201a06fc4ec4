"""Confirmation and repair of published failures (SPEC §13), as pure decisions.

"Committed on Kafka" is not the goal; the task freed, once, is. The controller
drops a command older than 5 minutes and consumes (does not retry) one it
failed to apply, so a committed failure can still be lost. Its task event
topic says what happened: a failure of Job J for task T is **confirmed** once
T's ``current_job`` is no longer J.

Unconfirmed past the confirm window, the failure is published again with the
same request ids (fresh ``requestTime``), and only what is missing:

- the update (``current_job: ""`` and the section) while ``current_job`` is
  still J — that is what "unconfirmed" means;
- the increment only when ``trigger_count`` is still what it was before the
  failure was first published. While ``current_job`` is J nothing else bumps
  it (the dispatch path bumps before a spawn, and spawns only tasks with no
  ``current_job``), so a moved count means our increment was applied: never
  bump twice.

That count (the *baseline*, ``FailureReport.trigger_count_before``) is taken
from the feed when the failure is admitted, *before* the publish: read after
the commit, it could already include our own increment (the controller reads
uncommitted records and publishes the task right after its write), and a
repair would then bump twice. It travels with the increment on the topic, so
a leader that did not see the first publish (after a restart or a leader
change) learns it from the ledger and repairs both parts too; the re-sent
increment carries the same baseline. When it is unknown (the feed did not
know the task or was not caught up, or the first send came from a version
that did not write it) only the update is ever re-sent.

Re-publishes are bounded: the n-th is due ``wait(n)`` after the previous send
(10, 10, 20 minutes with the defaults), and a failure still unconfirmed
``wait(max_repairs)`` after the last one is given up (80 minutes after the
first publish by default): logged as an error and counted, for an alert.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.tasks import TaskState

DEFAULT_CONFIRM_WINDOW: Final = timedelta(minutes=10)
"""Past the controller's 5-minute expiry and a few of its 60-second vault polls."""

DEFAULT_MAX_REPAIRS: Final = 3
"""Re-publishes of one failure before it is given up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairPolicy:
    window: timedelta = DEFAULT_CONFIRM_WINDOW
    max_repairs: int = DEFAULT_MAX_REPAIRS

    def wait(self, repairs_done: int) -> timedelta:
        """How long after the last send the next step is due: ``window``, then doubling."""
        factor: int = 2 ** max(0, repairs_done - 1)
        return self.window * factor

    @property
    def horizon(self) -> timedelta:
        """From the first publish to the give-up: how far back a new leader must read."""
        return sum((self.wait(n) for n in range(self.max_repairs + 1)), timedelta(0))


@dataclass(frozen=True, slots=True, kw_only=True)
class Unconfirmed:
    """A published failure not confirmed yet."""

    report: FailureReport
    """The failure as first published (both commands)."""
    first_sent: datetime
    last_sent: datetime
    repairs: int = 0
    """Re-publishes done."""
    trigger_count_at_publish: int | None = None
    """The task's ``trigger_count`` before the first publish (the baseline); None: unknown."""


@dataclass(frozen=True, slots=True)
class Confirmed:
    latency: timedelta
    """From the first publish to the moment the feed showed the task moved on."""


@dataclass(frozen=True, slots=True)
class Wait:
    overdue: bool
    """Past the confirm window (counts as unconfirmed in the gauge)."""


@dataclass(frozen=True, slots=True)
class Repair:
    report: FailureReport
    """Only the commands still missing."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    why: str


@dataclass(frozen=True, slots=True)
class Forget:
    """The task is not in the vault (the controller skips unknown ids): nothing to confirm."""


Decision = Confirmed | Wait | Repair | GiveUp | Forget


def judge(
    pending: Unconfirmed, task: TaskState | None, *, now: datetime, policy: RepairPolicy
) -> Decision:
    """What to do now with ``pending``, given the task as the (caught-up) feed shows it."""
    if task is None:
        return Forget()
    job = pending.report.job_name
    if task.current_job != job:
        return Confirmed(latency=max(timedelta(0), now - pending.first_sent))
    due = pending.last_sent + policy.wait(pending.repairs)
    overdue = now >= pending.first_sent + policy.window
    if now < due:
        return Wait(overdue=overdue)
    if pending.repairs >= policy.max_repairs:
        return GiveUp(f"current_job still {job} after {pending.repairs} re-publishes")
    keep = {Operation.UPDATE_FRONTMATTER}
    if (
        pending.trigger_count_at_publish is not None
        and task.trigger_count == pending.trigger_count_at_publish
    ):
        keep.add(Operation.INCREMENT_FRONTMATTER)
    commands = tuple(c for c in pending.report.commands if c.operation in keep)
    # A re-sent increment carries the same baseline as the first send.
    return Repair(replace(pending.report, commands=commands,
                          trigger_count_before=pending.trigger_count_at_publish))


def repaired(pending: Unconfirmed, *, at: datetime) -> Unconfirmed:
    """``pending`` after one more re-publish at ``at``."""
    return replace(pending, repairs=pending.repairs + 1, last_sent=at)
