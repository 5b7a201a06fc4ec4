"""Importing the CLI, and the daemon's start path up to its first request, loads only what runs
(docs/PERFORMANCE.md, "Fixed cost").

Each check runs in a fresh interpreter and lists which of the watched modules it holds
afterwards, so it does not depend on what the test process imported before.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

NEVER_IN_THE_DAEMON = (
    "kubernetes.client.api.core_v1_api", "kubernetes.client.api.batch_v1_api",
    "kubernetes.client.api.custom_objects_api", "kubernetes.client.models.v1_pod",
    "kubernetes.dynamic", "kubernetes.watch", "kubernetes.stream", "kubernetes.leaderelection",
    "kubernetes.informer", "kubernetes.utils.create_from_yaml",
)
"""The library's generated API classes, its models and the parts the adapters never use."""

NOT_FOR_THE_CLI = (
    "aiokafka", "dependency_injector", "prometheus_client", "kubernetes.client.api_client",
    "pydantic", "kubernetes.config.kube_config",
)
"""What ``explain``, ``--help`` and parsing the settings need none of: the Kafka client, the
container, the metrics, the Kubernetes API client and the kubeconfig loader."""

PROBE = """
import json, sys
{statement}
watched = {watched!r}
models = [m for m in sys.modules if m.startswith('kubernetes.client.models.')]
print(json.dumps({{"loaded": [m for m in watched if m in sys.modules], "models": len(models)}}))
"""


def _loaded_after(statement: str, watched: tuple[str, ...],
                  env: dict[str, str] | None = None) -> dict[str, object]:
    probe = PROBE.format(statement=statement, watched=watched)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120, env=env)
    answer: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return answer


def test_importing_the_cli_loads_neither_clients_nor_container_nor_models() -> None:
    answer = _loaded_after("import zombiewatch.app.cli",
                           NOT_FOR_THE_CLI + NEVER_IN_THE_DAEMON)

    assert answer == {"loaded": [], "models": 0}


def test_scan_loads_the_kafka_client_only_to_read_the_feed() -> None:
    without_brokers = (
        "from zombiewatch.app import scan\n"
        "from zombiewatch.app.settings import KafkaOptions\n"
        "assert scan.feed_source(KafkaOptions(brokers=''), 'agents') is None\n"
    )
    with_brokers = without_brokers + (
        "assert scan.feed_source(KafkaOptions(brokers='127.0.0.1:1'), 'agents') is not None\n"
    )
    watched = ("aiokafka", "prometheus_client", "dependency_injector")

    assert _loaded_after(without_brokers, watched) == {"loaded": [], "models": 0}
    assert _loaded_after(with_brokers, watched)["loaded"] == ["aiokafka", "prometheus_client"]


def test_the_daemons_start_path_loads_the_api_client_but_no_api_class_or_model(
    tmp_path: Path,
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump({
        "current-context": "c", "contexts": [{"name": "c", "context": {
            "cluster": "c", "user": "u", "namespace": "agents"}}],
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    start = (
        "from zombiewatch.app.cli import main\n"
        "from zombiewatch.app.daemon import build_container, run_daemon\n"
        "from zombiewatch.adapters.kubernetes.client import api_client_factory\n"
        "from zombiewatch.adapters.kubernetes.resources import job_calls, pod_calls\n"
        f"client = api_client_factory({str(config)!r})()\n"
        "pod_calls(client, 'agents'); job_calls(client, 'agents')\n"
    )

    answer = _loaded_after(start, ("kubernetes.client.api_client", "aiokafka",
                                   *NEVER_IN_THE_DAEMON))

    assert answer == {"loaded": ["kubernetes.client.api_client", "aiokafka"], "models": 0}


def test_the_kubeconfig_loader_and_its_http_stack_load_only_for_a_user_entry_needing_them(
    tmp_path: Path,
) -> None:
    def config_with(user: Mapping[str, object]) -> Path:
        path = tmp_path / f"kubeconfig-{len(list(tmp_path.iterdir()))}"
        path.write_text(yaml.safe_dump({
            "current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "c",
                                                                          "user": "u"}}],
            "clusters": [{"name": "c", "cluster": {
                "server": "https://127.0.0.1:1",
                "certificate-authority-data": base64.b64encode(b"ca").decode()}}],
            "users": [{"name": "u", "user": user}]}))
        return path

    in_cluster = (  # no service-account files here: the in-cluster attempt fails
        "from zombiewatch.adapters.kubernetes.credentials import CredentialsError, "
        "load_credentials\n"
        "try:\n    load_credentials(None)\nexcept CredentialsError as exc:\n"
        "    assert 'in-cluster (' in str(exc), exc\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "10.0.0.1",
           "KUBERNETES_SERVICE_PORT": "443"}
    env.pop("KUBECONFIG", None)
    loader = ("kubernetes.config.kube_config", "oauthlib", "requests", "charset_normalizer")
    watched = (*loader, "kubernetes.config.incluster_config")
    token_file = tmp_path / "token"
    token_file.write_text("t")
    data = base64.b64encode(b"pem").decode()

    def loaded_for(user: Mapping[str, object]) -> object:
        from_file = ("from zombiewatch.adapters.kubernetes.credentials import load_credentials\n"
                     f"load_credentials({str(config_with(user))!r})\n")
        return _loaded_after(from_file, watched, env)["loaded"]

    assert _loaded_after(in_cluster, watched, env)["loaded"] == [
        "kubernetes.config.incluster_config"]
    for user in ({"token": "t"}, {"tokenFile": str(token_file)},
                 {"client-certificate-data": data, "client-key-data": data},
                 {"username": "u", "password": "p"}, {}):
        assert loaded_for(user) == ["kubernetes.config.incluster_config"], user
    # An auth-provider the library ignores: its loader decides, so it is loaded.
    assert loaded_for({"auth-provider": {"name": "other"}, "token": "t"}) == list(watched)


def test_the_whole_library_is_still_there_for_whoever_imports_it_after_the_adapters() -> None:
    after = (
        "import zombiewatch.adapters.kubernetes.client\n"
        "from zombiewatch.adapters.kubernetes.lazy import is_deferred\n"
        "assert is_deferred(sys.modules['kubernetes'])\n"
        "from kubernetes import client, watch\n"
        "import kubernetes\n"
        "assert not is_deferred(kubernetes)\n"
        "assert client.CoreV1Api.__name__ == 'CoreV1Api' and watch.Watch.__name__ == 'Watch'\n"
        "assert kubernetes.utils.create_from_yaml.__name__ == 'create_from_yaml'\n"
    )

    answer = _loaded_after(after, ("kubernetes.watch", "kubernetes.dynamic"))

    assert answer["loaded"] == ["kubernetes.watch", "kubernetes.dynamic"]
