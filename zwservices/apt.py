"""Debian packages the services need, installed only when missing."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence

from .procs import ServiceError, run

# Go itself is the machine's (the build needs a newer one than Debian ships); Kubernetes
# and etcd are built from the Go module proxy by ``build_node``.
PACKAGES = ("openssl", "maven", "make")

# Several processes may call apt at once: wait for dpkg's lock rather than fail. That option
# covers dpkg's lock only, so ``update`` (the lists lock) is retried for as long.
LOCK_TIMEOUT_S = 600
LOCK_WAIT = ("-o", f"DPkg::Lock::Timeout={LOCK_TIMEOUT_S}")


def installed(name: str) -> bool:
    """Asks dpkg, which is authoritative and needs no network."""
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], check=False,
                            capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip().endswith("installed")


def missing(names: Sequence[str] = PACKAGES) -> list[str]:
    """The packages still to install; empty on a prepared machine, so no apt call at all."""
    return [name for name in names if not installed(name)]


def noninteractive_env() -> dict[str, str]:
    """apt must never prompt: CI has no stdin."""
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def ensure(names: Sequence[str] = PACKAGES) -> list[str]:
    """Install what is missing (``apt-get update`` first, as a fresh machine has no lists)."""
    todo = missing(names)
    if not todo:
        return []
    env = noninteractive_env()
    _update(env)
    run(["apt-get", *LOCK_WAIT, "install", "-y", "-qq", "--no-install-recommends", *todo],
        env=env)
    return todo


def _update(env: dict[str, str]) -> None:
    """``apt-get update``, retried while another apt holds the lists lock."""
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        try:
            run(["apt-get", *LOCK_WAIT, "update", "-qq"], env=env)
            return
        except ServiceError as exc:
            if "Could not get lock" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(5)
