"""Build kube-apiserver from Debian's ``kubernetes`` source package (see docs/SERVICES.md).

Nothing ships the binary in a reachable registry, but Debian's source package vendors every
Go dependency, so it builds offline with Debian's Go 1.19.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import paths
from .procs import ServiceError, run

SOURCE_PACKAGE = "kubernetes"
VENDOR_REPLACEMENTS = ("github.com/modern-go/reflect2", "github.com/json-iterator/go")
GOCODE = Path("/usr/share/gocode/src")


def go_binary() -> Path:
    """Debian's Go, by full path: another Go (e.g. /usr/local/go) may come first on PATH."""
    listing = subprocess.run(["dpkg", "-L", "golang-go"], check=True, capture_output=True,
                             text=True).stdout.split()
    candidates = [Path(p).resolve() for p in listing if p.endswith("/bin/go")]
    found = [c for c in candidates if c.is_file()]
    if not found:
        raise ServiceError("golang-go is installed but lists no bin/go")
    return found[0]


def _os_codename() -> str:
    """The distribution codename, to keep only this release's entries as deb-src."""
    text = Path("/etc/os-release").read_text()
    match = re.search(r"^VERSION_CODENAME=\"?([^\"\n]+)", text, re.M)
    return match.group(1) if match else ""


def _deb822_blocks(text: str) -> list[str]:
    """Split a .sources file into its stanzas."""
    return [b for b in re.split(r"\n\s*\n", text) if b.strip()]


def _as_deb_src(block: str, codename: str) -> str | None:
    """Turn a ``Types: deb`` stanza of this release into ``Types: deb-src`` (else None)."""
    fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", block, re.M))
    if "deb" not in fields.get("Types", "").split() or fields.get("Enabled") == "no":
        return None
    if codename and not any(s.startswith(codename) for s in fields.get("Suites", "").split()):
        return None
    return re.sub(r"^Types:.*$", "Types: deb-src", block, flags=re.M)


def _legacy_lines(text: str, codename: str) -> list[str]:
    """Same for one-line ``deb URI suite comps`` entries in sources.list."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "deb" and (not codename or codename in line):
            out.append("deb-src" + line.strip()[3:])
    return out


def write_deb_src_sources(target: Path) -> None:
    """Derive deb-src entries from the machine's own apt sources (never a hard-coded host)."""
    codename = _os_codename()
    stanzas: list[str] = []
    for src in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        stanzas += [s for b in _deb822_blocks(src.read_text()) if (s := _as_deb_src(b, codename))]
    legacy: list[str] = []
    for src in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if src.is_file():
            legacy += _legacy_lines(src.read_text(), codename)
    if not stanzas and not legacy:
        raise ServiceError("no Debian apt sources found to derive deb-src entries from")
    target.mkdir(parents=True, exist_ok=True)
    (target / "zombiewatch-src.sources").write_text("\n\n".join(stanzas) + "\n")
    if legacy:
        (target / "zombiewatch-src.list").write_text("\n".join(legacy) + "\n")


def fetch_source(work: Path, log: Path) -> Path:
    """``apt-get source`` with a private sources dir and lists dir; /etc/apt stays untouched."""
    apt_dir = work / "apt"
    write_deb_src_sources(apt_dir / "sources")
    (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    opts = ["-o", "Dir::Etc::SourceList=/dev/null",
            "-o", f"Dir::Etc::SourceParts={apt_dir / 'sources'}",
            "-o", f"Dir::State::Lists={apt_dir / 'lists'}"]
    run(["apt-get", *opts, "update", "-qq"], log=log)
    run(["apt-get", *opts, "source", "-qq", SOURCE_PACKAGE], cwd=work, log=log)
    trees = [p for p in work.iterdir() if p.is_dir() and p.name.startswith(SOURCE_PACKAGE + "-")]
    if not trees:
        raise ServiceError(f"apt-get source produced no {SOURCE_PACKAGE}-* tree in {work}")
    return trees[0]


def replace_vendored(tree: Path) -> None:
    """Swap vendored reflect2 1.0.1 / json-iterator for Debian's: 1.0.1 crashes on Go >= 1.18."""
    for pkg in VENDOR_REPLACEMENTS:
        vendor, system = tree / "vendor" / pkg, GOCODE / pkg
        if not system.is_dir():
            raise ServiceError(f"{system} missing (install its golang-github-*-dev package)")
        for old in vendor.iterdir():
            if old.suffix in (".go", ".s") and not old.name.endswith("_test.go"):
                old.unlink()
        for new in system.iterdir():
            if new.suffix in (".go", ".s") and not new.name.endswith("_test.go"):
                shutil.copyfile(new, vendor / new.name)


def compile_apiserver(tree: Path, log: Path) -> Path:
    """``make WHAT=cmd/kube-apiserver`` offline with Debian's Go first on PATH."""
    gopath = tree / ".go"
    link = gopath / "src" / "k8s.io" / "kubernetes"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(tree)
    go = go_binary()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(PATH=f"{go.parent}:{env.get('PATH', '/usr/bin:/bin')}", GOPATH=str(gopath),
               CGO_ENABLED="0", GOPROXY="off", GOTOOLCHAIN="local",
               GOCACHE=str(paths.cache_dir() / "go-build"),
               KUBE_GIT_VERSION=paths.KUBE_VERSION, KUBE_GIT_TREE_STATE="clean")
    run(["make", "WHAT=cmd/kube-apiserver"], cwd=link, env=env, log=log)
    built = tree / "_output" / "bin" / "kube-apiserver"
    if not built.is_file():
        found = list((tree / "_output").rglob("kube-apiserver"))
        if not found:
            raise ServiceError(f"build finished but no kube-apiserver binary; log {log}")
        built = found[0]
    return built


def ensure_apiserver(log: Path) -> bool:
    """Build and cache kube-apiserver unless cached; returns True when it built."""
    target = paths.kube_apiserver_bin()
    if target.is_file() and os.access(target, os.X_OK):
        return False
    paths.build_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kube-", dir=paths.build_dir()))
    try:
        tree = fetch_source(work, log)
        replace_vendored(tree)
        built = compile_apiserver(tree, log)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(built, tmp)
        tmp.chmod(0o755)
        tmp.replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return True
