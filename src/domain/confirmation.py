"""Confirmation and repair of published failures (SPEC §13), as pure decisions.

"Committed on Kafka" is not the goal; the task freed, once, is. The controller
drops a command older than its expiry (60 minutes today, 5 for v0.3) and
consumes (does not retry) one it failed to apply, so a committed failure can
still be lost. Its task event topic says what happened: a failure of Job J for
task T is **confirmed** once T's ``current_job`` is no longer J and its
increment is known to have landed (the count moved off the baseline, or the
baseline is unknown), or once T names another Job (the task moved on).

**The schedule rule: no re-publish can be applied beside its original.** A
failure is published again only once its previous send is certainly expired
for the controller — ``last_sent + expiry + margin`` has passed (the margin
covers clock skew, the time a send takes and the feed's lag behind the
controller) — and only what the caught-up feed still shows unapplied. By then
a copy of the previous send that the controller has not consumed will be
dropped as expired, and one it consumed in time shows in the feed, so no
re-sent command can land next to its original. ``last_sent`` is an upper
bound of the previous send's ``requestTime`` (read after the commit, or the
record's own timestamp from the ledger), never a lower one.

What is missing, and re-sent with the same request ids (fresh ``requestTime``):

- the update (``current_job: ""`` and the section) while ``current_job`` is
  still J;
- the increment only while ``trigger_count`` is still what it was before the
  failure was first published (the *baseline*) and the feed never showed it
  otherwise: a count that moved, up (our increment landed) or down (another
  producer — complete-task, a scope update, the healthcheck — reset it), is
  never bumped again. That covers both halves of a pair split by the expiry:
  update dropped and increment applied (the update alone is re-sent), update
  applied and increment dropped (``current_job`` cleared, the count still the
  baseline: the increment alone is re-sent).

The baseline (``FailureReport.trigger_count_before``) is taken from the feed
when the failure is admitted, *before* the publish: read after the commit, it
could already include our own increment (the controller reads uncommitted
records and publishes the task right after its write), and a repair would then
bump twice. It travels with the increment on the topic, so a leader that did
not see the first publish (after a restart or a leader change) learns it from
the ledger and repairs both parts too; the re-sent increment carries the same
baseline. When it is unknown (the feed did not know the task or was not caught
up, or the first send came from a version that did not write it) only the
update is ever re-sent.

Re-publishes are bounded: the n-th is due ``wait(n)`` after the previous send
(the window ``expiry + margin``, the window again, then doubling: 65, 65, 130
minutes with today's expiry; 10, 10, 20 with v0.3's), and a failure still
unconfirmed ``wait(max_repairs)`` after the last one is given up (the policy's
``horizon`` after the first publish): logged as an error and counted, for an
alert. Without the task feed nothing is confirmed or repaired, and a failure is
given up once past the horizon all the same.

:class:`Watchlist` holds the failures being watched and applies these rules to
what the app tells it (a publish committed, a ledger read, a look at the feed);
:func:`next_step` says what to do with one of them now.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.consumer import EXPIRY
from zombiewatch.domain.doctrine import DoctrineError, zombie_failure
from zombiewatch.domain.ledger import LedgerReading
from zombiewatch.domain.tasks import TaskState

DEFAULT_CONSUMER_EXPIRY: Final = EXPIRY
"""Today's controller drops a command older than 60 minutes (5 for v0.3)."""

DEFAULT_CONFIRM_MARGIN: Final = timedelta(minutes=5)
"""Past the expiry before a re-publish: clock skew between us and the controller,
the time a send takes, and the feed's lag (a few of the controller's 60-second
vault polls). With v0.3's 5-minute expiry it gives that version's 10-minute window."""

DEFAULT_MAX_REPAIRS: Final = 3
"""Re-publishes of one failure before it is given up."""


class PolicyError(ValueError):
    """A repair policy that could apply a re-publish beside its original."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairPolicy:
    """When an unconfirmed failure is published again (the schedule rule above)."""

    expiry: timedelta = DEFAULT_CONSUMER_EXPIRY
    """The controller's: a command whose ``requestTime`` is older is dropped."""
    margin: timedelta = DEFAULT_CONFIRM_MARGIN
    """Waited past the expiry before anything is sent again (> 0)."""
    max_repairs: int = DEFAULT_MAX_REPAIRS

    def __post_init__(self) -> None:
        if self.expiry <= timedelta(0) or self.margin <= timedelta(0) or self.max_repairs < 0:
            raise PolicyError(
                f"repair policy invalid: expiry {self.expiry} and margin {self.margin} must "
                f"be > 0, max_repairs {self.max_repairs} >= 0")

    @classmethod
    def for_consumer(cls, *, expiry: timedelta, window: timedelta | None = None) -> RepairPolicy:
        """The policy for a controller with ``expiry``: the confirm ``window`` (from the
        previous send to the next) when given, which must be longer than the expiry;
        else ``expiry`` + :data:`DEFAULT_CONFIRM_MARGIN`."""
        return cls(expiry=expiry,
                   margin=DEFAULT_CONFIRM_MARGIN if window is None else window - expiry)

    @property
    def window(self) -> timedelta:
        """The confirm window: ``expiry + margin``, the shortest wait between two sends."""
        return self.expiry + self.margin

    def wait(self, repairs_done: int) -> timedelta:
        """How long after the last send the next step is due: ``window``, then doubling
        (never shorter than the window: the previous send has expired by then)."""
        factor: int = 2 ** max(0, repairs_done - 1)
        return self.window * factor

    def due(self, pending: Unconfirmed) -> datetime:
        """When the next step of ``pending`` is due: its previous send certainly expired."""
        return pending.last_sent + self.wait(pending.repairs)

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
    """Not before the ``requestTime`` of the latest send of any of its commands."""
    repairs: int = 0
    """Re-publishes done."""
    trigger_count_at_publish: int | None = None
    """The task's ``trigger_count`` before the first publish (the baseline); None: unknown."""
    count_moved: bool = False
    """The feed once showed the count off the baseline while the failure was watched:
    the increment landed (or another producer reset the count); never sent again."""

    def increment_missing(self, task: TaskState) -> bool:
        """The feed shows no sign of the increment: the count is still the baseline and
        was never seen otherwise."""
        return (self.trigger_count_at_publish is not None and not self.count_moved
                and task.trigger_count == self.trigger_count_at_publish)


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


def missing(pending: Unconfirmed, task: TaskState) -> frozenset[Operation]:
    """The commands of ``pending`` the feed shows unapplied (empty: confirmed).

    A task naming another Job has moved on: nothing is missing, whatever its count
    (a new dispatch may have written it). A task still naming the Job misses the
    update; the increment is missing while the count shows no sign of it.
    """
    job = task.current_job
    if job not in (pending.report.job_name, ""):
        return frozenset()
    parts = {Operation.UPDATE_FRONTMATTER} if job else set()
    if pending.increment_missing(task):
        parts.add(Operation.INCREMENT_FRONTMATTER)
    return frozenset(parts)


def observed(pending: Unconfirmed, task: TaskState | None) -> Unconfirmed:
    """``pending`` after a look at its task: a count off the baseline is remembered."""
    if (task is None or pending.trigger_count_at_publish is None or pending.count_moved
            or task.trigger_count == pending.trigger_count_at_publish):
        return pending
    return replace(pending, count_moved=True)


def next_step(
    pending: Unconfirmed, task: TaskState | None, *, now: datetime, policy: RepairPolicy
) -> Step:
    """What to do now with ``pending``, given the task as the (caught-up) feed shows it."""
    if task is None:
        return Forget()
    parts = missing(pending, task)
    if not parts:
        return Confirmed(latency=max(timedelta(0), now - pending.first_sent))
    overdue = policy.overdue(pending.first_sent, now=now)
    if now < policy.due(pending):
        return Wait(overdue=overdue)
    job = pending.report.job_name
    if pending.repairs >= policy.max_repairs:
        what = "current_job still " + job if task.current_job else "its increment not seen"
        return GiveUp(f"{what} after {pending.repairs} re-publishes")
    commands = tuple(c for c in pending.report.commands if c.operation in parts)
    # A re-sent increment carries the same baseline as the first send.
    return Repair(replace(pending.report, commands=commands,
                          trigger_count_before=pending.trigger_count_at_publish))


def repaired(pending: Unconfirmed, *, at: datetime) -> Unconfirmed:
    """``pending`` after one more re-publish whose ``requestTime`` is at most ``at``."""
    return replace(pending, repairs=pending.repairs + 1, last_sent=max(pending.last_sent, at))


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

    def published(self, report: FailureReport, *, sent: datetime) -> None:
        """``report`` (possibly only the missing part of a failure) was committed by
        ``sent`` (read after the commit: not before its ``requestTime``): watch it.

        The baseline is the one ``report`` carries (taken before the publish), and
        only when this publish sends the increment: a completion whose increment
        went out earlier cannot tell whether that one applied. A failure already
        watched counts this send as its latest (the wait starts again).
        """
        count = report.trigger_count_before if sends_increment(report) else None
        known = self._pending.get(report.job_name)
        if known is not None:
            known = replace(known, last_sent=max(known.last_sent, sent))
            if known.trigger_count_at_publish is None and count is not None:
                # Learnt from the ledger with its update only: the increment went out
                # just now, for the first time, against this count.
                known = replace(known, trigger_count_at_publish=count)
            self._pending[report.job_name] = known
            return
        try:
            whole = zombie_failure(task_id=report.task_id, job_name=report.job_name,
                                   reason=report.reason, at=report.occurred_at,
                                   evidence=report.evidence, detail=report.detail,
                                   target_vault=report.target_vault)
        except DoctrineError:
            return
        self._pending[report.job_name] = Unconfirmed(
            report=whole, first_sent=sent, last_sent=sent, trigger_count_at_publish=count)

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
            latest = max([sends[-1], *reading.sends(job, Operation.INCREMENT_FRONTMATTER)])
            try:
                report = zombie_failure(task_id=task_id, job_name=job, reason=failure.reason,
                                        at=failure.at, evidence=failure.evidence,
                                        detail=failure.detail,
                                        target_vault=vaults.get(job))
            except DoctrineError:
                continue
            entry = Unconfirmed(report=report, first_sent=sends[0], last_sent=latest,
                                repairs=len(sends) - 1,
                                trigger_count_at_publish=reading.trigger_count_before(job))
            self._pending[job] = entry
            self._derived.add(job)
            learnt += 1
            baselines += entry.trigger_count_at_publish is not None
        return Learnt(failures=learnt, with_baseline=baselines)

    def observe(self, job_name: str, task: TaskState | None) -> Unconfirmed:
        """Remember what a look at the task's feed state showed (:func:`observed`)."""
        entry = self._pending[job_name] = observed(self._pending[job_name], task)
        return entry

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
