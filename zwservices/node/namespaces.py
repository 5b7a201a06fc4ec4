"""The node's private network and mount namespaces, kept alive by bind-mounted files.

Network: only ``lo`` and a veth pair carrying the node IP, no route out; the pods' bridge
is created inside it by CNI. Mount: slave propagation (host mounts come in, nothing goes
out), private ``/var`` and ``/run``, a tmpfs for etcd, and plain files over the sysctls the
kubelet writes, so it never changes the machine's. Everything the kubelet and containerd mount
stays in the namespace and disappears with it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from zwservices.procs import ServiceError, run

from .layout import FAKE_SYSCTLS, NODE_IP, VETH, Layout

PRIVATE_DIRS = ("var/lib/kubelet", "var/lib/cni", "var/log/pods", "var/log/containers",
                "var/lib/kube-controller-manager", "run")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def mounts_under(root: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Mount points at or below ``root`` in this process's mount namespace, deepest first."""
    found: list[Path] = []
    prefix = str(root).rstrip("/")
    for line in mountinfo.read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _setup_script(layout: Layout) -> str:
    """Runs once inside the new namespaces; the mounts it makes outlive it."""
    kn0, kn1 = VETH
    q = shlex.quote
    lines = ["set -e", "ip link set lo up",
             f"ip link add {kn0} type veth peer name {kn1}",
             f"ip addr add {NODE_IP}/32 dev {kn0}",
             f"ip link set {kn0} up", f"ip link set {kn1} up",
             f"mount --bind {q(str(layout.private_var))} /var",
             f"mount --bind {q(str(layout.private_run))} /run",
             f"mount -t tmpfs -o size=1g,mode=0700 zw-node-etcd {q(str(layout.etcd_dir))}"]
    for name in FAKE_SYSCTLS:
        fake = layout.sysctl_dir / name.replace("/", "_")
        lines.append(f"mount --bind {q(str(fake))} /proc/sys/{name}")
    return "\n".join(lines) + "\n"


def create(layout: Layout) -> None:
    """Make both namespaces; on failure undo what was done."""
    for forbidden in ("/var", "/run"):
        if layout.run_dir == Path(forbidden) or Path(forbidden) in layout.run_dir.parents:
            raise ServiceError(f"node run dir {layout.run_dir} must not lie under {forbidden}")
    for rel in PRIVATE_DIRS:
        (layout.run_dir / rel).mkdir(parents=True, exist_ok=True)
    layout.etcd_dir.mkdir(parents=True, exist_ok=True)
    layout.sysctl_dir.mkdir(parents=True, exist_ok=True)
    host_values = {}
    for name in FAKE_SYSCTLS:
        host_values[name] = (Path("/proc/sys") / name).read_text()
        (layout.sysctl_dir / name.replace("/", "_")).write_text(host_values[name])
    # What the machine had: the isolation test checks these never change.
    (layout.sysctl_dir / "host-values.json").write_text(json.dumps(host_values))
    layout.ns_dir.mkdir(parents=True, exist_ok=True)
    try:
        # A mount-namespace file must sit on a private mount, or its bind mount would
        # propagate into the namespace it pins (the kernel refuses that loop).
        run(["mount", "--bind", str(layout.ns_dir), str(layout.ns_dir)])
        run(["mount", "--make-private", str(layout.ns_dir)])
        layout.netns.touch()
        layout.mntns.touch()
        run(["unshare", f"--net={layout.netns}", f"--mount={layout.mntns}",
             "--propagation", "slave", "--", "sh", "-c", _setup_script(layout)])
    except BaseException:
        destroy(layout)
        raise


def destroy(layout: Layout) -> list[str]:
    """Unmount the namespace files (the namespaces die with their last process); errors."""
    errors: list[str] = []
    for point in mounts_under(layout.run_dir):
        if point not in mounts_under(layout.run_dir):
            continue  # went with an earlier unmount
        result = subprocess.run(["umount", str(point)], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0 and point in mounts_under(layout.run_dir):
            lazy = subprocess.run(["umount", "-l", str(point)], capture_output=True, text=True,
                                  check=False)
            if lazy.returncode != 0:
                errors.append(f"umount {point}: {result.stderr.strip()}")
    return errors


def nsenter_prefix(layout: Layout) -> list[str]:
    """Run a component inside both namespaces (nsenter execs it: the PID stays the same)."""
    return ["nsenter", f"--net={layout.netns}", f"--mount={layout.mntns}", "--"]


def alive(layout: Layout) -> bool:
    """Both namespace files are still mounted."""
    mounted = set(mounts_under(layout.ns_dir))
    return layout.netns in mounted and layout.mntns in mounted
