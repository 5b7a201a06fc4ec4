"""Shadow mode beside a stand-in executor: the real broker and the bare API server.

The bare API server runs no kubelet and no Job controller, so the harness's kubelet
helper patches the pods' states (the node was busy when this was written; the same
scene on the real node is left to a ``node`` test). A shadow daemon (``shadow=True``)
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
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from harness import kubelet
from harness.controller import KafkaController
from harness.daemons import sample
from harness.executor import StandInExecutor
from harness.fixtures import create_topics
from harness.vault import ReferenceVault
from harness.waiting import wait_until
from tests.integration.worlds.daemon_stage import Stage
from zombiewatch.app import scan, shadow_report
from zombiewatch.app.daemon import build_container
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.shadow import ShadowComparer, VerdictRecorder
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.shadow import ShadowOutcome

pytestmark = pytest.mark.integration

SETTLE = timedelta(seconds=4)
"""The comparer's settle window, shortened from 5 minutes."""


@dataclass
class Case:
    task_id: str
    job: str


def _job(stage: Stage, vault: ReferenceVault, state: str) -> Case:
    """A task naming a Job whose one pod is in ``state`` (image, crash, running)."""
    task_id = str(uuid.uuid4())
    name = f"claude-{task_id[:8]}-{uuid.uuid4().hex[:6]}"
    vault.put(task_id, {"assignee": "claude", "status": "in_progress", "current_job": name,
                        "trigger_count": 0})
    job = kubelet.create_agent_job(stage.batch, stage.namespace, task_id=task_id, name=name,
                                   active_deadline_seconds=1800)
    pod = kubelet.create_agent_pod(stage.core, stage.namespace, job=job, task_id=task_id)
    if state == "image":
        kubelet.set_waiting(stage.core, stage.namespace, pod, "ImagePullBackOff")
    elif state == "crash":
        kubelet.set_terminated(stage.core, stage.namespace, pod, 1)
    else:
        kubelet.set_running(stage.core, stage.namespace, pod)
    return Case(task_id, name)


@dataclass
class Trial:
    stage: Stage
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


@pytest.fixture
async def trial(stage: Stage, tmp_path: Path) -> AsyncIterator[Trial]:
    prefix = stage.settings.kafka.prefix
    events, results = f"{prefix}-agent-task-v1-event", f"{prefix}-agent-task-v1-result"
    create_topics(stage.settings.kafka.brokers, [events, results], 1)
    vault = ReferenceVault(tmp_path / "vault")
    controller = KafkaController(bootstrap=stage.settings.kafka.brokers,
                                 request_topic=stage.reader.topic, event_topic=events,
                                 result_topic=results, vault=vault, poll_interval=2.0)
    container = build_container(replace(stage.settings, shadow=True))
    container.shadow.override(providers.Singleton(
        ShadowComparer, verdicts=container.recorder, source=container.history,
        clock=container.clock, metrics=container.metrics, settle=SETTLE))
    runtime = Runtime(container)
    executor = StandInExecutor(bootstrap=stage.settings.kafka.brokers, topic=stage.reader.topic)
    await controller.start()
    await executor.start()
    await runtime.start()
    try:
        await wait_until(runtime.cache.synced, what="informers synced")
        yield Trial(stage, runtime, executor, controller, vault)
    finally:
        await runtime.stop()
        await executor.stop()
        await controller.close()


async def test_the_shadow_comparison_names_each_case_and_only_the_executor_touches_the_vault(
    trial: Trial,
) -> None:
    # Arrange: six tasks, each naming its Job, known to the daemon's task feed
    stage, vault = trial.stage, trial.vault
    started = datetime.now(UTC)
    agree = _job(stage, vault, "image")
    suffix = _job(stage, vault, "crash")
    differ = _job(stage, vault, "image")
    missed = _job(stage, vault, "image")
    twice = _job(stage, vault, "image")
    false_alarm = _job(stage, vault, "running")
    cases = [agree, suffix, differ, missed, twice, false_alarm]
    zombies = [c for c in cases if c is not false_alarm]
    await wait_until(lambda: all(trial.recorded(c.job) for c in zombies),
                     what="zombiewatch's verdicts, recorded")
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
    snapshot = scan.read_namespace(str(stage.settings.kubeconfig), stage.namespace)
    ours = shadow_report.would_publish(snapshot, namespace=stage.namespace,
                                       since=started - timedelta(seconds=5), until=until,
                                       grace=timedelta(seconds=2), vault=None)
    theirs = await shadow_report.executor_failures(
        stage.settings.kafka, namespace=stage.namespace, since=started - timedelta(seconds=5),
        until=until, timeout=20)
    report = shadow_report.report(namespace=stage.namespace, since=started, until=until,
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
    assert {e.initiator for _, e, _, _ in stage.reader.records} == {"executor"}
    print(f"\n[shadow] {counted}; latencies (s) "
          f"{[round(lat.total_seconds(), 2) for lat in latencies.values() if lat]}\n"
          + shadow_report.render_table(report))


def _bumps(vault: ReferenceVault, cases: list[Case]) -> list[Any]:
    return [_task(vault, c).frontmatter.get("trigger_count") for c in cases]


def _current_jobs(vault: ReferenceVault, cases: list[Case]) -> list[Any]:
    return [_task(vault, c).frontmatter.get("current_job") for c in cases]


def _sent(executor: StandInExecutor, cases: list[Case]) -> list[int]:
    return [executor.sends[c.task_id] for c in cases]


def _task(vault: ReferenceVault, case: Case) -> Any:
    task = vault.task(case.task_id)
    assert task is not None
    return task
