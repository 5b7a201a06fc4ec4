"""A client ``Configuration`` built straight from a merged kubeconfig, for the common contexts.

Why: the library's loader (``kubernetes.config.kube_config``) imports oauthlib,
requests-oauthlib, requests, charset-normalizer and google-auth at its top, for the OIDC, GCP
and exec token refreshes, ~6 MiB and ~60 ms whether the kubeconfig needs them or not
(docs/PERFORMANCE.md, "Fixed cost"). A context whose user holds a bearer token (``token``
or ``tokenFile``), a client certificate and key (``client-certificate``/``client-key``, files
or ``-data``), basic auth (``username``/``password``) or nothing, against a cluster with a
``server`` and its CA (file or ``-data``) or ``insecure-skip-tls-verify``, is configured here
exactly as that loader configures it (same fields, same precedence: a present ``token`` wins
over ``tokenFile``, ``-data`` over the file, the token over basic auth; the token file read
once, as is; ``File does not exist: PATH`` for a missing file). The loader's refresh hook
only re-applies a token that never expires, so none is set.

:func:`configure` returns False, touching nothing, for every context it does not handle:
the user has ``exec`` or an ``auth-provider`` (the library runs or refreshes them), an entry
is malformed (the library's own error message then says which), or a value is not what the
loader reads. The caller then runs the library's loader.

``-data`` values are written, base64-decoded, to files as the library writes them, because
the client's TLS layer takes file names: :func:`tempfile.mkstemp` in the system's temporary
directory (``TMPDIR``, else ``/tmp``), readable by the owner only, one file per distinct
content for the life of the process (the connections read them when they open), removed at
exit.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import tempfile
from typing import Any, Final

import urllib3.util
from kubernetes.client.configuration import Configuration
from kubernetes.config.config_exception import ConfigException

_NAMED: Final = ("clusters", "contexts", "users")
_DELEGATED: Final = ("exec", "auth-provider")
"""User entries only the library's loader serves (it runs or refreshes them)."""

_temp_files: dict[bytes, str] = {}
"""Each decoded ``-data`` content and the file holding it (reused, as the library does)."""


class _NotHandled(Exception):  # noqa: N818 - a signal, not an error
    """The context needs the library's loader."""


def configure(merged: dict[str, Any], context: dict[str, Any],
              configuration: Configuration) -> bool:
    """Set ``configuration`` from ``context`` of ``merged`` as the library's loader would;
    False (``configuration`` untouched) when the context needs the loader.

    Raises what the loader raises for the same input: ``ConfigException`` for a missing
    file, ``OSError`` for an unreadable token file, ``ValueError`` for ``-data`` that is no
    base64.
    """
    try:
        cluster, user = _entries(merged, context)
        if any(key in user for key in _DELEGATED):
            return False
        settings: dict[str, Any] = {}
        token = _token(user)
        if token:
            settings["api_key"] = {"BearerToken": f"Bearer {token}"}
        elif "username" in user and "password" in user:
            basic = urllib3.util.make_headers(
                basic_auth=f"{_text(user, 'username')}:{_text(user, 'password')}")  # both str
            settings["api_key"] = {"BearerToken": basic["authorization"]}
        host = _text(cluster, "server")
        if host is None:
            return False  # the loader leaves the library's default host; let it
        settings["host"] = host.rstrip("/")
        if settings["host"].startswith("https"):
            settings["ssl_ca_cert"] = _as_file(cluster, "certificate-authority")
            settings["cert_file"] = _as_file(user, "client-certificate")
            settings["key_file"] = _as_file(user, "client-key")
        if "insecure-skip-tls-verify" in cluster:
            settings["verify_ssl"] = not cluster["insecure-skip-tls-verify"]
        for key, attribute in (("tls-server-name", "tls_server_name"), ("proxy-url", "proxy")):
            if key in cluster:
                settings[attribute] = cluster[key]
    except _NotHandled:
        return False
    api_key = settings.pop("api_key", None)
    if api_key is not None:
        configuration.api_key.update(api_key)
    for attribute, value in settings.items():
        setattr(configuration, attribute, value)
    return True


def _entries(merged: dict[str, Any],
             context: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The context's cluster and user (empty: none), as the loader picks them."""
    if any(not isinstance(entry, dict) or "name" not in entry
           for kind in _NAMED for entry in merged.get(kind) or []):
        raise _NotHandled  # the loader names the nameless entry
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if not isinstance(cluster_name, str) or not isinstance(user_name, str | None):
        raise _NotHandled
    cluster = _named(merged, "clusters", cluster_name, "cluster")
    if cluster is None:
        raise _NotHandled  # the loader says the cluster is missing
    user = _named(merged, "users", user_name, "user") if user_name else {}
    return cluster, user or {}


def _named(merged: dict[str, Any], kind: str, name: str, inner: str) -> dict[str, Any] | None:
    for entry in merged.get(kind) or []:
        if entry["name"] == name:
            value = entry.get(inner)
            if not isinstance(value, dict):
                raise _NotHandled
            return value
    return None


def _text(entry: dict[str, Any], key: str) -> str | None:
    """``entry[key]``, None if absent; a value that is no string (null too, which the loader
    reads differently key by key) is left to the loader."""
    if key not in entry:
        return None
    value = entry[key]
    if not isinstance(value, str):
        raise _NotHandled
    return value


def _token(user: dict[str, Any]) -> str | None:
    """``token`` if present (even empty), else ``tokenFile``'s content as it is."""
    if "token" in user:
        return _text(user, "token")
    path = _text(user, "tokenFile")
    if path is None:
        return None
    with open(os.path.normpath(path)) as file:
        return file.read()


def _as_file(entry: dict[str, Any], key: str) -> str | None:
    """The file holding ``key``: ``key-data`` decoded into a private temporary file if
    present, else the file ``key`` names (which must exist)."""
    if f"{key}-data" in entry:
        data = _text(entry, f"{key}-data")
        return _temp_file(base64.standard_b64decode(data.encode())) if data else None
    path = _text(entry, key)
    if path is None:
        return None
    path = os.path.normpath(path)
    if not os.path.isfile(path):
        raise ConfigException(f"File does not exist: {path}")
    return path


def _temp_file(content: bytes) -> str:
    known = _temp_files.get(content)
    if known is not None and os.path.isfile(known):
        return known
    if not _temp_files:
        atexit.register(_remove_temp_files)
    descriptor, name = tempfile.mkstemp(prefix="zombiewatch-kubeconfig-")
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    _temp_files[content] = name
    return name


def _remove_temp_files() -> None:
    for name in _temp_files.values():
        with contextlib.suppress(OSError):
            os.remove(name)
    _temp_files.clear()
