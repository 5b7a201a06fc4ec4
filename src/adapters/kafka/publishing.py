"""The transactional Kafka publisher behind the ``CommandPublisher`` port.

Semantics (docs/WIRE.md has the long form):

- One ``publish_*`` call is one Kafka transaction: every record of every
  failure passed in becomes visible to ``read_committed`` consumers together,
  or none does. A failure's update/increment pair is therefore never split.
- Records are queued without awaiting each one, then awaited together and the
  transaction committed: a burst of a thousand failures costs one commit.
- Expected failures (broker down, fenced, records refused, an ACL missing,
  credentials or certificates refused) come back as ``Failure(PublishError)``,
  within ``publish_timeout`` plus cleanup; no Kafka,
  timeout or socket exception escapes. A ``Failure`` means "not known to be
  committed": after a timeout during the commit it may in rare cases have
  committed; the failure's re-publish then carries the same request ids.
- The producer starts lazily (first publish, or :meth:`~KafkaCommandPublisher.start`)
  and is recreated after any failure it may not recover from, so the daemon
  starts while the broker is down and publishes once it is back
  (:meth:`~KafkaCommandPublisher.reconnect` retries with backoff). Connecting
  initialises the transactional id, which fences any other holder of it: a
  follower must not connect before it leads. Re-initialising with the same
  transactional id also makes the broker abort whatever transaction a
  discarded producer left open.
- Fencing is sticky: once another producer took over our transactional id,
  ``publish_*`` answer ``FENCED`` without touching the broker, so a deposed
  instance never fences the new leader back by publishing. Only an explicit
  :meth:`KafkaCommandPublisher.start` (the app regained leadership) re-arms it.
  The app steps down on ``FENCED``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from returns.result import Failure, Result, Success

from zombiewatch.adapters.kafka.codec import Envelope, encode
from zombiewatch.adapters.kafka.connection import (
    EXPECTED_ERRORS,
    ClientRole,
    KafkaHealth,
    connection_options,
    diagnosed,
    publish_error,
)
from zombiewatch.adapters.kafka.headers import Headers, failure_headers
from zombiewatch.adapters.kafka.ids import message_key, random_request_id
from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.logfields import log_event
from zombiewatch.domain.commands import Command, FailureReport
from zombiewatch.domain.ledger import failure_request_id
from zombiewatch.domain.ports import BrokerErrorKind, Clock, PublishError

log = logging.getLogger(__name__)

Record = tuple[bytes, bytes, Headers]
"""(key, value, headers) of one Kafka record."""


class TransactionalProducer(Protocol):
    """The slice of ``AIOKafkaProducer`` the publisher uses (a seam for fakes and hooks)."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Flush and close (a graceful shutdown, no transaction open)."""
        ...

    async def close_now(self) -> None:
        """Close without delivering what is queued: it belongs to a failed transaction."""
        ...

    async def begin_transaction(self) -> None: ...

    async def commit_transaction(self) -> None: ...

    async def abort_transaction(self) -> None: ...

    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: Headers) -> Awaitable[object]:
        """Queue one record; the returned awaitable resolves when it is written."""
        ...


ProducerFactory = Callable[[KafkaClientSettings], TransactionalProducer]

RECONNECT_BACKOFF_SECONDS = (0.5, 10.0)
"""First and longest wait between two connection attempts of :meth:`reconnect`.

Doubled after each failure: a broker that refuses our credentials is not asked
five times a second, and one that comes back is used again within seconds."""


class AiokafkaTransactionalProducer:
    """``AIOKafkaProducer`` behind the :class:`TransactionalProducer` seam.

    Everything is delegated except :meth:`close_now`: aiokafka's ``stop()``
    flushes first, and records waiting for their partition to join a
    transaction never expire, so with the broker gone ``stop()`` would wait
    forever. Failing the queued batches first lets it finish; they belong to a
    transaction that will be aborted anyway.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def close_now(self) -> None:
        # Private aiokafka API (pinned < 0.15); the only way to drop queued batches.
        accumulator = self._producer._message_accumulator
        accumulator.fail_all(KafkaError("producer discarded"))
        # A failed batch keeps its error in a future only the sender awaits; when the
        # sender died first (e.g. the transactional id's ACL was revoked) nobody does.
        for batch in [*itertools.chain(*accumulator._batches.values()),
                      *accumulator._pending_batches]:
            batch._drain_waiter.add_done_callback(_consume_outcome)
        await self._producer.stop()
        self._read_transaction_outcome()

    def _read_transaction_outcome(self) -> None:
        """Mark a failed transaction's outcome as seen.

        After an error (fenced, or a topic we may not write to) aiokafka leaves the
        transaction's outcome in a future nobody awaits, and replaces it when the
        transaction is aborted; read it so asyncio does not log it as lost.
        """
        txn_manager = self._producer._txn_manager
        waiter = getattr(txn_manager, "_transaction_waiter", None)
        if isinstance(waiter, asyncio.Future) and waiter.done() and not waiter.cancelled():
            waiter.exception()

    async def begin_transaction(self) -> None:
        await self._producer.begin_transaction()

    async def commit_transaction(self) -> None:
        await self._producer.commit_transaction()

    async def abort_transaction(self) -> None:
        self._read_transaction_outcome()
        await self._producer.abort_transaction()

    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: Headers) -> Awaitable[object]:
        delivered: Awaitable[object] = await self._producer.send(
            topic, value=value, key=key, headers=list(headers))
        return delivered


def aiokafka_producer(settings: KafkaClientSettings) -> TransactionalProducer:
    """A transactional, idempotent ``AIOKafkaProducer`` with ``acks=all``.

    Must be called inside the running event loop (aiokafka binds to it).
    """
    options = {
        **connection_options(settings),
        "acks": "all",
        "enable_idempotence": True,
        "transactional_id": settings.transactional_id,
        "transaction_timeout_ms": settings.transaction_timeout_ms,
    }
    return AiokafkaTransactionalProducer(AIOKafkaProducer(**options))


class KafkaCommandPublisher:
    """``CommandPublisher`` on a transactional aiokafka producer; one instance per process.

    The container makes it unconnected (only a leader connects, with :meth:`start`)
    and closes it on stop (:meth:`close`).
    """

    def __init__(
        self,
        *,
        settings: KafkaClientSettings,
        clock: Clock,
        producer_factory: ProducerFactory = aiokafka_producer,
        health: KafkaHealth | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._producer_factory = producer_factory
        self._health = health if health is not None else KafkaHealth()
        self._producer: TransactionalProducer | None = None
        self._fenced: PublishError | None = None
        self._backoff = 0.0
        self._retry_at: datetime | None = None
        self._closing: set[asyncio.Task[None]] = set()
        # One transaction at a time: aiokafka has one transaction per producer,
        # so concurrent callers must queue rather than interleave their records.
        self._lock = asyncio.Lock()

    @property
    def started(self) -> bool:
        """True while a producer is connected (the ``/readyz`` signal)."""
        return self._producer is not None

    @property
    def fenced(self) -> bool:
        """True after another producer took over our transactional id (until ``start()``)."""
        return self._fenced is not None

    @property
    def problem(self) -> PublishError | None:
        """Why the last connection or publish failed, until one succeeds (``/readyz``).

        The message names a missing ACL or the refused credentials, never a secret.
        """
        return self._fenced or self._health.problem(ClientRole.PRODUCER)

    async def start(self) -> Result[None, PublishError]:
        """Connect now rather than on the first publish; safe to call repeatedly.

        This is the explicit "we lead now" act: it also clears a sticky
        ``FENCED`` state, and in doing so fences whoever holds the
        transactional id. Call it only while leading.
        """
        async with self._lock:
            self._fenced = None
            return await self._connect()

    async def reconnect(self) -> None:
        """Connect again after a failure, but not before the backoff has passed.

        For a leader whose producer is down (broker outage, refused credentials, a
        missing ACL): called as often as liked, it asks the broker at most once per
        backoff interval. Never after being fenced: only :meth:`start` (a new term)
        takes the transactional id back. The outcome shows in :attr:`started` and
        :attr:`problem`.
        """
        async with self._lock:
            if self._fenced is not None or self._producer is not None:
                return
            if self._health.problem(ClientRole.PRODUCER) is not None and (
                self._retry_at is not None and self._clock.now() < self._retry_at
            ):
                return
            await self._connect()

    async def _connect(self) -> Result[None, PublishError]:
        try:
            async with asyncio.timeout(self._settings.publish_timeout):
                await self._ensure_producer()
        except EXPECTED_ERRORS as exc:
            error = publish_error(await diagnosed(exc, self._settings), self._settings)
            self._backoff = min(max(self._backoff * 2, RECONNECT_BACKOFF_SECONDS[0]),
                                RECONNECT_BACKOFF_SECONDS[1])
            self._retry_at = self._clock.now() + timedelta(seconds=self._backoff)
            self._health.failed(ClientRole.PRODUCER, error, retry_in=self._backoff,
                                connecting=True)
            return Failure(error)
        return Success(None)

    async def settle(self) -> Result[None, PublishError]:
        """No transaction of ours left open, so the ledger can be read (``CommandPublisher``).

        A producer kept after a failed publish has aborted its transaction. A
        discarded one is replaced here: initialising a producer with our
        transactional id makes the broker finish what the old one left open
        (completing a commit already requested, aborting anything else) and
        refuse its late records, before it answers. Unlike :meth:`start` this
        never clears a sticky ``FENCED``.
        """
        async with self._lock:
            if self._fenced is not None:
                return Failure(self._fenced)
            return await self._connect()

    async def publish_failures(
        self, failures: Sequence[FailureReport]
    ) -> Result[None, PublishError]:
        """All commands of all ``failures`` in one transaction, deterministic request ids.

        The increment of a failure whose ``trigger_count_before`` is known carries it
        in a record header (:mod:`~zombiewatch.adapters.kafka.headers`).
        """
        now = self._clock.now()
        records = [
            _record(
                command,
                Envelope(
                    request_id=failure_request_id(
                        job_name=failure.job_name, operation=command.operation
                    ),
                    request_time=now,
                    initiator=self._settings.initiator,
                    command=command,
                ),
                failure_headers(failure, command),
            )
            for failure in failures
            for command in failure.commands
        ]
        return await self._publish(records)

    async def publish_commands(
        self, commands: Sequence[Command], *, request_ids: Sequence[UUID] | None = None
    ) -> Result[None, PublishError]:
        """Helper commands in one transaction: random request ids unless given."""
        if request_ids is not None and len(request_ids) != len(commands):
            raise ValueError(f"{len(request_ids)} request ids for {len(commands)} commands")
        now = self._clock.now()
        ids = request_ids if request_ids is not None else [random_request_id() for _ in commands]
        records = [
            _record(
                command,
                Envelope(
                    request_id=request_id,
                    request_time=now,
                    initiator=self._settings.initiator,
                    command=command,
                ),
            )
            for command, request_id in zip(commands, ids, strict=True)
        ]
        return await self._publish(records)

    async def close(self) -> None:
        """Wait for a publish in progress, then flush and close the producer."""
        async with self._lock:
            producer, self._producer = self._producer, None
            if producer is not None:
                await self._bounded("stop", producer.stop())
            if self._closing:
                # Discarded producers still closing: give them one more bound.
                _, stragglers = await asyncio.wait(
                    self._closing, timeout=self._settings.cleanup_timeout
                )
                for task in stragglers:
                    task.cancel()
                if stragglers:
                    await asyncio.wait(stragglers, timeout=self._settings.cleanup_timeout)

    async def _publish(self, records: Sequence[Record]) -> Result[None, PublishError]:
        if not records:
            return Success(None)
        async with self._lock:
            if self._fenced is not None:
                return Failure(self._fenced)
            try:
                async with asyncio.timeout(self._settings.publish_timeout):
                    producer = await self._ensure_producer()
                    await self._send_all(producer, records)
                # Every record is acknowledged; the outcome now hangs on one EndTxn
                # request. Abandoning it after the short publish timeout would leave the
                # outcome unknown (the broker may still commit) and the retry would
                # publish the failure twice, so the commit gets its own, longer bound.
                async with asyncio.timeout(self._settings.commit_timeout):
                    await producer.commit_transaction()
            except EXPECTED_ERRORS as exc:
                error = publish_error(await diagnosed(exc, self._settings), self._settings)
                self._health.failed(ClientRole.PRODUCER, error)
                await self._recover(error)
                return Failure(error)
            self._health.ok(ClientRole.PRODUCER)
            return Success(None)

    async def _send_all(self, producer: TransactionalProducer, records: Sequence[Record]) -> None:
        """Begin the transaction, send every record and wait for all acknowledgements."""
        topic = self._settings.topic
        await producer.begin_transaction()
        # Queue everything first, then wait for all acks together: the sender
        # batches the records per partition instead of one round trip each.
        pending: list[asyncio.Future[object]] = []
        try:
            for key, value, headers in records:
                pending.append(asyncio.ensure_future(
                    await producer.send(topic, value, key, headers)))
            outcomes = await asyncio.gather(*pending, return_exceptions=True)
        except BaseException:
            # The records' futures fail later, when the producer is discarded;
            # mark their errors as seen so asyncio does not log them as lost.
            for future in pending:
                future.add_done_callback(_consume_outcome)
            raise
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _ensure_producer(self) -> TransactionalProducer:
        if self._producer is not None:
            return self._producer
        producer = self._producer_factory(self._settings)
        try:
            await producer.start()
        except BaseException:
            # Includes the cancellation of a publish timeout: never leak a half
            # started client with its background tasks.
            await self._close_discarded(producer)
            raise
        log_event(log, logging.INFO, "producer_started",
                  transactional_id=self._settings.transactional_id)
        self._producer = producer
        self._backoff, self._retry_at = 0.0, None
        self._health.ok(ClientRole.PRODUCER, connected_only=True)
        return producer

    async def _recover(self, error: PublishError) -> None:
        """Leave the publisher usable after a failed transaction (or sticky-fenced)."""
        if error.kind is BrokerErrorKind.FENCED:
            self._fenced = error
            await self._discard_producer()
            return
        if error.kind is BrokerErrorKind.UNAVAILABLE:
            # The broker is unreachable or slow: an abort would only wait out
            # the cleanup timeout. The next producer's initialisation aborts
            # the open transaction on the broker side.
            await self._discard_producer()
            return
        if error.kind is BrokerErrorKind.UNAUTHORIZED:
            # A refused topic leaves aiokafka's idempotence sequence numbers ahead of
            # the broker's: the next transaction would fail OutOfOrderSequenceNumber.
            # A new producer (new epoch) starts clean and aborts the open transaction.
            await self._discard_producer()
            return
        if not await self._abort():
            await self._discard_producer()

    async def _abort(self) -> bool:
        producer = self._producer
        if producer is None:
            return True
        try:
            async with asyncio.timeout(self._settings.cleanup_timeout):
                await producer.abort_transaction()
        except Exception as exc:  # best effort: any failure means a new producer
            # aiokafka asserts on invalid transaction state transitions (e.g.
            # after a fatal error), so this is deliberately broad.
            log_event(log, logging.INFO, "abort_failed", error=f"{type(exc).__name__}: {exc}")
            return False
        return True

    async def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._close_discarded(producer)

    async def _close_discarded(self, producer: TransactionalProducer) -> None:
        """Close ``producer``, waiting at most ``cleanup_timeout`` for it.

        With the broker gone, closing waits for in-flight requests to time out
        (``request_timeout_ms``). Cancelling that would leak the client's
        background tasks, so the close goes on in its own task and this waits
        only so long; :meth:`close` collects whatever is still closing.
        """
        task = asyncio.create_task(producer.close_now())
        self._closing.add(task)
        task.add_done_callback(self._closed_in_background)
        await asyncio.wait({task}, timeout=self._settings.cleanup_timeout)

    def _closed_in_background(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log_event(log, logging.WARNING, "producer_close_failed",
                      error=f"{type(exc).__name__}: {exc}")

    async def _bounded(self, what: str, closing: Awaitable[None]) -> None:
        try:
            async with asyncio.timeout(self._settings.cleanup_timeout):
                await closing
        except EXPECTED_ERRORS as exc:
            log_event(log, logging.WARNING, f"producer_{what}_failed",
                      error=f"{type(exc).__name__}: {exc}")


def _consume_outcome(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


def _record(command: Command, envelope: Envelope, headers: Headers = ()) -> Record:
    return message_key(command), encode(envelope), headers
