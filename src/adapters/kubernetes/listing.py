"""Listing: one complete, paginated list of a collection (one snapshot), and one
read-only snapshot of a namespace's Jobs, Pods and Configs (``zombiewatch scan``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from zombiewatch.adapters.kubernetes.client import ApiClient, translated_errors
from zombiewatch.adapters.kubernetes.decoding import (
    CONFIG,
    JOB,
    POD,
    Codec,
    DecodedItem,
    ListPage,
    decode_list_page,
)
from zombiewatch.adapters.kubernetes.errors import NotFoundError
from zombiewatch.adapters.kubernetes.resources import (
    ResourceCalls,
    config_calls,
    job_calls,
    pod_calls,
)
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.domain.views import AgentConfigView, JobView, PodView

V = TypeVar("V")

FetchPage = Callable[[str | None], bytes]
"""continue token (None for the first page) -> the page's response body."""


@dataclass(frozen=True, slots=True)
class Listing(Generic[V]):
    """A complete list: every item decoded, and the list's resourceVersion."""

    resource_version: str
    items: tuple[DecodedItem[V], ...]


def iter_pages(fetch: FetchPage) -> Iterator[ListPage]:
    """Follow ``continue`` tokens until the last page."""
    token: str | None = None
    while True:
        page = decode_list_page(fetch(token))
        yield page
        if not page.continue_token:
            return
        token = page.continue_token


def list_all(fetch: FetchPage, codec: Codec[V]) -> Listing[V]:
    """List every page; the resourceVersion is the last page's (the snapshot's)."""
    items: list[DecodedItem[V]] = []
    resource_version = ""
    for page in iter_pages(fetch):
        resource_version = page.resource_version
        items.extend(codec.decode_item(raw) for raw in page.items)
    return Listing(resource_version, tuple(items))


# --------------------------------------------------------------------------
# One read of a namespace (``zombiewatch scan``): list, never watch.

SCAN_PAGE_SIZE = 500
SCAN_REQUEST_TIMEOUT = (5.0, 60.0)
"""(connect, read) seconds for one page: an operator command must not hang."""


@dataclass(frozen=True, slots=True)
class NamespaceSnapshot:
    """Every agent Job, Pod and Config of one namespace, from one list each."""

    jobs: tuple[JobView, ...]
    pods: tuple[PodView, ...]
    configs: tuple[AgentConfigView, ...]
    skipped: tuple[Skipped, ...]
    """Objects the translator refused (counted and named, never fatal)."""
    configs_missing: bool
    """The Config CRD is not installed: the defaults apply."""


def _fetch(calls: ResourceCalls) -> FetchPage:
    def fetch(token: str | None) -> bytes:
        with translated_errors():
            response = calls.list_page(limit=SCAN_PAGE_SIZE, continue_token=token,
                                       request_timeout=SCAN_REQUEST_TIMEOUT)
            return bytes(response.data)

    return fetch


def _views(listing: Listing[V], skipped: list[Skipped]) -> tuple[V, ...]:
    views: list[V] = []
    for item in listing.items:
        if isinstance(item.result, Skipped):
            skipped.append(item.result)
        else:
            views.append(item.result)
    return tuple(views)


def list_namespace(api_client: ApiClient, namespace: str) -> NamespaceSnapshot:
    """List the namespace's agent Jobs, their Pods and the Configs; read-only.

    Raises ``KubernetesError`` (``ForbiddenError`` when RBAC refuses a list,
    ``TransportError`` when the API server cannot be reached); a missing
    Config CRD is not an error.
    """
    skipped: list[Skipped] = []
    jobs = _views(list_all(_fetch(job_calls(api_client, namespace)), JOB), skipped)
    pods = _views(list_all(_fetch(pod_calls(api_client, namespace)), POD), skipped)
    try:
        configs = _views(list_all(_fetch(config_calls(api_client, namespace)), CONFIG), skipped)
    except NotFoundError:
        return NamespaceSnapshot(jobs, pods, (), tuple(skipped), configs_missing=True)
    return NamespaceSnapshot(jobs, pods, configs, tuple(skipped), configs_missing=False)
