"""Start, stop, inspect and guard one node; shared by ``services.py node-*`` and pytest.

Start order: (the node's Kafka broker, if wanted,) containerd, etcd, relay,
kube-apiserver, controller-manager, scheduler, kubelet. Stop order (NODE.md, after the
broker): kubelet, the pods (SIGKILL by PID from the node's cgroups), relay, scheduler,
controller-manager, apiserver, etcd, containerd, then any process still naming the run dir
(the shims); then the cgroups are removed, the namespace files unmounted and the run dir
wiped. The env file is rewritten after every spawn, so even a half-started node can be
stopped from it; a watchdog stops the node when the process that started it dies.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zwservices import build_node, paths, procs, state
from zwservices.procs import ServiceError

from . import broker, cgroups, components, configs, deps, images, namespaces, pki, readiness
from .layout import NODE_IP, NODE_NAME, POD_CIDR, Layout

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 180.0  # to schedulable; ~10 s idle, much more on a loaded 2-core machine
STOP_TIMEOUT = 20.0


@dataclass
class NodeHandle:
    """A running node: where its admin kubeconfig is and which processes are its."""

    layout: Layout
    values: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.layout.run_dir

    @property
    def env_file(self) -> Path:
        return self.layout.env_file

    @property
    def kubeconfig(self) -> Path:
        """Admin (system:masters) kubeconfig; its server is the relay on 127.0.0.1."""
        return Path(self.values["KUBECONFIG"])

    @property
    def api_url(self) -> str:
        return self.values["KUBE_API_URL"]

    @property
    def kafka_bootstrap_pods(self) -> str:
        """Where pods reach Kafka (empty when the node was started without a broker port)."""
        return self.values.get("KAFKA_BOOTSTRAP_PODS", "")

    def save(self) -> None:
        """Atomic rewrite of the env file (shell-sourceable)."""
        lines = [f"{k}={shlex.quote(v)}" for k, v in sorted(self.values.items())]
        lines += [f"{_pid_key(n)}={p}" for n, p in self.pids.items()]
        tmp = self.env_file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(self.env_file)


def _pid_key(name: str) -> str:
    return name.upper().replace("-", "_") + "_PID"


def load(env_file: Path) -> NodeHandle:
    """Rebuild a handle from its env file (``node-down``, ``node-status``, the watchdog)."""
    raw = state.parse_env_file(env_file)
    handle = NodeHandle(Layout(Path(raw.get("ZW_NODE_RUN_DIR", str(env_file.parent)))))
    for name in ("kafka", *components.START_ORDER, "watchdog"):
        key = _pid_key(name)
        if key in raw:
            handle.pids[name] = int(raw.pop(key) or 0)
    handle.values = raw
    return handle


def _ours(layout: Layout, pid: int) -> bool:
    return procs.pid_alive(pid) and procs.cmdline_has(pid, layout.marker)


def processes_of(layout: Layout) -> list[int]:
    """Every live process whose argv names this run dir (components, shims, relay, watchdog)."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != me and _ours(layout, int(entry.name)):
            found.append(int(entry.name))
    return found


def _containerd_running(layout: Layout) -> list[int]:
    """A leftover containerd holding the database lock makes a new one hang silently."""
    out = []
    for pid in processes_of(layout):
        with contextlib.suppress(OSError):
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if argv0.endswith(b"containerd"):
                out.append(pid)
    return out


def prepare(*, build: bool = False, log: Path | None = None) -> list[Path]:
    """Packages (installed if missing), binaries (built only when ``build``), image tars."""
    deps.ensure()
    missing = build_node.missing_binaries()
    if missing and build:
        build_node.ensure(log or paths.node_cache_dir() / "build.log")
    elif missing:
        raise ServiceError(f"node binaries missing ({', '.join(missing)}): run "
                           "`python -m scripts.services node-prepare` (a ~15-25 min build)")
    return images.ensure_tars()


def _spawn(handle: NodeHandle, name: str, kafka_pods_port: int | None) -> None:
    argv = components.argv_for(name, handle.layout, kafka_pods_port)
    log = handle.layout.logs / f"{name}.log"
    handle.pids[name] = procs.spawn(argv, log, tie_to_parent=False)
    handle.save()


def _wait(handle: NodeHandle, name: str, check: Callable[[], bool], timeout: float) -> None:
    """Until ``check`` holds; fails at once with the log tail if ``name`` died."""
    procs.wait_until(check, timeout=timeout, pid=handle.pids[name], name=name,
                     log=handle.layout.logs / f"{name}.log")


def _containerd_ready(layout: Layout) -> bool:
    result = subprocess.run(["ctr", "-a", str(layout.containerd_socket), "version"],
                            capture_output=True, check=False, timeout=10)
    return result.returncode == 0


def _relay_port(layout: Layout) -> int:
    port_file = layout.run_dir / "relay.port"
    return int(port_file.read_text()) if port_file.is_file() else 0


def _guard_fresh(layout: Layout) -> None:
    """Refuse while a node of this run dir lives; clean up after a dead one."""
    if running := _containerd_running(layout):
        raise ServiceError(f"a containerd of {layout.run_dir} still runs (pid {running}): "
                           "run `services.py node-down` first")
    if layout.env_file.is_file():
        live = [n for n, p in load(layout.env_file).pids.items() if _ours(layout, p)]
        if live:
            raise ServiceError(f"node of {layout.run_dir} already running ({', '.join(live)})")
    if layout.run_dir.exists():
        wipe(layout, cgroup_name=layout.cgroup_name)


def start_node(run_dir: Path, *, with_kafka: bool = False, kafka_pods_port: int | None = None,
               owner: str = "cli", watchdog: bool = True) -> NodeHandle:
    """Start a fresh node in ``run_dir`` and block until it is Ready and schedulable.

    ``with_kafka`` also starts a broker of the node's own (``broker``), reachable from the
    machine (``KAFKA_BOOTSTRAP``) and from pods (``KAFKA_BOOTSTRAP_PODS``);
    ``kafka_pods_port`` instead relays pods to an existing broker's pod listener on that
    loopback port. ``owner`` ``pid:<n>`` ties the node to that process: a watchdog stops it
    when the process dies. On any failure everything started so far is stopped (logs kept).
    """
    run_dir = run_dir.resolve()
    layout = Layout(run_dir)
    tars = prepare()
    _guard_fresh(layout)
    run_dir.mkdir(parents=True, mode=0o700)
    layout.logs.mkdir()
    handle = NodeHandle(layout, values={
        "ZW_NODE_RUN_DIR": str(run_dir), "ZW_OWNER": owner, "NODE_NAME": NODE_NAME,
        "NODE_IP": NODE_IP, "POD_CIDR": POD_CIDR, "NODE_CGROUP": layout.cgroup_name,
        "CONTAINERD_SOCKET": str(layout.containerd_socket),
        "KUBECONFIG": str(layout.admin_kubeconfig)})
    if kafka_pods_port:
        handle.values["KAFKA_BOOTSTRAP_PODS"] = f"{NODE_IP}:{kafka_pods_port}"
    handle.save()
    started = time.monotonic()
    try:
        if watchdog and owner.startswith("pid:"):
            handle.pids["watchdog"] = start_watchdog(int(owner[4:]), layout.env_file)
            handle.save()
        if with_kafka:
            kafka_pods_port = _start_kafka(handle)
        _start_all(handle, tars, kafka_pods_port)
        if with_kafka:
            port = int(handle.values["KAFKA_PORT"])
            _wait(handle, "kafka", lambda: broker.ready(port, layout.logs / "kafka.log"), 120)
    except BaseException:
        stop_node(handle, keep_logs=True)
        raise
    handle.values["NODE_START_SECONDS"] = f"{time.monotonic() - started:.1f}"
    handle.save()
    return handle


def _start_kafka(handle: NodeHandle) -> int:
    """Format and spawn the broker first: the JVM starts while the node comes up."""
    port, controller_port, pods_port = procs.free_ports(3)
    proc = broker.prepare(handle.run_dir, port, controller_port, pods_port)
    handle.values.update(KAFKA_PORT=str(port), KAFKA_BOOTSTRAP=f"127.0.0.1:{port}",
                         KAFKA_BOOTSTRAP_PODS=f"{NODE_IP}:{pods_port}",
                         KAFKA_CMD=shlex.join(proc.argv))
    handle.pids["kafka"] = procs.spawn(proc.argv, proc.log, tie_to_parent=False)
    handle.save()
    return pods_port


def _start_all(handle: NodeHandle, tars: list[Path], kafka_pods_port: int | None) -> None:
    """The node itself; ``NODE_PHASES`` in the env file records when each step was done."""
    layout = handle.layout
    started = time.monotonic()
    phases: dict[str, float] = {}

    def mark(phase: str) -> None:
        phases.setdefault(phase, time.monotonic() - started)
        handle.values["NODE_PHASES"] = " ".join(f"{k}={v:.1f}" for k, v in phases.items())
    pki.write_pki(layout)
    configs.write_all(layout)
    namespaces.create(layout)
    cgroups.create(layout.cgroup_name)
    mark("pki_config_namespaces")
    _spawn(handle, "containerd", kafka_pods_port)
    _wait(handle, "containerd", lambda: _containerd_ready(layout), 60)
    mark("containerd")
    _spawn(handle, "etcd", kafka_pods_port)
    _spawn(handle, "relay", kafka_pods_port)
    _wait(handle, "relay", lambda: _relay_port(layout) > 0, 30)
    api_url = f"https://127.0.0.1:{_relay_port(layout)}"
    handle.values.update(KUBE_API_URL=api_url, KUBE_API_PORT=str(_relay_port(layout)))
    pki.write_kubeconfig(layout, layout.admin_kubeconfig, "admin", api_url)
    _spawn(handle, "kube-apiserver", kafka_pods_port)
    images.import_all(layout.containerd_socket, tars, layout.logs / "images.log")
    mark("images_imported")
    _wait(handle, "kube-apiserver", lambda: readiness.apiserver_ready(layout, api_url), 120)
    mark("apiserver")
    for name in ("kube-controller-manager", "kube-scheduler", "kubelet"):
        _spawn(handle, name, kafka_pods_port)
    deadline = time.monotonic() + READY_TIMEOUT
    while not all((node := readiness.node_state(layout, api_url)).values()):
        if node["ready"]:
            mark("node_ready")
        dead = [n for n, p in handle.pids.items() if not _ours(layout, p)]
        if dead:
            raise ServiceError(f"node processes exited during startup: {dead}; logs in "
                               f"{layout.logs}:\n{procs.tail(layout.logs / (dead[0] + '.log'))}")
        if time.monotonic() > deadline:
            raise ServiceError(f"node not Ready/schedulable after {READY_TIMEOUT:.0f}s: "
                               f"{readiness.node_state(layout, api_url)}; logs in {layout.logs}")
        time.sleep(0.2)
    mark("node_ready")
    mark("schedulable")


def stop_kafka(handle: NodeHandle) -> None:
    """Stop the node's broker (data kept), e.g. to test a Kafka outage."""
    procs.stop_pid(handle.pids.get("kafka"), marker=handle.layout.marker, timeout=30)
    handle.pids["kafka"] = 0
    handle.save()


def start_kafka(handle: NodeHandle) -> None:
    """Start the broker again with its recorded argv (same ports and data) and wait."""
    if _ours(handle.layout, handle.pids.get("kafka", 0)):
        return
    log = handle.layout.logs / "kafka.log"
    offset = log.stat().st_size if log.exists() else 0
    handle.pids["kafka"] = procs.spawn(shlex.split(handle.values["KAFKA_CMD"]), log,
                                       tie_to_parent=False)
    handle.save()
    port = int(handle.values["KAFKA_PORT"])
    _wait(handle, "kafka", lambda: broker.ready(port, log, offset), 120)


def _stop(layout: Layout, pid: int | None) -> None:
    with contextlib.suppress(ServiceError):
        procs.stop_pid(pid, marker=layout.marker, timeout=STOP_TIMEOUT)


def stop_node(handle: NodeHandle, *, keep_logs: bool = False) -> None:
    """Stop every process in NODE.md's order, then wipe; raise if anything is left."""
    layout = handle.layout
    cgroup_name = handle.values.get("NODE_CGROUP", layout.cgroup_name)
    for name in ("kafka", *components.STOP_ORDER):
        _stop(layout, handle.pids.get(name))
        if name == "kubelet":
            cgroups.kill_all(cgroup_name)
    watchdog = handle.pids.get("watchdog")
    if watchdog and watchdog != os.getpid():  # nothing left for it to guard
        _stop(layout, watchdog)
    problems = wipe(layout, cgroup_name=cgroup_name, keep_logs=keep_logs)
    if problems:
        raise ServiceError("node not fully cleaned up: " + "; ".join(problems))


def wipe(layout: Layout, *, cgroup_name: str, keep_logs: bool = False) -> list[str]:
    """Kill stragglers by PID (shims, pods), remove cgroups, unmount, delete the run dir."""
    for pid in processes_of(layout):
        if Path(f"/proc/{pid}/cmdline").exists() and _is_watchdog(pid):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        procs.wait_dead(pid, 5.0)
    problems = cgroups.remove(cgroup_name)
    problems += namespaces.destroy(layout)
    if left := namespaces.mounts_under(layout.run_dir):
        problems.append(f"still mounted: {left}")
    if not problems and layout.run_dir.exists():
        keep = {"logs"} if keep_logs else set()
        problems += _remove_tree(layout.run_dir, keep)
    return problems


def _remove_tree(root: Path, keep: set[str], timeout: float = 10.0) -> list[str]:
    """Delete ``root`` (but the top-level names in ``keep``), tolerating files that vanish.

    The kernel tears a dead mount namespace's overlay mounts down asynchronously, and
    overlayfs cleans its work dirs as it goes: a file listed a moment ago may be gone.
    """
    def ignore_vanished(_func: object, _path: str, exc: object) -> None:
        error = exc[1] if isinstance(exc, tuple) else exc
        if not isinstance(error, FileNotFoundError):
            raise error  # type: ignore[misc]

    deadline = time.monotonic() + timeout
    while True:
        children = [c for c in root.iterdir() if c.name not in keep] if root.exists() else []
        if not children and (keep or not root.exists()):
            return []
        try:
            if keep:
                for child in children:
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, onerror=ignore_vanished)
                    else:
                        child.unlink(missing_ok=True)
            else:
                shutil.rmtree(root, onerror=ignore_vanished)
        except OSError as exc:
            if time.monotonic() > deadline:
                return [f"cannot remove {root}: {exc}"]
            time.sleep(0.2)


def _is_watchdog(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return b"node_watchdog_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return False


def stop_env_file(env_file: Path) -> bool:
    """``stop_node`` for what an env file names; False when there is none."""
    if not env_file.is_file():
        return False
    stop_node(load(env_file))
    return True


def status(env_file: Path) -> dict[str, bool]:
    """Which processes are alive, plus the node's Ready/schedulable facts when reachable."""
    if not env_file.is_file():
        return {}
    handle = load(env_file)
    alive = {n: _ours(handle.layout, p) for n, p in handle.pids.items()}
    if alive.get("relay") and "KUBE_API_URL" in handle.values:
        alive.update(readiness.node_state(handle.layout, handle.api_url))
    return alive


def rss_mib(pid: int) -> float:
    """Resident memory of one process (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def memory(env_file: Path) -> dict[str, float]:
    """RSS per node process, plus the pods' shims and containers, in MiB."""
    handle = load(env_file)
    out = {n: rss_mib(p) for n, p in handle.pids.items() if _ours(handle.layout, p)}
    known = set(handle.pids.values())
    shims = [p for p in processes_of(handle.layout) if p not in known]
    out["shims"] = sum(rss_mib(p) for p in shims)
    out["pods"] = sum(rss_mib(p) for p in cgroups.pids(handle.values.get(
        "NODE_CGROUP", handle.layout.cgroup_name)))
    return out


def _start_time(pid: int) -> str:
    """Field 22 of /proc/<pid>/stat: with the PID it names one process for good."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def start_watchdog(owner_pid: int, env_file: Path) -> int:
    """A detached process that stops the node once ``owner_pid`` is gone (SIGKILL, Ctrl-C)."""
    code = ("import sys; from zwservices.node.lifecycle import node_watchdog_main; "
            "node_watchdog_main(int(sys.argv[1]), sys.argv[2], sys.argv[3])")
    child = subprocess.Popen(  # run from the repository root, where ``zwservices`` imports
        [sys.executable, "-c", code, str(owner_pid), _start_time(owner_pid), str(env_file)],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=(env_file.parent / "logs" / "watchdog.log").open("ab"), start_new_session=True)
    return child.pid


def node_watchdog_main(owner_pid: int, owner_start: str, env_file: str) -> None:
    """Poll the owner; stop the node if it died while the env file still exists."""
    path = Path(env_file)
    while path.exists() and procs.pid_alive(owner_pid) and _start_time(owner_pid) == owner_start:
        time.sleep(0.5)
    if path.exists():
        print(f"owner {owner_pid} gone: stopping the node of {path.parent}", flush=True)
        stop_env_file(path)
