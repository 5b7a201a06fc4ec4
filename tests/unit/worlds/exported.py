"""The daemon's whole registry as ``/metrics`` renders it: the production Container with
its real collectors (informers, task feed, confirmation, held entries, process, Python,
build info), built but not started; nothing in it reaches a cluster or a broker (``test_ops_kit``,
``test_metrics_docs``)."""

from __future__ import annotations

import re

from dependency_injector import providers
from prometheus_client.metrics import MetricWrapperBase

from zombiewatch.app.container import Container
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.shadow import ShadowMetrics
from zombiewatch.testing.containers import NoApiClient, unit_settings

TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)


def _no_api_client() -> object:
    raise AssertionError("the registry's world must not build an API client")


def daemon_metrics() -> Metrics:
    """The registry of a daemon with every part that registers a collector (the informers,
    the task feed and its confirmer), every labelled instrument used once so that it shows
    samples too (the feed's skipped-event counter is labelled by its ``why``). Shadow mode's
    instruments are added to the same registry: ``--shadow`` registers them, and the README
    lists every series either mode exports."""
    container = Container()
    container.settings.override(unit_settings())
    container.api_client_factory.override(providers.Object(_no_api_client))
    container.api_client.override(providers.Object(NoApiClient()))
    container.informers()
    container.confirmer()
    container.holdings()
    feed = container.task_feed().feed
    assert feed is not None, "the unit settings follow the task feed"
    feed.stats.malformed["not_json"] += 1
    metrics: Metrics = container.metrics()
    ShadowMetrics(metrics)
    for collector in list(metrics.registry._collector_to_names):
        if isinstance(collector, MetricWrapperBase) and collector._labelnames:
            collector.labels(*("x" for _ in collector._labelnames))
    return metrics


def exported_series(metrics: Metrics) -> dict[str, str]:
    """Each series family ``/metrics`` declares (its ``# TYPE`` lines): name -> type, with
    the names a query uses (``_total`` for counters, ``_info`` for infos)."""
    return dict(TYPE_LINE.findall(metrics.render().decode()))


def sample_names(metrics: Metrics) -> set[str]:
    """Every sample name the registry exposes (``_total``, ``_bucket``, ``_created``, ...)."""
    return {sample.name for family in metrics.registry.collect() for sample in family.samples}
