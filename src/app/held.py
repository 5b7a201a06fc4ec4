"""What the daemon holds in memory, structure by structure: ``zombiewatch_held_entries``.

Each structure below is keyed by a Job, pod or task and lives as long as the process,
so each must be bounded by what is live, by a window or by a cap; the churn soak
(``benchmarks/soak.py``) reads this gauge and checks each bound (docs/PERFORMANCE.md,
"Churn soak"):

- by the live Jobs and pods: ``attention``, ``grace_timers``, ``pending_detections``,
  ``pending_clears``, ``annotations_owed``, ``annotations_running`` (and the informers'
  stores, ``zombiewatch_informer_objects``);
- by the task feed: ``task_jobs`` (tasks naming a Job), ``absent_jobs`` (of those, the
  Jobs the cluster lacks), ``watchlist`` (failures not confirmed yet, at most the
  confirmation horizon);
- by a window: ``dedupe`` and ``ledger`` (failures and clears within the dedupe TTL),
  ``heartbeats`` (pod transitions within the liveness window), ``event_series`` and
  ``event_buckets`` (Jobs with an Event within the correlation window or still refilling);
- by a cap: ``task_shared_states`` and ``container_views`` (4,096 each), ``registrations``
  and ``results`` (the embedding host's, 100,000 each).
"""

from __future__ import annotations

from zombiewatch.adapters.kubernetes.translation import shared_container_views
from zombiewatch.app.annotations import Annotations
from zombiewatch.app.delivery import Delivery
from zombiewatch.app.detection import DetectionService
from zombiewatch.app.metrics import HeldCollector, Metrics
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.sweeping import Sweeper
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.attention import AttentionIndex
from zombiewatch.domain.confirmation import Watchlist
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.job_events import EventCorrelator
from zombiewatch.domain.tasks import TaskStates


class Holdings:
    """Counts the entries of every long-lived structure; registers the gauge on build."""

    def __init__(
        self, *, metrics: Metrics, attention: AttentionIndex, book: InFlightBook,
        dedupe: RecentFailures, detection: DetectionService, reporter: Reporter,
        delivery: Delivery, annotations: Annotations, sweeper: Sweeper, watchlist: Watchlist,
        tasks: TaskStates, correlator: EventCorrelator,
    ) -> None:
        self._attention = attention
        self._book = book
        self._dedupe = dedupe
        self._detection = detection
        self._reporter = reporter
        self._delivery = delivery
        self._annotations = annotations
        self._sweeper = sweeper
        self._watchlist = watchlist
        self._tasks = tasks
        self._correlator = correlator
        metrics.registry.register(HeldCollector(self.counts))

    def counts(self) -> list[tuple[str, int]]:
        """``(structure, entries)`` for each structure, in a fixed order."""
        registrations, heartbeats, results = self._book.sizes()
        detections, clears = self._reporter.queued
        owed, running = self._annotations.held
        series, buckets = self._correlator.sizes
        return [
            ("attention", len(self._attention)),
            ("grace_timers", self._detection.grace_timers),
            ("pending_detections", detections),
            ("pending_clears", clears),
            ("annotations_owed", owed),
            ("annotations_running", running),
            ("dedupe", len(self._dedupe)),
            ("ledger", self._delivery.ledger_entries),
            ("heartbeats", heartbeats),
            ("registrations", registrations),
            ("results", results),
            ("absent_jobs", self._sweeper.absent_jobs),
            ("task_jobs", len(self._tasks.jobs_in_flight())),
            ("watchlist", len(self._watchlist)),
            ("task_shared_states", self._tasks.shared_states),
            ("event_series", series),
            ("event_buckets", buckets),
            ("container_views", shared_container_views()),
        ]
