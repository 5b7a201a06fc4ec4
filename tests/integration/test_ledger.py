"""The ledger against the real broker: a retry never re-sends what the consumer already has.

A transaction fails after its records reached the log. A ``read_uncommitted``
consumer (the real controller) applies them anyway, so the reporter's retry
must send nothing (or only the missing command); a ``read_committed`` consumer
never sees them, so the retry must send the failure whole. Either way the
consumer, reading at its own isolation, sees each command of the failure
exactly once.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from harness.delivery import Faults, detection, faulty_publisher, publisher_settings, wire_reporter
from harness.fixtures import TopicFactory
from tests.builders import job_view
from zombiewatch.adapters.kafka.codec import Envelope, decode, encode
from zombiewatch.adapters.kafka.headers import TRIGGER_COUNT_BEFORE
from zombiewatch.adapters.kafka.history import KafkaFailureHistory
from zombiewatch.app.metrics import Metrics
from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.doctrine import spawn_notification, success_clear, zombie_failure
from zombiewatch.domain.ledger import ConsumerIsolation, clear_request_id, failure_request_id
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.testing.fakes import FakeCache

pytestmark = pytest.mark.integration


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


@pytest.mark.parametrize("isolation", list(ConsumerIsolation), ids=lambda i: i.value)
@pytest.mark.parametrize("fault", ["commit", "second-send"])
async def test_a_retry_after_a_failed_transaction_sends_only_what_the_consumer_lacks(
    bootstrap_servers: str, topic_factory: TopicFactory, isolation: ConsumerIsolation,
    fault: str,
) -> None:
    topic = topic_factory(1, "zw-ledger")
    settings = publisher_settings(bootstrap_servers, topic, consumer_isolation=isolation)
    faults = Faults(commits=1) if fault == "commit" else Faults(
        second_send=KafkaError("injected between the sends: the update is in the log"))

    task_id = str(uuid.uuid4())
    job = f"claude-{task_id[:8]}-20260602091530"
    cache = FakeCache()
    cache.put_job(job_view(job, task_id=task_id))
    metrics = Metrics()
    publisher = faulty_publisher(settings, faults)
    reporter = wire_reporter(publisher, settings, cache=cache, metrics=metrics)
    try:
        for _ in range(3):  # the failed attempt, then two more detections of the same Job
            reporter.submit(detection(job, task_id))
            await reporter.flush()
        await reporter.close()
    finally:
        await publisher.close()

    assert faults.spent  # the fault fired
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
    base = publisher_settings(bootstrap_servers, topic)
    publisher = faulty_publisher(base, Faults(commits=1))
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
    settings = publisher_settings(bootstrap_servers, topic)
    now = datetime.now(UTC)
    before = now - timedelta(seconds=5)

    def failure(job: str) -> FailureReport:
        return zombie_failure(task_id=f"t-{job}", job_name=job, reason=ZombieReason.POD_EVICTED,
                              at=now)

    publisher = faulty_publisher(settings, Faults())
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


async def test_the_ledger_reads_back_each_failure_s_vault_and_evidence_and_our_clears(
    bootstrap_servers: str, topic_factory: TopicFactory,
) -> None:
    """What a new leader needs to repair byte-identical and to send a clear only once."""
    topic = topic_factory(1, "zw-ledger")
    settings = publisher_settings(bootstrap_servers, topic)
    now = datetime.now(UTC)
    routed = zombie_failure(task_id="t-1", job_name="job-work", at=now,
                            reason=ZombieReason.POD_OOM_KILLED, evidence="OOMKilled/137",
                            target_vault="work")
    unrouted = zombie_failure(task_id="t-2", job_name="job-any", at=now,
                              reason=ZombieReason.POD_EVICTED)
    publisher = faulty_publisher(settings, Faults())
    try:
        (await publisher.publish_failures([routed, unrouted])).unwrap()
        (await publisher.publish_commands(
            [success_clear(task_id="t-3", job_name="job-done", target_vault="personal")],
            request_ids=[clear_request_id("job-done")])).unwrap()
        # A helper command of the dispatch path (random id) is no clear of ours.
        (await publisher.publish_commands([spawn_notification(
            task_id="t-4", job_name="job-new", started_at=now)])).unwrap()
    finally:
        await publisher.close()

    reading = (await KafkaFailureHistory(settings).reported_since(
        now - timedelta(seconds=5))).unwrap()

    assert dict(reading.vaults) == {"job-work": "work"}
    assert {f.job_name: f.evidence for f in reading.failures} == {
        "job-work": "OOMKilled/137", "job-any": ""}
    assert [rid for rid, _ in reading.clears] == [clear_request_id("job-done")]
