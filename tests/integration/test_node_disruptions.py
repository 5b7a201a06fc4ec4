"""Today's Kubernetes on the real v1.37 node (issue 14): disruptions, reaping, scan, the corpus.

Real workloads only: the kubelet, the scheduler, the Job controller and the
disruption paths (``kubectl drain``, the Eviction API, ``kubectl delete pod``, a
preemption) write every state; nothing is patched. The daemon runs in-process on
the host with deploy/'s ServiceAccount token (so the Role is proven sufficient for
watching, annotating and reaping) against the node's API server and its broker; the
topic is read ``read_uncommitted``, so a failure published twice would show even if
one of the two transactions had been aborted.

With ``ZOMBIEWATCH_RECORD_CORPUS=1`` each case writes what the node produced (the
Job and its pods at the moment of the published failure, and the pod watch stream
to its end) into ``tests/data/corpus/node-*.json``; ``cases.yaml`` there holds
their expected verdicts and ``tests/unit/test_explain_corpus.py`` checks them.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness import workloads
from harness.daemons import daemon_settings, running
from harness.node_fixtures import RealNode
from harness.support import (
    CommittedReader,
    apply_config_crd,
    reading,
    request_topic_for,
)
from harness.waiting import wait_until
from tests.integration.node_proof import (
    NODE_NAME,
    PodWatch,
    can_i,
    deploy_role_kubeconfig,
    ever_ran,
    kubectl,
    node_allocatable_millicpu,
    pod_watch,
    read_only_kubeconfig,
    record_objects,
    record_stream,
    requested_millicpu,
)
from zombiewatch.app.cli import main
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import Settings
from zombiewatch.domain.views import (
    ZOMBIE_REAPED_AT_ANNOTATION,
)

pytestmark = [pytest.mark.integration, pytest.mark.node]

GRACE = 5.0  # the daemon's grace window for the time-dependent rows, shortened from 120 s
WAIT = 180.0  # a loaded 2-core machine shared with other nodes starts pods slowly
SLEEPER = ["sleep", "3600"]


@dataclass
class Scene:
    """A namespace on the node, its topic read uncommitted, the daemon's settings (SA token)."""

    node: RealNode
    api: Any
    namespace: str
    reader: CommittedReader
    settings: Settings
    watch: PodWatch

    @property
    def core(self) -> Any:
        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> Any:
        return client.BatchV1Api(self.api)

    def job(self, prefix: str, **options: Any) -> str:
        name = workloads.unique(prefix)
        manifest = workloads.job_manifest(name, task_id=str(uuid.uuid4()), **options)
        workloads.create_job(self.api, self.namespace, manifest)
        return name

    def read_job(self, name: str) -> Any:
        return self.batch.read_namespaced_job(name, self.namespace)

    def pods(self, job_name: str) -> list[Any]:
        return workloads.job_pods(self.api, self.namespace, job_name)

    async def running_pod(self, job_name: str) -> str:
        found: list[str] = []

        def running_now() -> bool:
            found[:] = [p.metadata.name for p in self.pods(job_name)
                        if p.status.phase == "Running"]
            return bool(found)

        await wait_until(running_now, timeout=WAIT, what=f"a Running pod of {job_name}")
        return found[0]

    async def job_failed(self, name: str) -> str:
        """Wait for the Job's Failed condition; its reason."""
        await wait_until(lambda: "Failed" in workloads.job_condition_types(self.read_job(name)),
                         timeout=WAIT, what=f"Job {name} Failed")
        conditions = self.read_job(name).status.conditions or []
        return str(next(c.reason for c in conditions if c.type == "Failed"))

    async def settled(self, runtime: Runtime, seconds: float = 3.0) -> None:
        """A sweep and a quiet spell: a late duplicate would be read in it."""
        await runtime.sweep_now()
        await self.reader.quiet(seconds)

    def pairs_per_job(self) -> dict[str, int]:
        """How many update/increment pairs each Job got (read_uncommitted)."""
        counts: dict[str, int] = {}
        for failure in self.reader.failures():
            assert len(failure.commands) == 2, failure
            counts[failure.job_name] = counts.get(failure.job_name, 0) + 1
        return counts


@pytest.fixture
async def scene(real_node: RealNode, node_api: Any, node_namespace: str,
                tmp_path: Path) -> AsyncIterator[Scene]:
    apply_config_crd(node_api)
    prefix = f"proof-{uuid.uuid4().hex[:8]}"
    bootstrap = real_node.bootstrap_servers
    topic = request_topic_for(bootstrap, prefix)
    kubeconfig = deploy_role_kubeconfig(real_node, node_api, node_namespace,
                                        tmp_path / "sa.kubeconfig")
    settings = daemon_settings(kubeconfig=kubeconfig, namespace=node_namespace,
                               bootstrap=bootstrap, topic_prefix=prefix, grace_seconds=GRACE,
                               publish_timeout=10.0)
    with pod_watch(real_node, node_namespace, tmp_path / "pods.watch") as watch:
        async with reading(bootstrap, topic, isolation_level="read_uncommitted") as reader:
            yield Scene(real_node, node_api, node_namespace, reader, settings, watch)


async def _pods_gone(scene: Scene, name: str) -> None:
    await wait_until(lambda: scene.pods(name) == [], timeout=WAIT,
                     what=f"the pods of {name} gone")


# --- 1. disruptions -----------------------------------------------------------------------


def _disruption_of(events: list[dict[str, Any]]) -> str | None:
    """The reason of the pod's DisruptionTarget=True, if the stream ever showed one."""
    for event in events:
        for condition in (event["object"].get("status") or {}).get("conditions") or []:
            if condition["type"] == "DisruptionTarget" and condition["status"] == "True":
                return str(condition.get("reason"))
    return None


async def _disrupted_sleeper(scene: Scene, case: str,
                             disrupt: Callable[[str, str], Awaitable[None]],
                             **options: Any) -> tuple[str, str, str | None]:
    """A running agent Job disrupted by ``disrupt(job, pod)``; returns the Job's name, its
    own Failed reason and the pod's DisruptionTarget reason (None: there was none)."""
    async with running(scene.settings) as runtime:
        name = scene.job(case, args=SLEEPER, **options)
        pod = await scene.running_pod(name)
        await disrupt(name, pod)
        await scene.reader.wait_for_failures(1, timeout=WAIT)
        record_objects(scene.node, scene.namespace, name, f"node-{case}-published.json")
        job_reason = await scene.job_failed(name)
        await _pods_gone(scene, name)
        record_objects(scene.node, scene.namespace, name, f"node-{case}-job-failed.json")
        await scene.settled(runtime)
    events = scene.watch.of_job(name)
    record_stream(scene.watch, name, f"node-{case}-watch.json")
    return name, job_reason, _disruption_of(events)


async def test_kubectl_drain_is_pod_evicted_once(scene: Scene) -> None:
    async def drain(job: str, _pod: str) -> None:
        try:
            await asyncio.to_thread(
                kubectl, scene.node, "drain", NODE_NAME, f"--pod-selector=job-name={job}",
                "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=150s")
        finally:  # the only node: leave it schedulable for everyone else
            await asyncio.to_thread(kubectl, scene.node, "uncordon", NODE_NAME)

    name, job_reason, disruption = await _disrupted_sleeper(scene, "drain", drain)

    assert disruption == "EvictionByEvictionAPI"
    assert job_reason == "BackoffLimitExceeded"
    assert scene.reader.reasons_by_job() == {name: ["pod_evicted"]}
    assert scene.pairs_per_job() == {name: 1}


async def test_the_eviction_api_is_pod_evicted_once(scene: Scene) -> None:
    async def evict(_job: str, pod: str) -> None:
        scene.core.create_namespaced_pod_eviction(pod, scene.namespace, client.V1Eviction(
            metadata=client.V1ObjectMeta(name=pod, namespace=scene.namespace)))

    name, job_reason, disruption = await _disrupted_sleeper(scene, "eviction-api", evict)

    assert disruption == "EvictionByEvictionAPI"
    assert job_reason == "BackoffLimitExceeded"
    assert scene.reader.reasons_by_job() == {name: ["pod_evicted"]}
    assert scene.pairs_per_job() == {name: 1}


async def test_kubectl_delete_pod_is_a_crash_once(scene: Scene) -> None:
    async def delete(_job: str, pod: str) -> None:
        await asyncio.to_thread(kubectl, scene.node, "-n", scene.namespace, "delete", "pod",
                                pod, "--wait=false")

    name, job_reason, disruption = await _disrupted_sleeper(scene, "delete-pod", delete)

    assert disruption is None
    assert job_reason == "BackoffLimitExceeded"
    assert scene.reader.reasons_by_job() == {name: ["pod_crash_no_stdout (Error/137)"]}
    assert scene.pairs_per_job() == {name: 1}


@pytest.fixture
def priority_classes(node_api: Any) -> Any:
    """Two PriorityClasses below the default 0: the preemptor may preempt only the victim,
    never another test's pod (the node is shared); deleted afterwards."""
    scheduling: Any = client.SchedulingV1Api(node_api)
    suffix = uuid.uuid4().hex[:8]
    names = {"victim": f"zw-victim-{suffix}", "preemptor": f"zw-preemptor-{suffix}"}
    scheduling.create_priority_class({"metadata": {"name": names["victim"]}, "value": -100,
                                      "preemptionPolicy": "Never"})
    scheduling.create_priority_class({"metadata": {"name": names["preemptor"]}, "value": -10})
    try:
        yield names
    finally:
        for name in names.values():
            try:
                scheduling.delete_priority_class(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


async def test_a_preemption_is_pod_evicted_once(scene: Scene,
                                                priority_classes: dict[str, str]) -> None:
    """The victim's CPU request and the preemptor's each fit the node's free CPU, both
    together do not: the scheduler preempts the victim (PreemptionByScheduler)."""
    free = node_allocatable_millicpu(scene.api) - requested_millicpu(scene.api)
    share = free * 6 // 10
    assert share >= 100, f"only {free}m CPU free on the node"
    cpu = {"resources": {"requests": {"cpu": f"{share}m"}}}
    preemptor = workloads.unique("preemptor")

    async def preempt(_job: str, _pod: str) -> None:
        scene.core.create_namespaced_pod(scene.namespace, {
            "metadata": {"name": preemptor},
            "spec": {"priorityClassName": priority_classes["preemptor"],
                     "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False,
                     "containers": [{"name": "p", "image": workloads.BUSYBOX,
                                     "imagePullPolicy": "IfNotPresent", "args": SLEEPER,
                                     **cpu}]}})

    try:
        name, job_reason, disruption = await _disrupted_sleeper(
            scene, "preemption", preempt, container=cpu,
            pod_spec={"priorityClassName": priority_classes["victim"]})
    finally:
        scene.core.delete_namespaced_pod(preemptor, scene.namespace, grace_period_seconds=0)

    assert disruption == "PreemptionByScheduler"
    assert job_reason == "BackoffLimitExceeded"
    assert scene.reader.reasons_by_job() == {name: ["pod_evicted"]}
    assert scene.pairs_per_job() == {name: 1}


# --- 2. reaping ---------------------------------------------------------------------------


def _annotations(scene: Scene, name: str) -> dict[str, str]:
    return dict(scene.read_job(name).metadata.annotations or {})


def _reap_errors(runtime: Runtime) -> dict[str, float]:
    """Every ``zombiewatch_reap_errors_total`` sample by kind (any kind the daemon counts)."""
    return {sample.labels["kind"]: sample.value
            for family in runtime.metrics.registry.collect()
            for sample in family.samples
            if sample.name == "zombiewatch_reap_errors_total" and sample.value}


async def _reaped(scene: Scene, name: str) -> None:
    await wait_until(lambda: ZOMBIE_REAPED_AT_ANNOTATION in _annotations(scene, name),
                     timeout=WAIT, what=f"{name} reaped")


async def test_reported_jobs_whose_pods_may_start_are_reaped_and_never_run(
    scene: Scene,
) -> None:
    label = f"zombiewatch.test/proof-{uuid.uuid4().hex[:8]}"
    secret = workloads.unique("late-secret")
    async with running(scene.settings) as runtime:
        unschedulable = scene.job("unschedulable", pod_spec={"nodeSelector": {label: "true"}})
        secretless = scene.job("secretless", container={
            "envFrom": [{"secretRef": {"name": secret}}]})
        crashed = scene.job("crashed", args=["false"], active_deadline_seconds=1800)
        await scene.reader.wait_for_failures(3, timeout=WAIT)
        record_objects(scene.node, scene.namespace, unschedulable,
                       "node-unschedulable-published.json")
        record_objects(scene.node, scene.namespace, secretless, "node-secretless-published.json")
        for name in (unschedulable, secretless):
            await _reaped(scene, name)
        reaped_reasons = {n: await scene.job_failed(n) for n in (unschedulable, secretless)}
        for name in (unschedulable, secretless):
            await _pods_gone(scene, name)
        record_objects(scene.node, scene.namespace, unschedulable, "node-unschedulable-reaped.json")
        record_objects(scene.node, scene.namespace, secretless, "node-secretless-reaped.json")
        await scene.job_failed(crashed)

        # What would have brought them back to life, now that they are reaped:
        await asyncio.to_thread(kubectl, scene.node, "label", "node", NODE_NAME, f"{label}=true")
        try:
            scene.core.create_namespaced_secret(scene.namespace, {
                "metadata": {"name": secret}, "stringData": {"KEY": "value"}})
            await asyncio.sleep(15)  # the scheduler and the kubelet would have acted by now
            later_pods = {n: scene.pods(n) for n in (unschedulable, secretless)}
        finally:
            await asyncio.to_thread(kubectl, scene.node, "label", "node", NODE_NAME, f"{label}-")
        await scene.settled(runtime)
        reaped = runtime.metrics.registry.get_sample_value("zombiewatch_jobs_reaped_total")
        reap_errors = _reap_errors(runtime)
    record_stream(scene.watch, unschedulable, "node-unschedulable-watch.json")
    record_stream(scene.watch, secretless, "node-secretless-watch.json")

    # (a) and (b): reported, reaped by the Job controller at the new deadline, never ran
    assert scene.reader.reasons_by_job() == {unschedulable: ["pod_not_scheduled"],
                                             secretless: [
                                                 "container_config_error "
                                                 "(CreateContainerConfigError)"],
                                             crashed: ["pod_crash_no_stdout (Error/1)"]}
    assert reaped_reasons == {unschedulable: "DeadlineExceeded", secretless: "DeadlineExceeded"}
    assert later_pods == {unschedulable: [], secretless: []}
    for name in (unschedulable, secretless):
        assert scene.read_job(name).spec.active_deadline_seconds == 1
        assert ever_ran(scene.watch.of_job(name)) == []
    # (c): the crashed Job is left alone
    crashed_job = scene.read_job(crashed)
    assert ZOMBIE_REAPED_AT_ANNOTATION not in (crashed_job.metadata.annotations or {})
    assert crashed_job.spec.active_deadline_seconds == 1800
    # (d): one pair each, even counting aborted transactions; the Role sufficed
    assert scene.pairs_per_job() == {unschedulable: 1, secretless: 1, crashed: 1}
    assert reaped == 2
    assert reap_errors == {}


# --- 3. scan ------------------------------------------------------------------------------

SCAN_RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]},
    {"apiGroups": ["agent.benjamin-borbe.de"], "resources": ["configs"], "verbs": ["get", "list"]},
]


def _jobs_state(scene: Scene) -> dict[str, tuple[dict[str, str], int | None]]:
    """What a writer could change: each Job's annotations and deadline."""
    return {j.metadata.name: (dict(j.metadata.annotations or {}), j.spec.active_deadline_seconds)
            for j in scene.batch.list_namespaced_job(scene.namespace).items}


async def test_scan_of_the_node_names_each_state_and_writes_nothing(
    scene: Scene, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange: reported and reaped Jobs from a daemon that then stops
    async with running(scene.settings) as runtime:
        reported = scene.job("reported", args=["false"])
        reaped = scene.job("reaped", image=workloads.MISSING_IMAGE)
        await scene.reader.wait_for_failures(2, timeout=WAIT)
        await _reaped(scene, reaped)
        await scene.settled(runtime, 1.0)
    # ... and, with no daemon: a running Job, one unschedulable within grace, a zombie
    sleeper = scene.job("running", args=SLEEPER)
    zombie = scene.job("zombie", image=workloads.MISSING_IMAGE)
    await scene.running_pod(sleeper)
    await wait_until(lambda: any(
        workloads.waiting_reasons(p)[:1] in (["ErrImagePull"], ["ImagePullBackOff"])
        for p in scene.pods(zombie)), timeout=WAIT, what="the zombie's pull failure")
    pending = scene.job("pending", pod_spec={"nodeSelector": {"zombiewatch.test/none": "x"}})
    await wait_until(lambda: any(
        c.type == "PodScheduled" and c.status == "False"
        for p in scene.pods(pending) for c in (p.status.conditions or [])),
        timeout=WAIT, what="the pending pod unschedulable")
    kubeconfig = read_only_kubeconfig(scene.node, scene.api, scene.namespace, SCAN_RULES,
                                      tmp_path / "scanner")
    scanner = f"system:serviceaccount:{scene.namespace}:scanner"
    can_write = {verb: can_i(scene.node, scanner, scene.namespace, verb, "jobs")
                 for verb in ("patch", "update", "delete")}
    before = _jobs_state(scene)
    published = len(scene.reader.records)
    # Act
    code = main(["scan", "--namespace", scene.namespace, "--kubeconfig", str(kubeconfig),
                 "-o", "json"])
    out, err = capsys.readouterr()
    table_code = main(["scan", "--namespace", scene.namespace, "--kubeconfig", str(kubeconfig)])
    table = capsys.readouterr().out
    await scene.reader.quiet(1.0)
    # Assert
    assert can_write == {"patch": False, "update": False, "delete": False}
    assert (code, table_code, err) == (1, 1, ""), err
    rows = {row["job"]: row for row in json.loads(out)["jobs"]}
    assert set(rows) == {reported, reaped, sleeper, zombie, pending}
    assert (rows[reported]["reported"] or {}).get("reason") == "pod_crash_no_stdout"
    assert rows[reported]["reaped_at"] is None
    assert (rows[reaped]["reported"] or {}).get("reason") == "image_pull_backoff"
    assert rows[reaped]["reaped_at"] is not None
    assert re.fullmatch(r"running, deadline in \d+ min", rows[sleeper]["why"])
    assert (rows[zombie]["reason"], rows[zombie]["rule"], rows[zombie]["reported"]) == (
        "image_pull_backoff", "waiting_image_pull", None)
    assert re.fullmatch(r"unschedulable, grace ends in \d+ (s|min)", rows[pending]["why"])
    for name in (reported, reaped, sleeper, zombie, pending):
        assert name in table
    assert re.search(r"5 in flight, \d zombies \(1 not reported\)", table), table
    assert _jobs_state(scene) == before
    assert len(scene.reader.records) == published

