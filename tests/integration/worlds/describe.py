"""``kubectl describe job``, as an operator would run it: the node's kubectl (built with the
node's binaries) against whichever API server the kubeconfig names."""

from __future__ import annotations

import subprocess
from pathlib import Path

from zwservices import paths


def describe_job(kubeconfig: Path, namespace: str, name: str) -> str:
    """The output of ``kubectl describe job <name>`` (its ``Events:`` table included)."""
    kubectl = paths.node_bin_dir() / "kubectl"
    out = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", "-n", namespace, "describe", "job", name],
        check=True, capture_output=True, text=True, timeout=60)
    return out.stdout


def event_rows(described: str) -> list[str]:
    """The lines of the ``Events:`` table (after its header), stripped."""
    _, _, table = described.partition("\nEvents:")
    return [line.strip() for line in table.splitlines()[3:] if line.strip()]
