"""The daemon's fixed cost: RSS settled and peak, seconds to ready, and where the imports go.

``zombiewatch run`` runs in a process of its own (``harness.daemons.DaemonProcess``, the
flags of ``e2e``'s daemon, log level INFO, the task feed on as in production) against the
real bare API server and Kafka (``harness.services.acquire()``, as ``e2e``), watching a
fresh namespace that holds N agent Jobs with one realistic pod each (``e2e.create_agents``),
all created before the daemon starts: N = 0 and 10,000 (1,000 with ``--quick``), each
measured twice, alternating (once with ``--quick``).

- *ready*: process start -> the first ``/readyz`` 200 (polled every 10 ms): interpreter
  start, imports, credentials, the initial lists, the Kafka connections.
- *peak*: ``VmHWM`` of ``/proc/<pid>/status`` (the kernel's high-water mark of the RSS)
  after the settle window; *settled*: the median ``VmRSS`` sampled every 0.1 s over
  ``SETTLE_SAMPLE`` s, starting ``SETTLE_WAIT`` s after ready.

Imports: one more run on the empty namespace under ``python -X importtime``, whose lines
(the daemon's stderr) name every module the process imported, at start-up and at run
time: their count, and each top-level package's summed self time. Their RSS is measured in a
fresh interpreter that imports the same modules in the same order, reading ``VmRSS`` around each
import: the growth (what that import loaded that was not loaded yet, a package's
``__init__`` and what it imports included) is counted to the module's top-level package, and
the packages that grew it most get a row each.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import Row
from benchmarks.e2e import Clients, bench_daemon_settings, create_agents, scratch_namespace
from benchmarks.procfs import MIB, memory
from harness.daemons import DaemonProcess, cli_args, daemon_environment, free_port, scrape
from harness.services import Services, acquire
from harness.support import apply_config_crd
from harness.waiting import wait_until_sync

NAME = "footprint"
EMPTY_RSS_TARGET_MIB = 57.0
"""Issue 23: the empty-namespace settled RSS down by a third, from 85 MiB."""
PEAK_RATIO_TARGET = 1.3
SETTLE_WAIT = 5.0
SETTLE_SAMPLE = 3.0
READY_TIMEOUT = 300.0
KUBECONFIG_LOADER = "kubernetes.config.kube_config"
TOP_PACKAGES = 10
"""How many packages (largest RSS first) get a row of their own."""

_IMPORTER = """
import importlib, json, sys
def rss():
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0
started = rss()
grown = {}
failed = 0
for name in sys.stdin.read().split():
    before = rss()
    try:
        importlib.import_module(name)
    except Exception:
        failed += 1
    top = name.split('.', 1)[0]
    grown[top] = grown.get(top, 0) + rss() - before
print(json.dumps({'total': rss() - started, 'packages': grown, 'failed': failed}))
"""
"""Run as ``python -c``: import the module names read from stdin in that order, each one's RSS
growth (KiB) counted to its top-level package; print the totals as JSON."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One daemon process, from start to settled."""

    jobs: int
    ready_s: float
    settled_mib: float
    peak_mib: float


@dataclass(frozen=True, slots=True)
class ImportProfile:
    """What one daemon imported: module names in import-completion order, self time each."""

    modules: tuple[tuple[str, int, int], ...]
    """(module, self microseconds, nesting depth) per ``-X importtime`` line."""

    def packages(self) -> dict[str, tuple[int, int]]:
        """Top-level package -> (modules, summed self microseconds)."""
        out: dict[str, tuple[int, int]] = {}
        for module, micros, _depth in self.modules:
            top = module.split(".", 1)[0]
            count, total = out.get(top, (0, 0))
            out[top] = (count + 1, total + micros)
        return out

    def names(self) -> list[str]:
        return [module for module, _micros, _depth in self.modules]

    def first_imported_by(self, name: str) -> list[str]:
        """``name`` and the modules it was the first to import (the lines printed before
        it, nested deeper)."""
        for index, (module, _micros, depth) in enumerate(self.modules):
            if module == name:
                start = index
                while start > 0 and self.modules[start - 1][2] > depth:
                    start -= 1
                return [m for m, _us, _d in self.modules[start:index + 1]]
        return []


def parse_importtime(text: str) -> ImportProfile:
    """The ``import time:`` lines of a process's stderr (any other line is ignored)."""
    modules: list[tuple[str, int, int]] = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3:
            continue
        name = fields[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        modules.append((name.strip(), int(fields[0]), depth))
    return ImportProfile(tuple(modules))



@contextlib.contextmanager
def _daemon(services: Services, namespace: str, scratch: Path,
            python_flags: tuple[str, ...] = ()) -> Iterator[tuple[DaemonProcess, int, float]]:
    """``zombiewatch run`` on ``namespace``, ready: (process, port, seconds to ready)."""
    _topic, settings = bench_daemon_settings(services.kubeconfig, namespace,
                                             services.bootstrap_servers, "footprint")
    port = free_port()
    env = daemon_environment()
    args = [*cli_args(settings, port=port), "--log-level", "INFO"]
    started = time.monotonic()
    process = DaemonProcess(args, env, scratch / f"daemon-{port}.log", python_flags=python_flags)
    try:
        def ready() -> bool:
            assert process.alive, f"zombiewatch run exited:\n{process.log_text()[-3000:]}"
            return scrape(port, "/readyz")[0] == 200

        wait_until_sync(ready, "the daemon ready", timeout=READY_TIMEOUT, interval=0.01,
                        detail=lambda: process.log_text()[-3000:])
        yield process, port, time.monotonic() - started
    finally:
        process.close()


def measure(services: Services, namespace: str, jobs: int, scratch: Path) -> Sample:
    """One daemon process on ``namespace``: ready time, then settled and peak RSS."""
    with _daemon(services, namespace, scratch) as (process, _port, ready_s):
        pid = process.process.pid
        time.sleep(SETTLE_WAIT)
        samples: list[int] = []
        for _ in range(round(SETTLE_SAMPLE / 0.1)):
            samples.append(memory(pid).rss)
            time.sleep(0.1)
        peak = memory(pid).peak
    return Sample(jobs, ready_s, statistics.median(samples) / MIB, peak / MIB)


def import_profile(services: Services, namespace: str, scratch: Path) -> ImportProfile:
    """The modules an empty-namespace daemon imported until settled (``-X importtime``)."""
    with _daemon(services, namespace, scratch, ("-X", "importtime")) as (process, _port, _s):
        time.sleep(SETTLE_WAIT)
        text = process.log_text()
    return parse_importtime(text)


@dataclass(frozen=True, slots=True)
class ImportRss:
    """RSS grown by importing a list of modules in a fresh interpreter."""

    total_kib: int
    by_package: dict[str, int]
    """Each import's growth (what it loaded that was not loaded yet) by its top-level
    package."""
    failed: int
    """Names that did not import: ``-X importtime`` lists failed attempts too (optional
    modules such as ``brotli``, Windows-only ones)."""


def import_rss(modules: list[str]) -> ImportRss:
    """Import ``modules`` in this order in a fresh interpreter, reading ``VmRSS`` around each."""
    done = subprocess.run([sys.executable, "-c", _IMPORTER], input=" ".join(modules),
                          capture_output=True, text=True, check=True, timeout=120)
    answer = json.loads(done.stdout)
    return ImportRss(int(answer["total"]), {k: int(v) for k, v in answer["packages"].items()},
                     int(answer["failed"]))


def _process_rows(samples: list[Sample]) -> list[Row]:
    rows: list[Row] = []
    for jobs in sorted({s.jobs for s in samples}):
        mine = [s for s in samples if s.jobs == jobs]
        settled = [round(s.settled_mib, 1) for s in mine]
        peaks = [round(s.peak_mib, 1) for s in mine]
        ratios = [round(s.peak_mib / s.settled_mib, 3) for s in mine]
        ready = [round(s.ready_s, 3) for s in mine]
        what = "empty namespace" if jobs == 0 else f"{jobs:,} Jobs+pods"
        runs = f"{len(mine)} run(s), median"
        target = EMPTY_RSS_TARGET_MIB if jobs == 0 else None
        rows += [
            Row(NAME, f"zombiewatch run settled RSS, {what}", statistics.median(settled), "MiB",
                target, "<=" if target is not None else None, runs, tuple(settled)),
            Row(NAME, f"zombiewatch run peak RSS (VmHWM), {what}", statistics.median(peaks),
                "MiB", detail=runs, samples=tuple(peaks)),
            Row(NAME, f"peak / settled RSS, {what}", max(ratios), "x", PEAK_RATIO_TARGET, "<=",
                "the worst run", tuple(ratios)),
            Row(NAME, f"process start -> /readyz 200, {what}", statistics.median(ready), "s",
                detail=runs, samples=tuple(ready)),
        ]
    return rows


def _import_rows(profile: ImportProfile, settled_mib: float) -> list[Row]:
    packages = profile.packages()
    names = profile.names()
    everything = import_rss(names)
    total_kib, grown = everything.total_kib, everything.by_package
    total_ms = sum(micros for _, micros, _depth in profile.modules) / 1000
    rows = [
        Row(NAME, "modules imported by zombiewatch run (empty namespace)", float(len(names)),
            "modules", detail=f"{len(packages)} top-level packages; {total_ms:,.0f} ms of "
            "self import time under -X importtime"),
        Row(NAME, "RSS of all its imports (fresh interpreter)", total_kib / 1024, "MiB",
            detail=f"{100 * total_kib / 1024 / settled_mib:.0f} % of the settled RSS; "
            f"{everything.failed} of the names do not import (optional modules the daemon "
            "tried and lacked too: winreg, brotli, fastapi...)"),
    ]
    kubeconfig_only = set(profile.first_imported_by(KUBECONFIG_LOADER))
    if kubeconfig_only:
        # what a daemon with in-cluster credentials imports: the rest, and the ApiClient's
        # module, which the kubeconfig loader happened to import first
        without = import_rss([m for m in names if m not in kubeconfig_only]
                             + ["kubernetes.client.api_client"]).total_kib
        rows.append(Row(NAME, f"imports: of which {KUBECONFIG_LOADER} and what only it needs",
                        (total_kib - without) / 1024, "MiB",
                        detail=f"{len(kubeconfig_only)} modules (requests, oauthlib... for "
                        "OIDC); loaded for a kubeconfig only, not with in-cluster credentials"))
    ranked = sorted(grown.items(), key=lambda item: -item[1])[:TOP_PACKAGES]
    for package, kib in ranked:
        count, micros = packages.get(package, (0, 0))
        rows.append(Row(NAME, f"imports: {package}", kib / 1024, "MiB",
                        detail=f"{count} modules, {micros / 1000:.1f} ms self import time",
                        extra={"modules": count, "self_ms": round(micros / 1000, 1)}))
    return rows


def run(*, quick: bool) -> list[Row]:
    sizes = (0, 1_000) if quick else (0, 10_000)
    repeats = 1 if quick else 2
    services = acquire()
    clients = Clients(services)
    try:
        apply_config_crd(clients.get())
        with contextlib.ExitStack() as stack:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zw-fp-")))
            namespaces = {}
            for jobs in sizes:
                namespaces[jobs] = stack.enter_context(scratch_namespace(clients, "zw-bench-fp"))
                create_agents(clients, namespaces[jobs], jobs)
            samples = [measure(services, namespaces[jobs], jobs, scratch)
                       for _ in range(repeats) for jobs in sizes]
            profile = import_profile(services, namespaces[0], scratch)
        empty = statistics.median(s.settled_mib for s in samples if s.jobs == 0)
        return _process_rows(samples) + _import_rows(profile, empty)
    finally:
        clients.close()
        services.close()
