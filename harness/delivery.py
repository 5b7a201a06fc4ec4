"""What the Kafka delivery tests share: zombiewatch's publisher and reporter against the real
broker, producers that fail at a chosen point, and polling for what the broker shows.

The cluster side is played by the test kit's fakes (Jobs in a ``FakeCache``, annotations
recorded, always the leader): these tests prove the delivery path, not detection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from aiokafka.errors import KafkaConnectionError, KafkaError

from zombiewatch.adapters.clock import SystemClock
from zombiewatch.adapters.kafka.headers import Headers
from zombiewatch.adapters.kafka.history import KafkaFailureHistory
from zombiewatch.adapters.kafka.publishing import (
    KafkaCommandPublisher,
    ProducerFactory,
    TransactionalProducer,
    aiokafka_producer,
)
from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.kafka.task_events import KafkaTaskFeed
from zombiewatch.app.annotations import Annotations
from zombiewatch.app.confirming import Confirmer, NoConfirmation
from zombiewatch.app.delivery import Delivery
from zombiewatch.app.evidence import EventEvidence
from zombiewatch.app.feedpart import TaskView
from zombiewatch.app.job_events import JobEvents
from zombiewatch.app.judging import Detection, Judge
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.storm import StormWatch
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.ledger import ConsumerIsolation
from zombiewatch.domain.ports import Clock, CommandPublisher
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskStates
from zombiewatch.testing.fakes import (
    FakeCache,
    FakeLeader,
    RecordingAnnotator,
    RecordingEventRecorder,
    ScriptedEventLookup,
)


def publisher_settings(
    bootstrap_servers: str, topic: str, *, publish_timeout: float = 5.0,
    request_timeout_ms: int = 3_000,
    consumer_isolation: ConsumerIsolation = ConsumerIsolation.READ_UNCOMMITTED,
) -> KafkaClientSettings:
    """A test's own publisher: a fresh transactional id (tests never fence each other) and
    timeouts short enough that an injected fault is over in seconds."""
    return KafkaClientSettings(
        bootstrap_servers=bootstrap_servers, topic=topic,
        transactional_id=f"zombiewatch-it-{uuid.uuid4().hex[:12]}",
        publish_timeout=publish_timeout, cleanup_timeout=2.0,
        request_timeout_ms=request_timeout_ms, consumer_isolation=consumer_isolation)


@dataclass
class Faults:
    """What the producers of one publisher are armed to fail; each fault fires, then is spent.

    Shared by every producer the factory makes: the publisher discards a producer after a
    failed transaction and makes a new one, and the test arms or inspects the faults while
    it runs.
    """

    commits: int = 0
    """The next ``commits`` commits fail (a lost connection) after every record was written."""
    second_send: KafkaError | None = None
    """Raised once by a transaction's second send, its first record already in the log."""

    @property
    def spent(self) -> bool:
        """Every armed fault fired."""
        return self.commits == 0 and self.second_send is None


class FaultyProducer:
    """A real transactional producer that fails where its :class:`Faults` say, after real
    writes: what a broker or network fault does at that point of a transaction."""

    def __init__(self, inner: TransactionalProducer, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults
        self._sent = 0

    async def start(self) -> None:
        await self._inner.start()

    async def stop(self) -> None:
        await self._inner.stop()

    async def close_now(self) -> None:
        await self._inner.close_now()

    async def begin_transaction(self) -> None:
        self._sent = 0
        await self._inner.begin_transaction()

    async def commit_transaction(self) -> None:
        if self._faults.commits > 0:
            self._faults.commits -= 1
            raise KafkaConnectionError("injected at the commit: every record is in the log")
        await self._inner.commit_transaction()

    async def abort_transaction(self) -> None:
        await self._inner.abort_transaction()

    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: Headers) -> Awaitable[object]:
        error = self._faults.second_send
        if error is None:
            # The publisher awaits every acknowledgement before it commits: when the
            # commit fails, every record of the transaction is in the log.
            return await self._inner.send(topic, value=value, key=key, headers=headers)
        if self._sent == 1:
            self._faults.second_send = None
            raise error
        delivered = await self._inner.send(topic, value=value, key=key, headers=headers)
        self._sent += 1
        await delivered  # the first record really is in the log, inside the transaction
        return delivered


def faulty(faults: Faults) -> ProducerFactory:
    """The publisher's producer factory: real producers, failing where ``faults`` say."""
    return lambda settings: FaultyProducer(aiokafka_producer(settings), faults)


@asynccontextmanager
async def open_publisher(
    settings: KafkaClientSettings, *, clock: Clock,
    producer_factory: ProducerFactory = aiokafka_producer, connect: bool = False,
) -> AsyncIterator[KafkaCommandPublisher]:
    """A publisher for the block, closed after it (waiting for a publish in progress).

    Not connected by default, as in the daemon, where only a leader connects.
    ``connect=True`` tries once and yields the publisher even if the broker is
    down: it connects on its first publish then.
    """
    publisher = KafkaCommandPublisher(settings=settings, clock=clock,
                                      producer_factory=producer_factory)
    if connect:
        await publisher.start()  # a failure shows in ``started``/``problem``
    try:
        yield publisher
    finally:
        await publisher.close()


def faulty_publisher(settings: KafkaClientSettings, faults: Faults) -> KafkaCommandPublisher:
    """A publisher on the wall clock whose producers fail where ``faults`` say."""
    return KafkaCommandPublisher(settings=settings, clock=SystemClock(),
                                 producer_factory=faulty(faults))


def wire_reporter(
    publisher: CommandPublisher, settings: KafkaClientSettings, *, cache: FakeCache,
    metrics: Metrics, confirmer: Confirmer | None = None,
    history: KafkaFailureHistory | None = None,
) -> Reporter:
    """The reporter publishing for real, its ledger read back from the broker; the Jobs come
    from ``cache``, annotations are recorded there, and it always leads."""
    annotations = Annotations(annotator=RecordingAnnotator(cache=cache), metrics=metrics,
                              namespace="agents")
    dedupe = RecentFailures(ttl=timedelta(hours=1))
    confirmation = confirmer or NoConfirmation()
    judge = Judge(cache=cache, book=InFlightBook(), dedupe=dedupe,
                  grace=timedelta(seconds=120), annotations=annotations,
                  tasks=TaskView(TaskStates(), None))
    events = JobEvents(recorder=RecordingEventRecorder(), cache=cache)
    clock = SystemClock()
    return Reporter(
        judge=judge,
        delivery=Delivery(publisher=publisher, history=history or KafkaFailureHistory(settings),
                          leader=FakeLeader(), annotations=annotations, cache=cache,
                          dedupe=dedupe, confirmation=confirmation, metrics=metrics,
                          events=events),
        confirmation=confirmation, clock=clock, metrics=metrics,
        # The delivery is what these tests exercise: no storm guard between it and them.
        storm=StormWatch(policy=None, judge=judge, clock=clock, metrics=metrics,
                         events=events),
        # Image-pull detections name no Events: nothing is looked up.
        evidence=EventEvidence(lookup=ScriptedEventLookup()))


def detection(job_name: str, task_id: str) -> Detection:
    """An informer's detection of the Job (an image that cannot be pulled), seen now."""
    return Detection(task_id=task_id, job_name=job_name,
                     verdict=Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL),
                     path="informer", elapsed=None, seen_monotonic=time.monotonic())


@asynccontextmanager
async def following(feed: KafkaTaskFeed) -> AsyncIterator[KafkaTaskFeed]:
    """The feed following its topic in the background for the block (``run``), then stopped."""
    task = asyncio.get_running_loop().create_task(feed.run())
    try:
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
