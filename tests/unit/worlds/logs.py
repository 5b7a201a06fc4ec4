"""Captured log records as the daemon writes them: JSON objects and logfmt lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from zombiewatch.app.logs import JsonFormatter, TextFormatter


def json_events(records: Iterable[logging.LogRecord], event: str) -> list[dict[str, Any]]:
    """The records of ``event`` as ``LOG_FORMAT=json`` writes them, parsed back."""
    formatter = JsonFormatter()
    parsed = [json.loads(formatter.format(record)) for record in records]
    return [line for line in parsed if line.get("event") == event]


def text_events(records: Iterable[logging.LogRecord], event: str) -> list[str]:
    """The records of ``event`` as ``LOG_FORMAT=text`` writes them (logfmt)."""
    formatter = TextFormatter()
    return [line for line in (formatter.format(record) for record in records)
            if f" event={event} " in f"{line} "]
