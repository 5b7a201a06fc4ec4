"""The composition root wires the real services; tests swap the I/O for recording fakes."""

from __future__ import annotations

from pathlib import Path

from aiokafka.errors import TransactionalIdAuthorizationFailed
from dependency_injector import providers

from tests.builders import job_view, pod_view
from zombiewatch.adapters.kafka.connection import ClientRole
from zombiewatch.adapters.kafka.publishing import KafkaCommandPublisher
from zombiewatch.app.container import Container, kafka_publisher_settings
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings, parse_settings
from zombiewatch.domain.ports import PublishError, PublishErrorKind
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


class RefusedProducer:
    """A producer the broker refuses at start: the transactional id's ACL is missing."""

    async def start(self) -> None:
        raise TransactionalIdAuthorizationFailed("zombiewatch-agents")

    async def close_now(self) -> None:
        return None


async def test_readyz_says_which_acl_a_leader_without_a_producer_lacks_and_it_is_counted(
) -> None:
    container, _, _, _ = faked_container()
    publisher = KafkaCommandPublisher(
        settings=kafka_publisher_settings(settings()), clock=FakeClock(),
        producer_factory=lambda _: RefusedProducer(),  # type: ignore[arg-type,return-value]
        health=container.kafka_health())
    container.publisher.override(providers.Object(publisher))
    runtime = Runtime(container)
    await runtime.start()

    await publisher.start()  # what the leadership loop does when the term starts
    ready, why = runtime.ready()
    counted = runtime.metrics.registry.get_sample_value(
        "zombiewatch_kafka_errors_total", {"client": "producer", "kind": "unauthorized"})
    await runtime.stop()

    assert not ready
    assert why.startswith("leader without a connected producer: unauthorized: not authorized: "
                          "User:ANONYMOUS needs Write on TransactionalId zombiewatch-agents")
    assert counted is not None
    assert counted >= 1


async def test_readyz_stays_ready_but_says_so_when_the_read_back_was_refused() -> None:
    container, _, _, _ = faked_container()
    runtime = Runtime(container)
    await runtime.start()

    container.kafka_health().failed(ClientRole.HISTORY, PublishError(
        PublishErrorKind.UNAUTHORIZED, "not authorized: User:zw needs Read on Topic t"))
    answer = runtime.ready()
    await runtime.stop()

    assert answer == (True, "ready (leader); the read-back at the start of this term failed: "
                            "unauthorized: not authorized: User:zw needs Read on Topic t")
