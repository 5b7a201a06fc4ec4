"""The sweeper: deadlines, lost Jobs, hot-reloaded interval, isolation of errors."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from tests.builders import job_view, pod_view
from tests.unit.worlds.sweeping import World
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import AgentConfigView, PodPhase, PodView
from zombiewatch.testing.fakes import (
    FakeCache,
)

DEADLINE = 1800


class ExplodingCache(FakeCache):
    """A cache whose pod lookup fails for one Job (a bug or bad data), once armed."""

    armed = False

    def pods_of_job(self, job_name: str) -> Sequence[PodView]:
        if self.armed and job_name == "job-bad":
            raise RuntimeError("boom")
        return super().pods_of_job(job_name)


async def test_a_pending_pod_past_the_deadline_without_heartbeat_is_deadline_exceeded() -> None:
    world = World()
    job = job_view("job-a")
    world.add_job(job)
    world.add_pod(pod_view(job, phase=PodPhase.PENDING))

    world.clock.advance(DEADLINE - 1)
    assert await world.sweep() == []
    world.clock.advance(1)
    assert await world.sweep() == [("job-a", ZombieReason.DEADLINE_EXCEEDED)]


async def test_a_job_without_any_pod_past_the_deadline_is_executor_watch_lost() -> None:
    world = World()
    world.add_job(job_view("job-a"))

    world.clock.advance(DEADLINE)

    assert await world.sweep() == [("job-a", ZombieReason.EXECUTOR_WATCH_LOST)]


async def test_a_running_pod_past_the_deadline_is_left_alone() -> None:
    world = World()
    job = job_view("job-a")
    world.add_job(job)
    world.add_pod(pod_view(job, phase=PodPhase.RUNNING, running=True))

    world.clock.advance(DEADLINE * 2)

    assert await world.sweep() == []


async def test_a_recent_heartbeat_keeps_a_job_past_its_deadline_alive() -> None:
    world = World()
    job = job_view("job-a")
    world.add_job(job)
    world.add_pod(pod_view(job))
    world.clock.advance(DEADLINE)
    world.book.heartbeat(job.task_id, at=world.clock.now() - timedelta(minutes=4))

    assert await world.sweep() == []
    world.clock.advance(61)
    assert await world.sweep() == [("job-a", ZombieReason.DEADLINE_EXCEEDED)]


async def test_a_host_registration_whose_job_never_appeared_is_executor_watch_lost() -> None:
    world = World()
    world.book.register(task_id="t-1", job_name="job-ghost", assignee="claude",
                        started_at=world.clock.now())

    world.clock.advance(DEADLINE)

    assert await world.sweep() == [("job-ghost", ZombieReason.EXECUTOR_WATCH_LOST)]
    assert world.book.registrations() == []


async def test_the_deadline_is_the_assignees_configured_job_timeout() -> None:
    world = World()
    world.cache.config_views.append(AgentConfigView(
        namespace="agents", name="claude", assignee="claude", zombie_job_timeout_seconds=60))
    world.add_job(job_view("job-a"))

    world.clock.advance(60)

    assert await world.sweep() == [("job-a", ZombieReason.EXECUTOR_WATCH_LOST)]


PER_VAULT_CONFIGS = (
    AgentConfigView(namespace="agents", name="claude-personal", assignee="claude-personal",
                    zombie_job_timeout_seconds=5400),
    AgentConfigView(namespace="agents", name="claude", assignee="claude"),
)


@pytest.mark.parametrize("vault", [None, "personal"])
async def test_a_jobs_deadline_comes_from_the_config_its_assignee_label_names(
    vault: str | None,
) -> None:
    world = World(vault=vault)
    world.cache.config_views.extend(PER_VAULT_CONFIGS)
    world.add_job(job_view("job-a", task_id="t-a", assignee="claude-personal"))
    world.add_job(job_view("job-b", task_id="t-b", assignee="claude"))

    world.clock.advance(1800)
    assert await world.sweep() == [("job-b", ZombieReason.EXECUTOR_WATCH_LOST)]
    world.clock.advance(5400 - 1800)
    assert (await world.sweep())[1:] == [("job-a", ZombieReason.EXECUTOR_WATCH_LOST)]


async def test_a_host_registration_resolves_its_assignee_per_vault_first() -> None:
    world = World(vault="personal")
    world.cache.config_views.extend(PER_VAULT_CONFIGS)
    world.book.register(task_id="t-1", job_name="job-ghost", assignee="claude",
                        started_at=world.clock.now())

    world.clock.advance(1800)
    assert await world.sweep() == []
    world.clock.advance(5400 - 1800)
    assert await world.sweep() == [("job-ghost", ZombieReason.EXECUTOR_WATCH_LOST)]


async def test_the_liveness_window_is_the_daemons_setting_not_the_configs_heartbeat() -> None:
    """A Config's ``heartbeat`` (upstream's re-spawn interval) is not read at all: a
    heartbeat keeps a Job past its deadline alive only within ``--liveness-window``."""
    world = World(liveness_window_seconds=180.0)
    world.cache.config_views.append(AgentConfigView(
        namespace="agents", name="claude", assignee="claude", zombie_job_timeout_seconds=60))
    job = job_view("job-a")
    world.add_job(job)
    world.add_pod(pod_view(job))
    world.clock.advance(60)
    world.book.heartbeat(job.task_id, at=world.clock.now() - timedelta(minutes=2))
    assert await world.sweep() == []
    world.clock.advance(61)

    assert await world.sweep() == [("job-a", ZombieReason.DEADLINE_EXCEEDED)]


async def test_an_unschedulable_pod_is_reported_after_the_grace_window_not_the_deadline() -> None:
    world = World()
    job = job_view("job-a")
    world.add_job(job)
    world.add_pod(pod_view(job, scheduled=False))

    world.clock.advance(119)
    assert await world.sweep() == []
    world.clock.advance(1)
    assert await world.sweep() == [("job-a", ZombieReason.POD_NOT_SCHEDULED)]


async def test_one_jobs_error_does_not_stop_the_sweep_of_the_others() -> None:
    cache = ExplodingCache()
    world = World(cache)
    world.add_job(job_view("job-bad", task_id="t-bad"))
    world.add_job(job_view("job-good", task_id="t-good"))
    world.clock.advance(DEADLINE)
    cache.armed = True

    stats = world.sweeper.sweep_once()
    await world.reporter.flush()

    assert stats.errors == 1
    assert [f.job_name for f in world.publisher.published] == ["job-good"]


async def test_the_interval_is_re_read_from_the_config_cache_every_tick() -> None:
    world = World()
    assert world.sweeper.resolve_config().sweeper_interval == timedelta(seconds=60)

    world.cache.config_views.append(AgentConfigView(
        namespace="agents", name="a", assignee="a", zombie_sweeper_interval_seconds=15))
    world.cache.config_views.append(AgentConfigView(
        namespace="agents", name="b", assignee="b", zombie_sweeper_interval_seconds=45))

    assert world.sweeper.resolve_config().sweeper_interval == timedelta(seconds=15)


async def test_an_invalid_config_value_is_counted_once_and_replaced_by_its_default() -> None:
    world = World()
    world.cache.config_views.append(AgentConfigView(
        namespace="agents", name="old", assignee="a", zombie_sweeper_interval_seconds=3))

    interval = world.sweeper.resolve_config().sweeper_interval
    world.sweeper.resolve_config()

    assert interval == timedelta(seconds=60)
    value = world.metrics.registry.get_sample_value(
        "zombiewatch_invalid_configs_total", {"field": "zombieSweeperIntervalSeconds"})
    assert value == 1


async def test_the_sweeper_does_not_tick_before_the_informers_have_synced() -> None:
    world = World()
    world.cache.synced_event.clear()
    world.add_job(job_view("job-a"))
    world.clock.advance(DEADLINE)
    task = asyncio.create_task(world.sweeper.run())

    await world.cache.sync_awaited.wait()
    ticks_before_sync = world.sweeper.ticks
    world.cache.synced_event.set()
    await world.pause.reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert ticks_before_sync == 0
    assert world.sweeper.ticks == 1
    await world.reporter.flush()  # what the one tick handed over, published
    assert [f.job_name for f in world.publisher.published] == ["job-a"]


async def test_a_healthy_job_before_its_deadline_is_not_judged_at_all() -> None:
    world = World()
    job = job_view("job-a")
    world.add_job(job)
    world.add_pod(pod_view(job, phase=PodPhase.RUNNING, running=True))
    world.add_job(job_view("job-b", task_id="t-b"))

    stats = world.sweeper.sweep_once()

    assert (stats.in_flight, stats.judged) == (2, 0)


async def test_a_pod_that_recovers_takes_its_job_out_of_the_attention_index() -> None:
    world = World()
    job = job_view("job-a")
    world.add_job(job)
    world.add_pod(pod_view(job, scheduled=False))
    assert "job-a" in world.attention

    world.add_pod(pod_view(job, phase=PodPhase.RUNNING, running=True))

    assert "job-a" not in world.attention


async def test_a_requested_sweep_runs_at_once_instead_of_waiting_for_the_interval() -> None:
    world = World()
    task = asyncio.create_task(world.sweeper.run())
    await world.pause.reached.wait()

    world.sweeper.request_sweep()
    await world.pause.next_tick()
    world.pause.interval_over()
    await world.pause.next_tick()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert world.sweeper.ticks == 3
    assert world.pause.intervals == [60.0, 60.0, 60.0]  # the interval was never waited out


async def test_the_dedupe_ttl_follows_twice_the_longest_configured_job_timeout() -> None:
    world = World()
    assert world.dedupe.seen("job-a", now=world.clock.now()) is False
    world.cache.config_views.append(AgentConfigView(
        namespace="agents", name="slow", assignee="slow", zombie_job_timeout_seconds=7200))
    world.add_job(job_view("job-a"))
    world.clock.advance(DEADLINE)
    await world.sweep()
    world.add_job(job_view("job-a"))  # as if the annotation had not landed: memory only
    assert world.dedupe.seen("job-a", now=world.clock.now())

    world.clock.advance(3 * 3600)  # past the default 1 h TTL, inside 2 x 7200 s

    assert world.dedupe.seen("job-a", now=world.clock.now())
