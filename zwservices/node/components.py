"""The argv of every node process, in start order (each inside the node's namespaces).

Ports are the fixed in-namespace ones of ``layout``; every argv names a file in the run dir,
which is what ``procs.cmdline_has`` checks before a PID is signalled.
"""

from __future__ import annotations

import sys
from pathlib import Path

from zwservices import paths

from .layout import (
    APISERVER_PORT,
    ETCD_PEER_PORT,
    ETCD_PORT,
    NODE_IP,
    NODE_NAME,
    SERVICE_CIDR,
    Layout,
)
from .namespaces import nsenter_prefix

RELAY_SCRIPT = Path(__file__).with_name("relay.py")
# Start order; stop order is NODE.md's (kubelet first, containerd last), see lifecycle.
START_ORDER = ("containerd", "etcd", "relay", "kube-apiserver", "kube-controller-manager",
               "kube-scheduler", "kubelet")
STOP_ORDER = ("kubelet", "relay", "kube-scheduler", "kube-controller-manager",
              "kube-apiserver", "etcd", "containerd")


def _bin(name: str) -> str:
    return str(paths.node_bin_dir() / name)


def containerd(layout: Layout) -> list[str]:
    return [*nsenter_prefix(layout), "containerd", "--config",
            str(layout.containerd_dir / "config.toml")]


def etcd(layout: Layout) -> list[str]:
    client = f"http://127.0.0.1:{ETCD_PORT}"
    peer = f"http://127.0.0.1:{ETCD_PEER_PORT}"
    return [*nsenter_prefix(layout), _bin("etcd"), "--name=zw-node",
            f"--data-dir={layout.etcd_dir / 'data'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=zw-node={peer}", "--initial-cluster-state=new",
            "--logger=zap", "--log-outputs=stderr", "--quota-backend-bytes=2147483648"]


def relay(layout: Layout, kafka_pods_port: int | None) -> list[str]:
    """The relay runs on the machine and reaches into the node itself (see relay.py)."""
    argv = [sys.executable, str(RELAY_SCRIPT), f"--netns={layout.netns}",
            f"--to-node={APISERVER_PORT}", f"--port-file={layout.run_dir / 'relay.port'}"]
    if kafka_pods_port:
        argv.append(f"--to-host={NODE_IP}:{kafka_pods_port}={kafka_pods_port}")
    return argv


def kube_apiserver(layout: Layout) -> list[str]:
    pki = layout.pki
    return [*nsenter_prefix(layout), _bin("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
            "--bind-address=127.0.0.1", f"--secure-port={APISERVER_PORT}",
            f"--advertise-address={NODE_IP}", "--endpoint-reconciler-type=none",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true", "--profiling=false", "--v=1"]


def kube_controller_manager(layout: Layout) -> list[str]:
    pki = layout.pki
    return [*nsenter_prefix(layout), _bin("kube-controller-manager"),
            f"--kubeconfig={layout.kubeconfig('controller-manager')}",
            "--bind-address=127.0.0.1", "--leader-elect=false",
            "--use-service-account-credentials",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--flex-volume-plugin-dir=/var/lib/kube-controller-manager/volume-plugins",
            "--profiling=false", "--v=1"]


def kube_scheduler(layout: Layout) -> list[str]:
    return [*nsenter_prefix(layout), _bin("kube-scheduler"),
            f"--kubeconfig={layout.kubeconfig('scheduler')}",
            "--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false", "--v=1"]


def kubelet(layout: Layout) -> list[str]:
    return [*nsenter_prefix(layout), _bin("kubelet"), f"--config={layout.kubelet_config}",
            f"--kubeconfig={layout.kubeconfig('kubelet')}",
            f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}",
            "--root-dir=/var/lib/kubelet", "--v=1"]


def argv_for(name: str, layout: Layout, kafka_pods_port: int | None) -> list[str]:
    """One place that maps a component name to its argv."""
    if name == "relay":
        return relay(layout, kafka_pods_port)
    builders = {"containerd": containerd, "etcd": etcd, "kube-apiserver": kube_apiserver,
                "kube-controller-manager": kube_controller_manager,
                "kube-scheduler": kube_scheduler, "kubelet": kubelet}
    return builders[name](layout)
