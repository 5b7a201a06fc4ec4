"""``make ops-check``: the alerting rules in deploy/monitoring/ pass ``promtool``.

``promtool check rules`` validates the rules of the PrometheusRule's ``spec``
(the operator's object wraps a plain rules file), and ``promtool test rules``
runs the alert unit tests in ``tests/ops/`` against them. promtool comes from
Debian's ``prometheus`` package, installed only when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULE = ROOT / "deploy" / "monitoring" / "prometheusrule.yaml"
TESTS = sorted((ROOT / "tests" / "ops").glob("*.test.yaml"))
RULES_FILE = "zombiewatch-rules.yaml"
"""The name the alert tests' ``rule_files`` refer to."""

APT_INSTALL = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y",
               "--no-install-recommends", "prometheus"]


def promtool() -> str:
    """The promtool binary; installs Debian's ``prometheus`` package when it is missing."""
    found = shutil.which("promtool")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("ops-check: promtool missing, installing Debian's prometheus package", flush=True)
    if subprocess.run(APT_INSTALL, env=env, check=False).returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-qq"],
                       env=env, check=True)
        subprocess.run(APT_INSTALL, env=env, check=True)
    found = shutil.which("promtool")
    if not found:
        raise SystemExit("ops-check: the prometheus package installed no promtool")
    return found


def rules_of(manifest: Path) -> dict[str, object]:
    """The plain rules file inside a ``monitoring.coreos.com/v1`` PrometheusRule."""
    body = yaml.safe_load(manifest.read_text())
    if body.get("kind") != "PrometheusRule" or "groups" not in body.get("spec", {}):
        raise SystemExit(f"ops-check: {manifest} is not a PrometheusRule with spec.groups")
    return {"groups": body["spec"]["groups"]}


def main() -> int:
    if not TESTS:
        raise SystemExit("ops-check: no alert tests in tests/ops/")
    tool = promtool()
    with tempfile.TemporaryDirectory(prefix="zw-ops-check-") as scratch:
        folder = Path(scratch)
        (folder / RULES_FILE).write_text(yaml.safe_dump(rules_of(RULE), sort_keys=False))
        for test in TESTS:
            shutil.copy(test, folder / test.name)
        commands = [[tool, "check", "rules", RULES_FILE],
                    [tool, "test", "rules", *(t.name for t in TESTS)]]
        for command in commands:
            print("ops-check:", " ".join([Path(command[0]).name, *command[1:]]), flush=True)
            if subprocess.run(command, cwd=folder, check=False).returncode != 0:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
