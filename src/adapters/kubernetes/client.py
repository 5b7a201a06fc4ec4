"""Building kubernetes ``ApiClient``s from the credentials kubectl would use."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from zombiewatch.adapters.kubernetes.credentials import load_credentials
from zombiewatch.adapters.kubernetes.errors import (
    KubernetesError,
    TransportError,
    from_status,
)

ApiClient = Any  # the client's own annotations are partial (untyped close(), ...)
"""``kubernetes.client.ApiClient``."""

ApiClientFactory = Callable[[], ApiClient]


def api_client_factory(kubeconfig: str | None, context: str | None = None) -> ApiClientFactory:
    """A factory of independent ``ApiClient``s sharing one configuration, found as
    kubectl finds it (:func:`~zombiewatch.adapters.kubernetes.credentials.load_credentials`;
    raises its ``CredentialsError``).

    Each informer thread gets its own client (own connection pool), so closing
    one on stop never disturbs another.
    """
    # Here, not at the top: the client module imports pydantic and dateutil (~0.3 s, ~8 MiB),
    # which the CLI's other commands (explain, --help) and the settings never need.
    from kubernetes.client.api_client import ApiClient as KubernetesApiClient  # noqa: PLC0415

    configuration = load_credentials(kubeconfig, context).configuration
    # No urllib3-level retries: the informer loop, the elector and the sweep retry
    # with their own backoff, and a request stuck in hidden retries cannot be
    # interrupted by stop().
    configuration.retries = 0

    def make() -> ApiClient:
        return KubernetesApiClient(configuration)

    return make


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise the client's and urllib3's exceptions as our own hierarchy."""
    import urllib3.exceptions  # noqa: PLC0415 - keep the import next to its only use

    try:
        yield
    except KubernetesError:
        raise
    except ApiException as exc:
        status = int(getattr(exc, "status", 0) or 0)
        raise from_status(status, str(getattr(exc, "reason", "") or "")) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc


def open_request(
    api_client: ApiClient,
    method: str,
    path: str,
    *,
    query: Mapping[str, object] | None = None,
    body: object = None,
    content_type: str = "application/json",
    timeout: float | tuple[float, float],
) -> Any:
    """One request through the client (its configuration, credentials, TLS and connection
    pool), the answer's body unread; our errors on failure (the body of an error is read
    and the connection released).

    Returns the ``urllib3.HTTPResponse``: list pages and watch streams are decoded by
    ``decoding`` with msgspec, so no generated API class (``CoreV1Api``... which import
    hundreds of pydantic models) and no model is ever needed.
    """
    options: dict[str, object] = {"query_params": list(query.items())} if query else {}
    with translated_errors():
        method, url, headers, body, post_params = api_client.param_serialize(
            method=method,
            resource_path=path,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
            **options,
        )
        response = api_client.call_api(
            method, url, headers, body, post_params, _request_timeout=timeout
        )
        if not 200 <= response.status <= 299:
            response.read()
            raise from_status(int(response.status), str(response.reason or ""))
        return response.response


def raw_request(
    api_client: ApiClient,
    method: str,
    path: str,
    *,
    body: object = None,
    content_type: str = "application/json",
    timeout: float | tuple[float, float],
) -> bytes:
    """One request with a plain-JSON body, answer as bytes; our errors on failure.

    For writes whose bodies must be exactly as we spell them (Lease
    ``MicroTime`` strings), bypassing the client's model validation.
    """
    response = open_request(api_client, method, path, body=body, content_type=content_type,
                            timeout=timeout)
    with translated_errors():
        return bytes(response.data)
