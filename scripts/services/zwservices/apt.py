"""Debian packages the services need, installed only when missing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from .procs import run

PACKAGES = (
    "golang-go", "etcd-server", "dpkg-dev", "golang-github-modern-go-reflect2-dev",
    "golang-github-json-iterator-go-dev", "openssl", "maven", "make", "rsync",
)


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
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *todo], env=env)
    return todo
