"""What a zombie's failure has in common with others: its cause (issue "beyond the peers").

A verdict names *why* a Job is a zombie (its closed reason); a cause names *what* made it
one, when that is something outside the Job that other Jobs can share: an image reference
that does not pull, a Secret or ConfigMap that is missing, a node that drains, a scheduling
constraint no node meets, a quota or an admission rule that refuses pods. Crashes and
memory kills have no cause here: each is the agent's own.

Causes are what the storm guard groups zombies by, so two verdicts share a cause exactly
when their :class:`Cause` values are equal; the subject is normalised by whoever builds it
(the classifier) so that equal causes compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CauseKind(StrEnum):
    """The kinds of shared cause; the value is the prefix of :meth:`Cause.key`."""

    IMAGE = "image"
    """An image reference that fails to pull (subject: the reference as the pod names it)."""
    OBJECT = "object"
    """A missing object a pod needs (subject: ``<kind>/<name>``, e.g. ``secret/db-creds``)."""
    NODE = "node"
    """A node that evicts or drains its pods (subject: the node name)."""
    SCHEDULING = "scheduling"
    """A constraint no node meets (subject: the scheduler's message, normalised)."""
    ADMISSION = "admission"
    """Pods refused at creation by a quota or an admission rule (subject: what refused them)."""
    SANDBOX = "sandbox"
    """A pod sandbox the runtime cannot create (subject: the runtime handler or the node)."""


@dataclass(frozen=True, slots=True)
class Cause:
    """One shared cause: its kind and its subject."""

    kind: CauseKind
    subject: str

    @property
    def key(self) -> str:
        """``<kind>:<subject>``: how logs, Events and metrics name the cause."""
        return f"{self.kind.value}:{self.subject}"
