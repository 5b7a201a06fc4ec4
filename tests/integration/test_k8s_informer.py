"""Informers, cache, annotator and Config CRD against the real kube-apiserver."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from returns.result import Failure, Success

from harness import kubelet
from harness.services import Services
from harness.support import apply_config_crd
from harness.waiting import WAIT, wait_until
from zombiewatch.adapters.kubernetes.annotating import KubernetesJobAnnotator
from zombiewatch.adapters.kubernetes.backoff import BackoffSettings
from zombiewatch.adapters.kubernetes.client import ApiClient, api_client_factory
from zombiewatch.adapters.kubernetes.cluster import ClusterInformers, build_cluster_informers
from zombiewatch.adapters.kubernetes.decoding import POD
from zombiewatch.adapters.kubernetes.informer import Informer
from zombiewatch.adapters.kubernetes.resources import RawResponse, ResourceCalls, pod_calls
from zombiewatch.adapters.kubernetes.store import Change, KindStore, WatchEvent
from zombiewatch.adapters.kubernetes.watching import InformerSettings
from zombiewatch.domain.config import resolve
from zombiewatch.domain.ports import AnnotateErrorKind
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import (
    ZOMBIE_REPORTED_AT_ANNOTATION,
    AgentConfigView,
    PodPhase,
    PodView,
)

pytestmark = pytest.mark.integration

FAST = InformerSettings(
    watch_timeout_seconds=30,
    backoff=BackoffSettings(initial=0.1, cap=1.0),
    relist_period=None,
)


def informer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("informer-")]


@pytest.fixture
def factory(services: Services) -> Callable[[], ApiClient]:
    return api_client_factory(str(services.kubeconfig))


@pytest.fixture
def core(api_client: Any) -> Any:
    return client.CoreV1Api(api_client)


@pytest.fixture
def batch(api_client: Any) -> Any:
    return client.BatchV1Api(api_client)


@pytest.fixture
def config_crd(api_client: Any) -> None:
    """deploy/components/crd/crd-config.yaml applied (cluster-wide, kept) and Established."""
    apply_config_crd(api_client)


class Recorder:
    def __init__(self) -> None:
        self.events: list[WatchEvent[Any]] = []

    async def __call__(self, event: WatchEvent[Any]) -> None:
        self.events.append(event)

    def of(self, name: str) -> list[tuple[Change, Any]]:
        return [(e.change, e.view) for e in self.events if e.view.name == name]


@pytest.fixture
async def cluster(factory: Callable[[], ApiClient], namespace: str, config_crd: None) -> Any:
    recorder = Recorder()
    informers = build_cluster_informers(
        api_client_factory=factory,
        namespace=namespace,
        on_job_event=recorder,
        on_pod_event=recorder,
        on_config_event=recorder,
        settings=FAST,
    )
    yield informers, recorder
    await informers.stop()
    assert informer_threads() == []


async def start_synced(informers: ClusterInformers) -> None:
    await informers.start()
    async with asyncio.timeout(WAIT):
        await informers.wait_synced()
        await informers.configs.wait_synced()


async def test_the_initial_list_populates_the_cache_and_signals_synced(
    cluster: Any, core: Any, batch: Any, namespace: str
) -> None:
    informers, _ = cluster
    job = kubelet.create_agent_job(batch, namespace, task_id="task-a", name="job-a")
    kubelet.create_agent_pod(core, namespace, job=job, task_id="task-a", name="pod-a")
    kubelet.set_waiting(core, namespace, "pod-a", "ImagePullBackOff")
    core.create_namespaced_pod(
        namespace,
        client.V1Pod.model_validate(
            {
                "metadata": {"name": "unlabelled"},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            }
        ),
    )

    await start_synced(informers)

    cache = informers.cache
    assert cache.synced()
    job_view = cache.job("job-a")
    assert job_view is not None
    assert (job_view.task_id, job_view.assignee) == ("task-a", "claude")
    (pod,) = cache.pods_of_job("job-a")
    assert pod.name == "pod-a"
    assert pod.containers[0].waiting_reason == "ImagePullBackOff"
    assert [i.stats.events for i in informers.all] == [0, 0, 0]  # all from the list
    assert informers.pods.stats.lists == 1


async def test_creates_status_patches_and_deletes_arrive_in_order(
    cluster: Any, core: Any, batch: Any, namespace: str
) -> None:
    informers, recorder = cluster
    await start_synced(informers)

    job = kubelet.create_agent_job(batch, namespace, task_id="task-b", name="job-b")
    kubelet.create_agent_pod(core, namespace, job=job, task_id="task-b", name="pod-b")
    kubelet.set_unschedulable(core, namespace, "pod-b")
    kubelet.set_running(core, namespace, "pod-b")
    kubelet.set_terminated(core, namespace, "pod-b", 3)
    kubelet.set_job_failed(batch, namespace, job, "BackoffLimitExceeded")
    core.delete_namespaced_pod("pod-b", namespace, grace_period_seconds=0)

    await wait_until(lambda: [c for c, _ in recorder.of("pod-b")][-1:] == [Change.DELETED],
                     "pod-b deleted")
    changes = recorder.of("pod-b")
    # The deletion itself may first write deletionTimestamp (one more MODIFIED).
    assert [c for c, _ in changes[:4]] == [Change.ADDED] + [Change.MODIFIED] * 3
    assert changes[-1][0] is Change.DELETED
    assert {c for c, _ in changes[4:-1]} <= {Change.MODIFIED}
    assert [v.phase for _, v in changes[:4]] == [
        PodPhase.PENDING,
        PodPhase.PENDING,
        PodPhase.RUNNING,
        PodPhase.FAILED,
    ]
    assert changes[1][1].scheduled is False
    assert changes[3][1].containers[0].terminated_exit_code == 3
    await wait_until(lambda: (informers.cache.job("job-b") or job).failed_reason is not None,
                     "job-b failed")
    failed = informers.cache.job("job-b")
    assert failed is not None
    assert failed.failed_reason == "BackoffLimitExceeded"
    assert informers.cache.pods_of_job("job-b") == ()
    assert [i.stats.lists for i in informers.all] == [1, 1, 1]  # all from the watches


class GatedCalls:
    """Pod calls whose watches can be held closed, to make a gap in the stream."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.last_watch: RawResponse | None = None
        self.watches = 0

    def factory(self, api_client: ApiClient, namespace: str) -> ResourceCalls:
        real = pod_calls(api_client, namespace)

        def call(query: Mapping[str, object], timeout: tuple[float, float]) -> RawResponse:
            if query.get("watch"):
                self.open.wait(WAIT)
                response = real.call(query, timeout)
                self.last_watch = response
                self.watches += 1
                return response
            return real.call(query, timeout)

        return ResourceCalls(call, real.label_selector)

    def drop_current_watch(self) -> None:
        self.open.clear()
        assert self.last_watch is not None
        self.last_watch.shutdown()


async def test_a_gap_ending_in_410_relists_and_emits_the_difference(
    factory: Callable[[], ApiClient], services: Services, core: Any, batch: Any, namespace: str
) -> None:
    gated = GatedCalls()
    recorder = Recorder()
    informer: Informer[PodView] = Informer(
        name="pods-gap",
        codec=POD,
        store=KindStore(),
        calls_factory=gated.factory,
        api_client_factory=factory,
        namespace=namespace,
        on_event=recorder,
        settings=FAST,
    )
    job = kubelet.create_agent_job(batch, namespace, task_id="task-c", name="job-c")
    for name in ("changes", "vanishes"):
        kubelet.create_agent_pod(core, namespace, job=job, task_id="task-c", name=name)
    await informer.start()
    try:
        async with asyncio.timeout(WAIT):
            await informer.wait_synced()
        await wait_until(lambda: gated.watches >= 1, "a watch")
        listed = len(recorder.events)

        gated.drop_current_watch()
        kubelet.set_evicted(core, namespace, "changes")
        core.delete_namespaced_pod("vanishes", namespace, grace_period_seconds=0)
        kubelet.create_agent_pod(core, namespace, job=job, task_id="task-c", name="appears")
        await asyncio.to_thread(services.compact_etcd_across_restart)
        gated.open.set()

        await wait_until(lambda: informer.stats.relists >= 1
                         and len(recorder.events) >= listed + 3, "a relist and its changes")
    finally:
        gated.open.set()
        await informer.stop()

    assert listed == 2
    assert informer.stats.gone >= 1
    assert informer.stats.relists >= 1
    gap = [(e.change, e.view.name) for e in recorder.events[listed:]]
    assert sorted(gap) == sorted(
        [(Change.ADDED, "appears"), (Change.MODIFIED, "changes"), (Change.DELETED, "vanishes")]
    )
    changed = next(e.view for e in recorder.events if e.view.name == "changes" and e.previous)
    assert (changed.phase, changed.status_reason) == (PodPhase.FAILED, "Evicted")
    assert informer_threads() == []


async def test_an_api_server_restart_is_survived_and_caught_up(
    cluster: Any, services: Services, core: Any, batch: Any, namespace: str
) -> None:
    informers, _ = cluster
    await start_synced(informers)

    await asyncio.to_thread(services.restart_apiserver)
    job = kubelet.create_agent_job(batch, namespace, task_id="task-d", name="job-d")
    kubelet.create_agent_pod(core, namespace, job=job, task_id="task-d", name="pod-d")

    await wait_until(lambda: len(informers.cache.pods_of_job("job-d")) == 1, "job-d's pod")
    assert informers.cache.job("job-d") is not None
    assert informers.pods.stats.reconnects + informers.pods.stats.gone >= 1


async def test_configs_below_the_floors_are_rejected_and_valid_ones_are_cached(
    cluster: Any, config_crd: None, api_client: Any, namespace: str
) -> None:
    informers, _ = cluster
    await start_synced(informers)
    custom = client.CustomObjectsApi(api_client)

    def config(name: str, **spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": "agent.benjamin-borbe.de/v1",
            "kind": "Config",
            "metadata": {"name": name},
            "spec": {"assignee": name, **spec},
        }

    for bad in (
        {"zombieSweeperIntervalSeconds": 9},
        {"zombieJobTimeoutSeconds": 29},
        {"heartbeat": "5 minutes"},
    ):
        with pytest.raises(ApiException) as info:
            custom.create_namespaced_custom_object(
                "agent.benjamin-borbe.de", "v1", namespace, "configs", config("bad", **bad)
            )
        assert info.value.status == 422

    custom.create_namespaced_custom_object(
        "agent.benjamin-borbe.de",
        "v1",
        namespace,
        "configs",
        config(
            "claude",
            heartbeat="90s",
            zombieSweeperIntervalSeconds=10,
            zombieJobTimeoutSeconds=30,
            image="agent:2",
            taskTypes=["code"],
            env={"A": "1"},
            secretName="agent-secrets",
            resources={"limits": {"cpu": "1"}},
        ),
    )

    await wait_until(lambda: len(tuple(informers.cache.configs())) == 1, "the Config")
    assert tuple(informers.cache.configs()) == (
        AgentConfigView(
            namespace=namespace,
            name="claude",
            assignee="claude",
            zombie_sweeper_interval_seconds=10,
            zombie_job_timeout_seconds=30,
            image="agent:2",
            task_types=("code",),
            env=(("A", "1"),),
        ),
    )


async def test_the_annotation_patch_lands_on_the_job_and_reaches_the_cache(
    cluster: Any, api_client: Any, batch: Any, namespace: str
) -> None:
    informers, _ = cluster
    await start_synced(informers)
    kubelet.create_agent_job(batch, namespace, task_id="task-e", name="job-e")
    await wait_until(lambda: informers.cache.job("job-e") is not None, "job-e")
    annotator = KubernetesJobAnnotator(api_client)
    at = datetime(2026, 6, 2, 10, 16, tzinfo=UTC)

    result = await annotator.annotate_reported(
        namespace=namespace, job_name="job-e", reason=ZombieReason.DEADLINE_EXCEEDED, reported_at=at
    )

    assert result == Success(None)
    await wait_until(lambda: (informers.cache.job("job-e") or _never()).reported,
                     "job-e reported")
    job = informers.cache.job("job-e")
    assert job is not None
    assert job.reported_reason == "deadline_exceeded"
    metadata = batch.read_namespaced_job("job-e", namespace).metadata
    assert metadata.annotations[ZOMBIE_REPORTED_AT_ANNOTATION] == "2026-06-02T10:16:00Z"
    assert metadata.labels[kubelet.TASK_ID_LABEL] == "task-e"


def _never() -> Any:
    raise AssertionError("job vanished from the cache")


async def test_annotating_a_missing_job_is_not_found(api_client: Any, namespace: str) -> None:
    annotator = KubernetesJobAnnotator(api_client)

    result = await annotator.annotate_reported(
        namespace=namespace,
        job_name="no-such-job",
        reason=ZombieReason.POD_EVICTED,
        reported_at=datetime.now(UTC),
    )

    match result:
        case Failure(error):
            assert error.kind is AnnotateErrorKind.NOT_FOUND
        case _:
            pytest.fail(f"expected NOT_FOUND, got {result}")


async def test_stop_is_prompt_and_leaves_no_thread(
    factory: Callable[[], ApiClient], namespace: str
) -> None:
    informer: Informer[PodView] = Informer(
        name="pods-stop",
        codec=POD,
        store=KindStore(),
        calls_factory=pod_calls,
        api_client_factory=factory,
        namespace=namespace,
        settings=InformerSettings(watch_timeout_seconds=300),
    )
    await informer.start()
    async with asyncio.timeout(WAIT):
        await informer.wait_synced()
    await asyncio.sleep(0.3)  # let the watch open and block on its read

    started = time.monotonic()
    await informer.stop()

    # Prompt: the blocked watch read is interrupted, not waited out (its 300 s timeout);
    # how much sooner depends on the machine, so the bound is a tenth of that.
    assert time.monotonic() - started < 30.0
    assert informer_threads() == []


async def test_a_job_takes_the_deadline_of_the_config_its_assignee_label_names(
    cluster: Any, config_crd: None, api_client: Any, batch: Any, namespace: str
) -> None:
    """Per-vault Configs as today's executor makes them: ``claude-personal`` (5400 s) beside
    the plain ``claude``; a Job labelled ``claude-personal`` gets 5400 s, a ``claude`` one
    the plain Config's, a task's ``claude`` resolves to ``claude-personal`` in vault
    ``personal``; a ``type: service`` Config is decoded and ignored."""
    informers, _ = cluster
    await start_synced(informers)
    custom = client.CustomObjectsApi(api_client)
    for name, spec in (
        ("claude-personal", {"zombieJobTimeoutSeconds": 5400, "heartbeat": "30m"}),
        ("claude", {"zombieJobTimeoutSeconds": 1200, "heartbeat": "30m"}),
        ("codex", {"type": "service", "zombieJobTimeoutSeconds": 60}),
    ):
        custom.create_namespaced_custom_object(
            "agent.benjamin-borbe.de", "v1", namespace, "configs",
            {"apiVersion": "agent.benjamin-borbe.de/v1", "kind": "Config",
             "metadata": {"name": name},
             "spec": {"assignee": name, "image": "agent:1", "taskType": "code", **spec}})
    kubelet.create_agent_job(batch, namespace, task_id="task-p", name="job-p",
                             assignee="claude-personal")
    kubelet.create_agent_job(batch, namespace, task_id="task-q", name="job-q", assignee="claude")
    await wait_until(lambda: len(tuple(informers.cache.configs())) == 3
                     and {"job-p", "job-q"} <= set(informers.cache.job_names()),
                     "three Configs and both Jobs cached")

    assert {v.name: v.type for v in informers.cache.configs()} == {
        "claude-personal": "job", "claude": "job", "codex": "service"}
    resolved = resolve(informers.cache.configs(), vault="personal")
    deadlines = {name: resolved.deadline_of_job(job.assignee)
                 for name in ("job-p", "job-q") if (job := informers.cache.job(name))}
    assert deadlines == {"job-p": timedelta(seconds=5400), "job-q": timedelta(seconds=1200)}
    assert resolved.deadline_for("claude") == timedelta(seconds=5400)
    assert resolve(informers.cache.configs()).deadline_for("claude") == timedelta(seconds=1200)
    assert resolved.config_for("codex") is None
    assert resolved.sweeper_interval == timedelta(seconds=60)
