"""Scenario 1: the Kafka broker is SIGKILLed and restarted while zombies appear."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.daemons import running, sample
from tests.integration.faults.rig import Rig, report

pytestmark = pytest.mark.integration

BEFORE, DURING, AFTER = 4, 4, 4


async def test_a_killed_broker_loses_no_failure_and_duplicates_none(rig: Rig) -> None:
    rig.use_fast_sweeper()
    async with running(rig.settings) as runtime:
        rig.zombies(BEFORE)
        await rig.wait_all(timeout=30)

        killed = time.monotonic()
        await asyncio.to_thread(rig.services.kill_kafka)
        try:
            during = rig.zombies(DURING, start=BEFORE)
            # Long enough for every publish attempt to time out against the dead broker.
            await asyncio.sleep(rig.settings.kafka.publish_timeout_seconds + 2)
            published_during_outage = set(during) & set(rig.reader.reasons_by_job())
            annotated_during_outage = [name for name in during if rig.annotated(name)]
        finally:
            restarted = time.monotonic()
            await asyncio.to_thread(rig.services.start_kafka)
        back = time.monotonic()
        after = rig.zombies(AFTER, start=BEFORE + DURING)
        # No sweep_now(): the daemon recovers on its own (informer retries, 10 s sweeper).
        await rig.wait_all(timeout=90)
        recovered = rig.reported_at(during) - back
        after_latency = rig.reported_at(after) - back
        await rig.reader.quiet(3.0)
        await runtime.sweep_now()
        await rig.reader.quiet(2.0)
        metrics = runtime.metrics.render().decode()

    # A figure, not a requirement: the daemon need not attempt a publish against a dead
    # broker. What matters is below: nothing published or annotated while it was down, and
    # every failure on the topic once and freed once in the controller's vault.
    errors = sum(sample(metrics, "zombiewatch_publish_errors_total", kind=kind)
                 for kind in ("unavailable", "fenced", "rejected"))
    await rig.assert_freed_once("kafka killed")
    report("kafka killed", zombies=len(rig.expected), outage_s=back - killed,
           broker_start_s=back - restarted, during_reported_after_restart_s=recovered,
           after_reported_after_restart_s=after_latency, publish_errors=int(errors),
           failures_read=len(rig.reader.failures()))
    assert published_during_outage == set()
    assert annotated_during_outage == []
    assert rig.reader.reasons_by_job() == rig.expected
    assert len(rig.reader.failures()) == BEFORE + DURING + AFTER
