"""The real node: Ready, runs Jobs, fails pulls, reaches Kafka from pods, cleans up after itself.

Nothing here patches a status: the kubelet, scheduler and Job controller write everything.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from harness import workloads
from harness.node_fixtures import RealNode
from zwservices import paths
from zwservices.node import cgroups, lifecycle, namespaces
from zwservices.node.layout import NODE_NAME, Layout
from zwservices.procs import ServiceError

pytestmark = [pytest.mark.integration, pytest.mark.node]

REPO = Path(__file__).resolve().parents[2]


def test_node_is_ready_and_schedulable(real_node: RealNode, node_api: Any) -> None:
    core: Any = client.CoreV1Api(node_api)
    node = core.read_node(NODE_NAME)
    ready = [c for c in node.status.conditions if c.type == "Ready"]
    assert [c.status for c in ready] == ["True"]
    assert not node.spec.taints
    assert node.status.node_info.kubelet_version == "v1.37.2"
    assert node.status.node_info.container_runtime_version.startswith("containerd://1.")
    version_api: Any = client.VersionApi(node_api)
    version = version_api.get_code()
    assert version.git_version == "v1.37.2"


def test_job_runs_to_complete(node_api: Any, node_namespace: str) -> None:
    name = workloads.unique("echo")
    workloads.create_job(node_api, node_namespace,
                         workloads.job_manifest(name, args=["echo", "ok"]))
    batch: Any = client.BatchV1Api(node_api)
    job = workloads.wait_for(lambda: batch.read_namespaced_job(name, node_namespace),
                             lambda j: "Complete" in workloads.job_condition_types(j),
                             timeout=120, what=f"Job {name} Complete")
    assert workloads.job_condition_types(job) == ["SuccessCriteriaMet", "Complete"]
    assert job.status.succeeded == 1
    pod = workloads.job_pods(node_api, node_namespace, name)[0]
    assert pod.status.phase == "Succeeded"
    core: Any = client.CoreV1Api(node_api)
    log = core.read_namespaced_pod_log(pod.metadata.name, node_namespace)
    assert log == "ok\n"


def test_missing_image_is_err_image_pull(node_api: Any, node_namespace: str) -> None:
    name = workloads.unique("nopull")
    workloads.create_job(node_api, node_namespace, workloads.job_manifest(
        name, image=workloads.MISSING_IMAGE))
    pod = workloads.wait_for(
        lambda: workloads.job_pods(node_api, node_namespace, name),
        lambda pods: bool(pods) and bool(set(workloads.waiting_reasons(pods[0]))
                                         - {"ContainerCreating"}),
        timeout=120, what="a waiting reason past ContainerCreating")[0]
    assert workloads.waiting_reasons(pod)[0] in ("ErrImagePull", "ImagePullBackOff")
    assert pod.status.phase == "Pending"


# What the kubelet always writes (pkg/kubelet/cm's kernel defaults).
KUBELET_SYSCTLS = {"vm/overcommit_memory": "1", "vm/panic_on_oom": "0", "kernel/panic": "10",
                   "kernel/panic_on_oops": "1", "kernel/keys/root_maxkeys": "1000000",
                   "kernel/keys/root_maxbytes": "25000000"}


def test_the_kubelet_changes_only_the_nodes_copy_of_the_sysctls(real_node: RealNode) -> None:
    layout = real_node.handle.layout
    inside = {name: subprocess.run(
        ["nsenter", f"--mount={layout.mntns}", "cat", f"/proc/sys/{name}"], check=True,
        capture_output=True, text=True).stdout.strip() for name in KUBELET_SYSCTLS}
    assert inside == KUBELET_SYSCTLS
    before = json.loads((layout.sysctl_dir / "host-values.json").read_text())
    now = {name: (Path("/proc/sys") / name).read_text() for name in KUBELET_SYSCTLS}
    assert now == before


def test_a_second_start_in_the_same_run_dir_is_refused(real_node: RealNode) -> None:
    with pytest.raises(ServiceError, match=r"still runs|already running"):
        lifecycle.start_node(real_node.handle.run_dir)
    assert lifecycle.status(real_node.handle.env_file)["kubelet"]


def _api_versions_request() -> bytes:
    """Kafka ApiVersions v0, correlation id 7, as one length-prefixed frame."""
    client_id = b"pod"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    return struct.pack(">i", len(body)) + body


def test_pods_reach_kafka_through_the_relay(real_node: RealNode, node_api: Any,
                                            node_namespace: str) -> None:
    host, port = real_node.kafka_bootstrap_pods.rsplit(":", 1)
    escaped = "".join(f"\\{b:03o}" for b in _api_versions_request())
    # busybox nc stops reading at its stdin's end: keep stdin open until the reply is in
    script = (f"(printf '{escaped}'; sleep 2) | nc {host} {port} | head -c 10 "
              "| od -An -tx1 | tr -d ' \\n'")
    name = workloads.unique("kafka-probe")
    workloads.create_job(node_api, node_namespace,
                         workloads.job_manifest(name, args=["sh", "-c", script]))
    batch: Any = client.BatchV1Api(node_api)
    workloads.wait_for(lambda: batch.read_namespaced_job(name, node_namespace),
                       lambda j: "Complete" in workloads.job_condition_types(j),
                       timeout=120, what=f"Job {name} Complete")
    pod = workloads.job_pods(node_api, node_namespace, name)[0]
    core: Any = client.CoreV1Api(node_api)
    reply = core.read_namespaced_pod_log(pod.metadata.name, node_namespace)
    # 4 bytes of frame length, then the correlation id 7, then error 0 (or 35: version)
    assert reply[8:16] == "00000007", reply
    assert reply[16:20] in ("0000", "0023"), reply


def _leftovers(layout: Layout, cgroup_name: str) -> dict[str, object]:
    """Everything a node could leave behind; all empty after a clean stop."""
    return {"processes": lifecycle.processes_of(layout),
            "pod processes": sorted(cgroups.pids(cgroup_name)),
            "mounts": namespaces.mounts_under(layout.run_dir),
            "cgroups": cgroups.leftovers(cgroup_name),
            "run dir": layout.run_dir.exists()}


NOTHING = {"processes": [], "pod processes": [], "mounts": [], "cgroups": [],
           "run dir": False}

STARTER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from kubernetes import client, config
    from zwservices.node import lifecycle
    from harness import workloads
    handle = lifecycle.start_node(Path(sys.argv[1]), owner=f"pid:{os.getpid()}")
    api = config.new_client_from_config(config_file=str(handle.kubeconfig))
    workloads.create_job(api, "default", workloads.job_manifest("sleeper",
                         args=["sleep", "3600"]))
    workloads.wait_for(lambda: workloads.job_pods(api, "default", "sleeper"),
                       lambda pods: bool(pods) and pods[0].status.phase == "Running",
                       timeout=120, what="sleeper Running")
    print("RUNNING", flush=True)
    time.sleep(3600)
""")


def _start_in_child(run_dir: Path) -> subprocess.Popen[str]:
    """A process that starts a node with a running pod, then waits to be killed."""
    proc = subprocess.Popen([sys.executable, "-c", STARTER, str(run_dir)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "RUNNING", f"starter said {line!r} (exit {proc.poll()})"
    return proc


def test_stop_node_leaves_nothing(tmp_path: Path) -> None:
    run_dir = paths.cache_dir() / f"node-stoptest-{os.getpid()}"
    layout = Layout(run_dir)
    proc = _start_in_child(run_dir)
    handle = lifecycle.load(layout.env_file)
    cgroup_name = handle.values["NODE_CGROUP"]
    assert cgroups.pids(cgroup_name), "the sleeper pod runs in the node's cgroups"
    os.kill(proc.pid, signal.SIGSTOP)  # the owner stays alive: the watchdog must not act
    try:
        lifecycle.stop_node(handle)
        assert _leftovers(layout, cgroup_name) == NOTHING
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_watchdog_cleans_up_after_a_killed_owner() -> None:
    run_dir = paths.cache_dir() / f"node-watchdogtest-{os.getpid()}"
    layout = Layout(run_dir)
    proc = _start_in_child(run_dir)
    cgroup_name = lifecycle.load(layout.env_file).values["NODE_CGROUP"]
    assert cgroups.pids(cgroup_name)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    workloads.wait_for(lambda: _leftovers(layout, cgroup_name), lambda left: left == NOTHING,
                       timeout=120, what="the watchdog's cleanup", interval=0.5)


INTERRUPTED = """
import signal
import time

# A terminal's Ctrl-C reaches a process whose SIGINT has its default disposition; a run
# started in the background of a non-interactive shell (as CI may be) inherits SIGINT
# ignored, and Python then never raises KeyboardInterrupt. Restore what a terminal gives.
signal.signal(signal.SIGINT, signal.default_int_handler)


def test_waits_for_ctrl_c(real_node):
    print("NODE-UP", flush=True)
    time.sleep(600)
"""


def test_ctrl_c_of_a_test_run_leaves_nothing(tmp_path: Path) -> None:
    """A pytest run that owns a node gets SIGINT (Ctrl-C) while a test runs."""
    test_file = tmp_path / "test_interrupted.py"
    test_file.write_text(INTERRUPTED)
    env = {**os.environ, "ZOMBIEWATCH_NODE_ENV": "private"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider",
         "-p", "harness.node_fixtures", "-c", str(REPO / "pyproject.toml"),
         "--rootdir", str(REPO), str(test_file)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "NODE-UP" in line:
            break
    assert any("NODE-UP" in line for line in seen), "".join(seen)
    layout = Layout(paths.cache_dir() / f"node-pytest-{proc.pid}")
    cgroup_name = lifecycle.load(layout.env_file).values["NODE_CGROUP"]
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=120)
    workloads.wait_for(lambda: _leftovers(layout, cgroup_name), lambda left: left == NOTHING,
                       timeout=60, what="cleanup after Ctrl-C", interval=0.5)
