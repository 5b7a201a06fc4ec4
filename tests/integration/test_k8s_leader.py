"""Leader election on a real Lease: one leader, hand-over on stop or on silence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from zombiewatch.adapters.kubernetes.leader import LeaderElectionSettings, LeaderElector

pytestmark = pytest.mark.integration

LEASE, RENEW, RETRY = 3.0, 2.0, 0.5


def elector(api_client: Any, namespace: str, identity: str, *, release: bool,
            started: list[str]) -> LeaderElector:
    """An elector that appends ``identity`` to ``started`` each time it starts leading."""
    return LeaderElector(
        api_client,
        LeaderElectionSettings(
            lease_name="zombiewatch",
            namespace=namespace,
            identity=identity,
            lease_duration=LEASE,
            renew_deadline=RENEW,
            retry_period=RETRY,
            release_on_stop=release,
        ),
        on_started_leading=lambda: started.append(identity),
    )


async def wait_until(predicate: Callable[[], bool], within: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.parametrize("release", [True, False], ids=["released", "expired"])
async def test_exactly_one_of_two_leads_and_the_other_takes_over(
    api_client: Any, namespace: str, release: bool
) -> None:
    started: list[str] = []
    a = elector(api_client, namespace, "replica-a", release=release, started=started)
    b = elector(api_client, namespace, "replica-b", release=release, started=started)
    await a.start()
    await b.start()
    try:
        await wait_until(lambda: a.is_leader() or b.is_leader(), 10)
        await asyncio.sleep(LEASE)  # several renew rounds: still exactly one
        assert a.is_leader() != b.is_leader()
        leader, follower = (a, b) if a.is_leader() else (b, a)

        await leader.stop()
        assert not leader.is_leader()
        took = await wait_until(follower.is_leader, LEASE + RETRY + 2.0)

        assert took <= LEASE + RETRY + 1.0
        if release:
            assert took <= 2 * RETRY + 0.5
        assert started.count(follower.settings.identity) == 1
    finally:
        await a.stop()
        await b.stop()
