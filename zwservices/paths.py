"""Where the services' caches and run state live (outside the repository, so CI reuses them)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

NODE_KUBE_VERSION = "v1.37.2"
DEFAULT_KAFKA_VERSION = "4.1.1"


def cache_dir() -> Path:
    """Root of everything cached; overridable so CI or a test can use a scratch location."""
    override = os.environ.get("ZOMBIEWATCH_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "zombiewatch"


def node_cache_dir() -> Path:
    """The real node's cache: Go caches, built binaries, images, pause source."""
    return cache_dir() / "node"


def node_bin_dir() -> Path:
    """Kubernetes v1.37 and etcd binaries built from the Go module proxy."""
    return node_cache_dir() / "bin"


def node_binary(name: str) -> Path:
    """One cached binary (kube-apiserver, etcd, ...); ``build_node.ensure`` provides them."""
    return node_bin_dir() / name


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
SHM_ETCD = SHM / "zombiewatch-etcd"


def etcd_data_dir(run_dir: Path) -> Path:
    """Where etcd keeps its data: on tmpfs when the machine has one.

    etcd fsyncs every write; on a VM disk that caps the API server at a few
    dozen writes per second, which makes a 1,000-pod burst a test of the disk.
    The data is thrown away with the run anyway, so tmpfs costs nothing.
    The tmpfs path repeats the run dir's path: etcd's argv must name the run dir,
    which is how a stop tells our etcd from a reused PID (``Stack.marker``).
    """
    if SHM.is_dir() and os.access(SHM, os.W_OK):
        return SHM_ETCD / str(run_dir.absolute()).lstrip("/")
    return run_dir / "etcd"


def remove_run_dir(run_dir: Path) -> None:
    """Delete a run dir and etcd's data, wherever that lives (and tmpfs dirs left empty)."""
    data = etcd_data_dir(run_dir)
    shutil.rmtree(data, ignore_errors=True)
    if data.is_relative_to(SHM_ETCD):
        for parent in data.parents:
            if parent == SHM_ETCD.parent:
                break
            with contextlib.suppress(OSError):
                parent.rmdir()  # only while empty: another run's data stays
    shutil.rmtree(run_dir, ignore_errors=True)
