"""Build the client-go comparison program (``benchmarks/clientgo``), cached by its sources.

The modules come from the Go module proxy the machine's Go is configured for (``go env
GOPROXY``; no host is named here), at the versions ``go.mod``/``go.sum`` pin
(``-mod=readonly``: a build never changes them). The binary lands in
``~/.cache/zombiewatch/clientgo/<key>/clientgo``, where the key is a hash of go.mod, go.sum
and main.go, so an edit rebuilds and an unchanged tree reuses the binary; the Go module
and build caches live beside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from zwservices import paths

SOURCE = Path(__file__).resolve().parent / "clientgo"
SOURCES = ("go.mod", "go.sum", "main.go")


def source_key(source: Path = SOURCE) -> str:
    """A hash of the program's sources (each file's name and bytes), 16 hex digits."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (source / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    return paths.cache_dir() / "clientgo"


def go_env(root: Path) -> dict[str, str]:
    """The machine's Go as configured (its GOPROXY), with caches of our own."""
    return {
        **os.environ,
        "GOMODCACHE": str(root / "go" / "mod"),
        "GOCACHE": str(root / "go" / "build-cache"),
        "GOPATH": str(root / "go" / "path"),
        "GOFLAGS": "-mod=readonly -buildvcs=false",
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
    }


def ensure(source: Path = SOURCE) -> Path:
    """The built program (building it first when this source has no binary yet)."""
    root = cache_root()
    binary = root / source_key(source) / "clientgo"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("no `go` on PATH: the client-go comparison needs the machine's Go")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    proc = subprocess.run(
        [go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(partial), "."],
        cwd=source, env=go_env(root), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-20:])
        raise RuntimeError(f"go build of {source} failed ({proc.returncode}):\n{tail}")
    partial.rename(binary)
    return binary
