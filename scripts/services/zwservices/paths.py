"""Where the services' caches and run state live (outside the repository, so CI reuses them)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

KUBE_VERSION = "v1.20.2"
NODE_KUBE_VERSION = "v1.37.2"
DEFAULT_KAFKA_VERSION = "4.1.1"


def cache_dir() -> Path:
    """Root of everything cached; overridable so CI or a test can use a scratch location."""
    override = os.environ.get("ZOMBIEWATCH_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "zombiewatch"


def bin_dir() -> Path:
    """Built binaries survive here between runs; the build sources do not."""
    return cache_dir() / "bin"


def kube_apiserver_bin() -> Path:
    """The cached kube-apiserver; its presence means the cold build is skipped."""
    return bin_dir() / "kube-apiserver"


def node_cache_dir() -> Path:
    """The real node's cache: Go caches, built binaries, images, pause source."""
    return cache_dir() / "node"


def node_bin_dir() -> Path:
    """Kubernetes v1.37 and etcd binaries built from the Go module proxy."""
    return node_cache_dir() / "bin"


def build_dir() -> Path:
    """Scratch space for the kube-apiserver build; emptied after a successful build."""
    return cache_dir() / "build"


def kafka_home(version: str) -> Path:
    """One folder per Kafka version so switching versions never mixes jars."""
    return cache_dir() / f"kafka-{version}"


def kafka_choice_file() -> Path:
    """Records which broker ``prepare`` chose, so ``up`` needs no network."""
    return cache_dir() / "kafka.json"


def default_run_dir() -> Path:
    """The run dir the CLI uses; ``services.env`` in it is what others discover."""
    return cache_dir() / "run"


def default_env_file() -> Path:
    """The env file a test run reuses when it points at live services."""
    override = os.environ.get("ZOMBIEWATCH_SERVICES_ENV")
    return Path(override) if override else default_run_dir() / "services.env"


SHM = Path("/dev/shm")


def etcd_data_dir(run_dir: Path) -> Path:
    """Where etcd keeps its data: on tmpfs when the machine has one.

    etcd fsyncs every write; on a VM disk that caps the API server at a few
    dozen writes per second, which makes a 1,000-pod burst a test of the disk.
    The data is thrown away with the run anyway, so tmpfs costs nothing.
    """
    if SHM.is_dir() and os.access(SHM, os.W_OK):
        digest = hashlib.sha1(str(run_dir.resolve()).encode(), usedforsecurity=False)
        return SHM / f"zombiewatch-etcd-{digest.hexdigest()[:12]}"
    return run_dir / "etcd"


def remove_run_dir(run_dir: Path) -> None:
    """Delete a run dir and etcd's data, wherever that lives."""
    shutil.rmtree(etcd_data_dir(run_dir), ignore_errors=True)
    shutil.rmtree(run_dir, ignore_errors=True)
