"""The composition root: it wires, it does not decide (the informers' handlers are the
detection service's and the sweeper's own methods). The one product module that imports
dependency_injector (the test kit's ``containers.py`` and ``stateful.py`` do too).

Providers are named after what they give. Every component is built unstarted;
the ones with I/O (the shared API client, leader election, the Kafka publisher,
the informers, the HTTP server) say themselves how to start and stop (the
``Lifecycle`` port) and :class:`zombiewatch.app.runtime.Runtime` runs them in
order inside the running loop, stopping them in reverse. Tests override
providers with recording fakes (``container.publisher.override(providers.Object(fake))``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from dependency_injector import containers, providers

from zombiewatch.adapters.clock import SystemClock
from zombiewatch.adapters.kafka.connection import ClientRole, KafkaHealth
from zombiewatch.adapters.kafka.history import KafkaFailureHistory
from zombiewatch.adapters.kafka.publishing import KafkaCommandPublisher
from zombiewatch.adapters.kubernetes.annotating import KubernetesJobAnnotator
from zombiewatch.adapters.kubernetes.cache import ClusterStateCache
from zombiewatch.adapters.kubernetes.client import ApiClient, ApiClientFactory, api_client_factory
from zombiewatch.adapters.kubernetes.cluster import ClusterInformers, build_cluster_informers
from zombiewatch.adapters.kubernetes.event_lookup import KubernetesEventLookup
from zombiewatch.adapters.kubernetes.events import KubernetesEventRecorder
from zombiewatch.adapters.kubernetes.job_reaper import KubernetesJobReaper
from zombiewatch.adapters.kubernetes.leader import LeaderElectionSettings, LeaderElector
from zombiewatch.adapters.kubernetes.watching import InformerSettings
from zombiewatch.app.annotations import Annotations
from zombiewatch.app.confirming import NoConfirmation, open_confirmer
from zombiewatch.app.delivery import Delivery
from zombiewatch.app.detection import DetectionService, call_later, log_skipped
from zombiewatch.app.evidence import EventEvidence
from zombiewatch.app.feedpart import TaskFeedPart, TaskView
from zombiewatch.app.held import Holdings
from zombiewatch.app.http import OpsServer
from zombiewatch.app.job_events import JobEvents
from zombiewatch.app.judging import Judge
from zombiewatch.app.leadership import AlwaysLeader, Leadership
from zombiewatch.app.metrics import InformerCollector, InformerReading, Metrics
from zombiewatch.app.reaper import Reaper
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.settings import Settings, kafka_client_settings
from zombiewatch.app.shadow import (
    NullAnnotator,
    NullEventRecorder,
    ShadowComparer,
    VerdictRecorder,
)
from zombiewatch.app.storm import StormWatch
from zombiewatch.app.sweeping import Sweeper, pause_until
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.attention import AttentionIndex
from zombiewatch.domain.confirmation import Watchlist
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.job_events import EventCorrelator
from zombiewatch.domain.ports import BrokerError, Clock
from zombiewatch.domain.tasks import TaskStates


def make_kafka_health(metrics: Metrics) -> KafkaHealth:
    """The Kafka clients' problems, counted in ``zombiewatch_kafka_errors_total``."""

    def count(role: ClientRole, error: BrokerError) -> None:
        metrics.kafka_errors.labels(client=role.value, kind=error.kind.value).inc()

    return KafkaHealth(on_error=count)


def make_api_client_factory(settings: Settings) -> ApiClientFactory:
    return api_client_factory(str(settings.kubeconfig) if settings.kubeconfig else None,
                              settings.context)


class SharedApiClient:
    """The ApiClient the elector and the annotator share, as a ``Lifecycle``: closed on stop."""

    def __init__(self, factory: ApiClientFactory) -> None:
        self.client: ApiClient = factory()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.client.close()


def make_event_recorder(
    settings: Settings, api_client: SharedApiClient, clock: Clock, metrics: Metrics,
    correlator: EventCorrelator,
) -> KubernetesEventRecorder:
    """Events on Jobs, written off the report path; drops and failures counted."""
    return KubernetesEventRecorder(
        api_client.client, clock=clock, instance=settings.leader.identity, correlator=correlator,
        on_dropped=lambda why: metrics.events_dropped.labels(why=why).inc(),
        on_error=lambda kind: metrics.event_errors.labels(kind=kind).inc())


def make_leader(settings: Settings, api_client: SharedApiClient, metrics: Metrics) -> Leadership:
    """Leader election on a Lease, or always-leader when disabled (single replica, embedded)
    or in shadow mode (each shadow replica compares on its own and never takes the Lease
    from a publishing zombiewatch)."""
    if not settings.leader.enabled or settings.shadow:
        metrics.leader.set(1)
        return AlwaysLeader()
    options = settings.leader
    return LeaderElector(
        api_client.client,
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


def make_informers(
    *,
    settings: Settings,
    factory: ApiClientFactory,
    cache: ClusterStateCache,
    detection: DetectionService,
    metrics: Metrics,
    sweeper: Sweeper,
) -> ClusterInformers:
    """The Job, Pod and Config informers feeding the cache, the detection service and the
    sweeper (a Config event asks for a sweep), with their counters."""
    detection.defer_until_listed()  # these informers say when their lists are in
    informers = build_cluster_informers(
        api_client_factory=factory, namespace=settings.namespace, cache=cache,
        on_job_event=detection.job_event, on_pod_event=detection.pod_event,
        on_listed=detection.listed,
        on_config_event=sweeper.config_event, on_problem=log_skipped,
        settings=InformerSettings(relist_period=settings.relist_seconds),
    )
    metrics.registry.register(InformerCollector(lambda: [
        InformerReading(name=i.name, synced=i.synced, relists=i.stats.relists,
                        problems=i.stats.problems, reconnects=i.stats.reconnects,
                        events=i.stats.events, errors=i.stats.errors,
                        objects=len(i.store), index_keys=i.store.index_keys)
        for i in informers.all
    ]))
    return informers


class Container(containers.DeclarativeContainer):
    """Everything the daemon and the embedding facade are made of."""

    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(Metrics)
    cache = providers.Singleton(ClusterStateCache)
    book = providers.Singleton(InFlightBook)
    dedupe = providers.Singleton(RecentFailures)
    grace = providers.Callable(lambda s: timedelta(seconds=s.grace_seconds), settings)
    liveness_window = providers.Callable(
        lambda s: timedelta(seconds=s.liveness_window_seconds), settings)
    init_bound = providers.Callable(lambda s: timedelta(seconds=s.init_bound_seconds), settings)
    attention = providers.Singleton(AttentionIndex, grace=grace, init_bound=init_bound)

    api_client_factory = providers.Singleton(make_api_client_factory, settings)
    api_client = providers.Singleton(SharedApiClient, api_client_factory)

    kafka_settings = providers.Singleton(kafka_client_settings, settings)
    kafka_health = providers.Singleton(make_kafka_health, metrics)
    mode = providers.Callable(lambda s: "shadow" if s.shadow else "live", settings)
    """``shadow`` (``--shadow``) or ``live``: which parts the selectors below wire."""
    # Shadow mode: what would be published is recorded, nothing is sent (app/shadow.py).
    recorder = providers.Singleton(VerdictRecorder)
    # Not connected here: only the leader connects (Runtime, on each new term).
    publisher = providers.Selector(
        mode,
        live=providers.Singleton(KafkaCommandPublisher, settings=kafka_settings, clock=clock,
                                health=kafka_health),
        shadow=recorder)

    leader = providers.Singleton(make_leader, settings, api_client, metrics)
    annotator = providers.Selector(
        mode,
        live=providers.Singleton(KubernetesJobAnnotator, api_client.provided.client),
        shadow=providers.Singleton(NullAnnotator))

    correlator = providers.Singleton(EventCorrelator)
    event_recorder = providers.Selector(
        mode,
        live=providers.Singleton(make_event_recorder, settings, api_client, clock, metrics,
                                 correlator),
        shadow=providers.Singleton(NullEventRecorder))  # a shadow daemon says nothing on Jobs
    events = providers.Singleton(JobEvents, recorder=event_recorder, cache=cache)

    history = providers.Singleton(KafkaFailureHistory, kafka_settings, health=kafka_health)
    job_reaper = providers.Singleton(KubernetesJobReaper, api_client.provided.client)
    reaper = providers.Singleton(
        Reaper, reaper=job_reaper, cache=cache, clock=clock, metrics=metrics,
        namespace=settings.provided.namespace, events=events,
        enabled=providers.Callable(lambda s: s.reap and not s.shadow, settings))
    annotations = providers.Singleton(
        Annotations, annotator=annotator, metrics=metrics, namespace=settings.provided.namespace,
        on_annotated=reaper.provided.annotated)
    # The controller's task event topic (every replica follows it, leader or not).
    task_states = providers.Singleton(TaskStates)
    task_feed = providers.Singleton(
        TaskFeedPart, settings, kafka_settings, task_states, metrics, kafka_health)
    task_view = providers.Singleton(TaskView, task_states, task_feed.provided.feed)
    judge = providers.Singleton(
        Judge, cache=cache, book=book, dedupe=dedupe, grace=grace, annotations=annotations,
        tasks=task_view, liveness_window=liveness_window, init_bound=init_bound)
    watchlist = providers.Singleton(Watchlist)
    confirmer = providers.Selector(
        mode,
        live=providers.Singleton(
            open_confirmer, feed=task_feed.provided.feed, publisher=publisher, tasks=task_view,
            leader=leader, clock=clock, metrics=metrics, policy=settings.provided.repair_policy,
            events=events, watchlist=watchlist),
        shadow=providers.Singleton(NoConfirmation))  # nothing published: nothing to confirm
    delivery = providers.Singleton(
        Delivery, publisher=publisher, history=history, leader=leader, annotations=annotations,
        cache=cache, dedupe=dedupe, confirmation=confirmer, metrics=metrics, events=events)

    # The never-started verdicts' Events, read once per verdict (shadow mode too: a read).
    event_lookup = providers.Singleton(KubernetesEventLookup, api_client.provided.client)
    evidence = providers.Singleton(EventEvidence, lookup=event_lookup)
    storm = providers.Singleton(
        StormWatch, policy=settings.provided.storm_policy, judge=judge, clock=clock,
        metrics=metrics, events=events)
    reporter = providers.Singleton(
        Reporter, judge=judge, delivery=delivery, confirmation=confirmer, clock=clock,
        metrics=metrics, storm=storm, evidence=evidence)
    scheduler = providers.Object(call_later)
    detection = providers.Singleton(
        DetectionService, cache=cache, judge=judge, sink=reporter, book=book, clock=clock,
        attention=attention, schedule=scheduler)
    pause = providers.Object(pause_until)
    sweeper = providers.Singleton(
        Sweeper, cache=cache, book=book, judge=judge, sink=reporter, dedupe=dedupe, clock=clock,
        metrics=metrics, attention=attention, pause=pause, annotations=annotations,
        tasks=task_view, vault=settings.provided.vault)
    informers = providers.Singleton(
        make_informers, settings=settings, factory=api_client_factory, cache=cache,
        detection=detection, metrics=metrics, sweeper=sweeper)

    holdings = providers.Singleton(
        Holdings, metrics=metrics, attention=attention, book=book, dedupe=dedupe,
        detection=detection, reporter=reporter, delivery=delivery, annotations=annotations,
        sweeper=sweeper, watchlist=watchlist, tasks=task_states, correlator=correlator)
    """``zombiewatch_held_entries``: registered when built (the runtime builds it)."""

    shadow = providers.Selector(
        mode,
        live=providers.Object(None),
        shadow=providers.Singleton(ShadowComparer, verdicts=recorder, source=history,
                                   clock=clock, metrics=metrics,
                                   held=storm.provided.incident_of))
    """The comparison with the executor in shadow mode, else None."""

    ops_server = providers.Factory(
        OpsServer, host=settings.provided.listen_host, port=settings.provided.listen_port,
        metrics=metrics.provided.render)
