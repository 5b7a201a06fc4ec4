"""The sweeping world the sweeper's tests share: the container's sweeper and reporter over
the kit's recording fakes (``test_app_sweeping`` and ``test_ops_kit``)."""

from __future__ import annotations

from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import JobView, PodView
from zombiewatch.testing.containers import Fakes, faked_container, unit_settings
from zombiewatch.testing.fakes import FakeCache


class World:
    """The container's sweeper and reporter, over recording fakes."""

    def __init__(self, cache: FakeCache | None = None, **settings: object) -> None:
        fakes = Fakes(cache=cache or FakeCache())
        self.clock = fakes.clock
        self.cache = fakes.cache
        self.publisher = fakes.publisher
        container = faked_container(fakes, unit_settings(**settings))
        self.book = container.book()
        self.dedupe = container.dedupe()
        self.metrics = container.metrics()
        self.attention = container.attention()
        self.reporter = container.reporter()
        self.sweeper = container.sweeper()
        self.pause = fakes.pause

    def add_job(self, job: JobView) -> None:
        """Like the Job informer: the cache is updated, then the attention index."""
        self.cache.put_job(job)
        self.attention.refresh(job.name, job=job, pods=self.cache.pods_of_job(job.name))

    def add_pod(self, pod: PodView) -> None:
        self.cache.put_pod(pod)
        self.attention.refresh(pod.job_name, job=self.cache.job(pod.job_name),
                               pods=self.cache.pods_of_job(pod.job_name))

    async def sweep(self) -> list[tuple[str, ZombieReason]]:
        self.sweeper.sweep_once()
        await self.reporter.flush()
        await self.reporter.close()
        return [(f.job_name, f.reason) for f in self.publisher.published]
