"""End to end against the real kube-apiserver and Kafka: latency, burst, API load of sweeping,
and the API requests of a storm with and without the storm guard.

Services come from ``harness.services.acquire()`` (a live stack named by
``~/.cache/zombiewatch/run/services.env`` / ``ZOMBIEWATCH_SERVICES_ENV``, else a private
one, stopped at the end). The daemon runs in-process (``harness.daemons``), a
``read_committed`` consumer (``CommittedReader``) reads the request topic, and the test
plays the kubelet (``harness.kubelet``). Jobs and pods are created before any clock
starts, from a thread pool (one ``ApiClient`` per thread), and the daemon is started once
they exist (its initial list syncs them). Patches run in threads, never on the event loop
the daemon and the consumer share.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dependency_injector import providers
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from benchmarks.common import PerThread, Row, median, percentile
from harness import kubelet
from harness.daemons import daemon_settings, running
from harness.services import Services, acquire
from harness.support import CommittedReader, apply_config_crd, request_topic_for
from harness.waiting import wait_until
from zombiewatch.adapters.kubernetes.client import ApiClientFactory
from zombiewatch.app.container import make_api_client_factory
from zombiewatch.app.daemon import build_container
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import Settings
from zombiewatch.domain.commands import IncrementFrontmatter

NAME = "e2e"
THREADS = 16


@dataclass(frozen=True, slots=True)
class AgentPod:
    task_id: str
    job_name: str
    pod_name: str


class Clients(PerThread[Any]):
    """One ``ApiClient`` per thread, on the services' kubeconfig."""

    def __init__(self, services: Services) -> None:
        new_client: Any = config.new_client_from_config
        super().__init__(lambda: new_client(config_file=str(services.kubeconfig)))

    def core(self) -> Any:
        return client.CoreV1Api(self.get())

    def batch(self) -> Any:
        return client.BatchV1Api(self.get())


class Committed:
    """Failure pairs seen by the ``read_committed`` reader, indexed by task id."""

    def __init__(self, reader: CommittedReader) -> None:
        self._reader = reader
        self._scanned = 0
        self.seen: dict[str, list[float]] = {}
        """task id -> when each pair's increment (the pair's last record) was read."""

    def update(self) -> None:
        records = self._reader.records
        for _key, envelope, _partition, seen_at in records[self._scanned:]:
            command = envelope.command
            if isinstance(command, IncrementFrontmatter):
                self.seen.setdefault(command.task_identifier, []).append(seen_at)
        self._scanned = len(records)

    async def wait_for(self, task_ids: set[str], *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self.update()
            if task_ids <= self.seen.keys():
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.002)


def _create(clients: Clients, namespace: str, index: int) -> AgentPod:
    task_id = str(uuid.uuid4())
    name = f"claude-{task_id[:8]}-{index:05d}"
    job = kubelet.create_agent_job(clients.batch(), namespace, task_id=task_id, name=name)
    pod = kubelet.create_agent_pod(clients.core(), namespace, job=job, task_id=task_id)
    return AgentPod(task_id, name, str(pod.metadata.name))


def _patch(clients: Clients, namespace: str, agent: AgentPod) -> float:
    """What the kubelet writes when the image cannot be pulled (``kubelet.set_waiting``'s
    strategic merge patch), without building a ``V1Pod`` from the answer: that would burn
    the daemon's process CPU on the client's side. Returns when the answer arrived."""
    body = {"status": {"phase": "Pending", "containerStatuses": [{
        "name": "agent", "state": {"waiting": {"reason": "ImagePullBackOff", "message": ""}},
        "ready": False, "restartCount": 0, "image": kubelet.DEFAULT_IMAGE, "imageID": ""}]}}
    response = clients.core().patch_namespaced_pod_status(
        agent.pod_name, namespace, body, _content_type=kubelet.STRATEGIC,
        _preload_content=False)
    try:
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"patch of {agent.pod_name}: HTTP {response.status}")
    finally:
        response.release_conn()
    return time.monotonic()


async def patch_in_a_process(
    services: Services, namespace: str, pod_names: list[str], *options: str
) -> tuple[float, float]:
    """Patch the pods' status from ``benchmarks.patcher`` (see there why a process, and its
    ``options``); when the first patch was sent and the last answered (monotonic)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.patcher", services.api_url, services.token,
        str(services.ca_file), namespace, str(THREADS), *options,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    names = "".join(f"{name}\n" for name in pod_names).encode()
    out, _ = await process.communicate(names)
    if process.returncode != 0:
        raise RuntimeError(f"patcher failed with exit code {process.returncode}")
    answer = json.loads(out)
    return float(answer["started"]), float(answer["answered"])


def create_agents(clients: Clients, namespace: str, count: int) -> list[AgentPod]:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda i: _create(clients, namespace, i), range(count)))


@contextlib.contextmanager
def scratch_namespace(clients: Clients, prefix: str) -> Iterator[str]:
    core = clients.core()
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace.model_validate({"metadata": {
        "name": name, "labels": {"zombiewatch.test/owned": "true"}}}))
    try:
        yield name
    finally:
        with contextlib.suppress(ApiException):
            core.delete_namespace(name)


def bench_daemon_settings(kubeconfig: Path, namespace: str, bootstrap: str,
                          stem: str) -> tuple[str, Settings]:
    """A benchmark daemon's request topic (created, on a fresh prefix ``<stem>-<hex>``) and
    its settings, the same for ``e2e`` and ``node``: grace 120 s, publish timeout 10 s."""
    prefix = f"{stem}-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(bootstrap, prefix)
    return topic, daemon_settings(kubeconfig=kubeconfig, namespace=namespace,
                                  bootstrap=bootstrap, topic_prefix=prefix,
                                  grace_seconds=120.0, publish_timeout=10.0)


@contextlib.asynccontextmanager
async def daemon(services: Services, namespace: str,
                 agents: list[AgentPod]) -> AsyncIterator[tuple[Runtime, Committed]]:
    """A synced, ready daemon that sees every agent pod, and a reader of its topic."""
    topic, settings = bench_daemon_settings(services.kubeconfig, namespace,
                                            services.bootstrap_servers, "bench")
    async with CommittedReader(services.bootstrap_servers, topic) as reader, \
            running(settings) as runtime:
        cache = runtime.cache
        await wait_until(lambda: all(cache.pods_of_job(a.job_name) for a in agents),
                         timeout=120, what="every pod in the daemon's cache")
        await wait_until(lambda: runtime.ready()[0], timeout=60, what="daemon ready")
        yield runtime, Committed(reader)


async def latency(services: Services, clients: Clients, count: int) -> list[Row]:
    """Patch one pod at a time into ImagePullBackOff; time patch start -> pair read."""
    with scratch_namespace(clients, "zw-bench-lat") as namespace:
        agents = create_agents(clients, namespace, count)
        async with daemon(services, namespace, agents) as (_runtime, committed):
            samples: list[float] = []
            patch_ms: list[float] = []
            missing = 0
            for agent in agents:
                started = time.monotonic()
                answered = await asyncio.to_thread(_patch, clients, namespace, agent)
                patch_ms.append((answered - started) * 1000)
                if not await committed.wait_for({agent.task_id}, timeout=10):
                    missing += 1
                    continue
                samples.append((committed.seen[agent.task_id][0] - started) * 1000)
                await asyncio.sleep(0.02)
    ms = [round(s, 2) for s in samples]
    detail = f"{len(samples)} pods, one at a time, 20 ms gap; {missing} not seen within 10 s"
    return [
        Row(NAME, f"detection latency p50 (patch -> pair read committed), {count} pods",
            percentile(samples, 50), "ms", 50, "<=", detail, extra={"samples_ms": ms}),
        Row(NAME, f"detection latency p99, {count} pods", percentile(samples, 99), "ms",
            250, "<=", detail),
        Row(NAME, f"detection latency max, {count} pods", max(samples), "ms", detail=detail),
        Row(NAME, "pods whose pair was not seen (latency run)", float(missing), "pods", 0, "<="),
        Row(NAME, "of which: the PATCH request's own round trip, p50", median(patch_ms), "ms",
            detail="patch sent -> API server answered (the kubelet's side)",
            extra={"samples_ms": [round(s, 2) for s in patch_ms]}),
    ]


def apiserver_metrics(services: Services) -> str:
    """The API server's own ``/metrics`` (admin bearer token, the services' CA)."""
    context = ssl.create_default_context(cafile=str(services.ca_file))
    request = urllib.request.Request(f"{services.api_url}/metrics",
                                     headers={"Authorization": f"Bearer {services.token}"})
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return str(response.read().decode())


def _apiserver_lists(services: Services) -> Counter[str]:
    """``apiserver_request_total`` for verb LIST, summed per resource, from ``/metrics``."""
    text = apiserver_metrics(services)
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{") or 'verb="LIST"' not in line:
            continue
        labels, value = line.rsplit(" ", 1)
        resource = ""
        for part in labels[labels.index("{") + 1:-1].split(","):
            if part.startswith("resource="):
                resource = part.split("=", 1)[1].strip('"')
        counts[resource] += int(float(value))
    return counts


async def burst_and_api_load(services: Services, clients: Clients, count: int,
                             ticks: int) -> list[Row]:
    """All pods into ImagePullBackOff at once; then sweep ticks and the API server's LISTs."""
    with scratch_namespace(clients, "zw-bench-burst") as namespace:
        agents = create_agents(clients, namespace, count)
        async with daemon(services, namespace, agents) as (runtime, committed):
            started, patched = await patch_in_a_process(
                services, namespace, [a.pod_name for a in agents])
            wanted = {a.task_id for a in agents}
            complete = await committed.wait_for(wanted, timeout=60)
            last_seen = max(min(committed.seen[t]) for t in wanted if t in committed.seen)
            await asyncio.sleep(2.0)  # room for stray duplicates
            committed.update()
            twice = sum(1 for t in wanted if len(committed.seen.get(t, ())) > 1)
            seen = sum(1 for t in wanted if t in committed.seen)

            informers = runtime.informers
            assert informers is not None
            lists_before = sum(i.stats.lists for i in informers.all)
            before = _apiserver_lists(services)
            tick_started = time.monotonic()
            for _ in range(ticks):
                await runtime.sweep_now()
            tick_seconds = time.monotonic() - tick_started
            after = _apiserver_lists(services)
            lists_after = sum(i.stats.lists for i in informers.all)
    delta = after - before
    mine = {r: delta.get(r, 0) for r in ("pods", "jobs", "configs")}
    total_ms = (last_seen - started) * 1000
    return [
        Row(NAME, f"burst: {count} pods ImagePullBackOff -> all pairs committed and read",
            total_ms, "ms", 5000, "<=",
            f"first patch to last pair read; {seen}/{count} seen"
            + ("" if complete else " (NOT all within 60 s)")),
        Row(NAME, f"burst: pods whose pair was not seen, of {count}", float(count - seen),
            "pods", 0, "<="),
        Row(NAME, f"burst: pods whose pair was published twice, of {count}", float(twice),
            "pods", 0, "<="),
        Row(NAME, f"burst: patching the {count} pod statuses ({THREADS} threads)",
            (patched - started) * 1000, "ms", detail="first patch sent -> last answered"),
        Row(NAME, "burst: last patch answered -> last pair read", (last_seen - patched) * 1000,
            "ms", detail="the daemon's side of the burst"),
        Row(NAME, f"API LIST requests during {ticks} sweep_now() ticks (pods/jobs/configs)",
            float(sum(mine.values())), "requests", 0, "<=",
            f"apiserver_request_total LIST delta {dict(mine)} (all resources: "
            f"{sum(delta.values())}); informer lists {lists_before}->{lists_after}; "
            f"{ticks} ticks over {count} Jobs took {tick_seconds * 1000:.0f} ms"),
    ]


def _counting(factory: ApiClientFactory, counts: Counter[str]) -> ApiClientFactory:
    """``factory``'s clients, each request counted by kind: ``read`` (GET: get, list,
    watch) or ``write`` (anything else)."""

    def make() -> Any:
        api = factory()
        call = api.call_api

        def counted(method: str, *args: Any, **kwargs: Any) -> Any:
            counts["read" if method.upper() == "GET" else "write"] += 1
            return call(method, *args, **kwargs)

        api.call_api = counted
        return api

    return make


async def storm_requests(services: Services, clients: Clients, count: int, seconds: float,
                         *, guard: bool) -> Counter[str]:
    """Every API request the daemon makes while ``count`` Jobs fail to pull one image, for
    ``seconds`` after the failures, sweeping once a second; with or without the guard."""
    counts: Counter[str] = Counter()
    with scratch_namespace(clients, "zw-bench-storm") as namespace:
        agents = create_agents(clients, namespace, count)
        _topic, settings = bench_daemon_settings(services.kubeconfig, namespace,
                                                 services.bootstrap_servers, "bench")
        container = build_container(replace(settings, storm_guard=guard))
        container.api_client_factory.override(providers.Object(
            _counting(make_api_client_factory(container.settings()), counts)))
        runtime = Runtime(container)
        await runtime.start()
        try:
            await wait_until(lambda: all(runtime.cache.pods_of_job(a.job_name) for a in agents),
                             timeout=120, what="every pod in the daemon's cache")
            await patch_in_a_process(services, namespace, [a.pod_name for a in agents])
            for _ in range(int(seconds)):
                await asyncio.sleep(1.0)
                await runtime.sweep_now()
        finally:
            await runtime.stop()
    return counts


async def storm_api_load(services: Services, clients: Clients, count: int,
                         seconds: float) -> list[Row]:
    """The guard adds no API request: the same storm with and without it."""
    on = await storm_requests(services, clients, count, seconds, guard=True)
    off = await storm_requests(services, clients, count, seconds, guard=False)
    detail = (f"{count} Jobs failing to pull one image, {seconds:.0f} s after the failures, a "
              f"sweep a second: guard on {dict(on)} (held: no annotation, reap or "
              f"ZombieReported Event; one ZombieStormHeld Event), off {dict(off)} (every "
              "failure published, annotated, reaped, said)")
    return [
        Row(NAME, f"storm: API reads the guard adds, {count} Jobs (on - off)",
            float(on["read"] - off["read"]), "requests", 0, "<=", detail),
        Row(NAME, f"storm: API requests with the guard / without, {count} Jobs",
            float(sum(on.values())) / max(1, sum(off.values())), "x", 1.0, "<=", detail),
    ]


async def _run(quick: bool) -> list[Row]:
    services = acquire()
    clients = Clients(services)
    try:
        apply_config_crd(clients.get())
        rows = await latency(services, clients, 50 if quick else 200)
        rows += await burst_and_api_load(services, clients, 200 if quick else 1000, 100)
        rows += await storm_api_load(services, clients, 100 if quick else 200, 20.0)
        return rows
    finally:
        clients.close()
        services.close()


def run(*, quick: bool) -> list[Row]:
    return asyncio.run(_run(quick))


__all__ = ["median", "run"]
