"""``zombiewatch scan`` against the real API server, under a Role that can only get and list.

A mix of states is written the way the kubelet and the Job controller write them; scan
runs with a ServiceAccount token whose Role grants get/list on jobs, pods and configs and
nothing else, names each Job's verdict or why not yet, changes no object (every
resourceVersion is the same afterwards), and says so when a namespace is not readable.

With the controller's task event topic on the real broker it shows a Job its task no
longer names as superseded (no zombie) and a task naming a Job the namespace lacks as a
row of its own (a zombie past its deadline), leaves no consumer group, offset or topic
behind, and warns once and judges the cluster alone when the topic cannot be read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from kubernetes import client

from harness import kubelet
from harness.controller import task_event
from harness.fixtures import create_topics, delete_topics, run_async, unique_name
from harness.services import Services
from harness.support import apply_config_crd
from zombiewatch.app.cli import main
from zombiewatch.domain.views import ZOMBIE_REASON_ANNOTATION, ZOMBIE_REPORTED_AT_ANNOTATION

pytestmark = pytest.mark.integration

READ_ONLY_RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]},
    {"apiGroups": ["agent.benjamin-borbe.de"], "resources": ["configs"], "verbs": ["get", "list"]},
]


def read_only_kubeconfig(api_client: Any, services: Services, namespace: str,
                         path: Path) -> Path:
    """A ServiceAccount bound to a get/list-only Role in ``namespace``; its token's kubeconfig."""
    core: Any = client.CoreV1Api(api_client)
    rbac: Any = client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "scanner"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "scanner"},
                                            "rules": READ_ONLY_RULES})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "scanner"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "scanner"},
        "subjects": [{"kind": "ServiceAccount", "name": "scanner", "namespace": namespace}]})
    token = core.create_namespaced_service_account_token(
        "scanner", namespace,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"audiences": [], "expirationSeconds": 3600}}).status.token
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "scanner",
        "clusters": [{"name": "local", "cluster": {
            "server": services.api_url, "certificate-authority": str(services.ca_file)}}],
        "users": [{"name": "scanner", "user": {"token": token}}],
        "contexts": [{"name": "scanner", "context": {"cluster": "local", "user": "scanner"}}],
    }))
    return path


def resource_versions(api_client: Any, namespace: str) -> dict[str, str]:
    core: Any = client.CoreV1Api(api_client)
    batch: Any = client.BatchV1Api(api_client)
    found = {f"job/{j.metadata.name}": j.metadata.resource_version
             for j in batch.list_namespaced_job(namespace).items}
    found.update({f"pod/{p.metadata.name}": p.metadata.resource_version
                  for p in core.list_namespaced_pod(namespace).items})
    return found


@dataclass(frozen=True)
class Scene:
    api_client: Any
    namespace: str
    names: dict[str, str]
    """Job name per case."""
    kubeconfig: Path
    """The get/list-only scanner's."""


@pytest.fixture
def scene(api_client: Any, services: Services, namespace: str, tmp_path: Path) -> Scene:
    """Four in-flight Jobs (image pull, unschedulable, running, reported) and a completed one."""
    apply_config_crd(api_client)
    core: Any = client.CoreV1Api(api_client)
    batch: Any = client.BatchV1Api(api_client)
    names: dict[str, str] = {}
    for case in ("image", "unschedulable", "running", "reported", "done"):
        task = f"{case}-{unique_name('t')}"
        annotations = None
        if case == "reported":
            annotations = {ZOMBIE_REASON_ANNOTATION: "pod_crash_no_stdout",
                           ZOMBIE_REPORTED_AT_ANNOTATION: kubelet.now()}
        job = kubelet.create_agent_job(batch, namespace, task_id=task,
                                       name=unique_name(f"claude-{case}"),
                                       annotations=annotations)
        kubelet.set_job_started(batch, namespace, job)
        pod = kubelet.create_agent_pod(core, namespace, job=job, task_id=task)
        if case == "image":
            kubelet.set_waiting(core, namespace, pod, "ErrImagePull")
        elif case == "unschedulable":
            kubelet.set_unschedulable(core, namespace, pod)
        elif case == "running":
            kubelet.set_running(core, namespace, pod)
        elif case == "reported":
            kubelet.set_terminated(core, namespace, pod, 1)
        else:
            kubelet.set_terminated(core, namespace, pod, 0, phase="Succeeded",
                                   reason="Completed")
            kubelet.set_job_complete(batch, namespace, job)
        names[case] = str(job.metadata.name)
    kubeconfig = read_only_kubeconfig(api_client, services, namespace, tmp_path / "scanner")
    return Scene(api_client, namespace, names, kubeconfig)


def test_scan_under_a_get_list_role_names_each_jobs_verdict_and_changes_nothing(
    scene: Scene, capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange
    before = resource_versions(scene.api_client, scene.namespace)
    # Act
    # an hour of grace: the unschedulable pod stays inside it however slow the machine is
    scan = ["scan", "--namespace", scene.namespace, "--kubeconfig", str(scene.kubeconfig),
            "--grace-seconds", "3600"]
    code = main([*scan, "-o", "json"])
    out, err = capsys.readouterr()
    table_code = main(scan)
    table = capsys.readouterr().out
    # Assert
    assert (code, err) == (1, ""), err
    document = json.loads(out)
    rows = {row["job"]: row for row in document["jobs"]}
    names = scene.names
    assert set(rows) == {names["image"], names["unschedulable"], names["running"],
                         names["reported"]}
    assert (rows[names["image"]]["reason"], rows[names["image"]]["rule"]) == (
        "image_pull_backoff", "waiting_image_pull")
    assert rows[names["image"]]["reported"] is None
    unschedulable = rows[names["unschedulable"]]
    assert unschedulable["why"].startswith("unschedulable, grace ends in ")
    assert unschedulable["waiting"] == "unschedulable"
    assert 3000 < unschedulable["remaining_seconds"] <= 3600
    assert re.fullmatch(r"running, deadline in \d+ min", rows[names["running"]]["why"])
    assert rows[names["reported"]]["reason"] == "pod_crash_no_stdout"
    assert rows[names["reported"]]["reported"]["reason"] == "pod_crash_no_stdout"
    assert (document["completed"], document["unreported_zombies"]) == (1, 1)
    assert table_code == 1
    assert names["image"] in table
    assert "4 in flight, 2 zombies (1 not reported), 1 completed not shown" in table
    assert resource_versions(scene.api_client, scene.namespace) == before


def test_scan_finds_its_credentials_and_namespace_in_kubeconfig_as_kubectl_does(
    scene: Scene, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange: no flag, no NAMESPACE; KUBECONFIG lists a file that only adds a context
    # naming the namespace (and makes it current), a missing file, and the scanner's
    overlay = tmp_path / "context"
    overlay.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "agents",
        "contexts": [{"name": "agents", "context": {
            "cluster": "local", "user": "scanner", "namespace": scene.namespace}}]}))
    for name in ("NAMESPACE", "KUBE_CONTEXT", "KAFKA_BROKERS", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(
        [str(overlay), str(tmp_path / "missing"), str(scene.kubeconfig)]))
    # Act
    code = main(["scan", "--grace-seconds", "3600", "-o", "json"])
    # Assert
    out, err = capsys.readouterr()
    assert (code, err) == (1, ""), err
    document = json.loads(out)
    assert document["namespace"] == scene.namespace
    assert scene.names["image"] in {row["job"] for row in document["jobs"]}


def test_scan_of_a_namespace_it_cannot_read_says_so_and_exits_3(
    api_client: Any, services: Services, namespace: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange: the scanner may read its own namespace only
    kubeconfig = read_only_kubeconfig(api_client, services, namespace, tmp_path / "scanner")
    other = unique_name("zw-other")
    core: Any = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": other,
                                        "labels": {"zombiewatch.test/owned": "true"}}})
    try:
        # Act
        code = main(["scan", "--namespace", other, "--kubeconfig", str(kubeconfig)])
    finally:
        core.delete_namespace(other)
    # Assert
    captured = capsys.readouterr()
    assert code == 3
    assert captured.out == ""
    assert f"cannot read namespace {other}: 403" in captured.err


# --------------------------------------------------------------------------
# With the task feed: the controller's event topic on the real broker


@dataclass(frozen=True)
class FeedScene:
    namespace: str
    kubeconfig: Path
    bootstrap: str
    prefix: str
    """The topic prefix: the event topic is ``<prefix>-agent-task-v1-event``."""
    topic: str
    old: str
    """A Job whose agent crashed: a zombie on the cluster's word."""
    new: str
    """The Job the same task names now (spawned later, running)."""
    gone: str
    """The Job a task names that the namespace never had, past its deadline."""
    gone_task: str
    young: str
    """A Job a task names that the namespace does not have, before its deadline."""


async def _produce(bootstrap: str, topic: str, records: list[tuple[str, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, key=key.encode(), value=value)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, records: list[tuple[str, bytes | None]]) -> None:
    run_async(lambda: _produce(bootstrap, topic, records))


def event(task_id: str, current_job: str, started: datetime | None) -> bytes:
    """A task event as the controller publishes it (the whole task; a body we skip)."""
    moment = datetime.now(UTC)
    return task_event(task_id=task_id, path=f"tasks/{task_id}.md", frontmatter={
        "task_identifier": task_id, "assignee": "claude", "phase": "in_progress",
        "status": "in_progress", "current_job": current_job, "job_started_at": started,
        "trigger_count": 1, "max_triggers": 3}, body="## Goal\n\nShip it.\n",
        created=moment, modified=moment)


async def _kafka_state(bootstrap: str, topic: str) -> tuple[set[str], list[str]]:
    """Every topic the broker has, and the consumer groups holding an offset of ``topic``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        topics = set(await admin.list_topics())
        holding = []
        for group in await admin.list_consumer_groups():
            offsets = await admin.list_consumer_group_offsets(group[0])
            if any(tp.topic == topic for tp in offsets):
                holding.append(group[0])
        return topics, holding
    finally:
        await admin.close()


async def _end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


@pytest.fixture
def feed_scene(api_client: Any, services: Services, namespace: str,
               tmp_path: Path) -> Iterator[FeedScene]:
    """(a) a task naming a Job the namespace lacks, past its deadline (and one before it);
    (b) a task naming a newer Job than its crashed one; plus an idle task, a deleted one
    and a malformed event, on a 2-partition event topic."""
    apply_config_crd(api_client)
    core: Any = client.CoreV1Api(api_client)
    batch: Any = client.BatchV1Api(api_client)
    task = unique_name("t")
    old = kubelet.create_agent_job(batch, namespace, task_id=task,
                                   name=unique_name("claude-old"))
    # started ten minutes ago: the newer Job's job_started_at (now) is provably later
    kubelet.set_job_started(batch, namespace, old, datetime.now(UTC) - timedelta(minutes=10))
    pod = kubelet.create_agent_pod(core, namespace, job=old, task_id=task)
    kubelet.set_terminated(core, namespace, pod, 1)
    new = kubelet.create_agent_job(batch, namespace, task_id=task,
                                   name=unique_name("claude-new"))
    kubelet.set_job_started(batch, namespace, new)
    kubelet.set_running(core, namespace, kubelet.create_agent_pod(core, namespace, job=new,
                                                                  task_id=task))
    prefix = unique_name("zw-scan")
    topic = f"{prefix}-agent-task-v1-event"
    bootstrap = services.bootstrap_servers
    create_topics(bootstrap, [topic], 2)
    now = datetime.now(UTC)
    gone_task, young_task = unique_name("t-gone"), unique_name("t-young")
    scene = FeedScene(namespace=namespace,
                      kubeconfig=read_only_kubeconfig(api_client, services, namespace,
                                                      tmp_path / "scanner"),
                      bootstrap=bootstrap, prefix=prefix, topic=topic,
                      old=str(old.metadata.name), new=str(new.metadata.name),
                      gone=unique_name("claude-gone"), gone_task=gone_task,
                      young=unique_name("claude-young"))
    deleted = unique_name("t-deleted")
    try:
        produce(bootstrap, topic, [
            (task, event(task, scene.old, now - timedelta(minutes=10))),
            (task, event(task, scene.new, now)),
            (gone_task, event(gone_task, scene.gone, now - timedelta(hours=2))),
            (young_task, event(young_task, scene.young, now - timedelta(minutes=5))),
            (unique_name("t-idle"), event("idle", "", None)),
            (deleted, event(deleted, unique_name("claude-deleted"), now - timedelta(hours=3))),
            (deleted, None),
            (unique_name("t-bad"), b"{not json"),
        ])
        yield scene
    finally:
        delete_topics(bootstrap, [topic])


def scan_args(scene: FeedScene, *extra: str) -> list[str]:
    return ["scan", "--namespace", scene.namespace, "--kubeconfig", str(scene.kubeconfig),
            "--kafka-brokers", scene.bootstrap, "--feed-timeout", "120", *extra]


def test_scan_with_the_task_feed_shows_superseded_and_missing_jobs(
    feed_scene: FeedScene, capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange
    scene = feed_scene
    ends_before = run_async(lambda: _end_offsets(scene.bootstrap, scene.topic, 2))
    # Act
    code = main(scan_args(scene, "--topic-prefix", scene.prefix, "-o", "json"))
    out, err = capsys.readouterr()
    table_code = main(scan_args(scene, "--topic-prefix", scene.prefix))
    table, table_err = capsys.readouterr()
    cluster_only = main(scan_args(scene, "--topic-prefix", scene.prefix, "--no-task-events"))
    capsys.readouterr()
    # Assert: JSON
    assert (code, err) == (1, ""), err
    document = json.loads(out)
    rows = {row["job"]: row for row in document["jobs"]}
    assert set(rows) == {scene.old, scene.new, scene.gone, scene.young}
    old = rows[scene.old]
    assert (old["zombie"], old["waiting"], old["superseded_by"], old["missing"]) == (
        False, "superseded", scene.new, False)
    assert old["why"] == f"superseded by {scene.new}"
    assert re.fullmatch(r"running, deadline in \d+ min", rows[scene.new]["why"])
    gone = rows[scene.gone]
    assert (gone["zombie"], gone["reason"], gone["rule"], gone["missing"], gone["task_id"],
            gone["settle_seconds"], gone["reported"]) == (
        True, "executor_watch_lost", "deadline_no_pod", True, scene.gone_task, 120, None)
    young = rows[scene.young]
    assert (young["zombie"], young["waiting"], young["missing"]) == (False, "job_missing", True)
    assert re.fullmatch(r"job not in the namespace, deadline in \d+ min", young["why"])
    assert (document["zombies"], document["unreported_zombies"]) == (1, 1)
    assert document["task_feed"] == {"topic": scene.topic, "read": True, "tasks": 4,
                                     "malformed": 1, "problem": None}
    # Assert: the table says the same
    assert (table_code, table_err) == (1, "")
    line = next(line for line in table.splitlines() if line.startswith(scene.gone))
    assert "executor_watch_lost" in line
    assert ("deadline_no_pod: job not in the namespace (the daemon waits 2 min after first "
            "seeing it missing)") in line
    assert f"superseded by {scene.new}" in table
    assert "4 in flight, 1 zombies (1 not reported), 0 completed not shown" in table
    assert (f"task feed {scene.topic}: 4 tasks, 1 Jobs superseded, 2 named Jobs not in the "
            "namespace") in table
    assert "1 malformed task events skipped" in table
    # Assert: without the feed the crashed Job is a zombie
    assert cluster_only == 1
    # Assert: read-only: nothing published, no group holds an offset, no topic created
    assert run_async(lambda: _end_offsets(scene.bootstrap, scene.topic, 2)) == ends_before
    topics, holding = run_async(lambda: _kafka_state(scene.bootstrap, scene.topic))
    assert holding == []
    assert {t for t in topics if t.startswith(scene.prefix)} == {scene.topic}


def test_scan_exits_0_once_the_feed_names_no_job_past_its_deadline(
    feed_scene: FeedScene, capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange: the task naming the missing Job is deleted (tombstone); the crashed Job is
    # superseded, so no zombie is left
    scene = feed_scene
    produce(scene.bootstrap, scene.topic, [(scene.gone_task, None)])
    # Act
    code = main(scan_args(scene, "--topic-prefix", scene.prefix, "-o", "json"))
    out, err = capsys.readouterr()
    without_feed = main(scan_args(scene, "--topic-prefix", scene.prefix, "--no-task-events"))
    capsys.readouterr()
    # Assert
    assert (code, err) == (0, ""), err
    document = json.loads(out)
    assert {row["job"] for row in document["jobs"]} == {scene.old, scene.new, scene.young}
    assert document["zombies"] == 0
    assert without_feed == 1


def test_scan_warns_once_when_the_task_topic_cannot_be_read_and_judges_the_cluster(
    feed_scene: FeedScene, capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange: a prefix whose event topic does not exist (the broker auto-creates topics)
    scene = feed_scene
    absent = unique_name("zw-absent")
    # Act
    code = main(scan_args(scene, "--topic-prefix", absent, "-o", "json"))
    out, err = capsys.readouterr()
    # Assert
    assert code == 1  # the crashed Job, on the cluster's word
    assert err == (f"zombiewatch scan: warning: task feed {absent}-agent-task-v1-event not read "
                   f"(topic {absent}-agent-task-v1-event does not exist or is not visible); "
                   "judging from the cluster only\n")
    document = json.loads(out)
    assert {row["job"] for row in document["jobs"]} == {scene.old, scene.new}
    assert document["task_feed"]["read"] is False
    topics, _holding = run_async(lambda: _kafka_state(scene.bootstrap, scene.topic))
    assert f"{absent}-agent-task-v1-event" not in topics  # scan never creates it
