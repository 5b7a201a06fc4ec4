"""The Events' evidence of a verdict, looked up once, before the verdict reaches the report.

The never-started verdicts (a pod not ready to start, a Job without pods) carry no message
in their status; their ``Verdict.events`` names whose Warning Events explain them. The
reporter hands each batch here first (:meth:`EventEvidence.enrich`), so the doctrine, the
Event on the Job and the storm guard all see the same ``detail`` and ``cause``: one GET per
such verdict (a few at a time), none per sweep and none for any other verdict. A lookup
that fails (RBAC, network, a bad answer) costs one log line: the verdict goes out with the
status's own detail and no cause. A batch waits for its lookups at most
:data:`BATCH_BUDGET_SECONDS`: a slow or unreachable API server delays the report by that
much, never by a timeout per verdict.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Final

from returns.result import Failure, Success

from zombiewatch.app.judging import Detection
from zombiewatch.app.logs import log_event
from zombiewatch.domain.event_evidence import evidence_of
from zombiewatch.domain.ports import EventLookup, EventLookupError

log = logging.getLogger(__name__)

CONCURRENT_LOOKUPS: Final = 8
"""GETs in flight at once: a burst of never-started zombies must not flood the API server."""
BATCH_BUDGET_SECONDS: Final = 10.0
"""How long a batch of detections waits for its lookups; the verdicts whose lookup has not
answered by then go out without it (two request timeouts of the adapter)."""


class EventEvidence:
    """Fills ``detail`` and ``cause`` of the verdicts that ask for their Events."""

    def __init__(self, *, lookup: EventLookup, concurrency: int = CONCURRENT_LOOKUPS,
                 budget_seconds: float = BATCH_BUDGET_SECONDS) -> None:
        self._lookup = lookup
        self._slots = asyncio.Semaphore(concurrency)
        self._budget = budget_seconds

    async def enrich(self, batch: Sequence[Detection]) -> list[Detection]:
        """The batch, each detection whose verdict names Events with their evidence (within
        the budget; the rest as they are, their query dropped)."""
        if all(d.verdict.events is None for d in batch):
            return list(batch)
        tasks = [asyncio.ensure_future(self._one(d)) for d in batch]
        _, late = await asyncio.wait(tasks, timeout=self._budget)
        for task in late:
            task.cancel()
        if late:
            log_event(log, logging.WARNING, "evidence_lookup_late", verdicts=len(late),
                      budget_s=self._budget)
        return [task.result() if task.done() and not task.cancelled() else _plain(detection)
                for task, detection in zip(tasks, batch, strict=True)]

    async def _one(self, detection: Detection) -> Detection:
        query = detection.verdict.events
        if query is None:
            return detection
        try:
            async with self._slots:
                result = await self._lookup.events_of(namespace=query.namespace, uid=query.uid)
        except Exception as exc:  # a broken lookup never stops the report
            result = Failure(EventLookupError(f"{type(exc).__name__}: {exc}"))
        match result:
            case Success(events):
                evidence = evidence_of(events, query.reasons)
            case Failure(error):
                log_event(log, logging.WARNING, "evidence_lookup_failed", job=detection.job_name,
                          error=error.message)
                evidence = None
        if evidence is None:
            return _plain(detection)
        verdict = dataclasses.replace(detection.verdict, detail=evidence.detail,
                                      cause=evidence.cause or detection.verdict.cause)
        log_event(log, logging.INFO, "verdict_evidence", job=detection.job_name,
                  cause=verdict.cause.key if verdict.cause is not None else None,
                  detail=verdict.detail)
        return _plain(dataclasses.replace(detection, verdict=verdict))


def _plain(detection: Detection) -> Detection:
    """The detection with its query dropped: looked up (or given up on), never again."""
    if detection.verdict.events is None:
        return detection
    return dataclasses.replace(
        detection, verdict=dataclasses.replace(detection.verdict, events=None))
