"""What the fault scenarios share: a namespace with a topic, zombies on demand, exact counts.

Every scenario creates agent Jobs whose pods the test puts into a failure state
(the test plays the kubelet), injects a fault, and ends by reading the topic
back at the controller's isolation (one failure pair per zombie, none twice) and
with the controller's vault (every zombie task freed exactly once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from harness import kubelet
from harness.controller import KafkaController
from harness.daemons import DaemonProcess, scrape
from harness.services import Services
from harness.support import CommittedReader, create_config
from harness.vault import ReferenceVault
from harness.waiting import wait_until
from zombiewatch.app.settings import Settings
from zombiewatch.domain.commands import UpdateFrontmatter
from zombiewatch.domain.ledger import ConsumerIsolation
from zombiewatch.domain.views import ZOMBIE_REASON_ANNOTATION

SWEEP_SECONDS = 10
"""The smallest sweeper interval a Config may ask for: missed zombies are re-found this fast."""

Failer = Callable[[Any, str, Any], object]


@dataclass(frozen=True, slots=True)
class Mode:
    """One way for a pod to fail, and the reason the daemon must publish for it."""

    name: str
    apply: Failer
    reason: str
    evidence: str = ""
    """What follows the reason on the failure's Reason line (``OOMKilled/137``, the waiting
    reason ``ImagePullBackOff``), if anything."""

    @property
    def reason_line(self) -> str:
        """The Reason line's text, as the reader reads it back."""
        return f"{self.reason} ({self.evidence})" if self.evidence else self.reason


MODES: tuple[Mode, ...] = (
    Mode("ImagePullBackOff",
         lambda core, ns, pod: kubelet.set_waiting(core, ns, pod, "ImagePullBackOff"),
         "image_pull_backoff", "ImagePullBackOff"),
    Mode("CrashLoopBackOff",
         lambda core, ns, pod: kubelet.set_waiting(core, ns, pod, "CrashLoopBackOff",
                                                   restart_count=2),
         "pod_crash_no_stdout", "CrashLoopBackOff"),
    Mode("Evicted", kubelet.set_evicted, "pod_evicted"),
    Mode("OOMKilled",
         lambda core, ns, pod: kubelet.set_terminated(core, ns, pod, 137, reason="OOMKilled"),
         "pod_oom_killed", "OOMKilled/137"),
)
IMAGE_PULL = MODES[0]


@dataclass(slots=True)
class Agent:
    """One agent Job and its pod (not failing yet, unless ``fail`` was called)."""

    name: str
    task_id: str
    job: Any
    pod: Any
    mode: Mode


@dataclass(slots=True)
class Rig:
    """One namespace, one topic, the APIs, a committed reader and the daemon's settings."""

    services: Services
    api_client: Any
    namespace: str
    reader: CommittedReader
    settings: Settings
    tmp_path: Path
    controller: KafkaController
    vault: ReferenceVault
    isolation: ConsumerIsolation
    core: Any = field(init=False)
    batch: Any = field(init=False)
    expected: dict[str, list[str]] = field(default_factory=dict)
    """job name -> [reason] for every zombie made failing so far."""
    tasks: dict[str, str] = field(default_factory=dict)
    """job name -> task id, for every agent whose task is in the controller's vault."""

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api_client)
        self.batch = client.BatchV1Api(self.api_client)

    # ------------------------------------------------------------ making zombies

    def agent(self, mode: Mode = IMAGE_PULL, *, prefix: str = "claude") -> Agent:
        """A Job and its healthy-looking (Pending) pod."""
        task_id = str(uuid.uuid4())
        name = f"{prefix}-{task_id[:8]}-{uuid.uuid4().hex[:6]}"
        self.track(name, task_id, assignee=prefix)
        job = kubelet.create_agent_job(self.batch, self.namespace, task_id=task_id, name=name)
        pod = kubelet.create_agent_pod(self.core, self.namespace, job=job, task_id=task_id)
        return Agent(name, task_id, job, pod, mode)

    def track(self, job_name: str, task_id: str, *, assignee: str = "claude") -> None:
        """The task of ``job_name`` in the controller's vault, with the Job in flight."""
        self.vault.put(task_id, {"assignee": assignee, "phase": "in_progress",
                                 "current_job": job_name, "trigger_count": 0})
        self.tasks[job_name] = task_id

    def fail(self, agent: Agent) -> str:
        """Put the agent's pod into its failure state; it is now an expected zombie."""
        agent.mode.apply(self.core, self.namespace, agent.pod)
        self.expected[agent.name] = [agent.mode.reason_line]
        return agent.name

    def zombie(self, index: int = 0) -> str:
        """A new Job whose pod fails at once (the mode cycles with ``index``)."""
        return self.fail(self.agent(MODES[index % len(MODES)]))

    def zombies(self, count: int, *, start: int = 0) -> list[str]:
        return [self.zombie(start + i) for i in range(count)]

    def agents(self, count: int, *, start: int = 0, workers: int = 4) -> list[Agent]:
        """``count`` Jobs with pods, created by a few threads (still healthy)."""
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda i: self.agent(MODES[i % len(MODES)]),
                                 range(start, start + count)))

    def fail_all(self, agents: Iterable[Agent], *, workers: int = 8,
                 progress: list[int] | None = None) -> None:
        """Fail many pods at once (a burst), from several threads; ``progress[0]`` counts."""
        lock = threading.Lock()

        def one(agent: Agent) -> None:
            self.fail(agent)
            if progress is not None:
                with lock:
                    progress[0] += 1

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, agents))

    def use_fast_sweeper(self) -> None:
        """A Config asking for the shortest sweeper interval (10 s)."""
        create_config(self.api_client, self.namespace, "claude", {
            "assignee": "claude", "zombieSweeperIntervalSeconds": SWEEP_SECONDS})

    def annotated(self, job_name: str) -> bool:
        job = self.batch.read_namespaced_job(job_name, self.namespace)
        return bool((job.metadata.annotations or {}).get(ZOMBIE_REASON_ANNOTATION))

    # ------------------------------------------------------------ counting

    async def wait_all(self, *, timeout: float) -> float:
        """Wait until every expected zombie has a committed failure; seconds waited."""
        return await wait_until(
            lambda: set(self.expected) <= set(self.reader.reasons_by_job()),
            "every zombie reported", timeout=timeout,
            detail=lambda: self._missing(set(self.reader.reasons_by_job())))

    async def wait_distinct(self, *, timeout: float) -> float:
        """Like ``wait_all``, counting failures distinct by requestID; seconds waited."""
        return await wait_until(
            lambda: set(self.expected) <= set(tally(self.reader).by_job),
            "every zombie reported (distinct by requestID)", timeout=timeout,
            detail=lambda: self._missing(set(tally(self.reader).by_job)))

    def _missing(self, reported: set[str]) -> str:
        missing = sorted(set(self.expected) - reported)
        return f"{len(missing)} of {len(self.expected)} zombies never reported: {missing[:10]}"

    def vault_table(self) -> dict[str, int]:
        """For every expected zombie's task: freed exactly once, doubled, or lost."""
        table = {"zombies": len(self.expected), "freed_once": 0, "doubled": 0, "lost": 0}
        for job in self.expected:
            table[self.vault.freeing(self.tasks[job])] += 1
        return table

    async def assert_freed_once(self, title: str, *, timeout: float = 90.0) -> None:
        """End of every scenario: the controller's vault has each zombie task freed once.

        The wait is generous (the reference controller runs in this test process, which a
        loaded machine can starve for many seconds); what is asserted does not depend on it:
        exactly once, nothing doubled, nothing lost."""
        with contextlib.suppress(AssertionError):  # the table below says what is missing
            await wait_until(lambda: self.vault_table()["freed_once"] >= len(self.expected),
                             "every zombie task freed", timeout=timeout, interval=0.1)
        await asyncio.sleep(1.0)  # a second bump would be applied by now
        table = self.vault_table()
        print(f"\n[vault] {title} ({self.isolation.value}): {table}")
        assert table == {"zombies": len(self.expected), "freed_once": len(self.expected),
                         "doubled": 0, "lost": 0}

    def reported_at(self, names: Iterable[str]) -> float:
        """Monotonic time the last of ``names`` was read back (committed)."""
        wanted = set(names)
        return max(f.seen_at for f in self.reader.failures() if f.job_name in wanted)


@dataclass(frozen=True, slots=True)
class Tally:
    """Failures read back, counted raw and distinct by the update command's requestID."""

    raw: int
    distinct: int
    duplicates: int
    """Raw failures beyond the first of each requestID (re-publishes after a crash)."""
    by_job: dict[str, list[str]]
    """job -> reasons of its *distinct* failures."""
    duplicated_jobs: list[str]


def tally(reader: CommittedReader) -> Tally:
    seen: dict[uuid.UUID, str] = {}
    by_job: dict[str, list[str]] = {}
    per_id: Counter[uuid.UUID] = Counter()
    failures = reader.failures()
    for failure in failures:
        update = failure.commands[0]
        assert isinstance(update.command, UpdateFrontmatter)
        per_id[update.request_id] += 1
        if update.request_id in seen:
            continue
        seen[update.request_id] = failure.job_name
        by_job.setdefault(failure.job_name, []).append(failure.reason)
    duplicated = sorted(seen[rid] for rid, count in per_id.items() if count > 1)
    return Tally(raw=len(failures), distinct=len(seen), duplicates=len(failures) - len(seen),
                 by_job=by_job, duplicated_jobs=duplicated)


# ---------------------------------------------------------------- metrics and processes

def metrics_of(port: int) -> str:
    status, body = scrape(port)
    return body if status == 200 else ""


def pause(proc: DaemonProcess) -> None:
    os.killpg(proc.process.pid, signal.SIGSTOP)


def resume(proc: DaemonProcess) -> None:
    os.killpg(proc.process.pid, signal.SIGCONT)


def report(title: str, **figures: object) -> None:
    """Print one scenario's figures (shown with ``pytest -s``)."""
    body = " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in figures.items())
    print(f"\n[fault] {title}: {body}")
