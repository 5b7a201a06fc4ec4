"""Start, stop, restart and inspect the whole stack; shared by the CLI and the test harness."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import fetch_kafka, kafka, kafka_secure, kube, paths, procs, state
from .procs import ServiceError
from .state import Stack

READY_TIMEOUT = {"etcd": 30.0, "apiserver": 90.0, "kafka": 90.0}
STOP_TIMEOUT = {"etcd": 15.0, "apiserver": 15.0, "kafka": 30.0}
REPO_ROOT = Path(__file__).resolve().parents[1]

# Log offsets at each spawn, so Kafka's readiness looks only at the newest start.
_LOG_OFFSETS: dict[str, int] = {}


def _owned_here(stack: Stack) -> bool:
    """Processes of a stack this process owns die with it; a CLI stack must outlive us."""
    return stack.values.get("ZW_OWNER") == f"pid:{os.getpid()}"


def start(stack: Stack, name: str) -> None:
    """Spawn one service with its recorded argv (same ports, flags, data dir); no waiting."""
    proc = stack.procs[name]
    if procs.pid_alive(proc.pid) and procs.cmdline_has(proc.pid, stack.marker):
        return
    _LOG_OFFSETS[name] = proc.log.stat().st_size if proc.log.exists() else 0
    env = {**os.environ, **proc.env} if proc.env else None
    proc.pid = procs.spawn(proc.argv, proc.log, tie_to_parent=_owned_here(stack), env=env,
                           cwd=Path(proc.cwd) if proc.cwd else None)
    stack.save()


def _ready(stack: Stack, name: str) -> bool:
    """One readiness probe per service kind."""
    values = stack.values
    if name == "etcd":
        return kube.etcd_healthy(values["ETCD_ENDPOINT"])
    if name == "apiserver":
        return kube.apiserver_ready(values["KUBE_API_URL"], values["KUBE_TOKEN"], stack.run_dir)
    port = int(values["KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    if not kafka.api_versions_ok(port):
        return False
    return values.get("KAFKA_FLAVOR") != "apache" or kafka.started_since(
        stack.procs[name].log, _LOG_OFFSETS.get(name, 0))


def wait_ready(stack: Stack, name: str) -> None:
    """Block until ready, or raise with the log tail if it died or timed out."""
    proc = stack.procs[name]
    procs.wait_until(lambda: _ready(stack, name), timeout=READY_TIMEOUT[name], pid=proc.pid,
                     name=name, log=proc.log)


def stop(stack: Stack, name: str, *, hard: bool = False) -> None:
    """Stop one service by PID (SIGTERM then SIGKILL; SIGKILL at once when ``hard``)."""
    proc = stack.procs.get(name)
    if proc is None:
        return
    procs.stop_pid(proc.pid, marker=stack.marker, timeout=STOP_TIMEOUT[name], hard=hard)
    proc.pid = 0
    if stack.env_file.exists():
        stack.save()


def _wait_port_free(port: int, timeout: float = 20.0) -> None:
    """A restart must get its old port back; wait for the old listener to let go."""
    deadline = time.monotonic() + timeout
    while not procs.port_free(port):
        if time.monotonic() > deadline:
            raise ServiceError(f"port {port} still busy after {timeout:.0f}s")
        time.sleep(0.1)


def start_ready(stack: Stack, name: str) -> None:
    """Start (same port) and wait until it serves."""
    port_key = {"etcd": "ETCD_PORT", "apiserver": "KUBE_API_PORT", "kafka": "KAFKA_PORT"}[name]
    _wait_port_free(int(stack.values[port_key]))
    start(stack, name)
    wait_ready(stack, name)


def restart(stack: Stack, name: str, *, hard: bool = False) -> None:
    """Stop then start with identical flags and port, blocking until ready again."""
    stop(stack, name, hard=hard)
    start_ready(stack, name)


def compact_etcd(stack: Stack) -> int:
    """Compact etcd to its current revision.

    A running v1.37 API server still serves older resourceVersions from its watch cache
    (since 1.34 even lists), so clients see 410 Gone only after it restarts: see
    ``compact_etcd_across_restart``.
    """
    return kube.compact_etcd(stack.values["ETCD_ENDPOINT"])


def compact_etcd_across_restart(stack: Stack) -> int:
    """Stop the API server, compact etcd, start it again: older resourceVersions now get 410.

    The restarted server fills its watch cache from the compacted store, so a watch or a
    list at a resourceVersion from before is answered 410 Gone, as after a long outage.
    """
    stop(stack, "apiserver")
    try:
        return compact_etcd(stack)
    finally:
        start_ready(stack, "apiserver")


def _require_prepared() -> fetch_kafka.KafkaChoice:
    """``up`` never builds or downloads: that is ``prepare``'s job."""
    choice = fetch_kafka.load_choice()
    needed = ("etcd", "kube-apiserver")
    if not all(paths.node_binary(name).is_file() for name in needed) or choice is None:
        raise ServiceError("services not prepared: run `python -m scripts.services prepare`")
    return choice


def is_live(env_file: Path) -> bool:
    """True when the env file exists and every process it names still runs."""
    if not env_file.is_file():
        return False
    try:
        stack = state.load(env_file)
    except (OSError, ValueError, KeyError):
        return False
    return bool(stack.procs) and all(
        procs.pid_alive(p.pid) and procs.cmdline_has(p.pid, stack.marker)
        for p in stack.procs.values())


def _new_stack(run_dir: Path, owner: str, choice: fetch_kafka.KafkaChoice) -> Stack:
    """Pick ports and credentials and describe every process before starting any."""
    etcd_port, peer_port, api_port, kafka_port, ctrl_port = procs.free_ports(5)
    stack = Stack(run_dir=run_dir)
    token, _ = kube.write_credentials(run_dir)
    api_url = f"https://127.0.0.1:{api_port}"
    stack.values.update(
        ZW_RUN_DIR=str(run_dir), ZW_OWNER=owner, ETCD_PORT=str(etcd_port),
        ETCD_ENDPOINT=f"http://127.0.0.1:{etcd_port}", KUBE_API_PORT=str(api_port),
        KUBE_API_URL=api_url, KUBE_TOKEN=token, KUBE_CA_FILE=str(kube.ca_file(run_dir)),
        KUBECONFIG=str(kube.write_kubeconfig(run_dir, api_url, token)),
        KAFKA_PORT=str(kafka_port), KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}",
        KAFKA_FLAVOR=choice.flavor, KAFKA_VERSION=choice.version)
    stack.procs["etcd"] = kube.etcd_proc(run_dir, etcd_port, peer_port)
    stack.procs["apiserver"] = kube.apiserver_proc(run_dir, etcd_port, api_port)
    if choice.flavor == "apache":
        security = kafka_secure.prepare(run_dir)
        stack.values.update(security.values())
        stack.procs["kafka"] = kafka.prepare_apache(choice, run_dir, kafka_port, ctrl_port,
                                                    security)
    else:
        stack.procs["kafka"] = kafka.prepare_noida(choice, run_dir, kafka_port)
    stack.save()
    return stack


def up(run_dir: Path, *, owner: str = "cli") -> Stack:
    """Start etcd, kube-apiserver and Kafka in a fresh run dir; on failure stop them all.

    Ports are picked free and then released, so a concurrent run may grab one before our
    service binds it: a bind failure is retried once with fresh ports.
    """
    choice = _require_prepared()
    if is_live(run_dir / "services.env"):
        raise ServiceError(f"services already running from {run_dir / 'services.env'}")
    if choice.flavor != "apache":
        print("WARNING: FALLBACK BROKER noida-db (NOT Apache Kafka) in use", file=sys.stderr)
    for attempt in range(3):
        try:
            return _up_once(run_dir, owner, choice)
        except ServiceError as exc:
            if attempt == 2 or "address already in use" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


def _up_once(run_dir: Path, owner: str, choice: fetch_kafka.KafkaChoice) -> Stack:
    """One attempt: fresh run dir (0700: it holds the admin token), start, wait."""
    paths.remove_run_dir(run_dir)
    run_dir.mkdir(parents=True, mode=0o700)
    stack = _new_stack(run_dir, owner, choice)
    try:
        start(stack, "etcd")
        start(stack, "kafka")
        wait_ready(stack, "etcd")
        start(stack, "apiserver")
        wait_ready(stack, "apiserver")
        wait_ready(stack, "kafka")
    except BaseException:
        down(stack, keep_logs=True)
        raise
    return stack


def down(stack: Stack, *, keep_logs: bool = False) -> None:
    """Stop everything by PID (Kafka first, etcd last) and forget it.

    ``keep_logs`` (after a failed start) leaves ``<run>/logs`` for the post-mortem.
    """
    errors = []
    for name in ("kafka", "apiserver", "etcd"):
        try:
            stop(stack, name)
        except ServiceError as exc:
            errors.append(str(exc))
    if keep_logs and stack.run_dir.is_dir():
        shutil.rmtree(paths.etcd_data_dir(stack.run_dir), ignore_errors=True)
        for child in stack.run_dir.iterdir():
            if child.name != "logs":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        paths.remove_run_dir(stack.run_dir)
    if errors:
        raise ServiceError("; ".join(errors))


def down_env_file(env_file: Path) -> bool:
    """``down`` for whatever an env file describes; False when there was nothing."""
    if not env_file.is_file():
        return False
    down(state.load(env_file))
    return True


def status(env_file: Path) -> dict[str, bool]:
    """Which services of the env file are alive (empty when there is no stack)."""
    if not env_file.is_file():
        return {}
    stack = state.load(env_file)
    return {name: procs.pid_alive(p.pid) and procs.cmdline_has(p.pid, stack.marker)
            for name, p in stack.procs.items()}


def start_watchdog(env_file: Path) -> int:
    """A detached helper that tears the stack down if this process dies without cleanup.

    It complements PR_SET_PDEATHSIG (which covers only processes spawned from the main
    thread) and also removes the run dir.
    """
    code = ("import sys; from zwservices.stack import watchdog_main; "
            "watchdog_main(int(sys.argv[1]), sys.argv[2])")
    child = subprocess.Popen(  # run from the repository root, where ``zwservices`` imports
        [sys.executable, "-c", code, str(os.getpid()), str(env_file)], cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    return child.pid


def watchdog_main(owner_pid: int, env_file: str) -> None:
    """Poll the owner; when it is gone (we get reparented) run ``down`` on its env file."""
    path = Path(env_file)
    while os.getppid() == owner_pid and path.parent.exists():
        time.sleep(0.5)
    with contextlib.suppress(Exception):
        down_env_file(path)
