"""Shadow mode beside a stand-in executor: the real broker, on the real node and on the
bare API server.

On the real node (``node``) the Jobs are real: a missing image, a container that exits
1, one that sleeps. The bare API server runs no kubelet and no Job controller, so there
the harness's kubelet helper patches the pods into the same states (the same test, no
node needed). A shadow daemon (``shadow=True``)
judges the namespace as the daemon does; :class:`harness.executor.StandInExecutor` plays
today's executor on the request topic: random request ids, its reason strings with their
``(<Reason>/<code>)`` suffixes, its delays, one Job it misses, one it reports again after
a restart, one it reports that zombiewatch does not judge a zombie. The harness controller
applies the request topic to its vault. Proven: the comparison (the daemon's, and
``shadow-report``'s) names each case, and the vault was touched by the stand-in only:
every task freed exactly as many times as the stand-in sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from kubernetes import client

from harness import kubelet, workloads
from harness.controller import KafkaController
from harness.daemons import daemon_processes, free_port, sample, scrape, wait_ready
from harness.executor import StandInExecutor
from harness.fixtures import create_topics
from harness.support import CommittedReader
from harness.vault import ReferenceVault
from harness.waiting import wait_until
from tests.integration.worlds.daemon_stage import Stage
from tests.integration.worlds.node_scene import WAIT as NODE_WAIT
from tests.integration.worlds.node_scene import NodeScene
from zombiewatch.app import scan, shadow_report
from zombiewatch.app.daemon import build_container
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import Settings
from zombiewatch.app.shadow import ShadowComparer, VerdictRecorder
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.shadow import ShadowOutcome
from zombiewatch.domain.views import (
    ZOMBIE_REAPED_AT_ANNOTATION,
    ZOMBIE_REASON_ANNOTATION,
    ZOMBIE_REPORTED_AT_ANNOTATION,
)

pytestmark = pytest.mark.integration

SETTLE = timedelta(seconds=4)
"""The comparer's settle window, shortened from 5 minutes."""


@dataclass
class Case:
    task_id: str
    job: str


def _task(vault: ReferenceVault, name_prefix: str) -> Case:
    """A task in progress naming its Job (the Job is created next)."""
    task_id = str(uuid.uuid4())
    name = f"{name_prefix}-{task_id[:8]}-{uuid.uuid4().hex[:6]}"
    vault.put(task_id, {"assignee": "claude", "status": "in_progress", "current_job": name,
                        "trigger_count": 0})
    return Case(task_id, name)


def patched_job(stage: Stage) -> Callable[[ReferenceVault, str], Case]:
    """A Job whose one pod the harness patches into ``state`` (image, crash, running)."""

    def make(vault: ReferenceVault, state: str) -> Case:
        case = _task(vault, "claude")
        job = kubelet.create_agent_job(stage.batch, stage.namespace, task_id=case.task_id,
                                       name=case.job, active_deadline_seconds=1800)
        pod = kubelet.create_agent_pod(stage.core, stage.namespace, job=job,
                                       task_id=case.task_id)
        if state == "image":
            kubelet.set_waiting(stage.core, stage.namespace, pod, "ImagePullBackOff")
        elif state == "crash":
            kubelet.set_terminated(stage.core, stage.namespace, pod, 1)
        else:
            kubelet.set_running(stage.core, stage.namespace, pod)
        return case

    return make


NODE_OPTIONS: dict[str, dict[str, Any]] = {
    "image": {"image": workloads.MISSING_IMAGE},
    "crash": {"args": ["false"]},
    "running": {"args": ["sleep", "3600"]},
}


def real_job(scene: NodeScene) -> Callable[[ReferenceVault, str], Case]:
    """A real Job on the node whose pod gets into ``state`` by itself."""

    def make(vault: ReferenceVault, state: str) -> Case:
        case = _task(vault, "claude")
        workloads.create_job(scene.api, scene.namespace, workloads.job_manifest(
            case.job, task_id=case.task_id, active_deadline_seconds=1800,
            **NODE_OPTIONS[state]))
        return case

    return make


@dataclass
class Trial:
    settings: Settings
    namespace: str
    reader: CommittedReader
    make: Callable[[ReferenceVault, str], Case]
    wait: float
    runtime: Runtime
    executor: StandInExecutor
    controller: KafkaController
    vault: ReferenceVault

    @property
    def comparer(self) -> ShadowComparer:
        assert self.runtime.shadow is not None
        return self.runtime.shadow

    def recorded(self, job: str) -> bool:
        recorder = self.runtime.container.publisher()
        assert isinstance(recorder, VerdictRecorder)
        return any(v.job_name == job for v in recorder.verdicts)


@asynccontextmanager
async def trial_of(settings: Settings, reader: CommittedReader, tmp_path: Path, *,
                   make: Callable[[ReferenceVault, str], Case],
                   wait: float) -> AsyncIterator[Trial]:
    """The harness controller on the request topic, a stand-in executor and a shadow daemon
    (its comparer's settle window shortened)."""
    prefix = settings.kafka.prefix
    events, results = f"{prefix}-agent-task-v1-event", f"{prefix}-agent-task-v1-result"
    create_topics(settings.kafka.brokers, [events, results], 1)
    vault = ReferenceVault(tmp_path / "vault")
    controller = KafkaController(bootstrap=settings.kafka.brokers, request_topic=reader.topic,
                                 event_topic=events, result_topic=results, vault=vault,
                                 poll_interval=2.0)
    container = build_container(replace(settings, shadow=True))
    container.shadow.override(providers.Singleton(
        ShadowComparer, verdicts=container.recorder, source=container.history,
        clock=container.clock, metrics=container.metrics, settle=SETTLE))
    runtime = Runtime(container)
    executor = StandInExecutor(bootstrap=settings.kafka.brokers, topic=reader.topic)
    await controller.start()
    await executor.start()
    await runtime.start()
    try:
        await wait_until(runtime.cache.synced, what="informers synced")
        yield Trial(settings, settings.namespace, reader, make, wait, runtime, executor,
                    controller, vault)
    finally:
        await runtime.stop()
        await executor.stop()
        await controller.close()


@pytest.fixture
async def trial(stage: Stage, tmp_path: Path) -> AsyncIterator[Trial]:
    async with trial_of(stage.settings, stage.reader, tmp_path, make=patched_job(stage),
                        wait=30.0) as world:
        yield world


@pytest.fixture
async def node_trial(node_scene: NodeScene, tmp_path: Path) -> AsyncIterator[Trial]:
    async with trial_of(node_scene.settings, node_scene.reader, tmp_path,
                        make=real_job(node_scene), wait=NODE_WAIT) as world:
        yield world


@pytest.mark.node
async def test_on_the_real_node_the_shadow_comparison_names_each_case(
    node_trial: Trial,
) -> None:
    await _compare_beside_the_executor(node_trial)


async def test_the_shadow_comparison_names_each_case_and_only_the_executor_touches_the_vault(
    trial: Trial,
) -> None:
    await _compare_beside_the_executor(trial)


async def _compare_beside_the_executor(trial: Trial) -> None:
    """Each case once; the daemon's comparison, ``shadow-report``'s, and the vault."""
    # Arrange: six tasks, each naming its Job
    vault, make = trial.vault, trial.make
    started = datetime.now(UTC)
    agree = make(vault, "image")
    suffix = make(vault, "crash")
    differ = make(vault, "image")
    missed = make(vault, "image")
    twice = make(vault, "image")
    false_alarm = make(vault, "running")
    cases = [agree, suffix, differ, missed, twice, false_alarm]
    zombies = [c for c in cases if c is not false_alarm]
    await wait_until(lambda: all(trial.recorded(c.job) for c in zombies),
                     what="zombiewatch's verdicts, recorded", timeout=trial.wait)
    # Act: the executor, a little later, with its own words
    await asyncio.sleep(1.0)  # its delay
    ex = trial.executor
    await ex.report(task_id=agree.task_id, job_name=agree.job, reason="image_pull_backoff")
    await ex.report(task_id=suffix.task_id, job_name=suffix.job,
                    reason="pod_crash_no_stdout (Error/1)")
    await ex.report(task_id=differ.task_id, job_name=differ.job,
                    reason="pod_oom_killed (OOMKilled/137)")
    await ex.report(task_id=twice.task_id, job_name=twice.job, reason="image_pull_backoff")
    await ex.report(task_id=false_alarm.task_id, job_name=false_alarm.job,
                    reason="deadline_exceeded")
    assert not await ex.report(task_id=twice.task_id, job_name=twice.job,
                               reason="image_pull_backoff")  # its dedupe holds
    await ex.restart()
    await asyncio.sleep(0.5)
    assert await ex.report(task_id=twice.task_id, job_name=twice.job,
                           reason="image_pull_backoff")  # forgotten: sent again
    expected = {
        agree.job: (ShadowOutcome.AGREEMENT, 1), suffix.job: (ShadowOutcome.AGREEMENT, 1),
        differ.job: (ShadowOutcome.REASON_DISAGREEMENT, 1),
        missed.job: (ShadowOutcome.ZOMBIEWATCH_ONLY, 0),
        twice.job: (ShadowOutcome.AGREEMENT, 2),
        false_alarm.job: (ShadowOutcome.EXECUTOR_ONLY, 1)}

    def outcomes() -> dict[str, tuple[ShadowOutcome, int]]:
        return {r.job_name: (r.outcome, r.executor_sends) for r in trial.comparer.rows}

    await wait_until(lambda: outcomes() == expected, what="the daemon's comparison",
                     between=trial.comparer.tick, interval=0.5,
                     detail=lambda: f"rows {outcomes()}")
    # Assert: the daemon's metrics and disagreements
    metrics = trial.runtime.metrics.render().decode()
    counted = {o.value: sample(metrics, "zombiewatch_shadow_jobs_total", outcome=o.value)
               for o in ShadowOutcome if o is not ShadowOutcome.PENDING}
    assert counted == {"agreement": 3, "reason_disagreement": 1, "zombiewatch_only": 1,
                       "executor_only": 1}
    assert sample(metrics, "zombiewatch_shadow_executor_repeats_total") == 1
    rows = {r.job_name: r for r in trial.comparer.rows}
    latencies = {name: rows[name].latency for name in (agree.job, suffix.job, twice.job)}
    assert all(lat is not None and lat > timedelta(0) for lat in latencies.values()), latencies
    differ_ours = rows[differ.job].ours
    assert differ_ours is not None
    assert differ_ours.reason is ZombieReason.IMAGE_PULL_BACKOFF
    assert rows[suffix.job].executor[0].evidence == "Error/1"
    # Assert: shadow-report over the window names the same cases
    until = datetime.now(UTC) + timedelta(seconds=1)
    snapshot = scan.read_namespace(str(trial.settings.kubeconfig), None, trial.namespace)
    ours = shadow_report.would_publish(snapshot, namespace=trial.namespace,
                                       since=started - timedelta(seconds=5), until=until,
                                       grace=timedelta(seconds=trial.settings.grace_seconds),
                                       vault=None)
    theirs = await shadow_report.executor_failures(
        trial.settings.kafka, namespace=trial.namespace, since=started - timedelta(seconds=5),
        until=until, timeout=20)
    report = shadow_report.report(namespace=trial.namespace, since=started, until=until,
                                  ours=ours, executor=theirs)
    assert {r.job_name: (r.outcome, r.executor_sends) for r in report.rows} == expected
    # Assert: the vault, touched by the stand-in only
    await wait_until(lambda: _bumps(vault, cases) == _sent(ex, cases),
                     what="the stand-in's failures applied", detail=lambda: str(_bumps(
                         vault, cases)))
    await asyncio.sleep(1.0)  # anything else would be applied by now
    assert _bumps(vault, cases) == _sent(ex, cases) == [1, 1, 1, 0, 2, 1]
    assert _current_jobs(vault, cases) == ["", "", "", missed.job, "", ""]
    assert trial.controller.stats.outcomes()["handled"] == 2 * sum(ex.sends.values())
    assert {e.initiator for _, e, _, _ in trial.reader.records} == {"executor"}
    print(f"\n[shadow] {counted}; latencies (s) "
          f"{[round(lat.total_seconds(), 2) for lat in latencies.values() if lat]}\n"
          + shadow_report.render_table(report))


def _bumps(vault: ReferenceVault, cases: list[Case]) -> list[Any]:
    return [_file(vault, c).frontmatter.get("trigger_count") for c in cases]


def _current_jobs(vault: ReferenceVault, cases: list[Case]) -> list[Any]:
    return [_file(vault, c).frontmatter.get("current_job") for c in cases]


def _sent(executor: StandInExecutor, cases: list[Case]) -> list[int]:
    return [executor.sends[c.task_id] for c in cases]


def _file(vault: ReferenceVault, case: Case) -> Any:
    task = vault.task(case.task_id)
    assert task is not None
    return task


async def test_run_shadow_as_a_process_judges_and_publishes_annotates_reaps_nothing(
    stage: Stage,
) -> None:
    # Arrange: `zombiewatch run --shadow` with the daemon's flags (leader election on)
    port = free_port()
    with daemon_processes(stage.tmp_path) as start:
        proc = start(replace(stage.settings, shadow=True), port=port)
        await wait_ready(proc, port)
        ready = scrape(port, "/readyz")
        # Act: a Job the live daemon would report and reap at once
        name = stage.failing_job("ImagePullBackOff")
        await proc.until(lambda: any("event=failure_published" in line and f"job={name}" in line
                                     for line in proc.log_text().splitlines()),
                         "the verdict (what the live daemon would have published)")
        await stage.reader.quiet(2.0)
        metrics = scrape(port)[1]
    # Assert
    assert ready[0] == 200
    assert "ready (shadow: publishing nothing)" in ready[1]
    assert stage.reader.records == []  # nothing on the request topic
    annotations = stage.batch.read_namespaced_job(name, stage.namespace).metadata.annotations
    assert not {ZOMBIE_REASON_ANNOTATION, ZOMBIE_REPORTED_AT_ANNOTATION,
                ZOMBIE_REAPED_AT_ANNOTATION} & set(annotations or {})
    assert "# TYPE zombiewatch_shadow_jobs_total counter" in metrics
    leases = client.CoordinationV1Api(stage.api_client).list_namespaced_lease(stage.namespace)
    assert leases.items == []
