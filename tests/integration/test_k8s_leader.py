"""Leader election on a real Lease: one leader, hand-over on stop or on silence."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.waiting import wait_until
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
        await wait_until(lambda: a.is_leader() or b.is_leader(), "a leader", timeout=10)
        await asyncio.sleep(LEASE)  # several renew rounds: still exactly one
        assert a.is_leader() != b.is_leader()
        leader, follower = (a, b) if a.is_leader() else (b, a)

        await leader.stop()
        assert not leader.is_leader()
        took = await wait_until(follower.is_leader, "the follower leading",
                                timeout=LEASE + RETRY + 2.0)

        if release:  # a released lease is taken at the next retry, not at its expiry
            assert took < LEASE
        assert started.count(follower.settings.identity) == 1
    finally:
        await a.stop()
        await b.stop()
