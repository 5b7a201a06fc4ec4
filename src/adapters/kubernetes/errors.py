"""Our own small exception hierarchy in front of the kubernetes client.

The informer loop, the elector and the annotator catch these, never the
client's exceptions, so a client upgrade touches only the translation points.
"""

from __future__ import annotations


class KubernetesError(Exception):
    """Base of everything the kubernetes adapters raise on purpose."""


class TransportError(KubernetesError):
    """Connection refused/reset, timeouts, 5xx, 429, truncated or garbled
    responses: retry with backoff."""


class GoneError(KubernetesError):
    """410 Gone (HTTP or a watch ERROR event): the resourceVersion was
    compacted away; re-list."""


class ApiStatusError(KubernetesError):
    """Every other non-2xx answer (403, 404, 409, 422...)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class NotFoundError(ApiStatusError):
    """404."""


class ConflictError(ApiStatusError):
    """409: someone else wrote first (optimistic concurrency)."""


class ForbiddenError(ApiStatusError):
    """401/403: RBAC or credentials."""


def from_status(status: int, reason: str) -> KubernetesError:
    """Map an HTTP status to our hierarchy."""
    if status == 410:
        return GoneError(reason)
    if status == 404:
        return NotFoundError(status, reason)
    if status == 409:
        return ConflictError(status, reason)
    if status in (401, 403):
        return ForbiddenError(status, reason)
    if status == 429 or status >= 500 or status == 0:
        return TransportError(f"{status} {reason}")
    return ApiStatusError(status, reason)
