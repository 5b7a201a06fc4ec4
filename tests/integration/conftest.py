"""Integration tests run against the real kube-apiserver and Kafka (see docs/SERVICES.md).

The fixtures (``services``, ``api_client``, ``namespace``, ``topic``, ``real_node``, ...)
are the harness's, imported here so that only the integration tests load the code that
starts services: a unit run imports none of it (``tests/unit/test_unit_isolation.py``).
pytest honours ``pytest_plugins`` only in the top-level conftest, which unit runs load too.
The stages several test modules share (``stage``, ``node_scene``) live in ``worlds/``.
"""

from harness.fixtures import (
    api_client,
    bootstrap_servers,
    namespace,
    services,
    topic,
    topic_factory,
)
from harness.node_fixtures import node_api, node_namespace, real_node
from tests.integration.worlds.daemon_stage import stage
from tests.integration.worlds.node_scene import node_scene

__all__ = ["api_client", "bootstrap_servers", "namespace", "node_api", "node_namespace",
           "node_scene", "real_node", "services", "stage", "topic", "topic_factory"]
