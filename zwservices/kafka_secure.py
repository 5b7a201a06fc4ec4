"""The broker's secured side: TLS certificates, SASL/SCRAM users, listeners and ACLs on.

Everything a production broker of the agent system has, on loopback, so nothing in
a secured setup is taken on trust:

- ``SASL_SSL``: TLS with a broker certificate signed by a CA made here (SANs
  ``127.0.0.1`` and ``localhost``), SCRAM-SHA-512 users created when the storage is
  formatted (``StorageTool format --add-scram``, Kafka's own tooling).
- ``EXPIRED`` and ``WRONGHOST``: the same, but the certificate has expired, or names
  another host; they exist so a client's refusal of each can be tested.
- ``MTLS``: TLS with a client certificate required (mutual TLS); the principal is the
  certificate's CN.
- The StandardAuthorizer (KRaft) with ``allow.everyone.if.no.acl.found=false``: a
  principal may do exactly what an ACL grants it. Super users: the harness's SCRAM
  admin (it manages ACLs over ``SASL_SSL``) and ``ANONYMOUS``, the principal of the
  plaintext and controller listeners, which stay for the tests that do not care
  about security (and for the controller's own traffic). A production broker has no
  such listener; here it is loopback only, inside a private run dir.

The certificates and passwords are generated per run into ``<run>/kafka/tls`` (the
run dir is 0700) and named in the env file, so tests can read them back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from .procs import free_ports, run

SCRAM_MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "zw-admin"
"""The harness's own super user: it creates and deletes ACLs."""
CLIENT_USER = "zombiewatch"
"""The daemon's principal in the least-privilege tests: it has no ACL until a test grants one."""
MTLS_CN = "zombiewatch-mtls"
"""CN of the client certificate; the MTLS listener maps it to ``User:zombiewatch-mtls``."""
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
EXPIRED_DATES = ("20200101000000Z", "20200201000000Z")
"""Validity of the expired certificate: long past, so no clock skew makes it valid."""

LISTENERS = {"SASL_SSL": "SASL_SSL", "EXPIRED": "SASL_SSL", "WRONGHOST": "SASL_SSL",
             "MTLS": "SSL"}
"""Listener name -> security protocol of the secured listeners."""


@dataclass(frozen=True)
class Security:
    """Ports, files and credentials of the secured listeners of one run."""

    tls_dir: Path
    ports: dict[str, int]
    admin_password: str
    client_password: str

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    def keystore(self, listener: str) -> Path:
        """PEM with the listener's private key and certificate chain (Kafka's PEM keystore)."""
        return self.tls_dir / f"{listener.lower()}-keystore.pem"

    def values(self) -> dict[str, str]:
        """What the env file records: bootstrap per listener, CA, client cert, users."""
        out = {f"KAFKA_{name}_BOOTSTRAP": f"127.0.0.1:{port}" for name, port in self.ports.items()}
        out.update(
            KAFKA_TLS_DIR=str(self.tls_dir), KAFKA_CA_FILE=str(self.ca_file),
            KAFKA_OTHER_CA_FILE=str(self.tls_dir / "other-ca.pem"),
            KAFKA_CLIENT_CERT_FILE=str(self.tls_dir / "client.crt"),
            KAFKA_CLIENT_KEY_FILE=str(self.tls_dir / "client.key"),
            KAFKA_SCRAM_MECHANISM=SCRAM_MECHANISM,
            KAFKA_ADMIN_USER=ADMIN_USER, KAFKA_ADMIN_PASSWORD=self.admin_password,
            KAFKA_CLIENT_USER=CLIENT_USER, KAFKA_CLIENT_PASSWORD=self.client_password,
            KAFKA_MTLS_USER=MTLS_CN)
        return out

    def listeners(self) -> list[str]:
        return [f"{name}://127.0.0.1:{port}" for name, port in self.ports.items()]

    def properties(self) -> dict[str, str]:
        """Broker settings for the secured listeners and the authorizer."""
        props = {
            "authorizer.class.name": AUTHORIZER,
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN_USER};User:ANONYMOUS",
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
        }
        for name, protocol in LISTENERS.items():
            prefix = f"listener.name.{name.lower()}"
            props[f"{prefix}.ssl.keystore.type"] = "PEM"
            props[f"{prefix}.ssl.keystore.location"] = str(self.keystore(name))
            if protocol == "SASL_SSL":
                props[f"{prefix}.sasl.enabled.mechanisms"] = SCRAM_MECHANISM
                props[f"{prefix}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config"] = (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;")
            else:
                props[f"{prefix}.ssl.client.auth"] = "required"
                props[f"{prefix}.ssl.truststore.type"] = "PEM"
                props[f"{prefix}.ssl.truststore.location"] = str(self.ca_file)
        return props

    def format_args(self) -> list[str]:
        """``StorageTool format`` arguments creating the SCRAM users in the new cluster."""
        args: list[str] = []
        for user, password in ((ADMIN_USER, self.admin_password),
                               (CLIENT_USER, self.client_password)):
            args += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
        return args


def prepare(run_dir: Path) -> Security:
    """Pick ports, make passwords and write every certificate the listeners need."""
    tls_dir = run_dir / "kafka" / "tls"
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ports = dict(zip(LISTENERS, free_ports(len(LISTENERS)), strict=True))
    security = Security(tls_dir=tls_dir, ports=ports,
                        admin_password=secrets.token_urlsafe(18),
                        client_password=secrets.token_urlsafe(18))
    _write_certificates(security)
    return security


def _openssl(*args: str, cwd: Path) -> None:
    run(["openssl", *args], cwd=cwd)


def _new_ca(tls_dir: Path, name: str, subject: str) -> None:
    _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "3650",
             "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=tls_dir)


def _ca_config(tls_dir: Path) -> Path:
    """A minimal ``openssl ca`` setup: the only openssl 3.0 command that sets past dates."""
    db = tls_dir / "ca-db"
    db.mkdir(exist_ok=True)
    (db / "index.txt").write_text("")
    (db / "serial").write_text(secrets.token_hex(8) + "\n")
    config = tls_dir / "ca.cnf"
    config.write_text(
        "[ca]\ndefault_ca = test_ca\n"
        "[test_ca]\n"
        f"database = {db / 'index.txt'}\nserial = {db / 'serial'}\n"
        f"new_certs_dir = {db}\ncertificate = {tls_dir / 'ca.pem'}\n"
        f"private_key = {tls_dir / 'ca.key'}\ndefault_md = sha256\n"
        "policy = any\nunique_subject = no\ncopy_extensions = none\n"
        "[any]\ncommonName = supplied\n")
    return config


def _leaf(tls_dir: Path, name: str, *, cn: str, extensions: str,
          dates: tuple[str, str] | None = None) -> None:
    """A key and a certificate signed by ``ca``; with ``dates``, valid only then."""
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
             cwd=tls_dir)
    ext = tls_dir / f"{name}.ext"
    ext.write_text("[leaf]\n" + extensions + "\nsubjectKeyIdentifier = hash\n"
                   "authorityKeyIdentifier = keyid\nbasicConstraints = critical,CA:FALSE\n")
    if dates is None:
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-set_serial", str(int(secrets.token_hex(8), 16)), "-days", "825",
                 "-sha256", "-out", f"{name}.crt", "-extfile", ext.name, "-extensions", "leaf",
                 cwd=tls_dir)
    else:
        _openssl("ca", "-batch", "-notext", "-config", str(_ca_config(tls_dir)),
                 "-startdate", dates[0], "-enddate", dates[1], "-in", f"{name}.csr",
                 "-out", f"{name}.crt", "-extfile", ext.name, "-extensions", "leaf",
                 cwd=tls_dir)


def _write_certificates(security: Security) -> None:
    tls_dir = security.tls_dir
    _new_ca(tls_dir, "ca", "/CN=zombiewatch test CA")
    _new_ca(tls_dir, "other-ca", "/CN=zombiewatch untrusted CA")
    server = "extendedKeyUsage = serverAuth\nkeyUsage = critical,digitalSignature\n"
    good_sans = "subjectAltName = IP:127.0.0.1,DNS:localhost\n"
    _leaf(tls_dir, "broker", cn="localhost", extensions=server + good_sans)
    _leaf(tls_dir, "expired", cn="localhost", extensions=server + good_sans,
          dates=EXPIRED_DATES)
    _leaf(tls_dir, "wronghost", cn="wrong-host.invalid",
          extensions=server + "subjectAltName = DNS:wrong-host.invalid\n")
    _leaf(tls_dir, "client", cn=MTLS_CN,
          extensions="extendedKeyUsage = clientAuth\nkeyUsage = critical,digitalSignature\n")
    for listener, leaf in (("SASL_SSL", "broker"), ("EXPIRED", "expired"),
                           ("WRONGHOST", "wronghost"), ("MTLS", "broker")):
        key = (tls_dir / f"{leaf}.key").read_text()
        chain = (tls_dir / f"{leaf}.crt").read_text() + security.ca_file.read_text()
        security.keystore(listener).write_text(key + chain)
    for path in tls_dir.glob("*.key"):
        path.chmod(0o600)

