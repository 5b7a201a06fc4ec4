"""The scene of the real-node tests (``test_node_scenarios``, ``test_node_reaping``): one
namespace on the node, a request topic read back and the daemon's settings. The fixture
reaches the tests through ``tests/integration/conftest.py``."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import workloads
from harness.daemons import daemon_settings
from harness.node_fixtures import RealNode
from harness.support import CommittedReader, apply_config_crd, reading, request_topic_for
from zombiewatch.app.settings import Settings
from zwservices import paths

CORPUS = Path(__file__).resolve().parents[2] / "data" / "node_corpus"
GRACE = 5.0  # the daemon's grace window, shortened from 120 s by its setting
WAIT = 120.0  # a loaded 2-core machine starts pods slowly


@dataclass
class NodeScene:
    """One namespace on the node, a topic, a reader and the daemon's settings."""

    node: RealNode
    api: Any
    namespace: str
    reader: CommittedReader
    settings: Settings

    def job(self, prefix: str, **options: Any) -> str:
        """Create an agent Job (labelled with a fresh task id); return its name."""
        name = workloads.unique(prefix)
        manifest = workloads.job_manifest(name, task_id=str(uuid.uuid4()), **options)
        workloads.create_job(self.api, self.namespace, manifest)
        return name

    def record(self, scenario: str) -> None:
        """What the cluster wrote, as ``kubectl`` shows it (only when asked to record)."""
        if os.environ.get("ZOMBIEWATCH_RECORD_CORPUS") != "1":
            return
        kubectl = paths.node_bin_dir() / "kubectl"
        out = subprocess.run(
            [str(kubectl), f"--kubeconfig={self.node.kubeconfig}", "-n", self.namespace,
             "get", "jobs,pods", "-o", "json"], check=True, capture_output=True, text=True)
        CORPUS.mkdir(parents=True, exist_ok=True)
        document = json.loads(out.stdout)
        (CORPUS / f"{scenario}.json").write_text(json.dumps(document, indent=1) + "\n")


@pytest.fixture
async def node_scene(real_node: RealNode, node_api: Any,
                     node_namespace: str) -> AsyncIterator[NodeScene]:
    apply_config_crd(node_api)
    prefix = f"node-{uuid.uuid4().hex[:8]}"
    bootstrap = real_node.bootstrap_servers
    topic = request_topic_for(bootstrap, prefix)
    settings = daemon_settings(kubeconfig=real_node.kubeconfig, namespace=node_namespace,
                               bootstrap=bootstrap, topic_prefix=prefix, grace_seconds=GRACE)
    async with reading(bootstrap, topic) as reader:
        yield NodeScene(real_node, node_api, node_namespace, reader, settings)
