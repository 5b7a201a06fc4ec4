"""What every benchmark shares: result rows, timing, tracemalloc, per-thread clients, the
machine description."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

Comparison = Literal["<=", ">="]


class Closable(Protocol):
    """What :class:`PerThread` holds: a client it closes at the end."""

    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


@dataclass(frozen=True, slots=True)
class Row:
    """One measured figure, with its target when the issue sets one."""

    bench: str
    """The benchmark (``--only`` name) that measured it."""
    name: str
    value: float
    unit: str
    target: float | None = None
    comparison: Comparison | None = None
    detail: str = ""
    samples: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """PASS / MISS against the target, "info" for figures without one."""
        if self.target is None or self.comparison is None:
            return "info"
        ok = self.value <= self.target if self.comparison == "<=" else self.value >= self.target
        return "PASS" if ok else "MISS"

    def target_text(self) -> str:
        if self.target is None or self.comparison is None:
            return ""
        return f"{self.comparison} {fmt(self.target)} {self.unit}"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["samples"] = list(self.samples)
        data["verdict"] = self.verdict
        return data


def fmt(value: float) -> str:
    """Compact human formatting: 3 significant digits, thousands separators for big ones."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def median(values: list[float] | tuple[float, ...]) -> float:
    return float(statistics.median(values))


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def timed_runs(action: Callable[[], object], repeats: int, *, warmup: int = 1,
               clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Seconds of ``repeats`` calls (after ``warmup`` calls), GC off while timing: wall
    clock, or ``clock=time.process_time`` for this process's CPU time (a comparison on a
    shared, loaded machine)."""
    for _ in range(warmup):
        action()
    samples: list[float] = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            started = clock()
            action()
            samples.append(clock() - started)
        finally:
            gc.enable()
    return samples


def traced_bytes(build: Callable[[], object]) -> int:
    """Bytes still allocated after ``build()``, with its result kept alive (tracemalloc).

    Whatever ``build`` reads must exist before the call: only what it allocates and keeps
    is counted.
    """
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


class PerThread(Generic[C]):
    """One client per thread, made by ``make`` on the thread's first :meth:`get` (a
    kubernetes ``ApiClient`` is not thread-safe: the simplest way to share none)."""

    def __init__(self, make: Callable[[], C]) -> None:
        self._make = make
        self._local = threading.local()
        self._all: list[C] = []
        self._lock = threading.Lock()

    def get(self) -> C:
        made: C | None = getattr(self._local, "client", None)
        if made is None:
            made = self._make()
            self._local.client = made
            with self._lock:
                self._all.append(made)
        return made

    def close(self) -> None:
        """Close every client made (call it once the threads are done)."""
        for made in self._all:
            made.close()


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
                break
    load = os.getloadavg()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    import json  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def table(rows: list[Row]) -> str:
    """The rows as a plain-text table."""
    header = ("bench", "figure", "value", "target", "verdict")
    lines = [
        (r.bench, r.name, f"{fmt(r.value)} {r.unit}", r.target_text(), r.verdict) for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [render(header), render(tuple("-" * w for w in widths))]
    out.extend(render(line) for line in lines)
    return "\n".join(out)
