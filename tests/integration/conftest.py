"""Integration tests run against the real kube-apiserver and Kafka (see docs/SERVICES.md)."""

pytest_plugins = ["tests.harness.fixtures"]
