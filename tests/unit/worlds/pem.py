"""Real PEM files for the settings tests: a self-signed certificate and its key (openssl)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PemFiles:
    """A certificate that serves as CA bundle and client certificate, its key, and junk."""

    cert: Path
    key: Path
    junk: Path
    """A file that exists but is no PEM."""


def write_pem_files(directory: Path) -> PemFiles:
    """One EC key and a self-signed certificate for it, written to ``directory``."""
    cert, key, junk = directory / "cert.pem", directory / "key.pem", directory / "junk.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=zombiewatch-test",
                    "-days", "2", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    junk.write_text("not a certificate\n")
    return PemFiles(cert=cert, key=key, junk=junk)
