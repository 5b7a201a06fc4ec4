"""The common kubeconfig contexts configured without the library's loader, field for field as
the loader configures them; the others left to it."""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.configuration import Configuration
from kubernetes.config.kube_config import load_kube_config_from_dict

from tests.unit.worlds.pem import write_pem_files
from zombiewatch.adapters.kubernetes.credentials import CredentialsError, load_credentials
from zombiewatch.adapters.kubernetes.kubeconfig_user import configure

FIELDS = ("host", "verify_ssl", "tls_server_name", "proxy")
FILES = ("ssl_ca_cert", "cert_file", "key_file")
CONTEXT = {"cluster": "c", "user": "u"}


def merged(cluster: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    return {"current-context": "x", "contexts": [{"name": "x", "context": CONTEXT}],
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [] if user is None else [{"name": "u", "user": user}]}


def by_the_library(config: dict[str, Any]) -> Configuration:
    configuration = Configuration()
    load_kube_config_from_dict(  # type: ignore[no-untyped-call]
        config_dict=config, client_configuration=configuration, persist_config=False)
    return configuration


def seen(configuration: Configuration) -> dict[str, Any]:
    """What a client uses: the fields, the credentials, and the bytes of each file named."""
    files = {name: None if getattr(configuration, name) is None
             else Path(getattr(configuration, name)).read_bytes() for name in FILES}
    return {**{name: getattr(configuration, name) for name in FIELDS},
            "api_key": dict(configuration.api_key), **files}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_pem_files(tmp_path_factory.mktemp("pem"))


def cases(pem: Any, token_file: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any] | None]]:
    ca, cert, key = (str(pem.cert), str(pem.cert), str(pem.key))
    ca_data, key_data = b64(pem.cert.read_text()), b64(pem.key.read_text())
    return {
        "token, CA file": ({"server": "https://a:6443/", "certificate-authority": ca},
                           {"token": "t-1"}),
        "token file, CA data": ({"server": "https://a:6443", "certificate-authority-data":
                                 ca_data}, {"tokenFile": str(token_file)}),
        "token wins over its file": ({"server": "https://a:6443", "certificate-authority": ca},
                                     {"token": "t-2", "tokenFile": "/nowhere"}),
        "certificate files": ({"server": "https://a:6443", "certificate-authority": ca},
                              {"client-certificate": cert, "client-key": key}),
        "certificate data": ({"server": "https://a:6443", "certificate-authority-data": ca_data},
                             {"client-certificate-data": ca_data, "client-key-data": key_data}),
        "data wins over the file": ({"server": "https://a:6443", "certificate-authority":
                                     "/nowhere", "certificate-authority-data": ca_data},
                                    {"token": "t"}),
        "basic auth": ({"server": "https://a:6443", "insecure-skip-tls-verify": True},
                       {"username": "ann", "password": "pässword"}),
        "the token wins over basic auth": ({"server": "https://a:6443"},
                                           {"token": "t", "username": "u", "password": "p"}),
        "insecure, SNI, proxy": ({"server": "https://a:6443", "insecure-skip-tls-verify": True,
                                  "tls-server-name": "kube", "proxy-url": "http://p:3128"},
                                 {"token": "t"}),
        "plain http, no user entry": ({"server": "http://a:8080",
                                       "certificate-authority": "/nowhere"}, None),
        "an empty user": ({"server": "https://a:6443"}, {}),
    }


def test_each_common_form_is_configured_as_the_librarys_loader_configures_it(
    pem: Any, tmp_path: Path,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")  # read as it is, as the loader reads it

    for name, (cluster, user) in cases(pem, token_file).items():
        config = merged(cluster, user)
        ours = Configuration()

        assert configure(config, CONTEXT, ours), name
        assert seen(ours) == seen(by_the_library(config)), name


def test_data_is_written_once_to_a_private_temporary_file(pem: Any) -> None:
    data = b64(pem.cert.read_text())
    config = merged({"server": "https://a:6443", "certificate-authority-data": data}, None)
    first, second = Configuration(), Configuration()

    assert configure(config, CONTEXT, first)
    assert configure(config, CONTEXT, second)

    assert first.ssl_ca_cert == second.ssl_ca_cert
    written = Path(str(first.ssl_ca_cert))
    assert written.read_bytes() == pem.cert.read_bytes()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    written.unlink()  # gone (a cleaner of /tmp): written again
    third = Configuration()
    assert configure(config, CONTEXT, third)
    assert Path(str(third.ssl_ca_cert)).read_bytes() == pem.cert.read_bytes()


@pytest.mark.parametrize(("cluster", "user"), [
    ({"server": "https://a"}, {"exec": {"command": "x", "apiVersion": "v1"}}),
    ({"server": "https://a"}, {"auth-provider": {"name": "oidc"}}),
    ({"server": "https://a"}, {"token": 42}),
    ({"server": "https://a"}, {"tokenFile": None}),
    ({"server": "https://a"}, {"username": "u", "password": None}),
    ({}, {"token": "t"}),
    ({"server": "https://a", "certificate-authority": 7}, {"token": "t"}),
], ids=["exec", "auth-provider", "a number as token", "null token file", "null password",
        "no server", "no string CA"])
def test_what_it_does_not_handle_is_left_untouched_to_the_loader(
    cluster: dict[str, Any], user: dict[str, Any],
) -> None:
    untouched = Configuration()
    before = (untouched.host, dict(untouched.api_key), untouched.ssl_ca_cert)

    assert not configure(merged(cluster, user), CONTEXT, untouched)
    assert (untouched.host, dict(untouched.api_key), untouched.ssl_ca_cert) == before


def test_malformed_entries_are_left_to_the_loader() -> None:
    nameless = merged({"server": "https://a"}, {"token": "t"})
    nameless["users"].append({"user": {"token": "other"}})
    no_cluster_body = merged({"server": "https://a"}, {"token": "t"})
    no_cluster_body["clusters"] = [{"name": "c", "cluster": None}]

    assert not configure(nameless, CONTEXT, Configuration())
    assert not configure(no_cluster_body, CONTEXT, Configuration())
    assert not configure(merged({"server": "https://a"}, {}), {"cluster": 3}, Configuration())
    assert not configure(merged({"server": "https://a"}, {}), {"user": "u"}, Configuration())


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def test_an_exec_user_is_served_by_the_librarys_loader(tmp_path: Path) -> None:
    answer = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
              "status": {"token": "from-exec"}}
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                     "command": sys.executable,
                     "args": ["-c", f"print({json.dumps(json.dumps(answer))})"]}}
    config = write(tmp_path / "config", merged({"server": "https://a:6443"}, user))

    found = load_credentials(str(config), None, {})

    assert found.configuration.api_key["BearerToken"] == "Bearer from-exec"
    assert found.configuration.host == "https://a:6443"


def test_a_missing_file_is_the_loaders_one_line(tmp_path: Path) -> None:
    config = write(tmp_path / "config", merged(
        {"server": "https://a:6443", "certificate-authority": str(tmp_path / "ca.pem")},
        {"token": "t"}))

    with pytest.raises(CredentialsError) as missing:
        load_credentials(str(config), None, {})

    assert str(missing.value) == (f"--kubeconfig {config}: unusable context 'x': File does "
                                  f"not exist: {tmp_path / 'ca.pem'}")
    (tmp_path / "ca.pem").write_text("x")
    config = write(config, merged({"server": "https://a:6443"},
                                  {"tokenFile": str(tmp_path / "token")}))
    with pytest.raises(CredentialsError, match=r"unusable context 'x': \[Errno 2\] No such "):
        load_credentials(str(config), None, {})
    config = write(config, merged({"server": "https://a:6443",
                                   "certificate-authority-data": "not base64!"}, {}))
    with pytest.raises(CredentialsError, match=r"unusable context 'x': "):
        load_credentials(str(config), None, {})
