"""Reading the Events of one object: the evidence of a never-started verdict.

One GET per verdict (``/api/v1/namespaces/<ns>/events?fieldSelector=involvedObject.uid=<uid>``),
made by the reporter when the verdict is reached, never per sweep. Needs ``list`` on
``events`` in the Role. Never raises for API, transport or decoding failures: the verdict
goes out without the Events' evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

import msgspec
from returns.result import Failure, Result, Success

from zombiewatch.adapters.kubernetes.client import ApiClient, raw_request
from zombiewatch.adapters.kubernetes.errors import KubernetesError
from zombiewatch.domain.event_evidence import EventView
from zombiewatch.domain.ports import EventLookupError

MAX_EVENTS = 100
"""Events read per object: the newest relevant one is wanted, and an object's Events are
few (the API server aggregates repeats into a count)."""


class _Series(msgspec.Struct, frozen=True, rename="camel"):
    last_observed_time: datetime | None = None


class _Event(msgspec.Struct, frozen=True, rename="camel"):
    type: str | None = None
    reason: str | None = None
    message: str | None = None
    series: _Series | None = None
    last_timestamp: datetime | None = None
    event_time: datetime | None = None
    first_timestamp: datetime | None = None


class _EventList(msgspec.Struct, frozen=True):
    items: list[_Event] | None = None


_DECODER = msgspec.json.Decoder(_EventList)


def events_path(namespace: str, uid: str) -> str:
    """The list of the Events about the object ``uid`` (a field selector, bounded)."""
    selector = quote(f"involvedObject.uid={uid}", safe="")
    return (f"/api/v1/namespaces/{quote(namespace, safe='')}/events"
            f"?fieldSelector={selector}&limit={MAX_EVENTS}")


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is not None and moment.tzinfo is not None else None


def decode_events(data: bytes) -> list[EventView]:
    """An EventList's JSON -> the views (raises ``msgspec`` errors on a malformed body)."""
    views = []
    for item in _DECODER.decode(data).items or ():
        series = item.series.last_observed_time if item.series is not None else None
        at = next((_aware(t) for t in (series, item.last_timestamp, item.event_time,
                                       item.first_timestamp) if _aware(t) is not None), None)
        views.append(EventView(type=item.type or "", reason=item.reason or "",
                               message=item.message or "", at=at))
    return views


class KubernetesEventLookup:
    """Implements the ``EventLookup`` port with one GET in a worker thread."""

    def __init__(self, api_client: ApiClient, *, request_timeout: float = 5.0) -> None:
        self._api_client = api_client
        self._timeout = request_timeout

    async def events_of(
        self, *, namespace: str, uid: str,
    ) -> Result[Sequence[EventView], EventLookupError]:
        return await asyncio.to_thread(self.events_blocking, namespace, uid)

    def events_blocking(
        self, namespace: str, uid: str,
    ) -> Result[Sequence[EventView], EventLookupError]:
        """The GET itself, blocking (``events_of`` runs it in a worker thread)."""
        try:
            data = raw_request(self._api_client, "GET", events_path(namespace, uid),
                               timeout=self._timeout)
            return Success(decode_events(data))
        except KubernetesError as exc:
            return Failure(EventLookupError(f"{type(exc).__name__}: {exc}"))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return Failure(EventLookupError(f"malformed EventList: {exc}"))
