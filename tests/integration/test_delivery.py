"""Delivery as the controller sees it: every zombie task freed exactly once, in its vault.

The reporter, the ledger, the task feed and the confirmer run for real against
the real broker; the harness controller (read_uncommitted like the real one, or
read_committed) applies the request topic to its vault and publishes the event
topic. Each scenario injects one fault of the delivery path and ends by reading
the vault: every zombie task's ``trigger_count`` exactly +1 and ``current_job``
cleared — 0 doubled, 0 lost. The table of each scenario is printed.

The cluster side (detection) is not what is tested here: the reporter is handed
the detections directly, over a fake cache holding the Jobs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from harness.controller import KafkaController
from harness.delivery import (
    Faults,
    detection,
    faulty_publisher,
    publisher_settings,
    wire_reporter,
)
from harness.fixtures import TopicFactory
from harness.vault import ReferenceVault
from harness.waiting import wait_until
from tests.builders import job_view
from zombiewatch.adapters.clock import SystemClock
from zombiewatch.adapters.kafka.history import KafkaFailureHistory
from zombiewatch.adapters.kafka.publishing import (
    KafkaCommandPublisher,
)
from zombiewatch.adapters.kafka.task_events import KafkaTaskFeed
from zombiewatch.app.confirming import ConfirmationMetrics, Confirmer
from zombiewatch.app.feedpart import TaskView
from zombiewatch.app.job_events import JobEvents
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.reporting import Reporter
from zombiewatch.domain.confirmation import RepairPolicy, Watchlist
from zombiewatch.domain.ledger import ConsumerIsolation
from zombiewatch.domain.tasks import TaskStates
from zombiewatch.testing.fakes import FakeCache, FakeLeader, RecordingEventRecorder

pytestmark = pytest.mark.integration

ZOMBIES = 10
EXPIRY = timedelta(seconds=3)
WINDOW = timedelta(seconds=6)
"""The confirm window, shortened with the controller's expiry (10 min for real, past v0.3's 5)."""
FEED_LIMIT = 64 * 1024
"""The feed's event size limit, lowered (1 MiB for real) so an oversized event fits the broker."""
WAIT = 60.0
"""How long each wait polls: generous, the machine is shared and slow."""


@dataclass
class Delivery:
    """zombiewatch's delivery path and the controller, wired to one set of topics."""

    controller: KafkaController
    vault: ReferenceVault
    reporter: Reporter
    confirmer: Confirmer
    publisher: KafkaCommandPublisher
    feed: KafkaTaskFeed
    cache: FakeCache
    metrics: Metrics
    faults: Faults
    zombies: dict[str, str] = field(default_factory=dict)
    """task id -> job name."""
    watchlist: Watchlist = field(default_factory=Watchlist)
    """The confirmer's unconfirmed failures."""

    def add_zombies(self, count: int) -> None:
        for n in range(count):
            task_id = str(uuid.uuid4())
            job = f"claude-{task_id[:8]}-2026060209{n:04d}"
            self.vault.put(task_id, {"assignee": "claude", "current_job": job,
                                     "trigger_count": 0, "phase": "in_progress"})
            self.cache.put_job(job_view(job, task_id=task_id))
            self.zombies[task_id] = job

    def detect_all(self) -> None:
        for task_id, job in self.zombies.items():
            self.reporter.submit(detection(job, task_id))

    def table(self) -> dict[str, int]:
        """freed once / doubled / lost, from the vault."""
        counts = {"zombies": len(self.zombies), "freed_once": 0, "doubled": 0, "lost": 0}
        for task_id in self.zombies:
            counts[self.vault.freeing(task_id)] += 1
        return counts

    def freed(self) -> bool:
        return self.table()["freed_once"] == len(self.zombies)

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def wired(name: str, bootstrap_servers: str, topic_factory: TopicFactory, tmp_path: Path,
                *, isolation: ConsumerIsolation, ledger: ConsumerIsolation,
                expiry: timedelta = EXPIRY, policy: RepairPolicy | None = None,
                ) -> AsyncIterator[Delivery]:
    """The controller reading at ``isolation`` and dropping records older than ``expiry``,
    zombiewatch's ledger read at ``ledger``, its repairs following ``policy`` (by default
    the policy for that expiry, with the shortened window)."""
    requests, events, results = (topic_factory(1, p) for p in ("zw-req", "zw-evt", "zw-res"))
    vault = ReferenceVault(tmp_path / "vault")
    controller = KafkaController(bootstrap=bootstrap_servers, request_topic=requests,
                                 event_topic=events, result_topic=results, vault=vault,
                                 expiry=expiry, poll_interval=2.0, isolation=isolation.value)
    settings = publisher_settings(bootstrap_servers, requests, publish_timeout=15.0,
                                  request_timeout_ms=5_000, consumer_isolation=ledger)
    faults = Faults()
    publisher = faulty_publisher(settings, faults)
    states = TaskStates()
    feed = KafkaTaskFeed(settings, topic=events, states=states, retry_seconds=0.5,
                         max_value_bytes=FEED_LIMIT)
    metrics = Metrics()
    cache = FakeCache()
    watchlist = Watchlist()
    confirmer = Confirmer(publisher=publisher, tasks=TaskView(states, feed), leader=FakeLeader(),
                          clock=SystemClock(), metrics=ConfirmationMetrics(metrics),
                          policy=policy or RepairPolicy(expiry=expiry, margin=WINDOW - EXPIRY),
                          watchlist=watchlist,
                          events=JobEvents(recorder=RecordingEventRecorder(), cache=FakeCache()))
    reporter = wire_reporter(publisher, settings, cache=cache, metrics=metrics,
                             confirmer=confirmer)
    follow = asyncio.get_running_loop().create_task(feed.run())
    world = Delivery(controller, vault, reporter, confirmer, publisher, feed, cache, metrics,
                     faults, watchlist=watchlist)
    try:
        yield world
    finally:
        print(f"\n[controller {isolation.value}, ledger {ledger.value}] {name}: "
              f"{world.table()}")
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await controller.close()
        await reporter.close()
        await publisher.close()


@pytest.fixture(params=list(ConsumerIsolation), ids=lambda i: i.value)
def isolation(request: pytest.FixtureRequest) -> ConsumerIsolation:
    """The controller's isolation (both kinds); zombiewatch's ledger reads the same way."""
    value: ConsumerIsolation = request.param
    return value


@pytest.fixture(params=list(ConsumerIsolation), ids=lambda i: i.value)
async def delivery(request: pytest.FixtureRequest, bootstrap_servers: str,
                   topic_factory: TopicFactory, tmp_path: Path) -> AsyncIterator[Delivery]:
    """zombiewatch configured for the controller's real isolation (both kinds)."""
    isolation: ConsumerIsolation = request.param
    async with wired(request.node.name, bootstrap_servers, topic_factory, tmp_path,
                     isolation=isolation, ledger=isolation) as world:
        yield world


async def report_all(world: Delivery) -> None:
    world.detect_all()
    await world.reporter.flush()


async def test_a_controller_down_past_its_expiry_gets_every_failure_by_re_publish(
    delivery: Delivery,
) -> None:
    world = delivery
    world.add_zombies(ZOMBIES)
    await world.controller.start()
    await wait_until(lambda: len(world.feed.states) == ZOMBIES and world.feed.caught_up, "feed",
                     timeout=WAIT)
    await world.controller.stop()

    await report_all(world)
    await asyncio.sleep(EXPIRY.total_seconds() + 1)
    await world.controller.start()  # every queued command is expired now: dropped
    await wait_until(lambda: world.controller.stats.outcomes()["dropped_expired"] == 2 * ZOMBIES,
                     "dropped as expired", timeout=WAIT)
    assert world.table()["freed_once"] == 0

    await wait_until(world.freed, "freed by re-publish", between=world.confirmer.tick,
                     timeout=WAIT, interval=0.2)
    await wait_until(lambda: world.watchlist == {}, "confirmed",
                     between=world.confirmer.tick, timeout=WAIT, interval=0.2)
    assert world.table() == {"zombies": ZOMBIES, "freed_once": ZOMBIES, "doubled": 0,
                             "lost": 0}
    assert world.metric("zombiewatch_failures_republished_total", part="increment") == ZOMBIES
    assert world.metric("zombiewatch_failures_confirmed_total") == ZOMBIES


async def test_write_errors_on_the_first_attempt_are_repaired(delivery: Delivery) -> None:
    world = delivery
    world.add_zombies(ZOMBIES)
    world.controller.fail_next_writes(2 * ZOMBIES)  # every write of the first attempt fails
    await world.controller.start()
    # The feed knows the tasks before the publish: the baseline a repair of the
    # increment needs is taken then (no baseline, no increment re-sent).
    await wait_until(lambda: len(world.feed.states) == len(world.zombies)
                     and world.feed.caught_up, "feed", timeout=WAIT)

    await report_all(world)
    await wait_until(lambda: world.controller.stats.failed_writes == 2 * ZOMBIES, "all failed",
                     timeout=WAIT)
    await wait_until(world.freed, "re-published", between=world.confirmer.tick, timeout=WAIT,
                     interval=0.2)

    assert world.table()["doubled"] == 0
    assert world.metric("zombiewatch_failures_republished_total", part="update") == ZOMBIES
    assert world.metric("zombiewatch_failures_republished_total", part="increment") == ZOMBIES


async def test_a_failed_update_whose_increment_applied_gets_the_update_only(
    delivery: Delivery,
) -> None:
    world = delivery
    world.add_zombies(1)
    world.controller.fail_next_writes(1)  # the update fails; the increment right after applies
    await world.controller.start()
    # The feed knows the tasks before the publish: the baseline a repair of the
    # increment needs is taken then (no baseline, no increment re-sent).
    await wait_until(lambda: len(world.feed.states) == len(world.zombies)
                     and world.feed.caught_up, "feed", timeout=WAIT)

    await report_all(world)
    # Known (0), so the increment is held back because the count moved, not for want of it.
    assert [p.trigger_count_at_publish for p in world.watchlist.values()] == [0]
    await wait_until(world.freed, "update re-published", between=world.confirmer.tick,
                     timeout=WAIT, interval=0.2)
    await asyncio.sleep(2)

    assert world.table() == {"zombies": 1, "freed_once": 1, "doubled": 0, "lost": 0}
    assert world.metric("zombiewatch_failures_republished_total", part="update") == 1
    assert world.metric("zombiewatch_failures_republished_total", part="increment") == 0


async def test_an_abort_after_the_records_reached_the_log_bumps_once(
    delivery: Delivery,
) -> None:
    world = delivery
    world.add_zombies(ZOMBIES)
    await world.controller.start()
    await wait_until(lambda: world.feed.caught_up, "feed", timeout=WAIT)
    world.faults.commits = 1

    await report_all(world)  # the commit fails: read_uncommitted, the records were applied
    await report_all(world)  # the retry: the ledger decides
    await wait_until(world.freed, "freed", between=world.confirmer.tick, timeout=WAIT, interval=0.2)
    await asyncio.sleep(2)  # anything sent twice would be applied by now

    assert world.table() == {"zombies": ZOMBIES, "freed_once": ZOMBIES, "doubled": 0,
                             "lost": 0}


async def test_malformed_and_oversized_task_events_are_skipped_and_every_task_freed_once(
    delivery: Delivery,
) -> None:
    world = delivery
    world.add_zombies(ZOMBIES)
    junk_task = str(uuid.uuid4())
    await world.controller.start()
    producer = AIOKafkaProducer(bootstrap_servers=world.controller.bootstrap)
    await producer.start()
    try:
        for key, value in [
            (junk_task, b"not json"), (junk_task, b'{"content": "no frontmatter"}'),
            (next(iter(world.zombies)), b'{"frontmatter": {"current_job": 42}}'),
            (junk_task, b'{"frontmatter": {"current_job": "x"}, "content": "'
             + b"y" * (FEED_LIMIT + 1) + b'"}'),
        ]:
            await producer.send_and_wait(world.controller.event_topic, key=key.encode(),
                                         value=value)
    finally:
        await producer.stop()
    await world.controller.publish_all()  # the vault's next poll: every task again
    await wait_until(lambda: world.feed.caught_up and len(world.feed.states) == ZOMBIES, "feed",
                     timeout=WAIT)

    await report_all(world)
    await wait_until(world.freed, "freed", between=world.confirmer.tick, timeout=WAIT, interval=0.2)

    assert world.table() == {"zombies": ZOMBIES, "freed_once": ZOMBIES, "doubled": 0,
                             "lost": 0}
    assert dict(world.feed.stats.malformed) == {"not_json": 1, "wrong_shape": 1,
                                                "current_job": 1, "too_large": 1}


async def test_a_ledger_read_committed_against_the_real_controller_bumps_twice(
    bootstrap_servers: str, topic_factory: TopicFactory, tmp_path: Path,
) -> None:
    """Why the setting exists: the same abort, with the ledger at the wrong isolation."""
    async with wired("wrong isolation", bootstrap_servers, topic_factory, tmp_path,
                     isolation=ConsumerIsolation.READ_UNCOMMITTED,
                     ledger=ConsumerIsolation.READ_COMMITTED) as world:
        world.add_zombies(ZOMBIES)
        await world.controller.start()
        await wait_until(lambda: world.feed.caught_up, "feed", timeout=WAIT)
        world.faults.commits = 1

        await report_all(world)
        await report_all(world)
        await wait_until(lambda: world.table()["doubled"] == ZOMBIES, "every task bumped twice",
                         timeout=WAIT)


BACKED_UP_EXPIRY = timedelta(seconds=20)
"""Today's 60 minutes, shortened: the controller's expiry in the backed-up scenario."""
BACKLOG = timedelta(seconds=14)
"""How long the controller consumes nothing: past any window sized for v0.3 (here 6 s),
within its own expiry, so every original is still valid when it catches up."""


async def backed_up(world: Delivery) -> None:
    """Publish every zombie's failure to a controller that is backed up for ``BACKLOG``,
    the confirmer ticking all along, then let it catch up and settle."""
    world.add_zombies(ZOMBIES)
    await world.controller.start()
    await wait_until(lambda: len(world.feed.states) == ZOMBIES and world.feed.caught_up, "feed",
                     timeout=WAIT)
    world.controller.pause()

    await report_all(world)
    backlog_ends = asyncio.get_running_loop().time() + BACKLOG.total_seconds()
    while asyncio.get_running_loop().time() < backlog_ends:
        await world.confirmer.tick()
        await asyncio.sleep(0.5)
    world.controller.resume()  # catches up: its backlog, then anything re-sent meanwhile
    await wait_until(lambda: not world.watchlist, "confirmed", between=world.confirmer.tick,
                     timeout=WAIT, interval=0.2)
    await asyncio.sleep(2)  # anything sent twice would be applied by now


async def test_a_backed_up_controller_gets_each_failure_once_with_todays_expiry(
    bootstrap_servers: str, topic_factory: TopicFactory, tmp_path: Path,
    isolation: ConsumerIsolation,
) -> None:
    """The schedule rule (SPEC §13): nothing is re-published before its previous send is
    past the controller's expiry plus the margin, so a backed-up controller applies the
    originals and nothing beside them."""
    async with wired("backed up", bootstrap_servers, topic_factory, tmp_path,
                     isolation=isolation, ledger=isolation, expiry=BACKED_UP_EXPIRY) as world:
        await backed_up(world)

        assert world.table() == {"zombies": ZOMBIES, "freed_once": ZOMBIES, "doubled": 0,
                                 "lost": 0}
        assert world.metric("zombiewatch_failures_republished_total", part="update") == 0
        assert world.metric("zombiewatch_failures_republished_total", part="increment") == 0


async def test_a_schedule_sized_for_a_shorter_expiry_doubles_on_a_backed_up_controller(
    bootstrap_servers: str, topic_factory: TopicFactory, tmp_path: Path,
) -> None:
    """Why the schedule follows the expiry: the same backlog, with repairs sized for a
    3-second expiry (v0.3's 10 minutes against today's 60, shortened) re-sends while the
    originals wait, and the controller applies both."""
    async with wired("backed up, v0.3 schedule", bootstrap_servers, topic_factory, tmp_path,
                     isolation=ConsumerIsolation.READ_UNCOMMITTED,
                     ledger=ConsumerIsolation.READ_UNCOMMITTED, expiry=BACKED_UP_EXPIRY,
                     policy=RepairPolicy(expiry=EXPIRY, margin=WINDOW - EXPIRY)) as world:
        await backed_up(world)

        assert world.table()["doubled"] == ZOMBIES


@dataclass
class Successor:
    """A new leader: its own publisher, task feed, reporter and confirmer; nothing in memory
    of what the first leader published."""

    reporter: Reporter
    confirmer: Confirmer
    feed: KafkaTaskFeed
    history: KafkaFailureHistory
    metrics: Metrics
    watchlist: Watchlist

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def successor(world: Delivery) -> AsyncIterator[Successor]:
    """A second replica taking over ``world``'s topics, cluster and controller."""
    controller = world.controller
    settings = publisher_settings(controller.bootstrap, controller.request_topic,
                                  publish_timeout=15.0, request_timeout_ms=5_000,
                                  consumer_isolation=ConsumerIsolation(controller.isolation))
    publisher = KafkaCommandPublisher(settings=settings, clock=SystemClock())
    states = TaskStates()
    feed = KafkaTaskFeed(settings, topic=controller.event_topic, states=states,
                         retry_seconds=0.5, max_value_bytes=FEED_LIMIT)
    metrics = Metrics()
    watchlist = Watchlist()
    confirmer = Confirmer(publisher=publisher, tasks=TaskView(states, feed), leader=FakeLeader(),
                          clock=SystemClock(), metrics=ConfirmationMetrics(metrics),
                          policy=RepairPolicy(expiry=EXPIRY, margin=WINDOW - EXPIRY),
                          watchlist=watchlist,
                          events=JobEvents(recorder=RecordingEventRecorder(), cache=FakeCache()))
    history = KafkaFailureHistory(settings)
    reporter = wire_reporter(publisher, settings, cache=world.cache, metrics=metrics,
                             confirmer=confirmer, history=history)
    follow = asyncio.get_running_loop().create_task(feed.run())
    try:
        yield Successor(reporter, confirmer, feed, history, metrics, watchlist)
    finally:
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await reporter.close()
        await publisher.close()


async def test_a_new_leader_repairs_both_parts_of_failures_it_knows_only_from_the_ledger(
    delivery: Delivery,
) -> None:
    """The first leader publishes while the controller is down past its expiry and is gone;
    the new leader learns the failures from the ledger, with the count each increment was
    sent against (its record header), and re-publishes both parts: +1, not +0."""
    world = delivery
    world.add_zombies(ZOMBIES)
    await world.controller.start()
    await wait_until(lambda: len(world.feed.states) == ZOMBIES and world.feed.caught_up, "feed",
                     timeout=WAIT)
    await world.controller.stop()

    await report_all(world)  # the first leader's only act: it never ticks, it is gone
    await asyncio.sleep(EXPIRY.total_seconds() + 1)
    await world.controller.start()  # every queued command is expired now: dropped
    await wait_until(lambda: world.controller.stats.outcomes()["dropped_expired"] == 2 * ZOMBIES,
                     "dropped as expired", timeout=WAIT)
    assert world.table()["freed_once"] == 0

    async with successor(world) as new:
        await wait_until(lambda: len(new.feed.states) == ZOMBIES and new.feed.caught_up,
                         "the new leader's feed", timeout=WAIT)
        new.reporter.start_term()
        assert await new.reporter.recall_history()
        assert {job: p.trigger_count_at_publish for job, p in new.watchlist.items()} == (
            dict.fromkeys(world.zombies.values(), 0))

        await wait_until(world.freed, "freed by the new leader", between=new.confirmer.tick,
                         timeout=WAIT, interval=0.2)
        await wait_until(lambda: new.watchlist == {}, "confirmed",
                         between=new.confirmer.tick, timeout=WAIT, interval=0.2)
        await asyncio.sleep(2)  # anything sent twice would be applied by now

        assert world.table() == {"zombies": ZOMBIES, "freed_once": ZOMBIES, "doubled": 0,
                                 "lost": 0}
        assert new.metric("zombiewatch_failures_republished_total", part="increment") == ZOMBIES
        reading = (await new.history.reported_since(
            SystemClock().now() - timedelta(minutes=5))).unwrap()
        # Every increment, first send and re-send, carried the same count: 0.
        assert [count for _, _, count in reading.counts_before] == [0] * (2 * ZOMBIES)
