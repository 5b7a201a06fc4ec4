"""The harness controller over the real broker behaves as the real controller does.

read_uncommitted (an aborted transaction's records are applied), no request-id
dedupe (the same failure sent twice bumps twice), today's 60-minute expiry,
injected write errors that consume the record, the changed task on the event
topic, a restart that resumes where it stopped, and two controllers of two
vaults on one request topic, each applying only what is its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from harness.controller import KafkaController
from harness.delivery import Faults, faulty, publisher_settings
from harness.fixtures import TopicFactory
from harness.vault import ReferenceVault
from harness.waiting import wait_until
from zombiewatch.adapters.clock import SystemClock
from zombiewatch.adapters.kafka.codec import Envelope, encode
from zombiewatch.adapters.kafka.publishing import (
    KafkaCommandPublisher,
    ProducerFactory,
    aiokafka_producer,
)
from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.kafka.task_events import KafkaTaskFeed
from zombiewatch.domain.commands import FailureReport
from zombiewatch.domain.controller_profile import CURRENT
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.ports import Clock
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.taskfile import Value
from zombiewatch.domain.tasks import TaskStates

pytestmark = pytest.mark.integration


class LateClock:
    """Stamps requestTime a minute past today's 60-minute expiry: expired on arrival."""

    def now(self) -> datetime:
        return datetime.now(UTC) - CURRENT.expiry - timedelta(minutes=1)


@dataclass
class World:
    controller: KafkaController
    vault: ReferenceVault
    settings: KafkaClientSettings
    feed: KafkaTaskFeed

    def publisher(self, *, clock: Clock | None = None,
                  factory: ProducerFactory | None = None
                  ) -> KafkaCommandPublisher:
        return KafkaCommandPublisher(settings=self.settings, clock=clock or SystemClock(),
                                     producer_factory=factory or aiokafka_producer)

    def trigger_count(self, task_id: str) -> object:
        task = self.vault.task(task_id)
        assert task is not None
        return task.frontmatter.get("trigger_count")

    def current_job(self, task_id: str) -> object:
        task = self.vault.task(task_id)
        assert task is not None
        return task.frontmatter.get("current_job")


@pytest.fixture
async def world(bootstrap_servers: str, topic_factory: TopicFactory,
                tmp_path: Path) -> AsyncIterator[World]:
    requests, events, results = (topic_factory(1, p) for p in ("zw-req", "zw-evt", "zw-res"))
    vault = ReferenceVault(tmp_path / "vault")
    controller = KafkaController(bootstrap=bootstrap_servers, request_topic=requests,
                                 event_topic=events, result_topic=results, vault=vault,
                                 poll_interval=3600)
    assert controller.expiry == CURRENT.expiry
    settings = publisher_settings(bootstrap_servers, requests)
    feed = KafkaTaskFeed(settings, topic=events, states=TaskStates(), retry_seconds=0.5)
    follow = asyncio.get_running_loop().create_task(feed.run())
    try:
        yield World(controller, vault, settings, feed)
    finally:
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await controller.close()


def zombie(world: World, job: str = "claude-4aa57614-20260602091530") -> tuple[str, FailureReport]:
    task_id = str(uuid.uuid4())
    world.vault.put(task_id, {"assignee": "claude", "current_job": job, "trigger_count": 0})
    return task_id, zombie_failure(task_id=task_id, job_name=job,
                                   reason=ZombieReason.IMAGE_PULL_BACKOFF,
                                   at=datetime.now(UTC))


async def publish(publisher: KafkaCommandPublisher, report: FailureReport) -> None:
    try:
        assert (await publisher.publish_failures([report])).unwrap() is None
    finally:
        await publisher.close()


async def test_a_failure_frees_the_task_and_the_change_reaches_the_event_topic(
    world: World,
) -> None:
    task_id, report = zombie(world)
    await world.controller.start()
    await publish(world.publisher(), report)

    await wait_until(lambda: world.trigger_count(task_id) == 1, "applied")
    assert world.current_job(task_id) == ""
    await wait_until(lambda: (s := world.feed.states.get(task_id)) is not None
                and s.current_job == "" and s.trigger_count == 1, "published on the event topic")
    assert (world.vault.vault_dir / f"tasks/{task_id}.md").read_text().count("## Failure") == 1


async def test_the_same_failure_sent_twice_is_applied_twice(world: World) -> None:
    task_id, report = zombie(world)
    await world.controller.start()
    await publish(world.publisher(), report)
    await publish(world.publisher(), report)

    await wait_until(lambda: world.trigger_count(task_id) == 2, "no request-id dedupe")


async def test_the_records_of_an_aborted_transaction_are_applied(world: World) -> None:
    task_id, report = zombie(world)
    await world.controller.start()
    publisher = world.publisher(factory=faulty(Faults(commits=1)))  # the commit fails
    try:
        assert (await publisher.publish_failures([report])).failure() is not None
        assert (await publisher.settle()).unwrap() is None  # the broker aborts it
    finally:
        await publisher.close()

    await wait_until(lambda: world.trigger_count(task_id) == 1, "read_uncommitted applies it")


async def test_an_expired_record_is_dropped(world: World) -> None:
    task_id, report = zombie(world)
    await world.controller.start()
    await publish(world.publisher(clock=LateClock()), report)
    _, marker = zombie(world)
    await publish(world.publisher(), marker)  # processed after the expired one

    await wait_until(lambda: world.controller.stats.outcomes()["handled"] == 2, "marker applied")
    assert world.controller.stats.outcomes()["dropped_expired"] == 2
    assert world.trigger_count(task_id) == 0


async def test_a_failed_write_consumes_the_record(world: World) -> None:
    task_id, report = zombie(world)
    world.controller.fail_next_writes(1)
    await world.controller.start()
    await publish(world.publisher(), report)

    await wait_until(lambda: world.controller.stats.outcomes()["handled"] == 1, "increment applied")
    assert world.controller.stats.failed_writes == 1
    assert world.current_job(task_id) != ""  # the update was the one that failed
    assert world.trigger_count(task_id) == 1


async def test_a_stopped_controller_resumes_where_it_stopped(world: World) -> None:
    task_id, report = zombie(world)
    await world.controller.start()
    await publish(world.publisher(), report)
    await wait_until(lambda: world.trigger_count(task_id) == 1, "applied")
    await world.controller.stop()

    second_id, second = zombie(world, "claude-aaaaaaaa-20260602091530")
    await publish(world.publisher(), second)
    await asyncio.sleep(1)
    assert world.trigger_count(second_id) == 0  # stopped: nothing consumed

    await world.controller.start()
    await wait_until(lambda: world.trigger_count(second_id) == 1, "resumed")
    assert world.trigger_count(task_id) == 1  # not applied again


async def test_a_paused_controller_holds_its_records(world: World) -> None:
    task_id, report = zombie(world)
    await world.controller.start()
    world.controller.pause()
    await publish(world.publisher(), report)
    await asyncio.sleep(1)
    assert world.trigger_count(task_id) == 0

    world.controller.resume()
    await wait_until(lambda: world.trigger_count(task_id) == 1, "resumed")


# --- two vaults, one topic ------------------------------------------------------------------


@dataclass
class TwoVaults:
    """Two controllers (vaults ``a`` and ``b``) consuming one request topic."""

    bootstrap: str
    requests: str
    vaults: dict[str, ReferenceVault]
    controllers: dict[str, KafkaController]

    def put_in_both(self, frontmatter: dict[str, Value]) -> str:
        task_id = str(uuid.uuid4())
        for vault in self.vaults.values():
            vault.put(task_id, frontmatter)
        return task_id

    def text(self, vault: str, task_id: str) -> str:
        return (self.vaults[vault].vault_dir / f"tasks/{task_id}.md").read_text("utf-8")

    def frontmatter(self, vault: str, task_id: str) -> dict[str, Value]:
        task = self.vaults[vault].task(task_id)
        assert task is not None
        return task.frontmatter

    async def send_failure(self, task_id: str, *, target_vault: str | None) -> None:
        """A zombie failure pair, with ``targetVault`` in both commands' data when given."""
        report = zombie_failure(task_id=task_id, job_name=f"claude-{task_id[:8]}-20261207190000",
                                reason=ZombieReason.IMAGE_PULL_BACKOFF, at=datetime.now(UTC))
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for command in report.commands:
                value = json.loads(encode(Envelope(request_id=uuid.uuid4(),
                                                   request_time=datetime.now(UTC),
                                                   command=command)))
                if target_vault is not None:
                    value["data"]["targetVault"] = target_vault
                await producer.send_and_wait(self.requests, json.dumps(value).encode())
        finally:
            await producer.stop()


@pytest.fixture
async def two_vaults(bootstrap_servers: str, topic_factory: TopicFactory,
                     tmp_path: Path) -> AsyncIterator[TwoVaults]:
    requests, events, results = (topic_factory(1, p) for p in ("zw-req", "zw-evt", "zw-res"))
    vaults = {name: ReferenceVault(tmp_path / name, name=name) for name in ("a", "b")}
    controllers = {
        name: KafkaController(bootstrap=bootstrap_servers, request_topic=requests,
                              event_topic=events, result_topic=results, vault=vault,
                              poll_interval=3600)
        for name, vault in vaults.items()
    }
    try:
        yield TwoVaults(bootstrap_servers, requests, vaults, controllers)
    finally:
        for controller in controllers.values():
            await controller.close()


async def test_two_vaults_share_one_topic_and_apply_only_what_is_theirs(
    two_vaults: TwoVaults,
) -> None:
    # Arrange: the same task id in both vaults, so only the routing can tell them apart
    world = two_vaults
    job: dict[str, Value] = {"assignee": "claude", "current_job": "claude-x-20261207190000",
                             "trigger_count": 0}
    for_a = world.put_in_both(job)
    for_anyone = world.put_in_both(job)
    untouched = world.text("b", for_a)
    for controller in world.controllers.values():
        await controller.start()
    # Act
    await world.send_failure(for_a, target_vault="a")
    await world.send_failure(for_anyone, target_vault=None)
    # Assert
    await wait_until(lambda: all(len(c.stats.dispatched) == 4 for c in world.controllers.values()),
                     "each controller consumed all four records")
    assert world.controllers["a"].stats.outcomes() == {"handled": 4}
    assert world.controllers["b"].stats.outcomes() == {"skipped": 2, "handled": 2}
    assert world.text("b", for_a) == untouched  # b's copy, byte for byte
    mine = world.frontmatter("a", for_a)
    assert (mine["trigger_count"], mine["current_job"], mine["target_vault"]) == (1, "", "a")
    for name in ("a", "b"):  # no targetVault: each applies it and stamps its own name
        frontmatter = world.frontmatter(name, for_anyone)
        assert (frontmatter["trigger_count"], frontmatter["current_job"]) == (1, "")
        assert frontmatter["target_vault"] == name
