"""Scenarios 4 and 5: the daemon SIGKILLed under a burst; the leader of two replicas killed.

A failure committed on Kafka whose Job annotation was not written before the
SIGKILL is known only to the topic. The next leader reads the topic back
before it publishes (``adapters/kafka/history.py``) and repairs the
annotation instead of publishing again. So these scenarios require exactly
one failure per zombie, raw: no duplicate, not even one with the same
requestIDs. The kill comes as soon as the first failure is read, when
annotations are most likely still in flight.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from harness.daemons import DaemonProcess, daemon_processes, free_port, sample, wait_ready
from harness.waiting import wait_until
from tests.integration.faults.rig import MODES, Agent, Rig, metrics_of, report, tally

pytestmark = pytest.mark.integration

BURST = 100


async def _burst_then_kill(rig: Rig, agents: list[Agent], victim: DaemonProcess,
                           ) -> tuple[float, int, int]:
    """Fail every pod at once; SIGKILL ``victim`` once the first failure is committed
    (or the burst is 60 % through). Returns (kill time, patches done, failures read)."""
    progress = [0]
    burst = asyncio.create_task(asyncio.to_thread(rig.fail_all, agents, progress=progress))
    await wait_until(lambda: bool(rig.reader.failures()) or progress[0] >= BURST * 6 // 10,
                     timeout=60, what="the burst under way")
    victim.kill()
    killed = time.monotonic()
    at_kill = (progress[0], len(rig.reader.failures()))
    await burst
    return killed, *at_kill


def _published_and_annotated(proc: DaemonProcess) -> tuple[int, int]:
    """Failures a (dead) daemon logged as committed, and Jobs it logged as annotated."""
    text = proc.log_text()
    return text.count("event=failure_published"), text.count("event=job_annotated")


async def test_a_daemon_killed_mid_burst_reports_every_zombie_once_after_restart(
    rig: Rig,
) -> None:
    rig.use_fast_sweeper()
    port = free_port()
    with daemon_processes(rig.tmp_path) as start:
        first = start(rig.settings, port=port)
        await wait_ready(first, port)
        agents = await asyncio.to_thread(rig.agents, BURST)
        killed, patched, read = await _burst_then_kill(rig, agents, first)

        first_published, first_annotated = _published_and_annotated(first)
        second = start(rig.settings, port=port)
        ready = await wait_ready(second, port)
        recovered = await rig.wait_distinct(timeout=90) + ready
        await rig.reader.quiet(3.0)
        metrics = metrics_of(port)
        log_text = second.log_text()
        survived = second.alive

    counted = tally(rig.reader)
    await rig.assert_freed_once("daemon SIGKILLed mid-burst")
    report("daemon SIGKILLed mid-burst", zombies=BURST, patched_at_kill=patched,
           failures_read_at_kill=read, committed_before_kill=first_published,
           annotated_before_kill=first_annotated, restart_to_all_reported_s=recovered,
           raw_failures=counted.raw, distinct=counted.distinct,
           raw_duplicates=counted.duplicates,
           annotation_dedupe_hits=int(sample(metrics, "zombiewatch_dedupe_hits_total",
                                             layer="annotation")))
    if counted.duplicates:
        print(f"[fault] re-published after the crash (same requestIDs): "
              f"{counted.duplicated_jobs[:10]}")
    assert survived, log_text[-3000:]
    assert counted.by_job == rig.expected
    assert counted.distinct == BURST
    assert counted.duplicates == 0
    assert killed > 0


async def test_the_leader_killed_mid_burst_the_follower_reports_every_zombie_once(
    rig: Rig,
) -> None:
    rig.use_fast_sweeper()
    settings = replace(rig.settings, leader=replace(rig.settings.leader, enabled=True))
    ports = {"a": free_port(), "b": free_port()}
    with daemon_processes(rig.tmp_path) as start:
        procs = {n: start(settings, port=p, identity=f"replica-{n}") for n, p in ports.items()}
        for name, proc in procs.items():
            await wait_ready(proc, ports[name])

        def leader() -> str | None:
            for name, port in ports.items():
                if "\nzombiewatch_leader 1.0" in metrics_of(port):
                    return name
            return None

        await wait_until(lambda: leader() is not None, timeout=60, what="a leader")
        old = leader()
        assert old is not None
        new = "b" if old == "a" else "a"
        agents = await asyncio.to_thread(rig.agents, BURST)
        killed, patched, read = await _burst_then_kill(rig, agents, procs[old])

        old_published, old_annotated = _published_and_annotated(procs[old])
        await wait_until(lambda: leader() == new, timeout=30, what="the follower leading")
        takeover = time.monotonic() - killed
        recovered = await rig.wait_distinct(timeout=90)
        all_reported = time.monotonic() - killed
        await rig.reader.quiet(3.0)
        metrics = metrics_of(ports[new])
        log_text = procs[new].log_text()
        survived = procs[new].alive

    counted = tally(rig.reader)
    await rig.assert_freed_once("leader SIGKILLed mid-burst")
    report("leader SIGKILLed mid-burst", zombies=BURST, patched_at_kill=patched,
           failures_read_at_kill=read, committed_before_kill=old_published,
           annotated_before_kill=old_annotated, takeover_s=takeover,
           kill_to_all_reported_s=all_reported, raw_failures=counted.raw,
           distinct=counted.distinct, raw_duplicates=counted.duplicates,
           published_by_new_leader=int(sum(
               sample(metrics, "zombiewatch_failures_published_total", path=p, reason=r)
               for p in ("informer", "sweeper")
               for r in {mode.reason for mode in MODES})),
           annotation_dedupe_hits=int(sample(metrics, "zombiewatch_dedupe_hits_total",
                                             layer="annotation")))
    if counted.duplicates:
        print(f"[fault] re-published after the takeover (same requestIDs): "
              f"{counted.duplicated_jobs[:10]}")
    assert survived, log_text[-3000:]
    assert counted.by_job == rig.expected
    assert counted.distinct == BURST
    assert counted.duplicates == 0
    assert recovered >= 0
