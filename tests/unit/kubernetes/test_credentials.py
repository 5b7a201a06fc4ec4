"""Cluster credentials found as kubectl finds them, from temporary kubeconfig files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.worlds.pem import write_pem_files
from zombiewatch.adapters.kubernetes.credentials import (
    CredentialsError,
    context_namespace,
    load_credentials,
)
from zombiewatch.app.cli import EXIT_USAGE, main
from zombiewatch.app.settings import parse_settings

NOTHING = ("no usable cluster credentials: tried --kubeconfig (not given), KUBECONFIG (unset), "
           "~/.kube/config (missing), in-cluster (KUBERNETES_SERVICE_HOST unset); pass "
           "--kubeconfig (or set KUBECONFIG), check --context, or run inside a cluster")


def kubeconfig(path: Path, *, current: str | None = None,
               contexts: dict[str, dict[str, str]] | None = None,
               clusters: dict[str, dict[str, Any]] | None = None,
               users: dict[str, dict[str, Any]] | None = None) -> Path:
    document: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "contexts": [{"name": n, "context": c} for n, c in (contexts or {}).items()],
        "clusters": [{"name": n, "cluster": c} for n, c in (clusters or {}).items()],
        "users": [{"name": n, "user": u} for n, u in (users or {}).items()],
    }
    if current is not None:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document))
    return path


def one_cluster(path: Path, *, namespace: str | None = "agents", server: str = "https://a:6443",
                name: str = "main") -> Path:
    context = {"cluster": "c", "user": "u", **({"namespace": namespace} if namespace else {})}
    return kubeconfig(path, current=name, contexts={name: context},
                      clusters={"c": {"server": server}}, users={"u": {"token": "t-a"}})


def test_a_colon_list_is_merged_as_kubectl_merges_it_first_file_wins(tmp_path: Path) -> None:
    first = kubeconfig(tmp_path / "first", current="ctx-a",
                       contexts={"ctx-a": {"cluster": "c1", "user": "u1", "namespace": "agents"}},
                       clusters={"c1": {"server": "https://first:6443"}})
    second = kubeconfig(tmp_path / "second", current="ctx-b",
                        contexts={"ctx-a": {"cluster": "c1", "user": "u1", "namespace": "other"},
                                  "ctx-b": {"cluster": "c1", "user": "u1", "namespace": "b"}},
                        clusters={"c1": {"server": "https://second:6443"}},
                        users={"u1": {"token": "from-second"}})
    listed = os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)])
    env = {"KUBECONFIG": listed}

    found = load_credentials(None, None, env)

    assert found.source == f"KUBECONFIG {listed}"
    assert found.namespace == "agents"  # current-context and ctx-a from the first file
    assert found.configuration.host == "https://first:6443"
    assert found.configuration.api_key["BearerToken"] == "Bearer from-second"
    assert load_credentials(None, "ctx-b", env).namespace == "b"


def test_the_default_file_is_used_and_relative_files_are_read_next_to_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    pem = write_pem_files(home / ".kube")
    kubeconfig(home / ".kube" / "config", current="main",
               contexts={"main": {"cluster": "c", "user": "u"}},
               clusters={"c": {"server": "https://a:6443", "certificate-authority": "cert.pem"}},
               users={"u": {"token": "t"}})

    found = load_credentials(None, None, {"HOME": str(home)})

    assert (found.source, found.namespace) == ("~/.kube/config", None)
    assert found.configuration.ssl_ca_cert == str(pem.cert)


def test_the_flag_wins_over_the_environment_and_is_not_merged(tmp_path: Path) -> None:
    flag = one_cluster(tmp_path / "flag", namespace="from-flag")
    env_file = one_cluster(tmp_path / "env", namespace="from-env")

    found = load_credentials(str(flag), None, {"KUBECONFIG": str(env_file)})

    assert (found.source, found.namespace) == (f"--kubeconfig {flag}", "from-flag")
    listed = f"{tmp_path / 'missing'}{os.pathsep}{flag}"
    assert load_credentials(listed, None, {}).namespace == "from-flag"  # a list, as KUBECONFIG


def test_without_any_credentials_the_error_says_what_was_tried_and_what_to_do(
    tmp_path: Path,
) -> None:
    with pytest.raises(CredentialsError) as nothing:
        load_credentials(None, None, {"HOME": str(tmp_path)})
    assert str(nothing.value) == NOTHING

    with pytest.raises(CredentialsError, match=r"^no usable cluster credentials: tried "
                       r"--kubeconfig /nope \(missing\); pass --kubeconfig"):
        load_credentials("/nope", None, {"HOME": str(tmp_path),
                                         "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    listed = f"/nope-a{os.pathsep}/nope-b"
    with pytest.raises(CredentialsError, match=r"tried KUBECONFIG /nope-a:/nope-b \(none of "
                       r"its files exist\); "):
        load_credentials(None, None, {"KUBECONFIG": listed})


def test_an_unknown_context_names_the_contexts_there_are(tmp_path: Path) -> None:
    config = one_cluster(tmp_path / "config")
    with pytest.raises(CredentialsError, match=(
            rf"^--kubeconfig {config} has no context 'nope' \(contexts: main\); "
            r"pass --context NAME$")):
        load_credentials(str(config), "nope", {})


def test_a_file_that_is_no_kubeconfig_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "config"
    broken.write_text("- just\n- a list\n")
    with pytest.raises(CredentialsError, match=rf"^kubeconfig {broken} is not a kubeconfig"):
        load_credentials(str(broken), None, {})


def test_the_namespace_defaults_to_the_contexts_and_the_flag_wins(tmp_path: Path) -> None:
    config = one_cluster(tmp_path / "config", namespace="from-context")
    env = {"KUBECONFIG": str(config), "KAFKA_BROKERS": "k:9092"}

    assert parse_settings([], env).namespace == "from-context"
    assert parse_settings(["-n", "agents"], env).namespace == "agents"
    assert parse_settings([], {**env, "NAMESPACE": "env-ns"}).namespace == "env-ns"
    assert context_namespace(None, None, {"HOME": str(tmp_path)}) is None


def test_run_without_credentials_is_one_line_saying_what_was_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("KUBECONFIG", "KUBE_CONTEXT", "KUBERNETES_SERVICE_HOST", "NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    code = main(["run", "-n", "agents", "--kafka-brokers", "k:9092"])

    assert code == EXIT_USAGE
    assert capsys.readouterr().err == f"zombiewatch run: {NOTHING}\n"


def test_scan_uses_the_default_kubeconfig_and_its_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("KUBECONFIG", "KUBE_CONTEXT", "KUBERNETES_SERVICE_HOST", "NAMESPACE",
                 "KAFKA_BROKERS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".kube").mkdir()
    one_cluster(tmp_path / ".kube" / "config", namespace="agents",
                server="https://127.0.0.1:1")  # nothing listens: credentials found, unreachable
    monkeypatch.setenv("HOME", str(tmp_path))

    code = main(["scan"])

    err = capsys.readouterr().err
    assert code == 3, err
    assert err.startswith("zombiewatch scan: cannot read namespace agents: "), err
