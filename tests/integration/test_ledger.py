"""The ledger against the real broker: a retry never re-sends what the consumer already has.

A transaction fails after its records reached the log. A ``read_uncommitted``
consumer (the real controller) applies them anyway, so the reporter's retry
must send nothing (or only the missing command); a ``read_committed`` consumer
never sees them, so the retry must send the failure whole. Either way the
consumer, reading at its own isolation, sees each command of the failure
exactly once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from harness.fixtures import TopicFactory
from tests.builders import job_view
from zombiewatch.adapters.kafka.codec import Envelope, decode, encode
from zombiewatch.adapters.kafka.headers import TRIGGER_COUNT_BEFORE, Headers
from zombiewatch.adapters.kafka.history import KafkaFailureHistory
from zombiewatch.adapters.kafka.publishing import (
    KafkaCommandPublisher,
    TransactionalProducer,
    aiokafka_producer,
)
from zombiewatch.adapters.kafka.settings import KafkaPublisherSettings
from zombiewatch.app.annotations import Annotations
from zombiewatch.app.judging import Detection, Judge
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.ledger import ConsumerIsolation, failure_request_id
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.testing.fakes import FakeCache, FakeLeader, RecordingAnnotator

pytestmark = pytest.mark.integration


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Faulty:
    """A real producer that fails once, at a chosen point, after real sends."""

    def __init__(self, inner: TransactionalProducer, armed: list[str]) -> None:
        self._inner = inner
        self._armed = armed
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
        if self._armed and self._armed[0] == "commit":
            self._armed.clear()
            raise KafkaConnectionError("injected at the commit: every record is in the log")
        await self._inner.commit_transaction()

    async def abort_transaction(self) -> None:
        await self._inner.abort_transaction()

    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: Headers) -> Awaitable[object]:
        if self._armed and self._armed[0] == "second-send" and self._sent == 1:
            self._armed.clear()
            raise KafkaError("injected between the sends: the update is in the log")
        delivered = await self._inner.send(topic, value=value, key=key, headers=headers)
        self._sent += 1
        await delivered  # really written (inside the transaction) before going on
        return delivered


async def read_all(bootstrap: str, topic: str, isolation: ConsumerIsolation) -> list[bytes]:
    """Every record value of the single-partition ``topic``, as a consumer at ``isolation``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation.value,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[bytes] = []
        while await consumer.position(tp) < end:
            batches = await consumer.getmany(tp, timeout_ms=500)
            values.extend(r.value for records in batches.values() for r in records)
        return values
    finally:
        await consumer.stop()


def detection(job_name: str, task_id: str) -> Detection:
    return Detection(task_id=task_id, job_name=job_name,
                     verdict=Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL),
                     path="informer", elapsed=None, seen_monotonic=time.monotonic())


@pytest.mark.parametrize("isolation", list(ConsumerIsolation), ids=lambda i: i.value)
@pytest.mark.parametrize("fault", ["commit", "second-send"])
async def test_a_retry_after_a_failed_transaction_sends_only_what_the_consumer_lacks(
    bootstrap_servers: str, topic_factory: TopicFactory, isolation: ConsumerIsolation,
    fault: str,
) -> None:
    topic = topic_factory(1, "zw-ledger")
    settings = KafkaPublisherSettings(
        bootstrap_servers=bootstrap_servers, topic=topic,
        transactional_id=f"zombiewatch-it-{uuid.uuid4().hex[:12]}",
        publish_timeout=5.0, cleanup_timeout=2.0, request_timeout_ms=3_000,
        consumer_isolation=isolation)
    armed = [fault]

    def factory(s: KafkaPublisherSettings) -> TransactionalProducer:
        return Faulty(aiokafka_producer(s), armed)

    task_id = str(uuid.uuid4())
    job = f"claude-{task_id[:8]}-20260602091530"
    cache = FakeCache()
    cache.put_job(job_view(job, task_id=task_id))
    metrics = Metrics()
    publisher = KafkaCommandPublisher(settings=settings, clock=WallClock(),
                                      producer_factory=factory)
    reporter = Reporter(
        publisher=publisher,
        annotations=Annotations(annotator=RecordingAnnotator(cache=cache), metrics=metrics,
                                namespace="agents"),
        judge=Judge(cache=cache, book=InFlightBook(),
                    dedupe=RecentFailures(ttl=timedelta(hours=1)), grace=timedelta(seconds=120)),
        leader=FakeLeader(), clock=WallClock(), metrics=metrics,
        history=KafkaFailureHistory(settings))
    try:
        for _ in range(3):  # the failed attempt, then two more detections of the same Job
            reporter.submit(detection(job, task_id))
            await reporter.flush()
        await reporter.close()
    finally:
        await publisher.close()

    assert armed == []  # the fault fired
    seen = [decode(v) for v in await read_all(bootstrap_servers, topic, isolation)]
    ids = sorted(str(e.request_id) for e in seen)
    assert ids == sorted(str(failure_request_id(job_name=job, operation=op)) for op in Operation)
    # What the broker holds in all, aborted records included.
    everything = await read_all(bootstrap_servers, topic, ConsumerIsolation.READ_UNCOMMITTED)
    resent = {"read_uncommitted": {"commit": 0, "second-send": 1},
              "read_committed": {"commit": 2, "second-send": 2}}[isolation.value][fault]
    first_attempt = {"commit": 2, "second-send": 1}[fault]
    assert len(everything) == first_attempt + resent
    ledger_hits = metrics.registry.get_sample_value("zombiewatch_dedupe_hits_total",
                                                    {"layer": "ledger"}) or 0.0
    assert ledger_hits == (1.0 if resent == 0 else 0.0)


async def test_aborted_records_are_in_the_ledger_read_uncommitted_only(
    bootstrap_servers: str, topic_factory: TopicFactory,
) -> None:
    topic = topic_factory(1, "zw-ledger")
    base = KafkaPublisherSettings(
        bootstrap_servers=bootstrap_servers, topic=topic,
        transactional_id=f"zombiewatch-it-{uuid.uuid4().hex[:12]}",
        publish_timeout=5.0, cleanup_timeout=2.0, request_timeout_ms=3_000)
    armed = ["commit"]
    publisher = KafkaCommandPublisher(
        settings=base, clock=WallClock(),
        producer_factory=lambda s: Faulty(aiokafka_producer(s), armed))
    before = datetime.now(UTC) - timedelta(seconds=5)
    failure = zombie_failure(task_id="t-1", job_name="job-aborted",
                             reason=ZombieReason.POD_EVICTED, at=datetime.now(UTC))
    try:
        assert (await publisher.publish_failures([failure])).failure() is not None
        assert (await publisher.settle()).unwrap() is None  # the broker aborts it now
    finally:
        await publisher.close()

    uncommitted = (await KafkaFailureHistory(base).reported_since(before)).unwrap()
    committed = (await KafkaFailureHistory(replace(
        base, consumer_isolation=ConsumerIsolation.READ_COMMITTED)).reported_since(
            before)).unwrap()

    assert [f.job_name for f in uncommitted.failures] == ["job-aborted"]
    assert {rid for rid, _ in uncommitted.request_ids} == {
        failure_request_id(job_name="job-aborted", operation=op) for op in Operation}
    assert committed.failures == ()
    assert committed.request_ids == ()


async def test_the_ledger_reads_back_the_count_each_increment_was_sent_against(
    bootstrap_servers: str, topic_factory: TopicFactory,
) -> None:
    topic = topic_factory(1, "zw-ledger")
    settings = KafkaPublisherSettings(
        bootstrap_servers=bootstrap_servers, topic=topic,
        transactional_id=f"zombiewatch-it-{uuid.uuid4().hex[:12]}",
        publish_timeout=5.0, cleanup_timeout=2.0, request_timeout_ms=3_000)
    now = datetime.now(UTC)
    before = now - timedelta(seconds=5)

    def failure(job: str) -> FailureReport:
        return zombie_failure(task_id=f"t-{job}", job_name=job, reason=ZombieReason.POD_EVICTED,
                              at=now)

    publisher = KafkaCommandPublisher(settings=settings, clock=WallClock())
    try:
        (await publisher.publish_failures([replace(failure("job-known"), trigger_count_before=2),
                                           failure("job-unknown")])).unwrap()
    finally:
        await publisher.close()
    # Written by someone else with a header we cannot read: unknown, counted, not fatal.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        for command in failure("job-bad").commands:
            envelope = Envelope(request_id=failure_request_id(job_name="job-bad",
                                                              operation=command.operation),
                                request_time=now, command=command)
            await producer.send_and_wait(topic, value=encode(envelope), key=b"t-job-bad",
                                         headers=[(TRIGGER_COUNT_BEFORE, b"two")])
    finally:
        await producer.stop()

    reading = (await KafkaFailureHistory(settings).reported_since(before)).unwrap()

    assert {job: reading.trigger_count_before(job)
            for job in ("job-known", "job-unknown", "job-bad")} == {
        "job-known": 2, "job-unknown": None, "job-bad": None}
    assert reading.unreadable_counts == 1
    assert sorted(f.job_name for f in reading.failures) == ["job-bad", "job-known", "job-unknown"]
