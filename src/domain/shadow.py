"""Shadow mode's comparison rule: what zombiewatch would have published against what the
agent system's executor did publish, per Job (pure).

In shadow mode zombiewatch detects and judges as the daemon does but publishes
nothing; the executor's own detector keeps reporting. Its failure commands carry
random request ids, so a failure of the executor is recognised by what it names:
the task (the command's ``taskIdentifier``) and the Job of its ``## Failure``
section (:func:`executor_failure`). Each Job then has one :class:`ShadowRow`:

- ``agreement``: both reported it, with the same reason (the executor's
  ``(<Reason>/<code>)`` evidence suffix does not count);
- ``reason_disagreement``: both reported it, with different reasons;
- ``zombiewatch_only`` / ``executor_only``: one side only, once the other had
  ``settle`` to catch up (before that the row is ``pending``: the executor's
  sweeper, for one, reports a deadline a tick later).

The executor's first send decides its reason and its time; a Job it reported
again (its dedupe lives in memory, a restart forgets it) shows ``executor_sends > 1``.
The latency is the executor's first send minus zombiewatch's verdict: positive
when zombiewatch was first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final
from uuid import UUID

from zombiewatch.domain.doctrine import parse_failure_section
from zombiewatch.domain.reasons import ZombieReason

EXECUTOR_INITIATOR: Final = "executor"
"""The ``initiator`` of the executor's commands on the request topic."""

DEFAULT_SETTLE: Final = timedelta(minutes=5)
"""How long one side may lag the other before a Job counts as reported by one side only:
longer than the executor's sweeper tick and than our pod grace."""


class ShadowOutcome(StrEnum):
    """How one Job compares (the ``outcome`` label of the shadow metrics)."""

    AGREEMENT = "agreement"
    REASON_DISAGREEMENT = "reason_disagreement"
    ZOMBIEWATCH_ONLY = "zombiewatch_only"
    EXECUTOR_ONLY = "executor_only"
    PENDING = "pending"
    """One side only, and the other still has time to report it."""

    @property
    def disagrees(self) -> bool:
        """A decided outcome where the two sides differ (logged one line each)."""
        return self in (ShadowOutcome.REASON_DISAGREEMENT, ShadowOutcome.ZOMBIEWATCH_ONLY,
                        ShadowOutcome.EXECUTOR_ONLY)


@dataclass(frozen=True, slots=True)
class OurVerdict:
    """A failure zombiewatch would have published, and when (its verdict time).

    ``at`` is None when unknown (``shadow-report`` judges the cluster as it is now)."""

    task_id: str
    job_name: str
    reason: ZombieReason
    at: datetime | None


@dataclass(frozen=True, slots=True)
class ExecutorFailure:
    """One zombie failure update the executor sent (read back from the request topic)."""

    task_id: str
    job_name: str
    reason: ZombieReason
    sent_at: datetime
    evidence: str = ""
    request_id: UUID | None = None


def executor_failure(*, task_id: str, section: str, sent_at: datetime,
                     request_id: UUID | None = None) -> ExecutorFailure | None:
    """The executor's failure update, from its task and ``## Failure`` section; None for
    anything else (a type mismatch, a section without a Job, an unknown reason)."""
    parsed = parse_failure_section(section)
    if parsed is None:
        return None
    return ExecutorFailure(task_id=task_id, job_name=parsed.job_name, reason=parsed.reason,
                           sent_at=sent_at, evidence=parsed.evidence, request_id=request_id)


@dataclass(frozen=True, slots=True)
class ShadowRow:
    """One Job: zombiewatch's verdict, the executor's sends (oldest first), the outcome."""

    task_id: str
    job_name: str
    outcome: ShadowOutcome
    ours: OurVerdict | None
    executor: tuple[ExecutorFailure, ...]

    @property
    def executor_sends(self) -> int:
        return len(self.executor)

    @property
    def executor_reason(self) -> ZombieReason | None:
        return self.executor[0].reason if self.executor else None

    @property
    def executor_at(self) -> datetime | None:
        return self.executor[0].sent_at if self.executor else None

    @property
    def latency(self) -> timedelta | None:
        """The executor's first send minus our verdict (positive: zombiewatch was first)."""
        if self.ours is None or self.ours.at is None or not self.executor:
            return None
        return self.executor[0].sent_at - self.ours.at


def compare(ours: Iterable[OurVerdict], executor: Iterable[ExecutorFailure], *,
            now: datetime | None = None, settle: timedelta = DEFAULT_SETTLE,
            ) -> tuple[ShadowRow, ...]:
    """One row per (task, Job) either side reported, ordered by task then Job.

    Our earliest verdict per Job counts. Without ``now`` nothing is pending
    (a report over a closed window).
    """
    mine: dict[tuple[str, str], OurVerdict] = {}
    for verdict in ours:
        key = (verdict.task_id, verdict.job_name)
        known = mine.get(key)
        if known is None or _order(verdict) < _order(known):
            mine[key] = verdict
    theirs: dict[tuple[str, str], list[ExecutorFailure]] = {}
    for failure in executor:
        theirs.setdefault((failure.task_id, failure.job_name), []).append(failure)
    rows = []
    for key in sorted(mine.keys() | theirs.keys()):
        mine_now = mine.get(key)
        sends = tuple(sorted(theirs.get(key, ()),
                             key=lambda f: (f.sent_at, f.reason.value, f.evidence)))
        rows.append(ShadowRow(task_id=key[0], job_name=key[1], ours=mine_now, executor=sends,
                              outcome=_outcome(mine_now, sends, now=now, settle=settle)))
    return tuple(rows)


def _order(verdict: OurVerdict) -> tuple[bool, datetime, str]:
    """Earliest known verdict first; a tie goes by reason, so the input order never matters."""
    return (verdict.at is None, verdict.at or datetime.min.replace(tzinfo=UTC),
            verdict.reason.value)


def _outcome(ours: OurVerdict | None, sends: tuple[ExecutorFailure, ...], *,
             now: datetime | None, settle: timedelta) -> ShadowOutcome:
    if ours is not None and sends:
        return (ShadowOutcome.AGREEMENT if ours.reason is sends[0].reason
                else ShadowOutcome.REASON_DISAGREEMENT)
    if ours is not None:
        since = ours.at
        alone = ShadowOutcome.ZOMBIEWATCH_ONLY
    else:
        since = sends[0].sent_at
        alone = ShadowOutcome.EXECUTOR_ONLY
    if now is not None and since is not None and now - since < settle:
        return ShadowOutcome.PENDING
    return alone


def tally(rows: Iterable[ShadowRow]) -> Mapping[ShadowOutcome, int]:
    """How many Jobs per outcome (every outcome present, zero included)."""
    counts = Counter(row.outcome for row in rows)
    return {outcome: counts[outcome] for outcome in ShadowOutcome}
