"""Evidence from Kubernetes Warning Events, for the verdicts whose status says nothing.

A pod that is not ready to start and a Job without pods carry no message in their status:
the kubelet (``FailedMount``, ``FailedAttachVolume``, ``FailedCreatePodSandBox``) and the
Job controller (``FailedCreate``) say why in Events on the object. The reporter fetches them
once per verdict (the ``EventLookup`` port) and this module, pure, picks the newest relevant
one and reads it into the verdict's ``detail`` (the message, made safe) and ``cause`` (what
other Jobs can share: the missing object, the runtime handler, the quota or admission rule).

The messages read (Kubernetes 1.37 with containerd; anything else keeps its message as the
detail and gets no cause):

- ``MountVolume.SetUp failed for volume "v" : secret "db-creds" not found`` ->
  ``object:secret/db-creds`` (also ``configmap``, ``persistentvolumeclaim``,
  ``serviceaccount``);
- ``Failed to create pod sandbox: ... no runtime for "gvisor" is configured`` ->
  ``sandbox:gvisor``;
- ``Error creating: pods "p" is forbidden: exceeded quota: team-quota, requested: ...`` ->
  ``admission:quota/team-quota``;
- ``Error creating: pods "p" is forbidden: violates PodSecurity "restricted:latest": ...`` ->
  ``admission:podsecurity/restricted``;
- ``... admission webhook "policy.example.com" denied the request ...`` ->
  ``admission:webhook/policy.example.com``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.detail import missing_object, safe_detail

WARNING: Final = "Warning"


_HANDLER: Final = re.compile(r'no runtime for "([^"\s]{1,253})" is configured'
                             r'|runtime handler "([^"\s]{1,253})"')
_QUOTA: Final = re.compile(r"exceeded quota: ([^,\s]{1,253})")
_POD_SECURITY: Final = re.compile(r'violates PodSecurity "([a-z]{1,32})[:"]')
_WEBHOOK: Final = re.compile(r'admission webhook "([^"\s]{1,253})" denied')


@dataclass(frozen=True, slots=True, kw_only=True)
class EventView:
    """What this module needs of one core/v1 Event."""

    type: str
    reason: str
    message: str
    at: datetime | None
    """Its last occurrence (``series.lastObservedTime``, ``lastTimestamp``, ``eventTime``
    or ``firstTimestamp``, the first given); None when it has none."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What an Event tells: a safe one-line detail and the shared cause, if one is named."""

    detail: str
    cause: Cause | None


def newest_relevant(events: Iterable[EventView], reasons: frozenset[str]) -> EventView | None:
    """The newest Warning Event with one of ``reasons`` (undated ones count as oldest)."""
    best: EventView | None = None
    for event in events:
        if event.type != WARNING or event.reason not in reasons:
            continue
        if best is None or _later(event.at, best.at):
            best = event
    return best


def _later(candidate: datetime | None, current: datetime | None) -> bool:
    if candidate is None:
        return False
    return current is None or candidate >= current


def cause_of(message: str) -> Cause | None:
    """The shared cause an Event's message names, if it names one (see the module)."""
    missing = missing_object(message)
    if missing is not None:
        return Cause(CauseKind.OBJECT, missing)
    found = _HANDLER.search(message)
    if found is not None:
        return Cause(CauseKind.SANDBOX, found.group(1) or found.group(2))
    found = _QUOTA.search(message)
    if found is not None:
        return Cause(CauseKind.ADMISSION, f"quota/{found.group(1)}")
    found = _POD_SECURITY.search(message)
    if found is not None:
        return Cause(CauseKind.ADMISSION, f"podsecurity/{found.group(1)}")
    found = _WEBHOOK.search(message)
    if found is not None:
        return Cause(CauseKind.ADMISSION, f"webhook/{found.group(1)}")
    return None


def evidence_of(events: Iterable[EventView], reasons: frozenset[str]) -> Evidence | None:
    """The evidence of the newest relevant Warning Event; None when there is none."""
    event = newest_relevant(events, reasons)
    if event is None:
        return None
    return Evidence(detail=safe_detail(f"{event.reason}: {event.message}"),
                    cause=cause_of(event.message))
