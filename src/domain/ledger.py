"""The request topic as a ledger: what the controller has been sent (SPEC §3, §13).

The controller consumes the request topic ``read_uncommitted`` and keeps no
record of request ids, so a record that reached the log *is* delivered, even
when its transaction was aborted: publishing it again would apply it twice
(``trigger_count`` bumped twice). Whether a failure is already delivered is
therefore decided by reading the topic back at the consumer's isolation level,
and answered per command: the deterministic request id of each command of a
failure (a UUIDv5 of the Job name and the operation) is looked up among the ids
seen on the topic. Only the commands not found are sent.

Why the ids live here: they are the contract that makes a failure recognisable
on the topic (the record key, the task, is shared by every command of a task,
and an increment names no Job), so "has this Job's increment been delivered"
can only be answered through them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.doctrine import ReportedFailure

PROJECT_NAMESPACE_UUID: Final = uuid.UUID("5edf1764-c205-53b1-adae-4ff4250ea221")
"""Namespace of the deterministic request ids. Never change it: it is part of the
wire contract (ids of re-published failures must match the first publish).
Derived once as ``uuid5(NAMESPACE_DNS, "zombiewatch.agent.benjamin-borbe.de")``."""


def failure_request_id(*, job_name: str, operation: Operation) -> uuid.UUID:
    """The deterministic requestID of ``operation`` in the failure report of ``job_name``."""
    return uuid.uuid5(PROJECT_NAMESPACE_UUID, f"{job_name}/{operation.value}")


def clear_request_id(job_name: str) -> uuid.UUID:
    """The deterministic requestID of the success clear of ``job_name`` (one per Job).

    Distinct from both ids of the Job's failure (a Job that completed was never
    reported): the clear is recognised on the topic by it alone, since its
    record names the task but not the Job."""
    return uuid.uuid5(PROJECT_NAMESPACE_UUID, f"{job_name}/success-clear")


FAILURE_COMMANDS: Final = frozenset(Operation)
"""The commands of one zombie failure (the update and the increment)."""


class ConsumerIsolation(StrEnum):
    """How the controller reads the request topic, and so how we read our ledger."""

    READ_UNCOMMITTED = "read_uncommitted"
    """The real controller (its Kafka library's default): aborted records are applied."""
    READ_COMMITTED = "read_committed"
    """A consumer that honours transactions: aborted records never reach it."""


@dataclass(frozen=True, slots=True)
class LedgerReading:
    """One read of the request topic: our failure records since some moment.

    ``failures`` are the failure updates found (their ``## Failure`` section
    names the Job, so a missing annotation can be repaired); ``request_ids``
    are the ids of every failure command found, update or increment, with the
    time each was written.
    """

    failures: tuple[ReportedFailure, ...]
    request_ids: tuple[tuple[uuid.UUID, datetime], ...]
    """One entry per record: a failure sent again appears once per send."""
    tasks: tuple[tuple[str, str], ...] = ()
    """``(job name, task id)`` of each failure update found (its record names the task)."""
    vaults: tuple[tuple[str, str], ...] = ()
    """``(job name, targetVault)`` of each failure update found that named a vault: a
    repair re-sends the failure to the same vault."""
    counts_before: tuple[tuple[uuid.UUID, datetime, int | None], ...] = ()
    """``(request id, written at, trigger_count before)`` of each increment record found.

    The count is what the publisher knew before the increment (its record header);
    None when the record carries none (written by an older version) or an unreadable
    one."""
    unreadable_counts: int = 0
    """Increment records whose count before could not be read (counted and logged)."""
    clears: tuple[tuple[uuid.UUID, datetime], ...] = ()
    """Request ids (and times) of our success clears found: a Job's clear is sent once."""

    def sends(self, job_name: str, operation: Operation) -> list[datetime]:
        """When each record of that command was written, oldest first."""
        wanted = failure_request_id(job_name=job_name, operation=operation)
        return sorted(at for rid, at in self.request_ids if rid == wanted)

    def trigger_count_before(self, job_name: str) -> int | None:
        """The task's ``trigger_count`` before the failure's increment, from its first send.

        Only the first send says it: a re-send carries the same value, and a
        first send without one (an older version) leaves it unknown for good.
        """
        wanted = failure_request_id(job_name=job_name, operation=Operation.INCREMENT_FRONTMATTER)
        first = min(((at, count) for rid, at, count in self.counts_before if rid == wanted),
                    key=lambda send: send[0], default=None)
        return None if first is None else first[1]


class DeliveredCommands:
    """Request ids known to be on the topic, for the dedupe window (mutable, pure).

    Filled from ledger readings (at leadership start and after every publish
    whose outcome is unknown) and from our own committed publishes; entries
    older than ``ttl`` are forgotten (the dedupe window: by then the durable
    annotation is what keeps a Job from being reported again).
    """

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: dict[uuid.UUID, datetime] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def learn(self, request_ids: Iterable[tuple[uuid.UUID, datetime]]) -> None:
        for request_id, at in request_ids:
            known = self._ids.get(request_id)
            if known is None or at > known:
                self._ids[request_id] = at

    def learn_report(self, report: FailureReport, *, at: datetime) -> None:
        """Our own publish of ``report`` committed: its commands are delivered."""
        self.learn((failure_request_id(job_name=report.job_name, operation=c.operation), at)
                   for c in report.commands)

    def delivered(self, job_name: str) -> frozenset[Operation]:
        """Which commands of the failure of ``job_name`` are already on the topic."""
        return frozenset(
            op for op in Operation
            if failure_request_id(job_name=job_name, operation=op) in self._ids)

    def fully_delivered(self, job_name: str) -> bool:
        """Both commands of the failure of ``job_name`` are on the topic: nothing is owed
        to the controller (a half-delivered one is completed when judged again)."""
        return self.delivered(job_name) == FAILURE_COMMANDS

    def cleared(self, job_name: str) -> bool:
        """The success clear of ``job_name`` is already on the topic."""
        return clear_request_id(job_name) in self._ids

    def forget_before(self, moment: datetime) -> None:
        """Drop entries written before ``moment`` (the start of the dedupe window)."""
        stale = [rid for rid, at in self._ids.items() if at < moment]
        for rid in stale:
            del self._ids[rid]


def undelivered(report: FailureReport, delivered: frozenset[Operation]) -> FailureReport | None:
    """``report`` without the commands already delivered; None when nothing is left.

    A failure whose update reached the log but whose increment did not (or the
    reverse: an aborted transaction read ``read_uncommitted`` may hold any
    prefix of it) is completed, never repeated.
    """
    if not delivered:
        return report
    missing = tuple(c for c in report.commands if c.operation not in delivered)
    if not missing:
        return None
    return replace(report, commands=missing)


LEDGER_MARGIN: Final = timedelta(seconds=60)
"""How far before a failed attempt the ledger is re-read: record timestamps are the
producer's clock at send time, and a retry may come from another clock (a new
leader's)."""
