"""The env file: what ``up`` started and everything needed to restart it identically.

Values are shell-quoted, so ``set -a; . services.env`` works in a shell too.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("etcd", "apiserver", "kafka")


@dataclass
class Proc:
    """One managed process: its argv is kept so a restart uses the same ports and flags."""

    name: str
    argv: list[str]
    log: Path
    pid: int = 0
    cwd: str = ""
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Stack:
    """A running (or once running) set of services in one run dir."""

    run_dir: Path
    values: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def env_file(self) -> Path:
        """Always inside the run dir, so removing the run dir forgets the stack."""
        return self.run_dir / "services.env"

    @property
    def marker(self) -> str:
        """Every managed process's argv contains the run dir: the PID-reuse guard."""
        return str(self.run_dir)

    def save(self) -> None:
        """Atomically rewrite the env file (a reader never sees half a file)."""
        lines = [f"{key}={shlex.quote(val)}" for key, val in sorted(self.values.items())]
        for proc in self.procs.values():
            key = proc.name.upper()
            lines += [f"{key}_PID={proc.pid}", f"{key}_LOG={shlex.quote(str(proc.log))}",
                      f"{key}_CMD={shlex.quote(shlex.join(proc.argv))}",
                      f"{key}_CWD={shlex.quote(proc.cwd)}",
                      f"{key}_ENV={shlex.quote(json.dumps(proc.env, sort_keys=True))}"]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.env_file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(self.env_file)


def parse_env_file(path: Path) -> dict[str, str]:
    """Read KEY=shell-quoted-value lines back."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, raw = line.split("=", 1)
            parts = shlex.split(raw)
            out[key.strip()] = parts[0] if parts else ""
    return out


def load(env_file: Path) -> Stack:
    """Rebuild a Stack from its env file (for ``down``, ``status`` and test reuse)."""
    raw = parse_env_file(env_file)
    stack = Stack(run_dir=Path(raw.get("ZW_RUN_DIR", str(env_file.parent))))
    for name in SERVICES:
        key = name.upper()
        if f"{key}_CMD" not in raw:
            continue
        stack.procs[name] = Proc(
            name=name, argv=shlex.split(raw.pop(f"{key}_CMD")), log=Path(raw.pop(f"{key}_LOG")),
            pid=int(raw.pop(f"{key}_PID") or 0), cwd=raw.pop(f"{key}_CWD", ""),
            env=json.loads(raw.pop(f"{key}_ENV", "{}") or "{}"))
    stack.values = raw
    return stack
