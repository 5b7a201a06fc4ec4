"""While the initial lists come in, each Job is judged once, after both are in, as the last of
its events would judge it (the daemon's informers report their lists to the detection service).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from dependency_injector import providers

from tests.builders import job_view, pod_view
from zombiewatch.app.detection import DetectionService
from zombiewatch.app.judging import Detection
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import JobView, PodPhase, PodView
from zombiewatch.testing.containers import Fakes, faked_container


@dataclass
class CountingSink:
    """Each judgement ends in ``submit`` (a zombie) or ``changed`` (none): both recorded."""

    judged: list[str] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)

    def submit(self, detection: Detection) -> None:
        self.judged.append(detection.job_name)
        self.detections.append(detection)

    def completed(self, job_name: str, task_id: str) -> None:
        self.completions.append(job_name)

    def changed(self, job_name: str) -> None:
        self.judged.append(job_name)


@dataclass
class Start:
    fakes: Fakes
    sink: CountingSink
    detection: DetectionService
    book: InFlightBook

    def pod_listed(self, pod: PodView, previous: PodView | None = None) -> None:
        self.fakes.cache.put_pod(pod)
        self.detection.on_pod(pod, previous=previous)

    def job_listed(self, job: JobView) -> None:
        self.fakes.cache.put_job(job)
        self.detection.on_job(job)

    def both_listed(self) -> None:
        self.fakes.cache.synced_event.set()
        self.detection.listed()


def starting() -> Start:
    """A detection service deferring, as the daemon's informers make it, before any list."""
    fakes = Fakes()
    container = faked_container(fakes)
    sink = CountingSink()
    container.reporter.override(providers.Object(sink))
    fakes.cache.synced_event.clear()
    detection = container.detection()
    detection.defer_until_listed()
    return Start(fakes, sink, detection, container.book())


ZOMBIE = job_view("zombie", task_id="t-z")
PULLING = pod_view(ZOMBIE, waiting="ImagePullBackOff")
HEALTHY = job_view("healthy", task_id="t-h")
RUNNING = replace(pod_view(HEALTHY, phase=PodPhase.RUNNING, running=True), scheduled=True)


@pytest.mark.parametrize("pods_first", [True, False], ids=["pods-first", "jobs-first"])
def test_each_job_is_judged_once_after_both_lists_and_a_zombie_is_reported(
    pods_first: bool,
) -> None:
    start = starting()
    pods: list[PodView | JobView] = [PULLING, RUNNING]
    jobs: list[PodView | JobView] = [ZOMBIE, HEALTHY]
    for listed in (pods + jobs) if pods_first else (jobs + pods):
        if isinstance(listed, PodView):
            start.pod_listed(listed)
        else:
            start.job_listed(listed)
    start.detection.listed()  # the first informer's list alone: nothing yet

    assert start.sink.judged == []

    start.both_listed()

    assert sorted(start.sink.judged) == ["healthy", "zombie"]
    assert [(d.job_name, d.verdict.reason) for d in start.sink.detections] == [
        ("zombie", ZombieReason.IMAGE_PULL_BACKOFF)]


def test_after_the_lists_every_event_is_judged_at_once_again() -> None:
    start = starting()
    start.job_listed(HEALTHY)
    start.both_listed()
    start.sink.judged.clear()

    start.pod_listed(RUNNING)
    start.job_listed(HEALTHY)
    start.detection.listed()  # a relist later: nothing deferred left

    assert start.sink.judged == ["healthy", "healthy"]


def test_heartbeats_and_completions_are_not_deferred() -> None:
    start = starting()
    pending = replace(pod_view(HEALTHY), scheduled=True)
    start.pod_listed(pending)
    start.pod_listed(RUNNING, previous=pending)  # a watch event between the two lists
    start.job_listed(replace(ZOMBIE, complete=True))

    assert start.book.last_heartbeat(HEALTHY.task_id) == start.fakes.clock.now()
    assert start.sink.completions == ["zombie"]
    assert start.sink.judged == []


def test_a_pod_inside_its_grace_window_gets_its_timer_when_judged() -> None:
    start = starting()
    unscheduled = pod_view(ZOMBIE, scheduled=False, created_at=start.fakes.clock.now())
    start.job_listed(ZOMBIE)
    start.pod_listed(unscheduled)

    assert start.fakes.scheduler.pending() == []
    start.both_listed()

    assert len(start.fakes.scheduler.pending()) == 1
    assert start.detection.grace_timers == 1


def test_without_lists_to_wait_for_nothing_is_deferred() -> None:
    fakes = Fakes()
    container = faked_container(fakes)
    sink = CountingSink()
    container.reporter.override(providers.Object(sink))
    detection = container.detection()
    detection.defer_until_listed()  # the cache is synced already (a test's fake cache)

    fakes.cache.put_job(HEALTHY)
    detection.on_job(HEALTHY)

    assert sink.judged == ["healthy"]
