"""Kubernetes Events (core/v1, what ``kubectl describe job`` lists) written off the report path.

:meth:`KubernetesEventRecorder.record` is called by the app services right after
they acted (commit, reap, repair, give up); it correlates the Event at once
(:class:`~zombiewatch.domain.job_events.EventCorrelator`: a repeat becomes a
count bump, a flapping Job is rate limited) and only queues the write, so the
report path never waits on the API server. One worker writes the queue in
order: a POST for a new Event, a merge PATCH of ``count``/``lastTimestamp`` for
a repeat (a POST again when the Event is gone, e.g. expired by the API server's
event TTL). A full queue drops the Event; drops and failed writes are reported
through ``on_dropped`` / ``on_error`` (counted by the app). Needs ``create`` and
``patch`` on ``events`` in the Role.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from zombiewatch.adapters.kubernetes.annotating import MERGE_PATCH
from zombiewatch.adapters.kubernetes.client import ApiClient, raw_request
from zombiewatch.adapters.kubernetes.errors import (
    ApiStatusError,
    ForbiddenError,
    KubernetesError,
    NotFoundError,
)
from zombiewatch.domain.job_events import (
    REPORTING_COMPONENT,
    Bump,
    Create,
    EventCorrelator,
    JobEvent,
    RateLimited,
)
from zombiewatch.domain.ports import Clock
from zombiewatch.domain.timestamps import rfc3339_seconds

logger = logging.getLogger(__name__)

QUEUE_CAPACITY = 1000
"""Event writes waiting for the API server; beyond this they are dropped (and counted)."""


def event_body(write: Create | Bump, *, instance: str) -> dict[str, object]:
    """The core/v1 Event for a new Event (or a bump whose Event is gone: its count kept)."""
    event = write.event
    first = write.at if isinstance(write, Create) else write.first
    count = 1 if isinstance(write, Create) else write.count
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": write.name, "namespace": event.namespace},
        "involvedObject": {
            "apiVersion": "batch/v1", "kind": "Job", "namespace": event.namespace,
            "name": event.job_name, "uid": event.job_uid,
        },
        "type": event.type.value,
        "reason": event.reason.value,
        "message": event.message,
        "count": count,
        "firstTimestamp": rfc3339_seconds(first),
        "lastTimestamp": rfc3339_seconds(write.at),
        "source": {"component": REPORTING_COMPONENT},
        "reportingComponent": REPORTING_COMPONENT,
        "reportingInstance": instance,
    }


def bump_patch(write: Bump) -> dict[str, object]:
    """The merge patch of a repeat: the count and the last time, nothing else."""
    return {"count": write.count, "lastTimestamp": rfc3339_seconds(write.at)}


class KubernetesEventRecorder:
    """Implements ``JobEventRecorder``; a ``Lifecycle`` (its writer runs between start and stop)."""

    def __init__(
        self, api_client: ApiClient, *, clock: Clock, instance: str,
        on_dropped: Callable[[str], None], on_error: Callable[[str], None],
        correlator: EventCorrelator | None = None, capacity: int = QUEUE_CAPACITY,
        request_timeout: float = 10.0,
    ) -> None:
        self._api_client = api_client
        self._clock = clock
        self._instance = instance
        self._on_dropped = on_dropped
        """Called with why (``rate_limited``, ``queue_full``) for each Event not written."""
        self._on_error = on_error
        """Called with the error kind for each write the API server refused or missed."""
        self._correlator = correlator if correlator is not None else EventCorrelator()
        """Shared with the held-entries gauge (the container's)."""
        self._queue: asyncio.Queue[Create | Bump] = asyncio.Queue(maxsize=capacity)
        self._timeout = request_timeout
        self._writer: asyncio.Task[None] | None = None

    def record(self, event: JobEvent) -> None:
        decision = self._correlator.observe(event, now=self._clock.now())
        if isinstance(decision, RateLimited):
            self._on_dropped("rate_limited")
            return
        try:
            self._queue.put_nowait(decision)
        except asyncio.QueueFull:
            self._on_dropped("queue_full")

    async def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_all())

    async def stop(self) -> None:
        """Write what is queued (bounded), then stop the writer."""
        if self._writer is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=5)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None

    async def _write_all(self) -> None:
        while True:
            write = await self._queue.get()
            try:
                await asyncio.to_thread(self.write_blocking, write)
            finally:
                self._queue.task_done()

    def write_blocking(self, write: Create | Bump) -> None:
        """POST or PATCH one Event, blocking; failures are reported, never raised."""
        namespace = write.event.namespace
        try:
            if isinstance(write, Bump):
                try:
                    raw_request(self._api_client, "PATCH",
                                f"/api/v1/namespaces/{namespace}/events/{write.name}",
                                body=bump_patch(write), content_type=MERGE_PATCH,
                                timeout=self._timeout)
                    return
                except NotFoundError:
                    pass  # expired or deleted: written anew, the count kept
            raw_request(self._api_client, "POST", f"/api/v1/namespaces/{namespace}/events",
                        body=event_body(write, instance=self._instance), timeout=self._timeout)
        except ForbiddenError as exc:
            self._failed("forbidden", write, exc)
        except ApiStatusError as exc:
            self._failed("rejected", write, exc)
        except KubernetesError as exc:
            self._failed("unavailable", write, exc)

    def _failed(self, kind: str, write: Create | Bump, exc: Exception) -> None:
        self._on_error(kind)
        logger.warning("event=job_event_failed job=%s reason=%s kind=%s error=%s",
                       write.event.job_name, write.event.reason.value, kind, exc)
