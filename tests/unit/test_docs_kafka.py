"""docs/KAFKA.md's configuration is one the daemon accepts, as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.worlds.pem import write_pem_files
from zombiewatch.adapters.kafka.settings import SaslMechanism, SecurityProtocol
from zombiewatch.app.settings import kafka_client_settings, parse_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "KAFKA.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def _deployment_env() -> dict[str, Any]:
    (patch,) = [yaml.safe_load(b) for b in _blocks("yaml")
                if "kind: Deployment" in b]
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_deployment_patch_configures_sasl_ssl_with_the_password_from_the_secret(
    tmp_path: Path,
) -> None:
    env = _deployment_env()
    password = env.pop("KAFKA_SASL_PASSWORD")
    values = {name: str(value) for name, value in env.items()}
    # The CA is loaded at start: the Secret's mount point, here a real PEM file.
    assert values["KAFKA_CA_FILE"] == "/etc/zombiewatch/kafka/ca.crt"
    ca = str(write_pem_files(tmp_path).cert)

    parsed = parse_settings([], {**values, "KAFKA_CA_FILE": ca, "NAMESPACE": "agents",
                                 "KAFKA_SASL_PASSWORD": "from-the-secret"})
    adapter = kafka_client_settings(parsed)

    assert password == {"secretKeyRef": {"name": "zombiewatch-kafka", "key": "password"}}
    assert adapter.security_protocol is SecurityProtocol.SASL_SSL
    assert adapter.sasl is not None
    assert adapter.sasl.mechanism is SaslMechanism.SCRAM_SHA_512
    assert adapter.tls is not None
    assert adapter.tls.ca_file == ca
    assert adapter.topic == "master-agent-task-v1-request"


def test_the_command_line_example_parses_to_the_same_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (block,) = [b for b in _blocks("sh") if "zombiewatch run" in b]
    command = block.split("zombiewatch run", 1)[1].replace("\\\n", " ")
    args = shlex.split(command)
    # The example's CA file, relative to where it runs: a real PEM file there.
    (tmp_path / "kafka-ca.crt").write_bytes(write_pem_files(tmp_path).cert.read_bytes())
    monkeypatch.chdir(tmp_path)

    parsed = parse_settings(args, {"KAFKA_SASL_PASSWORD": "from-the-env"})

    assert parsed.kafka.security_protocol is SecurityProtocol.SASL_SSL
    assert parsed.kafka.sasl_username == "zombiewatch"
    assert parsed.kafka.sasl_mechanism is SaslMechanism.SCRAM_SHA_512


def test_the_acl_commands_grant_what_the_readme_table_lists() -> None:
    (block,) = [b for b in _blocks("sh") if "kafka-acls.sh" in b]
    readme = (DOC.parents[1] / "README.md").read_text()
    table = readme.split("<!-- kafka-acls:", 1)[1].split("<!-- /kafka-acls -->", 1)[0]
    rows = {(cells[0], cells[2]) for line in table.splitlines()
            if len(cells := [c.strip() for c in line.strip().strip("|").split("|")]) == 4
            and cells[0] in ("Topic", "TransactionalId", "Cluster", "Group")}
    granted: set[tuple[str, str]] = set()
    for command in block.replace("\\\n", " ").splitlines():
        if "kafka-acls.sh" not in command or "--add" not in command:
            continue
        words = shlex.split(command)
        resource = "Topic" if "--topic" in words else "TransactionalId"
        granted |= {(resource, words[i + 1]) for i, w in enumerate(words) if w == "--operation"}

    assert granted == rows
