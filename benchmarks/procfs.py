"""What the scale benchmark reads from ``/proc``: a process's memory and CPU time, and when
its memory has settled.

The parsers take the files' text (pure, unit-tested); :func:`memory` and
:func:`cpu_seconds` read them for a pid.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Memory:
    """``VmRSS`` (resident now) and ``VmHWM`` (the resident peak so far), in bytes."""

    rss: int
    peak: int


def parse_status(text: str) -> Memory:
    """``VmRSS`` and ``VmHWM`` of a ``/proc/<pid>/status`` text (kB lines)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            number, _, unit = rest.strip().partition(" ")
            if unit.strip() != "kB":
                raise ValueError(f"unexpected unit in {line!r}")
            values[key] = int(number) * KIB
    if "VmRSS" not in values or "VmHWM" not in values:
        raise ValueError("no VmRSS/VmHWM in the status text (a kernel thread, or a zombie?)")
    return Memory(rss=values["VmRSS"], peak=values["VmHWM"])


def parse_cpu_ticks(text: str) -> int:
    """``utime + stime`` (clock ticks) of a ``/proc/<pid>/stat`` line.

    The second field, the command in parentheses, may itself hold spaces and parentheses:
    the fields are counted after its last ``)``.
    """
    after = text[text.rindex(")") + 2:].split()
    # after[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(after[11]) + int(after[12])


def memory(pid: int) -> Memory:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        return parse_status(status.read())


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        ticks = parse_cpu_ticks(stat.read())
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Settle:
    """When a series of RSS samples counts as settled."""

    window: float = 5.0
    """Seconds the samples must span without changing."""
    tolerance: int = MIB
    """Largest change (max - min within the window) that still counts as unchanged; a
    fraction ``relative`` of the value counts too, whichever is larger."""
    relative: float = 0.01

    def settled(self, samples: Sequence[tuple[float, int]]) -> int | None:
        """The settled RSS (the window's last sample) once the samples of the last
        ``window`` seconds stay within the tolerance, else None.

        ``samples`` are ``(seconds, rss)`` in time order; the window must be covered,
        i.e. a sample at least ``window`` seconds before the last one exists.
        """
        if not samples:
            return None
        last_at, last = samples[-1]
        inside = [rss for at, rss in samples if at >= last_at - self.window]
        covered = samples[0][0] <= last_at - self.window
        if not covered:
            return None
        allowed = max(self.tolerance, int(self.relative * last))
        return last if max(inside) - min(inside) <= allowed else None
