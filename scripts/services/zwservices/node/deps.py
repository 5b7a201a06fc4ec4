"""Debian packages the node needs, installed only when missing (``/etc/apt`` is never touched)."""

from __future__ import annotations

from collections.abc import Sequence

from scripts.services.zwservices import apt
from scripts.services.zwservices.procs import run

PACKAGES = ("containerd", "runc", "containernetworking-plugins", "busybox-static", "gcc",
            "openssl", "iproute2", "util-linux")


def ensure(names: Sequence[str] = PACKAGES) -> list[str]:
    """Install what dpkg does not list; waits for another apt run's lock instead of failing.

    ``apt-get update`` runs only when something is missing (a fresh machine has no lists).
    """
    todo = apt.missing(names)
    if not todo:
        return []
    env = apt.noninteractive_env()
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    run(["apt-get", *lock, "update", "-qq"], env=env)
    run(["apt-get", *lock, "install", "-y", "-qq", "--no-install-recommends", *todo], env=env)
    return todo
