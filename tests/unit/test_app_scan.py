"""``zombiewatch scan``: the decision and the formatting over a snapshot (and the task
feed's states), reading the feed once, and the CLI's exit statuses. (Under a get/list-only
Role against a real API server and a real broker: tests/integration/test_scan.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from tests.builders import job_view, pod_view
from tests.unit.kafka.test_taskfeed import FakeConsumer
from tests.unit.kafka.test_taskfeed import event as feed_event
from tests.unit.kubernetes.test_translation_today import job as job_of
from tests.unit.kubernetes.test_translation_today import load
from tests.unit.kubernetes.test_translation_today import pod as pod_of
from zombiewatch.adapters.kafka.settings import (
    KafkaClientSettings,
    SaslMechanism,
    SecurityProtocol,
)
from zombiewatch.adapters.kubernetes.errors import ForbiddenError
from zombiewatch.adapters.kubernetes.listing import NamespaceSnapshot
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.app import scan
from zombiewatch.app.cli import main
from zombiewatch.app.settings import KafkaOptions
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.tasks import TaskState, TaskStates
from zombiewatch.domain.triage import NotYet
from zombiewatch.domain.views import AgentConfigView, JobView, PodView

NOW = datetime(2026, 12, 1, 9, 23, 0, tzinfo=UTC)


def snapshot(**changes: Any) -> NamespaceSnapshot:
    """A namespace in a mix of states, from the corpus objects."""
    image = job_of(load("image-job-active.json"))
    drained = job_of(load("drain-job-failure-target.json"))
    done = job_of(load("exit0-job-complete.json"))
    base = NamespaceSnapshot(
        jobs=(image, drained, done),
        pods=(pod_of(load("image-pull-backoff.json")),
              pod_of(load("drain-pod-disrupted-running.json"))),
        configs=(), skipped=(), configs_missing=False)
    return replace(base, **changes)


def test_each_in_flight_job_gets_its_verdict_or_why_not_and_completed_ones_are_counted() -> None:
    # Act
    report = scan.scan(snapshot(), namespace="agents", now=NOW)
    # Assert
    assert report.completed == 1
    oldest_first = [job_of(load(f)).name
                    for f in ("image-job-active.json", "drain-job-failure-target.json")]
    assert [row.job_name for row in report.rows] == oldest_first
    image, drained = (row.outcome for row in report.rows)
    assert isinstance(image, Verdict)
    assert image.rule.value == "waiting_image_pull"
    assert isinstance(drained, NotYet)
    assert drained.describe() == (
        "job failed, waiting for its pod to end (BackoffLimitExceeded), decided in at most 51 s")
    assert report.exit_code == scan.EXIT_ZOMBIES


def test_a_zombie_already_reported_does_not_set_the_exit_status() -> None:
    # Arrange
    image = replace(job_of(load("image-job-active.json")), reported_reason="image_pull_backoff",
                    reported_at="2026-12-01T09:17:31Z", reaped_at="2026-12-01T09:17:32Z")
    # Act
    report = scan.scan(snapshot(jobs=(image,)), namespace="agents", now=NOW)
    # Assert
    assert report.rows[0].zombie
    assert report.exit_code == scan.EXIT_NO_ZOMBIES
    table = scan.render_table(report)
    assert "image_pull_backoff at 2026-12-01T09:17:31Z" in table
    assert "2026-12-01T09:17:32Z" in table


def test_the_table_has_one_line_per_job_and_a_summary() -> None:
    # Act
    bad = Skipped(kind="Pod", namespace="agents", name="x", reason="bad")
    table = scan.render_table(scan.scan(snapshot(skipped=(bad,), configs_missing=True),
                                        namespace="agents", now=NOW))
    # Assert
    lines = table.splitlines()
    assert lines[0].split() == ["JOB", "ASSIGNEE", "AGE", "PODS", "VERDICT", "RULE", "/", "WHY",
                                "NOT", "YET", "REPORTED", "REAPED", "DETAIL"]
    assert "image_pull_backoff" in lines[1]
    assert "waiting_image_pull" in lines[1]
    assert "decided in at most 51 s" in lines[2]
    assert "namespace agents: 2 in flight, 1 zombies (1 not reported), 1 completed not shown" in (
        table)
    assert "1 malformed objects skipped" in table
    assert "no Config CRD installed" in table


def test_the_json_document_says_the_same_for_machines() -> None:
    # Act
    document = json.loads(scan.render_json(scan.scan(snapshot(), namespace="agents", now=NOW)))
    # Assert
    image, drained = document["jobs"]
    assert (image["zombie"], image["reason"], image["rule"], image["waiting"]) == (
        True, "image_pull_backoff", "waiting_image_pull", None)
    assert (drained["zombie"], drained["waiting"], drained["remaining_seconds"]) == (
        False, "pod_ending", 51)
    assert (document["zombies"], document["unreported_zombies"], document["completed"]) == (
        1, 1, 1)
    assert document["now"] == "2026-12-01T09:23:00Z"


def test_the_configured_deadline_of_the_assignee_is_used() -> None:
    # Arrange: a Job with nothing wrong yet, 7 min old; claude's deadline is 10 min
    young = job_of(load("image-job-active.json"))
    config = AgentConfigView(namespace="agents", name="claude", assignee="claude",
                             zombie_job_timeout_seconds=600)
    now = young.created_at + timedelta(minutes=7)
    # Act
    report = scan.scan(snapshot(jobs=(young,), pods=(), configs=(config,)), namespace="agents",
                       now=now)
    # Assert
    outcome = report.rows[0].outcome
    assert isinstance(outcome, NotYet)
    assert outcome.describe() == "not running yet, deadline in 3 min"


def test_scan_without_a_namespace_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NAMESPACE", raising=False)

    assert main(["scan"]) == scan.EXIT_USAGE
    assert "NAMESPACE is required" in capsys.readouterr().err


def test_scan_with_a_bad_vault_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--namespace", "agents", "--vault", "my_vault"]) == scan.EXIT_USAGE
    assert capsys.readouterr().err == (
        "zombiewatch scan: VAULT_NAME invalid: 'my_vault' must match ^[a-z][a-z0-9-]*$ "
        "(--vault or env VAULT_NAME)\n")


def test_scan_without_usable_credentials_says_so_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["scan", "--namespace", "agents", "--kubeconfig", str(tmp_path / "absent")])

    assert code == scan.EXIT_UNREADABLE
    assert "no usable cluster credentials" in capsys.readouterr().err


class ClosedClient:
    """Stands in for the ApiClient; records that scan closed it."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_namespace_it_may_not_read_is_named_and_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    client = ClosedClient()
    listed: list[str] = []

    def refuse(api_client: object, namespace: str) -> NamespaceSnapshot:
        listed.append(namespace)
        raise ForbiddenError(403, "Forbidden")

    monkeypatch.setattr(scan, "api_client_factory", lambda kubeconfig, context: lambda: client)
    monkeypatch.setattr(scan, "list_namespace", refuse)
    # Act
    code = main(["scan", "--namespace", "secret-ns"])
    # Assert
    err = capsys.readouterr().err
    assert code == scan.EXIT_UNREADABLE
    assert "cannot read namespace secret-ns: 403 Forbidden" in err
    assert "get and list on jobs, pods" in err
    assert listed == ["secret-ns"]
    assert client.closed


def test_scan_prints_json_and_its_exit_status_says_whether_zombies_exist(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.setattr(scan, "api_client_factory", lambda kubeconfig, context: ClosedClient)
    monkeypatch.setattr(scan, "list_namespace", lambda api_client, namespace: snapshot())
    # Act
    code = main(["scan", "--namespace", "agents", "-o", "json", "--now", "2026-12-01T09:23:00Z"])
    # Assert
    assert code == scan.EXIT_ZOMBIES
    assert json.loads(capsys.readouterr().out)["unreported_zombies"] == 1


# --------------------------------------------------------------------------
# With the task feed

IMAGE = job_of(load("image-job-active.json"))
"""In flight since 09:17:30, its pod in ErrImagePull: a zombie on the cluster's word."""


def task_state(current_job: str, started: datetime | None) -> TaskState:
    return TaskState(current_job=current_job, job_started_at=started, assignee="claude",
                     trigger_count=1, max_triggers=3, phase="in_progress")


def feed_of(*tasks: tuple[str, TaskState], malformed: int = 0) -> scan.FeedRead:
    states = TaskStates()
    for task_id, state in tasks:
        states.put(task_id, state)
    return scan.FeedRead("develop-agent-task-v1-event", states, None, malformed)


def test_a_job_its_task_no_longer_names_is_superseded_and_sets_no_exit_status() -> None:
    # Arrange: the task names a Job spawned five minutes after the failing one
    newer = "claude-89792132-20261201092230"
    feed = feed_of((IMAGE.task_id, task_state(newer, IMAGE.created_at + timedelta(minutes=5))),
                   (job_of(load("exit0-job-complete.json")).task_id, task_state("", None)))
    # Act
    report = scan.scan(snapshot(), namespace="agents", now=NOW, feed=feed)
    # Assert
    image = next(row for row in report.rows if row.job_name == IMAGE.name)
    assert image.superseded_by == newer
    assert not image.zombie
    assert report.exit_code == scan.EXIT_NO_ZOMBIES
    table = scan.render_table(report)
    assert f"superseded by {newer}" in table
    assert "task feed develop-agent-task-v1-event: 2 tasks, 1 Jobs superseded, 1 named Jobs " \
        "not in the namespace" in table
    rows = {row["job"]: row for row in json.loads(scan.render_json(report))["jobs"]}
    assert (rows[IMAGE.name]["zombie"], rows[IMAGE.name]["waiting"],
            rows[IMAGE.name]["superseded_by"]) == (False, "superseded", newer)


def test_a_task_naming_a_job_the_namespace_lacks_is_a_zombie_row_past_its_deadline() -> None:
    # Arrange: spawned 2 h ago (the default deadline is 30 min), never seen in the namespace
    gone = "claude-0a1b2c3d-20261201072300"
    feed = feed_of(("0a1b2c3d-task", task_state(gone, NOW - timedelta(hours=2))))
    # Act
    report = scan.scan(snapshot(), namespace="agents", now=NOW, feed=feed)
    # Assert: listed first (the oldest), with no Job, a zombie nobody can have annotated
    row = report.rows[0]
    assert (row.job_name, row.task_id, row.missing, row.job) == (gone, "0a1b2c3d-task", True,
                                                                 None)
    assert isinstance(row.outcome, Verdict)
    assert (row.outcome.reason.value, row.outcome.rule.value) == ("executor_watch_lost",
                                                                  "deadline_no_pod")
    assert row.unreported_zombie
    assert report.exit_code == scan.EXIT_ZOMBIES
    line = scan.render_table(report).splitlines()[1]
    assert line.split()[:5] == [gone, "claude", "2", "h", "0"]
    assert ("deadline_no_pod: job not in the namespace (the daemon waits 2 min after first "
            "seeing it missing)") in line
    entry = json.loads(scan.render_json(report))["jobs"][0]
    assert entry == {
        "job": gone, "task_id": "0a1b2c3d-task", "assignee": "claude", "created_at": None,
        "started_at": "2026-12-01T07:23:00Z", "age_seconds": 7200, "pods": 0, "zombie": True,
        "reason": "executor_watch_lost", "evidence": None,
        "detail": "no pod of the Job 7200 s after its start (deadline 1800 s)", "cause": None,
        "rule": "deadline_no_pod",
        "waiting": None, "why": None, "remaining_seconds": None, "reported": None,
        "reaped_at": None, "missing": True, "superseded_by": None, "settle_seconds": 120}


def test_a_missing_job_before_its_deadline_says_when_and_that_the_daemon_waits() -> None:
    # Arrange
    gone = "claude-0a1b2c3d-20261201091300"
    feed = feed_of(("0a1b2c3d-task", task_state(gone, NOW - timedelta(minutes=10))))
    # Act
    report = scan.scan(snapshot(jobs=(), pods=()), namespace="agents", now=NOW, feed=feed,
                       grace=timedelta(seconds=90))
    # Assert
    assert report.exit_code == scan.EXIT_NO_ZOMBIES
    assert ("job not in the namespace, deadline in 20 min (the daemon waits 90 s after first "
            "seeing it missing)") in scan.render_table(report)
    entry = json.loads(scan.render_json(report))["jobs"][0]
    assert (entry["zombie"], entry["waiting"], entry["remaining_seconds"],
            entry["settle_seconds"]) == (False, "job_missing", 1200, 90)


def test_a_task_naming_a_job_that_exists_completed_or_not_is_no_missing_row() -> None:
    done = job_of(load("exit0-job-complete.json"))
    feed = feed_of((done.task_id, task_state(done.name, done.created_at)),
                   (IMAGE.task_id, task_state(IMAGE.name, IMAGE.created_at)))

    report = scan.scan(snapshot(), namespace="agents", now=NOW, feed=feed)

    assert not any(row.missing for row in report.rows)
    assert len(report.rows) == 2


def test_a_feed_that_was_not_read_leaves_the_cluster_verdicts_and_says_so() -> None:
    # Arrange
    feed = scan.FeedRead("develop-agent-task-v1-event", None, "unavailable: no broker")
    # Act
    report = scan.scan(snapshot(), namespace="agents", now=NOW, feed=feed)
    # Assert
    cluster_only = scan.scan(snapshot(), namespace="agents", now=NOW)
    assert report.rows == cluster_only.rows
    assert report.exit_code == cluster_only.exit_code == scan.EXIT_ZOMBIES
    assert scan.feed_warning(feed) == (
        "warning: task feed develop-agent-task-v1-event not read (unavailable: no broker); "
        "judging from the cluster only")
    assert ("task feed develop-agent-task-v1-event: not read, cluster only (unavailable: no "
            "broker)") in scan.render_table(report)
    assert json.loads(scan.render_json(report))["task_feed"] == {
        "topic": "develop-agent-task-v1-event", "read": False, "tasks": None, "malformed": 0,
        "problem": "unavailable: no broker"}
    assert json.loads(scan.render_json(cluster_only))["task_feed"] is None


def kafka(**changes: Any) -> KafkaOptions:
    return replace(KafkaOptions(brokers="kafka:9092", branch="dev"), **changes)


def test_the_feed_is_read_with_the_daemons_topic_and_security_settings() -> None:
    # Act
    source = scan.feed_source(kafka(security_protocol=SecurityProtocol.SASL_SSL,
                                    sasl_mechanism=SaslMechanism.SCRAM_SHA_512,
                                    sasl_username="zw", sasl_password="pw"), "agents")
    # Assert
    assert source is not None
    assert source.topic == "develop-agent-task-v1-event"
    assert source.settings.bootstrap_servers == "kafka:9092"
    assert source.settings.security_protocol is SecurityProtocol.SASL_SSL
    assert source.settings.sasl is not None
    assert source.settings.sasl.username == "zw"
    assert source.settings.client_id == "zombiewatch-scan"
    assert scan.feed_source(kafka(topic_prefix="team"), "agents") == replace(
        source, topic="team-agent-task-v1-event", settings=replace(
            source.settings, tls=None, sasl=None, topic="team-agent-task-v1-request"))


def test_without_brokers_or_with_no_task_events_the_feed_is_not_read() -> None:
    assert scan.feed_source(kafka(brokers=""), "agents") is None
    assert scan.feed_source(kafka(task_events=False), "agents") is None


def fake_consumers(consumer: FakeConsumer) -> Callable[[KafkaClientSettings], FakeConsumer]:
    def factory(settings: KafkaClientSettings) -> FakeConsumer:
        return consumer
    return factory


async def test_reading_the_feed_goes_to_the_end_counts_bad_events_and_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Arrange
    consumer = FakeConsumer(logs={0: [], 1: []})
    for n in range(7):
        consumer.append(f"task-{n}", feed_event(f"task-{n}", current_job=f"job-{n}"),
                        partition=n % 2)
    consumer.append("task-9", b"{not json")
    monkeypatch.setattr(scan, "aiokafka_feed_consumer", fake_consumers(consumer))
    source = scan.feed_source(kafka(), "agents")
    assert source is not None
    # Act
    read = await scan.read_task_feed(source, timeout=60)
    # Assert
    assert read.states is not None
    naming = [read.states.naming(job) for job in read.states.jobs_in_flight()]
    assert sorted(named[0] for named in naming if named) == [f"task-{n}" for n in range(7)]
    assert (read.problem, read.malformed) == (None, 1)
    assert consumer.stopped


async def test_a_missing_topic_is_a_problem_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer(visible=False)
    monkeypatch.setattr(scan, "aiokafka_feed_consumer", fake_consumers(consumer))
    source = scan.feed_source(kafka(), "agents")
    assert source is not None

    read = await scan.read_task_feed(source, timeout=60)

    assert read.states is None
    assert read.problem == "topic develop-agent-task-v1-event does not exist or is not visible"
    assert consumer.stopped


class EndlessTopic(FakeConsumer):
    """A topic whose end it never reaches: the end offset is past what it hands out."""

    async def end_offsets(self, partitions: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        return {tp: len(self.logs[tp.partition]) + 1 for tp in partitions}


async def test_a_feed_not_read_to_its_end_in_time_is_a_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = EndlessTopic(block_when_idle=True)
    monkeypatch.setattr(scan, "aiokafka_feed_consumer", fake_consumers(consumer))
    source = scan.feed_source(kafka(), "agents")
    assert source is not None

    read = await scan.read_task_feed(source, timeout=0.01)

    assert (read.states, read.problem) == (None, "not read to its end within 0.01 s")
    assert consumer.stopped


def test_scan_with_an_unreadable_feed_warns_once_and_keeps_the_cluster_exit_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.setattr(scan, "api_client_factory", lambda kubeconfig, context: ClosedClient)
    monkeypatch.setattr(scan, "list_namespace", lambda api_client, namespace: snapshot())
    monkeypatch.setattr(scan, "aiokafka_feed_consumer",
                        fake_consumers(FakeConsumer(visible=False)))
    # Act
    code = main(["scan", "--namespace", "agents", "--now", "2026-12-01T09:23:00Z",
                 "--kafka-brokers", "kafka:9092", "--branch", "dev"])
    # Assert
    out, err = capsys.readouterr()
    assert code == scan.EXIT_ZOMBIES
    assert err == ("zombiewatch scan: warning: task feed develop-agent-task-v1-event not read "
                   "(topic develop-agent-task-v1-event does not exist or is not visible); "
                   "judging from the cluster only\n")
    assert "waiting_image_pull" in out


def test_scan_with_the_feed_shows_its_rows_and_their_exit_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: the failing Job superseded by one not listed yet, a missing Job past its deadline
    consumer = FakeConsumer()
    consumer.append(IMAGE.task_id, feed_event(
        IMAGE.task_id, current_job="claude-89792132-20261201092230",
        job_started_at="2026-12-01T09:22:30Z"))
    consumer.append("0a1b2c3d-task", feed_event(
        "0a1b2c3d-task", current_job="claude-0a1b2c3d-20261201072300",
        job_started_at="2026-12-01T07:23:00Z"))
    monkeypatch.setattr(scan, "api_client_factory", lambda kubeconfig, context: ClosedClient)
    monkeypatch.setattr(scan, "list_namespace",
                        lambda api_client, namespace: snapshot(jobs=(IMAGE,)))
    monkeypatch.setattr(scan, "aiokafka_feed_consumer", fake_consumers(consumer))
    monkeypatch.setenv("KAFKA_BROKERS", "kafka:9092")
    args = ["scan", "--namespace", "agents", "--now", "2026-12-01T09:23:00Z", "--branch", "dev",
            "-o", "json"]
    # Act
    code = main(args)
    out, err = capsys.readouterr()
    no_feed = main([*args, "--no-task-events"])
    capsys.readouterr()
    # Assert
    assert (code, err) == (scan.EXIT_ZOMBIES, "")
    document = json.loads(out)
    assert [(row["job"], row["zombie"], row["missing"], row["superseded_by"])
            for row in document["jobs"]] == [
        ("claude-0a1b2c3d-20261201072300", True, True, None),
        (IMAGE.name, False, False, "claude-89792132-20261201092230"),
        ("claude-89792132-20261201092230", False, True, None)]
    assert document["task_feed"] == {"topic": "develop-agent-task-v1-event", "read": True,
                                     "tasks": 2, "malformed": 0, "problem": None}
    assert no_feed == scan.EXIT_ZOMBIES  # the image pull zombie, on the cluster's word


def test_scan_with_sasl_but_no_password_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_SASL_PASSWORD", raising=False)

    code = main(["scan", "--namespace", "agents", "--kafka-brokers", "kafka:9092",
                 "--kafka-security-protocol", "SASL_SSL", "--kafka-sasl-mechanism", "PLAIN",
                 "--kafka-sasl-username", "zw"])

    assert code == scan.EXIT_USAGE
    assert "SASL needs" in capsys.readouterr().err


def test_the_evidence_follows_the_reason_as_on_the_failure_s_reason_line() -> None:
    """An OOM-killed agent: the table says it as the task file will, the JSON apart."""
    killed = job_of(load("oom-job-failed.json"))
    pods = (pod_of(load("oom-pod-killed.json")),)
    # Act
    report = scan.scan(snapshot(jobs=(killed,), pods=pods), namespace="agents", now=NOW)
    # Assert
    (row,) = report.rows
    assert isinstance(row.outcome, Verdict)
    assert row.outcome.evidence == "OOMKilled/137"
    assert "pod_oom_killed (OOMKilled/137)" in scan.render_table(report)
    entry = json.loads(scan.render_json(report))["jobs"][0]
    assert (entry["reason"], entry["evidence"]) == ("pod_oom_killed", "OOMKilled/137")


def _pulling(n: int, image: str) -> tuple[JobView, PodView]:
    job = job_view(f"claude-{n:08x}-20261201090000", task_id=f"task-{n}")
    pod = pod_view(job, waiting="ImagePullBackOff")
    return job, replace(pod, containers=tuple(replace(c, image=image) for c in pod.containers))


def test_zombies_sharing_a_cause_past_the_threshold_are_listed_as_an_incident() -> None:
    # Arrange: three Jobs fail to pull one image, one fails to pull another.
    pairs = [_pulling(n, "registry.example/agent:2") for n in range(3)]
    pairs.append(_pulling(9, "registry.example/other:1"))
    shared = NamespaceSnapshot(jobs=tuple(j for j, _ in pairs), pods=tuple(p for _, p in pairs),
                               configs=(), skipped=(), configs_missing=False)
    # Act
    report = scan.scan(shared, namespace="agents", now=NOW)
    above = scan.scan(shared, namespace="agents", now=NOW, storm_threshold=4)
    # Assert
    assert json.loads(scan.render_json(report))["incidents"] == [{
        "cause": "image:registry.example/agent:2", "cause_kind": "image",
        "jobs": [j.name for j, _ in pairs[:3]], "tasks": ["task-0", "task-1", "task-2"]}]
    assert ("storm: 3 zombies share image:registry.example/agent:2 (threshold 3)"
            in scan.render_table(report))
    assert above.incidents == ()
    assert "storm:" not in scan.render_table(above)
