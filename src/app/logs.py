"""Structured logs: key=value text or JSON lines, selectable at start-up.

Events are logged with ``log_event(logger, level, event, **fields)``
(:mod:`zombiewatch.adapters.logfields`, so the adapters log the same way) and both
formats carry the same fields; the text format prints them as
``event=<name> key=value ...`` (the ``event=zombie_dedupe job=<name>`` line of
SPEC §7 is one of them). Values are quoted when they contain spaces or quotes.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from zombiewatch.adapters.kafka.connection import quiet_bootstrap_logs
from zombiewatch.adapters.logfields import FIELDS_ATTR, FieldValue, log_event
from zombiewatch.adapters.logfields import quote as _quote

__all__ = ["FieldValue", "JsonFormatter", "TextFormatter", "configure_logging", "log_event"]


class TextFormatter(logging.Formatter):
    """``ts level logger message`` with the event's key=value pairs as the message."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"ts={ts} level={record.levelname.lower()} logger={record.name} "
        fields: dict[str, object] | None = getattr(record, FIELDS_ATTR, None)
        line += record.getMessage() if fields is not None else f"msg={_quote(record.getMessage())}"
        if record.exc_info:
            line += " exc=" + _quote(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger and the event's fields (or msg)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields: dict[str, object] | None = getattr(record, FIELDS_ATTR, None)
        if fields is not None:
            payload.update(fields)
        else:
            payload["msg"] = record.getMessage()
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(*, log_format: str, level: str) -> None:
    """Install one stderr handler on the root logger with the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The clients are chatty at INFO (every reconnect); our own events say what matters.
    for noisy in ("aiokafka", "kafka", "kubernetes", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    quiet_bootstrap_logs()
