"""The durable dedupe layer: merge-patch the zombie annotations onto the Job."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from returns.result import Failure, Result, Success

from zombiewatch.adapters.kubernetes.client import ApiClient, raw_request
from zombiewatch.adapters.kubernetes.errors import (
    ForbiddenError,
    KubernetesError,
    NotFoundError,
)
from zombiewatch.adapters.logfields import log_event
from zombiewatch.domain.ports import AnnotateError, AnnotateErrorKind
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.timestamps import rfc3339_seconds
from zombiewatch.domain.views import ZOMBIE_REASON_ANNOTATION, ZOMBIE_REPORTED_AT_ANNOTATION

logger = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"


def merge_patch_job(
    api_client: ApiClient, *, namespace: str, job_name: str, body: dict[str, object],
    timeout: float,
) -> None:
    """JSON-merge-patch one Job, blocking; raises the adapter's ``KubernetesError`` family.

    The one PATCH both the annotator and the reaper send (they differ only in the body).
    """
    raw_request(api_client, "PATCH", f"/apis/batch/v1/namespaces/{namespace}/jobs/{job_name}",
                body=body, content_type=MERGE_PATCH, timeout=timeout)


def annotation_patch(reason: ZombieReason, reported_at: datetime) -> dict[str, object]:
    """The JSON merge patch: only the two annotations, nothing else touched."""
    return {
        "metadata": {
            "annotations": {
                ZOMBIE_REASON_ANNOTATION: str(reason),
                ZOMBIE_REPORTED_AT_ANNOTATION: rfc3339_seconds(reported_at),  # as the Go controller
            }
        }
    }


class KubernetesJobAnnotator:
    """Implements the ``JobAnnotator`` port; never raises for API/transport failures."""

    def __init__(self, api_client: ApiClient, *, request_timeout: float = 10.0) -> None:
        self._api_client = api_client
        self._timeout = request_timeout

    async def annotate_reported(
        self, *, namespace: str, job_name: str, reason: ZombieReason, reported_at: datetime
    ) -> Result[None, AnnotateError]:
        body = annotation_patch(reason, reported_at)
        try:
            await asyncio.to_thread(merge_patch_job, self._api_client, namespace=namespace,
                                    job_name=job_name, body=body, timeout=self._timeout)
        except NotFoundError as exc:
            return Failure(AnnotateError(AnnotateErrorKind.NOT_FOUND, str(exc)))
        except ForbiddenError as exc:
            return Failure(AnnotateError(AnnotateErrorKind.FORBIDDEN, str(exc)))
        except KubernetesError as exc:
            return Failure(AnnotateError(AnnotateErrorKind.UNAVAILABLE, str(exc)))
        log_event(logger, logging.INFO, "job_annotated", job=job_name, reason=reason)
        return Success(None)
