"""On the real node: detection latency from the kubelet's own status write, and a burst.

The node (Kubernetes v1.37 with its Kafka broker) comes from ``harness.demo.node``: the
live node of ``services.py node-up`` (or ``ZOMBIEWATCH_NODE_ENV``) is reused, else one is
started for the run and stopped at its end. The daemon runs as ``zombiewatch run`` in a
process of its own (``harness.daemons.DaemonProcess``); the benchmark's process
holds a ``read_committed`` reader of its topic and the observer's watch. Jobs whose image
does not exist are created and Kubernetes does the rest (scheduler, kubelet, containerd:
nothing is patched).

**The daemon's share** of one detection is ``pair read - ErrImagePull seen``:
*ErrImagePull seen* is when the first watch event showing the pod's container waiting
in ``ErrImagePull`` arrived on an independent watch of the namespace
(``harness.observer``, in the benchmark's process, on the same API server); *pair
read* is when the reader received the pair's second record (the transaction committed).
Both are ``time.monotonic()`` of one process. The daemon gets the same event over its own
watch at about the same moment, so the share covers the API server's fan-out to the
daemon, decode, classification, the Kafka transaction and the reader's fetch; it leaves
out the kubelet's pull attempt and its status write, which are Kubernetes' (reported next
to it as ``Job created -> ErrImagePull seen``). The
``lastTransitionTime`` of the pod's conditions has one-second resolution and a
container's waiting state carries no time at all, so the arrival of the event is the
only sub-second clock of the kubelet's write there is.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from benchmarks.common import PerThread, Row, median, percentile
from benchmarks.e2e import Committed, bench_daemon_settings
from harness import workloads
from harness.daemons import DaemonProcess, cli_args, daemon_environment, free_port, scrape
from harness.demo.node import node_for_demo
from harness.node_fixtures import RealNode
from harness.observer import Observer
from harness.support import CommittedReader, apply_config_crd
from harness.waiting import wait_until

NAME = "node"
THREADS = 8
PAIR_TIMEOUT = 30.0
"""How long after its ErrImagePull a pod's pair may take before it counts as missing."""


@dataclass(frozen=True, slots=True)
class AgentJob:
    task_id: str
    name: str
    created: float
    """When the create request was sent (monotonic)."""


def _create(api: Any, namespace: str, prefix: str) -> AgentJob:
    task_id = str(uuid.uuid4())
    name = workloads.unique(prefix)
    started = time.monotonic()
    workloads.create_job(api, namespace, workloads.job_manifest(
        name, task_id=task_id, image=workloads.MISSING_IMAGE))
    return AgentJob(task_id, name, started)


@contextlib.contextmanager
def namespace_on(node: RealNode, api: Any, prefix: str) -> Iterator[str]:
    """A fresh namespace, deleted afterwards and awaited (its pods' shims go with it)."""
    name = node.create_namespace(api, prefix)
    try:
        yield name
    finally:
        core: Any = client.CoreV1Api(api)
        with contextlib.suppress(ApiException):
            core.delete_namespace(name)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                core.read_namespace(name)
            except ApiException as exc:
                if exc.status == 404:
                    break
                raise
            time.sleep(1.0)


@contextlib.asynccontextmanager
async def daemon(node: RealNode, namespace: str) -> AsyncIterator[Committed]:
    """``zombiewatch run`` for ``namespace`` as a process of its own, ready, and a reader.

    A process, not in-process: the observer's thread and the reader would otherwise share
    the daemon's interpreter lock, and an event the daemon had already handled could be
    noted late, shortening the measured share.
    """
    topic, settings = bench_daemon_settings(node.kubeconfig, namespace, node.bootstrap_servers,
                                            "nodebench")
    port = free_port()
    env = daemon_environment()
    args = [*cli_args(settings, port=port), "--log-level", "INFO"]
    with tempfile.TemporaryDirectory(prefix="zw-nodebench-") as scratch:
        process = DaemonProcess(args, env, Path(scratch) / "daemon.log")
        try:
            async with CommittedReader(node.bootstrap_servers, topic) as reader:
                await wait_until(lambda: scrape(port, "/readyz")[0] == 200 or not process.alive,
                                 timeout=120, what="daemon ready")
                if not process.alive:
                    raise RuntimeError(f"zombiewatch run exited:\n{process.log_text()[-2000:]}")
                yield Committed(reader)
        finally:
            process.close()


def _pair_at(committed: Committed, job: AgentJob) -> float | None:
    committed.update()
    seen = committed.seen.get(job.task_id)
    return seen[0] if seen else None


async def latency(node: RealNode, api: Any, count: int, gap: float) -> list[Row]:
    """One Job every ``gap`` seconds; each pod's share: ErrImagePull seen -> pair read."""
    shares: list[float] = []
    kube: list[float] = []
    missing = 0
    with namespace_on(node, api, "zw-bench-lat") as namespace, \
            Observer(api, namespace) as observer:
        async with daemon(node, namespace) as committed:
            jobs: list[AgentJob] = []
            for _ in range(count):
                jobs.append(await asyncio.to_thread(_create, api, namespace, "lat"))
                await asyncio.sleep(gap)
            deadline = time.monotonic() + 300
            for job in jobs:
                while True:
                    pulled = observer.first(job.name, "image_pull")
                    paired = _pair_at(committed, job)
                    late = pulled is not None and time.monotonic() > pulled + PAIR_TIMEOUT
                    if (pulled is not None and paired is not None) or late \
                            or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                if pulled is None or paired is None:
                    missing += 1
                    continue
                shares.append((paired - pulled) * 1000)
                kube.append((pulled - job.created) * 1000)
    detail = (f"{len(shares)} real pods, one Job created every {gap:g} s; "
              f"{missing} without ErrImagePull+pair")
    samples = [round(s, 2) for s in shares]
    return [
        Row(NAME, f"daemon's share p50 (ErrImagePull seen -> pair read committed), "
            f"{count} pods", percentile(shares, 50), "ms", 100, "<=", detail,
            extra={"samples_ms": samples}),
        Row(NAME, f"daemon's share p99, {count} pods", percentile(shares, 99), "ms", 250,
            "<=", detail),
        Row(NAME, f"daemon's share max, {count} pods", max(shares), "ms", detail=detail),
        Row(NAME, "pods whose ErrImagePull or pair was not seen (latency run)",
            float(missing), "pods", 0, "<="),
        Row(NAME, "Kubernetes' share p50 (Job created -> ErrImagePull seen)", median(kube),
            "ms", detail="Job controller, scheduler, sandbox + CNI, the pull attempt, the "
            "kubelet's status write", extra={"samples_ms": [round(k, 1) for k in kube]}),
    ]


async def burst(node: RealNode, api: Any, count: int) -> list[Row]:
    """``count`` failing Jobs created at once: first create -> last pair, missing, twice."""
    with namespace_on(node, api, "zw-bench-burst") as namespace, \
            Observer(api, namespace) as observer:
        async with daemon(node, namespace) as committed:
            clients: PerThread[Any] = PerThread(node.api_client)
            started = time.monotonic()
            with ThreadPoolExecutor(THREADS) as pool:
                jobs = await asyncio.to_thread(lambda: list(pool.map(
                    lambda _: _create(clients.get(), namespace, "burst"), range(count))))
            created = time.monotonic()
            clients.close()
            wanted = {j.task_id for j in jobs}
            await committed.wait_for(wanted, timeout=600)
            await asyncio.sleep(5.0)  # room for stray duplicates (the pods keep changing)
            committed.update()
            seen = {t: v for t, v in committed.seen.items() if t in wanted}
            pulled = [p for j in jobs if (p := observer.first(j.name, "image_pull")) is not None]
            shares = [(min(seen[j.task_id]) - p) * 1000 for j in jobs
                      if j.task_id in seen and (p := observer.first(j.name, "image_pull"))]
    last_pair = max((min(v) for v in seen.values()), default=started)
    last_pull = max(pulled, default=started)
    twice = sum(1 for v in seen.values() if len(v) > 1)
    return [
        Row(NAME, f"burst: {count} real failing pods, first create -> last pair read",
            (last_pair - started) * 1000, "ms",
            detail=f"{len(seen)}/{count} pairs seen; Jobs created in "
            f"{(created - started) * 1000:,.0f} ms from {THREADS} threads"),
        Row(NAME, f"burst: pods whose pair was not seen, of {count}", float(count - len(seen)),
            "pods", 0, "<="),
        Row(NAME, f"burst: pods whose pair was published twice, of {count}", float(twice),
            "pods", 0, "<="),
        Row(NAME, "burst: first create -> last ErrImagePull seen (Kubernetes' share)",
            (last_pull - started) * 1000, "ms", detail=f"{len(pulled)}/{count} pods pulled"),
        Row(NAME, "burst: last ErrImagePull seen -> last pair read (the daemon's share)",
            (last_pair - last_pull) * 1000, "ms"),
        Row(NAME, "burst: daemon's share per pod p50 (ErrImagePull seen -> pair read)",
            percentile(shares, 50) if shares else 0.0, "ms", 100, "<=",
            f"{len(shares)} pods", extra={"samples_ms": [round(x, 2) for x in shares]}),
        Row(NAME, "burst: daemon's share per pod p99", percentile(shares, 99) if shares
            else 0.0, "ms", 250, "<=", f"{len(shares)} pods"),
    ]


async def _run(quick: bool) -> list[Row]:
    node = node_for_demo()
    api = node.api_client()
    try:
        apply_config_crd(api)
        rows = await latency(node, api, 50 if quick else 60, 1.0)
        rows += await burst(node, api, 50 if quick else 200)
        return rows
    finally:
        api.close()
        node.close()


def run(*, quick: bool) -> list[Row]:
    return asyncio.run(_run(quick))
