"""The ``services`` handle: start the real stack once per run, or reuse a live one.

A stack started here lives in a private run dir (``run-pytest-<pid>``) so parallel test runs
of several developers never share or stop each other's services; a stack started with
``services.py up`` (or named by ``ZOMBIEWATCH_SERVICES_ENV``) is reused and left running.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from zwservices import paths, procs, stack, state
from zwservices.procs import ServiceError

__all__ = ["ServiceError", "Services", "acquire", "private"]


@dataclass
class Services:
    """Connection details plus disruption helpers; each helper blocks until done."""

    kubeconfig: Path
    bootstrap_servers: str
    api_url: str
    token: str
    ca_file: Path
    etcd_endpoint: str
    env_file: Path
    owned: bool
    _stack: state.Stack = field(repr=False)

    @classmethod
    def from_stack(cls, st: state.Stack, *, owned: bool) -> Services:
        """Read the connection details out of a loaded stack."""
        val = st.values
        return cls(kubeconfig=Path(val["KUBECONFIG"]), bootstrap_servers=val["KAFKA_BOOTSTRAP"],
                   api_url=val["KUBE_API_URL"], token=val["KUBE_TOKEN"],
                   ca_file=Path(val["KUBE_CA_FILE"]), etcd_endpoint=val["ETCD_ENDPOINT"],
                   env_file=st.env_file, owned=owned, _stack=st)

    @property
    def values(self) -> dict[str, str]:
        """Everything the env file records, e.g. the secured Kafka's listeners and users."""
        return dict(self._stack.values)

    def restart_apiserver(self) -> None:
        """SIGTERM the API server and start it again (same port/flags); open watches drop."""
        stack.restart(self._stack, "apiserver")

    def kill_apiserver(self) -> None:
        """SIGKILL the API server and wait until it is gone; ``start_apiserver`` brings it back."""
        stack.stop(self._stack, "apiserver", hard=True)

    def stop_apiserver(self) -> None:
        """Graceful stop of the API server."""
        stack.stop(self._stack, "apiserver")

    def start_apiserver(self) -> None:
        """Start the API server on its old port and wait for ``/readyz``."""
        stack.start_ready(self._stack, "apiserver")

    def compact_etcd(self) -> int:
        """Compact etcd to its current revision; returns that revision.

        A running API server keeps serving older resourceVersions from its watch cache;
        410 Gone comes only once it restarts (``compact_etcd_across_restart``).
        """
        return stack.compact_etcd(self._stack)

    def compact_etcd_across_restart(self) -> int:
        """Stop the API server, compact etcd, start it: older resourceVersions get 410 Gone."""
        return stack.compact_etcd_across_restart(self._stack)

    def stop_kafka(self) -> None:
        """Graceful broker shutdown (data dir kept)."""
        stack.stop(self._stack, "kafka")

    def kill_kafka(self) -> None:
        """SIGKILL the broker (data dir kept; the next start recovers its logs)."""
        stack.stop(self._stack, "kafka", hard=True)

    def start_kafka(self) -> None:
        """Start the broker on its old port and data dir and wait until it serves."""
        stack.start_ready(self._stack, "kafka")

    def restart_kafka(self) -> None:
        """Stop and start the broker."""
        stack.restart(self._stack, "kafka")

    def ensure_running(self) -> None:
        """Bring back anything a test left stopped, so later tests see a whole stack."""
        for name in ("etcd", "apiserver", "kafka"):
            if not procs.pid_alive(self._stack.procs[name].pid):
                stack.start_ready(self._stack, name)

    def close(self) -> None:
        """Stop the stack if this run started it (idempotent)."""
        if self.owned and self._stack.run_dir.exists():
            stack.down(self._stack)


def _reap_stale_runs() -> None:
    """Tear down private stacks whose test process died (the watchdog normally does this)."""
    for run_dir in paths.cache_dir().glob("run-pytest-*"):
        match = re.fullmatch(r"run-pytest-(\d+)", run_dir.name)
        if match and not procs.pid_alive(int(match.group(1))):
            with contextlib.suppress(Exception):
                stack.down_env_file(run_dir / "services.env")
            if run_dir.exists() and not (run_dir / "services.env").exists():
                paths.remove_run_dir(run_dir)


def _install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so pytest runs fixture teardown."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, interrupt)


def acquire() -> Services:
    """Reuse live services (env var or default env file) or start a private stack."""
    explicit = os.environ.get("ZOMBIEWATCH_SERVICES_ENV")
    env_file = Path(explicit) if explicit else paths.default_run_dir() / "services.env"
    if stack.is_live(env_file):
        return Services.from_stack(state.load(env_file), owned=False)
    if explicit:
        raise ServiceError(f"ZOMBIEWATCH_SERVICES_ENV={explicit} names no live services")
    return private()


def private() -> Services:
    """A stack of this process's own (never a live one), stopped by ``close()``, at exit, or
    by its watchdog when this process dies: for a run that fills the API server with more
    than a shared stack should keep (the bare API server runs no namespace controller, so
    nothing created in it is ever deleted)."""
    _reap_stale_runs()
    _install_signal_handlers()
    run_dir = paths.cache_dir() / f"run-pytest-{os.getpid()}"
    st = stack.up(run_dir, owner=f"pid:{os.getpid()}")
    stack.start_watchdog(st.env_file)
    services = Services.from_stack(st, owned=True)
    atexit.register(_close_quietly, services)
    return services


def _close_quietly(services: Services) -> None:
    """atexit hook: last-chance teardown if the session fixture never finalized."""
    with contextlib.suppress(Exception):
        services.close()
