"""The real stack's pytest fixtures and the topic helpers the tests share.

Fixtures: ``services`` (session), ``bootstrap_servers`` (session), ``api_client``,
``namespace``, ``topic`` and ``topic_factory`` (function scope); the real node's are in
``node_fixtures``. ``tests/integration/conftest.py`` imports both sets, so only integration
runs load the service-starting code (a unit run imports none of the harness); a run
outside ``tests/`` loads them with ``-p harness.fixtures -p harness.node_fixtures``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from harness.services import Services, acquire

T = TypeVar("T")
TopicFactory = Callable[..., str]


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """The real stack, started once per run (or reused); errors with the log tail."""
    handle = acquire()
    try:
        yield handle
    finally:
        if handle.owned:
            handle.close()
        else:  # a shared stack: bring back whatever a test stopped
            with contextlib.suppress(Exception):
                handle.ensure_running()


@pytest.fixture(scope="session")
def bootstrap_servers(services: Services) -> str:
    """``host:port`` of the Kafka broker."""
    return services.bootstrap_servers


@pytest.fixture
def api_client(services: Services) -> Iterator[Any]:
    """A ``kubernetes.client.ApiClient`` for the admin user; closed at teardown."""
    new_client: Any = config.new_client_from_config  # untyped in the client package
    api = new_client(config_file=str(services.kubeconfig))
    try:
        yield api
    finally:
        api.close()


def unique_name(prefix: str) -> str:
    """DNS-1123-safe unique names: namespaces stay Terminating (no namespace controller)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def namespace(api_client: Any) -> Iterator[str]:
    """A fresh namespace; deletion is issued at teardown but not awaited."""
    core = client.CoreV1Api(api_client)
    name = unique_name("zw-test")
    body = client.V1Namespace.model_validate(
        {"metadata": {"name": name, "labels": {"zombiewatch.test/owned": "true"}}})
    core.create_namespace(body)
    try:
        yield name
    finally:
        with contextlib.suppress(ApiException):
            core.delete_namespace(name)


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a private loop in a thread: safe inside or outside a running loop."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(factory())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="zw-harness-admin")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


async def _with_admin(bootstrap: str, action: Callable[[Any], Awaitable[None]]) -> None:
    """Open an admin client, run ``action``, always close."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        await action(admin)
    finally:
        await admin.close()


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create topics with replication factor 1 (single broker)."""
    async def action(admin: Any) -> None:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    run_async(lambda: _with_admin(bootstrap, action))


def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Delete topics; failures are ignored (the broker may be stopped by the test)."""
    async def action(admin: Any) -> None:
        await admin.delete_topics(names)
    with contextlib.suppress(Exception):
        run_async(lambda: _with_admin(bootstrap, action))


@pytest.fixture
def topic_factory(services: Services) -> Iterator[TopicFactory]:
    """``make(partitions=1, prefix="zw-topic") -> name``; all made topics deleted at teardown."""
    made: list[str] = []

    def make(partitions: int = 1, prefix: str = "zw-topic") -> str:
        name = unique_name(prefix)
        create_topics(services.bootstrap_servers, [name], partitions)
        made.append(name)
        return name

    try:
        yield make
    finally:
        if made:
            services.ensure_running()
            delete_topics(services.bootstrap_servers, made)


@pytest.fixture
def topic(topic_factory: TopicFactory) -> str:
    """A fresh single-partition topic."""
    return topic_factory(1)
