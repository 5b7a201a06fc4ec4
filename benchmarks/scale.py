"""The whole daemon at scale, side by side with client-go (issue 23): memory, time to ready,
CPU at a steady rate of pod updates, and a restart among reported zombies.

The stack is a private one (``harness.services.private``: etcd on tmpfs, the bare
kube-apiserver v1.37, Kafka): the bare API server runs no namespace controller, so the
100,000 objects of a run could never be deleted from a shared stack. The namespace is
filled in steps (N = 0, 10,000, 50,000; ``--quick``: 0 and 1,000) with agent Jobs and
their realistic running pods (``benchmarks.populate``, written straight into etcd); the
programs start once the API server's watch cache holds every object.

At each N three programs are measured one after the other, twice, alternating
(zombiewatch, client-go, client-go tuned, zombiewatch, ...), each alone in its own process:

- ``zombiewatch run`` with the real flags (``harness.daemons.cli_args``), Kafka from the
  stack; *ready* is the first ``/readyz`` 200;
- ``benchmarks/clientgo`` (client-go shared informers for Pods and Jobs, selected on the
  task-id label as zombiewatch selects them), built by ``benchmarks.gobuild``; *ready* is
  ``WaitForCacheSync`` returning (its ``/stats`` says so);
- the same with ``-strip-managed-fields`` (an informer transform) and ``GOGC=50``.

*Ready* is measured by this process from just before the spawn to the first answer that
says so (polled every 20 ms). Memory comes from ``/proc/<pid>/status``: the settled RSS is
``VmRSS`` once it has stayed within 1 MiB (or 1 %) for 5 s, sampled every 0.5 s (at most
60 s; a run that never settles says so), the peak is ``VmHWM`` then.

At the middle N (10,000; quick: 1,000) zombiewatch and client-go run together while
``benchmarks.patcher`` stamps the Ready condition's ``lastProbeTime`` of 3,000 distinct
pods at 50 per second: CPU seconds (``utime + stime`` of ``/proc/<pid>/stat``) per 1,000
updates of each, and the events each received (zombiewatch's
``zombiewatch_informer_events_total``, client-go's handler counts).

At the largest N: 100 pods are turned into zombies (ImagePullBackOff) and the daemon runs
until it has reported all 100 (the pairs on the topic, the Jobs annotated), then stops;
10 more pods fail while it is down; the daemon starts again and must publish exactly those
10, within a printed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import gobuild, populate
from benchmarks.common import Row
from benchmarks.e2e import (
    Committed,
    apiserver_metrics,
    bench_daemon_settings,
    patch_in_a_process,
)
from benchmarks.podjson import pod_object
from benchmarks.procfs import MIB, Settle, cpu_seconds, memory
from benchmarks.sidebyside import (
    CONTENDERS,
    NAME,
    TUNED,
    ZOMBIEWATCH,
    Measured,
    Summary,
    side_by_side,
    size_rows,
)
from harness.daemons import DaemonProcess, cli_args, daemon_environment, free_port, sample, scrape
from harness.services import Services, private
from harness.support import CommittedReader, apply_config_crd
from harness.waiting import wait_until
from zombiewatch.app.settings import Settings
from zombiewatch.domain.views import ZOMBIE_REASON_ANNOTATION

SIZES = (0, 10_000, 50_000)
QUICK_SIZES = (0, 1_000)
TUNED_GOGC = "50"
"""The tuned client-go's GC setting (Go's default is 100: the heap may grow to twice the
live data before a collection; 50 lets it grow by half)."""
REPEATS = 2
READY_TIMEOUT = 600.0
SETTLE = Settle(window=5.0, tolerance=MIB, relative=0.01)
SETTLE_TIMEOUT = 60.0
NAMESPACE = "zw-scale"
CPU_RATE = 50.0


class Program:
    """One measured process: its pid, whether it is ready, its log; killed by ``close``."""

    def __init__(self, popen: subprocess.Popen[bytes], log: Path,
                 ready: Callable[[], bool], stats: Callable[[], dict[str, Any]],
                 close: Callable[[], None] | None = None) -> None:
        self.popen = popen
        self.log = log
        self._ready = ready
        self.stats = stats
        self._close = close

    @property
    def pid(self) -> int:
        return self.popen.pid

    def ready(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"pid {self.pid} exited ({self.popen.returncode}):\n"
                               f"{self.log.read_text(errors='replace')[-3000:]}")
        return self._ready()

    def close(self) -> None:
        if self._close is not None:
            self._close()
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, 9)
        self.popen.wait(timeout=30)


class Launcher:
    """Starts the three programs against one namespace of the private stack."""

    def __init__(self, services: Services, namespace: str, scratch: Path,
                 clientgo: Path) -> None:
        self.services = services
        self.namespace = namespace
        self.scratch = scratch
        self.clientgo = clientgo
        self.topic, self.settings = bench_daemon_settings(
            services.kubeconfig, namespace, services.bootstrap_servers, "scale")
        self._count = 0

    def _log(self, stem: str) -> Path:
        self._count += 1
        return self.scratch / f"{self._count:02d}-{stem}.log"

    def zombiewatch(self, *, settings: Settings | None = None) -> Program:
        port = free_port()
        env = daemon_environment()
        args = [*cli_args(settings or self.settings, port=port), "--log-level", "INFO"]
        daemon = DaemonProcess(args, env, self._log("zombiewatch"))
        return Program(daemon.process, daemon.log_path,
                       lambda: scrape(port, "/readyz")[0] == 200,
                       lambda: {"metrics": scrape(port)[1]}, daemon.close)

    def client_go(self, *, tuned: bool) -> Program:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("GOGC", "GOMEMLIMIT")}
        argv = [str(self.clientgo), "-kubeconfig", str(self.services.kubeconfig),
                "-namespace", self.namespace, "-listen", f"127.0.0.1:{port}"]
        if tuned:
            env["GOGC"] = TUNED_GOGC
            argv.append("-strip-managed-fields")
        log = self._log("client-go-tuned" if tuned else "client-go")
        with log.open("wb") as out:
            popen = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

        def stats() -> dict[str, Any]:
            status, body = scrape(port, "/stats")
            return dict(json.loads(body)) if status == 200 else {}

        return Program(popen, log, lambda: float(stats().get("synced_seconds", -1)) >= 0,
                       stats)

    def start(self, who: str) -> Program:
        if who == ZOMBIEWATCH:
            return self.zombiewatch()
        return self.client_go(tuned=who == TUNED)


async def _until_ready(program: Program, what: str) -> None:
    await wait_until(lambda: asyncio.to_thread(program.ready), what, timeout=READY_TIMEOUT,
                     interval=0.02)


async def _settled_memory(program: Program) -> tuple[int, int, float | None]:
    """(settled RSS, peak, seconds it took to settle or None)."""
    samples: list[tuple[float, int]] = []

    def settled() -> bool:
        samples.append((time.monotonic(), memory(program.pid).rss))
        return SETTLE.settled(samples) is not None

    took: float | None
    try:
        took = await wait_until(settled, "RSS settled", timeout=SETTLE_TIMEOUT, interval=0.5)
    except AssertionError:
        took = None
    now = memory(program.pid)
    return now.rss, now.peak, took


def _cache_fetched(services: Services) -> float:
    """Objects the API server's watch cache has read to answer LISTs of pods and Jobs."""
    text = apiserver_metrics(services)
    return sum(sample(text, "apiserver_storage_list_fetched_objects_total", resource=kind,
                      storage="watchcache") for kind in ("pods", "jobs"))


async def measure(launcher: Launcher, who: str, size: int) -> Measured:
    """Spawn ``who``, time it to ready, read its memory once settled, kill it."""
    fetched = await asyncio.to_thread(_cache_fetched, launcher.services)
    started = time.monotonic()
    program = launcher.start(who)
    try:
        await _until_ready(program, f"{who} ready at N={size}")
        ready = time.monotonic() - started
        cpu_at_ready = cpu_seconds(program.pid)
        settled, peak, took = await _settled_memory(program)
        extra: dict[str, Any] = {
            "cpu_s_at_ready": round(cpu_at_ready, 2),
            "apiserver_cache_objects_read": int(
                await asyncio.to_thread(_cache_fetched, launcher.services) - fetched)}
        if who != ZOMBIEWATCH:
            stats = await asyncio.to_thread(program.stats)
            extra |= {"own_synced_s": stats.get("synced_seconds"), "pods": stats.get("pods"),
                     "jobs": stats.get("jobs"), "go_heap_alloc_mib":
                     round(int(stats.get("heap_alloc", 0)) / MIB, 1),
                     "go_sys_mib": round(int(stats.get("sys", 0)) / MIB, 1)}
    finally:
        program.close()
    print(f"  N={size:,} {who}: ready {ready:.2f} s ({cpu_at_ready:.2f} CPU s), settled "
          f"{settled / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB", file=sys.stderr, flush=True)
    return Measured(who, size, ready, peak, settled, took, extra)


async def measure_size(launcher: Launcher, size: int) -> dict[str, Summary]:
    runs: dict[str, list[Measured]] = {who: [] for who in CONTENDERS}
    for _ in range(REPEATS):
        for who in CONTENDERS:
            runs[who].append(await measure(launcher, who, size))
    return {who: Summary(tuple(found)) for who, found in runs.items()}


def _pod_names(indices: Sequence[int], namespace: str) -> list[str]:
    return [str(pod_object(i, namespace=namespace)["metadata"]["name"]) for i in indices]


def _zombiewatch_events(program: Program) -> int:
    text = str(program.stats()["metrics"])
    return int(sum(sample(text, "zombiewatch_informer_events_total", kind=kind)
                   for kind in ("pods", "jobs")))


def _client_go_events(program: Program) -> int:
    stats = program.stats()
    return sum(int(stats[kind][what]) for kind in ("pod_events", "job_events")
               for what in ("added", "updated", "deleted"))


async def steady_cpu(launcher: Launcher, size: int, updates: int) -> list[Row]:
    """Both programs running; ``updates`` pod status updates at :data:`CPU_RATE`/s."""
    services, namespace = launcher.services, launcher.namespace
    zw = launcher.zombiewatch()
    go = launcher.client_go(tuned=False)
    try:
        await _until_ready(zw, "zombiewatch ready (CPU)")
        await _until_ready(go, "client-go synced (CPU)")
        await asyncio.gather(_settled_memory(zw), _settled_memory(go))
        idle = 10.0
        cpu_idle = [cpu_seconds(p.pid) for p in (zw, go)]
        await asyncio.sleep(idle)
        cpu_before = [cpu_seconds(p.pid) for p in (zw, go)]
        idle_cpu = [b - a for a, b in zip(cpu_idle, cpu_before, strict=True)]
        events_before = (_zombiewatch_events(zw), _client_go_events(go))
        step = max(1, size // updates)
        names = _pod_names(range(0, step * updates, step), namespace)
        started, answered = await patch_in_a_process(
            services, namespace, names, "--rate", str(CPU_RATE), "--body", "probe")

        def received() -> tuple[int, int]:
            return (_zombiewatch_events(zw) - events_before[0],
                    _client_go_events(go) - events_before[1])

        with contextlib.suppress(AssertionError):
            await wait_until(lambda: min(received()) >= updates, "both received every update",
                             timeout=60, interval=0.2)
        cpu_after = [cpu_seconds(p.pid) for p in (zw, go)]
        got = received()
    finally:
        zw.close()
        go.close()
    per = [(after - before) / updates * 1000
           for before, after in zip(cpu_before, cpu_after, strict=True)]
    print(f"  N={size:,} steady rate: CPU s per 1,000 updates zombiewatch {per[0]:.2f}, "
          f"client-go {per[1]:.2f}; events {got}", file=sys.stderr, flush=True)
    detail = (f"{updates:,} updates of distinct pods at {CPU_RATE:g}/s "
              f"({answered - started:.1f} s) over {size:,} cached Jobs+pods")
    return [
        Row(NAME, f"N={size:,}: zombiewatch CPU per 1,000 pod status updates", per[0],
            "CPU s", detail=detail + f"; idle {idle_cpu[0]:.2f} CPU s over {idle:g} s"),
        Row(NAME, f"N={size:,}: client-go CPU per 1,000 pod status updates", per[1],
            "CPU s", detail=detail + f"; idle {idle_cpu[1]:.2f} CPU s over {idle:g} s"),
        Row(NAME, "zombiewatch CPU / client-go CPU at a steady rate", per[0] / per[1], "x"),
        Row(NAME, "updates zombiewatch did not receive (watch events)",
            float(updates - got[0]), "events", 0, "<=", f"received {got[0]:,} of {updates:,}"),
        Row(NAME, "updates client-go did not receive (handler events)",
            float(updates - got[1]), "events", 0, "<=", f"received {got[1]:,} of {updates:,}"),
    ]


def _annotated(services: Services, namespace: str, job_names: Sequence[str]) -> bool:
    context = ssl.create_default_context(cafile=str(services.ca_file))
    for name in job_names:
        request = urllib.request.Request(
            f"{services.api_url}/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
            headers={"Authorization": f"Bearer {services.token}"})
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            job = json.loads(response.read())
        if ZOMBIE_REASON_ANNOTATION not in (job["metadata"].get("annotations") or {}):
            return False
    return True


@contextlib.asynccontextmanager
async def _reader(services: Services, topic: str) -> AsyncIterator[Committed]:
    async with CommittedReader(services.bootstrap_servers, topic) as reader:
        yield Committed(reader)


async def restart(launcher: Launcher, size: int, reported: int, fresh: int) -> list[Row]:
    """``reported`` zombies reported by a first daemon; ``fresh`` more fail while it is
    down; the restarted daemon must publish exactly the ``fresh`` ones."""
    services, namespace = launcher.services, launcher.namespace
    step = size // (reported + fresh)
    indices = [i * step + step // 2 for i in range(reported + fresh)]
    pods = [pod_object(i, namespace=namespace) for i in indices]
    tasks = [str(p["metadata"]["labels"]["agent.benjamin-borbe.de/task-id"]) for p in pods]
    jobs = [str(p["metadata"]["ownerReferences"][0]["name"]) for p in pods]
    names = [str(p["metadata"]["name"]) for p in pods]
    topic, settings = bench_daemon_settings(services.kubeconfig, namespace,
                                            services.bootstrap_servers, "scale-restart")
    async with _reader(services, topic) as committed:
        await patch_in_a_process(services, namespace, names[:reported])
        first = launcher.zombiewatch(settings=settings)
        try:
            await _until_ready(first, "first daemon ready")
            await wait_until(lambda: committed.wait_for(set(tasks[:reported]), timeout=0),
                             f"the {reported} zombies reported", timeout=300, interval=0.5)
            await wait_until(lambda: asyncio.to_thread(_annotated, services, namespace,
                                                       jobs[:reported]),
                             f"the {reported} Jobs annotated", timeout=120, interval=1.0)
            first.popen.terminate()
            await asyncio.to_thread(first.popen.wait, 30)
        finally:
            first.close()
        await patch_in_a_process(services, namespace, names[reported:])
        started = time.monotonic()
        second = launcher.zombiewatch(settings=settings)
        try:
            await _until_ready(second, "restarted daemon ready")
            ready = time.monotonic() - started
            new = set(tasks[reported:])
            await wait_until(lambda: committed.wait_for(new, timeout=0),
                             f"the {fresh} new zombies published", timeout=300, interval=0.05)
            published = max(min(committed.seen[t]) for t in new) - started
            sweeps = sample(str(second.stats()["metrics"]),
                            "zombiewatch_sweep_duration_seconds_count")
            await wait_until(
                lambda: sample(str(second.stats()["metrics"]),
                               "zombiewatch_sweep_duration_seconds_count") > sweeps,
                "a sweep after the new zombies were published", timeout=120, interval=1.0)
            await asyncio.sleep(2.0)
            committed.update()
        finally:
            second.close()
    after = {t: [s for s in seen if s >= started] for t, seen in committed.seen.items()}
    new_published = sum(1 for t in tasks[reported:] if after.get(t))
    others = sum(len(v) for t, v in after.items() if t not in new) \
        + sum(len(after.get(t, [])) - 1 for t in tasks[reported:] if after.get(t))
    print(f"  N={size:,} restart: {new_published}/{fresh} new published, {others} others, "
          f"{published:.2f} s", file=sys.stderr, flush=True)
    return [
        Row(NAME, f"restart among {size:,} Jobs: new zombies published, of {fresh}",
            float(new_published), "failures", float(fresh), ">=",
            f"{reported} already reported before the restart"),
        Row(NAME, "restart: other failures published (already reported, or twice)",
            float(others), "failures", 0, "<="),
        Row(NAME, f"restart: spawn -> the {fresh} new zombies' pairs read", published, "s",
            detail=f"ready after {ready:.2f} s"),
    ]


async def _run(quick: bool) -> list[Row]:
    sizes = QUICK_SIZES if quick else SIZES
    clientgo = await asyncio.to_thread(gobuild.ensure)
    services = await asyncio.to_thread(private)
    rows: list[Row] = []
    by_size: dict[int, dict[str, Summary]] = {}
    try:
        _namespace(services, NAMESPACE)
        with tempfile.TemporaryDirectory(prefix="zw-scale-") as scratch:
            launcher = Launcher(services, NAMESPACE, Path(scratch), clientgo)
            have = 0
            for size in sizes:
                if size > have:
                    rows.append(await _populate(services, have, size))
                    have = size
                by_size[size] = await measure_size(launcher, size)
                rows += size_rows(size, by_size[size], full=not quick)
                if size == sizes[len(sizes) // 2]:
                    rows += await steady_cpu(launcher, size, 500 if quick else 3000)
            rows += await restart(launcher, sizes[-1], 10 if quick else 100, 2 if quick else 10)
    finally:
        services.close()
    table = side_by_side(by_size)
    print(f"\nscale, side by side (ranges over {REPEATS} runs each; tuned: managedFields "
          f"stripped, GOGC={TUNED_GOGC}):\n{table}\n", flush=True)
    return rows


def _namespace(services: Services, name: str) -> None:
    context = ssl.create_default_context(cafile=str(services.ca_file))
    request = urllib.request.Request(
        f"{services.api_url}/api/v1/namespaces", method="POST",
        data=json.dumps({"metadata": {"name": name}}).encode(),
        headers={"Authorization": f"Bearer {services.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=30):
        pass
    from kubernetes import config  # noqa: PLC0415

    new_client: Any = config.new_client_from_config
    api = new_client(config_file=str(services.kubeconfig))
    try:
        apply_config_crd(api)
    finally:
        api.close()


async def _populate(services: Services, have: int, size: int) -> Row:
    """Agents ``have .. size-1`` into etcd, then until the API server lists them all."""
    ca = str(services.ca_file)
    written = await asyncio.to_thread(populate.write, services.etcd_endpoint, NAMESPACE,
                                      have, size - have)
    started = time.monotonic()
    for path in (f"/api/v1/namespaces/{NAMESPACE}/pods",
                 f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"):
        def listed(path: str = path) -> bool:
            return populate.cached_count(services.api_url, services.token, ca, path) >= size

        await wait_until(lambda: asyncio.to_thread(listed),
                         f"{size:,} objects in the watch cache at {path}", timeout=900,
                         interval=1.0)
    served = time.monotonic() - started
    print(f"  populated to N={size:,}: {written:.1f} s written, {served:.1f} s more until "
          f"in the watch cache", file=sys.stderr, flush=True)
    return Row(NAME, f"populate N={have:,} -> {size:,} agents (Job + pod each)",
               written + served, "s",
               detail=f"{(size - have) / written:,.0f} agents/s into etcd, one transaction "
               f"each from {populate.THREADS} threads; the API server's watch cache held them "
               f"all {served:.1f} s later")


def run(*, quick: bool) -> list[Row]:
    return asyncio.run(_run(quick))
