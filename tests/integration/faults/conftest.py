"""The ``rig`` fixture of the fault scenarios, once per isolation level of the controller.

Each scenario runs twice: with the harness controller reading the request topic
``read_uncommitted`` (the real controller) and zombiewatch's ledger set to match,
and with both ``read_committed``. The topic is read back at the same isolation,
and every scenario ends with the controller's vault.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from harness.controller import KafkaController
from harness.daemons import daemon_settings
from harness.fixtures import create_topics, delete_topics
from harness.services import Services
from harness.support import apply_config_crd, reading, request_topic_for
from harness.vault import ReferenceVault
from tests.integration.faults.rig import Rig
from zombiewatch.domain.ledger import ConsumerIsolation


@pytest.fixture(params=list(ConsumerIsolation), ids=lambda i: i.value)
async def rig(request: pytest.FixtureRequest, services: Services, api_client: Any,  # noqa: PLR0917
              namespace: str, bootstrap_servers: str, tmp_path: Path) -> AsyncIterator[Rig]:
    isolation: ConsumerIsolation = request.param
    apply_config_crd(api_client)
    prefix = f"fault-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(bootstrap_servers, prefix)
    events, results = f"{prefix}-agent-task-v1-event", f"{prefix}-agent-task-v1-result"
    create_topics(bootstrap_servers, [events, results], 1)
    settings = daemon_settings(kubeconfig=services.kubeconfig, namespace=namespace,
                               bootstrap=bootstrap_servers, topic_prefix=prefix,
                               consumer_isolation=isolation)
    vault = ReferenceVault(tmp_path / "vault")
    controller = KafkaController(bootstrap=bootstrap_servers, request_topic=topic,
                                 event_topic=events, result_topic=results, vault=vault,
                                 poll_interval=10.0,
                                 isolation=isolation.value)
    try:
        await controller.start()
        async with reading(bootstrap_servers, topic, isolation_level=isolation.value) as reader:
            yield Rig(services, api_client, namespace, reader, settings, tmp_path,
                      controller=controller, vault=vault, isolation=isolation)
    finally:  # a failed scenario must not leave a service down for the next one
        services.ensure_running()
        await controller.close()
        delete_topics(bootstrap_servers, [events, results])
