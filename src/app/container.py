"""The composition root: the only module that imports dependency_injector.

Providers are named after what they give. I/O resources (API client, Kafka
publisher, leader election, informers, HTTP server) are ``providers.Resource``
over context managers, initialised inside the running loop by
:class:`zombiewatch.app.runtime.Runtime` in a fixed order and shut down in the
reverse one. Tests override providers with recording fakes
(``container.publisher.override(providers.Object(fake))``).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

from dependency_injector import containers, providers

from zombiewatch.adapters.clock import SystemClock
from zombiewatch.adapters.kafka.connection import ClientRole, KafkaHealth
from zombiewatch.adapters.kafka.history import KafkaFailureHistory
from zombiewatch.adapters.kafka.publishing import open_publisher
from zombiewatch.adapters.kafka.settings import (
    KafkaPublisherSettings,
    SaslMechanism,
    SaslSettings,
    TlsSettings,
    transactional_id_for,
)
from zombiewatch.adapters.kafka.topics import prefix_for_branch, request_topic
from zombiewatch.adapters.kubernetes.annotating import KubernetesJobAnnotator
from zombiewatch.adapters.kubernetes.cache import ClusterStateCache
from zombiewatch.adapters.kubernetes.client import ApiClientFactory, api_client_factory
from zombiewatch.adapters.kubernetes.cluster import ClusterInformers, build_cluster_informers
from zombiewatch.adapters.kubernetes.informer import Change, InformerSettings, WatchEvent
from zombiewatch.adapters.kubernetes.leader import LeaderElectionSettings, LeaderElector
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.app.attention import AttentionIndex
from zombiewatch.app.detection import DetectionService
from zombiewatch.app.http import OpsServer
from zombiewatch.app.leadership import AlwaysLeader
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import InformerCollector, InformerReading, Metrics
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.settings import KafkaOptions, Settings
from zombiewatch.app.sweeping import Sweeper
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.ports import CommandPublisher, LeaderStatus, PublishError
from zombiewatch.domain.views import JobView, PodView

log = logging.getLogger(__name__)


def kafka_publisher_settings(settings: Settings) -> KafkaPublisherSettings:
    """The daemon's Kafka options as the adapter's settings (topic, transactional id, TLS, SASL)."""
    kafka: KafkaOptions = settings.kafka
    if kafka.topic_prefix is not None:
        prefix = kafka.topic_prefix
    else:
        prefix = prefix_for_branch(kafka.branch or "")
    tls = None
    if kafka.security_protocol.uses_tls:
        tls = TlsSettings(
            ca_file=str(kafka.ca_file) if kafka.ca_file else None,
            cert_file=str(kafka.cert_file) if kafka.cert_file else None,
            key_file=str(kafka.key_file) if kafka.key_file else None,
        )
    sasl = None
    if kafka.security_protocol.uses_sasl:
        sasl = SaslSettings(
            mechanism=kafka.sasl_mechanism or SaslMechanism.PLAIN,
            username=kafka.sasl_username or "",
            password=kafka.sasl_password or "",
        )
    return KafkaPublisherSettings(
        bootstrap_servers=kafka.brokers,
        topic=request_topic(prefix),
        transactional_id=kafka.transactional_id or transactional_id_for(settings.namespace),
        publish_timeout=kafka.publish_timeout_seconds,
        tls=tls,
        sasl=sasl,
    )


def make_kafka_health(metrics: Metrics) -> KafkaHealth:
    """The Kafka clients' problems, counted in ``zombiewatch_kafka_errors_total``."""

    def count(role: ClientRole, error: PublishError) -> None:
        metrics.kafka_errors.labels(client=role.value, kind=error.kind.value).inc()

    return KafkaHealth(on_error=count)


def make_api_client_factory(settings: Settings) -> ApiClientFactory:
    return api_client_factory(str(settings.kubeconfig) if settings.kubeconfig else None)


@contextlib.contextmanager
def open_api_client(factory: ApiClientFactory) -> Iterator[object]:
    """One shared ApiClient (elector, annotator), closed on shutdown."""
    client = factory()
    try:
        yield client
    finally:
        client.close()


@contextlib.asynccontextmanager
async def lead_or_follow(
    settings: Settings, api_client: object, metrics: Metrics
) -> AsyncIterator[LeaderStatus]:
    """Leader election on a Lease, or always-leader when disabled (single replica, embedded)."""
    if not settings.leader.enabled:
        metrics.leader.set(1)
        yield AlwaysLeader()
        return
    options = settings.leader
    elector = LeaderElector(
        api_client,
        LeaderElectionSettings(
            lease_name=options.lease_name,
            namespace=settings.namespace,
            identity=f"{options.identity}-{secrets.token_hex(3)}",
            lease_duration=options.lease_duration_seconds,
            renew_deadline=options.renew_deadline_seconds,
            retry_period=options.retry_period_seconds,
        ),
        on_started_leading=lambda: metrics.leader.set(1),
        on_stopped_leading=lambda: metrics.leader.set(0),
    )
    await elector.start()
    try:
        yield elector
    finally:
        await elector.stop()


@contextlib.asynccontextmanager
async def watching(
    settings: Settings,
    factory: ApiClientFactory,
    cache: ClusterStateCache,
    detection: DetectionService,
    metrics: Metrics,
) -> AsyncIterator[ClusterInformers]:
    """The Job, Pod and Config informers feeding the cache and the detection service."""

    async def on_pod(event: WatchEvent[PodView]) -> None:
        if event.change is Change.DELETED:
            detection.on_pod_deleted(event.view)
        else:
            # A transition of a known pod is proof of life; the first sight is not
            # (after a restart every pod is "added" by the initial list).
            changed = event.previous is not None and event.previous != event.view
            detection.on_pod(event.view, changed=changed)

    async def on_job(event: WatchEvent[JobView]) -> None:
        if event.change is not Change.DELETED:
            detection.on_job(event.view)

    def on_problem(skipped: Skipped) -> None:
        log_event(log, logging.DEBUG, "object_skipped", kind=skipped.kind,
                  namespace=skipped.namespace, name=skipped.name, reason=skipped.reason)

    informers = build_cluster_informers(
        api_client_factory=factory, namespace=settings.namespace, cache=cache,
        on_job_event=on_job, on_pod_event=on_pod, on_problem=on_problem,
        settings=InformerSettings(resync_period=settings.resync_seconds),
    )
    metrics.registry.register(InformerCollector(lambda: [
        InformerReading(name=i.name, synced=i.synced, relists=i.stats.relists,
                        problems=i.stats.problems, reconnects=i.stats.reconnects,
                        events=i.stats.events)
        for i in informers.all
    ]))
    await informers.start()
    try:
        yield informers
    finally:
        await informers.stop()


class Container(containers.DeclarativeContainer):
    """Everything the daemon and the embedding facade are made of."""

    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(Metrics)
    cache = providers.Singleton(ClusterStateCache)
    book = providers.Singleton(InFlightBook)
    dedupe = providers.Singleton(RecentFailures)
    grace = providers.Callable(lambda s: timedelta(seconds=s.grace_seconds), settings)
    attention = providers.Singleton(AttentionIndex, grace=grace)

    api_client_factory = providers.Singleton(make_api_client_factory, settings)
    api_client = providers.Resource(open_api_client, api_client_factory)

    kafka_settings = providers.Singleton(kafka_publisher_settings, settings)
    kafka_health = providers.Singleton(make_kafka_health, metrics)
    # Not connected here: only the leader connects (Runtime), see open_publisher.
    publisher: providers.Provider[CommandPublisher] = providers.Resource(
        open_publisher, kafka_settings, clock=clock, health=kafka_health)

    leader: providers.Provider[LeaderStatus] = providers.Resource(
        lead_or_follow, settings, api_client, metrics)
    annotator = providers.Singleton(KubernetesJobAnnotator, api_client)

    history = providers.Singleton(KafkaFailureHistory, kafka_settings, health=kafka_health)
    reporter = providers.Singleton(
        Reporter, publisher=publisher, annotator=annotator, cache=cache, leader=leader,
        clock=clock, dedupe=dedupe, book=book, metrics=metrics,
        namespace=settings.provided.namespace, history=history,
    )
    detection = providers.Singleton(
        DetectionService, cache=cache, reporter=reporter, book=book, clock=clock, grace=grace,
        attention=attention)
    informers = providers.Resource(
        watching, settings, api_client_factory, cache, detection, metrics)
    sweeper = providers.Singleton(
        Sweeper, cache=cache, book=book, reporter=reporter, clock=clock, metrics=metrics,
        grace=grace, attention=attention)

    ops_server = providers.Factory(
        OpsServer, host=settings.provided.listen_host, port=settings.provided.listen_port,
        metrics=metrics.provided.render)
