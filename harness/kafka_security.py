"""The secured broker as tests see it: its listeners, users and an ACL admin.

The broker is started by the harness (``zwservices/kafka_secure.py``)
with SASL_SSL, mutual TLS and the StandardAuthorizer; this module reads its details
from the env file and manages ACLs as the harness's super user, over SASL_SSL, with
Kafka's own CreateAcls/DeleteAcls/DescribeAcls requests (aiokafka has the protocol
classes but no admin methods for them).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from harness.controller import task_event
from harness.fixtures import run_async
from harness.waiting import wait_until_sync
from zombiewatch.adapters.kafka.settings import (
    KafkaClientSettings,
    SaslMechanism,
    SaslSettings,
    TlsSettings,
)


class ResourceType(IntEnum):
    """Kafka's resource type codes (``org.apache.kafka.common.resource.ResourceType``)."""

    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class Operation(IntEnum):
    """Kafka's ACL operation codes (``org.apache.kafka.common.acl.AclOperation``)."""

    ANY = 1
    READ = 3
    WRITE = 4
    DESCRIBE = 8
    IDEMPOTENT_WRITE = 12


RESOURCE_NAMES = {ResourceType.TOPIC: "Topic", ResourceType.GROUP: "Group",
                  ResourceType.CLUSTER: "Cluster", ResourceType.TRANSACTIONAL_ID: "TransactionalId"}
OPERATION_NAMES = {Operation.READ: "Read", Operation.WRITE: "Write",
                   Operation.DESCRIBE: "Describe", Operation.IDEMPOTENT_WRITE: "IdempotentWrite"}
ACL_PROPAGATION_TIMEOUT = 30.0
_LITERAL = 3
_ALLOW = 3
_ANY_PATTERN = 1
_ANY_PERMISSION = 1


@dataclass(frozen=True, slots=True, order=True)
class Acl:
    """One ALLOW rule on a literal resource, for one principal, from any host."""

    resource: ResourceType
    name: str
    operation: Operation
    principal: str

    def __str__(self) -> str:
        return f"{OPERATION_NAMES[self.operation]} on {RESOURCE_NAMES[self.resource]} {self.name}"


@dataclass(frozen=True)
class SecuredKafka:
    """Connection details of the secured listeners (from the env file)."""

    sasl_ssl: str
    expired: str
    wronghost: str
    mtls: str
    ca_file: Path
    other_ca_file: Path
    client_cert_file: Path
    client_key_file: Path
    mechanism: SaslMechanism
    admin_user: str
    admin_password: str
    client_user: str
    client_password: str
    mtls_user: str

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> SecuredKafka:
        return cls(
            sasl_ssl=values["KAFKA_SASL_SSL_BOOTSTRAP"], expired=values["KAFKA_EXPIRED_BOOTSTRAP"],
            wronghost=values["KAFKA_WRONGHOST_BOOTSTRAP"], mtls=values["KAFKA_MTLS_BOOTSTRAP"],
            ca_file=Path(values["KAFKA_CA_FILE"]),
            other_ca_file=Path(values["KAFKA_OTHER_CA_FILE"]),
            client_cert_file=Path(values["KAFKA_CLIENT_CERT_FILE"]),
            client_key_file=Path(values["KAFKA_CLIENT_KEY_FILE"]),
            mechanism=SaslMechanism(values["KAFKA_SCRAM_MECHANISM"]),
            admin_user=values["KAFKA_ADMIN_USER"], admin_password=values["KAFKA_ADMIN_PASSWORD"],
            client_user=values["KAFKA_CLIENT_USER"],
            client_password=values["KAFKA_CLIENT_PASSWORD"], mtls_user=values["KAFKA_MTLS_USER"])

    @property
    def client_principal(self) -> str:
        return f"User:{self.client_user}"

    def client_settings(
        self, *, topic: str, transactional_id: str, bootstrap: str | None = None,
        username: str | None = None, password: str | None = None, ca_file: Path | None = None,
        publish_timeout: float = 10.0,
    ) -> KafkaClientSettings:
        """The daemon's user over SASL_SSL; each argument can be made wrong on purpose."""
        return KafkaClientSettings(
            bootstrap_servers=bootstrap or self.sasl_ssl, topic=topic,
            transactional_id=transactional_id, publish_timeout=publish_timeout,
            tls=TlsSettings(ca_file=str(ca_file or self.ca_file)),
            sasl=SaslSettings(mechanism=self.mechanism, username=username or self.client_user,
                              password=password if password is not None else self.client_password))

    def mtls_settings(self, *, topic: str, transactional_id: str,
                      with_certificate: bool = True) -> KafkaClientSettings:
        """Mutual TLS, no SASL: the principal is the client certificate's CN."""
        cert = str(self.client_cert_file) if with_certificate else None
        key = str(self.client_key_file) if with_certificate else None
        return KafkaClientSettings(
            bootstrap_servers=self.mtls, topic=topic, transactional_id=transactional_id,
            tls=TlsSettings(ca_file=str(self.ca_file), cert_file=cert, key_file=key))

    # --- ACLs, as the super user ---------------------------------------------------

    def grant(self, acls: Iterable[Acl]) -> None:
        """Create the ACLs and wait until the broker's authorizer holds them."""
        wanted = set(acls)
        run_async(lambda: self._each(wanted, self._create))
        self._until_visible(lambda held: wanted <= held, wanted)

    def revoke(self, acls: Iterable[Acl]) -> None:
        """Delete the ACLs and wait until the broker's authorizer dropped them."""
        unwanted = set(acls)
        run_async(lambda: self._each(unwanted, self._delete))
        self._until_visible(lambda held: not unwanted & held, unwanted)

    def _until_visible(self, done: Callable[[set[Acl]], bool], acls: set[Acl]) -> None:
        """ACL changes go through the metadata log; DescribeAcls answers from the
        broker's authorizer, so once it shows the change, requests see it too."""
        principals = {acl.principal for acl in acls}
        wait_until_sync(lambda: done(set().union(*(self.acls_of(p) for p in principals))),
                        "the ACL change visible", timeout=ACL_PROPAGATION_TIMEOUT)

    def acls_of(self, principal: str) -> set[Acl]:
        """Every ALLOW ACL of ``principal`` on any resource."""
        return run_async(lambda: self._describe(principal))

    def _admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(
            bootstrap_servers=self.sasl_ssl, security_protocol="SASL_SSL",
            ssl_context=ssl.create_default_context(cafile=str(self.ca_file)),
            sasl_mechanism=self.mechanism.value, sasl_plain_username=self.admin_user,
            sasl_plain_password=self.admin_password, request_timeout_ms=30000)

    async def _each(self, acls: Iterable[Acl], action: Any) -> None:
        admin = self._admin()
        await admin.start()
        try:
            for acl in acls:
                await action(admin, acl)
        finally:
            await admin.close()

    @staticmethod
    async def _create(admin: Any, acl: Acl) -> None:
        response = await admin._send_request(CreateAclsRequest(
            acl.resource, acl.name, _LITERAL, acl.principal, "*", acl.operation, _ALLOW))
        code, message = response.creation_responses[0]
        if code:
            raise RuntimeError(f"CreateAcls {acl}: error {code} {message}")

    @staticmethod
    async def _delete(admin: Any, acl: Acl) -> None:
        response = await admin._send_request(DeleteAclsRequest(
            acl.resource, acl.name, _LITERAL, acl.principal, "*", acl.operation, _ALLOW))
        code, message, _matching = response.filter_responses[0]
        if code:
            raise RuntimeError(f"DeleteAcls {acl}: error {code} {message}")

    async def _describe(self, principal: str) -> set[Acl]:
        admin = self._admin()
        await admin.start()
        try:
            response = await admin._send_request(DescribeAclsRequest(
                ResourceType.ANY, None, _ANY_PATTERN, principal, None, Operation.ANY,
                _ANY_PERMISSION))
        finally:
            await admin.close()
        if response.error_code:
            raise RuntimeError(f"DescribeAcls: error {response.error_code}")
        found: set[Acl] = set()
        for resource_type, name, _pattern, entries in response.resources:
            for entry_principal, _host, operation, _permission in entries:
                found.add(Acl(ResourceType(resource_type), name, Operation(operation),
                              entry_principal))
        return found


async def write_task_event(bootstrap: str, topic: str, task_id: str) -> None:
    """One task on the event topic, as the controller writes it (over the plaintext
    listener, which needs no ACL): what the daemon's task feed must be able to read."""
    now = datetime.now(UTC)
    value = task_event(task_id=task_id, path=f"tasks/{task_id}.md", body="## Goal\n",
                       frontmatter={"task_identifier": task_id, "assignee": "claude",
                                    "phase": "in_progress", "current_job": "",
                                    "trigger_count": 0, "max_triggers": 3},
                       created=now, modified=now)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=task_id.encode(), value=value)
    finally:
        await producer.stop()
