"""Build Kubernetes v1.37 (apiserver, controller-manager, scheduler, kubelet, kubectl) and etcd.

Everything comes from the Go module proxy the machine's Go is configured for (``go env
GOPROXY``; never a hard-coded host). ``k8s.io/kubernetes`` is published as a module, but its
go.mod points the ``k8s.io/*`` staging modules at ``./staging``, which the module zip lacks:
the copy's go.mod is rewritten to the published ``v0.X`` versions of those modules.

The binaries land in ``paths.node_bin_dir()``; their presence skips the build. The Go caches
stay in the cache too, so a rebuild after a version bump reuses them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from . import paths
from .procs import ServiceError

KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
                 "kubectl")
ETCD_VERSION = "v3.7.3"
UNPUBLISHED_STAGING = ("k8s.io/sample-cli-plugin", "k8s.io/sample-controller")


def _go_env() -> dict[str, str]:
    """Private caches under the node cache; a static, reproducible, toolchain-local build."""
    root = paths.node_cache_dir() / "go"
    return {
        **os.environ,
        "GOMODCACHE": str(root / "mod"),
        "GOCACHE": str(root / "build-cache"),
        "GOPATH": str(root / "path"),
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
    }


def _run(argv: list[str], log: Path, *, cwd: Path | None = None) -> str:
    """Run a build step, appending its output to ``log``; raise with the tail on failure."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.run(argv, cwd=cwd, env=_go_env(), capture_output=True, text=True,
                              check=False)
        out.write(proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-30:])
        raise ServiceError(f"{argv[0]} {argv[1]} failed ({proc.returncode}):\n{tail}")
    return proc.stdout


def _rewrite_go_mod(go_mod: Path, staging_version: str) -> None:
    """Point every ``./staging`` replace at the published module of the same release."""
    text = go_mod.read_text()
    for module in UNPUBLISHED_STAGING:
        text = re.sub(rf"^\s*{re.escape(module)} => \./staging/\S+\s*$\n", "", text, flags=re.M)
        text = re.sub(rf"^\s*{re.escape(module)} v\S+\s*$\n", "", text, flags=re.M)
    text = re.sub(r"(k8s\.io/[\w.-]+) => \./staging/src/k8s\.io/[\w.-]+",
                  rf"\1 => \1 {staging_version}", text)
    go_mod.write_text(text)


def _version_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor,
              "gitTreeState": "clean", "buildDate": stamp}
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


def build_kubernetes(log: Path, version: str = paths.NODE_KUBE_VERSION) -> None:
    """Download the module, rewrite its go.mod, build the five binaries into the cache."""
    info = json.loads(_run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
                           log))
    src = paths.node_cache_dir() / "src" / f"kubernetes-{version}"
    shutil.rmtree(src, ignore_errors=True)
    src.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(info["Dir"], src)
    subprocess.run(["chmod", "-R", "u+w", str(src)], check=True)
    for name in ("go.work", "go.work.sum"):
        (src / name).unlink(missing_ok=True)
    shutil.rmtree(src / "vendor", ignore_errors=True)
    staging_version = "v0." + version.lstrip("v").split(".", 1)[1]
    _rewrite_go_mod(src / "go.mod", staging_version)
    out = paths.node_bin_dir()
    out.mkdir(parents=True, exist_ok=True)
    _run(["go", "build", "-trimpath", "-tags", "selinux,notest,grpcnotrace",
          "-ldflags", _version_ldflags(version), "-o", str(out) + "/",
          *[f"./cmd/{name}" for name in KUBE_BINARIES]], log, cwd=src)
    # The pause image is compiled from this tree's C source, so keep just that file.
    pause_src = src / "build" / "pause" / "linux" / "pause.c"
    shutil.copy2(pause_src, paths.node_cache_dir() / "pause.c")
    shutil.rmtree(src, ignore_errors=True)


def build_etcd(log: Path, version: str = ETCD_VERSION) -> None:
    """etcd's server module has relative replaces: build it as a scratch module's dependency."""
    scratch = paths.node_cache_dir() / "src" / "etcd-build"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    (scratch / "go.mod").write_text("module zombiewatch.local/etcdbuild\n\ngo 1.24\n")
    (scratch / "tools.go").write_text(
        "//go:build tools\n\npackage tools\n\nimport _ \"go.etcd.io/etcd/server/v3\"\n")
    _run(["go", "get", f"go.etcd.io/etcd/server/v3@{version}"], log, cwd=scratch)
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o",
          str(paths.node_bin_dir() / "etcd"), "go.etcd.io/etcd/server/v3"], log, cwd=scratch)
    shutil.rmtree(scratch, ignore_errors=True)


def missing_binaries() -> list[str]:
    """Which cached binaries are absent (empty: nothing to build)."""
    names = [*KUBE_BINARIES, "etcd"]
    missing = [n for n in names if not (paths.node_bin_dir() / n).is_file()]
    if not (paths.node_cache_dir() / "pause.c").is_file() and "kube-apiserver" not in missing:
        missing.append("kube-apiserver")  # pause.c comes with the Kubernetes build
    return missing


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time per cache: a second ``prepare`` waits, then finds the binaries."""
    paths.node_cache_dir().mkdir(parents=True, exist_ok=True)
    with (paths.node_cache_dir() / "build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure(log: Path) -> bool:
    """Build what is missing; True when something was built."""
    if not missing_binaries():
        return False
    with _build_lock():
        missing = missing_binaries()
        if not missing:
            return False
        if shutil.which("go") is None:
            raise ServiceError("no `go` on PATH: building Kubernetes needs the machine's Go")
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        if "etcd" in missing:
            build_etcd(log)
        if set(missing) & set(KUBE_BINARIES):
            build_kubernetes(log)
        with log.open("a") as out:
            out.write(f"built {missing} in {time.monotonic() - started:.0f}s\n")
    return True
