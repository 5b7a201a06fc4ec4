"""The side-by-side figures of the scale benchmark (``benchmarks.scale``): one program's
runs at one N, their medians and ranges, the rows with the issue's targets, and the table.

Pure (no processes, no services), so the verdict logic has unit tests of its own.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.common import Row, fmt
from benchmarks.procfs import MIB

NAME = "scale"
ZOMBIEWATCH, CLIENT_GO, TUNED = "zombiewatch", "client-go", "client-go tuned"
CONTENDERS = (ZOMBIEWATCH, CLIENT_GO, TUNED)


@dataclass(frozen=True, slots=True)
class Targets:
    """What the issue asks, and where (by N)."""

    empty_rss_mib: float = 57.0
    peak_over_settled: float = 1.3
    plain_over_zombiewatch: float = 10.0
    tuned_over_zombiewatch: float = 6.0
    ready_from: int = 10_000
    """Ready no slower than the tuned client-go from this N on."""
    ratios_at: int = 50_000
    """The RSS ratios are targets at this N."""


TARGETS = Targets()


@dataclass(frozen=True, slots=True)
class Measured:
    """One program's run at one N."""

    contender: str
    size: int
    ready: float
    """Seconds from the spawn to ready."""
    peak: int
    settled: int
    settled_after: float | None
    """Seconds after ready until the RSS settled; None when it did not within the bound."""
    extra: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Summary:
    """The runs of one program at one N, reduced (medians, ranges)."""

    runs: tuple[Measured, ...]

    @property
    def ready(self) -> float:
        return statistics.median(m.ready for m in self.runs)

    @property
    def settled(self) -> float:
        return statistics.median(m.settled for m in self.runs)

    @property
    def peak(self) -> float:
        return statistics.median(m.peak for m in self.runs)

    @property
    def peak_over_settled(self) -> float:
        """The worst run's peak / its own settled RSS."""
        return max(m.peak / m.settled for m in self.runs)

    def span(self, value: Callable[[Measured], float], scale: float = 1.0,
             unit: str = "") -> str:
        """``low-high unit`` over the runs (one value when they agree to the shown digits)."""
        values = [value(m) / scale for m in self.runs]
        low, high = fmt(min(values)), fmt(max(values))
        return (low if low == high else f"{low}-{high}") + (f" {unit}" if unit else "")


def size_rows(size: int, by: dict[str, Summary], *, full: bool,
              targets: Targets = TARGETS) -> list[Row]:
    """The rows of one N: ready, settled and peak RSS of each program, and the targets
    that apply at this N (the RSS ratios only at ``targets.ratios_at`` in a full run)."""
    zw, plain, tuned = by[ZOMBIEWATCH], by[CLIENT_GO], by[TUNED]
    at = f"N={size:,}"
    rows: list[Row] = []
    for who, summary in by.items():
        rows += [
            Row(NAME, f"{at}: {who} ready (spawn -> {_ready_word(who)})", summary.ready, "s",
                detail=f"runs {summary.span(lambda m: m.ready, unit='s')}",
                samples=tuple(round(m.ready, 3) for m in summary.runs)),
            Row(NAME, f"{at}: {who} settled RSS", summary.settled / MIB, "MiB",
                targets.empty_rss_mib if who == ZOMBIEWATCH and size == 0 else None,
                "<=" if who == ZOMBIEWATCH and size == 0 else None,
                f"runs {summary.span(lambda m: m.settled, MIB, 'MiB')}",
                samples=tuple(round(m.settled / MIB, 1) for m in summary.runs),
                extra={"runs": [_run_json(m) for m in summary.runs]}),
            Row(NAME, f"{at}: {who} peak RSS (VmHWM)", summary.peak / MIB, "MiB",
                detail=f"runs {summary.span(lambda m: m.peak, MIB, 'MiB')}",
                samples=tuple(round(m.peak / MIB, 1) for m in summary.runs)),
        ]
    if size:
        for who, summary in by.items():
            read = [float(m.extra.get("apiserver_cache_objects_read", 0)) for m in summary.runs]
            rows.append(Row(
                NAME, f"{at}: API server watch-cache reads per object, {who}'s initial lists",
                statistics.median(read) / (2 * size), "x",
                detail="apiserver_storage_list_fetched_objects_total{storage=watchcache} "
                f"(pods + Jobs) during the run, over the {2 * size:,} objects",
                samples=tuple(read)))
    rows.append(Row(NAME, f"{at}: zombiewatch peak / settled RSS (worst run)",
                    zw.peak_over_settled, "x", targets.peak_over_settled, "<="))
    ready_target = full and size >= targets.ready_from
    rows.append(Row(NAME, f"{at}: zombiewatch ready / tuned client-go ready",
                    zw.ready / tuned.ready, "x", 1.0 if ready_target else None,
                    "<=" if ready_target else None,
                    f"{fmt(zw.ready)} s vs {fmt(tuned.ready)} s (medians); plain client-go "
                    f"{fmt(plain.ready)} s"))
    ratio_target = full and size == targets.ratios_at
    for who, summary, goal in ((CLIENT_GO, plain, targets.plain_over_zombiewatch),
                               (TUNED, tuned, targets.tuned_over_zombiewatch)):
        rows.append(Row(NAME, f"{at}: {who} settled RSS / zombiewatch's",
                        summary.settled / zw.settled, "x", goal if ratio_target else None,
                        ">=" if ratio_target else None,
                        f"{fmt(summary.settled / MIB)} MiB / {fmt(zw.settled / MIB)} MiB"))
    return rows


def side_by_side(by_size: dict[int, dict[str, Summary]]) -> str:
    """The issue's table: per N, each program's ready and settled RSS (peak)."""
    head = ["N Jobs+pods", "zombiewatch ready", "settled RSS (peak)", "client-go synced",
            "settled RSS (peak)", "client-go tuned synced", "settled RSS (peak)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for size, by in by_size.items():
        cells = [f"{size:,}"]
        for who in CONTENDERS:
            s = by[who]
            cells += [s.span(lambda m: m.ready, unit="s"),
                      f"{s.span(lambda m: m.settled, MIB, 'MiB')} "
                      f"({s.span(lambda m: m.peak, MIB)})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ready_word(who: str) -> str:
    return "/readyz 200" if who == ZOMBIEWATCH else "WaitForCacheSync"


def _run_json(m: Measured) -> dict[str, Any]:
    return {"ready_s": round(m.ready, 3), "peak_mib": round(m.peak / MIB, 1),
            "settled_mib": round(m.settled / MIB, 1), "settled_after_s": m.settled_after,
            **m.extra}
