"""The daemon's container image, built without a registry or a Docker engine.

Three cached parts make one image:

1. a Debian bookworm root filesystem with bookworm's ``python3`` (3.11), made by
   ``debootstrap --variant=minbase`` from the mirror of the machine's own apt sources (never a
   hard-coded host), plus the non-root user the Deployment runs as; built once;
2. the wheel's dependencies from PyPI, installed with pip ``--target`` as binary wheels for
   CPython 3.11 on glibc (bookworm's), keyed by the wheel's ``Requires-Dist``;
3. the project's wheel itself, unpacked, with the ``zombiewatch`` console script.

They are streamed into one layer and written as a ``docker save`` tar (``manifest.json``
with ``RepoTags``, a config with Entrypoint/User/Env, ``<diff id>/layer.tar``), which
``ctr -n k8s.io images import`` takes. The tar's name carries a hash of the wheel's content
(and of the two other parts and of this module); a warm run whose sources are unchanged
finds the tar without even building the wheel. ``deploy/Dockerfile`` builds an equivalent
image with a normal docker.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import IO

from . import paths
from .procs import ServiceError, run

SUITE = "bookworm"
TAG = "localhost/zombiewatch:dev"
UID = GID = 65532  # deploy/deployment.yaml's runAsUser/runAsGroup
USER_NAME = "nonroot"
PYTHON = "python3.11"
SITE = f"usr/local/lib/{PYTHON}/dist-packages"  # on Debian's python3's path for local installs
ENTRYPOINT = "usr/local/bin/zombiewatch"
ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "HOME=/nonexistent")
# CPython 3.11 binary wheels that run on bookworm's glibc 2.36; no sdist is ever built.
WHEEL_PLATFORMS = ("manylinux_2_36_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                   "manylinux2014_x86_64", "manylinux1_x86_64")
# Dropped from the rootfs: documentation and state no container reads.
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
        "usr/share/lintian", "var/cache/apt", "var/lib/apt/lists", "var/cache/debconf",
        "var/log")
# Subpackages of dependencies the daemon never imports: kubernetes.aio (the asyncio client) is
# as big as the synchronous one that the daemon uses.
PRUNE = ("kubernetes/aio",)
EMPTY_DIRS = ("dev", "proc", "sys", "run", "tmp")  # the runtime mounts over these
REPO_ROOT = Path(__file__).resolve().parents[1]
# What the wheel is built from (pyproject's package-dir and readme; setuptools' license files).
WHEEL_INPUTS = ("pyproject.toml", "README.md", "src", "LICENSE", "LICENSE.txt", "COPYING")


def cache_dir() -> Path:
    """Everything of the image lives under the node's cache."""
    return paths.node_cache_dir() / "daemon-image"


def last_build_file() -> Path:
    """Sources, tag, tar and wheel hash of the last build."""
    return cache_dir() / "last-build.json"


# --- the mirror ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mirror:
    """A Debian archive of the machine's apt sources that serves ``SUITE``."""

    uri: str
    keyring: str  # Signed-By, or "" for apt's default keyring


def _stanzas(text: str) -> list[dict[str, str]]:
    """deb822 ``.sources`` stanzas as field maps (comment lines dropped)."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.splitlines() if not ln.lstrip().startswith("#")]
        fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", "\n".join(lines), re.M))
        if fields:
            out.append(fields)
    return out


def find_mirror(apt_dir: Path = Path("/etc/apt"), suite: str = SUITE) -> Mirror:
    """The first enabled ``deb`` entry whose suites include ``suite`` exactly.

    deb822 files are read first, then one-line ``sources.list`` entries; ``-updates`` and
    ``-security`` suites never match, so the mirror is the one debootstrap needs.
    """
    parts = apt_dir / "sources.list.d"
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        for fields in _stanzas(path.read_text()):
            if ("deb" in fields.get("Types", "").split() and fields.get("Enabled") != "no"
                    and suite in fields.get("Suites", "").split() and fields.get("URIs")):
                return Mirror(fields["URIs"].split()[0], fields.get("Signed-By", ""))
    legacy = [apt_dir / "sources.list", *sorted(parts.glob("*.list"))] if parts.is_dir() \
        else [apt_dir / "sources.list"]
    for path in legacy:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            match = re.match(r"^deb\s+(?:\[([^]]*)\]\s+)?(\S+)\s+(\S+)\s", line.strip() + " ")
            if match and match.group(3) == suite:
                signed = re.search(r"signed-by=(\S+)", match.group(1) or "")
                return Mirror(match.group(2), signed.group(1) if signed else "")
    raise ServiceError(f"no apt source of the machine serves Debian {suite}")


# --- part 1: the root filesystem -----------------------------------------------------------


def rootfs_dir() -> Path:
    return cache_dir() / f"rootfs-{SUITE}"


def _complete(path: Path) -> Path:
    return path.with_name(path.name + ".complete")


def add_user(root: Path) -> None:
    """The Deployment's numeric user and group, so tools that look them up find a name."""
    with (root / "etc" / "passwd").open("a") as fh:
        fh.write(f"{USER_NAME}:x:{UID}:{GID}:zombiewatch:/nonexistent:/usr/sbin/nologin\n")
    with (root / "etc" / "group").open("a") as fh:
        fh.write(f"{USER_NAME}:x:{GID}:\n")


def _empty(folder: Path) -> None:
    for child in folder.iterdir() if folder.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def trim(root: Path) -> None:
    """Drop what no container reads; empty the directories the runtime mounts over."""
    for rel in (*TRIM, *EMPTY_DIRS):
        _empty(root / rel)


def ensure_rootfs(log: Path) -> tuple[Path, bool]:
    """debootstrap once into the cache; returns the tree and whether it was built now."""
    root = rootfs_dir()
    if _complete(root).is_file():
        return root, False
    if shutil.which("debootstrap") is None:
        from . import apt  # noqa: PLC0415 - only a cold build needs the package
        apt.ensure(["debootstrap"])
    mirror = find_mirror()
    cache_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tmp-rootfs-", dir=cache_dir()))
    try:
        argv = ["debootstrap", "--variant=minbase", "--include=python3",
                SUITE, str(work), mirror.uri]
        if mirror.keyring and Path(mirror.keyring).is_file():  # Signed-By may hold a key
            argv.insert(1, f"--keyring={mirror.keyring}")
        run(argv, log=log)
        if not (work / "usr" / "bin" / PYTHON).is_file():
            raise ServiceError(f"debootstrap finished without /usr/bin/{PYTHON}; log {log}")
        add_user(work)
        trim(work)
        shutil.rmtree(root, ignore_errors=True)
        work.rename(root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    version = (root / "etc" / "debian_version").read_text().strip()
    _complete(root).write_text(json.dumps({"suite": SUITE, "debian": version,
                                           "mirror": mirror.uri}) + "\n")
    return root, True


# --- parts 2 and 3: dependencies and the wheel ---------------------------------------------


def build_wheel(out: Path, source: Path = REPO_ROOT) -> Path:
    """``pip wheel`` of the project alone (its dependencies come separately)."""
    out.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
         str(source)])
    wheels = sorted(out.glob("zombiewatch-*.whl"))
    if not wheels:
        raise ServiceError(f"pip wheel wrote no zombiewatch wheel into {out}")
    return wheels[-1]


def wheel_hash(wheel: Path) -> str:
    """Hash of the wheel's members (names and bytes), not of the zip: mtimes don't count."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(zf.read(name)).digest())
    return digest.hexdigest()


def _wheel_headers(wheel: Path) -> tuple[Message, str]:
    """The wheel's METADATA headers and its entry_points.txt ("" without one)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        headers = HeaderParser().parsestr(zf.read(meta).decode())
        points = next((n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")),
                      None)
        return headers, zf.read(points).decode() if points else ""


def wheel_metadata(wheel: Path) -> tuple[list[str], dict[str, str]]:
    """The wheel's ``Requires-Dist`` (without extras) and its console scripts."""
    headers, text = _wheel_headers(wheel)
    requires = sorted(r for r in headers.get_all("Requires-Dist") or [] if "extra ==" not in r)
    section = re.search(r"^\[console_scripts\]\n((?:[^\[].*\n?)*)", text, re.M)
    scripts = dict(re.findall(r"^(\S+)\s*=\s*(\S+)", section.group(1), re.M)) if section else {}
    return requires, scripts


def oci_labels(wheel: Path) -> dict[str, str]:
    """The image's ``org.opencontainers.image.*`` labels, from the wheel's metadata (the
    version is the package's, as deploy/Dockerfile's ``VERSION``)."""
    headers, _ = _wheel_headers(wheel)
    prefix = "org.opencontainers.image."
    return {prefix + "title": headers["Name"], prefix + "version": headers["Version"],
            prefix + "description": headers["Summary"],
            prefix + "licenses": headers["License-Expression"],
            prefix + "vendor": headers["Author"]}


def ensure_deps(requires: list[str], log: Path) -> tuple[Path, bool]:
    """The dependencies for CPython 3.11 on glibc, from PyPI, once per requirement set."""
    identity = "\n".join([*requires, *WHEEL_PLATFORMS, *PRUNE])
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    target = cache_dir() / f"deps-{key}"
    if _complete(target).is_file():
        return target, False
    for stale in cache_dir().glob("deps-*"):  # one requirement set is kept
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink()
    work = Path(tempfile.mkdtemp(prefix="tmp-deps-", dir=cache_dir()))
    try:
        platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
        run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", str(work), "--only-binary=:all:", "--implementation", "cp",
             "--python-version", "3.11", "--abi", "cp311", "--abi", "abi3", "--abi", "none",
             *platforms, *requires], log=log)
        for rel in ("bin", *PRUNE):  # bin: scripts with the host's shebang
            shutil.rmtree(work / rel, ignore_errors=True)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _complete(target).write_text("\n".join(requires) + "\n")
    return target, True


def console_script(target: str) -> bytes:
    """What pip would write for ``module:function``, with bookworm's interpreter."""
    module, func = target.split(":")
    return (f"#!/usr/bin/{PYTHON}\nimport sys\nfrom {module} import {func}\n"
            f"if __name__ == '__main__':\n    sys.exit({func}())\n").encode()


# --- the layer and the image tar -----------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    """Every entry under ``root``, parents first, in a stable order (symlinks not followed)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            yield base / name


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = (info.mode | 0o444 | (0o111 if info.isdir() or info.mode & 0o100 else 0)) & 0o7755
    return info


def unpack_wheel(wheel: Path, target: Path) -> None:
    """Unpack a pure wheel and precompile it: the read-only root filesystem takes no .pyc.

    The bytecode is written only by a 3.11 interpreter (the magic number must be bookworm's
    python3.11's); another one leaves the sources, which then compile in memory at start.
    """
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    if sys.version_info[:2] == (3, 11):
        compileall.compile_dir(str(target), ddir=f"/{SITE}", quiet=1)


def write_layer(out: Path, rootfs: Path, deps: Path, wheel: Path) -> str:
    """One layer: rootfs + dependencies + unpacked wheel; returns its ``sha256:`` diff id."""
    _, scripts = wheel_metadata(wheel)
    app = out.with_name(out.name + ".app")
    unpack_wheel(wheel, app)
    try:
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
            for path in _walk(rootfs):
                tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False)
            for source in (deps, app):
                for path in _walk(source):
                    tar.add(path, arcname=f"{SITE}/{path.relative_to(source)}",
                            recursive=False, filter=_root_owned)
            for name, target in sorted(scripts.items()):
                body = console_script(target)
                info = tarfile.TarInfo(f"usr/local/bin/{name}")
                info.size, info.mode, info.mtime = len(body), 0o755, 0
                tar.addfile(_root_owned(info), io.BytesIO(body))
    finally:
        shutil.rmtree(app, ignore_errors=True)
    return "sha256:" + _file_sha256(out)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def image_config(diff_id: str, labels: dict[str, str]) -> dict[str, object]:
    """The image config: non-root numeric user (runAsNonRoot can verify it), entrypoint,
    the OCI labels."""
    return {"architecture": "amd64", "os": "linux",
            "config": {"User": f"{UID}:{GID}", "Env": list(ENV),
                       "Entrypoint": [f"/{ENTRYPOINT}"], "Cmd": ["run"], "WorkingDir": "/",
                       "ExposedPorts": {"8080/tcp": {}},
                       "Labels": dict(labels)},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "zwservices/daemon_image.py"}]}


def write_image(out: Path, layer: Path, diff_id: str, tag: str,
                labels: dict[str, str]) -> None:
    """``docker save`` layout: ``<hex>/layer.tar``, ``<config hex>.json``, ``manifest.json``."""
    config = json.dumps(image_config(diff_id, labels), sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id.split(":", 1)[1] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": [layer_name]}]).encode()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        folder = tarfile.TarInfo(layer_name.split("/")[0])
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        info = tarfile.TarInfo(layer_name)
        info.size, info.mode = layer.stat().st_size, 0o644
        with layer.open("rb") as fh:
            tar.addfile(info, fh)
        for name, body in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o644
            tar.addfile(info, io.BytesIO(body))


# --- the whole build -----------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """The image tar and what this call had to do."""

    tar: Path
    tag: str
    wheel_hash: str
    steps: dict[str, float]  # step -> seconds, only for steps that ran


def source_digest(root: Path = REPO_ROOT) -> str:
    """Hash of what the wheel is built from, so a warm run can skip even ``pip wheel``."""
    digest = hashlib.sha256()
    files = [root / name for name in WHEEL_INPUTS if (root / name).is_file()]
    for folder in (root / name for name in WHEEL_INPUTS if (root / name).is_dir()):
        files += [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def builder_digest() -> str:
    """This module's own hash: a change to how the image is made makes a new tar."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _last_build() -> dict[str, str]:
    try:
        loaded: dict[str, str] = json.loads(last_build_file().read_text())
    except (OSError, ValueError):
        return {}
    return loaded


def ensure(tag: str = TAG, log: Path | None = None) -> Built:
    """Build what is missing and return the image tar (cached by content hash).

    The tar's key is the wheel's content hash (with the rootfs and dependency set); the
    last build also records the hash of the sources it came from, and while those, the tag
    and the tar are unchanged not even the wheel is rebuilt.
    """
    log = log or cache_dir() / "build.log"
    cache_dir().mkdir(parents=True, exist_ok=True)
    sources = source_digest()
    last = _last_build()
    if (last.get("source") == sources and last.get("tag") == tag
            and last.get("builder") == builder_digest()
            and (cache_dir() / last.get("tar", "-")).is_file()
            and _complete(rootfs_dir()).is_file()):
        return Built(cache_dir() / last["tar"], tag, last["wheel"], {})
    steps: dict[str, float] = {}
    started = time.monotonic()
    rootfs, built = ensure_rootfs(log)
    if built:
        steps["rootfs"] = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="wheel-", dir=cache_dir()) as tmp:
        mark = time.monotonic()
        wheel = build_wheel(Path(tmp))
        steps["wheel"] = time.monotonic() - mark
        content = wheel_hash(wheel)
        requires, _ = wheel_metadata(wheel)
        mark = time.monotonic()
        deps, built = ensure_deps(requires, log)
        if built:
            steps["deps"] = time.monotonic() - mark
        identity = "\n".join([content, _complete(rootfs).read_text(), deps.name, tag,
                              builder_digest()])
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        image = cache_dir() / f"zombiewatch-{key}.tar"
        if not image.is_file():
            mark = time.monotonic()
            layer = Path(tmp) / "layer.tar"
            diff_id = write_layer(layer, rootfs, deps, wheel)
            partial = image.with_suffix(".partial")
            write_image(partial, layer, diff_id, tag, oci_labels(wheel))
            for old in cache_dir().glob("zombiewatch-*.tar"):
                old.unlink()
            partial.replace(image)
            steps["image"] = time.monotonic() - mark
    last_build_file().write_text(json.dumps({"source": sources, "tag": tag, "tar": image.name,
                                             "wheel": content, "builder": builder_digest()})
                                 + "\n")
    return Built(image, tag, content, steps)


def import_into(tar: Path, socket: Path, log: Path | None = None) -> None:
    """Import into containerd's ``k8s.io`` namespace, the one the kubelet's CRI uses."""
    run(["ctr", "-a", str(socket), "-n", "k8s.io", "images", "import", str(tar)], log=log)


def smoke_test(tar: Path) -> str:
    """Unpack the image and run ``zombiewatch --help`` in it as the non-root user (chroot).

    Proves the layer alone holds a working interpreter, every dependency and the entrypoint,
    and that nothing needs root; needs root on the machine (as the node does).
    """
    with tempfile.TemporaryDirectory(prefix="smoke-", dir=cache_dir()) as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        with tarfile.open(tar) as outer:
            manifest = json.load(_member(outer, "manifest.json"))
            layer = _member(outer, manifest[0]["Layers"][0])
            with tarfile.open(fileobj=layer, mode="r|") as inner:
                inner.extractall(root, filter="fully_trusted")
        result = subprocess.run(
            ["chroot", f"--userspec={UID}:{GID}", str(root), f"/{ENTRYPOINT}", "--help"],
            env={"PATH": ENV[0].split("=", 1)[1], "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise ServiceError(f"zombiewatch --help failed in the image ({result.returncode}):"
                               f"\n{result.stdout}{result.stderr}")
        return result.stdout


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    handle = tar.extractfile(name)
    if handle is None:
        raise ServiceError(f"image tar has no file {name}")
    return handle


# --- services.py daemon-image --------------------------------------------------------------


def cmd_daemon_image(args: argparse.Namespace) -> None:
    """Build (or find cached) the daemon's image tar; optionally smoke-test and import it."""
    started = time.monotonic()
    built = ensure(args.tag)
    ran = ", ".join(f"{k} {v:.1f}s" for k, v in built.steps.items()) or "cached"
    print(f"{built.tag}: {built.tar} ({built.tar.stat().st_size / 2**20:.0f} MiB, wheel "
          f"{built.wheel_hash[:12]}) in {time.monotonic() - started:.1f}s ({ran})")
    if args.smoke:
        mark = time.monotonic()
        smoke_test(built.tar)
        print(f"smoke test (zombiewatch --help as {UID}:{GID}) ok in "
              f"{time.monotonic() - mark:.1f}s")
    if args.import_to:
        mark = time.monotonic()
        import_into(built.tar, Path(args.import_to))
        print(f"imported into {args.import_to} (k8s.io) in {time.monotonic() - mark:.1f}s")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``daemon-image`` to ``services.py``."""
    cmd = sub.add_parser("daemon-image", help=cmd_daemon_image.__doc__)
    cmd.add_argument("--tag", default=TAG, help=f"image reference (default {TAG})")
    cmd.add_argument("--smoke", action="store_true",
                     help="run `zombiewatch --help` in the unpacked image as the non-root user")
    cmd.add_argument("--import-to", metavar="SOCKET",
                     help="containerd socket to import the image into (namespace k8s.io)")
    cmd.set_defaults(func=cmd_daemon_image)
