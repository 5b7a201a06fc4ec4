"""etcd and kube-apiserver: argv, credentials, kubeconfig, readiness and etcd compaction."""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from . import paths
from .procs import ServiceError, run
from .state import Proc

ADMIN_USER = "zombiewatch-admin"


def etcd_proc(run_dir: Path, client_port: int, peer_port: int) -> Proc:
    """Single-member etcd on loopback; its data on tmpfs if possible (``paths.etcd_data_dir``)."""
    etcd = str(paths.node_binary("etcd"))
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    argv = [etcd, "--name=zw", f"--data-dir={paths.etcd_data_dir(run_dir)}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=zw={peer}", "--initial-cluster-state=new",
            "--logger=zap", "--log-outputs=stderr", "--quota-backend-bytes=4294967296"]
    return Proc("etcd", argv, run_dir / "logs" / "etcd.log")


def write_credentials(run_dir: Path) -> tuple[str, Path]:
    """Service-account keys (openssl) and a token file with a random system:masters token."""
    pki = run_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    key, pub = pki / "sa.key", pki / "sa.pub"
    run(["openssl", "genrsa", "-out", str(key), "2048"])
    run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)])
    token = secrets.token_urlsafe(32)
    tokens = pki / "tokens.csv"
    tokens.write_text(f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
    tokens.chmod(0o600)
    return token, pki


def apiserver_proc(run_dir: Path, etcd_port: int, port: int) -> Proc:
    """A bare v1.37 API server: loopback only, token auth, RBAC, no kubelet, logs on stderr."""
    pki = run_dir / "pki"
    argv = [str(paths.node_binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", f"--secure-port={port}",
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            f"--cert-dir={run_dir / 'certs'}", "--service-cluster-ip-range=10.0.0.0/24",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--token-auth-file={pki / 'tokens.csv'}", "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount", "--allow-privileged=true",
            "--profiling=false", "--v=1"]
    return Proc("apiserver", argv, run_dir / "logs" / "kube-apiserver.log")


def ca_file(run_dir: Path) -> Path:
    """The apiserver's self-signed serving cert (generated on first start) is the CA."""
    return run_dir / "certs" / "apiserver.crt"


def write_kubeconfig(run_dir: Path, api_url: str, token: str) -> Path:
    """JSON is YAML, so the stdlib writes a kubeconfig every client can read."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "zombiewatch",
        "clusters": [{"name": "zombiewatch", "cluster": {
            "server": api_url, "certificate-authority": str(ca_file(run_dir))}}],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [{"name": "zombiewatch", "context": {
            "cluster": "zombiewatch", "user": ADMIN_USER, "namespace": "default"}}],
    }
    path = run_dir / "kubeconfig"
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


def _http(url: str, *, data: bytes | None = None, token: str = "",
          ctx: ssl.SSLContext | None = None, timeout: float = 3.0) -> tuple[int, bytes]:
    """One small HTTP call; returns (status, body) and never raises on HTTP errors."""
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


def etcd_healthy(endpoint: str) -> bool:
    """etcd answers /health with health=true once it has a leader."""
    try:
        status, body = _http(f"{endpoint}/health")
    except OSError:
        return False
    return status == 200 and b'"true"' in body


def apiserver_ready(api_url: str, token: str, run_dir: Path) -> bool:
    """``/readyz`` with the admin token, verifying TLS against the generated cert."""
    if not ca_file(run_dir).is_file():
        return False
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file(run_dir)))
        status, _ = _http(f"{api_url}/readyz", token=token, ctx=ctx)
    except (OSError, ssl.SSLError):
        return False
    return status == 200


def _etcd_post(endpoint: str, path: str, payload: dict[str, object]) -> dict[str, object]:
    """etcd's gRPC gateway (JSON over HTTP): no etcdctl needed."""
    status, body = _http(f"{endpoint}{path}", data=json.dumps(payload).encode(), timeout=10)
    if status != 200:
        raise ServiceError(f"etcd {path} -> {status}: {body[:500]!r}")
    result: dict[str, object] = json.loads(body)
    return result


def etcd_revision(endpoint: str) -> int:
    """The current store revision, from the header of any range request."""
    reply = _etcd_post(endpoint, "/v3/kv/range",
                       {"key": base64.b64encode(b"/").decode(), "limit": 1})
    header = reply.get("header")
    if not isinstance(header, dict):
        raise ServiceError(f"etcd range reply without header: {reply}")
    return int(header["revision"])


def compact_etcd(endpoint: str) -> int:
    """Compact to the current revision so older resourceVersions get 410 Gone."""
    revision = etcd_revision(endpoint)
    _etcd_post(endpoint, "/v3/kv/compaction", {"revision": revision, "physical": True})
    return revision
