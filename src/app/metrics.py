"""Prometheus metrics of SPEC §10, in a registry of their own.

A registry per instance (not the global default) lets tests and embedding
hosts create several daemons in one process without name clashes. The
standard process and Python collectors (``process_*``, ``python_*``) and
``zombiewatch_build_info`` are registered on it too: the default registry
would carry them, a custom one only has what is put there.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from zombiewatch import __version__

NO_CAUSE = "none"
"""The ``cause`` label of a failure without a shared cause (a crash, an OOM kill...).
The label is the cause's kind only, never its subject (an image, a Secret, a node):
subjects are open-ended, kinds a closed set of six, so the series stay bounded."""


class Metrics:
    """All the daemon's instruments; the app updates them, ``/metrics`` renders them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.build_info = Info(
            "zombiewatch_build", "The running build: zombiewatch's and Python's versions.",
            registry=r)
        self.build_info.info({
            "version": __version__,
            "python_version": platform.python_version(),
            "python_implementation": platform.python_implementation(),
        })
        self.failures_published = Counter(
            "zombiewatch_failures_published", "Failures published, by reason, path and the "
            "kind of their shared cause (image/object/node/scheduling/..., none).",
            ["reason", "path", "cause"], registry=r)
        self.success_clears = Counter(
            "zombiewatch_success_clears",
            "Success clears committed (current_job freed after its Job completed).",
            registry=r)
        self.dedupe_hits = Counter(
            "zombiewatch_dedupe_hits", "Failures suppressed as already reported, by layer.",
            ["layer"], registry=r)
        self.publish_errors = Counter(
            "zombiewatch_publish_errors", "Publish attempts that failed, by error kind.",
            ["kind"], registry=r)
        self.kafka_errors = Counter(
            "zombiewatch_kafka_errors",
            "Failed Kafka operations, by client (producer: connect and publish; history: "
            "the read-back; feed: the task event topic) and error kind.", ["client", "kind"],
            registry=r)
        self.annotate_errors = Counter(
            "zombiewatch_annotate_errors", "Job annotation patches that failed, by error kind.",
            ["kind"], registry=r)
        self.jobs_reaped = Counter(
            "zombiewatch_jobs_reaped", "Reported Jobs whose deadline was shortened to stop "
            "their pods.", registry=r)
        self.reap_errors = Counter(
            "zombiewatch_reap_errors", "Reap patches that failed, by error kind.", ["kind"],
            registry=r)
        self.events_dropped = Counter(
            "zombiewatch_events_dropped", "Kubernetes Events on Jobs not written, by why "
            "(rate_limited/queue_full).", ["why"], registry=r)
        self.event_errors = Counter(
            "zombiewatch_event_errors", "Kubernetes Event writes that failed, by error kind.",
            ["kind"], registry=r)
        self.sweep_duration = Histogram(
            "zombiewatch_sweep_duration_seconds", "Duration of one sweep over in-flight Jobs.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)
        self.sweep_interval = Gauge(
            "zombiewatch_sweep_interval_seconds",
            "The sweeper interval in force (the smallest zombieSweeperIntervalSeconds).",
            registry=r)
        self.in_flight_jobs = Gauge(
            "zombiewatch_in_flight_jobs", "In-flight Jobs judged by the last sweep.", registry=r)
        self.leader = Gauge(
            "zombiewatch_leader", "1 while this instance holds the Lease.", registry=r)
        self.detection_latency = Histogram(
            "zombiewatch_detection_latency_seconds",
            "From observing a failure state to the failure committed, by path.", ["path"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r)
        self.storm_incidents_open = Gauge(
            "zombiewatch_storm_incidents_open",
            "Storm incidents open now: causes shared by enough zombies that their failures "
            "are held.", registry=r)
        self.storm_held_jobs = Gauge(
            "zombiewatch_storm_held_jobs",
            "Zombies whose failure the storm guard holds now (gathering or in an incident).",
            registry=r)
        self.storm_incidents = Counter(
            "zombiewatch_storm_incidents",
            "Storm incidents opened, by the kind of their cause (image, object, node, "
            "scheduling, admission, sandbox).", ["cause_kind"], registry=r)
        self.storm_jobs = Counter(
            "zombiewatch_storm_jobs",
            "Held zombies the storm guard let go, by outcome (released: to the publish path; "
            "recovered: got past the failing step, nothing published; dropped: settled "
            "otherwise).", ["outcome"], registry=r)
        self.invalid_configs = Counter(
            "zombiewatch_invalid_configs", "Config values rejected and replaced by defaults.",
            ["field"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class InformerReading:
    """One informer's state at scrape time."""

    name: str
    synced: bool
    relists: int
    problems: int
    reconnects: int
    events: int
    errors: int
    objects: int
    """Objects its store holds."""
    index_keys: int
    """Keys of its store's index (the pods' Jobs); 0 without one."""


class InformerCollector(Collector):
    """Reads the informers' own counters at scrape time (they are written by their threads)."""

    def __init__(self, informers: Callable[[], Iterable[InformerReading]]) -> None:
        self._informers = informers

    def collect(self) -> Iterator[Metric]:
        synced = GaugeMetricFamily(
            "zombiewatch_informer_synced", "1 once the informer completed its first list.",
            labels=["kind"])
        objects = GaugeMetricFamily(
            "zombiewatch_informer_objects", "Objects the informer's store holds.",
            labels=["kind"])
        index_keys = GaugeMetricFamily(
            "zombiewatch_informer_index_keys",
            "Keys of the informer's store index (pods: by their Job's name).", labels=["kind"])
        counters = {
            name: CounterMetricFamily(f"zombiewatch_informer_{name}", text, labels=["kind"])
            for name, text in (
                ("relists", "Lists after the first one (410 Gone or periodic)."),
                ("problems", "Malformed API objects skipped."),
                ("reconnects", "Transport errors followed by a backoff and a new attempt."),
                ("events", "Watch events received."),
                ("errors", "Unexpected errors, logged with their traceback and retried."),
            )
        }
        for informer in self._informers():
            synced.add_metric([informer.name], 1.0 if informer.synced else 0.0)
            objects.add_metric([informer.name], float(informer.objects))
            index_keys.add_metric([informer.name], float(informer.index_keys))
            for name, family in counters.items():
                family.add_metric([informer.name], float(getattr(informer, name)))
        yield synced
        yield objects
        yield index_keys
        yield from counters.values()

    def describe(self) -> Iterator[Metric]:
        return iter(())


class HeldCollector(Collector):
    """``zombiewatch_held_entries{structure}``: the entries each in-memory structure of the
    daemon holds, read at scrape time (the soak benchmark's proof that none grows without
    bound; an operator's first look when the process grows)."""

    def __init__(self, held: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self._held = held

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "zombiewatch_held_entries",
            "Entries held in memory, by structure (a closed set; see README).",
            labels=["structure"])
        for structure, count in self._held():
            family.add_metric([structure], float(count))
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())
