"""Cluster credentials found as kubectl finds them.

The order: ``--kubeconfig`` (or the library's ``kubeconfig``), else ``KUBECONFIG``;
either may be a colon-separated list, merged as kubectl merges ``KUBECONFIG`` (for
a cluster, context or user of one name and for ``current-context``, the first file
that sets it wins; files that do not exist are skipped). Else ``~/.kube/config``,
else the pod's in-cluster service account. ``context`` picks a context (default: the merged
``current-context``), whose ``namespace`` is the default namespace. The common contexts are
configured without the library's kubeconfig loader (:mod:`.kubeconfig_user`), the others by it.

A failure is one :class:`CredentialsError` line saying what was tried, each with
why it did not serve, and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from kubernetes.client.configuration import Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import load_incluster_config

from zombiewatch.adapters.kubernetes.kubeconfig_user import configure

ENV_KUBECONFIG: Final = "KUBECONFIG"
_NAMED: Final = ("clusters", "contexts", "users")
_FILE_KEYS: Final = {"clusters": ("certificate-authority",),
                     "users": ("client-certificate", "client-key", "tokenFile")}
"""File references kubectl resolves against the kubeconfig file that holds them."""

ADVICE: Final = ("pass --kubeconfig (or set KUBECONFIG), check --context, "
                 "or run inside a cluster")


class CredentialsError(Exception):
    """No usable cluster credentials; the message says what was tried and what to do."""


@dataclass(frozen=True, slots=True)
class Kubeconfig:
    """The merged kubeconfig and where it came from."""

    source: str
    """How it was found, for messages: ``--kubeconfig /x``, ``KUBECONFIG a:b``, ..."""
    merged: dict[str, Any]

    def context(self, name: str | None) -> dict[str, Any] | None:
        """The context named ``name`` (default: ``current-context``), None if absent."""
        wanted = name or self.merged.get("current-context")
        for entry in self.merged.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == wanted:
                context = entry.get("context")
                return context if isinstance(context, dict) else {}
        return None


@dataclass(frozen=True, slots=True)
class Credentials:
    """A client configuration and the namespace its context names (None: none)."""

    configuration: Configuration
    source: str
    namespace: str | None


def find_kubeconfig(kubeconfig: str | os.PathLike[str] | None,
                    environ: Mapping[str, str] | None = None) -> Kubeconfig | list[str]:
    """The kubeconfig kubectl would use, merged; or, when there is none, what was tried."""
    env = os.environ if environ is None else environ
    from_env = env.get(ENV_KUBECONFIG) or None
    if kubeconfig is not None or from_env is not None:
        given = str(kubeconfig) if kubeconfig is not None else str(from_env)
        label = f"KUBECONFIG {given}" if given == from_env else f"--kubeconfig {given}"
        paths = [Path(p).expanduser() for p in given.split(os.pathsep) if p]
    else:
        default = Path(env.get("HOME") or Path.home()) / ".kube" / "config"
        if default.is_file():
            return Kubeconfig("~/.kube/config", _merge([default]))
        return ["--kubeconfig (not given)", "KUBECONFIG (unset)", "~/.kube/config (missing)"]
    existing = [p for p in paths if p.is_file()]
    if not existing:
        why = "missing" if len(paths) == 1 else "none of its files exist"
        return [f"{label} ({why})"]
    return Kubeconfig(label, _merge(existing))


def _merge(paths: list[Path]) -> dict[str, Any]:
    """kubectl's merge: the first file setting a named entry or current-context wins."""
    merged: dict[str, Any] = {name: [] for name in _NAMED}
    for path in paths:
        try:
            loaded = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise CredentialsError(f"kubeconfig {path} cannot be read: "
                                   f"{str(exc).splitlines()[0]}") from None
        if loaded is None:
            continue
        if not isinstance(loaded, dict):
            raise CredentialsError(f"kubeconfig {path} is not a kubeconfig (not a mapping)")
        if loaded.get("current-context") and "current-context" not in merged:
            merged["current-context"] = loaded["current-context"]
        for kind in _NAMED:
            known = {entry.get("name") for entry in merged[kind]}
            for entry in loaded.get(kind) or []:
                if isinstance(entry, dict) and entry.get("name") not in known:
                    known.add(entry.get("name"))
                    merged[kind].append(_absolute(kind, entry, path.parent))
    return merged


def _absolute(kind: str, entry: dict[str, Any], base: Path) -> dict[str, Any]:
    """``entry`` with its relative file references made absolute (relative to ``base``)."""
    inner_key = kind[:-1]  # clusters -> cluster, users -> user
    inner = entry.get(inner_key)
    if not isinstance(inner, dict):
        return entry
    fixed = {key: str(base / value) if key in _FILE_KEYS.get(kind, ())
             and isinstance(value, str) and value and not Path(value).is_absolute() else value
             for key, value in inner.items()}
    return {**entry, inner_key: fixed}


def context_namespace(kubeconfig: str | os.PathLike[str] | None, context: str | None,
                      environ: Mapping[str, str] | None = None) -> str | None:
    """The namespace the chosen context names, or None (no kubeconfig, no such context,
    no namespace in it): the default of ``--namespace``, as kubectl's."""
    try:
        found = find_kubeconfig(kubeconfig, environ)
    except CredentialsError:
        return None
    if isinstance(found, list):
        return None
    chosen = found.context(context)
    namespace = None if chosen is None else chosen.get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def load_credentials(kubeconfig: str | os.PathLike[str] | None, context: str | None = None,
                     environ: Mapping[str, str] | None = None) -> Credentials:
    """A client configuration found as kubectl finds one; :class:`CredentialsError` if none."""
    env = os.environ if environ is None else environ
    found = find_kubeconfig(kubeconfig, env)
    if isinstance(found, Kubeconfig):
        return _from_kubeconfig(found, context)
    if context:
        raise CredentialsError(f"no kubeconfig for --context {context}: tried "
                               f"{', '.join(found)}; {ADVICE}")
    tried = found
    if kubeconfig is not None or env.get(ENV_KUBECONFIG):  # named ones only, as kubectl
        raise CredentialsError(f"no usable cluster credentials: tried {', '.join(tried)}; "
                               f"{ADVICE}")
    if not env.get("KUBERNETES_SERVICE_HOST"):
        tried = [*tried, "in-cluster (KUBERNETES_SERVICE_HOST unset)"]
        raise CredentialsError(f"no usable cluster credentials: tried {', '.join(tried)}; "
                               f"{ADVICE}")
    configuration = Configuration()
    try:
        load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration)
    except (ConfigException, OSError) as exc:
        tried = [*tried, f"in-cluster ({exc})"]
        raise CredentialsError(f"no usable cluster credentials: tried {', '.join(tried)}; "
                               f"{ADVICE}") from None
    return Credentials(configuration, "in-cluster", None)


def _from_kubeconfig(found: Kubeconfig, context: str | None) -> Credentials:
    chosen = found.context(context)
    if chosen is None:
        names = sorted(str(c.get("name")) for c in found.merged.get("contexts") or []
                       if isinstance(c, dict))
        which = f"context {context!r}" if context else "a current-context"
        raise CredentialsError(f"{found.source} has no {which} (contexts: "
                               f"{', '.join(names) or 'none'}); pass --context NAME")
    configuration = Configuration()
    try:
        if not configure(found.merged, chosen, configuration):
            # Only here: kube_config imports oauthlib, requests and google-auth (for OIDC,
            # GCP and exec token refresh), ~6 MiB only such a user entry needs.
            from kubernetes.config.kube_config import (  # noqa: PLC0415
                load_kube_config_from_dict,
            )

            load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                config_dict=found.merged, context=context, client_configuration=configuration,
                persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise CredentialsError(f"{found.source}: unusable context "
                               f"{context or found.merged.get('current-context')!r}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                               ) from None
    namespace = chosen.get("namespace")
    return Credentials(configuration, found.source,
                       namespace if isinstance(namespace, str) and namespace else None)
