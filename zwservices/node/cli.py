"""``services.py node-prepare | node-up | node-down | node-status``: the real node for humans."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from zwservices import paths

from . import lifecycle


def default_node_dir() -> Path:
    """The CLI's node run dir; ``node.env`` in it is what others source."""
    return paths.cache_dir() / "node-run"


def cmd_node_prepare(_: argparse.Namespace) -> None:
    """Install the node's Debian packages, build the v1.37 binaries, build the image tars."""
    started = time.monotonic()
    tars = lifecycle.prepare(build=True)
    print(f"node prepared in {time.monotonic() - started:.1f}s; images {[str(t) for t in tars]}")


def cmd_node_up(args: argparse.Namespace) -> None:
    """Start the node and its Kafka broker (unless --no-kafka); print the env file."""
    env_file = Path(args.node_dir) / "node.env"
    if lifecycle.status(env_file).get("kubelet"):
        print(f"node already running; env file {env_file}")
        return
    started = time.monotonic()
    handle = lifecycle.start_node(Path(args.node_dir), with_kafka=not args.no_kafka)
    print(f"node Ready and schedulable in {time.monotonic() - started:.1f}s "
          f"({handle.values.get('NODE_PHASES', '')}); env file {handle.env_file}")
    print(handle.env_file.read_text(), end="")


def cmd_node_down(args: argparse.Namespace) -> None:
    """Stop the node and wipe its state (nothing left running, mounted or in cgroups)."""
    stopped = lifecycle.stop_env_file(Path(args.node_dir) / "node.env")
    print("node stopped" if stopped else "no node running")


def cmd_node_status(args: argparse.Namespace) -> None:
    """Each process (alive or DEAD) and Ready/schedulable; exit 0 only if all are up."""
    alive = lifecycle.status(Path(args.node_dir) / "node.env")
    if not alive:
        print("no node running")
        sys.exit(1)
    rss = lifecycle.memory(Path(args.node_dir) / "node.env")
    for name, ok in alive.items():
        mib = f"{rss[name]:7.0f} MiB" if name in rss else ""
        print(f"{name:24} {'yes' if ok else 'NO ':3} {mib}")
    node_total = sum(v for k, v in rss.items() if k not in ("kafka", "watchdog"))
    print(f"{'node total (no kafka)':24} {'':3} {node_total:7.0f} MiB")
    sys.exit(0 if all(alive.values()) else 1)


def register(sub: Any) -> None:
    """Add the node subcommands to ``services.py``'s subparsers."""
    for name, func in (("node-prepare", cmd_node_prepare), ("node-up", cmd_node_up),
                       ("node-down", cmd_node_down), ("node-status", cmd_node_status)):
        cmd = sub.add_parser(name, help=func.__doc__)
        cmd.add_argument("--node-dir", default=str(default_node_dir()))
        if name == "node-up":
            cmd.add_argument("--no-kafka", action="store_true",
                             help="start no broker (KAFKA_BOOTSTRAP_PODS then unset)")
        cmd.set_defaults(func=func)
