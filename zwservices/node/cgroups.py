"""The kubelet's cgroup root (one per node run) on every mounted hierarchy.

The kubelet puts ``kubepods`` under ``cgroupRoot`` and refuses a root that does not exist, so
it is created here before the kubelet starts and, at the end, emptied (its processes are the
node's pods: SIGKILLed by PID) and removed bottom-up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from .layout import CGROUP_ROOT


def hierarchies(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Mounted cgroup (v1 and v2) hierarchies under /sys/fs/cgroup."""
    found = []
    for line in mountinfo.read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype = right.split()[0] if right else ""
        point = Path(left.split()[4])
        if fstype in ("cgroup", "cgroup2") and (point == CGROUP_ROOT
                                                or CGROUP_ROOT in point.parents):
            found.append(point)
    return found


def create(name: str) -> None:
    """``mkdir`` the root in each hierarchy; cpuset needs its cpus/mems before any task joins."""
    for hierarchy in hierarchies():
        path = hierarchy / name
        path.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (path / knob).exists() and not (path / knob).read_text().strip():
                (path / knob).write_text((hierarchy / knob).read_text())


def _tree(root: Path) -> list[Path]:
    """Every cgroup directory under ``root`` (inclusive), deepest first."""
    dirs = [Path(d) for d, _, _ in os.walk(root)]
    return sorted(dirs, key=lambda p: len(p.parts), reverse=True)


def pids(name: str) -> set[int]:
    """Processes anywhere in the node's cgroup tree."""
    found: set[int] = set()
    for hierarchy in hierarchies():
        for cgroup in _tree(hierarchy / name) if (hierarchy / name).is_dir() else []:
            with contextlib.suppress(OSError):
                found |= {int(p) for p in (cgroup / "cgroup.procs").read_text().split()}
    return found


def kill_all(name: str, timeout: float = 15.0) -> None:
    """SIGKILL every process in the tree until none is left (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while (left := pids(name)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def remove(name: str) -> list[str]:
    """Remove the tree bottom-up in every hierarchy; returns what could not be removed."""
    kill_all(name)
    errors = []
    for hierarchy in hierarchies():
        root = hierarchy / name
        if not root.is_dir():
            continue
        for cgroup in _tree(root):
            for attempt in range(50):
                try:
                    cgroup.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:  # EBUSY while a killed task is still exiting
                    if attempt == 49:
                        errors.append(f"rmdir {cgroup}: {exc}")
                    time.sleep(0.1)
    return errors


def leftovers(name: str | None = None) -> list[Path]:
    """``kubepods`` at the top of any hierarchy, or anything of the named root."""
    found = [h / "kubepods" for h in hierarchies() if (h / "kubepods").exists()]
    if name:
        found += [h / name for h in hierarchies() if (h / name).exists()]
    return found
