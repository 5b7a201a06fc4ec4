"""Which agent-task-controller the controller rules follow: today's, or v0.3.

zombiewatch was first written against the controller of August 2026
(v0.3.5); the agent system's controller has moved on since, and a host may run
either. The two differ in a handful of rules. Each difference is one field
here, so the rules themselves (:mod:`zombiewatch.domain.consumer`,
:mod:`zombiewatch.domain.taskfile`) take a flag rather than a version name:

- the consumer's **expiry**: 60 minutes today (controller v0.8.3 on), 5
  minutes in v0.3;
- **vault routing**: today both frontmatter commands may name a
  ``targetVault``; one naming another vault is skipped before anything else,
  and every write stamps the controller's own vault as ``target_vault`` when
  the file has none. v0.3 knows neither;
- the **trigger cap**: today only a file that *has* a ``max_triggers`` key is
  capped (v0.5.2 on); in v0.3 an absent one means 3;
- **duplicate ids**: today two task files with the command's id make it an
  error; our v0.3 model writes the first by path (no vector of that
  controller pins it).

:data:`CURRENT` is the default everywhere; :data:`V0_3` is kept so the old
conformance vectors keep passing and a host still on that controller can say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from zombiewatch.domain.consumer import EXPIRY, V0_3_EXPIRY


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerProfile:
    """The rules one version of the controller follows where versions differ."""

    name: str
    expiry: timedelta
    """A record whose ``requestTime`` plus this is before the consumer's clock is dropped."""
    routes_by_vault: bool
    """``targetVault`` decoded and checked; ``target_vault`` stamped on every write."""
    cap_opt_in: bool
    """The trigger cap applies only when the file has a ``max_triggers`` key."""
    unique_ids: bool
    """Two task files with the command's id make the command an error."""


CURRENT: Final = ControllerProfile(
    name="current", expiry=EXPIRY, routes_by_vault=True, cap_opt_in=True,
    unique_ids=True,
)
"""Today's controller (v0.10-v0.11 and the unreleased code after them)."""

V0_3: Final = ControllerProfile(
    name="v0.3", expiry=V0_3_EXPIRY, routes_by_vault=False, cap_opt_in=False,
    unique_ids=False,
)
"""The controller of August 2026 (v0.3.5), which ``controller-vectors.json`` was recorded from."""

PROFILES: Final = {profile.name: profile for profile in (CURRENT, V0_3)}


def controller_profile(name: str) -> ControllerProfile:
    """The profile called ``name``; a one-line :class:`ValueError` naming the known ones if none."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown controller profile {name!r} (known: {known})") from None
