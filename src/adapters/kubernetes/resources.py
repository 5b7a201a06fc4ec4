"""The three collections we inform on, as low-level list/watch calls.

Every call passes ``_preload_content=False``: the client hands back the raw
urllib3 response, whose bytes ``translation`` decodes with msgspec. The client
never builds a ``V1Pod``/``V1Job`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, cast

from kubernetes import client as k8s_client

from zombiewatch.adapters.kubernetes.client import ApiClient
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


ListCall = Callable[..., RawResponse]
"""``list_...(namespace-bound kwargs)``: the client method, curried on namespace."""


@dataclass(frozen=True, slots=True)
class ResourceCalls:
    """List and watch of one collection, bound to a client and namespace."""

    call: ListCall
    label_selector: str | None

    def list_page(
        self, *, limit: int, continue_token: str | None, request_timeout: tuple[float, float]
    ) -> RawResponse:
        kwargs: dict[str, object] = {"limit": limit, "_preload_content": False}
        if continue_token:
            kwargs["_continue"] = continue_token
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        return self.call(_request_timeout=request_timeout, **kwargs)

    def watch(
        self, *, resource_version: str, timeout_seconds: int, request_timeout: tuple[float, float]
    ) -> RawResponse:
        kwargs: dict[str, object] = {
            "watch": True,
            "allow_watch_bookmarks": True,
            "resource_version": resource_version,
            "timeout_seconds": timeout_seconds,
            "_preload_content": False,
        }
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        return self.call(_request_timeout=request_timeout, **kwargs)


ResourceCallsFactory = Callable[[ApiClient, str], ResourceCalls]
"""(client, namespace) -> the calls; built inside the informer's thread. Each list
method is held as ``Callable[..., object]``: its typed signature names every option,
ours come as one dict of them."""


def _calls(
    list_method: Callable[..., object], *args: str, label_selector: str | None
) -> ResourceCalls:
    """A client list method, curried on its leading arguments (namespace, ...)."""

    def call(**kwargs: object) -> RawResponse:
        return cast(RawResponse, list_method(*args, **kwargs))

    return ResourceCalls(call, label_selector)


def pod_calls(api_client: ApiClient, namespace: str) -> ResourceCalls:
    return _calls(k8s_client.CoreV1Api(api_client).list_namespaced_pod, namespace,
                  label_selector=TASK_ID_LABEL)


def job_calls(api_client: ApiClient, namespace: str) -> ResourceCalls:
    return _calls(k8s_client.BatchV1Api(api_client).list_namespaced_job, namespace,
                  label_selector=TASK_ID_LABEL)


def config_calls(api_client: ApiClient, namespace: str) -> ResourceCalls:
    return _calls(k8s_client.CustomObjectsApi(api_client).list_namespaced_custom_object,
                  CONFIG_GROUP, CONFIG_VERSION, namespace, CONFIG_PLURAL, label_selector=None)
