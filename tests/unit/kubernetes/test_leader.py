"""The elector's tryAcquireOrRenew against a recording in-memory Lease."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tests.unit.worlds.logs import json_events
from zombiewatch.adapters.kubernetes.errors import ConflictError, TransportError
from zombiewatch.adapters.kubernetes.leader import (
    LeaderElectionSettings,
    LeaderElector,
    LeaseMeta,
    LeaseRecord,
    LeaseSpec,
)
from zombiewatch.testing.fakes import FakeClock

T0 = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)


@dataclass
class FakeLease:
    """One Lease with resourceVersion checks, like the API server."""

    record: LeaseRecord | None = None
    version: int = 0
    writes: list[LeaseSpec] = field(default_factory=list)
    stale_next_update: bool = False

    def get(self, timeout: float) -> LeaseRecord | None:
        return self.record

    def create(self, spec: LeaseSpec, timeout: float) -> None:
        if self.record is not None:
            raise ConflictError(409, "exists")
        self.put(spec)

    def update(self, resource_version: str, spec: LeaseSpec, timeout: float) -> None:
        if self.stale_next_update or self.record is None or resource_version != str(self.version):
            self.stale_next_update = False
            raise ConflictError(409, "conflict")
        self.put(spec)

    def put(self, spec: LeaseSpec) -> None:
        self.version += 1
        self.writes.append(spec)
        self.record = LeaseRecord(metadata=LeaseMeta(resource_version=str(self.version)), spec=spec)


def elector(
    lease: FakeLease, clock: FakeClock, identity: str, wall: FakeClock | None = None
) -> LeaderElector:
    settings = LeaderElectionSettings(lease_name="zw", namespace="ns", identity=identity)
    return LeaderElector(
        None, settings, monotonic=clock.monotonic, wall_clock=(wall or FakeClock(T0)).now,
        lock=lease
    )


def test_the_first_candidate_creates_the_lease_and_leads() -> None:
    lease, clock = FakeLease(), FakeClock()

    assert elector(lease, clock, "a").try_acquire_or_renew()

    assert lease.writes == [
        LeaseSpec(
            holder_identity="a",
            lease_duration_seconds=15,
            acquire_time="2026-06-02T09:46:00.000000Z",
            renew_time="2026-06-02T09:46:00.000000Z",
            lease_transitions=0,
        )
    ]


def test_a_held_lease_is_not_taken_before_it_expires_on_the_observers_clock() -> None:
    lease, clock = FakeLease(), FakeClock()
    elector(lease, clock, "a").try_acquire_or_renew()
    b = elector(lease, clock, "b")

    assert not b.try_acquire_or_renew()
    clock.elapsed += 14.9
    assert not b.try_acquire_or_renew()
    clock.elapsed += 0.2
    assert b.try_acquire_or_renew()
    assert lease.record is not None
    assert (lease.record.spec.holder_identity, lease.record.spec.lease_transitions) == ("b", 1)


def test_renewals_by_the_holder_keep_followers_waiting() -> None:
    lease, clock = FakeLease(), FakeClock()
    wall = FakeClock(T0)
    a, b = elector(lease, clock, "a", wall), elector(lease, clock, "b")
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    for second in range(10):
        clock.elapsed += 10
        wall.current = T0.replace(second=second + 1)  # each renewal writes a new renewTime
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()


def test_renewing_keeps_the_acquire_time_and_transitions() -> None:
    lease, clock = FakeLease(), FakeClock()
    wall = FakeClock(T0)
    a = elector(lease, clock, "a", wall)
    a.try_acquire_or_renew()
    wall.current = datetime(2026, 6, 2, 9, 47, tzinfo=UTC)

    assert a.try_acquire_or_renew()

    renewed = lease.writes[-1]
    assert renewed.acquire_time == "2026-06-02T09:46:00.000000Z"
    assert renewed.renew_time == "2026-06-02T09:47:00.000000Z"
    assert renewed.lease_transitions == 0


def test_a_released_lease_is_taken_at_once() -> None:
    lease, clock = FakeLease(), FakeClock()
    elector(lease, clock, "a").try_acquire_or_renew()
    b = elector(lease, clock, "b")
    b.try_acquire_or_renew()
    assert lease.record is not None
    lease.put(LeaseSpec(holder_identity="", lease_duration_seconds=1, lease_transitions=0))

    assert b.try_acquire_or_renew()


def test_a_conflict_means_someone_else_won() -> None:
    lease, clock = FakeLease(), FakeClock()
    a = elector(lease, clock, "a")
    a.try_acquire_or_renew()
    lease.stale_next_update = True

    assert not a.try_acquire_or_renew()


@dataclass
class UnreachableLease(FakeLease):
    """An API server that cannot be reached."""

    def get(self, timeout: float) -> LeaseRecord | None:
        raise TransportError("connection refused")


async def test_a_failed_attempt_is_logged_with_its_fields_as_json_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    candidate = elector(UnreachableLease(), FakeClock(), "zw-a")

    with caplog.at_level(logging.WARNING, logger="zombiewatch.adapters.kubernetes.leader"):
        assert not await candidate._attempt()  # one round of run(), without its sleeps

    (failed,) = json_events(caplog.records, "leader_attempt_failed")
    assert (failed["level"], failed["error"]) == ("warning", str(TransportError(
        "connection refused")))
