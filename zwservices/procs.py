"""Process plumbing: spawn in an own process group, stop by PID, free ports, log tails.

Everything is PID based (never by name) so a developer's other processes are never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1

# Popen objects of children we started, so they are reaped (no zombies that look alive).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ServiceError(RuntimeError):
    """A service did not start or stop; the message carries the reason and the log tail."""


def _set_pdeathsig() -> None:
    """Runs in the child: die with SIGKILL when the parent thread dies (interrupted runs)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv: Sequence[str], log: Path, *, tie_to_parent: bool,
          env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
    """Start ``argv`` in its own session, appending output to ``log``; return its PID.

    ``tie_to_parent`` uses PR_SET_PDEATHSIG, which fires when the *thread* that forked
    exits, so it is only applied from the main thread (a pool thread may exit early).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    tie = tie_to_parent and threading.current_thread() is threading.main_thread()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, cwd=cwd,
            preexec_fn=_set_pdeathsig if tie else None,  # noqa: PLW1509 - only prctl
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def pid_alive(pid: int | None) -> bool:
    """True while ``pid`` runs; a zombie counts as dead (and our own zombies are reaped)."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def cmdline_has(pid: int, marker: str) -> bool:
    """Guards against PID reuse: only signal a process whose argv mentions our run dir."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return argv_names(raw, marker)


def argv_names(raw: bytes, marker: str) -> bool:
    """``marker`` (a run dir) stands in the NUL-separated ``raw`` argv as a whole path: as an
    argument of its own, a prefix of a path below it, or after ``=`` in a flag. A bare
    substring test would let ``…/node-pytest-1778`` claim the processes of
    ``…/node-pytest-17781`` (another test run's node) and stop them."""
    return re.search(re.escape(marker.encode()) + rb"(?=/|\x00|$)", raw) is not None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the whole group (the service may have helpers), falling back to the PID."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_dead(pid: int, timeout: float) -> bool:
    """Poll until ``pid`` is gone; True if it went within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _CHILDREN.pop(pid, None)
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def stop_pid(pid: int | None, *, marker: str, timeout: float = 15.0, hard: bool = False) -> None:
    """SIGTERM (or SIGKILL when ``hard``) the group, then SIGKILL after ``timeout``."""
    if not pid or not pid_alive(pid) or not cmdline_has(pid, marker):
        return
    _signal_group(pid, signal.SIGKILL if hard else signal.SIGTERM)
    if wait_dead(pid, timeout):
        return
    _signal_group(pid, signal.SIGKILL)
    if not wait_dead(pid, 10.0):
        raise ServiceError(f"process {pid} survived SIGKILL")


def free_ports(count: int) -> list[int]:
    """Pick distinct free loopback ports, holding all sockets until every one is chosen."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def port_free(port: int) -> bool:
    """A restart must reuse its port; this tells whether the old listener has let go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def tail(path: Path, lines: int = 40) -> str:
    """The end of a log, to put the actual reason for a failure in front of a human."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(check: Callable[[], bool], *, timeout: float, pid: int, name: str,
               log: Path, interval: float = 0.2) -> None:
    """Poll ``check`` until true; fail fast with the log tail if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not pid_alive(pid):
            raise ServiceError(f"{name} exited during startup; log {log}:\n{tail(log)}")
        time.sleep(interval)
    raise ServiceError(f"{name} not ready after {timeout:.0f}s; log {log}:\n{tail(log)}")


def run(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        log: Path | None = None) -> None:
    """Run a setup command to completion, raising with its output tail on failure."""
    if log is None:
        result = subprocess.run(list(argv), env=env, cwd=cwd, check=False,
                                capture_output=True, text=True)
        if result.returncode != 0:
            out = (result.stdout + result.stderr)[-4000:]
            raise ServiceError(f"command failed ({result.returncode}): {' '.join(argv)}\n{out}")
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out_fh:
        code = subprocess.run(list(argv), env=env, cwd=cwd, check=False, stdout=out_fh,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    if code != 0:
        raise ServiceError(f"command failed ({code}): {' '.join(argv)}; log {log}:\n{tail(log)}")
