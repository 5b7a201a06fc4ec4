"""The node the demo and the node benchmarks run on: reuse a live one, else start one.

One node at a time fits this machine: the live node of ``services.py node-up`` (or the
one ``ZOMBIEWATCH_NODE_ENV`` names) is reused and left running; a node of another run
that is still up (a test session's private node) is never doubled: the caller is told to
wait. Otherwise the node is prepared (packages, the cached Kubernetes build, images) and
started privately, tied to this process by the harness's watchdog, and stopped at the end.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.node_fixtures import PRIVATE, RealNode, acquire_node
from zwservices import paths
from zwservices.node import lifecycle
from zwservices.node.cli import default_node_dir
from zwservices.procs import ServiceError


def other_kubelets() -> list[tuple[int, str]]:
    """(pid, run dir) of every kubelet of a zombiewatch node on this machine."""
    marker = str(paths.cache_dir() / "node-")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv[0].endswith(b"kubelet"):
            continue
        for arg in argv:
            text = arg.decode(errors="replace")
            if text.startswith("--config=") and marker in text:
                run_dir = Path(text.removeprefix("--config=")).parent.parent
                found.append((int(entry.name), str(run_dir)))
    return found


def node_for_demo() -> RealNode:
    """A live node to reuse, or a private one started here (prepared first if need be)."""
    env_file = default_node_dir() / "node.env"
    alive = lifecycle.status(env_file)
    explicit = os.environ.get("ZOMBIEWATCH_NODE_ENV", "")
    if (explicit and explicit != PRIVATE) or (alive and all(alive.values())):
        node = acquire_node()
        print(f"reusing the live node of {node.handle.run_dir} (left running)", flush=True)
        return node
    if others := other_kubelets():
        raise ServiceError(
            f"another zombiewatch node is running ({others}); one node at a time fits this "
            "machine: wait for it to stop, or set ZOMBIEWATCH_NODE_ENV=<its node.env>")
    print("preparing the node (the first run builds Kubernetes v1.37: ~22 min) ...",
          flush=True)
    lifecycle.prepare(build=True)
    print("starting a single-node Kubernetes and its Kafka broker ...", flush=True)
    node = acquire_node()
    print(f"node Ready in {node.handle.values.get('NODE_START_SECONDS', '?')} s "
          f"({node.handle.run_dir})", flush=True)
    return node
