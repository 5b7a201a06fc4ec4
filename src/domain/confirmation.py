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
first publish by default, the policy's ``horizon``): logged as an error and
counted, for an alert. Without the task feed nothing is confirmed or repaired,
and a failure is given up once past the horizon all the same.

:class:`Watchlist` holds the failures being watched and applies these rules to
what the app tells it (a publish committed, a ledger read); :func:`next_step`
says what to do with one of them now.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.doctrine import DoctrineError, zombie_failure
from zombiewatch.domain.ledger import LedgerReading
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

    def overdue(self, first_sent: datetime, *, now: datetime) -> bool:
        """Past the confirm window since the first publish (an unconfirmed failure, for
        the gauge)."""
        return now >= first_sent + self.window

    def expired(self, first_sent: datetime, *, now: datetime) -> bool:
        """Past the horizon since the first publish: given up (confirmed or not, nothing
        is done about it any more)."""
        return first_sent < now - self.horizon


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


Step = Confirmed | Wait | Repair | GiveUp | Forget
"""What to do now with one unconfirmed failure (:func:`next_step`)."""

FEED_UNAVAILABLE: Final = "the task feed was not available to confirm it"
"""Why a failure is given up when the feed never became usable within the horizon."""


def next_step(
    pending: Unconfirmed, task: TaskState | None, *, now: datetime, policy: RepairPolicy
) -> Step:
    """What to do now with ``pending``, given the task as the (caught-up) feed shows it."""
    if task is None:
        return Forget()
    job = pending.report.job_name
    if task.current_job != job:
        return Confirmed(latency=max(timedelta(0), now - pending.first_sent))
    due = pending.last_sent + policy.wait(pending.repairs)
    overdue = policy.overdue(pending.first_sent, now=now)
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


def baseline(task: TaskState | None, *, job_name: str) -> int | None:
    """The baseline of a failure of ``job_name`` about to be published: its task's
    ``trigger_count`` as the usable feed shows it now (``task`` None when the feed
    is not usable or does not know the task).

    Unknown (None) unless the task names the Job: a task still showing an older
    state gives no count a repair could trust.
    """
    return task.trigger_count if task is not None and task.current_job == job_name else None


def sends_increment(report: FailureReport) -> bool:
    return any(c.operation is Operation.INCREMENT_FRONTMATTER for c in report.commands)


@dataclass(frozen=True, slots=True)
class Learnt:
    """What one ledger read added to the watchlist (for the log)."""

    failures: int = 0
    with_baseline: int = 0


class Watchlist(Mapping[str, Unconfirmed]):
    """The failures being watched until confirmed, by Job name (mutable, pure).

    Filled by our own publishes (:meth:`published`) and, at every leadership
    start, from the ledger (:meth:`learn`); entries leave when confirmed, given
    up or their task is unknown (:meth:`drop`).
    """

    __slots__ = ("_derived", "_pending")

    def __init__(self) -> None:
        self._pending: dict[str, Unconfirmed] = {}
        self._derived: set[str] = set()
        """Jobs learnt from the ledger (not published by us): no latency observed."""

    def __getitem__(self, job_name: str) -> Unconfirmed:
        return self._pending[job_name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    def published(self, report: FailureReport) -> None:
        """``report`` (possibly only the missing part of a failure) was committed: watch it.

        The baseline is the one ``report`` carries (taken before the publish), and
        only when this publish sends the increment: a completion whose increment
        went out earlier cannot tell whether that one applied.
        """
        count = report.trigger_count_before if sends_increment(report) else None
        known = self._pending.get(report.job_name)
        if known is not None:
            if known.trigger_count_at_publish is None and count is not None:
                # Learnt from the ledger with its update only: the increment went out
                # just now, for the first time, against this count.
                self._pending[report.job_name] = replace(known, trigger_count_at_publish=count)
            return
        try:
            whole = zombie_failure(task_id=report.task_id, job_name=report.job_name,
                                   reason=report.reason, at=report.occurred_at,
                                   evidence=report.evidence, target_vault=report.target_vault)
        except DoctrineError:
            return
        self._pending[report.job_name] = Unconfirmed(
            report=whole, first_sent=report.occurred_at, last_sent=report.occurred_at,
            trigger_count_at_publish=count)

    def learn(self, reading: LedgerReading, *, now: datetime, policy: RepairPolicy) -> Learnt:
        """Derive what a predecessor (or this process before a restart) left unconfirmed.

        Each failure's baseline comes from the header of its first increment, so
        its increment is repaired too when the count has not moved; without one
        (never sent, an older version, unreadable) only the update is. A failure
        first sent before the horizon was given up (or confirmed) long ago.
        """
        tasks, vaults = dict(reading.tasks), dict(reading.vaults)
        learnt = baselines = 0
        for failure in reading.failures:
            job = failure.job_name
            task_id = tasks.get(job)
            if job in self._pending or task_id is None:
                continue
            sends = reading.sends(job, Operation.UPDATE_FRONTMATTER)
            if not sends or policy.expired(sends[0], now=now):
                continue
            try:
                report = zombie_failure(task_id=task_id, job_name=job, reason=failure.reason,
                                        at=failure.at, evidence=failure.evidence,
                                        target_vault=vaults.get(job))
            except DoctrineError:
                continue
            entry = Unconfirmed(report=report, first_sent=sends[0], last_sent=sends[-1],
                                repairs=len(sends) - 1,
                                trigger_count_at_publish=reading.trigger_count_before(job))
            self._pending[job] = entry
            self._derived.add(job)
            learnt += 1
            baselines += entry.trigger_count_at_publish is not None
        return Learnt(failures=learnt, with_baseline=baselines)

    def repaired(self, job_name: str, *, at: datetime) -> Unconfirmed:
        """One more re-publish of the failure of ``job_name`` at ``at``; its new state."""
        entry = self._pending[job_name] = repaired(self._pending[job_name], at=at)
        return entry

    def drop(self, job_name: str) -> bool:
        """Stop watching ``job_name``; True when it was published by us (its latency is
        ours to observe), False when it was learnt from the ledger or not watched."""
        watched = self._pending.pop(job_name, None) is not None
        derived = job_name in self._derived
        self._derived.discard(job_name)
        return watched and not derived

    def overdue(self, *, now: datetime, policy: RepairPolicy) -> int:
        """How many are past the confirm window."""
        return sum(1 for p in self._pending.values() if policy.overdue(p.first_sent, now=now))

    def expired(self, *, now: datetime, policy: RepairPolicy) -> list[Unconfirmed]:
        """Those past the horizon: given up when the feed cannot confirm them."""
        return [p for p in self._pending.values() if policy.expired(p.first_sent, now=now)]
