"""The node's PKI with openssl: a CA, the API server's serving cert, client certs, SA keys.

Client identities are the ones Kubernetes' RBAC defaults and the Node authorizer expect:
``system:kube-controller-manager``, ``system:kube-scheduler``, ``system:node:<node>`` in
``system:nodes``; the admin and the API server's kubelet client are in ``system:masters``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from zwservices import paths
from zwservices.procs import run

from .layout import APISERVER_PORT, FIRST_SERVICE_IP, NODE_IP, NODE_NAME, Layout

DAYS = "365"
CACHE_MAX_AGE = 300 * 86400  # regenerate well before the certificates expire
# name -> (CN, O); the file stem of each cert and of its in-namespace kubeconfig.
CLIENTS = {
    "admin": ("zombiewatch-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
}
IN_NAMESPACE = ("controller-manager", "scheduler", "kubelet")


def _subject(cn: str, org: str) -> str:
    return f"/CN={cn}" + (f"/O={org}" if org else "")


def _sign(pki: Path, name: str, subject: str, ext: str) -> None:
    """A 2048-bit key and a CA-signed cert with the given extensions."""
    key, csr, crt, extfile = (pki / f"{name}{s}" for s in (".key", ".csr", ".crt", ".ext"))
    extfile.write_text(ext)
    run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-subj", subject, "-out", str(csr)])
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"),
         "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", DAYS, "-sha256",
         "-extfile", str(extfile), "-out", str(crt)])
    csr.unlink()
    extfile.unlink()


def cache_dir() -> Path:
    """Names and addresses are fixed, so one PKI serves every run (it only ever serves
    loopback and the node's private namespace); generating it costs seconds on 2 cores."""
    return paths.node_cache_dir() / "pki"


def write_pki(layout: Layout) -> None:
    """Copy the cached PKI (generated on first use) to ``<run>/pki`` and write kubeconfigs."""
    cached = cache_dir()
    stamp = cached / ".complete"
    if not stamp.is_file() or time.time() - stamp.stat().st_mtime > CACHE_MAX_AGE:
        shutil.rmtree(cached, ignore_errors=True)
        tmp = cached.with_name(f"pki.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        generate(tmp)
        (tmp / ".complete").touch()
        try:
            tmp.replace(cached)
        except OSError:  # another run cached one meanwhile: use that
            shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(cached, layout.pki, ignore=shutil.ignore_patterns(".complete"))
    layout.pki.chmod(0o700)
    for name in IN_NAMESPACE:
        write_kubeconfig(layout, layout.kubeconfig(name), name,
                         f"https://127.0.0.1:{APISERVER_PORT}")


def generate(pki: Path) -> None:
    """A CA, the serving cert, the client certs and the service-account key pair."""
    pki.mkdir(parents=True, mode=0o700)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", DAYS,
         "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"),
         "-subj", "/CN=zombiewatch-node-ca",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"])
    sans = ",".join([
        "IP:127.0.0.1", f"IP:{NODE_IP}", f"IP:{FIRST_SERVICE_IP}", "DNS:localhost",
        "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local"])
    _sign(pki, "apiserver", "/CN=kube-apiserver",
          "keyUsage=critical,digitalSignature,keyEncipherment\n"
          f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n")
    for name, (cn, org) in CLIENTS.items():
        _sign(pki, name, _subject(cn, org),
              "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n")
    run(["openssl", "genrsa", "-out", str(pki / "sa.key"), "2048"])
    run(["openssl", "rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub")])


def write_kubeconfig(layout: Layout, path: Path, user: str, server: str) -> Path:
    """JSON is YAML: a kubeconfig with client-cert auth that every client reads."""
    pki = layout.pki
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "zw-node",
        "clusters": [{"name": "zw-node", "cluster": {
            "server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(pki / f"{user}.crt"),
            "client-key": str(pki / f"{user}.key")}}],
        "contexts": [{"name": "zw-node", "context": {
            "cluster": "zw-node", "user": user, "namespace": "default"}}],
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path
