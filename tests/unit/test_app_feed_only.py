"""In-flight work from the task feed alone (SPEC §6): a task whose ``current_job`` names a
Job the cluster does not have is, past its deadline from ``job_started_at``,
``executor_watch_lost`` — without any host registration — once the feed is current
and the Job has stayed missing for the settling period."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.builders import job_view, pod_view
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState
from zombiewatch.domain.views import PodPhase
from zombiewatch.testing.containers import Fakes, faked_container

DEADLINE = 1800
GRACE = 120
"""The settling period: the pod grace of ``unit_settings`` (120 s by default)."""


def in_flight(job: str, started_at: datetime | None, *, trigger_count: int = 0) -> TaskState:
    return TaskState(current_job=job, job_started_at=started_at, assignee="claude",
                     trigger_count=trigger_count, max_triggers=3, phase="in_progress")


class World:
    def __init__(self) -> None:
        self.fakes = Fakes()
        self.clock = self.fakes.clock
        container = faked_container(self.fakes)
        self.sweeper = container.sweeper()
        self.reporter = container.reporter()
        self.book = container.book()
        self.metrics = container.metrics()

    def task(self, task_id: str, state: TaskState) -> None:
        self.fakes.tasks.put(task_id, state)

    def detect(self) -> int:
        return self.sweeper.sweep_once().detected

    async def publish(self) -> list[tuple[str, str, ZombieReason]]:
        await self.reporter.flush()
        await self.reporter.close()
        return [(f.task_id, f.job_name, f.reason) for f in self.fakes.publisher.published]

    async def sweep(self) -> list[tuple[str, str, ZombieReason]]:
        self.detect()
        return await self.publish()


async def test_a_task_naming_a_job_that_does_not_exist_is_executor_watch_lost() -> None:
    world = World()
    world.task("t-1", in_flight("job-gone", world.clock.now()))
    world.clock.advance(DEADLINE)

    assert await world.sweep() == []  # first seen missing now: settling
    world.clock.advance(GRACE - 1)
    assert await world.sweep() == []
    world.clock.advance(1)
    assert await world.sweep() == [("t-1", "job-gone", ZombieReason.EXECUTOR_WATCH_LOST)]


async def test_the_deadline_counts_from_job_started_at() -> None:
    world = World()
    started = world.clock.now()
    world.task("t-1", in_flight("job-gone", started))
    world.detect()
    world.clock.advance(DEADLINE - 1)

    assert await world.sweep() == []  # settled long ago, but not past its deadline
    world.clock.advance(1)
    assert await world.sweep() == [("t-1", "job-gone", ZombieReason.EXECUTOR_WATCH_LOST)]


async def test_a_task_without_a_start_time_is_never_judged_by_the_deadline() -> None:
    world = World()
    world.task("t-1", in_flight("job-gone", None))
    world.detect()
    world.clock.advance(DEADLINE * 10)

    assert await world.sweep() == []


async def test_nothing_is_judged_from_the_feed_before_it_caught_up() -> None:
    world = World()
    world.fakes.feed.caught_up = False
    world.task("t-1", in_flight("job-gone", world.clock.now()))
    world.clock.advance(DEADLINE)
    world.detect()
    world.clock.advance(GRACE * 5)

    assert await world.sweep() == []
    world.fakes.feed.caught_up = True
    assert await world.sweep() == []  # the settling period starts once the feed is current
    world.clock.advance(GRACE)
    assert await world.sweep() == [("t-1", "job-gone", ZombieReason.EXECUTOR_WATCH_LOST)]


async def test_a_feed_that_went_down_between_detection_and_publish_publishes_nothing() -> None:
    world = World()
    world.task("t-1", in_flight("job-gone", world.clock.now()))
    world.detect()
    world.clock.advance(DEADLINE)
    assert world.detect() == 1

    world.fakes.feed.up = False  # the reporter's re-check: the task may be freed by now
    assert await world.publish() == []


async def test_a_job_seen_again_restarts_the_settling_period() -> None:
    world = World()
    world.task("t-1", in_flight("job-a", world.clock.now()))
    world.clock.advance(DEADLINE)
    world.detect()
    world.clock.advance(GRACE - 10)
    job = job_view("job-a", task_id="t-1", complete=True)
    world.fakes.cache.put_job(job)  # the informer had just missed it
    world.detect()
    world.fakes.cache.jobs_by_name.pop("job-a")
    world.clock.advance(20)

    assert await world.sweep() == []
    world.clock.advance(GRACE)
    assert await world.sweep() == [("t-1", "job-a", ZombieReason.EXECUTOR_WATCH_LOST)]


async def test_a_job_the_cluster_has_is_judged_once_as_a_job() -> None:
    world = World()
    world.fakes.cache.put_job(job_view("job-a", task_id="t-1"))
    world.task("t-1", in_flight("job-a", world.clock.now()))
    world.clock.advance(DEADLINE + GRACE)
    world.detect()
    world.clock.advance(GRACE)

    assert await world.sweep() == [("t-1", "job-a", ZombieReason.EXECUTOR_WATCH_LOST)]


async def test_a_job_the_host_registered_is_judged_once_as_its_registration() -> None:
    world = World()
    world.book.register(task_id="t-1", job_name="job-ghost", assignee="claude",
                        started_at=world.clock.now())
    world.task("t-1", in_flight("job-ghost", world.clock.now()))
    world.clock.advance(DEADLINE)

    assert await world.sweep() == [("t-1", "job-ghost", ZombieReason.EXECUTOR_WATCH_LOST)]


async def test_a_reported_job_is_not_reported_again_and_a_freed_task_is_forgotten() -> None:
    world = World()
    world.task("t-1", in_flight("job-gone", world.clock.now()))
    world.clock.advance(DEADLINE)
    world.detect()
    world.clock.advance(GRACE)
    assert len(await world.sweep()) == 1

    world.clock.advance(60)
    assert world.detect() == 0  # the dedupe memory holds it until the controller applies it
    world.task("t-1", in_flight("", None, trigger_count=1))
    world.sweeper.sweep_once()
    assert world.metrics.registry.get_sample_value("zombiewatch_in_flight_jobs") == 0
    assert len(world.fakes.publisher.published) == 1


async def test_a_task_naming_another_job_than_the_detection_publishes_nothing() -> None:
    world = World()
    world.task("t-1", in_flight("job-gone", world.clock.now()))
    world.clock.advance(DEADLINE)
    world.detect()
    world.clock.advance(GRACE)
    assert world.detect() == 1

    world.task("t-1", in_flight("job-next", world.clock.now()))  # re-dispatched meanwhile
    assert await world.publish() == []


async def test_a_replaced_job_is_held_even_while_the_feed_is_down() -> None:
    """A Job once replaced never becomes current again: a stale feed still proves it."""
    world = World()
    old = job_view("job-old", task_id="t-1", started_at=world.clock.now())
    world.fakes.cache.put_job(old)
    world.fakes.cache.put_pod(pod_view(old, phase=PodPhase.FAILED, exit_code=1))
    world.task("t-1", in_flight("job-new", world.clock.now() + timedelta(minutes=1)))
    world.fakes.feed.up = False
    world.clock.advance(DEADLINE)

    assert await world.sweep() == []
    world.task("t-1", in_flight("job-old", world.clock.now()))
    assert await world.sweep() == [("t-1", "job-old", ZombieReason.POD_CRASH_NO_STDOUT)]
