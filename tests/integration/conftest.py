"""Integration tests run against the real kube-apiserver and Kafka (see docs/SERVICES.md).

The fixtures (``services``, ``api_client``, ``namespace``, ``topic``, ...) come from the
plugin ``harness.fixtures``, loaded for the whole run by ``-p`` in pyproject.toml
(pytest only honours ``pytest_plugins`` in the top-level conftest).
"""
