"""The task feed inside the daemon: topic name, metrics, /readyz detail, off switch."""

from __future__ import annotations

import asyncio
from pathlib import Path

from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.kafka.task_events import KafkaTaskFeed
from zombiewatch.app.feedpart import (
    TaskFeedCollector,
    TaskFeedPart,
    feed_detail,
    feed_topic,
)
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings
from zombiewatch.domain.tasks import TaskStates

KAFKA = KafkaClientSettings(bootstrap_servers="127.0.0.1:1", topic="t", transactional_id="x")


def settings(**kafka: object) -> Settings:
    return Settings(namespace="agents", kubeconfig=Path("/nonexistent"),
                    kafka=KafkaOptions(brokers="127.0.0.1:1", **kafka),  # type: ignore[arg-type]
                    leader=LeaderOptions(enabled=False), serve_http=False)


def test_the_event_topic_shares_the_request_topic_prefix() -> None:
    assert feed_topic(settings(branch="prod")) == "master-agent-task-v1-event"
    assert feed_topic(settings(topic_prefix="team", branch="prod")) == "team-agent-task-v1-event"
    assert feed_topic(settings(topic_prefix="")) == "agent-task-v1-event"


def test_the_readyz_detail_says_what_the_feed_contributes() -> None:
    feed = KafkaTaskFeed(KAFKA, topic="x-agent-task-v1-event", states=TaskStates())
    assert feed_detail(None) == "task feed: off (cluster only)"
    assert feed_detail(feed) == "task feed: DOWN, cluster only (x-agent-task-v1-event: not started)"
    feed.up, feed.problem = True, None
    assert feed_detail(feed) == "task feed: catching up (x-agent-task-v1-event)"


def test_the_feed_metrics_read_its_counters() -> None:
    metrics = Metrics()
    feed = KafkaTaskFeed(KAFKA, topic="x", states=TaskStates())
    metrics.registry.register(TaskFeedCollector(feed))
    feed.apply(b"task-1", b"not json")
    feed.apply(b"task-2", b'{"frontmatter": {"current_job": "j"}}')

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert sample("zombiewatch_task_feed_up") == 0
    assert sample("zombiewatch_task_feed_caught_up") == 0
    assert sample("zombiewatch_task_feed_tasks") == 1
    assert sample("zombiewatch_task_feed_events_total") == 1
    assert sample("zombiewatch_task_feed_malformed_total", why="not_json") == 1


async def test_no_feed_is_started_with_task_events_off() -> None:
    part = TaskFeedPart(settings(task_events=False), KAFKA, TaskStates(), Metrics())
    assert part.feed is None
    await part.start()
    following = [t for t in asyncio.all_tasks() if t.get_name() == "zombiewatch-task-feed"]
    await part.stop()

    assert following == []
