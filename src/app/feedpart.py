"""The task feed as a part of the daemon: started with it, measured, shown in ``/readyz``.

On by default (``--task-events``); off, or while the topic cannot be read, the
daemon works from the cluster alone, as before the feed existed, and says so:
a loud warning at the first failure, ``zombiewatch_task_feed_up 0`` and a
``/readyz`` detail. Its Kafka errors (a missing Read ACL on the event topic,
refused credentials) go to the daemon's :class:`KafkaHealth` as the ``feed``
client: named once in the log, counted in ``zombiewatch_kafka_errors_total``.
Readiness itself never depends on the feed (SPEC §13).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Set

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from zombiewatch.adapters.kafka.connection import KafkaHealth
from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.kafka.task_events import KafkaTaskFeed
from zombiewatch.adapters.kafka.topics import event_topic
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.settings import Settings
from zombiewatch.domain.feed import FeedStatus, usable
from zombiewatch.domain.tasks import TaskState, TaskStates


def feed_topic(settings: Settings) -> str:
    """``<prefix>-agent-task-v1-event`` for the same prefix as the request topic."""
    return event_topic(settings.kafka.prefix)


class TaskFeedPart:
    """The task feed as a part the runtime starts and stops (``feed`` None when off)."""

    def __init__(self, settings: Settings, kafka_settings: KafkaClientSettings,
                 states: TaskStates, metrics: Metrics,
                 health: KafkaHealth | None = None) -> None:
        self.feed: KafkaTaskFeed | None = None
        if settings.kafka.task_events:
            self.feed = KafkaTaskFeed(kafka_settings, topic=feed_topic(settings), states=states,
                                      health=health)
            metrics.registry.register(TaskFeedCollector(self.feed))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow the topic in the background; a missing topic is not a start failure."""
        if self.feed is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self.feed.run(), name="zombiewatch-task-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class TaskView:
    """The task feed as a :class:`~zombiewatch.domain.tasks.TaskSource`: its states, and
    whether they can be trusted to be current (:func:`zombiewatch.domain.feed.usable`).

    Before the feed caught up a missing task may just not be read yet, and while
    it is down its states go stale: nothing is then in flight through the feed
    (the cluster-only behaviour).
    """

    def __init__(self, states: TaskStates, feed: FeedStatus | None) -> None:
        self._states = states
        self._feed = feed

    def ready(self) -> bool:
        return usable(self._feed)

    def get(self, task_id: str) -> TaskState | None:
        return self._states.get(task_id)

    def jobs_in_flight(self) -> Set[str]:
        return self._states.jobs_in_flight() if self.ready() else frozenset()

    def naming(self, job_name: str) -> tuple[str, TaskState] | None:
        return self._states.naming(job_name)


def feed_detail(feed: KafkaTaskFeed | None) -> str:
    """One line for ``/readyz``: what the feed contributes right now."""
    if feed is None:
        return "task feed: off (cluster only)"
    if not feed.up:
        return f"task feed: DOWN, cluster only ({feed.topic}: {feed.problem})"
    if not feed.caught_up:
        return f"task feed: catching up ({feed.topic})"
    return f"task feed: up ({len(feed.states)} tasks)"


class TaskFeedCollector(Collector):
    """Reads the feed's counters at scrape time."""

    def __init__(self, feed: KafkaTaskFeed) -> None:
        self._feed = feed

    def collect(self) -> Iterator[Metric]:
        feed = self._feed
        yield GaugeMetricFamily("zombiewatch_task_feed_up",
                                "1 while the task event topic is assigned and readable.",
                                value=1.0 if feed.up else 0.0)
        yield GaugeMetricFamily("zombiewatch_task_feed_caught_up",
                                "1 once the feed read every partition to its end offset.",
                                value=1.0 if feed.caught_up else 0.0)
        yield GaugeMetricFamily("zombiewatch_task_feed_tasks", "Tasks the feed knows.",
                                value=float(len(feed.states)))
        yield CounterMetricFamily("zombiewatch_task_feed_events",
                                  "Task events applied (tombstones included).",
                                  value=float(feed.stats.events))
        yield CounterMetricFamily("zombiewatch_task_feed_rebuilds",
                                  "Times the feed jumped back and was read again.",
                                  value=float(feed.stats.rebuilds))
        malformed = CounterMetricFamily("zombiewatch_task_feed_malformed",
                                        "Task events skipped, by why.", labels=["why"])
        for why, count in sorted(feed.stats.malformed.items()):
            malformed.add_metric([why], float(count))
        yield malformed

    def describe(self) -> Iterator[Metric]:
        return iter(())
