"""The task feed: decoding at the edge, catching up, tombstones, bad events, jumps back."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from aiokafka.protocol.metadata import MetadataResponse_v5
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.worlds.logs import json_events
from zombiewatch.adapters.kafka.connection import ClientRole, KafkaHealth
from zombiewatch.adapters.kafka.settings import (
    KafkaClientSettings,
    SaslMechanism,
    SaslSettings,
)
from zombiewatch.adapters.kafka.task_events import (
    AiokafkaFeedConsumer,
    FeedJumpedError,
    KafkaTaskFeed,
    Malformed,
    Tombstone,
    TopicMissingError,
    Upsert,
    decode_event,
)
from zombiewatch.domain.ports import BrokerError, BrokerErrorKind
from zombiewatch.domain.tasks import TaskStates

TOPIC = "develop-agent-task-v1-event"
SETTINGS = KafkaClientSettings(bootstrap_servers="127.0.0.1:1", topic="t",
                                  transactional_id="x", cleanup_timeout=0.1)
TASK = "4aa57614-2026-4602-8915-30aabbccddee"


def event(task_id: str = TASK, **frontmatter: object) -> bytes:
    fm: dict[str, object] = {"task_identifier": task_id, "assignee": "claude",
                             "phase": "in_progress", "current_job": "claude-4aa57614-1",
                             "job_started_at": "2026-06-02T09:15:30Z", "trigger_count": 0,
                             "status": "todo", "tags": ["a", "b"]}
    fm.update(frontmatter)
    return json.dumps({"identifier": f"tasks/{task_id}.md", "created": "2026-06-01T00:00:00Z",
                       "modified": "2026-06-02T09:15:30Z", "taskIdentifier": task_id,
                       "frontmatter": fm, "content": "## Goal\n\nDo it.\n" * 10}).encode()


@dataclass
class Record:
    key: bytes | None
    value: bytes | None


@dataclass
class FakeConsumer:
    """A topic in memory; ``getmany`` hands out what was appended since the last call."""

    logs: dict[int, list[Record]] = field(default_factory=lambda: {0: []})
    visible: bool = True
    refused: bool = False
    """The broker refuses to describe the topic (no Read ACL), as the real consumer raises."""
    positions: dict[int, int] = field(default_factory=dict)
    stopped: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    block_when_idle: bool = False
    out_of_range_errors: bool = False
    """Raise as aiokafka does (auto_offset_reset="none") for a position past the log's end."""

    def append(self, key: str | None, value: bytes | None, partition: int = 0) -> None:
        self.logs[partition].append(Record(None if key is None else key.encode(), value))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def partitions(self, topic: str) -> set[int] | None:
        if self.refused:
            raise TopicAuthorizationFailedError(topic)
        return set(self.logs) if topic == TOPIC and self.visible else None

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.positions = {tp.partition: self.positions.get(tp.partition, 0) for tp in partitions}

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self.positions[tp.partition] = 0

    async def end_offsets(self, partitions: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        return {tp: len(self.logs[tp.partition]) for tp in partitions}

    async def position(self, partition: TopicPartition) -> int:
        return self.positions[partition.partition]

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0,
                      max_records: int | None = None) -> Mapping[TopicPartition, list[Any]]:
        out: dict[TopicPartition, list[Any]] = {}
        for p, at in self.positions.items():
            if self.out_of_range_errors and at > len(self.logs[p]):
                raise FeedJumpedError(f"offset {at} out of range")
            records = self.logs[p][at:at + 2]  # small batches: catching up takes several polls
            if records:
                out[TopicPartition(TOPIC, p)] = records
                self.positions[p] = at + len(records)
        if not out and self.block_when_idle:
            self.idle.set()
            await asyncio.Event().wait()
        return out


async def catch_up(f: KafkaTaskFeed) -> None:
    """Poll until the feed says it caught up (a fake topic: a few polls)."""
    for _ in range(100):
        if f.caught_up:
            return
        await f.poll()
    raise AssertionError("never caught up")


def feed(**kwargs: Any) -> KafkaTaskFeed:
    return KafkaTaskFeed(SETTINGS, topic=TOPIC, states=TaskStates(), **kwargs)


def test_a_tombstone_is_a_deletion_and_a_record_without_key_is_malformed() -> None:
    assert decode_event(TASK.encode(), None) == Tombstone(TASK)
    assert decode_event(None, event()) == Malformed(None, "no_key")
    assert decode_event(b"\xff", event()) == Malformed(None, "key_not_utf8")


@pytest.mark.parametrize(("value", "why"), [
    (b"not json at all", "not_json"),
    (b'{"frontmatter": {"current_job": "x"', "not_json"),
    (b'["a list"]', "wrong_shape"),
    (b'{"identifier": "x", "content": ""}', "wrong_shape"),
    (b'{"frontmatter": "a string"}', "wrong_shape"),
    (b'{"frontmatter": {}, "content": 7}', "wrong_shape"),
    (b'{"frontmatter": {"current_job": 7}}', "current_job"),
    (b'{"frontmatter": {"job_started_at": "soon"}}', "job_started_at"),
])
def test_malformed_events_say_why(value: bytes, why: str) -> None:
    assert decode_event(TASK.encode(), value) == Malformed(TASK, why)


def test_an_event_larger_than_the_limit_is_refused_unread() -> None:
    assert decode_event(TASK.encode(), event(), max_value_bytes=100) == Malformed(
        TASK, "too_large")


def test_a_well_formed_event_keeps_the_frontmatter_values_only() -> None:
    decoded = decode_event(TASK.encode(), event(trigger_count=2.0, max_triggers=5))
    assert isinstance(decoded, Upsert)
    assert (decoded.state.current_job, decoded.state.assignee, decoded.state.trigger_count,
            decoded.state.max_triggers) == ("claude-4aa57614-1", "claude", 2, 5)


def test_the_task_s_vault_and_status_are_kept() -> None:
    decoded = decode_event(TASK.encode(), event(target_vault="work", status="completed"))
    assert isinstance(decoded, Upsert)
    assert (decoded.state.target_vault, decoded.state.status, decoded.state.closed) == (
        "work", "completed", True)


@pytest.mark.parametrize("vault", [None, 7, ["work"], {"name": "work"}])
def test_a_vault_that_is_not_a_string_is_unknown_not_a_malformed_event(vault: object) -> None:
    decoded = decode_event(TASK.encode(), event(target_vault=vault, status=3))
    assert isinstance(decoded, Upsert)
    assert (decoded.state.target_vault, decoded.state.status, decoded.state.closed) == (
        "", "", False)


@given(st.binary(max_size=300), st.one_of(st.none(), st.binary(max_size=300)))
def test_decoding_never_raises(key: bytes, value: bytes | None) -> None:
    assert isinstance(decode_event(key, value), Upsert | Tombstone | Malformed)


async def test_the_feed_reads_from_the_beginning_and_says_when_it_caught_up() -> None:
    consumer = FakeConsumer(logs={0: [], 1: []})
    for n in range(5):
        consumer.append(f"task-{n}", event(f"task-{n}"), partition=n % 2)
    consumer.append("task-0", None, partition=0)
    f = feed()

    await f.open(consumer)
    assert f.up
    assert not f.caught_up
    await catch_up(f)

    assert sorted(task for task, _ in f.states.items()) == ["task-1", "task-2", "task-3",
                                                            "task-4"]
    assert (f.stats.events, f.stats.tombstones) == (6, 1)


async def test_the_latest_event_of_a_task_wins_and_following_goes_on_after_catching_up() -> None:
    consumer = FakeConsumer()
    consumer.append(TASK, event(current_job="job-1"))
    f = feed()
    await f.open(consumer)
    await f.poll()
    assert f.caught_up

    consumer.append(TASK, event(current_job="job-2"))
    await f.poll()

    state = f.states.get(TASK)
    assert state is not None
    assert state.current_job == "job-2"


async def test_bad_events_are_counted_skipped_and_logged_once_per_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer = FakeConsumer()
    consumer.append("task-a", event("task-a"))
    consumer.append("task-a", b"{oops")
    consumer.append("task-a", b"{oops again")
    consumer.append("task-b", b'{"frontmatter": {"assignee": 1}}')
    consumer.append("task-c", event("task-c"))
    f = feed()

    with caplog.at_level(logging.WARNING, logger="zombiewatch.adapters.kafka.task_events"):
        await f.open(consumer)
        await catch_up(f)

    assert dict(f.stats.malformed) == {"not_json": 2, "assignee": 1}
    assert "task-a" not in f.states  # its state is no longer known
    assert "task-c" in f.states
    skipped = [r.getMessage() for r in caplog.records if "task_event_skipped" in r.getMessage()]
    assert len(skipped) == 2
    assert any("task=task-a why=not_json" in line for line in skipped)
    as_json = json_events(caplog.records, "task_event_skipped")
    assert [(e["task"], e["why"], e["level"]) for e in as_json] == [
        ("task-a", "not_json", "warning"), ("task-b", "assignee", "warning")]
    assert all(isinstance(e["bytes"], int) for e in as_json)


async def test_a_feed_that_jumps_back_is_rebuilt_from_the_beginning() -> None:
    consumer = FakeConsumer()
    for n in range(4):
        consumer.append(f"old-{n}", event(f"old-{n}"))
    f = feed(check_every=1)
    await f.open(consumer)
    await catch_up(f)
    assert len(f.states) == 4

    consumer.logs[0] = []  # the topic was deleted and created again
    consumer.append("new-0", event("new-0"))
    await f.poll()  # notices the end offset (1) below its position (4): rebuild
    await catch_up(f)
    await f.poll()

    assert [task for task, _ in f.states.items()] == ["new-0"]
    assert f.stats.rebuilds == 1


async def test_a_position_out_of_the_log_rebuilds_the_feed() -> None:
    consumer = FakeConsumer(out_of_range_errors=True)
    for n in range(4):
        consumer.append(f"old-{n}", event(f"old-{n}"))
    f = feed()
    await f.open(consumer)
    await catch_up(f)

    consumer.logs[0] = [Record(b"new-0", event("new-0"))]
    await f.poll()  # out of range: rebuilt at once
    await catch_up(f)

    assert [task for task, _ in f.states.items()] == ["new-0"]
    assert f.stats.rebuilds == 1


async def test_new_partitions_rebuild_the_feed() -> None:
    consumer = FakeConsumer()
    consumer.append("a", event("a"))
    f = feed(check_every=1)
    await f.open(consumer)
    await f.poll()
    consumer.logs[1] = [Record(b"b", event("b"))]

    await f.poll()
    await catch_up(f)

    assert sorted(task for task, _ in f.states.items()) == ["a", "b"]
    assert f.stats.rebuilds == 1


async def test_a_missing_topic_is_refused_at_open() -> None:
    with pytest.raises(TopicMissingError):
        await feed().open(FakeConsumer(visible=False))


async def test_a_missing_topic_keeps_the_feed_down_and_it_comes_up_once_created(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumers = [FakeConsumer(visible=False), FakeConsumer(visible=False),
                 FakeConsumer(block_when_idle=True)]
    consumers[2].append(TASK, event())
    made: list[FakeConsumer] = []

    def factory(_: KafkaClientSettings) -> FakeConsumer:
        made.append(consumers[len(made)])
        return made[-1]

    f = feed(consumer_factory=factory, retry_seconds=0)
    with caplog.at_level(logging.WARNING, logger="zombiewatch.adapters.kafka.task_events"):
        task = asyncio.get_running_loop().create_task(f.run())
        await f.wait_caught_up()
        await consumers[2].idle.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert f.up
    assert f.problem is None
    assert TASK in f.states
    assert f.stats.failures == 2
    assert made[0].stopped
    assert made[1].stopped
    down = [r for r in caplog.records if "task_feed_down" in r.getMessage()]
    assert len(down) == 1  # loud once per outage, not once per retry
    (fields,) = json_events(down, "task_feed_down")  # each field a key in LOG_FORMAT=json
    assert fields["topic"] == TOPIC
    assert "does not exist" in fields["error"]
    assert fields["detail"].startswith("carrying on with the cluster only")


async def test_a_refused_topic_names_the_missing_read_acl_counts_it_and_recovers_once_granted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = replace(SETTINGS, sasl=SaslSettings(mechanism=SaslMechanism.SCRAM_SHA_512,
                                                     username="zombiewatch", password="pw"))
    consumers = [FakeConsumer(refused=True), FakeConsumer(refused=True),
                 FakeConsumer(block_when_idle=True)]
    consumers[2].append(TASK, event())
    made: list[FakeConsumer] = []
    counted: list[tuple[ClientRole, BrokerError]] = []
    health = KafkaHealth(on_error=lambda role, error: counted.append((role, error)))
    problems: list[str | None] = []

    def factory(_: KafkaClientSettings) -> FakeConsumer:
        problems.append(f.problem)  # what the feed said before this attempt
        made.append(consumers[len(made)])
        return made[-1]

    f = KafkaTaskFeed(settings, topic=TOPIC, states=TaskStates(), consumer_factory=factory,
                      retry_seconds=0, health=health)
    with caplog.at_level(logging.INFO, logger="zombiewatch.adapters.kafka"):
        task = asyncio.get_running_loop().create_task(f.run())
        await f.wait_caught_up()
        await consumers[2].idle.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    named = f"not authorized: User:zombiewatch needs Read on Topic {TOPIC}"
    assert problems[2] is not None
    assert problems[2].startswith(f"unauthorized: {named}")
    assert [(role, error.kind) for role, error in counted] == [
        (ClientRole.FEED, BrokerErrorKind.UNAUTHORIZED)] * 2
    assert all(named in error.message for _, error in counted)
    assert f.up
    assert f.problem is None
    assert health.problem(ClientRole.FEED) is None  # the fetch that came back cleared it
    assert TASK in f.states
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    warnings = [message for level, message in lines if level == "WARNING"]
    assert len(warnings) == 2, warnings  # the cause (the health's) and the feed down, once
    assert all(named in message for message in warnings), warnings
    assert warnings[0].startswith("event=kafka_problem client=feed kind=unauthorized")
    assert warnings[1].startswith("event=task_feed_down")
    assert ("INFO", "event=kafka_recovered client=feed after=unauthorized") in lines


@dataclass
class FakeKafkaClient:
    """The slice of aiokafka's client ``partitions()`` uses; records what it was sent."""

    known: dict[str, set[int]]
    answer_code: int = 3
    """The by-name answer's error code for an absent topic (3: unknown, 29: refused)."""
    broker_versions: tuple[int, int] = (0, 12)
    sent: list[Any] = field(default_factory=list)

    async def fetch_all_metadata(self) -> Any:
        known = self.known

        class Cluster:
            def partitions_for_topic(self, topic: str) -> set[int] | None:
                return known.get(topic)

        return Cluster()

    def get_random_node(self) -> int:
        return 1

    async def send(self, node: int, request: Any) -> Any:
        struct = request.prepare({3: self.broker_versions})  # what the connection does
        self.sent.append(struct)
        return MetadataResponse_v5(0, [], None, 1, [(self.answer_code, TOPIC, False, [])])


@dataclass
class ConsumerWithClient:
    _client: FakeKafkaClient


async def test_partitions_come_from_the_all_topics_metadata_without_asking_by_name() -> None:
    client = FakeKafkaClient(known={TOPIC: {0, 1}})

    assert await AiokafkaFeedConsumer(ConsumerWithClient(client)).partitions(TOPIC) == {0, 1}
    assert client.sent == []


async def test_a_topic_absent_from_the_metadata_is_asked_by_name_never_creating_it() -> None:
    missing = FakeKafkaClient(known={}, answer_code=3)
    refused = FakeKafkaClient(known={}, answer_code=29)

    assert await AiokafkaFeedConsumer(ConsumerWithClient(missing)).partitions(TOPIC) is None
    with pytest.raises(TopicAuthorizationFailedError):
        await AiokafkaFeedConsumer(ConsumerWithClient(refused)).partitions(TOPIC)

    for client in (missing, refused):
        (struct,) = client.sent
        assert (struct.API_VERSION, struct.topics, struct.allow_auto_topic_creation) == (
            5, [TOPIC], False)


async def test_a_broker_that_cannot_be_asked_without_creating_is_not_asked() -> None:
    old = FakeKafkaClient(known={}, answer_code=29, broker_versions=(0, 3))

    assert await AiokafkaFeedConsumer(ConsumerWithClient(old)).partitions(TOPIC) is None
    assert old.sent == []  # refused before it was sent: "does not exist or is not visible"
