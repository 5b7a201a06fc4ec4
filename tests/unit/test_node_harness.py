"""The node harness's pure pieces: image tars, configs, mountinfo parsing, the broker's listener."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from zwservices import procs
from zwservices.node import (
    broker,
    cgroups,
    configs,
    images,
    lifecycle,
    namespaces,
)
from zwservices.node.layout import NODE_IP, Layout

MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 27 254:0 /r/n/ns /r/n/ns rw,relatime - ext4 /dev/vda rw
91 90 0:4 net:[4026532] /r/n/ns/net rw - nsfs nsfs rw
92 27 254:0 /r/n\\040x /r/n\\040x rw - ext4 /dev/vda rw
93 27 254:0 /r/nother /r/nother rw - ext4 /dev/vda rw
"""


def _members(tar_bytes: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                for m in tar.getmembers()}


def test_image_tar_is_docker_save_format_with_matching_digests() -> None:
    layer = images.layer_tar([images.Entry("bin", "dir"),
                              images.Entry("bin/busybox", "file", b"\x7fELF", 0o755),
                              images.Entry("bin/sh", "link", target="/bin/busybox")])
    members = _members(images.image_tar(images.BUSYBOX_TAG, layer, ["/bin/busybox"], ["sh"]))
    manifest = json.loads(members["manifest.json"])
    assert manifest[0]["RepoTags"] == ["localhost/busybox:1"]
    config = json.loads(members[manifest[0]["Config"]])
    assert config["config"]["Entrypoint"] == ["/bin/busybox"]
    assert manifest[0]["Config"] == hashlib.sha256(members[manifest[0]["Config"]]).hexdigest() \
        + ".json"
    layer_bytes = members[manifest[0]["Layers"][0]]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer_bytes)) as inner:
        assert inner.getmember("bin/sh").linkname == "/bin/busybox"


def test_layers_are_reproducible() -> None:
    entries = [images.Entry("etc", "dir"), images.Entry("etc/passwd", "file", b"root\n", 0o644)]
    assert images.layer_tar(entries) == images.layer_tar(entries)


def test_mounts_under_matches_only_the_run_dir_deepest_first(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    deepest_first = [Path("/r/n/ns/net"), Path("/r/n/ns")]
    assert namespaces.mounts_under(Path("/r/n"), info) == deepest_first  # not /r/nother
    assert namespaces.mounts_under(Path("/r/n/ns"), info) == deepest_first
    assert namespaces.mounts_under(Path("/r/n x"), info) == [Path("/r/n x")]


def test_cgroup_hierarchies_are_the_cgroup_mounts(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    assert cgroups.hierarchies(info) == [Path("/sys/fs/cgroup/cpu"),
                                         Path("/sys/fs/cgroup/unified")]


def test_pods_listener_is_loopback_and_advertises_the_node_ip() -> None:
    props = ("listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2\n"
             "advertised.listeners=PLAINTEXT://127.0.0.1:1\n"
             "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n")
    out = broker.add_pods_listener(props, 9)
    assert "listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2,PODS://127.0.0.1:9\n" \
        in out
    assert f"advertised.listeners=PLAINTEXT://127.0.0.1:1,PODS://{NODE_IP}:9\n" in out
    assert "PODS:PLAINTEXT" in out


def test_kubelet_config_has_what_this_machine_needs() -> None:
    layout = Layout(Path("/cache/node-run"))
    config = json.loads(configs.kubelet_config(layout))
    assert config["failCgroupV1"] is False
    assert config["oomScoreAdj"] == 0
    assert config["cgroupRoot"] == "/" + layout.cgroup_name
    assert config["containerRuntimeEndpoint"] == "unix:///cache/node-run/containerd/containerd.sock"
    toml = configs.containerd_toml(layout)
    assert "restrict_oom_score_adj = true" in toml
    assert 'sandbox_image = "localhost/pause:3.10"' in toml
    assert "/opt" not in toml.replace("/cache/node-run/containerd/opt", "")
    cni = json.loads(configs.cni_conflist(layout))["plugins"][0]
    assert cni["ipMasq"] is False
    assert cni["ipam"]["routes"] == [{"dst": f"{NODE_IP}/32"}]


def test_the_env_file_round_trips_and_is_shell_quoted(tmp_path: Path) -> None:
    handle = lifecycle.NodeHandle(Layout(tmp_path), values={
        "ZW_NODE_RUN_DIR": str(tmp_path), "KAFKA_CMD": "java -cp '/a b/*' kafka.Kafka"},
        pids={"kafka": 11, "kube-apiserver": 12, "watchdog": 13})
    handle.save()
    assert "KUBE_APISERVER_PID=12" in handle.env_file.read_text()
    loaded = lifecycle.load(handle.env_file)
    assert loaded.values == handle.values
    assert loaded.pids == handle.pids
    assert loaded.run_dir == tmp_path


def test_a_run_dir_claims_only_the_processes_of_its_own_path() -> None:
    def argv(*args: str) -> bytes:
        return b"\0".join(a.encode() for a in args) + b"\0"

    ours = "/root/.cache/zombiewatch/node-pytest-1778"
    longer = "/root/.cache/zombiewatch/node-pytest-17781"

    assert procs.argv_names(argv("kubelet", f"--config={ours}/kubelet.yaml"), ours)
    assert procs.argv_names(argv("python", "-m", "zwservices.node.watchdog", ours), ours)
    assert not procs.argv_names(argv("kubelet", f"--config={longer}/kubelet.yaml"), ours)
    assert not procs.argv_names(argv("python", "-m", "watchdog", longer), ours)
