"""The ``rig`` fixture of the fault scenarios."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.services import Services
from tests.integration.daemons import daemon_settings
from tests.integration.faults.rig import Rig
from tests.integration.support import apply_config_crd, reading, request_topic_for


@pytest.fixture
async def rig(services: Services, api_client: Any, namespace: str, bootstrap_servers: str,
              tmp_path: Path) -> AsyncIterator[Rig]:
    apply_config_crd(api_client)
    prefix = f"fault-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(bootstrap_servers, prefix)
    settings = daemon_settings(kubeconfig=services.kubeconfig, namespace=namespace,
                               bootstrap=bootstrap_servers, topic_prefix=prefix)
    try:
        async with reading(bootstrap_servers, topic) as reader:
            yield Rig(services, api_client, namespace, reader, settings, tmp_path)
    finally:  # a failed scenario must not leave a service down for the next one
        services.ensure_running()
