"""Smoke tests proving the real services do what zombiewatch's integration tests rely on."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerFenced
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from harness import kubelet
from harness.services import Services
from harness.waiting import wait_until_sync

pytestmark = pytest.mark.integration


def _watch_until(core: Any, ns: str, rv: str, want: int) -> list[tuple[str, Any]]:
    """Collect pod watch events from ``rv`` until ``want`` arrived (10 s server timeout)."""
    events: list[tuple[str, Any]] = []
    watcher: Any = watch.Watch  # untyped in the client package
    stream = watcher()
    for event in stream.stream(core.list_namespaced_pod, ns, resource_version=rv,
                               timeout_seconds=10):
        events.append((event["type"], event["object"]))
        if len(events) >= want:
            stream.stop()
    return events


def _waiting_reason(pod: Any) -> str | None:
    """Reason of the first container's waiting state, if any."""
    statuses = pod.status.container_statuses or []
    waiting = statuses[0].state.waiting if statuses else None
    return None if waiting is None else str(waiting.reason)


def test_job_pod_status_patch_and_list_then_watch(api_client: Any, namespace: str) -> None:
    core: Any = client.CoreV1Api(api_client)
    batch: Any = client.BatchV1Api(api_client)
    listed = core.list_namespaced_pod(namespace, label_selector=kubelet.TASK_ID_LABEL)
    assert listed.items == []
    job = kubelet.create_agent_job(batch, namespace, task_id="task-1", name="agent-task-1")
    pod = kubelet.create_agent_pod(core, namespace, job=job, task_id="task-1")
    owner = pod.metadata.owner_references[0]
    assert (owner.kind, owner.uid, owner.controller) == ("Job", job.metadata.uid, True)
    kubelet.set_waiting(core, namespace, pod, "ImagePullBackOff", message="back-off")

    events = _watch_until(core, namespace, listed.metadata.resource_version, 2)
    assert [kind for kind, _ in events] == ["ADDED", "MODIFIED"]
    assert events[1][1].metadata.labels[kubelet.TASK_ID_LABEL] == "task-1"
    assert _waiting_reason(events[1][1]) == "ImagePullBackOff"
    selected = core.list_namespaced_pod(namespace,
                                        label_selector=f"{kubelet.TASK_ID_LABEL}=task-1")
    assert [p.metadata.name for p in selected.items] == [pod.metadata.name]


def test_job_status_can_be_played(api_client: Any, namespace: str) -> None:
    batch: Any = client.BatchV1Api(api_client)
    job = kubelet.create_agent_job(batch, namespace, task_id="task-2", name="agent-task-2",
                                   active_deadline_seconds=60)
    kubelet.set_job_started(batch, namespace, job)
    done = kubelet.set_job_failed(batch, namespace, job, "DeadlineExceeded")
    assert done.status.start_time is not None
    assert [(c.type, c.reason) for c in done.status.conditions] == [
        ("FailureTarget", "DeadlineExceeded"), ("Failed", "DeadlineExceeded")]


def _crd(group: str) -> Any:
    """A namespaced CRD whose spec.replicas must be >= 10."""
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "replicas": {"type": "integer", "minimum": 10}}}}}
    return client.V1CustomResourceDefinition.model_validate({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": schema}}]}})


def _create_widget(custom: Any, group: str, ns: str, name: str, replicas: int) -> Any:
    """Create a Widget, retrying the 404s a just-established CRD still gives."""
    body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"replicas": replicas}}
    created: list[Any] = []

    def create() -> bool:
        try:
            created.append(custom.create_namespaced_custom_object(group, "v1", ns, "widgets",
                                                                  body))
        except ApiException as exc:
            if exc.status != 404:
                raise
            return False
        return True

    wait_until_sync(create, f"Widget {name} created", timeout=20, interval=0.2)
    return created[0]


def test_crd_minimum_is_enforced_with_422(api_client: Any, namespace: str) -> None:
    ext: Any = client.ApiextensionsV1Api(api_client)
    custom: Any = client.CustomObjectsApi(api_client)
    group = f"g{uuid.uuid4().hex[:8]}.zombiewatch.test"
    ext.create_custom_resource_definition(_crd(group))
    try:
        assert _create_widget(custom, group, namespace, "ok", 12)["spec"]["replicas"] == 12
        with pytest.raises(ApiException) as err:
            _create_widget(custom, group, namespace, "too-small", 3)
        assert err.value.status == 422
    finally:
        ext.delete_custom_resource_definition(f"widgets.{group}")


def test_lease_update_with_stale_resource_version_conflicts(api_client: Any,
                                                            namespace: str) -> None:
    coord: Any = client.CoordinationV1Api(api_client)
    lease = coord.create_namespaced_lease(namespace, client.V1Lease.model_validate(
        {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a"}}))
    fresh = coord.read_namespaced_lease("leader", namespace)
    fresh.spec.holder_identity = "b"
    coord.replace_namespaced_lease("leader", namespace, fresh)
    lease.spec.holder_identity = "c"
    with pytest.raises(ApiException) as err:
        coord.replace_namespaced_lease("leader", namespace, lease)
    assert err.value.status == 409


def test_compact_etcd_makes_old_resource_versions_gone(services: Services, api_client: Any,
                                                       namespace: str) -> None:
    core: Any = client.CoreV1Api(api_client)
    old_rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    for i in range(3):
        core.create_namespaced_config_map(namespace, client.V1ConfigMap.model_validate(
            {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}}))
    assert services.compact_etcd_across_restart() > int(old_rv)
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(namespace, resource_version=old_rv, limit=1)
    assert err.value.status == 410


async def _consume(bootstrap: str, topic: str, count: int, *,
                   isolation_level: str = "read_uncommitted") -> list[Any]:
    """Read ``count`` records from the start of ``topic`` (20 s budget)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, isolation_level=isolation_level)
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(20):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for part in batch.values():
                    records.extend(part)
    finally:
        await consumer.stop()
    return records


async def test_idempotent_produce_with_key_round_trips(bootstrap_servers: str,
                                                       topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True,
                                acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"payload", key=b"task-1")
    finally:
        await producer.stop()
    assert meta.offset == 0
    [record] = await _consume(bootstrap_servers, topic, 1)
    assert (record.key, record.value) == (b"task-1", b"payload")


async def _transaction(producer: Any, topic: str, values: list[bytes], *, commit: bool) -> None:
    """One transaction with ``values``, committed or aborted."""
    await producer.begin_transaction()
    for value in values:
        await producer.send_and_wait(topic, value)
    if commit:
        await producer.commit_transaction()
    else:
        await producer.abort_transaction()


async def test_transactions_commit_visible_abort_invisible(bootstrap_servers: str,
                                                           topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers,
                                transactional_id=f"zw-tx-{uuid.uuid4().hex[:8]}")
    await producer.start()
    try:
        await _transaction(producer, topic, [b"c1", b"c2"], commit=True)
        await _transaction(producer, topic, [b"aborted"], commit=False)
        await _transaction(producer, topic, [b"c3"], commit=True)
    finally:
        await producer.stop()
    records = await _consume(bootstrap_servers, topic, 3, isolation_level="read_committed")
    assert [r.value for r in records] == [b"c1", b"c2", b"c3"]


async def test_second_producer_with_same_transactional_id_fences_first(
        bootstrap_servers: str, topic: str) -> None:
    txn_id = f"zw-fence-{uuid.uuid4().hex[:8]}"
    first = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, transactional_id=txn_id)
    second = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, transactional_id=txn_id)
    await first.start()
    try:
        await _transaction(first, topic, [b"before"], commit=True)
        await second.start()
        with pytest.raises((ProducerFenced, KafkaError)):
            await _transaction(first, topic, [b"zombie"], commit=True)
        await _transaction(second, topic, [b"after"], commit=True)
    finally:
        await second.stop()
        with contextlib.suppress(KafkaError):
            await first.stop()
    records = await _consume(bootstrap_servers, topic, 2, isolation_level="read_committed")
    assert [r.value for r in records] == [b"before", b"after"]


def test_restart_apiserver_answers_again(services: Services, api_client: Any) -> None:
    core: Any = client.CoreV1Api(api_client)
    before = core.list_namespace().metadata.resource_version
    services.restart_apiserver()
    after = core.list_namespace().metadata.resource_version
    assert int(after) >= int(before)


async def test_stop_and_start_kafka_keeps_port_and_data(services: Services,
                                                        bootstrap_servers: str,
                                                        topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"before-restart")
    finally:
        await producer.stop()
    await asyncio.to_thread(services.stop_kafka)
    await asyncio.to_thread(services.start_kafka)
    assert services.bootstrap_servers == bootstrap_servers
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"after-restart")
    finally:
        await producer.stop()
    records = await _consume(bootstrap_servers, topic, 2)
    assert [r.value for r in records] == [b"before-restart", b"after-restart"]


def test_kubelet_helpers_write_what_the_kubelet_would(api_client: Any, namespace: str) -> None:
    core: Any = client.CoreV1Api(api_client)
    batch: Any = client.BatchV1Api(api_client)
    job = kubelet.create_agent_job(batch, namespace, task_id="t3", name="agent-t3")
    pod = kubelet.create_agent_pod(core, namespace, job=job, task_id="t3", init_container="init")
    got = kubelet.set_unschedulable(core, namespace, pod)
    assert [(c.type, c.reason) for c in got.status.conditions] == [
        ("PodScheduled", "Unschedulable")]
    got = kubelet.set_waiting(core, namespace, pod, "CreateContainerConfigError", init=True,
                              container="init")
    assert got.status.init_container_statuses[0].state.waiting.reason == (
        "CreateContainerConfigError")
    got = kubelet.set_running(core, namespace, pod)
    assert got.status.phase == "Running"
    assert got.status.container_statuses[0].state.running is not None
    got = kubelet.set_terminated(core, namespace, pod, 137, reason="OOMKilled")
    terminated = got.status.container_statuses[0].state.terminated
    assert (got.status.phase, terminated.exit_code, terminated.reason) == (
        "Failed", 137, "OOMKilled")
    got = kubelet.set_evicted(core, namespace, pod)
    assert (got.status.phase, got.status.reason) == ("Failed", "Evicted")
    done = kubelet.set_job_complete(batch, namespace, job)
    assert [c.type for c in done.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    assert done.status.start_time is not None
    assert done.status.succeeded == 1
