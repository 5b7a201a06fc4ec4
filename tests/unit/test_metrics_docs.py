"""The README's metrics table is what ``/metrics`` exports: every series family the daemon's
registry declares is documented with its labels, and nothing documented is missing."""

from __future__ import annotations

import platform
import re
from pathlib import Path

from tests.unit.worlds.exported import daemon_metrics, exported_series
from zombiewatch import __version__

README = Path(__file__).resolve().parents[2] / "README.md"
NAME = re.compile(r"`([a-z_][a-z0-9_]*)`")
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created", "_info")


def documented() -> dict[str, set[str]]:
    """Series name -> labels, from the rows of the README's "## Metrics" table."""
    section = README.read_text().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) != 3:
            continue
        labels = {label.strip() for label in cells[1].split(",") if label.strip()}
        rows.update(dict.fromkeys(NAME.findall(cells[0]), labels))
    return rows


def family_of(sample: str, families: set[str]) -> str:
    """The documented name a sample belongs to (``x_bucket`` -> ``x``, ``x_total`` itself)."""
    if sample in families:
        return sample
    for suffix in SUFFIXES:
        if sample.endswith(suffix) and sample.removesuffix(suffix) in families:
            return sample.removesuffix(suffix)
    return sample


def test_every_exported_series_is_in_the_readme_and_nothing_else() -> None:
    exported = exported_series(daemon_metrics())
    # A ``_created`` gauge belongs to its counter or histogram (the README says so once).
    families = {name for name in exported
                if not (name.endswith("_created") and (
                    name.removesuffix("_created") + "_total" in exported
                    or exported.get(name.removesuffix("_created")) == "histogram"))}

    docs = documented()

    assert set(docs) - families == set(), "documented but not exported"
    assert families - set(docs) == set(), "exported but not in the README"


def test_the_readme_names_each_series_labels() -> None:
    metrics = daemon_metrics()
    docs = documented()
    seen: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            name = family_of(sample.name, set(docs))
            seen.setdefault(name, set()).update(set(sample.labels) - {"le"})

    wrong = {name: (docs[name], labels) for name, labels in seen.items()
             if name in docs and docs[name] != labels}

    assert wrong == {}
    assert seen.keys() >= docs.keys(), "a documented series showed no sample"


def test_build_info_says_which_version_and_python_run() -> None:
    metrics = daemon_metrics()

    value = metrics.registry.get_sample_value("zombiewatch_build_info", {
        "version": __version__, "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation()})

    assert value == 1.0


def test_the_process_and_python_collectors_are_on_the_daemons_registry() -> None:
    exported = exported_series(daemon_metrics())

    assert exported["process_cpu_seconds_total"] == "counter"
    assert exported["process_resident_memory_bytes"] == "gauge"
    assert exported["python_gc_collections_total"] == "counter"
    assert exported["python_info"] == "gauge"
