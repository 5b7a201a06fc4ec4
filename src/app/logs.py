"""Structured logs: key=value text or JSON lines, selectable at start-up.

Events are logged with ``log_event(logger, level, event, **fields)`` so both
formats carry the same fields; the text format prints them as
``event=<name> key=value ...`` (the ``event=zombie_dedupe job=<name>`` line of
SPEC §7 is one of them). Values are quoted when they contain spaces or quotes.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from zombiewatch.adapters.kafka.connection import quiet_bootstrap_logs

FieldValue = str | int | float | bool | None

_FIELDS_ATTR = "zw_fields"


def _quote(value: FieldValue) -> str:
    text = "" if value is None else str(value)
    if text == "" or any(ch in text for ch in ' "=\n\t\\'):
        return json.dumps(text, ensure_ascii=False)
    return text


def log_event(logger: logging.Logger, level: int, event: str, **fields: FieldValue) -> None:
    """Log one structured event; does no formatting work when the level is off."""
    if not logger.isEnabledFor(level):
        return
    text = " ".join([f"event={event}", *(f"{k}={_quote(v)}" for k, v in fields.items())])
    logger.log(level, "%s", text, extra={_FIELDS_ATTR: {"event": event, **fields}})


class TextFormatter(logging.Formatter):
    """``ts level logger message`` with the event's key=value pairs as the message."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"ts={ts} level={record.levelname.lower()} logger={record.name} "
        fields: dict[str, Any] | None = getattr(record, _FIELDS_ATTR, None)
        line += record.getMessage() if fields is not None else f"msg={_quote(record.getMessage())}"
        if record.exc_info:
            line += " exc=" + _quote(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger and the event's fields (or msg)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields: dict[str, Any] | None = getattr(record, _FIELDS_ATTR, None)
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
