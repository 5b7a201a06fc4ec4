"""The two images the node runs, built without a registry and imported into containerd.

``localhost/pause:3.10`` is Kubernetes' own ``pause.c`` (kept by the node build) compiled
statically; ``localhost/busybox:1`` is Debian's busybox-static with one symlink per applet and
``/bin/busybox`` as entrypoint. Each is written as a ``docker save`` tar (one layer, a config,
a ``manifest.json``) into the node cache once, then imported with ``ctr`` at every start.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zwservices import paths
from zwservices.procs import ServiceError, run

PAUSE_TAG = "localhost/pause:3.10"
BUSYBOX_TAG = "localhost/busybox:1"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX = Path("/bin/busybox")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class Entry:
    """One member of a layer: a directory, a file (with content) or a symlink."""

    path: str
    kind: str  # "dir" | "file" | "link"
    data: bytes = b""
    mode: int = 0o755
    target: str = ""


def images_dir() -> Path:
    return paths.node_cache_dir() / "images"


def pause_source() -> Path:
    """Copied out of the Kubernetes source tree by ``build_node``."""
    return paths.node_cache_dir() / "pause.c"


def layer_tar(entries: list[Entry]) -> bytes:
    """A reproducible layer: fixed mtimes and owners, so the digest depends on content only."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mode, info.mtime, info.uid, info.gid = entry.mode, 0, 0, 0
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, entry.target
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buf.getvalue()


def image_tar(tag: str, layer: bytes, entrypoint: list[str], cmd: list[str]) -> bytes:
    """``docker save`` format: ``manifest.json`` + config JSON + one ``layer.tar``."""
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": [PATH_ENV], "Entrypoint": entrypoint, "Cmd": cmd,
                         "WorkingDir": "/"},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "history": [{"created_by": "zombiewatch node images.py"}]}
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":", 1)[1] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
    return layer_tar([Entry(layer_name.split("/")[0], "dir"),
                      Entry(layer_name, "file", layer, 0o644),
                      Entry(config_name, "file", config_bytes, 0o644),
                      Entry("manifest.json", "file", json.dumps(manifest).encode(), 0o644)])


def _dirs(paths_in_layer: list[str]) -> list[Entry]:
    """Parent directories first, each once."""
    seen: list[str] = []
    for item in paths_in_layer:
        parts = item.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            parent = "/".join(parts[:depth])
            if parent not in seen:
                seen.append(parent)
    return [Entry(d, "dir") for d in seen]


def busybox_entries(busybox: Path = BUSYBOX) -> list[Entry]:
    """``/bin/busybox``, a symlink per applet at its usual path, passwd/group, ``/tmp``."""
    listing = subprocess.run([str(busybox), "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    applets = sorted({a for a in listing if a and a != "bin/busybox"})
    files = ["bin/busybox", *applets, "etc/passwd", "etc/group"]
    entries = [*_dirs(files), Entry("tmp", "dir", mode=0o1777), Entry("root", "dir", mode=0o700)]
    entries.append(Entry("bin/busybox", "file", busybox.read_bytes(), 0o755))
    entries += [Entry(a, "link", target="/bin/busybox") for a in applets]
    entries += [Entry("etc/passwd", "file", PASSWD.encode(), 0o644),
                Entry("etc/group", "file", GROUP.encode(), 0o644)]
    return entries


def compile_pause(source: Path, out: Path) -> None:
    """``gcc -Os -static`` as Kubernetes' own build does, then strip."""
    if not source.is_file():
        raise ServiceError(f"{source} missing: build the node binaries first (build_node)")
    run(["gcc", "-Os", "-static", "-DVERSION=v3.10", "-o", str(out), str(source)])
    run(["strip", str(out)])


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def ensure_tars() -> list[Path]:
    """Build the image tars once into the cache; return both paths."""
    pause_tar, busybox_tar = images_dir() / "pause-3.10.tar", images_dir() / "busybox-1.tar"
    if not pause_tar.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            binary = Path(tmp) / "pause"
            compile_pause(pause_source(), binary)
            layer = layer_tar([Entry("pause", "file", binary.read_bytes(), 0o755)])
        _write_atomic(pause_tar, image_tar(PAUSE_TAG, layer, ["/pause"], []))
    if not busybox_tar.is_file():
        if not BUSYBOX.is_file() or shutil.which("busybox") is None:
            raise ServiceError("busybox-static is not installed")
        layer = layer_tar(busybox_entries())
        _write_atomic(busybox_tar, image_tar(BUSYBOX_TAG, layer, ["/bin/busybox"], ["sh"]))
    return [pause_tar, busybox_tar]


def import_all(socket: Path, tars: list[Path], log: Path) -> None:
    """Import into containerd's ``k8s.io`` namespace (the one the CRI plugin serves)."""
    for tar in tars:
        run(["ctr", "-a", str(socket), "-n", "k8s.io", "images", "import", str(tar)], log=log)
