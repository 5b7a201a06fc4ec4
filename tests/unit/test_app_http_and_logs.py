"""The ops endpoints' routing and the structured log formats."""

from __future__ import annotations

import json
import logging

from zombiewatch.app.http import OpsServer
from zombiewatch.app.logs import JsonFormatter, TextFormatter, log_event


def server(ready: bool) -> OpsServer:
    return OpsServer(host="127.0.0.1", port=0,
                     ready=lambda: (ready, "ready" if ready else "informers not synced"),
                     metrics=lambda: b"zombiewatch_leader 1.0\n")


def test_health_readiness_and_metrics_are_routed() -> None:
    assert server(True).route("GET", "/healthz") == (200, "text/plain", b"ok\n")
    assert server(True).route("GET", "/readyz")[0] == 200
    assert server(False).route("GET", "/readyz") == (
        503, "text/plain", b"informers not synced\n")
    status, ctype, body = server(True).route("GET", "/metrics?x=1")
    assert (status, body) == (200, b"zombiewatch_leader 1.0\n")
    assert ctype.startswith("text/plain; version=0.0.4")
    assert server(True).route("GET", "/nope")[0] == 404
    assert server(True).route("POST", "/healthz")[0] == 405


class Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, Capture]:
    logger = logging.getLogger(f"test.{id(formatter)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = Capture(formatter)
    logger.handlers[:] = [handler]
    return logger, handler


def test_the_text_format_prints_the_event_as_key_value_pairs() -> None:
    logger, handler = capture(TextFormatter())

    log_event(logger, logging.DEBUG, "zombie_dedupe", job="claude-1", layer="memory")
    log_event(logger, logging.INFO, "publish_failed", error='broker "down" now')

    assert handler.lines[0].endswith("event=zombie_dedupe job=claude-1 layer=memory")
    assert 'error="broker \\"down\\" now"' in handler.lines[1]


def test_the_json_format_carries_the_same_fields() -> None:
    logger, handler = capture(JsonFormatter())

    log_event(logger, logging.INFO, "failure_published", job="claude-1", elapsed_s=12.5)

    record = json.loads(handler.lines[0])
    assert record["event"] == "failure_published"
    assert record["job"] == "claude-1"
    assert record["elapsed_s"] == 12.5
    assert record["level"] == "info"


def test_nothing_is_formatted_when_the_level_is_off() -> None:
    logger, handler = capture(TextFormatter())
    logger.setLevel(logging.INFO)

    log_event(logger, logging.DEBUG, "zombie_dedupe", job="claude-1")

    assert handler.lines == []
