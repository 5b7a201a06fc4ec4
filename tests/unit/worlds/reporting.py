"""The reporting world the reporter's tests share: the container's reporter and detection
service over the kit's recording fakes (``test_app_reporting`` and the confirming, ledger,
detection and reaping tests)."""

from __future__ import annotations

import time

from dependency_injector import providers

from zombiewatch.app.confirming import Confirmer
from zombiewatch.app.judging import Detection
from zombiewatch.app.settings import Settings
from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import JobView, PodView
from zombiewatch.testing.containers import Fakes, faked_container
from zombiewatch.testing.fakes import FakeLeader, RecordingPublisher

IMAGE_PULL = Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL)


class World:
    """The container's reporter and detection service, over recording fakes."""

    def __init__(self, *, leading: bool = True, publisher: RecordingPublisher | None = None,
                 confirmer: Confirmer | None = None, settings: Settings | None = None) -> None:
        fakes = Fakes(leader=FakeLeader(leading), publisher=publisher or RecordingPublisher())
        self.clock = fakes.clock
        self.cache = fakes.cache
        self.publisher = fakes.publisher
        self.annotator = fakes.annotator
        self.history = fakes.history
        self.scheduler = fakes.scheduler
        self.pause = fakes.pause
        self.events = fakes.events
        self.event_lookup = fakes.event_lookup
        container = faked_container(fakes, settings)
        if confirmer is not None:
            container.confirmer.override(providers.Object(confirmer))
        self.dedupe = container.dedupe()
        self.annotations = container.annotations()
        self.book = container.book()
        self.metrics = container.metrics()
        self.reporter = container.reporter()
        self.detection = container.detection()
        self.sweeper = container.sweeper()
        self.tasks = container.task_states()
        self.job_events = container.events()
        self.holdings = container.holdings()
        self.judge = container.judge()

    def pod_event(self, pod: PodView, *, previous: PodView | None = None) -> None:
        """Like the Pod informer: the store is updated, then the handler runs."""
        self.cache.put_pod(pod)
        self.detection.on_pod(pod, previous=previous)

    def job_event(self, job: JobView) -> None:
        """Like the Job informer: the store is updated, then the handler runs."""
        self.cache.put_job(job)
        self.detection.on_job(job)

    def detect(self, job_name: str, task_id: str = "t-1") -> None:
        self.reporter.submit(
            Detection(
                task_id=task_id,
                job_name=job_name,
                verdict=IMAGE_PULL,
                path="informer",
                elapsed=None,
                seen_monotonic=time.monotonic(),
            )
        )

    async def settle(self) -> None:
        await self.reporter.flush()
        await self.reporter.close()

    async def sweep_all(self) -> None:
        """One sweep tick, and its detections reported."""
        self.sweeper.sweep_once()
        await self.settle()

    def liveness_window(self) -> float:
        """The liveness window in seconds (how long a heartbeat keeps a Job alive)."""
        return self.judge.liveness_window.total_seconds()

    def held(self, structure: str) -> float:
        """``zombiewatch_held_entries`` of ``structure``, as ``/metrics`` shows it."""
        value = self.metrics.registry.get_sample_value("zombiewatch_held_entries",
                                                       {"structure": structure})
        assert value is not None, f"no held-entries sample for {structure}"
        return value

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value
