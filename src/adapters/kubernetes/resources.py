"""The three collections we inform on, as low-level list/watch requests.

Each is a GET of the collection's path through the client's ``ApiClient``
(``client.open_request``) that hands back the raw urllib3 response, whose bytes
``translation`` decodes with msgspec. The client never builds a ``V1Pod``/``V1Job``
here, and the generated API classes (``CoreV1Api``, ``BatchV1Api``,
``CustomObjectsApi``) are not imported at all: each imports every model its methods
name and wraps every method in pydantic's validation, ~25 MiB of the daemon's memory for
three list calls (docs/PERFORMANCE.md, "Fixed cost").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, cast

from zombiewatch.adapters.kubernetes.client import ApiClient, open_request
from zombiewatch.domain.views import TASK_ID_LABEL

CONFIG_GROUP = "agent.benjamin-borbe.de"
CONFIG_VERSION = "v1"
CONFIG_PLURAL = "configs"


class RawResponse(Protocol):
    """The parts of ``urllib3.HTTPResponse`` we use."""

    @property
    def data(self) -> bytes: ...

    def stream(
        self, amt: int | None = ..., decode_content: bool | None = ...
    ) -> Iterator[bytes]: ...

    def shutdown(self) -> None: ...

    def release_conn(self) -> None: ...

    def close(self) -> None: ...


ListCall = Callable[[Mapping[str, object], tuple[float, float]], RawResponse]
"""(query parameters by their API names, (connect, read) timeout) -> the raw response of
a GET of one collection."""


@dataclass(frozen=True, slots=True)
class ResourceCalls:
    """List and watch of one collection, bound to a client and namespace."""

    call: ListCall
    label_selector: str | None

    def list_page(
        self, *, limit: int, continue_token: str | None, request_timeout: tuple[float, float]
    ) -> RawResponse:
        query: dict[str, object] = {"limit": limit}
        if continue_token:
            query["continue"] = continue_token
        if self.label_selector:
            query["labelSelector"] = self.label_selector
        return self.call(query, request_timeout)

    def watch(
        self, *, resource_version: str, timeout_seconds: int, request_timeout: tuple[float, float]
    ) -> RawResponse:
        query: dict[str, object] = {
            "watch": True,
            "allowWatchBookmarks": True,
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds,
        }
        if self.label_selector:
            query["labelSelector"] = self.label_selector
        return self.call(query, request_timeout)


ResourceCallsFactory = Callable[[ApiClient, str], ResourceCalls]
"""(client, namespace) -> the calls; built inside the informer's thread."""


def _calls(api_client: ApiClient, path: str, *, label_selector: str | None) -> ResourceCalls:
    """GETs of the collection at ``path``."""

    def call(query: Mapping[str, object], request_timeout: tuple[float, float]) -> RawResponse:
        return cast(RawResponse, open_request(api_client, "GET", path, query=query,
                                              timeout=request_timeout))

    return ResourceCalls(call, label_selector)


def pod_calls(api_client: ApiClient, namespace: str) -> ResourceCalls:
    return _calls(api_client, f"/api/v1/namespaces/{namespace}/pods",
                  label_selector=TASK_ID_LABEL)


def job_calls(api_client: ApiClient, namespace: str) -> ResourceCalls:
    return _calls(api_client, f"/apis/batch/v1/namespaces/{namespace}/jobs",
                  label_selector=TASK_ID_LABEL)


def config_calls(api_client: ApiClient, namespace: str) -> ResourceCalls:
    return _calls(api_client, f"/apis/{CONFIG_GROUP}/{CONFIG_VERSION}/namespaces/{namespace}/"
                  f"{CONFIG_PLURAL}", label_selector=None)
