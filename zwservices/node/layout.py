"""Where one node's files live and the fixed addresses inside its private network namespace.

Everything of a node sits in its run dir (so the run dir in a process's argv is the guard
against PID reuse, as for the bare services). Ports inside the namespace are fixed: the
namespace is the node's alone, so they cannot collide with anything on the machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "zw-node"
NODE_IP = "10.213.0.1"
POD_CIDR = "10.213.1.0/24"
POD_GATEWAY = "10.213.1.1"
SERVICE_CIDR = "10.214.0.0/24"
FIRST_SERVICE_IP = "10.214.0.1"
APISERVER_PORT = 6443
ETCD_PORT = 2379
ETCD_PEER_PORT = 2380
VETH = ("kn0", "kn1")
# The kubelet always writes these sysctls; inside the mount namespace they are plain files.
FAKE_SYSCTLS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic",
                "kernel/panic_on_oops", "kernel/keys/root_maxkeys",
                "kernel/keys/root_maxbytes")
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Layout:
    """Paths of one node; the run dir must not lie under /var or /run (they are replaced)."""

    run_dir: Path

    @property
    def env_file(self) -> Path:
        return self.run_dir / "node.env"

    @property
    def marker(self) -> str:
        """Every process of the node has the run dir in its argv."""
        return str(self.run_dir)

    @property
    def ns_dir(self) -> Path:
        """Bind-mounted onto itself with private propagation: holds the namespace files."""
        return self.run_dir / "ns"

    @property
    def netns(self) -> Path:
        return self.ns_dir / "net"

    @property
    def mntns(self) -> Path:
        return self.ns_dir / "mnt"

    @property
    def private_var(self) -> Path:
        """Mounted over /var inside the node (kubelet, CNI and pod logs hard-code /var)."""
        return self.run_dir / "var"

    @property
    def private_run(self) -> Path:
        """Mounted over /run inside the node (containerd and runc hard-code /run)."""
        return self.run_dir / "run"

    @property
    def sysctl_dir(self) -> Path:
        return self.run_dir / "sysctl"

    @property
    def etcd_dir(self) -> Path:
        """A tmpfs inside the mount namespace: fsync-free, gone with the namespace."""
        return self.run_dir / "etcd"

    @property
    def pki(self) -> Path:
        return self.run_dir / "pki"

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def containerd_dir(self) -> Path:
        return self.run_dir / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.run_dir / "cni" / "net.d"

    @property
    def kubelet_config(self) -> Path:
        return self.run_dir / "kubelet" / "config.yaml"

    @property
    def admin_kubeconfig(self) -> Path:
        """Points at the host side of the relay: what clients on the machine use."""
        return self.run_dir / "admin.kubeconfig"

    def kubeconfig(self, user: str) -> Path:
        """In-namespace kubeconfigs of the components (server 127.0.0.1:6443)."""
        return self.pki / f"{user}.kubeconfig"

    @property
    def cgroup_name(self) -> str:
        """The kubelet's ``cgroupRoot``: per run, so ``kubepods`` never sits at the top."""
        digest = hashlib.sha1(str(self.run_dir).encode(), usedforsecurity=False).hexdigest()
        return f"zombiewatch-node-{digest[:10]}"
