"""The task feed against the real broker: catch up, follow, survive bad events and a lost topic."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from harness.delivery import following
from harness.fixtures import create_topics, delete_topics, unique_name
from harness.services import Services
from harness.waiting import WAIT, wait_until
from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.kafka.task_events import KafkaTaskFeed
from zombiewatch.domain.tasks import TaskStates

pytestmark = pytest.mark.integration


def task_event(task_id: str, *, current_job: str = "", trigger_count: int = 0) -> bytes:
    return json.dumps({
        "identifier": f"tasks/{task_id}.md", "created": "2026-06-01T00:00:00Z",
        "modified": "2026-06-02T09:15:30Z", "taskIdentifier": task_id,
        "frontmatter": {"task_identifier": task_id, "assignee": "claude", "phase": "in_progress",
                        "status": "in_progress", "current_job": current_job,
                        "job_started_at": "2026-06-02T09:15:30Z" if current_job else None,
                        "trigger_count": trigger_count, "max_triggers": 3},
        "content": "## Goal\n\nShip it.\n"}).encode()


async def produce(bootstrap: str, topic: str, records: list[tuple[str, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, key=key.encode(), value=value)
        await producer.flush()
    finally:
        await producer.stop()



def feed_for(bootstrap: str, topic: str, **kwargs: float) -> KafkaTaskFeed:
    settings = KafkaClientSettings(bootstrap_servers=bootstrap, topic="unused",
                                      transactional_id="unused", request_timeout_ms=3_000)
    return KafkaTaskFeed(settings, topic=topic, states=TaskStates(), **kwargs)  # type: ignore[arg-type]


async def test_the_feed_catches_up_then_follows_and_skips_bad_events(
    services: Services,
) -> None:
    bootstrap = services.bootstrap_servers
    topic = unique_name("zw-events")
    create_topics(bootstrap, [topic], 3)
    try:
        tasks = [str(uuid.uuid4()) for _ in range(50)]
        records: list[tuple[str, bytes | None]] = [(t, task_event(t)) for t in tasks]
        records += [(tasks[0], task_event(tasks[0], current_job="claude-a-1", trigger_count=1)),
                    (tasks[1], None), (tasks[2], b"{not json")]
        await produce(bootstrap, topic, records)
        feed = feed_for(bootstrap, topic, check_every=5)
        async with following(feed):
            await asyncio.wait_for(feed.wait_caught_up(), WAIT)
            assert feed.up
            assert len(feed.states) == 48  # one deleted, one malformed (its state dropped)
            first = feed.states.get(tasks[0])
            assert first is not None
            assert (first.current_job, first.trigger_count) == ("claude-a-1", 1)
            assert dict(feed.stats.malformed) == {"not_json": 1}

            await produce(bootstrap, topic, [(tasks[0], task_event(tasks[0], trigger_count=2))])
            await wait_until(lambda: (s := feed.states.get(tasks[0])) is not None
                        and s.current_job == "" and s.trigger_count == 2, "followed")
    finally:
        delete_topics(bootstrap, [topic])


async def test_a_missing_topic_keeps_the_feed_down_until_it_exists(services: Services) -> None:
    bootstrap = services.bootstrap_servers
    topic = unique_name("zw-events")
    feed = feed_for(bootstrap, topic, retry_seconds=0.5)
    try:
        async with following(feed):
            await wait_until(lambda: feed.stats.failures >= 1, "the first attempt failed")
            assert not feed.up
            assert feed.problem is not None
            assert "does not exist" in feed.problem
            create_topics(bootstrap, [topic], 1)
            task = str(uuid.uuid4())
            await produce(bootstrap, topic, [(task, task_event(task))])
            await asyncio.wait_for(feed.wait_caught_up(), WAIT)
            await wait_until(lambda: task in feed.states, "the event arrived")
            assert feed.up
    finally:
        delete_topics(bootstrap, [topic])


async def test_a_recreated_topic_rebuilds_the_states(services: Services) -> None:
    bootstrap = services.bootstrap_servers
    topic = unique_name("zw-events")
    create_topics(bootstrap, [topic], 1)
    try:
        old = [str(uuid.uuid4()) for _ in range(5)]
        await produce(bootstrap, topic, [(t, task_event(t)) for t in old])
        feed = feed_for(bootstrap, topic, retry_seconds=0.5, check_every=1)
        async with following(feed):
            await asyncio.wait_for(feed.wait_caught_up(), WAIT)
            assert len(feed.states) == 5
            delete_topics(bootstrap, [topic])
            await asyncio.sleep(1)  # let the broker finish the deletion before re-creating
            create_topics(bootstrap, [topic], 1)
            new = str(uuid.uuid4())
            await produce(bootstrap, topic, [(new, task_event(new))])
            await wait_until(lambda: [t for t, _ in feed.states.items()] == [new], "rebuilt")
    finally:
        delete_topics(bootstrap, [topic])
