"""Pytest fixtures for the real single-node Kubernetes v1.37 (kubelet, containerd, runc, CNI).

``real_node`` (session) starts one node with its own Kafka broker per test run, in a private
run dir ``node-pytest-<pid>`` watched by a watchdog, or reuses the live node named by
``ZOMBIEWATCH_NODE_ENV`` (or ``services.py node-up``'s default env file) and leaves it
running; ``ZOMBIEWATCH_NODE_ENV=private`` always starts a node of the run's own.
``node_namespace`` gives each test a fresh namespace, deleted afterwards (the real namespace
controller then removes its Jobs and pods).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from harness.waiting import wait_until_sync
from zwservices import paths, procs
from zwservices.node import lifecycle
from zwservices.node.cli import default_node_dir
from zwservices.node.layout import Layout
from zwservices.procs import ServiceError


@dataclass
class RealNode:
    """Connection details of a running node and its broker."""

    handle: lifecycle.NodeHandle
    owned: bool

    @property
    def kubeconfig(self) -> Path:
        return self.handle.kubeconfig

    @property
    def bootstrap_servers(self) -> str:
        """Kafka for clients on the machine (the daemon under test)."""
        return self.handle.values["KAFKA_BOOTSTRAP"]

    @property
    def kafka_bootstrap_pods(self) -> str:
        """Kafka for clients in pods (``<node IP>:<port>`` through the relay)."""
        return self.handle.kafka_bootstrap_pods

    def api_client(self) -> Any:
        """A new admin ``kubernetes.client.ApiClient``; the caller closes it."""
        new_client: Any = config.new_client_from_config  # untyped in the client package
        return new_client(config_file=str(self.kubeconfig))

    def create_namespace(self, api: Any, prefix: str = "zw-node") -> str:
        """A fresh namespace whose default ServiceAccount exists (pods need it to be admitted)."""
        core: Any = client.CoreV1Api(api)
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
            name=name, labels={"zombiewatch.test/owned": "true"})))

        def has_default_account() -> bool:
            try:
                core.read_namespaced_service_account("default", name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                return False
            return True

        # The ServiceAccount admission rejects pods until the default account exists.
        wait_until_sync(has_default_account, f"the default ServiceAccount of {name}",
                        timeout=60)
        return name

    def stop_kafka(self) -> None:
        """Graceful broker shutdown (data kept); ``start_kafka`` brings it back."""
        lifecycle.stop_kafka(self.handle)

    def start_kafka(self) -> None:
        """The broker on its old ports and data, blocking until it serves."""
        lifecycle.start_kafka(self.handle)

    def close(self) -> None:
        if self.owned and self.handle.env_file.exists():
            lifecycle.stop_node(self.handle)


PRIVATE = "private"  # ZOMBIEWATCH_NODE_ENV=private: always start a node of this run's own


def _reap_stale_runs() -> None:
    """Stop private nodes whose test process died (the watchdog normally does it)."""
    for run_dir in paths.cache_dir().glob("node-pytest-*"):
        match = re.fullmatch(r"node-pytest-(\d+)", run_dir.name)
        if match and not procs.pid_alive(int(match.group(1))):
            with contextlib.suppress(Exception):
                if not lifecycle.stop_env_file(run_dir / "node.env"):
                    lifecycle.wipe(Layout(run_dir), cgroup_name=Layout(run_dir).cgroup_name)


def acquire_node() -> RealNode:
    """Reuse a live node (env var or the CLI's env file) or start a private one."""
    explicit = os.environ.get("ZOMBIEWATCH_NODE_ENV", "")
    if explicit != PRIVATE:
        env_file = Path(explicit) if explicit else default_node_dir() / "node.env"
        alive = lifecycle.status(env_file)
        if alive and all(alive.values()):
            handle = lifecycle.load(env_file)
            if "KAFKA_BOOTSTRAP" not in handle.values:
                raise ServiceError(f"the node of {env_file} has no broker (node-up --no-kafka)")
            return RealNode(handle, owned=False)
        if explicit:
            raise ServiceError(f"ZOMBIEWATCH_NODE_ENV={explicit} names no live node: {alive}")
    _reap_stale_runs()
    run_dir = paths.cache_dir() / f"node-pytest-{os.getpid()}"
    node = RealNode(lifecycle.start_node(run_dir, with_kafka=True, owner=f"pid:{os.getpid()}"),
                    owned=True)
    atexit.register(_close_quietly, node)
    return node


def _close_quietly(node: RealNode) -> None:
    with contextlib.suppress(Exception):
        node.close()


@pytest.fixture(scope="session")
def real_node() -> Iterator[RealNode]:
    """The node, started once per run (or reused); stopped at the end if started here."""
    node = acquire_node()
    try:
        yield node
    finally:
        node.close()


@pytest.fixture
def node_api(real_node: RealNode) -> Iterator[Any]:
    """An admin ApiClient of the node; closed at teardown."""
    api = real_node.api_client()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def node_namespace(real_node: RealNode, node_api: Any) -> Iterator[str]:
    """A fresh namespace on the node, deleted at teardown (not awaited)."""
    name = real_node.create_namespace(node_api)
    try:
        yield name
    finally:
        with contextlib.suppress(ApiException):
            core: Any = client.CoreV1Api(node_api)
            core.delete_namespace(name)
