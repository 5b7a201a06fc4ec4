"""Structured log events: one name and its fields, rendered by the app's formatter.

Every layer that logs (the adapters, the app) logs an event with
``log_event(logger, level, event, **fields)``. The record's message is the
text form (``event=<name> key=value ...``, values quoted when they contain
spaces or quotes), so a plain handler and a test reading ``getMessage()`` see
a readable line; the fields travel on the record too (``FIELDS_ATTR``), so the
JSON formatter (:mod:`zombiewatch.app.logs`) writes each one as a key.
"""

from __future__ import annotations

import json
import logging
from typing import Final

FieldValue = str | int | float | bool | None

FIELDS_ATTR: Final = "zw_fields"
"""The record attribute carrying ``{"event": name, **fields}``."""


def quote(value: object) -> str:
    """A logfmt value: bare when it can be, else a JSON string."""
    text = "" if value is None else str(value)
    if text == "" or any(ch in text for ch in ' "=\n\t\\'):
        return json.dumps(text, ensure_ascii=False)
    return text


def log_event(logger: logging.Logger, level: int, event: str, *,
              exc_info: bool | BaseException = False, **fields: FieldValue) -> None:
    """Log one structured event; does no formatting work when the level is off.

    ``exc_info``: True attaches the exception being handled (as ``logger.exception``
    does), an exception attaches that one; the formatter writes it as ``exc``.
    """
    if not logger.isEnabledFor(level):
        return
    text = " ".join([f"event={event}", *(f"{k}={quote(v)}" for k, v in fields.items())])
    logger.log(level, "%s", text, exc_info=exc_info,
               extra={FIELDS_ATTR: {"event": event, **fields}})
