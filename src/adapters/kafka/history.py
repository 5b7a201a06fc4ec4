"""What was already delivered: our failure records read back from the request topic.

A failure is committed on Kafka first and recorded on its Job (the durable
annotation) just after. A process that dies in between — or a leader killed
during a burst — leaves failures that are on the topic but not annotated; the
next leader would publish them again. Before it publishes anything, a new
leader reads the topic back over the dedupe window (from ``offsets_for_times``)
and learns which failure commands are already there, so nothing is sent twice,
and it repairs the missing annotations. The same read, from the moment of the
attempt, follows every publish whose outcome is unknown (abort, timeout).

The read uses the *controller's* isolation level (``consumer_isolation``): the
real controller reads ``read_uncommitted``, so the records of an aborted
transaction were applied and count as delivered (SPEC §13, domain/ledger.py).

Our success clears (``current_job: ""`` alone) are read back by their request ids,
so a Job's clear is sent once, whoever leads.

Each increment also gives back the ``trigger_count`` its publisher knew before
it (a record header, adapters/kafka/headers.py): what a new leader needs to
repair the increment of a failure it did not publish, without bumping twice.
A header that cannot be read counts as unknown and is counted in the reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from returns.result import Failure, Result, Success

from zombiewatch.adapters.kafka.codec import CodecError, decode
from zombiewatch.adapters.kafka.connection import (
    EXPECTED_ERRORS,
    ClientRole,
    KafkaHealth,
    connection_options,
    diagnosed,
    read_error,
)
from zombiewatch.adapters.kafka.headers import HeaderError, trigger_count_before
from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.logfields import log_event
from zombiewatch.domain.commands import IncrementFrontmatter, UpdateFrontmatter
from zombiewatch.domain.doctrine import (
    CURRENT_JOB,
    FAILURE_HEADING,
    TRIGGER_COUNT,
    ReportedFailure,
    parse_failure_section,
)
from zombiewatch.domain.ledger import LedgerReading
from zombiewatch.domain.ports import ReadError
from zombiewatch.domain.shadow import EXECUTOR_INITIATOR, ExecutorFailure, executor_failure

log = logging.getLogger(__name__)


class KafkaFailureHistory:
    """Implements ``FailureHistory`` with a short-lived consumer at the controller's isolation."""

    def __init__(self, settings: KafkaClientSettings, *, timeout: float = 20.0,
                 health: KafkaHealth | None = None) -> None:
        self._settings = settings
        self._timeout = timeout
        """Upper bound of one read-back; past it the caller proceeds without it."""
        self._health = health if health is not None else KafkaHealth()

    @property
    def problem(self) -> ReadError | None:
        """Why the last read-back failed, until one succeeds (``/readyz`` detail)."""
        return self._health.problem(ClientRole.HISTORY)

    async def reported_since(self, since: datetime) -> Result[LedgerReading, ReadError]:
        found = _Found()
        match await self._consume(since, lambda record: self._note(record, found)):
            case Failure(error):
                return Failure(error)
        return Success(LedgerReading(failures=tuple(found.failures),
                                     request_ids=tuple(found.request_ids),
                                     tasks=tuple(found.tasks.items()),
                                     vaults=tuple(found.vaults.items()),
                                     counts_before=tuple(found.counts_before),
                                     unreadable_counts=found.unreadable_counts,
                                     clears=tuple(found.clears)))

    async def executor_failures_since(
        self, since: datetime, *, until: datetime | None = None,
    ) -> Result[tuple[ExecutorFailure, ...], ReadError]:
        """The executor's zombie failure updates on the request topic since ``since`` (and
        not after ``until``), each with its task and send time: what shadow mode compares
        with its own verdicts (domain/shadow.py)."""
        found: list[ExecutorFailure] = []

        def note(record: Any) -> None:
            failure = _executor_failure(record)
            if failure is not None and (until is None or failure.sent_at <= until):
                found.append(failure)

        match await self._consume(since, note):
            case Failure(error):
                return Failure(error)
        return Success(tuple(found))

    async def _consume(self, since: datetime, note: Callable[[Any], None],
                       ) -> Result[None, ReadError]:
        """Every record written since ``since`` up to the end offsets, to ``note``."""
        consumer = AIOKafkaConsumer(
            self._settings.topic,
            **connection_options(self._settings),
            isolation_level=self._settings.consumer_isolation.value,
            enable_auto_commit=False, group_id=None, auto_offset_reset="latest")
        try:
            async with asyncio.timeout(self._timeout):
                await consumer.start()
                await self._read(consumer, since, note)
        except EXPECTED_ERRORS as exc:
            error: ReadError | None = read_error(await diagnosed(exc, self._settings),
                                                 self._settings)
        else:
            error = None
        finally:
            try:
                async with asyncio.timeout(self._settings.cleanup_timeout):
                    await consumer.stop()
            except EXPECTED_ERRORS as exc:
                log_event(log, logging.INFO, "history_consumer_close_failed", error=str(exc))
        if error is not None:
            self._health.failed(ClientRole.HISTORY, error)
            return Failure(error)
        self._health.ok(ClientRole.HISTORY)
        return Success(None)

    @staticmethod
    async def _read(consumer: AIOKafkaConsumer, since: datetime,
                    note: Callable[[Any], None]) -> None:
        partitions = await _assigned(consumer)
        starts = await consumer.offsets_for_times(
            {tp: int(since.timestamp() * 1000) for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        todo: dict[TopicPartition, int] = {}
        for tp in partitions:
            start = starts.get(tp)
            if start is not None and start.offset < ends[tp]:
                consumer.seek(tp, start.offset)
                todo[tp] = ends[tp]
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=500)
            for records in batches.values():
                for record in records:
                    note(record)
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    del todo[tp]

    def _note(self, record: Any, found: _Found) -> None:
        """Our failure commands only; the topic also carries everyone else's commands."""
        if record.value is None:
            return
        try:
            envelope = decode(record.value)
        except CodecError:
            return
        if envelope.initiator != self._settings.initiator:
            return
        command = envelope.command
        at = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
        if isinstance(command, UpdateFrontmatter):
            if command.body is None and command.updates == {CURRENT_JOB: ""}:
                found.clears.append((envelope.request_id, at))  # a success clear
                return
            if command.body is None or command.body.heading != FAILURE_HEADING:
                return  # a spawn notification
            failure = parse_failure_section(command.body.section)
            if failure is None:
                return
            found.failures.append(failure)
            found.tasks[failure.job_name] = command.task_identifier
            if command.target_vault:
                found.vaults[failure.job_name] = command.target_vault
        elif isinstance(command, IncrementFrontmatter) and command.field == TRIGGER_COUNT:
            try:
                count = trigger_count_before(record.headers or ())
            except HeaderError:
                count = None
                found.unreadable_counts += 1
            found.counts_before.append((envelope.request_id, at, count))
        else:
            return
        found.request_ids.append((envelope.request_id, at))


def _executor_failure(record: Any) -> ExecutorFailure | None:
    """The executor's zombie failure update in ``record``, if it is one."""
    if record.value is None:
        return None
    try:
        envelope = decode(record.value)
    except CodecError:
        return None
    command = envelope.command
    if (envelope.initiator != EXECUTOR_INITIATOR or not isinstance(command, UpdateFrontmatter)
            or command.body is None or command.body.heading != FAILURE_HEADING):
        return None
    return executor_failure(task_id=command.task_identifier, section=command.body.section,
                            sent_at=datetime.fromtimestamp(record.timestamp / 1000, tz=UTC),
                            request_id=envelope.request_id)


@dataclass
class _Found:
    """What one read-back collected so far."""

    failures: list[ReportedFailure] = field(default_factory=list)
    request_ids: list[tuple[UUID, datetime]] = field(default_factory=list)
    tasks: dict[str, str] = field(default_factory=dict)
    vaults: dict[str, str] = field(default_factory=dict)
    counts_before: list[tuple[UUID, datetime, int | None]] = field(default_factory=list)
    unreadable_counts: int = 0
    clears: list[tuple[UUID, datetime]] = field(default_factory=list)


async def _assigned(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """The topic's partitions, once the metadata has arrived (no group: all of them).

    Nothing is fetched before the caller seeks: ``getmany`` is not called here.
    aiokafka offers no event for the assignment, so this polls it briefly.
    """
    while not (partitions := consumer.assignment()):  # noqa: ASYNC110 - see above
        await asyncio.sleep(_ASSIGNMENT_POLL_SECONDS)
    return sorted(partitions)


_ASSIGNMENT_POLL_SECONDS = 0.02
