"""``services.py`` subcommands: prepare, up, down, status, plus restart helpers for humans."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import apt, build_node, daemon_image, fetch_kafka, paths, stack, state
from .node import cli as node_cli
from .procs import ServiceError


def cmd_prepare(_: argparse.Namespace) -> None:
    """Install packages, fetch Kafka, build Kubernetes and etcd: each step skipped if done."""
    started = time.monotonic()
    installed = apt.ensure()
    print(f"apt: installed {' '.join(installed)}" if installed else "apt: all packages present")
    choice = fetch_kafka.ensure()  # before the long build, so a fallback warning shows early
    print(f"kafka: {choice.flavor} {choice.version} at {choice.libs}")
    log = paths.node_cache_dir() / "build.log"
    built = time.monotonic()
    if build_node.ensure(log):
        print(f"Kubernetes {paths.NODE_KUBE_VERSION} and etcd {build_node.ETCD_VERSION} built "
              f"in {time.monotonic() - built:.0f}s (log {log})")
    else:
        print(f"Kubernetes {paths.NODE_KUBE_VERSION} and etcd cached in {paths.node_bin_dir()}")
    print(f"prepare done in {time.monotonic() - started:.1f}s")


def cmd_up(args: argparse.Namespace) -> None:
    """Start the stack and print the env file to source."""
    started = time.monotonic()
    env_file = Path(args.run_dir) / "services.env"
    if stack.is_live(env_file):
        print(f"services already running; env file {env_file}")
        return
    st = stack.up(Path(args.run_dir))
    print(f"services up in {time.monotonic() - started:.1f}s; env file {st.env_file}")
    print(st.env_file.read_text(), end="")


def cmd_down(args: argparse.Namespace) -> None:
    """Stop what ``up`` started; a no-op when nothing runs."""
    env_file = Path(args.run_dir) / "services.env"
    print("services stopped" if stack.down_env_file(env_file) else "nothing running")


def cmd_status(args: argparse.Namespace) -> None:
    """Exit 0 only when every service is alive."""
    env_file = Path(args.run_dir) / "services.env"
    alive = stack.status(env_file)
    if not alive:
        print("no services running")
        sys.exit(1)
    values = state.parse_env_file(env_file)
    for name, ok in alive.items():
        print(f"{name:10} {'running' if ok else 'DEAD'} pid={values.get(name.upper() + '_PID')}")
    print(f"KUBECONFIG={values['KUBECONFIG']}\nKAFKA_BOOTSTRAP={values['KAFKA_BOOTSTRAP']}")
    sys.exit(0 if all(alive.values()) else 1)


def _on_stack(action: Callable[[state.Stack], object]) -> Callable[[argparse.Namespace], None]:
    """Wrap a helper so it runs against the stack in ``--run-dir``."""
    def run(args: argparse.Namespace) -> None:
        result = action(state.load(Path(args.run_dir) / "services.env"))
        print(result if result is not None else "ok")
    return run


HELPERS: dict[str, Callable[[state.Stack], object]] = {
    "restart-apiserver": lambda s: stack.restart(s, "apiserver"),
    "kill-apiserver": lambda s: stack.stop(s, "apiserver", hard=True),
    "start-apiserver": lambda s: stack.start_ready(s, "apiserver"),
    "stop-kafka": lambda s: stack.stop(s, "kafka"),
    "kill-kafka": lambda s: stack.stop(s, "kafka", hard=True),
    "start-kafka": lambda s: stack.start_ready(s, "kafka"),
    "compact-etcd": stack.compact_etcd,
    "compact-etcd-across-restart": stack.compact_etcd_across_restart,
}


def parser() -> argparse.ArgumentParser:
    """One subcommand per action; all share ``--run-dir``."""
    root = argparse.ArgumentParser(prog="services.py", description=__doc__)
    root.add_argument("--run-dir", default=str(paths.default_run_dir()))
    sub = root.add_subparsers(dest="command", required=True)
    for name, func in (("prepare", cmd_prepare), ("up", cmd_up), ("down", cmd_down),
                       ("status", cmd_status)):
        sub.add_parser(name, help=func.__doc__).set_defaults(func=func)
    node_cli.register(sub)
    for name, action in HELPERS.items():
        sub.add_parser(name, help=f"{name} (same flags/port)").set_defaults(func=_on_stack(action))
    daemon_image.register(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    """Entry point; a ServiceError prints its reason (with log tail) and exits 1."""
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
