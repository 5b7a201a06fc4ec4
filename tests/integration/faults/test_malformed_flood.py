"""Scenario 6: a flood of malformed and odd objects mixed with real zombies.

The informers select on the ``agent.benjamin-borbe.de/task-id`` label, so an
object without it is never listed; the flood therefore carries the label and is
malformed in the ways the translator (``adapters/kubernetes/translation.py``)
refuses: a pod without a Job ownerReference, a pod owned by another kind, an
empty task-id label (pod or Job). Objects the API server rejects cannot reach
the daemon and are not counted. Around them: valid but odd objects (200 KB
annotations, unicode, unknown waiting reasons, Jobs without the task-id label)
that must be neither skipped as malformed nor reported, and real zombies, some
of them odd too, that must each be reported once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness import kubelet
from harness.daemons import running, sample
from harness.waiting import wait_until
from tests.integration.faults.rig import Rig, report

pytestmark = pytest.mark.integration

HUGE = 200 * 1024
"""Annotations may total 256 KB; 200 KB is a large but valid one."""

ODD = "ünïcødé ☠ \u202e rtl \U0001f9df zombie"
WEIRD_REASONS = ("", "💥", "imagepullbackoff", "ImagePullBackOff ", "x" * 1000,
                 "CrashLoopBackOff\u200b", "ErrImagePull" * 20)
COPIES = 4


def _uid() -> str:
    return uuid.uuid4().hex[:8]


class Flood:
    """Creates the bad and odd objects, remembering which ones the daemon must skip."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.ns = rig.namespace
        self.bad_pods: list[str] = []
        self.bad_jobs: list[str] = []
        self.rejected: list[str] = []
        self.odd: list[str] = []
        """Valid objects that must be neither skipped nor reported."""

    def pod(self, name: str, labels: dict[str, str], owners: list[dict[str, Any]],
            annotations: dict[str, str] | None = None) -> Any:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "labels": labels, "ownerReferences": owners,
            "annotations": annotations or {}}, "spec": {
            "restartPolicy": "Never", "containers": [{"name": "agent", "image": "x.invalid/a"}]}}
        return self.rig.core.create_namespaced_pod(self.ns, client.V1Pod.model_validate(body))

    def job_owner(self, name: str) -> dict[str, Any]:
        return {"apiVersion": "batch/v1", "kind": "Job", "name": name,
                "uid": str(uuid.uuid4()), "controller": True}

    def unowned_pods(self) -> None:
        for _ in range(COPIES):
            name = f"unowned-{_uid()}"
            pod = self.pod(name, kubelet.agent_labels(str(uuid.uuid4()), "claude"), [])
            kubelet.set_waiting(self.rig.core, self.ns, pod, "ImagePullBackOff")
            self.bad_pods.append(name)

    def foreign_owned_pods(self) -> None:
        for kind, api in (("ReplicaSet", "apps/v1"), ("StatefulSet", "apps/v1"),
                          ("CronJob", "batch/v1beta1"), ("Node", "v1")):
            name = f"foreign-{kind.lower()}-{_uid()}"
            owner = {"apiVersion": api, "kind": kind, "name": f"owner-{_uid()}",
                     "uid": str(uuid.uuid4()), "controller": True}
            pod = self.pod(name, kubelet.agent_labels(str(uuid.uuid4()), "claude"), [owner])
            kubelet.set_evicted(self.rig.core, self.ns, pod)
            self.bad_pods.append(name)

    def empty_task_id(self) -> None:
        for _ in range(COPIES):
            host = self.rig.agent()  # a healthy agent Job: its real pod stays Pending
            self.odd.append(host.name)
            name = f"emptyid-{_uid()}"
            labels = {kubelet.TASK_ID_LABEL: "", kubelet.ASSIGNEE_LABEL: "claude"}
            owner = {"apiVersion": "batch/v1", "kind": "Job", "name": host.name,
                     "uid": str(host.job.metadata.uid), "controller": False}
            pod = self.pod(name, labels, [owner])
            kubelet.set_waiting(self.rig.core, self.ns, pod, "CrashLoopBackOff")
            self.bad_pods.append(name)

            job_name = f"emptyid-job-{_uid()}"
            job = kubelet.create_agent_job(self.rig.batch, self.ns, task_id="", name=job_name)
            kubelet.set_job_failed(self.rig.batch, self.ns, job, "BackoffLimitExceeded")
            self.bad_jobs.append(job_name)

    def malformed_status(self) -> None:
        """Status the translator refuses, when the API server lets it through (else counted
        as rejected: such an object can never reach the daemon)."""
        attempts: dict[str, dict[str, Any]] = {
            "unknown phase": {"phase": "Zombified"},
            "nameless container": {"containerStatuses": [{
                "name": "", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
                "state": {"waiting": {"reason": "ImagePullBackOff"}}}]},
        }
        for what, status in attempts.items():
            host = self.rig.agent()  # its Job is healthy; only the pod goes bad
            self.odd.append(host.name)
            try:
                kubelet.patch_pod_status(self.rig.core, self.ns, host.pod, status)
            except ApiException as exc:
                self.rejected.append(f"{what}: {exc.status}")
            else:
                self.bad_pods.append(host.pod.metadata.name)

    def odd_but_valid(self) -> None:
        for reason in WEIRD_REASONS:
            agent = self.rig.agent()
            kubelet.set_waiting(self.rig.core, self.ns, agent.pod, reason, message=ODD * 10)
            self.odd.append(agent.name)
        for _ in range(COPIES):  # never listed: no task-id label, only the assignee
            name = f"notask-{_uid()}"
            body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {
                "name": name, "labels": {kubelet.ASSIGNEE_LABEL: "claude"}},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "agent", "image": "x.invalid/a"}]}}}}
            job = self.rig.batch.create_namespaced_job(
                self.ns, client.V1Job.model_validate(body))
            kubelet.set_job_failed(self.rig.batch, self.ns, job, "DeadlineExceeded")
            self.odd.append(name)


def odd_zombies(rig: Rig) -> list[str]:
    """Real zombies that look strange: huge and unicode annotations, an odd task id."""
    names = []
    task_id = "Odd_Task.ID-42"
    name = f"odd-{_uid()}"
    rig.track(name, task_id, assignee="odd")
    job = kubelet.create_agent_job(rig.batch, rig.namespace, task_id=task_id, name=name,
                                   annotations={"note": ODD, "blob": "z" * HUGE})
    pod = kubelet.create_agent_pod(rig.core, rig.namespace, job=job, task_id=task_id)
    rig.core.patch_namespaced_pod(pod.metadata.name, rig.namespace,
                                  {"metadata": {"annotations": {"blob": "p" * HUGE}}},
                                  _content_type=kubelet.STRATEGIC)
    kubelet.set_waiting(rig.core, rig.namespace, pod, "ErrImagePull", message=ODD)
    rig.expected[name] = ["image_pull_backoff (ErrImagePull)"]
    names.append(name)
    # A Job failed by the (played) Job controller with an odd, unicode message.
    agent = rig.agent()
    kubelet.set_job_failed(rig.batch, rig.namespace, agent.job, "DeadlineExceeded", ODD)
    rig.expected[agent.name] = ["deadline_exceeded"]
    names.append(agent.name)
    return names


async def test_a_flood_of_malformed_objects_is_counted_and_every_real_zombie_reported(
    rig: Rig, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="zombiewatch.adapters.kubernetes.informer")
    flood = Flood(rig)
    async with running(rig.settings) as runtime:
        started = time.monotonic()

        def make() -> None:  # real zombies interleaved with every kind of bad object
            rig.zombies(2)
            flood.unowned_pods()
            odd_zombies(rig)
            flood.foreign_owned_pods()
            rig.zombies(2, start=2)
            flood.empty_task_id()
            flood.malformed_status()
            flood.odd_but_valid()
            rig.zombies(2, start=4)

        await asyncio.to_thread(make)
        flooded = time.monotonic() - started
        await rig.wait_all(timeout=60)
        await runtime.sweep_now()
        await rig.reader.quiet(2.0)
        # Still alive and working after the flood: one more zombie, reported at once.
        last = rig.zombie(1)
        await rig.wait_all(timeout=30)
        await runtime.sweep_now()
        await rig.reader.quiet(1.0)
        bad = set(flood.bad_pods) | set(flood.bad_jobs)
        await wait_until(lambda: _skipped_names(caplog) >= bad, timeout=10,
                         what="every skip logged")
        metrics = runtime.metrics.render().decode()
        dead_tasks = [t.get_name() for t in runtime.tasks if t.done()]

    problems = {k: sample(metrics, "zombiewatch_informer_problems_total", kind=k)
                for k in ("pods", "jobs", "configs")}
    skipped = _skipped_names(caplog)
    await rig.assert_freed_once("malformed flood")
    report("malformed flood", real_zombies=len(rig.expected), bad_pods=len(flood.bad_pods),
           bad_jobs=len(flood.bad_jobs), odd_valid=len(flood.odd),
           rejected_by_api=";".join(flood.rejected) or "none", flood_s=flooded,
           problems=",".join(f"{k}:{int(v)}" for k, v in problems.items()),
           skip_log_lines=sum("event=informer_skipped" in r.getMessage()
                              for r in caplog.records))
    assert dead_tasks == []
    assert last in rig.reader.reasons_by_job()
    assert rig.reader.reasons_by_job() == rig.expected
    assert len(rig.reader.failures()) == len(rig.expected)
    assert skipped >= set(flood.bad_pods) | set(flood.bad_jobs)
    assert not skipped & (set(rig.expected) | set(flood.odd))
    assert problems["pods"] >= len(flood.bad_pods)
    assert problems["jobs"] >= len(flood.bad_jobs)


def _skipped_names(caplog: pytest.LogCaptureFixture) -> set[str]:
    names = set()
    for record in caplog.records:
        message = record.getMessage()
        if "event=informer_skipped" in message and " name=" in message:
            names.add(message.split(" name=", 1)[1].split(" ", 1)[0])
    return names
