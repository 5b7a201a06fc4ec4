"""Scenarios 2 and 3: the API server dies (SIGKILL), and etcd is compacted under the watches."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from harness.daemons import running, sample
from harness.waiting import wait_until
from tests.integration.faults.rig import Rig, report

pytestmark = pytest.mark.integration

KINDS = ("jobs", "pods", "configs")


async def test_a_killed_api_server_loses_no_zombie_and_duplicates_none(rig: Rig) -> None:
    rig.use_fast_sweeper()
    async with running(rig.settings) as runtime:
        before = rig.zombies(3)
        await rig.wait_all(timeout=30)
        waiting = await asyncio.to_thread(rig.agents, 6, start=3)
        # Fail half of them just before the kill: their publish and annotation race it.
        racing = [rig.fail(agent) for agent in waiting[:3]]

        killed = time.monotonic()
        await asyncio.to_thread(rig.services.kill_apiserver)
        try:
            await asyncio.sleep(3.0)  # informers reconnecting, annotations failing
        finally:
            restarted = time.monotonic()
            await asyncio.to_thread(rig.services.start_apiserver)
        back = time.monotonic()
        # Pods that existed before the outage change state after it; new zombies appear.
        changed = [rig.fail(agent) for agent in waiting[3:]]
        created = rig.zombies(3, start=9)
        await rig.wait_all(timeout=90)
        recovered = rig.reported_at(changed + created) - back
        await wait_until(lambda: all(rig.annotated(n) for n in rig.expected), timeout=60,
                         what="every zombie annotated")
        annotated = time.monotonic() - back
        await runtime.sweep_now()
        await rig.reader.quiet(3.0)
        metrics = runtime.metrics.render().decode()

    # Figures, not requirements: how the informers got back (a re-watch or a re-list) is
    # theirs to choose. What matters: the pods that changed after the restart were seen
    # (reported below), nothing lost or doubled, every task freed once.
    reconnects = {k: sample(metrics, "zombiewatch_informer_reconnects_total", kind=k)
                  for k in KINDS}
    annotate_errors = sum(sample(metrics, "zombiewatch_annotate_errors_total", kind=k)
                          for k in ("unavailable", "forbidden"))
    await rig.assert_freed_once("api server killed")
    report("api server killed", zombies=len(rig.expected), outage_s=back - killed,
           apiserver_start_s=back - restarted,
           changed_and_new_reported_after_restart_s=recovered,
           all_annotated_after_restart_s=annotated,
           reconnects=",".join(f"{k}:{int(v)}" for k, v in reconnects.items()),
           annotate_errors=int(annotate_errors), failures_read=len(rig.reader.failures()))
    assert len(before) + len(racing) + len(changed) + len(created) == 12
    assert rig.reader.reasons_by_job() == rig.expected
    assert len(rig.reader.failures()) == 12


async def test_compaction_forces_every_watch_to_relist_and_nothing_is_lost_or_doubled(
    rig: Rig,
) -> None:
    rig.use_fast_sweeper()
    async with running(rig.settings) as runtime:
        rig.zombies(3)
        await rig.wait_all(timeout=30)
        waiting = await asyncio.to_thread(rig.agents, 4, start=3)
        await wait_until(lambda: all(runtime.cache.job(a.name) is not None for a in waiting),
                         what="the healthy jobs cached")
        await wait_until(lambda: all(rig.annotated(n) for n in rig.expected),
                         what="annotations of the first zombies")
        before = runtime.metrics.render().decode()
        relists_before = {k: sample(before, "zombiewatch_informer_relists_total", kind=k)
                          for k in KINDS}

        # Writes no watch of the daemon delivers (an unlabelled ConfigMap): every watch's
        # resourceVersion is now older than etcd's revision, which compaction makes final.
        for _ in range(3):
            rig.core.create_namespaced_config_map(rig.namespace, {
                "metadata": {"name": f"bump-{uuid.uuid4().hex[:8]}"}, "data": {"k": "v"}})
        await asyncio.to_thread(rig.services.kill_apiserver)
        try:
            revision = await asyncio.to_thread(rig.services.compact_etcd)
        finally:
            await asyncio.to_thread(rig.services.start_apiserver)
        back = time.monotonic()
        # Changes made while the informers are still backing off reach the daemon by the
        # re-list that the 410 Gone forces, not by the watch.
        changed = [rig.fail(agent) for agent in waiting]
        created = rig.zombies(3, start=7)
        await wait_until(
            lambda: all(sample(runtime.metrics.render().decode(),
                               "zombiewatch_informer_relists_total", kind=k) > relists_before[k]
                        for k in KINDS),
            timeout=90, what="a re-list of every informer")
        relisted = time.monotonic() - back
        await rig.wait_all(timeout=90)
        recovered = rig.reported_at(changed + created) - back
        await runtime.sweep_now()
        await rig.reader.quiet(3.0)
        gone = {i.name: i.stats.gone for i in runtime.informers.all}
        after = runtime.metrics.render().decode()

    relists = {k: sample(after, "zombiewatch_informer_relists_total", kind=k) - relists_before[k]
               for k in KINDS}
    await rig.assert_freed_once("etcd compacted")
    report("etcd compacted", zombies=len(rig.expected), compacted_revision=revision,
           all_relisted_after_restart_s=relisted, reported_after_restart_s=recovered,
           relists=",".join(f"{k}:{int(v)}" for k, v in relists.items()),
           gone=",".join(f"{k}:{v}" for k, v in gone.items()),
           failures_read=len(rig.reader.failures()))
    assert all(count >= 1 for count in relists.values())
    assert all(count >= 1 for count in gone.values()), gone  # each re-list came from a 410
    assert rig.reader.reasons_by_job() == rig.expected
    assert len(rig.reader.failures()) == 10
