"""One source for the version: ``zombiewatch.__version__``. The package metadata reads it;
the few places that cannot (the image tag of deploy/, the Dockerfile's label, the example
overlay, the changelog) are checked against it here, and no other file writes it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from zombiewatch import __version__

ROOT = Path(__file__).resolve().parents[2]
CHECKED = {"src/__init__.py", "deploy/base/kustomization.yaml", "deploy/Dockerfile",
           "deploy/overlays/example/kustomization.yaml", "docs/OPERATIONS.md", "CHANGELOG.md"}
"""The files allowed to write the version, each checked below."""
SKIPPED = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
           ".hypothesis", "build", "dist", "results"}


def text_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT)
        if set(relative.parts) & SKIPPED or relative.parts[0].endswith(".egg-info"):
            continue
        if path.is_file() and path.suffix not in {".pyc", ".tar", ".whl", ".png"}:
            found.append(path)
    return found


def test_pyproject_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "zombiewatch.__version__"}


def test_only_the_checked_files_write_the_version() -> None:
    pattern = re.compile(rf"(?<![\w.]){re.escape(__version__)}(?![\w.])")

    writing = {str(path.relative_to(ROOT)) for path in text_files()
               if pattern.search(path.read_text(errors="replace"))}

    assert writing == CHECKED


def test_the_deployed_image_tag_is_the_version() -> None:
    for name in ("deploy/base/kustomization.yaml", "deploy/overlays/example/kustomization.yaml"):
        (image,) = yaml.safe_load((ROOT / name).read_text())["images"]
        assert image["newTag"] == __version__, name


def test_the_dockerfiles_version_label_is_the_version() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()

    assert re.findall(r"^ARG VERSION=(\S+)$", dockerfile, re.MULTILINE) == [__version__]
    assert 'org.opencontainers.image.version="${VERSION}"' in dockerfile


def test_the_changelog_has_the_version_and_an_unreleased_section() -> None:
    headings = re.findall(r"^## \[([^]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)

    assert headings[:2] == ["Unreleased", __version__]
