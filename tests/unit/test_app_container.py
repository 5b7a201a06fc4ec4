"""The composition root wires the real services; tests swap the I/O for recording fakes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiokafka.errors import TransactionalIdAuthorizationFailed
from dependency_injector import providers

from tests.builders import job_view, pod_view
from zombiewatch.adapters.kafka.connection import ClientRole
from zombiewatch.adapters.kafka.publishing import KafkaCommandPublisher
from zombiewatch.app.errors import StartFailedError
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import (
    KafkaOptions,
    Settings,
    kafka_client_settings,
    parse_settings,
)
from zombiewatch.domain.ports import BrokerErrorKind, ReadError, StartError
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.testing.containers import Fakes, faked_container, unit_settings
from zombiewatch.testing.fakes import FakeClock, FakeLeader


def settings(*, branch: str | None = None, topic_prefix: str | None = None) -> Settings:
    return unit_settings(
        kafka=KafkaOptions(brokers="127.0.0.1:9", branch=branch, topic_prefix=topic_prefix))


async def test_a_runtime_built_from_the_container_publishes_through_overridden_fakes() -> None:
    fakes = Fakes()
    job = job_view("job-a")
    fakes.cache.put_job(job)
    runtime = Runtime(faked_container(fakes))
    await runtime.start()

    pod = pod_view(job, waiting="ImagePullBackOff")
    fakes.cache.put_pod(pod)
    runtime.detection.on_pod(pod)
    await runtime.sweep_now()
    await fakes.publisher.connected.wait()  # the leadership task connected it
    ready = runtime.ready()
    await runtime.stop()

    assert [(f.job_name, f.reason) for f in fakes.publisher.published] == [
        ("job-a", ZombieReason.IMAGE_PULL_BACKOFF)]
    assert fakes.annotator.annotated == [("job-a", ZombieReason.IMAGE_PULL_BACKOFF)]
    assert ready == (True, "ready (leader); task feed: off (cluster only)")
    assert fakes.publisher.starts == 1
    assert not fakes.publisher.started  # closed on stop


async def test_a_new_leadership_term_connects_the_publisher_and_sweeps_at_once() -> None:
    fakes = Fakes(leader=FakeLeader(leading=False))
    runtime = Runtime(faked_container(fakes))
    await runtime.start()
    await fakes.pause.reached.wait()  # the first sweep, as a follower
    assert runtime.ready() == (True, "ready (follower); task feed: off (cluster only)")

    fakes.leader.set_leading(True)
    await fakes.pause.next_tick()  # the requested sweep of the new term
    await fakes.publisher.connected.wait()
    await runtime.stop()

    assert fakes.publisher.starts == 1
    assert runtime.sweeper.ticks == 2


class RefusingLeader(FakeLeader):
    async def start(self) -> None:
        raise StartError("leader", "no RBAC for leases (fake)")


@dataclass
class RecordingApiClient:
    client: None = None
    stopped: bool = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True


async def test_a_part_that_cannot_start_undoes_the_parts_already_started() -> None:
    fakes = Fakes(leader=RefusingLeader())
    container = faked_container(fakes)
    api_client = RecordingApiClient()
    container.api_client.override(providers.Object(api_client))
    runtime = Runtime(container)

    with pytest.raises(StartFailedError, match="leader: no RBAC"):
        await runtime.start()

    assert api_client.stopped
    assert fakes.publisher.starts == 0


def test_a_legacy_branch_maps_to_the_topic_prefix() -> None:
    assert kafka_client_settings(settings(branch="prod")).topic == (
        "master-agent-task-v1-request")
    assert kafka_client_settings(settings(branch="dev")).topic == (
        "develop-agent-task-v1-request")
    assert kafka_client_settings(settings(branch="feature-x")).topic == (
        "feature-x-agent-task-v1-request")


def test_an_explicit_topic_prefix_wins_and_an_empty_one_means_unprefixed() -> None:
    assert kafka_client_settings(settings(branch="prod", topic_prefix="")).topic == (
        "agent-task-v1-request")
    assert kafka_client_settings(settings(topic_prefix="team")).topic == (
        "team-agent-task-v1-request")


def test_the_transactional_id_defaults_to_one_per_namespace() -> None:
    assert kafka_client_settings(settings()).transactional_id == "zombiewatch-agents"


def test_sasl_settings_reach_the_publisher_without_the_password_in_its_repr() -> None:
    parsed = parse_settings(
        ["--namespace", "a", "--kafka-brokers", "k:9093",
         "--kafka-security-protocol", "SASL_SSL", "--kafka-sasl-mechanism", "SCRAM-SHA-512",
         "--kafka-sasl-username", "zw"],
        {"KAFKA_SASL_PASSWORD": "hunter2"},
    )

    publisher_settings = kafka_client_settings(parsed)

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
    container = faked_container(Fakes())
    publisher = KafkaCommandPublisher(
        settings=kafka_client_settings(settings()), clock=FakeClock(),
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
    fakes = Fakes()
    container = faked_container(fakes)
    runtime = Runtime(container)
    await runtime.start()
    await fakes.publisher.connected.wait()  # the leadership task connected it

    container.kafka_health().failed(ClientRole.HISTORY, ReadError(
        BrokerErrorKind.UNAUTHORIZED, "not authorized: User:zw needs Read on Topic t"))
    answer = runtime.ready()
    await runtime.stop()

    assert answer == (True, "ready (leader); the read-back at the start of this term failed: "
                            "unauthorized: not authorized: User:zw needs Read on Topic t; "
                            "task feed: off (cluster only)")


def test_the_consumer_isolation_reaches_the_ledger_reader() -> None:
    parsed = parse_settings(["--namespace", "a", "--kafka-brokers", "k:9092",
                             "--consumer-isolation", "read_committed"], {})
    assert kafka_client_settings(parsed).consumer_isolation.value == "read_committed"
    default = parse_settings(["--namespace", "a", "--kafka-brokers", "k:9092"], {})
    assert kafka_client_settings(default).consumer_isolation.value == "read_uncommitted"
