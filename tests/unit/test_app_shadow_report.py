"""``zombiewatch shadow-report``: the window, the pairing, the table, the CLI's errors
(against a real API server and broker: tests/integration/test_shadow.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.builders import job_view, pod_view
from zombiewatch.adapters.kubernetes.listing import NamespaceSnapshot
from zombiewatch.app import shadow_report
from zombiewatch.app.cli import main
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.shadow import ExecutorFailure
from zombiewatch.testing.fakes import T0

HOUR = timedelta(hours=1)


def _snapshot() -> NamespaceSnapshot:
    inside = job_view("claude-in-1", task_id="task-in", created_at=T0 + timedelta(minutes=5))
    before = job_view("claude-old-1", task_id="task-old", created_at=T0 - timedelta(minutes=5))
    failed = job_view("claude-dead-1", task_id="task-dead", created_at=T0 + timedelta(minutes=9),
                      failed_reason="DeadlineExceeded")
    return NamespaceSnapshot(
        jobs=(inside, before, failed),
        pods=(pod_view(inside, waiting="ImagePullBackOff"),
              pod_view(before, waiting="ImagePullBackOff")),
        configs=(), skipped=(), configs_missing=False)


def test_only_the_jobs_created_in_the_window_count_on_zombiewatchs_side() -> None:
    # Act
    ours = shadow_report.would_publish(_snapshot(), namespace="agents", since=T0,
                                       until=T0 + HOUR, grace=timedelta(seconds=120), vault=None)
    # Assert
    assert sorted((v.job_name, v.reason) for v in ours) == [
        ("claude-dead-1", ZombieReason.DEADLINE_EXCEEDED),
        ("claude-in-1", ZombieReason.IMAGE_PULL_BACKOFF)]


def test_the_table_names_each_job_its_outcome_and_the_executors_sends() -> None:
    # Arrange
    ours = shadow_report.would_publish(_snapshot(), namespace="agents", since=T0,
                                       until=T0 + HOUR, grace=timedelta(seconds=120), vault=None)
    sent = T0 + timedelta(minutes=10)
    executor = [
        ExecutorFailure("task-dead", "claude-dead-1", ZombieReason.DEADLINE_EXCEEDED, sent),
        ExecutorFailure("task-dead", "claude-dead-1", ZombieReason.DEADLINE_EXCEEDED,
                        sent + timedelta(minutes=3)),
        ExecutorFailure("task-in", "claude-in-1", ZombieReason.POD_CRASH_NO_STDOUT, sent,
                        "Error/1"),
        ExecutorFailure("task-x", "claude-x-1", ZombieReason.POD_EVICTED, sent)]
    result = shadow_report.report(namespace="agents", since=T0, until=T0 + HOUR, ours=ours,
                                  executor=executor)
    # Act
    table = shadow_report.render_table(result)
    document = json.loads(shadow_report.render_json(result))
    # Assert
    lines = table.splitlines()
    assert lines[0].split() == ["TASK", "JOB", "OUTCOME", "ZOMBIEWATCH", "EXECUTOR", "SENDS",
                                "EXECUTOR", "SENT"]
    assert [line.split()[:6] for line in lines[1:4]] == [
        ["task-dead", "claude-dead-1", "agreement", "deadline_exceeded", "deadline_exceeded",
         "2"],
        ["task-in", "claude-in-1", "reason_disagreement", "image_pull_backoff",
         "pod_crash_no_stdout", "1"],
        ["task-x", "claude-x-1", "executor_only", "-", "pod_evicted", "1"]]
    assert lines[-2].endswith("1 agreement, 1 reason_disagreement, 0 zombiewatch_only, "
                              "1 executor_only")
    assert lines[-1] == "1 Jobs reported more than once by the executor"
    assert document["counts"] == {"agreement": 1, "reason_disagreement": 1,
                                  "zombiewatch_only": 0, "executor_only": 1}
    assert document["jobs"][0]["executor_sends"] == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["--kafka-brokers", "h:1"], "NAMESPACE is required"),
    (["--namespace", "agents"], "KAFKA_BROKERS is required"),
    (["--namespace", "agents", "--kafka-brokers", "h:1", "--since", "2026-06-02T10:00:00Z",
      "--until", "2026-06-02T09:00:00Z"], "--since must be before --until"),
])
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NAMESPACE", raising=False)
    monkeypatch.delenv("KAFKA_BROKERS", raising=False)
    assert main(["shadow-report", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("since", ["abc", "0m", "-5s"])
def test_a_bad_since_is_a_usage_error(since: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["shadow-report", "--namespace", "a", "--kafka-brokers", "h:1", "--since", since])
    assert exited.value.code == 2
    assert "argument --since" in capsys.readouterr().err


def test_an_unreadable_namespace_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["shadow-report", "--namespace", "agents", "--kafka-brokers", "127.0.0.1:9",
                 "--kubeconfig", "/nonexistent"])
    assert code == 3
    assert "no usable cluster credentials: tried --kubeconfig /nonexistent (missing)" in (
        capsys.readouterr().err)


def test_the_window_s_zombies_sharing_a_cause_are_listed_as_storm_incidents() -> None:
    # Arrange: three Jobs of the window fail to pull one image.
    jobs = [job_view(f"claude-{n:08x}-20260602090000", task_id=f"task-{n}",
                     created_at=T0 + timedelta(minutes=1)) for n in range(3)]
    pods = []
    for job in jobs:
        pod = pod_view(job, waiting="ImagePullBackOff")
        pods.append(replace(pod, containers=tuple(replace(c, image="registry.example/a:2")
                                                  for c in pod.containers)))
    snapshot = NamespaceSnapshot(jobs=tuple(jobs), pods=tuple(pods), configs=(), skipped=(),
                                 configs_missing=False)
    until = T0 + timedelta(minutes=10)
    # Act
    held = shadow_report.would_hold(snapshot, namespace="agents", since=T0, until=until,
                                    grace=timedelta(seconds=120), vault=None)
    result = shadow_report.report(namespace="agents", since=T0, until=until, ours=[],
                                  executor=[], incidents=held)
    # Assert
    assert [(g.cause.key, len(g.jobs)) for g in held] == [("image:registry.example/a:2", 3)]
    assert json.loads(shadow_report.render_json(result))["incidents"][0]["tasks"] == [
        "task-0", "task-1", "task-2"]
    assert "storm: 3 zombies share image:registry.example/a:2" in shadow_report.render_table(
        result)
    assert shadow_report.would_hold(snapshot, namespace="agents", since=T0, until=until,
                                    grace=timedelta(seconds=120), vault=None,
                                    threshold=4) == ()
