"""A Kafka broker for a node: the harness's single-node KRaft broker plus a listener for pods.

The broker stays on loopback. Its extra listener ``PODS`` binds ``127.0.0.1:<pods port>`` on
the machine and advertises ``<node IP>:<pods port>``; the node's relay listens on exactly that
address inside the node's namespace and forwards to the loopback listener. So a pod (which
reaches the node IP over its bridge) gets metadata naming an address it can reach, host
clients use the ordinary ``PLAINTEXT`` listener, and no traffic leaves loopback and the
namespaces the run made.
"""

from __future__ import annotations

import re
from pathlib import Path

from zwservices import fetch_kafka, kafka
from zwservices.procs import ServiceError
from zwservices.state import Proc

from .layout import NODE_IP


def add_pods_listener(props: str, pods_port: int) -> str:
    """Rewrite ``listeners``/``advertised.listeners``/the protocol map for the PODS listener."""
    def extend(key: str, value: str, text: str) -> str:
        pattern = re.compile(rf"^{re.escape(key)}=(.*)$", re.M)
        if not pattern.search(text):
            raise ServiceError(f"broker config lacks {key}")
        return pattern.sub(lambda m: f"{key}={m.group(1)},{value}", text, count=1)

    props = extend("listeners", f"PODS://127.0.0.1:{pods_port}", props)
    props = extend("advertised.listeners", f"PODS://{NODE_IP}:{pods_port}", props)
    return extend("listener.security.protocol.map", "PODS:PLAINTEXT", props)


def prepare(run_dir: Path, port: int, controller_port: int, pods_port: int) -> Proc:
    """Format and configure an Apache Kafka broker in ``<run>/kafka`` (needs ``prepare``)."""
    choice = fetch_kafka.load_choice()
    if choice is None or choice.flavor != "apache":
        raise ServiceError("the node's broker needs Apache Kafka: run `services.py prepare`")
    proc = kafka.prepare_apache(choice, run_dir, port, controller_port)
    props = run_dir / "kafka" / "server.properties"
    props.write_text(add_pods_listener(props.read_text(), pods_port))
    return proc


def ready(port: int, log: Path, offset: int = 0) -> bool:
    """The listener answers ApiVersions and the broker logged that it finished starting."""
    return kafka.api_versions_ok(port) and kafka.started_since(log, offset)
