"""Worlds for tests and benchmarks: the one Container, its I/O providers overridden by
recording fakes (``faked_container``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from dependency_injector import providers

from zombiewatch.app.container import Container
from zombiewatch.app.feedpart import TaskView
from zombiewatch.app.judging import Judge
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings
from zombiewatch.domain.causes import Cause
from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.config import ResolvedConfig
from zombiewatch.domain.gate import Decision, GateInputs
from zombiewatch.domain.tasks import TaskStates
from zombiewatch.domain.views import PodView
from zombiewatch.testing.fakes import (
    FakeCache,
    FakeClock,
    FakeLeader,
    FeedSwitch,
    ManualScheduler,
    RecordingAnnotator,
    RecordingEventRecorder,
    RecordingPublisher,
    RecordingReaper,
    ScriptedEventLookup,
    ScriptedHistory,
)

__all__ = [
    "CausedJudge",
    "Fakes",
    "ManualPause",
    "NoApiClient",
    "NoInformers",
    "NoTaskFeed",
    "faked_container",
    "judge_with_cause",
    "unit_settings",
]


def unit_settings(**changes: object) -> Settings:
    """Settings of a unit-test daemon: no election, no HTTP server, nothing reachable, and
    no storm guard (a zombie is published as soon as it is judged; the worlds that test the
    guard pass ``storm_guard=True``)."""
    options: dict[str, object] = {
        "namespace": "agents", "kubeconfig": Path("/nonexistent"),
        "kafka": KafkaOptions(brokers="127.0.0.1:9"),
        "leader": LeaderOptions(enabled=False), "serve_http": False, "storm_guard": False,
    }
    options.update(changes)
    return Settings(**options)  # type: ignore[arg-type]


@dataclass
class ManualPause:
    """The sweeper's pause between ticks, released by the test (or by a requested sweep)."""

    intervals: list[float] = field(default_factory=list)
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    """Set each time the sweeper has finished a tick and pauses."""
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, requested: asyncio.Event, seconds: float) -> None:
        self.intervals.append(seconds)
        self.reached.set()
        release = asyncio.ensure_future(self._release.wait())
        asked = asyncio.ensure_future(requested.wait())
        await asyncio.wait({release, asked}, return_when=asyncio.FIRST_COMPLETED)
        release.cancel()
        asked.cancel()
        self._release.clear()

    async def next_tick(self) -> None:
        """Wait until the sweeper pauses again after its next tick."""
        self.reached.clear()
        await self.reached.wait()

    def interval_over(self) -> None:
        self._release.set()


class NoInformers:
    """Stands in for the informers: the fake cache is filled by the test."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def wait_synced(self) -> None:
        return None


class NoApiClient:
    """Stands in for the shared API client: nothing to close."""

    client = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class NoTaskFeed:
    """Stands in for the task feed's consumer: none runs; the test fills ``Fakes.tasks``
    (empty: the cluster alone decides) and sets ``Fakes.feed``. No confirmer is built."""

    feed = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@dataclass
class Fakes:
    """The recording fakes a container is built with (each test reads what it needs)."""

    clock: FakeClock = field(default_factory=FakeClock)
    cache: FakeCache = field(default_factory=FakeCache)
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    leader: FakeLeader = field(default_factory=FakeLeader)
    history: ScriptedHistory = field(default_factory=ScriptedHistory)
    scheduler: ManualScheduler = field(default_factory=ManualScheduler)
    pause: ManualPause = field(default_factory=ManualPause)
    reaper: RecordingReaper = field(default_factory=RecordingReaper)
    events: RecordingEventRecorder = field(default_factory=RecordingEventRecorder)
    """The Kubernetes Events said on Jobs (ZombieReported, ZombieReaped, ...)."""
    event_lookup: ScriptedEventLookup = field(default_factory=ScriptedEventLookup)
    """The Events read as a never-started verdict's evidence (none unless scripted)."""
    tasks: TaskStates = field(default_factory=TaskStates)
    """The task feed's states, as if read from the event topic."""
    feed: FeedSwitch = field(default_factory=FeedSwitch)
    annotator: RecordingAnnotator = field(init=False)

    def __post_init__(self) -> None:
        self.annotator = RecordingAnnotator(cache=self.cache)
        if self.publisher.clock is None:
            self.publisher.clock = self.clock


def faked_container(
    fakes: Fakes, settings: Settings | None = None, *, task_feed: bool = True
) -> Container:
    """The production Container with every I/O provider overridden by ``fakes``.

    With ``task_feed=False`` the daemon has no task feed at all (the cluster
    alone decides, as with the feed switched off): ``Fakes.feed`` is not used.
    """
    container = Container()
    container.settings.override(settings or unit_settings())
    container.clock.override(providers.Object(fakes.clock))
    container.cache.override(providers.Object(fakes.cache))
    container.api_client.override(providers.Object(NoApiClient()))
    container.informers.override(providers.Object(NoInformers()))
    container.pause.override(providers.Object(fakes.pause))
    container.publisher.override(providers.Object(fakes.publisher))
    container.leader.override(providers.Object(fakes.leader))
    container.annotator.override(providers.Object(fakes.annotator))
    container.job_reaper.override(providers.Object(fakes.reaper))
    container.event_recorder.override(providers.Object(fakes.events))
    container.event_lookup.override(providers.Object(fakes.event_lookup))
    container.history.override(providers.Object(fakes.history))
    container.scheduler.override(providers.Object(fakes.scheduler))
    container.task_feed.override(providers.Object(NoTaskFeed()))
    container.task_states.override(providers.Object(fakes.tasks))
    container.task_view.override(
        providers.Object(TaskView(fakes.tasks, fakes.feed if task_feed else None)))
    return container


@dataclass(frozen=True, slots=True, kw_only=True)
class CausedJudge(Judge):
    """The judge, naming ``image_cause`` as the cause of an image-pull verdict that names
    none: for worlds that exercise the storm guard whatever the classifier extracts."""

    image_cause: Cause

    def decide(
        self, job_name: str, *, now: datetime, config: ResolvedConfig | None = None,
        deleted: tuple[PodView, ...] = (), task_id: str | None = None,
    ) -> tuple[GateInputs, Decision]:
        inputs, decision = Judge.decide(self, job_name, now=now, config=config,
                                        deleted=deleted, task_id=task_id)
        if (isinstance(decision, Verdict) and decision.cause is None
                and decision.rule is Rule.WAITING_IMAGE_PULL):
            decision = replace(decision, cause=self.image_cause)
        return inputs, decision


def judge_with_cause(container: Container, image_cause: Cause) -> None:
    """Override ``container``'s judge with a :class:`CausedJudge` (before anything that
    uses the judge is built)."""
    c = container
    c.judge.override(providers.Singleton(
        CausedJudge, cache=c.cache, book=c.book, dedupe=c.dedupe, grace=c.grace,
        annotations=c.annotations, tasks=c.task_view, liveness_window=c.liveness_window,
        image_cause=image_cause))
