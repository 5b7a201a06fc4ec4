"""What was already published: zombie failures read back from the request topic.

A failure is committed on Kafka first and recorded on its Job (the durable
annotation) just after. A process that dies in between — or a leader killed
during a burst — leaves failures that are committed but not annotated; the
next leader would publish them again. Before it publishes anything, a new
leader reads the topic back over the dedupe window (``read_committed``, from
``offsets_for_times``) and learns which Jobs already have a failure, so
nothing is published twice, and it repairs their missing annotations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from returns.result import Failure, Result, Success

from zombiewatch.adapters.kafka.codec import CodecError, decode
from zombiewatch.adapters.kafka.connection import (
    EXPECTED_ERRORS,
    ClientRole,
    KafkaHealth,
    connection_options,
    explained,
)
from zombiewatch.adapters.kafka.settings import KafkaPublisherSettings
from zombiewatch.domain.commands import UpdateFrontmatter
from zombiewatch.domain.doctrine import FAILURE_HEADING, ReportedFailure, parse_failure_section
from zombiewatch.domain.ports import PublishError

log = logging.getLogger(__name__)


class KafkaFailureHistory:
    """Implements ``FailureHistory`` with a short-lived ``read_committed`` consumer."""

    def __init__(self, settings: KafkaPublisherSettings, *, timeout: float = 20.0,
                 health: KafkaHealth | None = None) -> None:
        self._settings = settings
        self._timeout = timeout
        """Upper bound of one read-back; past it the caller proceeds without it."""
        self._health = health if health is not None else KafkaHealth()

    @property
    def problem(self) -> PublishError | None:
        """Why the last read-back failed, until one succeeds (``/readyz`` detail)."""
        return self._health.problem(ClientRole.HISTORY)

    async def reported_since(
        self, since: datetime
    ) -> Result[Sequence[ReportedFailure], PublishError]:
        consumer = AIOKafkaConsumer(
            self._settings.topic,
            **connection_options(self._settings), isolation_level="read_committed",
            enable_auto_commit=False, group_id=None, auto_offset_reset="latest")
        try:
            async with asyncio.timeout(self._timeout):
                await consumer.start()
                found = await self._read(consumer, since)
        except EXPECTED_ERRORS as exc:
            error: PublishError | None = await explained(exc, self._settings, ClientRole.HISTORY)
            found = []
        else:
            error = None
        finally:
            try:
                async with asyncio.timeout(self._settings.cleanup_timeout):
                    await consumer.stop()
            except EXPECTED_ERRORS as exc:
                log.info("event=history_consumer_close_failed error=%s", exc)
        if error is not None:
            self._health.failed(ClientRole.HISTORY, error)
            return Failure(error)
        self._health.ok(ClientRole.HISTORY)
        return Success(found)

    async def _read(self, consumer: Any, since: datetime) -> list[ReportedFailure]:
        partitions = await _assigned(consumer)
        starts = await consumer.offsets_for_times(
            {tp: int(since.timestamp() * 1000) for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        todo: dict[Any, int] = {}
        for tp in partitions:
            start = starts.get(tp)
            if start is not None and start.offset < ends[tp]:
                consumer.seek(tp, start.offset)
                todo[tp] = ends[tp]
        found: list[ReportedFailure] = []
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=500)
            for records in batches.values():
                found.extend(f for r in records if (f := self._failure(r.value)) is not None)
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    del todo[tp]
        return found

    def _failure(self, value: bytes | None) -> ReportedFailure | None:
        """Our zombie failures only; the topic also carries everyone else's commands."""
        if value is None:
            return None
        try:
            envelope = decode(value)
        except CodecError:
            return None
        command = envelope.command
        if (
            envelope.initiator != self._settings.initiator
            or not isinstance(command, UpdateFrontmatter)
            or command.body is None
            or command.body.heading != FAILURE_HEADING
        ):
            return None
        return parse_failure_section(command.body.section)


async def _assigned(consumer: Any) -> list[Any]:
    """The topic's partitions, once the metadata has arrived (no group: all of them).

    Nothing is fetched before the caller seeks: ``getmany`` is not called here.
    aiokafka offers no event for the assignment, so this polls it briefly.
    """
    while not (partitions := consumer.assignment()):  # noqa: ASYNC110 - see above
        await asyncio.sleep(_ASSIGNMENT_POLL_SECONDS)
    return sorted(partitions)


_ASSIGNMENT_POLL_SECONDS = 0.02
