"""Laying a reported zombie to rest: one merge patch shortens the Job's deadline and
stamps ``zombie-reaped-at`` (SPEC §14). Needs ``patch`` on jobs, like the annotator."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from returns.result import Failure, Result, Success

from zombiewatch.adapters.kubernetes.annotating import merge_patch_job
from zombiewatch.adapters.kubernetes.client import ApiClient
from zombiewatch.adapters.kubernetes.errors import (
    ApiStatusError,
    ConflictError,
    ForbiddenError,
    KubernetesError,
    NotFoundError,
)
from zombiewatch.adapters.logfields import log_event
from zombiewatch.domain.ports import ReapError, ReapErrorKind
from zombiewatch.domain.timestamps import rfc3339_seconds
from zombiewatch.domain.views import ZOMBIE_REAPED_AT_ANNOTATION

logger = logging.getLogger(__name__)


def reap_patch(active_deadline_seconds: int, reaped_at: datetime) -> dict[str, object]:
    """The JSON merge patch: the deadline and the annotation, nothing else touched."""
    return {
        "metadata": {"annotations": {ZOMBIE_REAPED_AT_ANNOTATION: rfc3339_seconds(reaped_at)}},
        "spec": {"activeDeadlineSeconds": active_deadline_seconds},
    }


class KubernetesJobReaper:
    """Implements the ``JobReaper`` port; never raises for API/transport failures."""

    def __init__(self, api_client: ApiClient, *, request_timeout: float = 10.0) -> None:
        self._api_client = api_client
        self._timeout = request_timeout

    async def reap(
        self, *, namespace: str, job_name: str, active_deadline_seconds: int,
        reaped_at: datetime,
    ) -> Result[None, ReapError]:
        body = reap_patch(active_deadline_seconds, reaped_at)
        return await asyncio.to_thread(self.patch_blocking, namespace, job_name, body)

    def patch_blocking(
        self, namespace: str, job_name: str, body: dict[str, object]
    ) -> Result[None, ReapError]:
        """The PATCH itself, blocking (``reap`` runs it in a worker thread)."""
        try:
            merge_patch_job(self._api_client, namespace=namespace, job_name=job_name, body=body,
                            timeout=self._timeout)
        except NotFoundError as exc:
            return Failure(ReapError(ReapErrorKind.NOT_FOUND, str(exc)))
        except ConflictError as exc:
            return Failure(ReapError(ReapErrorKind.CONFLICT, str(exc)))
        except ForbiddenError as exc:
            return Failure(ReapError(ReapErrorKind.FORBIDDEN, str(exc)))
        except ApiStatusError as exc:
            return Failure(ReapError(ReapErrorKind.REJECTED, str(exc)))
        except KubernetesError as exc:
            return Failure(ReapError(ReapErrorKind.UNAVAILABLE, str(exc)))
        log_event(logger, logging.DEBUG, "job_reap_patched", job=job_name)
        return Success(None)
