"""Shadow mode's wiring and comparison loop (app/shadow.py, app/container.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from returns.result import Failure, Result, Success

from tests.builders import job_view, pod_view
from zombiewatch.app.confirming import NoConfirmation
from zombiewatch.app.container import Container
from zombiewatch.app.leadership import AlwaysLeader
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import Settings, parse_settings
from zombiewatch.app.shadow import (
    NullAnnotator,
    NullEventRecorder,
    ShadowComparer,
    VerdictRecorder,
)
from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.doctrine import spawn_notification, type_mismatch_failure, zombie_failure
from zombiewatch.domain.ports import BrokerErrorKind, ReadError
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.shadow import ExecutorFailure, OurVerdict, ShadowOutcome
from zombiewatch.testing.containers import Fakes, faked_container, unit_settings
from zombiewatch.testing.fakes import FakeClock

SETTLE = timedelta(minutes=5)


def shadow_container(fakes: Fakes) -> Container:
    """The faked container with shadow mode's own parts wired back in (not the fakes)."""
    container = faked_container(fakes, settings=unit_settings(shadow=True))
    for provider in (container.publisher, container.annotator, container.leader,
                     container.confirmer, container.event_recorder):
        provider.reset_override()
    return container


async def test_shadow_mode_judges_but_publishes_annotates_and_reaps_nothing() -> None:
    # Arrange
    fakes = Fakes()
    container = shadow_container(fakes)
    runtime = Runtime(container)
    job = job_view("job-a")
    fakes.cache.put_job(job)
    await runtime.start()
    # Act
    pod = pod_view(job, waiting="ImagePullBackOff")
    fakes.cache.put_pod(pod)
    runtime.detection.on_pod(pod)
    await runtime.sweep_now()
    ready = runtime.ready()
    await runtime.stop()
    # Assert
    assert ready == (True, "ready (shadow: publishing nothing); task feed: off (cluster only)")
    recorder = container.publisher()
    assert isinstance(recorder, VerdictRecorder)
    assert [(v.job_name, v.reason) for v in recorder.verdicts] == [
        ("job-a", ZombieReason.IMAGE_PULL_BACKOFF)]
    assert fakes.reaper.reaped == []  # the live daemon reaps this Job (its pod may start)
    assert isinstance(container.annotator(), NullAnnotator)
    assert isinstance(container.leader(), AlwaysLeader)
    assert isinstance(container.confirmer(), NoConfirmation)
    assert isinstance(container.event_recorder(), NullEventRecorder)  # no Event on the Job
    assert fakes.events.events == []
    assert isinstance(runtime.shadow, ShadowComparer)


async def test_the_recorder_sends_nothing_and_keeps_zombie_failures_only() -> None:
    # Arrange
    recorder = VerdictRecorder()
    at = FakeClock().now()
    zombie = zombie_failure(task_id="t1", job_name="job-a",
                            reason=ZombieReason.POD_EVICTED, at=at)
    mismatch = type_mismatch_failure(task_id="t2", job_name="job-b", prior_assignee="claude",
                                     detail="task_type x", at=at)
    # Act
    results = [await recorder.publish_failures([zombie, mismatch]),
               await recorder.publish_commands([spawn_notification(
                   task_id="t3", job_name="job-c", started_at=at)]),
               await recorder.settle(), await recorder.start()]
    # Assert
    assert all(isinstance(r, Success) for r in results)
    assert recorder.verdicts == [OurVerdict("t1", "job-a", ZombieReason.POD_EVICTED, at)]
    assert recorder.commands == 2
    assert recorder.started
    assert recorder.problem is None


def test_a_live_daemon_has_no_shadow_comparer() -> None:
    assert Runtime(faked_container(Fakes())).shadow is None


def test_shadow_mode_is_a_flag_an_environment_variable_and_an_embedding_setting() -> None:
    required = ["--namespace", "agents", "--kafka-brokers", "k:9092"]
    assert parse_settings([*required, "--shadow"], {}).shadow
    assert parse_settings(required, {"SHADOW": "true"}).shadow
    assert not parse_settings([*required, "--no-shadow"], {"SHADOW": "true"}).shadow
    assert not parse_settings(required, {}).shadow
    assert Settings.for_embedding(namespace="agents", kafka_brokers="k:9092",
                                  shadow=True).shadow


@dataclass
class ScriptedExecutor:
    """The ExecutorFailureSource port: returns the sends given, records each window asked."""

    sends: list[ExecutorFailure] = field(default_factory=list)
    asked: list[datetime] = field(default_factory=list)
    down: bool = False

    async def executor_failures_since(
        self, since: datetime, *, until: datetime | None = None,
    ) -> Result[tuple[ExecutorFailure, ...], ReadError]:
        self.asked.append(since)
        if self.down:
            return Failure(ReadError(BrokerErrorKind.UNAVAILABLE, "down (fake)"))
        return Success(tuple(s for s in self.sends if s.sent_at >= since))


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_the_comparer_counts_each_job_once_when_decided_and_each_repeat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Arrange
    clock, metrics, recorder, source = FakeClock(), Metrics(), VerdictRecorder(), ScriptedExecutor()
    comparer = ShadowComparer(verdicts=recorder, source=source, clock=clock, metrics=metrics,
                              settle=SETTLE)
    await comparer.tick()  # marks the start
    t0 = clock.now()
    recorder.verdicts += [OurVerdict("t1", "agree", ZombieReason.DEADLINE_EXCEEDED, t0),
                          OurVerdict("t2", "differ", ZombieReason.POD_OOM_KILLED, t0),
                          OurVerdict("t3", "alone", ZombieReason.POD_EVICTED, t0)]
    source.sends += [
        ExecutorFailure("t1", "agree", ZombieReason.DEADLINE_EXCEEDED, t0 + timedelta(seconds=7)),
        ExecutorFailure("t2", "differ", ZombieReason.POD_CRASH_NO_STDOUT, t0, "Error/1")]
    # Act
    clock.advance(30)
    await comparer.tick()
    early = {r.job_name: r.outcome for r in comparer.rows}
    clock.advance(SETTLE.total_seconds())
    source.sends.append(ExecutorFailure("t1", "agree", ZombieReason.DEADLINE_EXCEEDED,
                                        clock.now()))  # after a restart of the executor
    await comparer.tick()
    await comparer.tick()
    # Assert
    assert early["alone"] is ShadowOutcome.PENDING
    assert {r.job_name: r.outcome for r in comparer.rows} == {
        "agree": ShadowOutcome.AGREEMENT, "differ": ShadowOutcome.REASON_DISAGREEMENT,
        "alone": ShadowOutcome.ZOMBIEWATCH_ONLY}
    for outcome in ("agreement", "reason_disagreement", "zombiewatch_only"):
        assert _sample(metrics, "zombiewatch_shadow_jobs_total", outcome=outcome) == 1
    assert _sample(metrics, "zombiewatch_shadow_executor_repeats_total") == 1
    assert _sample(metrics, "zombiewatch_shadow_latency_seconds_count") == 2
    # 0 s (differ) and 7 s (agree); no _sum: a histogram with negative buckets has none
    assert _sample(metrics, "zombiewatch_shadow_latency_seconds_bucket", le="1.0") == 1
    assert _sample(metrics, "zombiewatch_shadow_latency_seconds_bucket", le="10.0") == 2
    lines = [r.getMessage() for r in caplog.records if "shadow_disagreement" in r.getMessage()]
    assert len(lines) == 2
    assert ("event=shadow_disagreement outcome=reason_disagreement task=t2 job=differ "
            "ours=pod_oom_killed") in lines[0]
    assert "executor=pod_crash_no_stdout" in lines[0]
    assert "outcome=zombiewatch_only task=t3 job=alone" in lines[1]


async def test_a_failed_read_is_counted_and_the_window_is_read_again() -> None:
    # Arrange
    clock, metrics, source = FakeClock(), Metrics(), ScriptedExecutor(down=True)
    comparer = ShadowComparer(verdicts=VerdictRecorder(), source=source, clock=clock,
                              metrics=metrics)
    # Act
    await comparer.tick()
    clock.advance(30)
    await comparer.tick()
    # Assert
    assert _sample(metrics, "zombiewatch_shadow_read_errors_total", kind="unavailable") == 2
    assert source.asked[0] == source.asked[1]


async def test_a_disagreement_over_a_job_the_storm_guard_holds_names_the_incident(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Arrange: the executor reported a Job the guard holds (zombiewatch has not, yet).
    clock, metrics, source = FakeClock(), Metrics(), ScriptedExecutor()
    cause = Cause(CauseKind.IMAGE, "registry.example/agent:2")
    comparer = ShadowComparer(verdicts=VerdictRecorder(), source=source, clock=clock,
                              metrics=metrics, settle=SETTLE,
                              held=lambda job: cause if job == "held" else None)
    await comparer.tick()
    source.sends += [
        ExecutorFailure("t1", "held", ZombieReason.IMAGE_PULL_BACKOFF, clock.now()),
        ExecutorFailure("t2", "other", ZombieReason.IMAGE_PULL_BACKOFF, clock.now())]
    # Act
    clock.advance(SETTLE.total_seconds() + 30)
    await comparer.tick()
    # Assert
    lines = sorted(r.getMessage() for r in caplog.records
                   if "shadow_disagreement" in r.getMessage())
    assert len(lines) == 2
    assert "job=held" in lines[0]
    assert lines[0].endswith("storm=image:registry.example/agent:2")
    assert "job=other" in lines[1]
    assert "storm=image" not in lines[1]


def test_the_shadow_comparer_asks_the_daemons_storm_guard() -> None:
    container = faked_container(Fakes(), settings=unit_settings(shadow=True, storm_guard=True))
    comparer = container.shadow()
    assert isinstance(comparer, ShadowComparer)
    guard = container.storm().guard
    assert guard is not None
    for n in range(3):
        guard.offer(f"job-{n}", Cause(CauseKind.IMAGE, "x:1"), now=FakeClock().now())
    assert comparer._held("job-0") == Cause(CauseKind.IMAGE, "x:1")
    assert comparer._held("job-9") is None
