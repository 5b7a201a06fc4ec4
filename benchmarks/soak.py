"""Churn soak: the daemon's memory stays flat while Jobs come and go with the task feed on.

Against the harness's bare kube-apiserver and Kafka (``harness.services.acquire()``), with
``zombiewatch run`` in a process of its own (real flags: leader election, the task feed,
confirmation), a harness controller of the vault (``harness.controller.KafkaController``
over a ``harness.vault.ReferenceVault``: it applies the daemon's commands and publishes
the task event topic) and this process playing the executor, the Job controller, the
kubelet and the TTL controller. At a steady rate a task is dispatched (its file in the
vault naming the Job, on the event topic), its Job and pod are created and run, then:

- ``complete`` (half of them): the pod succeeds and the Job completes; the daemon sends
  the success clear, the controller frees the task;
- ``image_pull`` / ``crash_loop``: the pod waits in ``ImagePullBackOff`` /
  ``CrashLoopBackOff``; the daemon reports it, the controller frees the task; the Job
  controller then fails the reaped Job (``DeadlineExceeded``) after deleting its pod, and
  an ``image_pull`` task is dispatched once more, with a Job that completes;
- ``crashed``: the container exits 1; reported; the Job fails (``BackoffLimitExceeded``)
  with its pod kept.

A few seconds after it finished (its ``ttlSecondsAfterFinished``) each Job is deleted, then
its remaining pod (background propagation), and once its last Job is gone the task file is
deleted (a tombstone on the event topic). Nothing accumulates in the cluster or the vault.

The daemon's RSS (``/proc/<pid>/status``) and every count of ``zombiewatch_held_entries``,
the informers' stores and the feed's tasks are sampled from its ``/metrics`` after the
warm-up, every minute (every 15 s in ``--quick``). Targets: RSS growth from the first
sample to the last within 5 %, and each count at the end within its bound, computed from
what this process did (the live Jobs and pods, the vault's tasks, the failures and clears
within each window of the daemon, a stated cap). The daemon's windows are shortened by its
real knobs so each turns over several times within the run: a Config with
``zombieJobTimeoutSeconds: 30`` (the dedupe TTL and the ledger's window: 60 s) and
``zombieSweeperIntervalSeconds: 10``, and ``--liveness-window 30``. Also checked: every
failing Job's task freed once, every completed Job's task cleared.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException

from benchmarks.common import Row
from benchmarks.e2e import Clients, scratch_namespace
from benchmarks.procfs import cpu_seconds, memory
from harness import kubelet
from harness.controller import KafkaController
from harness.daemons import (
    DaemonProcess,
    cli_args,
    daemon_environment,
    daemon_settings,
    free_port,
    sample,
    scrape,
)
from harness.fixtures import create_topics, delete_topics
from harness.services import Services, acquire
from harness.support import apply_config_crd, create_config, request_topic_for
from harness.vault import ReferenceVault
from harness.waiting import wait_until
from zombiewatch.app.settings import LeaderOptions

NAME = "soak"
VAULT = "personal"
ASSIGNEE = "claude"
JOB_TIMEOUT_SECONDS = 30
"""The Config's ``zombieJobTimeoutSeconds``: the daemon's dedupe TTL is twice it."""
SWEEP_SECONDS = 10
"""The Config's ``zombieSweeperIntervalSeconds``: dedupe and heartbeats are pruned per tick."""
LIVENESS_SECONDS = 30
"""``--liveness-window``: how long a heartbeat is kept."""
CONFIRM_TICK_SECONDS = 30.0
"""The confirmer's check interval (``app/confirming.py``): a confirmed failure leaves then."""
EVENT_WINDOW_SECONDS = 600.0
"""The Event correlator's window and a bucket's refill after two Events (2 x 5 min)."""
RUN_SECONDS = 4.0
"""How long a pod runs before its outcome."""
TTL_SECONDS = 5.0
"""The Jobs' ``ttlSecondsAfterFinished``: finished -> deleted."""
OUTCOME_TIMEOUT = 60.0
"""How long a failure or a clear may take to reach the vault before it counts as missing."""
LAG = 10.0
"""Slack for what the daemon sees late (a watch event, a feed record, a prune at a tick)."""
CAP = 4096
"""The stated cap of the shared task states and container views."""
KINDS = ("complete", "image_pull", "complete", "crash_loop", "complete", "crashed")
"""The outcome of each new task's first Job, in turn."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Plan:
    rate: float
    """New tasks per second."""
    warmup: float
    """Seconds of churn before the first sample."""
    measured: float
    """Seconds from the first sample to the last."""
    interval: float
    """Seconds between samples."""


QUICK = Plan(rate=1.0, warmup=25.0, measured=60.0, interval=15.0)
FULL = Plan(rate=1.0, warmup=150.0, measured=1500.0, interval=60.0)


@dataclass
class Ledger:
    """What this process did, with when (monotonic): the ground truth of every bound."""

    live_jobs: set[str] = field(default_factory=set)
    live_pods: set[str] = field(default_factory=set)
    """Job names whose pod exists."""
    live_tasks: set[str] = field(default_factory=set)
    """Task ids with a file in the vault."""
    history: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    """(t, live Jobs, live pods, Job names with a Job or a pod, tasks) at every change."""
    failed: list[float] = field(default_factory=list)
    """When each failing Job's failure state was written (before the daemon saw it)."""
    completed: list[float] = field(default_factory=list)
    """When each completing Job was written complete."""
    beats: dict[str, float] = field(default_factory=dict)
    """Task id -> the last pod status write (a heartbeat for the daemon)."""
    outcomes: Counter[str] = field(default_factory=Counter)
    started: int = 0
    deleted: int = 0

    def note(self) -> None:
        self.history.append((time.monotonic(), len(self.live_jobs), len(self.live_pods),
                             len(self.live_jobs | self.live_pods), len(self.live_tasks)))

    def live_max(self, column: int, *, at: float) -> int:
        """The most live (Jobs 1, pods 2, names 3, tasks 4) within ``LAG`` before ``at``."""
        values = [row[column] for row in self.history if at - LAG <= row[0] <= at]
        before = [row[column] for row in self.history if row[0] < at - LAG]
        return int(max([*values, *(before[-1:])], default=0))

    @staticmethod
    def within(times: list[float], seconds: float, *, at: float) -> int:
        return sum(1 for t in times if at - seconds <= t <= at)


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    rss: int
    """Bytes, from /proc."""
    counts: dict[str, float]
    cpu: float
    """The daemon's CPU seconds so far."""


class Cluster:
    """The API calls of the executor, Job controller, kubelet and TTL controller, in
    threads (one ``ApiClient`` each); every change noted in the ledger."""

    def __init__(self, clients: Clients, namespace: str, ledger: Ledger,
                 pool: ThreadPoolExecutor) -> None:
        self._clients = clients
        self._namespace = namespace
        self._ledger = ledger
        self._pool = pool

    async def call(self, action: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, action)

    async def start_job(self, task_id: str, name: str) -> Any:
        def create() -> Any:
            batch, core, ns = self._clients.batch(), self._clients.core(), self._namespace
            job = kubelet.create_agent_job(batch, ns, task_id=task_id, name=name)
            pod = kubelet.create_agent_pod(core, ns, job=job, task_id=task_id)
            kubelet.set_job_started(batch, ns, job)
            kubelet.set_running(core, ns, pod)
            return pod

        self._ledger.live_jobs.add(name)
        self._ledger.live_pods.add(name)
        self._ledger.note()
        pod = await self.call(create)
        self._ledger.beats[task_id] = time.monotonic()
        return pod

    async def outcome(self, kind: str, task_id: str, name: str, pod: Any) -> None:
        core, batch, ns = self._clients.core, self._clients.batch, self._namespace
        actions: dict[str, Callable[[], object]] = {
            "complete": lambda: (
                kubelet.set_terminated(core(), ns, pod, 0, phase="Succeeded",
                                       reason="Completed"),
                kubelet.set_job_complete(batch(), ns, name)),
            "image_pull": lambda: kubelet.set_waiting(core(), ns, pod, "ImagePullBackOff"),
            "crash_loop": lambda: kubelet.set_waiting(core(), ns, pod, "CrashLoopBackOff",
                                                      restart_count=3),
            "crashed": lambda: kubelet.set_terminated(core(), ns, pod, 1),
        }
        await self.call(actions[kind])
        self._ledger.beats[task_id] = time.monotonic()

    async def fail_job(self, kind: str, name: str, pod: Any) -> None:
        """The Job controller after a failure: a reaped Job's pod deleted, then Failed with
        ``DeadlineExceeded``; a crashed one Failed with ``BackoffLimitExceeded``."""
        if kind == "crashed":
            await self.call(lambda: kubelet.set_job_failed(
                self._clients.batch(), self._namespace, name, "BackoffLimitExceeded"))
            return
        await self.delete_pod(name, pod)
        await self.call(lambda: kubelet.set_job_failed(
            self._clients.batch(), self._namespace, name, "DeadlineExceeded"))

    async def delete_pod(self, name: str, pod: Any) -> None:
        if name not in self._ledger.live_pods:
            return
        await self.call(lambda: _gone(lambda: self._clients.core().delete_namespaced_pod(
            pod.metadata.name, self._namespace)))
        self._ledger.live_pods.discard(name)
        self._ledger.note()

    async def delete_job(self, name: str, pod: Any) -> None:
        """The TTL controller deletes the Job; the garbage collector its pod, after."""
        # Background, as the TTL controller deletes: the default for Jobs (orphan) waits
        # for a garbage collector the bare API server does not run.
        await self.call(lambda: _gone(lambda: self._clients.batch().delete_namespaced_job(
            name, self._namespace, propagation_policy="Background")))
        self._ledger.live_jobs.discard(name)
        self._ledger.deleted += 1
        self._ledger.note()
        await self.delete_pod(name, pod)


def _gone(delete: Callable[[], object]) -> None:
    """A delete; already gone is fine."""
    try:
        delete()
    except ApiException as exc:
        if exc.status != 404:
            raise


class Churn:
    """Dispatches tasks at the plan's rate and drives each through its lifecycle."""

    def __init__(self, cluster: Cluster, controller: KafkaController, vault: ReferenceVault,
                 ledger: Ledger) -> None:
        self._cluster = cluster
        self._controller = controller
        self._vault = vault
        self._ledger = ledger
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[str] = []
        self.problems: Counter[str] = Counter()
        """Failing Jobs not freed, completed Jobs not cleared, tasks bumped twice."""

    async def run(self, rate: float, until: float) -> None:
        kinds = itertools.cycle(KINDS)
        while time.monotonic() < until:
            task = asyncio.get_running_loop().create_task(self._task(next(kinds)))
            self._tasks.add(task)
            task.add_done_callback(self._done)
            await asyncio.sleep(1.0 / rate)

    async def stop(self) -> None:
        """Cancel the lifecycles still in progress (judged: only the finished ones); what
        they made goes with the namespace and the topics."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(repr(task.exception()))

    async def _task(self, kind: str) -> None:
        task_id = str(uuid.uuid4())
        bumps = await self._job(task_id, kind, trigger_count=0)
        if kind == "image_pull":  # dispatched again: this time it completes
            bumps = await self._job(task_id, "complete", trigger_count=bumps)
        await self._controller.delete_task(task_id)
        self._ledger.live_tasks.discard(task_id)
        self._ledger.note()

    async def _job(self, task_id: str, kind: str, *, trigger_count: int) -> int:
        """One Job of the task through its lifecycle; the task's trigger_count after it."""
        name = f"{ASSIGNEE}-{task_id[:8]}-{uuid.uuid4().hex[:6]}"
        self._vault.put(task_id, {
            "assignee": ASSIGNEE, "phase": "in_progress", "status": "in_progress",
            "current_job": name, "job_started_at": datetime.now(UTC),
            "trigger_count": trigger_count, "target_vault": VAULT})
        self._ledger.live_tasks.add(task_id)
        self._ledger.note()
        await self._controller.publish_task(task_id)
        await asyncio.sleep(1.0)  # the daemon's feed reads it (a dispatch precedes its Job)
        pod = await self._cluster.start_job(task_id, name)
        self._ledger.started += 1
        await asyncio.sleep(RUN_SECONDS)
        failing = kind != "complete"
        (self._ledger.failed if failing else self._ledger.completed).append(time.monotonic())
        await self._cluster.outcome(kind, task_id, name, pod)
        self._ledger.outcomes[kind] += 1
        want = trigger_count + 1 if failing else trigger_count
        if not await self._freed(task_id, want):
            self.problems["failing Job not freed" if failing else "completed Job not cleared"] += 1
        if failing:
            await self._cluster.fail_job(kind, name, pod)
        await asyncio.sleep(TTL_SECONDS)
        await self._cluster.delete_job(name, pod)
        return self._count(task_id)

    async def _freed(self, task_id: str, count: int) -> bool:
        """The vault shows the task freed (``current_job`` empty) at ``count``."""
        def done() -> bool:
            task = self._vault.task(task_id)
            return task is not None and task.frontmatter.get("current_job") == "" and \
                task.frontmatter.get("trigger_count") == count

        with contextlib.suppress(AssertionError):
            await wait_until(done, f"task {task_id} freed", timeout=OUTCOME_TIMEOUT,
                             interval=0.25)
        await asyncio.sleep(1.0)  # a second bump would have landed by now
        if done():
            return True
        if self._count(task_id) > count:
            self.problems["task bumped more than once"] += 1
        return False

    def _count(self, task_id: str) -> int:
        task = self._vault.task(task_id)
        value = task.frontmatter.get("trigger_count") if task is not None else None
        return value if isinstance(value, int) else 0


# --- the daemon ---------------------------------------------------------------------------

@dataclass
class Daemon:
    process: DaemonProcess
    port: int

    def sample(self) -> Sample:
        status, text = scrape(self.port)
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}:\n{self.process.log_text()[-2000:]}")
        counts = {structure: sample(text, "zombiewatch_held_entries", structure=structure)
                  for structure in STRUCTURES}
        for kind in ("jobs", "pods", "configs"):
            counts[f"informer {kind}"] = sample(text, "zombiewatch_informer_objects", kind=kind)
        counts["informer pods' Jobs"] = sample(text, "zombiewatch_informer_index_keys",
                                               kind="pods")
        counts["tasks"] = sample(text, "zombiewatch_task_feed_tasks")
        pid = self.process.process.pid
        return Sample(time.monotonic(), memory(pid).rss, counts, cpu_seconds(pid))


STRUCTURES = (
    "attention", "grace_timers", "pending_detections", "pending_clears", "annotations_owed",
    "annotations_running", "dedupe", "ledger", "heartbeats", "registrations", "results",
    "absent_jobs", "task_jobs", "watchlist", "task_shared_states", "event_series",
    "event_buckets", "container_views",
)



@contextlib.asynccontextmanager
async def daemon(services: Services, namespace: str, prefix: str,
                 scratch: Path) -> AsyncIterator[Daemon]:
    """``zombiewatch run`` with leader election, the task feed and confirmation, leading."""
    settings = dataclasses.replace(
        daemon_settings(kubeconfig=services.kubeconfig, namespace=namespace,
                        bootstrap=services.bootstrap_servers, topic_prefix=prefix,
                        grace_seconds=120.0, publish_timeout=10.0),
        leader=LeaderOptions(enabled=True, identity="soak"),
        liveness_window_seconds=float(LIVENESS_SECONDS))
    port = free_port()
    env = daemon_environment()
    process = DaemonProcess([*cli_args(settings, port=port), "--log-level", "INFO"], env,
                            scratch / "daemon.log")
    try:
        await process.until(lambda: scrape(port, "/readyz")[0] == 200, "the daemon ready",
                            timeout=120)
        await process.until(lambda: sample(scrape(port)[1], "zombiewatch_leader") == 1.0,
                            "the daemon leading", timeout=60)
        yield Daemon(process, port)
    finally:
        process.close()


# --- bounds and rows ----------------------------------------------------------------------

def bounds(ledger: Ledger, at: float) -> dict[str, tuple[float, str]]:
    """Each count's bound at ``at`` and what it is, from what this process did."""
    jobs = ledger.live_max(1, at=at)
    pods = ledger.live_max(2, at=at)
    names = ledger.live_max(3, at=at)
    ttl = 2 * JOB_TIMEOUT_SECONDS
    failed_ttl = ledger.within(ledger.failed, ttl + SWEEP_SECONDS + LAG, at=at)
    cleared_ttl = ledger.within(ledger.completed, ttl + SWEEP_SECONDS + LAG, at=at)
    beats = sum(1 for t in ledger.beats.values()
                if at - (LIVENESS_SECONDS + SWEEP_SECONDS + LAG) <= t <= at)
    watched = ledger.within(ledger.failed, 2 * CONFIRM_TICK_SECONDS + LAG, at=at)
    events = ledger.within(ledger.failed, EVENT_WINDOW_SECONDS + 2 * LAG, at=at)
    tasks = ledger.live_max(4, at=at)
    live = f"Jobs or pods live within {LAG:g} s ({names})"
    return {
        "informer jobs": (jobs, f"live Jobs ({jobs})"),
        "informer pods": (pods, f"live pods ({pods})"),
        "informer configs": (1, "the one Config"),
        "informer pods' Jobs": (pods, f"live pods ({pods})"),
        "attention": (names, live),
        "grace_timers": (pods, f"live pods ({pods})"),
        "pending_detections": (names, live),
        "pending_clears": (names, live),
        "annotations_owed": (names, live),
        "annotations_running": (names, live),
        "dedupe": (failed_ttl, f"failures within the TTL {ttl} s + a tick ({failed_ttl})"),
        "ledger": (2 * failed_ttl + cleared_ttl,
                   f"2 x failures + clears within the TTL + a tick ({failed_ttl}, "
                   f"{cleared_ttl})"),
        "heartbeats": (beats, f"tasks with a pod write within the {LIVENESS_SECONDS} s "
                              f"liveness window + a tick ({beats})"),
        "registrations": (0, "host registrations: none without an embedding host"),
        "results": (0, "host results: none without an embedding host"),
        "absent_jobs": (tasks, f"tasks of the vault ({tasks})"),
        "task_jobs": (tasks, f"tasks of the vault ({tasks})"),
        "tasks": (tasks, f"tasks of the vault ({tasks})"),
        "watchlist": (watched, f"failures within two confirmer ticks ({watched})"),
        "task_shared_states": (CAP, "the stated cap"),
        "container_views": (CAP, "the stated cap"),
        "event_series": (2 * events, f"2 Events (reported, reaped) x failures within the "
                                     f"correlator's {EVENT_WINDOW_SECONDS:g} s window ({events})"),
        "event_buckets": (events, f"failures within the buckets' refill ({events})"),
    }


def _mib(value: float) -> float:
    return value / 1024 / 1024


def rows(plan: Plan, ledger: Ledger, churn: Churn, samples: list[Sample], *,
         churned: int, load: tuple[float, ...]) -> list[Row]:
    first, last = samples[0], samples[-1]
    growth = (last.rss - first.rss) / first.rss * 100
    rss = [round(_mib(s.rss), 2) for s in samples]
    every = f"every {plan.interval:g} s"
    out = [
        Row(NAME, "daemon RSS, first sample after the warm-up", _mib(first.rss), "MiB",
            detail=f"{plan.warmup:g} s of churn first; samples {every}: {rss}",
            samples=tuple(rss)),
        Row(NAME, "daemon RSS, last sample", _mib(last.rss), "MiB",
            detail=f"{plan.measured:g} s after the first"),
        Row(NAME, "daemon RSS growth, first -> last sample", growth, "%", 5, "<=",
            f"{len(samples)} samples {every}; peak {max(rss)} MiB"),
        Row(NAME, f"Jobs churned during the measurement ({plan.rate:g} new tasks/s)",
            float(churned), "Jobs",
            detail=f"all run: {dict(ledger.outcomes)}; load average at the end {load}"),
        Row(NAME, "daemon CPU per 100 Jobs churned", (last.cpu - first.cpu) / max(churned, 1)
            * 100, "s", detail=f"{last.cpu - first.cpu:.1f} CPU s over the measurement"),
        Row(NAME, "failing Jobs whose task was not freed once, or completed Jobs not "
            "cleared", float(sum(churn.problems.values())), "Jobs", 0, "<=",
            f"{dict(churn.problems)}; lifecycle errors {churn.errors[:3]}"),
    ]
    limits = bounds(ledger, last.at)
    for name, (bound, what) in limits.items():
        out.append(Row(NAME, f"held at the end: {name}", last.counts[name], "entries",
                       float(bound), "<=", f"start {first.counts[name]:g}; bound: {what}",
                       samples=tuple(s.counts[name] for s in samples)))
    return out


def show(title: str, ledger: Ledger, sample_: Sample) -> None:
    """Print one sample's counts with their bounds (at the start and at the end)."""
    print(f"\n[soak] {title}: RSS {_mib(sample_.rss):.1f} MiB", flush=True)
    for name, (bound, what) in bounds(ledger, sample_.at).items():
        print(f"[soak]   {name:<22} {sample_.counts[name]:>7g}  (bound {bound:g}: {what})",
              flush=True)


# --- the run ------------------------------------------------------------------------------

async def soak(services: Services, clients: Clients, plan: Plan) -> list[Row]:
    set_up = time.monotonic()
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(services.bootstrap_servers, prefix)
    events, results = f"{prefix}-agent-task-v1-event", f"{prefix}-agent-task-v1-result"
    create_topics(services.bootstrap_servers, [events, results], 1)
    ledger = Ledger()
    try:
        with tempfile.TemporaryDirectory(prefix="zw-soak-") as scratch_dir, \
                scratch_namespace(clients, "zw-soak") as namespace, \
                ThreadPoolExecutor(8) as pool:
            scratch = Path(scratch_dir)
            create_config(clients.get(), namespace, ASSIGNEE, {
                "assignee": ASSIGNEE, "heartbeat": "30m", "image": kubelet.DEFAULT_IMAGE,
                "taskType": "code", "zombieJobTimeoutSeconds": JOB_TIMEOUT_SECONDS,
                "zombieSweeperIntervalSeconds": SWEEP_SECONDS})
            vault = ReferenceVault(scratch / VAULT, name=VAULT)
            controller = KafkaController(
                bootstrap=services.bootstrap_servers, request_topic=topic,
                event_topic=events, result_topic=results, vault=vault, poll_interval=60.0)
            await controller.start()
            try:
                async with daemon(services, namespace, prefix, scratch) as zw:
                    churn = Churn(Cluster(clients, namespace, ledger, pool), controller,
                                  vault, ledger)
                    print(f"[soak] topics, namespace, controller and daemon (leading) ready "
                          f"in {time.monotonic() - set_up:.1f} s", flush=True)
                    began = time.monotonic()
                    end = began + plan.warmup + plan.measured
                    driver = asyncio.get_running_loop().create_task(churn.run(plan.rate, end))
                    samples: list[Sample] = []
                    started_at_first = 0
                    for tick in itertools.count():
                        await asyncio.sleep(max(0.0, began + plan.warmup + tick * plan.interval
                                                - time.monotonic()))
                        samples.append(await asyncio.to_thread(zw.sample))
                        if tick == 0:
                            started_at_first = ledger.started
                            show("start (first sample after the warm-up)", ledger,
                                 samples[0])
                        if samples[-1].at >= end - 1:
                            break
                    churned = ledger.started - started_at_first
                    show("end (last sample)", ledger, samples[-1])
                    await driver
                    await churn.stop()
                    return rows(plan, ledger, churn, samples, churned=churned,
                                load=tuple(round(x, 2) for x in os.getloadavg()))
            finally:
                await controller.close()
    finally:
        delete_topics(services.bootstrap_servers, [topic, events, results])


async def _run(quick: bool) -> list[Row]:
    began = time.monotonic()
    services = acquire()
    clients = Clients(services)
    try:
        apply_config_crd(clients.get())
        print(f"[soak] services ready after {time.monotonic() - began:.1f} s", flush=True)
        return await soak(services, clients, QUICK if quick else FULL)
    finally:
        clients.close()
        services.close()


def run(*, quick: bool) -> list[Row]:
    return asyncio.run(_run(quick))


__all__ = ["run"]
