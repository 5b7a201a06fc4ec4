"""Small authenticated GETs against the node's API server through the relay (stdlib only)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from .layout import NODE_NAME, Layout


def _context(layout: Layout) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    ctx.load_cert_chain(str(layout.pki / "admin.crt"), str(layout.pki / "admin.key"))
    return ctx


def get(layout: Layout, api_url: str, path: str, timeout: float = 3.0) -> tuple[int, Any]:
    """(status, parsed JSON or None); network errors count as status 0."""
    try:
        with urllib.request.urlopen(f"{api_url}{path}", timeout=timeout,
                                    context=_context(layout)) as resp:
            body = resp.read()
            status = int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code), None
    except (OSError, ssl.SSLError, ValueError):
        return 0, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def apiserver_ready(layout: Layout, api_url: str) -> bool:
    status, _ = get(layout, api_url, "/readyz")
    return status == 200


def node_state(layout: Layout, api_url: str) -> dict[str, bool]:
    """The three facts that make the node usable: Ready, untainted, default SA present."""
    status, node = get(layout, api_url, f"/api/v1/nodes/{NODE_NAME}")
    ready = untainted = False
    if status == 200 and isinstance(node, dict):
        conditions = node.get("status", {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        taints = node.get("spec", {}).get("taints") or []
        untainted = not node.get("spec", {}).get("unschedulable") and not any(
            t.get("key", "").startswith("node.kubernetes.io/") for t in taints)
    sa_status, _ = get(layout, api_url, "/api/v1/namespaces/default/serviceaccounts/default")
    return {"ready": ready, "schedulable": untainted, "default_serviceaccount": sa_status == 200}
