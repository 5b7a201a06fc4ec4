"""The composition root wires the real services; tests swap the I/O for recording fakes."""

from __future__ import annotations

from pathlib import Path

from dependency_injector import providers

from tests.builders import job_view, pod_view
from zombiewatch.app.container import Container, kafka_publisher_settings
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings, parse_settings
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.testing.fakes import (
    FakeCache,
    FakeClock,
    FakeLeader,
    RecordingAnnotator,
    RecordingPublisher,
    ScriptedHistory,
)


class FakeInformers:
    """Stands in for the three informers (already synced: the fake cache is full)."""

    async def wait_synced(self) -> None:
        return None


def settings(*, branch: str | None = None, topic_prefix: str | None = None) -> Settings:
    return Settings(
        namespace="agents", kubeconfig=Path("/nonexistent"),
        kafka=KafkaOptions(brokers="127.0.0.1:9", branch=branch, topic_prefix=topic_prefix),
        leader=LeaderOptions(enabled=False), serve_http=False,
    )


def faked_container() -> tuple[Container, FakeCache, RecordingPublisher, RecordingAnnotator]:
    container = Container()
    container.settings.override(settings())
    cache = FakeCache()
    publisher = RecordingPublisher()
    annotator = RecordingAnnotator(cache=cache)
    container.clock.override(providers.Object(FakeClock()))
    container.cache.override(providers.Object(cache))
    container.api_client.override(providers.Object(None))
    container.publisher.override(providers.Object(publisher))
    container.leader.override(providers.Object(FakeLeader()))
    container.annotator.override(providers.Object(annotator))
    container.informers.override(providers.Object(FakeInformers()))
    container.history.override(providers.Object(ScriptedHistory()))
    return container, cache, publisher, annotator


async def test_a_runtime_built_from_the_container_publishes_through_overridden_fakes() -> None:
    container, cache, publisher, annotator = faked_container()
    job = job_view("job-a")
    cache.put_job(job)
    runtime = Runtime(container)
    await runtime.start()

    assert runtime.detection is not None
    runtime.detection.on_pod(pod_view(job, waiting="ImagePullBackOff"))
    await runtime.sweep_now()
    await runtime.stop()

    assert [(f.job_name, f.reason) for f in publisher.published] == [
        ("job-a", ZombieReason.IMAGE_PULL_BACKOFF)]
    assert annotator.annotated == [("job-a", ZombieReason.IMAGE_PULL_BACKOFF)]
    assert runtime.ready() == (True, "ready (leader)")


def test_a_legacy_branch_maps_to_the_topic_prefix() -> None:
    assert kafka_publisher_settings(settings(branch="prod")).topic == (
        "master-agent-task-v1-request")
    assert kafka_publisher_settings(settings(branch="dev")).topic == (
        "develop-agent-task-v1-request")
    assert kafka_publisher_settings(settings(branch="feature-x")).topic == (
        "feature-x-agent-task-v1-request")


def test_an_explicit_topic_prefix_wins_and_an_empty_one_means_unprefixed() -> None:
    assert kafka_publisher_settings(settings(branch="prod", topic_prefix="")).topic == (
        "agent-task-v1-request")
    assert kafka_publisher_settings(settings(topic_prefix="team")).topic == (
        "team-agent-task-v1-request")


def test_the_transactional_id_defaults_to_one_per_namespace() -> None:
    assert kafka_publisher_settings(settings()).transactional_id == "zombiewatch-agents"


def test_sasl_settings_reach_the_publisher_without_the_password_in_its_repr() -> None:
    parsed = parse_settings(
        ["--namespace", "a", "--kafka-brokers", "k:9093",
         "--kafka-security-protocol", "SASL_SSL", "--kafka-sasl-mechanism", "SCRAM-SHA-512",
         "--kafka-sasl-username", "zw"],
        {"KAFKA_SASL_PASSWORD": "hunter2"},
    )

    publisher_settings = kafka_publisher_settings(parsed)

    assert publisher_settings.security_protocol == "SASL_SSL"
    assert publisher_settings.sasl is not None
    assert publisher_settings.sasl.password == "hunter2"
    assert "hunter2" not in repr(publisher_settings)
    assert "hunter2" not in repr(parsed)
