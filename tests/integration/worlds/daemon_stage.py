"""The stage of the daemon-process tests (``test_daemon_process``, ``test_reaping``): the
bare API server with deploy/'s CRD, a request topic read back, the daemon's settings; and
a kubeconfig with the token of deploy/'s ServiceAccount. The fixture reaches the tests
through ``tests/integration/conftest.py``."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from harness import kubelet
from harness.daemons import daemon_settings, running
from harness.services import Services
from harness.support import (
    DEPLOY_BASE,
    CommittedReader,
    apply_config_crd,
    reading,
    request_topic_for,
)
from harness.waiting import wait_until
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import Settings


class Stage:
    def __init__(self, *, services: Services, api_client: Any, namespace: str,
                 reader: CommittedReader, settings: Settings, tmp_path: Path) -> None:
        self.services = services
        self.api_client = api_client
        self.core: Any = client.CoreV1Api(api_client)
        self.batch: Any = client.BatchV1Api(api_client)
        self.namespace = namespace
        self.reader = reader
        self.settings = settings
        self.tmp_path = tmp_path

    def failing_job(self, reason: str = "ImagePullBackOff") -> str:
        task_id = str(uuid.uuid4())
        name = f"claude-{task_id[:8]}-{uuid.uuid4().hex[:6]}"
        job = kubelet.create_agent_job(self.batch, self.namespace, task_id=task_id, name=name)
        pod = kubelet.create_agent_pod(self.core, self.namespace, job=job, task_id=task_id)
        kubelet.set_waiting(self.core, self.namespace, pod, reason)
        return name


@pytest.fixture
async def stage(services: Services, api_client: Any, namespace: str, bootstrap_servers: str,
                tmp_path: Path) -> AsyncIterator[Stage]:
    apply_config_crd(api_client)
    prefix = f"proc-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(bootstrap_servers, prefix)
    settings = daemon_settings(kubeconfig=services.kubeconfig, namespace=namespace,
                               bootstrap=bootstrap_servers, topic_prefix=prefix, leader=True)
    async with reading(bootstrap_servers, topic) as reader:
        yield Stage(services=services, api_client=api_client, namespace=namespace,
                    reader=reader, settings=settings, tmp_path=tmp_path)


def service_account_kubeconfig(stage: Stage) -> Path:
    """Apply deploy/'s ServiceAccount, Role and RoleBinding; a kubeconfig with its token."""
    for file_name in ("serviceaccount.yaml", "role.yaml", "rolebinding.yaml"):
        body = yaml.safe_load((DEPLOY_BASE / file_name).read_text())
        body["metadata"]["namespace"] = stage.namespace
        kind = body["kind"]
        if kind == "ServiceAccount":
            stage.core.create_namespaced_service_account(stage.namespace, body)
        elif kind == "Role":
            client.RbacAuthorizationV1Api(stage.api_client).create_namespaced_role(
                stage.namespace, body)
        else:
            client.RbacAuthorizationV1Api(stage.api_client).create_namespaced_role_binding(
                stage.namespace, body)
    core: Any = stage.core
    token = core.create_namespaced_service_account_token(
        "zombiewatch", stage.namespace,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"audiences": [], "expirationSeconds": 3600}}).status.token
    kubeconfig = stage.tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "local", "cluster": {
            "server": stage.services.api_url,
            "certificate-authority": str(stage.services.ca_file)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": "sa",
                                                "namespace": stage.namespace}}],
    }))
    return kubeconfig


@contextlib.asynccontextmanager
async def leading_as_the_service_account(stage: Stage) -> AsyncIterator[Runtime]:
    """The daemon running with deploy/'s ServiceAccount, Role and RoleBinding (its token,
    nothing more), once it leads: what the least-privilege tests act on."""
    settings = replace(stage.settings, kubeconfig=service_account_kubeconfig(stage))
    async with running(settings) as runtime:
        await wait_until(lambda: runtime.leader is not None and runtime.leader.is_leader(),
                         "leadership with the SA token")
        yield runtime
