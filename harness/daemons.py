"""Start zombiewatch daemons in-process (Runtime) or as ``zombiewatch run`` subprocesses."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from harness.waiting import wait_until
from zombiewatch.app.daemon import build_container
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings
from zombiewatch.domain.ledger import ConsumerIsolation


def daemon_settings(
    *, kubeconfig: Path, namespace: str, bootstrap: str, topic_prefix: str,
    leader: bool = False, grace_seconds: float = 2.0, publish_timeout: float = 3.0,
    consumer_isolation: ConsumerIsolation = ConsumerIsolation.READ_UNCOMMITTED,
    storm_guard: bool = False,
) -> Settings:
    """Settings for a test daemon: loopback only, any free port, short timeouts; no storm
    guard unless asked (a zombie is published as soon as it is judged: the tests of the
    publish path expect that; the storm scenarios turn it on with their own settings)."""
    return Settings(
        namespace=namespace, kubeconfig=kubeconfig,
        kafka=KafkaOptions(brokers=bootstrap, topic_prefix=topic_prefix,
                           publish_timeout_seconds=publish_timeout,
                           consumer_isolation=consumer_isolation),
        leader=LeaderOptions(enabled=leader, identity="test", lease_duration_seconds=4.0,
                             renew_deadline_seconds=3.0, retry_period_seconds=0.5),
        listen_host="127.0.0.1", listen_port=0, grace_seconds=grace_seconds,
        log_level="DEBUG", storm_guard=storm_guard,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    """An in-process daemon, started and synced; stopped on exit."""
    runtime = Runtime(build_container(settings))
    await runtime.start()
    try:
        await wait_until(runtime.cache.synced, what="informers synced")
        yield runtime
    finally:
        await runtime.stop()


class DaemonProcess:
    """``zombiewatch run`` as a child process, its log in a file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path, *,
                 python_flags: Sequence[str] = ()) -> None:
        """``python_flags`` go to the interpreter (e.g. ``-X importtime``; stderr is logged)."""
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, *python_flags, "-m", "zombiewatch.app.cli", "run", *args],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def until(self, condition: Callable[[], bool | Awaitable[bool]], what: str, *,
                    timeout: float = 60.0) -> float:
        """``wait_until`` while this daemon lives: it fails at once if the daemon died, and
        either failure shows the end of the daemon's log; seconds waited."""
        def still_alive() -> None:
            assert self.alive, f"daemon died waiting for {what}:\n{self.log_text()[-3000:]}"

        return await wait_until(condition, what, timeout=timeout, interval=0.2,
                                between=still_alive, detail=lambda: self.log_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (the crash case)."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 15.0) -> float:
        """SIGTERM and wait; returns how long the exit took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return time.monotonic() - started

    def close(self) -> None:
        if self.alive:
            self.kill()
        self._log.close()


def cli_args(settings: Settings, *, port: int) -> list[str]:
    """Flags for ``zombiewatch run`` equivalent to ``settings``."""
    args = [
        "--kubeconfig", str(settings.kubeconfig), "--namespace", settings.namespace,
        "--kafka-brokers", settings.kafka.brokers,
        "--topic-prefix", settings.kafka.topic_prefix or "",
        "--publish-timeout", str(settings.kafka.publish_timeout_seconds),
        "--listen", f"127.0.0.1:{port}", "--grace-seconds", str(settings.grace_seconds),
        "--log-level", "DEBUG",
        "--lease-duration", str(settings.leader.lease_duration_seconds),
        "--renew-deadline", str(settings.leader.renew_deadline_seconds),
        "--retry-period", str(settings.leader.retry_period_seconds),
        "--consumer-isolation", settings.kafka.consumer_isolation.value,
        "--consumer-expiry", str(settings.consumer_expiry_seconds),
        "--liveness-window", str(settings.liveness_window_seconds),
    ]
    args.append("--task-events" if settings.kafka.task_events else "--no-task-events")
    args.append("--leader-election" if settings.leader.enabled else "--no-leader-election")
    if settings.shadow:
        args.append("--shadow")
    args.append("--storm-guard" if settings.storm_guard else "--no-storm-guard")
    args += ["--storm-threshold", str(settings.storm_threshold),
             "--storm-gather-seconds", str(settings.storm_gather_seconds),
             "--storm-window-seconds", str(settings.storm_window_seconds),
             "--storm-hold-seconds", str(settings.storm_hold_seconds)]
    kafka = settings.kafka
    args += ["--kafka-security-protocol", kafka.security_protocol.value]
    for flag, value in (("--kafka-ca-file", kafka.ca_file), ("--kafka-cert-file", kafka.cert_file),
                        ("--kafka-key-file", kafka.key_file),
                        ("--kafka-sasl-mechanism", kafka.sasl_mechanism),
                        ("--kafka-sasl-username", kafka.sasl_username),
                        ("--confirm-window", settings.confirm_window_seconds),
                        ("--vault", settings.vault)):
        if value is not None:
            args += [flag, str(value)]
    return args


def daemon_environment() -> dict[str, str]:
    """This process's environment for a daemon child, without what would override its
    flags (``KUBECONFIG``, ``NAMESPACE``): the flags say which cluster and namespace."""
    return {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NAMESPACE")}


@contextmanager
def daemon_processes(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """A factory of daemon processes; every one is killed at exit."""
    made: list[DaemonProcess] = []

    def start(settings: Settings, *, port: int, identity: str = "") -> DaemonProcess:
        env = daemon_environment()
        env["POD_NAME"] = identity or f"proc-{uuid.uuid4().hex[:6]}"
        if settings.kafka.sasl_password is not None:  # environment only, as in production
            env["KAFKA_SASL_PASSWORD"] = settings.kafka.sasl_password
        proc = DaemonProcess(cli_args(settings, port=port), env,
                             tmp_path / f"daemon-{len(made)}.log")
        made.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in made:
            proc.close()


async def wait_ready(proc: DaemonProcess, port: int, *, timeout: float = 60.0) -> float:
    """Until the daemon's ``/readyz`` says 200 (it fails at once if the daemon died); seconds
    waited."""
    async def ready() -> bool:
        return (await asyncio.to_thread(scrape, port, "/readyz"))[0] == 200

    return await proc.until(ready, "the daemon ready", timeout=timeout)


def scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    """GET a path of a daemon's HTTP server (status, body); (0, "") when it does not answer."""
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except OSError:
        return 0, ""


_SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


def sample(text: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus exposition text (0.0 when absent)."""
    wanted = {f'{k}="{v}"' for k, v in labels.items()}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        have = set((match["labels"] or "").split(",")) - {""}
        if wanted <= have:
            return float(match["value"])
    return 0.0


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

