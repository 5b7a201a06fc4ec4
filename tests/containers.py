"""Worlds for unit tests: the one Container, its I/O providers overridden by recording fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dependency_injector import providers

from tests.fakes import (
    FakeCache,
    FakeClock,
    FakeLeader,
    ManualScheduler,
    RecordingAnnotator,
    RecordingPublisher,
    ScriptedHistory,
)
from zombiewatch.app.container import Container
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings


def unit_settings(**changes: object) -> Settings:
    """Settings of a unit-test daemon: no election, no HTTP server, nothing reachable."""
    options: dict[str, object] = {
        "namespace": "agents", "kubeconfig": Path("/nonexistent"),
        "kafka": KafkaOptions(brokers="127.0.0.1:9"),
        "leader": LeaderOptions(enabled=False), "serve_http": False,
    }
    options.update(changes)
    return Settings(**options)  # type: ignore[arg-type]


@dataclass
class Fakes:
    """The recording fakes a container is built with (each test reads what it needs)."""

    clock: FakeClock = field(default_factory=FakeClock)
    cache: FakeCache = field(default_factory=FakeCache)
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    leader: FakeLeader = field(default_factory=FakeLeader)
    history: ScriptedHistory = field(default_factory=ScriptedHistory)
    scheduler: ManualScheduler = field(default_factory=ManualScheduler)
    annotator: RecordingAnnotator = field(init=False)

    def __post_init__(self) -> None:
        self.annotator = RecordingAnnotator(cache=self.cache)


def faked_container(fakes: Fakes, settings: Settings | None = None) -> Container:
    """The production Container with every I/O provider overridden by ``fakes``."""
    container = Container()
    container.settings.override(settings or unit_settings())
    container.clock.override(providers.Object(fakes.clock))
    container.cache.override(providers.Object(fakes.cache))
    container.api_client.override(providers.Object(None))
    container.publisher.override(providers.Object(fakes.publisher))
    container.leader.override(providers.Object(fakes.leader))
    container.annotator.override(providers.Object(fakes.annotator))
    container.history.override(providers.Object(fakes.history))
    container.scheduler.override(providers.Object(fakes.scheduler))
    return container
