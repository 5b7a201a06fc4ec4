"""containerd, CNI and kubelet configuration files of one node (what NODE.md found necessary)."""

from __future__ import annotations

import json

from .images import PAUSE_TAG
from .layout import NODE_IP, POD_CIDR, Layout

CNI_BIN_DIR = "/usr/lib/cni"


def containerd_toml(layout: Layout) -> str:
    """Config version 2; every path under the run dir, nothing on the machine's /opt or /var.

    ``restrict_oom_score_adj``: the VM withholds CAP_SYS_RESOURCE, and without it runc fails
    every sandbox ("can't get final child's PID from pipe: EOF").
    """
    cd = layout.containerd_dir
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{cd / 'root'}"
state = "{cd / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{layout.containerd_socket}"

[ttrpc]
  address = "{cd / 'containerd.sock.ttrpc'}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{cd / 'opt'}"

[{cri}]
  sandbox_image = "{PAUSE_TAG}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{layout.cni_conf_dir}"
"""


def cni_conflist(layout: Layout) -> str:
    """A bridge with host-local IPAM; no masquerade, no default route.

    The one route sends the node IP (where the relay's pod-side listeners are) via the bridge.
    """
    gateway_route = {"dst": f"{NODE_IP}/32"}
    conf = {"cniVersion": "1.0.0", "name": "zw-pods", "plugins": [{
        "type": "bridge", "bridge": "cni0", "isGateway": True, "isDefaultGateway": False,
        "ipMasq": False, "hairpinMode": True,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]],
                 "routes": [gateway_route],
                 "dataDir": str(layout.run_dir / "cni" / "ipam")}}]}
    return json.dumps(conf, indent=2) + "\n"


MAX_PODS = 250
"""Room for the node benchmark's burst of 200 pods next to a few others (the pod CIDR, a
/24, holds 253 addresses); Kubernetes' default of 110 would leave 90 of them Pending."""


def kubelet_config(layout: Layout) -> str:
    """KubeletConfiguration (JSON is YAML); each non-default here is needed on this machine.

    ``failCgroupV1: false`` (cgroup v1 hosts), ``oomScoreAdj: 0`` (no CAP_SYS_RESOURCE),
    ``resolvConf`` a file naming 127.0.0.1 (pods never see the machine's DNS), eviction
    thresholds low so a busy shared machine does not evict test pods.
    """
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "failCgroupV1": False, "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{layout.cgroup_name}",
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "oomScoreAdj": 0, "failSwapOn": False,
        "resolvConf": str(layout.run_dir / "resolv.conf"),
        "volumePluginDir": "/var/lib/kubelet/volume-plugins",
        "authentication": {"x509": {"clientCAFile": str(layout.pki / "ca.crt")},
                           "webhook": {"enabled": True}, "anonymous": {"enabled": False}},
        "authorization": {"mode": "Webhook"},
        "readOnlyPort": 0, "address": NODE_IP, "healthzBindAddress": "127.0.0.1",
        "nodeStatusUpdateFrequency": "5s", "maxPods": MAX_PODS,
        "serializeImagePulls": False, "protectKernelDefaults": False,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "containerLogMaxSize": "1Mi", "containerLogMaxFiles": 2,
    }
    return json.dumps(config, indent=2) + "\n"


def write_all(layout: Layout) -> None:
    """Write every config file into the run dir."""
    (layout.containerd_dir).mkdir(parents=True, exist_ok=True)
    (layout.containerd_dir / "config.toml").write_text(containerd_toml(layout))
    layout.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    (layout.cni_conf_dir / "10-zw-pods.conflist").write_text(cni_conflist(layout))
    layout.kubelet_config.parent.mkdir(parents=True, exist_ok=True)
    layout.kubelet_config.write_text(kubelet_config(layout))
    (layout.run_dir / "resolv.conf").write_text("nameserver 127.0.0.1\n")
