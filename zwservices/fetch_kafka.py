"""Fetch Apache Kafka's broker jars from Maven Central with Maven (no tarball download).

The choice (flavor and version) is written to ``kafka.json`` in the cache so ``up`` can
start the broker without any network access.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .procs import ServiceError

LOG4J2 = "2.24.3"
SLF4J2 = "2.0.17"
RELOAD4J = "1.7.36"
NOIDA = "noida-db==0.2.3"
NETWORK_HINTS = ("Could not transfer", "UnknownHost", "Connection refused", "timed out",
                 "Network is unreachable", "No route to host", "Connect to")


@dataclass(frozen=True)
class KafkaChoice:
    """Which broker ``up`` starts: Apache Kafka jars, or the noida-db fallback binary."""

    flavor: str  # "apache" or "noida"
    version: str
    libs: Path

    def to_json(self) -> str:
        """Serialized form kept in the cache."""
        return json.dumps({"flavor": self.flavor, "version": self.version,
                           "libs": str(self.libs)})


def load_choice() -> KafkaChoice | None:
    """What ``prepare`` last chose, if it still exists on disk."""
    try:
        raw = json.loads(paths.kafka_choice_file().read_text())
    except (OSError, ValueError):
        return None
    choice = KafkaChoice(str(raw["flavor"]), str(raw["version"]), Path(raw["libs"]))
    return choice if choice.libs.exists() else None


def _dep(group: str, artifact: str, version: str) -> str:
    """One <dependency> element."""
    return (f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>")


def pom_for(version: str) -> str:
    """A minimal pom whose runtime closure is the broker plus a logging backend.

    Kafka 4 logs through log4j2; 3.x through reload4j (log4j 1 API).
    """
    deps = [_dep("org.apache.kafka", "kafka_2.13", version)]
    if int(version.split(".", maxsplit=1)[0]) >= 4:
        deps += [_dep("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J2),
                 _dep("org.apache.logging.log4j", "log4j-core", LOG4J2),
                 _dep("org.slf4j", "slf4j-api", SLF4J2)]
    else:
        deps += [_dep("org.slf4j", "slf4j-reload4j", RELOAD4J)]
    return ('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0'
            "</modelVersion><groupId>local.zombiewatch</groupId><artifactId>kafka-broker"
            "</artifactId><version>1</version><packaging>pom</packaging><dependencies>"
            + "".join(deps) + "</dependencies></project>\n")


def _copy_dependencies(version: str, libs: Path) -> str:
    """Run Maven; returns '' on success or its output (for the unreachable check)."""
    with tempfile.TemporaryDirectory(prefix="kafka-pom-") as tmp:
        (Path(tmp) / "pom.xml").write_text(pom_for(version))
        result = subprocess.run(
            ["mvn", "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={libs}"], cwd=tmp, check=False, capture_output=True, text=True)
    return "" if result.returncode == 0 else (result.stdout + result.stderr)[-4000:]


def fetch_apache(version: str) -> KafkaChoice:
    """Jars into ``kafka-<version>/libs``; a ``.complete`` marker makes it idempotent."""
    home = paths.kafka_home(version)
    libs = home / "libs"
    if (home / ".complete").is_file():
        return KafkaChoice("apache", version, libs)
    shutil.rmtree(libs, ignore_errors=True)
    libs.mkdir(parents=True)
    output = _copy_dependencies(version, libs)
    if output:
        unreachable = any(hint in output for hint in NETWORK_HINTS)
        raise MavenUnreachableError(output) if unreachable else ServiceError(
            f"maven could not fetch kafka_2.13:{version}:\n{output}")
    (home / ".complete").write_text(version + "\n")
    return KafkaChoice("apache", version, libs)


class MavenUnreachableError(ServiceError):
    """Maven Central could not be reached at all: the only case the fallback is allowed."""


def install_noida() -> KafkaChoice:
    """Fallback broker from PyPI into the running interpreter's environment."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", NOIDA], check=True)
    import importlib.util  # noqa: PLC0415 - only needed on this rare path

    spec = importlib.util.find_spec("noida_db")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("noida-db installed but its package was not found")
    binary = Path(next(iter(spec.submodule_search_locations))) / "noida-db"
    return KafkaChoice("noida", NOIDA.split("==")[1], binary)


def ensure(version: str | None = None) -> KafkaChoice:
    """Fetch the chosen Apache Kafka (default DEFAULT_KAFKA_VERSION) and record the choice."""
    version = version or os.environ.get("ZOMBIEWATCH_KAFKA_VERSION", paths.DEFAULT_KAFKA_VERSION)
    try:
        choice = fetch_apache(version)
    except MavenUnreachableError as exc:
        banner = "!" * 78
        print(f"{banner}\nWARNING: Maven Central unreachable; FALLING BACK to {NOIDA}, a "
              f"Kafka-protocol broker that is NOT Apache Kafka.\n{banner}\n{exc}",
              file=sys.stderr, flush=True)
        choice = install_noida()
    paths.kafka_choice_file().parent.mkdir(parents=True, exist_ok=True)
    paths.kafka_choice_file().write_text(choice.to_json())
    return choice
