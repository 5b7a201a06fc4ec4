"""Single-node KRaft Kafka (combined broker+controller) on loopback, and its readiness probe."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import struct
from pathlib import Path

from . import kafka_secure
from .fetch_kafka import KafkaChoice
from .kafka_secure import Security
from .procs import run
from .state import Proc

JVM_OPTS = ("-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true")
LOG4J2 = """rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.state.name=state.change.logger
logger.state.level=WARN
"""
LOG4J1 = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
"""
STARTED_LINE = b"Kafka Server started"


def server_properties(data_dir: Path, port: int, controller_port: int,
                      security: Security | None = None) -> str:
    """Combined-mode config: loopback only, RF 1 for internal topics, fast group joins.

    Transaction timeouts stay at Kafka's defaults (abort sweep every 10 s, max 15 min) so
    abandoned transactions behave as in production. ``security`` adds the secured
    listeners and turns the authorizer on (:mod:`.kafka_secure`).
    """
    props = {
        "process.roles": "broker,controller", "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER", "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir), "num.partitions": "1", "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1", "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "3", "min.insync.replicas": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "10000",
        "transaction.max.timeout.ms": "900000",
        "auto.create.topics.enable": "true", "delete.topic.enable": "true",
        "log.segment.bytes": "67108864", "log.retention.check.interval.ms": "60000",
    }
    if security is not None:
        secured = security.listeners()
        props["listeners"] = ",".join([props["listeners"], *secured])
        props["advertised.listeners"] = ",".join([props["advertised.listeners"], *secured])
        props["listener.security.protocol.map"] += "".join(
            f",{name}:{protocol}" for name, protocol in kafka_secure.LISTENERS.items())
        props.update(security.properties())
    return "".join(f"{key}={val}\n" for key, val in props.items())


def cluster_id() -> str:
    """KRaft cluster ids are 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()


def _java() -> str:
    """The machine's Java (17 on these machines)."""
    return shutil.which("java") or "/usr/bin/java"


def _jvm_prefix(choice: KafkaChoice, conf: Path) -> list[str]:
    """java + classpath + logging config for either log4j generation."""
    return [_java(), *JVM_OPTS, f"-Dlog4j2.configurationFile={conf / 'log4j2.properties'}",
            f"-Dlog4j.configuration=file:{conf / 'log4j.properties'}",
            "-cp", f"{choice.libs}/*"]


def prepare_apache(choice: KafkaChoice, run_dir: Path, port: int, controller_port: int,
                   security: Security | None = None) -> Proc:
    """Write configs, format the KRaft storage (once per run dir) and return the broker argv.

    With ``security`` the format also creates its SCRAM users.
    """
    conf = run_dir / "kafka"
    conf.mkdir(parents=True, exist_ok=True)
    props = conf / "server.properties"
    props.write_text(server_properties(conf / "data", port, controller_port, security))
    (conf / "log4j2.properties").write_text(LOG4J2)
    (conf / "log4j.properties").write_text(LOG4J1)
    log = run_dir / "logs" / "kafka.log"
    run([*_jvm_prefix(choice, conf), "kafka.tools.StorageTool", "format", "--config",
         # one argument: a random id may start with "-", which the parser takes for a flag
         str(props), f"--cluster-id={cluster_id()}", "--standalone", "--ignore-formatted",
         *(security.format_args() if security is not None else [])],
        log=run_dir / "logs" / "kafka-format.log")
    return Proc("kafka", [*_jvm_prefix(choice, conf), "kafka.Kafka", str(props)], log)


def prepare_noida(choice: KafkaChoice, run_dir: Path, port: int) -> Proc:
    """The fallback broker binary, started directly (not via its console script)."""
    data = run_dir / "kafka" / "data"
    data.mkdir(parents=True, exist_ok=True)
    argv = [str(choice.libs), "up", "--data-dir", str(data), "--host", "127.0.0.1",
            "--only", "kafka", "--kafka-port", str(port)]
    return Proc("kafka", argv, run_dir / "logs" / "kafka.log")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes (a Kafka frame)."""
    buf = b""
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def api_versions_ok(port: int) -> bool:
    """Send an ApiVersions v0 request; any well-formed answer means the listener serves.

    Error 35 (unsupported version) still proves a live Kafka protocol endpoint.
    """
    client_id = b"zombiewatch-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            correlation, error = struct.unpack(">ih", _recv_exact(sock, size)[:6])
    except (OSError, struct.error):
        return False
    return correlation == 7 and error in (0, 35)


def started_since(log: Path, offset: int) -> bool:
    """Kafka logs this line only once broker and controller finished starting."""
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            return STARTED_LINE in fh.read()
    except OSError:
        return False
