"""The image builder's pure parts: the mirror it derives, the tar it writes, the cache key."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from zombiewatch import __version__
from zwservices import daemon_image
from zwservices.procs import ServiceError

DIST_INFO = f"zombiewatch-{__version__}.dist-info"

DEB822 = """\
Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/security.gpg

Types: deb
# a comment line inside the stanza
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def _apt(tmp_path: Path, sources: str = "", legacy: str = "") -> Path:
    (tmp_path / "sources.list.d").mkdir()
    if sources:
        (tmp_path / "sources.list.d" / "debian.sources").write_text(sources)
    if legacy:
        (tmp_path / "sources.list").write_text(legacy)
    return tmp_path


def test_the_mirror_is_the_deb822_entry_serving_the_suite_itself(tmp_path: Path) -> None:
    mirror = daemon_image.find_mirror(_apt(tmp_path, DEB822))

    assert mirror == daemon_image.Mirror(
        "http://mirror.invalid/debian", "/usr/share/keyrings/debian-archive-keyring.gpg")


def test_disabled_and_source_only_entries_are_skipped(tmp_path: Path) -> None:
    sources = ("Types: deb-src\nURIs: http://a.invalid/debian\nSuites: bookworm\n\n"
               "Types: deb\nEnabled: no\nURIs: http://b.invalid/debian\nSuites: bookworm\n\n"
               "Types: deb\nURIs: http://c.invalid/debian\nSuites: bookworm\n")

    assert daemon_image.find_mirror(_apt(tmp_path, sources)).uri == "http://c.invalid/debian"


def test_one_line_entries_count_with_their_signed_by(tmp_path: Path) -> None:
    legacy = ("deb http://x.invalid/debian bookworm-updates main\n"
              "deb [arch=amd64 signed-by=/k.gpg] http://x.invalid/debian bookworm main\n")

    mirror = daemon_image.find_mirror(_apt(tmp_path, legacy=legacy))

    assert mirror == daemon_image.Mirror("http://x.invalid/debian", "/k.gpg")


def test_no_source_for_the_suite_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="bookworm"):
        daemon_image.find_mirror(_apt(tmp_path, DEB822.replace("bookworm", "trixie")))


def _wheel(path: Path, *, body: bytes = b"VALUE = 1\n", stamp: tuple[int, ...] = (2020, 1, 1,
           0, 0, 0)) -> Path:
    meta = (f"Metadata-Version: 2.4\nName: zombiewatch\nVersion: {__version__}\n"
            "Summary: Finds dead Jobs.\nAuthor: the zombiewatch authors\n"
            "License-Expression: MIT\n"
            "Requires-Dist: kubernetes<38,>=33\nRequires-Dist: PyYAML<7,>=6\n"
            "Requires-Dist: pytest<10,>=8; extra == \"dev\"\n")
    entries = {"zombiewatch/__init__.py": body,
               f"{DIST_INFO}/METADATA": meta.encode(),
               f"{DIST_INFO}/entry_points.txt":
                   b"[console_scripts]\nzombiewatch = zombiewatch.app.cli:main\n"}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, stamp), data)  # type: ignore[arg-type]
    return path


def test_the_wheel_hash_follows_content_not_zip_timestamps(tmp_path: Path) -> None:
    one = daemon_image.wheel_hash(_wheel(tmp_path / "a.whl"))
    later = daemon_image.wheel_hash(_wheel(tmp_path / "b.whl", stamp=(2024, 5, 5, 1, 2, 4)))
    changed = daemon_image.wheel_hash(_wheel(tmp_path / "c.whl", body=b"VALUE = 2\n"))

    assert one == later
    assert changed != one


def _read_image(path: Path) -> tuple[Any, Any, tarfile.TarFile, bytes]:
    """manifest entry, config, the layer (opened) and its bytes."""
    with tarfile.open(path) as outer:
        def member(name: str) -> bytes:
            handle = outer.extractfile(name)
            assert handle is not None, name
            return handle.read()
        manifest = json.loads(member("manifest.json"))[0]
        config = json.loads(member(manifest["Config"]))
        layer_bytes = member(manifest["Layers"][0])
    return manifest, config, tarfile.open(fileobj=io.BytesIO(layer_bytes)), layer_bytes


def test_the_image_is_a_docker_save_tar_of_one_layer_run_as_the_deployments_user(
    tmp_path: Path
) -> None:
    rootfs, deps = tmp_path / "rootfs", tmp_path / "deps"
    (rootfs / "usr" / "bin").mkdir(parents=True)
    (rootfs / "usr" / "bin" / "python3.11").write_bytes(b"\x7fELF")
    (deps / "yaml").mkdir(parents=True)
    (deps / "yaml" / "__init__.py").write_text("")
    layer = tmp_path / "layer.tar"
    diff_id = daemon_image.write_layer(layer, rootfs, deps, _wheel(tmp_path / "z.whl"))
    image = tmp_path / "image.tar"

    daemon_image.write_image(image, layer, diff_id, "localhost/zombiewatch:dev",
                             daemon_image.oci_labels(tmp_path / "z.whl"))

    manifest, config, members, layer_bytes = _read_image(image)
    assert manifest["RepoTags"] == ["localhost/zombiewatch:dev"]
    assert config["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}
    assert diff_id == "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    run = config["config"]
    assert run["User"] == "65532:65532"
    assert run["Entrypoint"] == ["/usr/local/bin/zombiewatch"]
    assert run["Cmd"] == ["run"]
    assert "PYTHONDONTWRITEBYTECODE=1" in run["Env"]
    assert run["Labels"] == {
        "org.opencontainers.image.title": "zombiewatch",
        "org.opencontainers.image.version": __version__,
        "org.opencontainers.image.description": "Finds dead Jobs.",
        "org.opencontainers.image.licenses": "MIT",
        "org.opencontainers.image.vendor": "the zombiewatch authors"}
    site = daemon_image.SITE
    names = set(members.getnames())
    assert {"usr/bin/python3.11", f"{site}/yaml/__init__.py", f"{site}/zombiewatch/__init__.py",
            f"{site}/{DIST_INFO}/METADATA", "usr/local/bin/zombiewatch"} <= names
    script = members.getmember("usr/local/bin/zombiewatch")
    assert (script.uid, script.gid, script.mode) == (0, 0, 0o755)
    handle = members.extractfile(script)
    assert handle is not None
    body = handle.read().decode()
    assert body.startswith("#!/usr/bin/python3.11\n")
    assert "from zombiewatch.app.cli import main" in body
    assert members.getmember(f"{site}/yaml/__init__.py").uid == 0
    if sys.version_info[:2] == (3, 11):  # bytecode only for bookworm's Python
        assert f"{site}/zombiewatch/__pycache__/__init__.cpython-311.pyc" in names


def test_only_runtime_requirements_go_into_the_image(tmp_path: Path) -> None:
    requires, scripts = daemon_image.wheel_metadata(_wheel(tmp_path / "z.whl"))

    assert requires == ["PyYAML<7,>=6", "kubernetes<38,>=33"]
    assert scripts == {"zombiewatch": "zombiewatch.app.cli:main"}


def test_the_source_digest_follows_the_package_and_ignores_bytecode(tmp_path: Path) -> None:
    (tmp_path / "src" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "src" / "cli.py").write_text("A = 1\n")
    before = daemon_image.source_digest(tmp_path)
    (tmp_path / "src" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("")

    assert daemon_image.source_digest(tmp_path) == before
    (tmp_path / "src" / "cli.py").write_text("A = 2\n")
    assert daemon_image.source_digest(tmp_path) != before
