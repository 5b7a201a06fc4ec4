"""Just enough of ``kubernetes.client.ApiClient`` for ``open_request`` and ``raw_request``: the
adapters' unit tests (the reaper's patch, the Event recorder's writes) send through it and read
what was sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Body:
    """The urllib3 response a ``Response`` wraps."""

    data: bytes = b"{}"


@dataclass
class Response:
    """``kubernetes.client.rest.RESTResponse``: status, reason, the raw response."""

    status: int
    reason: str = ""
    response: Body = field(default_factory=Body)

    def read(self) -> bytes:
        return self.response.data


@dataclass
class FakeApiClient:
    """Records each request; answers ``status``, or ``by_method[method]`` when given."""

    status: int = 200
    by_method: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, object, str]] = field(default_factory=list)

    def param_serialize(self, *, method: str, resource_path: str, header_params: dict[str, str],
                        body: object, auth_settings: list[str]) -> tuple[Any, ...]:
        self.requests.append((method, resource_path, body, header_params["Content-Type"]))
        return method, resource_path, header_params, body, []

    def call_api(self, method: str, *args: Any, _request_timeout: object) -> Response:
        return Response(self.by_method.get(method, self.status), "fake")
