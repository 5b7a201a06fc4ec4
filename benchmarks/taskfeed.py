"""The task feed: memory per task state, and catching up on 100,000 task events.

Memory (tracemalloc, in process): the event bytes are built before tracing, then
applied to a fresh feed with ``KafkaTaskFeed.apply`` (the real decode path), so
only what the feed keeps is counted: the ``TaskStates`` dict, its keys and the
states. Two vaults: a typical one (1 task in 20 has a Job in flight, the rest idle,
spread over 5 agents and 4 phases) and the worst case (every task in flight).

Catch-up (the real broker from ``harness.services.acquire()``): 100,000
events of 1.2 KB (frontmatter with 12 keys and a markdown body) on a 3-partition
topic; the figure is from creating the feed to ``wait_caught_up()`` returning:
connect, metadata, end offsets, fetch, decode, apply.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from benchmarks.common import Row, traced_bytes
from harness.fixtures import create_topics, delete_topics, unique_name
from harness.services import acquire
from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.kafka.task_events import KafkaTaskFeed
from zombiewatch.domain.tasks import TaskStates

NAME = "taskfeed"
TASKS = 100_000
AGENTS = ("claude", "codex", "gemini", "reviewer", "planner")
PHASES = ("todo", "in_progress", "ai_review", "done")
BODY = "## Goal\n\nMake the thing work, and prove it.\n\n## Notes\n\n" + "- a note line\n" * 50


def event(n: int, *, in_flight: bool) -> tuple[bytes, bytes]:
    """One task event as the controller publishes it (key, value)."""
    task_id = str(uuid.UUID(int=n + 1, version=4))
    agent = AGENTS[n % len(AGENTS)]
    frontmatter: dict[str, object] = {
        "task_identifier": task_id, "assignee": agent, "phase": PHASES[n % len(PHASES)],
        "status": "in_progress" if in_flight else "todo", "title": f"Task number {n}",
        "task_type": "code", "trigger_count": n % 3, "max_triggers": 3,
        "spawn_notification": in_flight, "tags": ["bench", "feed"],
        "current_job": f"{agent}-{task_id[:8]}-20260602{n % 1_000_000:06d}" if in_flight else "",
        "job_started_at": "2026-06-02T09:15:30Z" if in_flight else None,
    }
    value = json.dumps({
        "identifier": f"tasks/{task_id}.md", "created": "2026-06-01T08:00:00Z",
        "modified": "2026-06-02T09:15:30Z", "taskIdentifier": task_id,
        "frontmatter": frontmatter, "content": BODY}).encode()
    return task_id.encode(), value


def _feed() -> KafkaTaskFeed:
    settings = KafkaClientSettings(bootstrap_servers="127.0.0.1:1", topic="unused",
                                      transactional_id="unused")
    return KafkaTaskFeed(settings, topic="unused", states=TaskStates())


def memory_rows(tasks: int) -> list[Row]:
    typical = [event(n, in_flight=n % 20 == 0) for n in range(tasks)]
    busy = [event(n, in_flight=True) for n in range(tasks)]
    _feed().apply(*typical[0])  # import and warm everything before tracing

    def fill(events: list[tuple[bytes, bytes]]) -> Callable[[], object]:
        def build() -> object:
            feed = _feed()
            for key, value in events:
                feed.apply(key, value)
            return feed.states
        return build

    per_typical = traced_bytes(fill(typical)) / tasks
    per_busy = traced_bytes(fill(busy)) / tasks
    started = time.perf_counter()
    fill(typical)()
    applied = time.perf_counter() - started
    return [
        Row(NAME, "memory per task, typical vault (1 in 20 in flight)", per_typical, "bytes",
            200, "<=", f"tracemalloc over {tasks:,} tasks applied to TaskStates: dict, keys, "
            "states; idle states shared"),
        Row(NAME, "memory per task, every task in flight (worst case)", per_busy, "bytes",
            detail="each state holds its own job name and start time"),
        Row(NAME, f"decode + apply {tasks:,} task events (no broker)", applied, "s",
            detail=f"{len(typical[0][1])} B per event; {tasks / applied:,.0f} events/s"),
    ]


async def _produce(bootstrap: str, topic: str, tasks: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                                max_batch_size=1_048_576)
    await producer.start()
    try:
        pending = []
        for n in range(tasks):
            key, value = event(n, in_flight=n % 20 == 0)
            pending.append(await producer.send(topic, key=key, value=value))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _catch_up(tasks: int) -> Row:
    services = acquire()
    topic = unique_name("zw-bench-events")
    try:
        create_topics(services.bootstrap_servers, [topic], 3)
        await _produce(services.bootstrap_servers, topic, tasks)
        settings = KafkaClientSettings(bootstrap_servers=services.bootstrap_servers,
                                          topic="unused", transactional_id="unused")
        started = time.perf_counter()
        feed = KafkaTaskFeed(settings, topic=topic, states=TaskStates())
        runner = asyncio.get_running_loop().create_task(feed.run())
        try:
            await asyncio.wait_for(feed.wait_caught_up(), 300)
            seconds = time.perf_counter() - started
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        assert len(feed.states) == tasks, (len(feed.states), tasks)
        return Row(NAME, f"catch-up of {tasks:,} task events (real broker)", seconds, "s",
                   10, "<=", f"3 partitions, {feed.stats.events:,} events applied, "
                   f"{tasks / seconds:,.0f} events/s; start of the feed to caught up")
    finally:
        delete_topics(services.bootstrap_servers, [topic])
        services.close()


def run(*, quick: bool) -> list[Row]:
    tasks = TASKS // 10 if quick else TASKS
    rows = memory_rows(tasks)
    rows.append(asyncio.run(_catch_up(tasks)))
    return rows
