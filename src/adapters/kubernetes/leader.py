"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go does it.

Expiry is judged like client-go: not from the Lease's ``renewTime`` (another
node's clock) but from when *we* last saw the record change
(``observed_at + leaseDurationSeconds`` on our monotonic clock). Writes carry
the read ``resourceVersion``; a 409 means someone else wrote first.
The blocking client calls run in ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from zombiewatch.adapters.kubernetes.client import ApiClient, raw_request
from zombiewatch.adapters.kubernetes.errors import (
    ConflictError,
    KubernetesError,
    NotFoundError,
)
from zombiewatch.adapters.logfields import log_event

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderElectionSettings:
    lease_name: str
    namespace: str
    identity: str
    """Unique per replica (pod name + a random suffix)."""
    lease_duration: float = 15.0
    """client-go default: how long followers wait after the last observed
    change before taking over a silent leader."""
    renew_deadline: float = 10.0
    """client-go default: the leader gives up if it could not renew for this long
    (must be < lease_duration so it steps down before anyone else may take over)."""
    retry_period: float = 2.0
    """client-go default: pause between attempts (jittered by up to 20 %)."""
    release_on_stop: bool = True
    """Like client-go's ReleaseOnCancel: hand over at once on shutdown."""


class LeaseSpec(msgspec.Struct, rename="camel", omit_defaults=True):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int | None = None


class LeaseMeta(msgspec.Struct, rename="camel"):
    resource_version: str | None = None


class LeaseRecord(msgspec.Struct):
    metadata: LeaseMeta = msgspec.field(default_factory=LeaseMeta)
    spec: LeaseSpec = msgspec.field(default_factory=LeaseSpec)


_LEASE = msgspec.json.Decoder(LeaseRecord)
"""Built once at import (see ``decoding``: no decoding plan is built on a worker thread)."""


def _micro_time(now: datetime) -> str:
    """``MicroTime`` wire format: exactly six fractional digits, ``Z``."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseStore(Protocol):
    """Blocking access to one Lease (``LeaseLock``; a fake in unit tests)."""

    def get(self, timeout: float) -> LeaseRecord | None: ...

    def create(self, spec: LeaseSpec, timeout: float) -> None: ...

    def update(self, resource_version: str, spec: LeaseSpec, timeout: float) -> None: ...


class LeaseLock:
    """Blocking get/create/update of one Lease with raw JSON (no client models)."""

    def __init__(self, api_client: ApiClient, namespace: str, name: str) -> None:
        self._api_client = api_client
        self._namespace = namespace
        self._name = name
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    def get(self, timeout: float) -> LeaseRecord | None:
        try:
            data = raw_request(
                self._api_client, "GET", f"{self._collection}/{self._name}", timeout=timeout
            )
        except NotFoundError:
            return None
        return _LEASE.decode(data)

    def _body(self, spec: LeaseSpec, resource_version: str | None) -> dict[str, object]:
        metadata: dict[str, object] = {"name": self._name, "namespace": self._namespace}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": msgspec.to_builtins(spec),
        }

    def create(self, spec: LeaseSpec, timeout: float) -> None:
        raw_request(
            self._api_client, "POST", self._collection, body=self._body(spec, None), timeout=timeout
        )

    def update(self, resource_version: str, spec: LeaseSpec, timeout: float) -> None:
        raw_request(
            self._api_client,
            "PUT",
            f"{self._collection}/{self._name}",
            body=self._body(spec, resource_version),
            timeout=timeout,
        )


class LeaderElector:
    """Implements the ``LeaderStatus`` and ``Lifecycle`` ports.

    ``run()`` loops until ``stop()``: acquire (retry every retry period), then
    renew every retry period; on a failed renew past the renew deadline it
    steps down and goes back to acquiring. ``leading`` is an ``asyncio.Event``
    mirroring ``is_leader()``; ``next_change()`` completes at the next
    transition, so the app waits for leadership instead of polling it.
    """

    def __init__(
        self,
        api_client: ApiClient,
        settings: LeaderElectionSettings,
        *,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lock: LeaseStore | None = None,
    ) -> None:
        self.settings = settings
        self.leading = asyncio.Event()
        self._lock: LeaseStore = lock or LeaseLock(
            api_client, settings.namespace, settings.lease_name
        )
        self._held_by_other = False
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._observed: LeaseSpec | None = None
        self._observed_at = 0.0
        self._changed = asyncio.Event()
        self._last_renew = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def is_leader(self) -> bool:
        return self.leading.is_set()

    def next_change(self) -> Awaitable[object]:
        return self._changed.wait()

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="leader-election")

    async def stop(self) -> None:
        """Stop campaigning; release the Lease if we hold it."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def run(self) -> None:
        s = self.settings
        try:
            while not self._stop.is_set():
                ok = await self._attempt()
                now = self._monotonic()
                if ok:
                    self._last_renew = now
                    if not self.leading.is_set():
                        self._set_leading(True)
                elif self.leading.is_set() and (
                    self._held_by_other or now - self._last_renew >= s.renew_deadline
                ):
                    log_event(logger, logging.WARNING, "leader_lost", identity=s.identity)
                    self._set_leading(False)
                await self._sleep(s.retry_period * (1.0 + 0.2 * random.random()))
        finally:
            if self.leading.is_set():
                if s.release_on_stop:
                    await self._release()
                self._set_leading(False)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    def _set_leading(self, leading: bool) -> None:
        if leading:
            self.leading.set()
            log_event(logger, logging.INFO, "leader_started", identity=self.settings.identity)
            callback = self._on_started
        else:
            self.leading.clear()
            log_event(logger, logging.INFO, "leader_stopped", identity=self.settings.identity)
            callback = self._on_stopped
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if callback is not None:
            try:
                callback()
            except Exception:
                log_event(logger, logging.ERROR, "leader_callback_failed", exc_info=True)

    async def _attempt(self) -> bool:
        try:
            return await asyncio.to_thread(self.try_acquire_or_renew)
        except KubernetesError as exc:
            log_event(logger, logging.WARNING, "leader_attempt_failed", error=str(exc))
            return False
        except msgspec.DecodeError as exc:
            log_event(logger, logging.WARNING, "leader_attempt_failed",
                      error=f"unreadable lease: {exc}")
            return False

    def try_acquire_or_renew(self) -> bool:
        """One attempt, blocking (client-go's tryAcquireOrRenew): True when we hold the Lease.

        ``run()`` calls it on a worker thread every retry period.
        """
        s = self.settings
        timeout = max(0.5, min(s.renew_deadline, s.retry_period * 2))
        now_wall = _micro_time(self._wall_clock())
        duration = max(1, round(s.lease_duration))
        lease = self._lock.get(timeout)
        if lease is None:
            spec = LeaseSpec(
                holder_identity=s.identity,
                lease_duration_seconds=duration,
                acquire_time=now_wall,
                renew_time=now_wall,
                lease_transitions=0,
            )
            try:
                self._lock.create(spec, timeout)
            except ConflictError:
                return False
            self._observe(spec)
            return True
        old = lease.spec
        if old != self._observed:
            self._observe(old)
        held_by_other = bool(old.holder_identity) and old.holder_identity != s.identity
        self._held_by_other = held_by_other and not self._expired(old)
        if self._held_by_other:
            return False
        i_held = old.holder_identity == s.identity
        spec = LeaseSpec(
            holder_identity=s.identity,
            lease_duration_seconds=duration,
            acquire_time=old.acquire_time if i_held and old.acquire_time else now_wall,
            renew_time=now_wall,
            lease_transitions=(old.lease_transitions or 0) + (0 if i_held else 1),
        )
        try:
            self._lock.update(lease.metadata.resource_version or "", spec, timeout)
        except ConflictError:
            return False
        self._observe(spec)
        return True

    def _observe(self, spec: LeaseSpec) -> None:
        self._observed = spec
        self._observed_at = self._monotonic()

    def _expired(self, spec: LeaseSpec) -> bool:
        duration = spec.lease_duration_seconds or 0
        return self._observed_at + duration <= self._monotonic()

    async def _release(self) -> None:
        """holderIdentity "" and leaseDurationSeconds 1, like ReleaseOnCancel."""

        def release() -> None:
            lease = self._lock.get(self.settings.renew_deadline)
            if lease is None or lease.spec.holder_identity != self.settings.identity:
                return
            now_wall = _micro_time(self._wall_clock())
            spec = LeaseSpec(
                holder_identity="",
                lease_duration_seconds=1,
                acquire_time=now_wall,
                renew_time=now_wall,
                lease_transitions=lease.spec.lease_transitions or 0,
            )
            self._lock.update(lease.metadata.resource_version or "", spec, 5.0)

        try:
            await asyncio.to_thread(release)
        except (KubernetesError, msgspec.DecodeError) as exc:
            log_event(logger, logging.WARNING, "leader_release_failed", error=str(exc))
        else:
            log_event(logger, logging.INFO, "leader_released", identity=self.settings.identity)


__all__ = [
    "LeaderElectionSettings",
    "LeaderElector",
    "LeaseLock",
    "LeaseMeta",
    "LeaseRecord",
    "LeaseSpec",
    "LeaseStore",
]
