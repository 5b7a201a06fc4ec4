"""The transactional publisher against the real broker, read back ``read_committed``."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from returns.result import Failure, Success

from harness.delivery import Faults, faulty, open_publisher, publisher_settings
from harness.fixtures import TopicFactory
from harness.services import Services
from zombiewatch.adapters.kafka.codec import decode
from zombiewatch.adapters.kafka.publishing import KafkaCommandPublisher
from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.domain.commands import (
    BodySection,
    FailureReport,
    IncrementFrontmatter,
    Operation,
    UpdateFrontmatter,
)
from zombiewatch.domain.ledger import failure_request_id
from zombiewatch.domain.ports import BrokerErrorKind
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.testing.fakes import FakeClock

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)

PARTITIONS = 3
READ_TIMEOUT = 30.0
NOW = datetime(2026, 6, 2, 9, 46, 0, 100000, tzinfo=UTC)



@dataclass(frozen=True)
class Seen:
    partition: int
    offset: int
    key: bytes
    value: bytes


def zombie_failure(task_id: str, job_name: str) -> FailureReport:
    section = (
        f"## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n- **Job:** {job_name}\n"
        "- **Reason:** deadline_exceeded\n"
    )
    return FailureReport(
        task_id=task_id,
        job_name=job_name,
        reason=ZombieReason.DEADLINE_EXCEEDED,
        occurred_at=FakeClock(NOW).now(),
        commands=(
            UpdateFrontmatter(
                task_identifier=task_id,
                updates={"current_job": ""},
                body=BodySection(heading="## Failure", section=section),
            ),
            IncrementFrontmatter(task_identifier=task_id, field="trigger_count", delta=1),
        ),
    )


def new_failure() -> FailureReport:
    task_id = str(uuid.uuid4())
    return zombie_failure(task_id, f"claude-agent-{task_id[:8]}-20260602091530")


async def read_committed(
    bootstrap_servers: str, topic: str, *, until: int, settle: float = 1.0
) -> list[Seen]:
    """Every committed record of ``topic`` once ``until`` arrived (plus a settle time)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        seen: list[Seen] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READ_TIMEOUT
        settle_until: float | None = None
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                seen.extend(Seen(tp.partition, r.offset, r.key, r.value) for r in records)
            if settle_until is None and len(seen) >= until:
                settle_until = loop.time() + settle
            if settle_until is not None and loop.time() >= settle_until:
                break
        return seen
    finally:
        await consumer.stop()


@pytest.fixture
def request_topic(topic_factory: TopicFactory) -> str:
    """Three partitions, so "one task, one partition" is a real property."""
    return topic_factory(PARTITIONS, "zw-publisher")


@pytest.fixture
def settings(bootstrap_servers: str, request_topic: str) -> KafkaClientSettings:
    return publisher_settings(bootstrap_servers, request_topic)


@pytest.fixture
async def publisher(settings: KafkaClientSettings) -> AsyncIterator[KafkaCommandPublisher]:
    async with open_publisher(settings, clock=FakeClock(NOW)) as opened:
        yield opened


async def test_a_zombie_failure_is_two_committed_records_update_then_increment_on_one_partition(
    publisher: KafkaCommandPublisher, bootstrap_servers: str, request_topic: str
) -> None:
    failure = new_failure()

    result = await publisher.publish_failures([failure])

    assert result == Success(None)
    seen = await read_committed(bootstrap_servers, request_topic, until=2)
    assert len(seen) == 2
    update, increment = sorted(seen, key=lambda s: s.offset)
    assert update.partition == increment.partition
    assert update.offset < increment.offset
    assert update.key == increment.key == failure.task_id.encode()
    assert decode(update.value).command == failure.commands[0]
    assert decode(increment.value).command == failure.commands[1]
    assert decode(update.value).request_id == failure_request_id(
        job_name=failure.job_name, operation=Operation.UPDATE_FRONTMATTER
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (KafkaError("injected between the two sends"), BrokerErrorKind.REJECTED),
        (KafkaConnectionError("injected between the two sends"), BrokerErrorKind.UNAVAILABLE),
    ],
    ids=["aborted", "producer-discarded"],
)
async def test_a_failure_between_the_two_sends_leaves_nothing_visible(
    settings: KafkaClientSettings,
    bootstrap_servers: str,
    request_topic: str,
    error: KafkaError,
    kind: BrokerErrorKind,
) -> None:
    factory = faulty(Faults(second_send=error))
    failure = new_failure()
    sentinel = zombie_failure(failure.task_id, "sentinel-job")  # same key, same partition
    async with open_publisher(settings, clock=FakeClock(NOW), producer_factory=factory) as pub:
        failed = await pub.publish_failures([failure])
        recovered = await pub.publish_failures([sentinel])

    assert isinstance(failed, Failure)
    assert failed.failure().kind is kind
    assert recovered == Success(None)
    seen = await read_committed(bootstrap_servers, request_topic, until=2)
    jobs = {decode(s.value).request_id for s in seen}
    assert jobs == {
        failure_request_id(job_name="sentinel-job", operation=operation) for operation in Operation
    }
    assert len(seen) == 2


async def test_broker_down_fails_within_the_timeout_and_publishing_resumes_when_it_is_back(
    settings: KafkaClientSettings,
    bootstrap_servers: str,
    request_topic: str,
    services: Services,
) -> None:
    bound = settings.publish_timeout + 2 * settings.cleanup_timeout + 1.0
    connected_settings = settings
    cold_settings = replace(settings, transactional_id=settings.transactional_id + "-cold")
    before, during_connected, during_cold = new_failure(), new_failure(), new_failure()
    after_connected, after_cold = new_failure(), new_failure()
    loop = asyncio.get_running_loop()

    async with open_publisher(connected_settings, clock=FakeClock(NOW)) as connected:
        assert await connected.publish_failures([before]) == Success(None)
        await asyncio.to_thread(services.stop_kafka)
        try:
            started = loop.time()
            down = await connected.publish_failures([during_connected])
            connected_elapsed = loop.time() - started

            started = loop.time()
            async with open_publisher(cold_settings, clock=FakeClock(NOW), connect=True) as cold:
                open_elapsed = loop.time() - started
                started = loop.time()
                cold_down = await cold.publish_failures([during_cold])
                cold_elapsed = loop.time() - started
                await asyncio.to_thread(services.start_kafka)
                cold_up = await cold.publish_failures([after_cold])
        finally:
            await asyncio.to_thread(services.ensure_running)
        connected_up = await connected.publish_failures([after_connected])

    log.info(
        "broker down: connected publisher failed after %.2fs, cold open %.2fs, cold publish %.2fs",
        connected_elapsed,
        open_elapsed,
        cold_elapsed,
    )
    assert isinstance(down, Failure)
    assert down.failure().kind is BrokerErrorKind.UNAVAILABLE
    assert isinstance(cold_down, Failure)
    assert cold_down.failure().kind is BrokerErrorKind.UNAVAILABLE
    assert connected_elapsed < bound
    assert open_elapsed < bound
    assert cold_elapsed < bound
    assert cold_up == Success(None)
    assert connected_up == Success(None)
    seen = await read_committed(bootstrap_servers, request_topic, until=6)
    keys = {s.key for s in seen}
    assert keys == {f.task_id.encode() for f in (before, after_connected, after_cold)}
    assert len(seen) == 6


async def test_a_second_publisher_with_the_same_transactional_id_fences_the_first(
    settings: KafkaClientSettings, bootstrap_servers: str, request_topic: str
) -> None:
    first_failure, fenced_failure, second_failure = new_failure(), new_failure(), new_failure()

    async with open_publisher(settings, clock=FakeClock(NOW)) as older:
        assert await older.publish_failures([first_failure]) == Success(None)
        async with open_publisher(settings, clock=FakeClock(NOW), connect=True) as newer:
            fenced = await older.publish_failures([fenced_failure])
            taken_over = await newer.publish_failures([second_failure])

    assert isinstance(fenced, Failure)
    assert fenced.failure().kind is BrokerErrorKind.FENCED
    assert taken_over == Success(None)
    seen = await read_committed(bootstrap_servers, request_topic, until=4)
    assert {s.key for s in seen} == {f.task_id.encode() for f in (first_failure, second_failure)}
    assert len(seen) == 4


@pytest.mark.parametrize("count", [200, 1000])
async def test_a_batch_of_failures_commits_in_one_transaction_with_adjacent_pairs(
    publisher: KafkaCommandPublisher, bootstrap_servers: str, request_topic: str, count: int
) -> None:
    failures = [new_failure() for _ in range(count)]
    loop = asyncio.get_running_loop()

    started = loop.time()
    result = await publisher.publish_failures(failures)
    elapsed = loop.time() - started

    log.info("published %d failures in one transaction in %.3fs", count, elapsed)
    assert result == Success(None)
    seen = await read_committed(bootstrap_servers, request_topic, until=2 * count)
    assert len(seen) == 2 * count
    by_partition: dict[int, list[Seen]] = {}
    for record in sorted(seen, key=lambda s: (s.partition, s.offset)):
        by_partition.setdefault(record.partition, []).append(record)
    for records in by_partition.values():
        for update, increment in zip(records[::2], records[1::2], strict=True):
            assert update.key == increment.key
            assert isinstance(decode(update.value).command, UpdateFrontmatter)
            assert isinstance(decode(increment.value).command, IncrementFrontmatter)
    assert len(by_partition) > 1  # keys really spread over partitions
