"""Watching one stream: bytes -> lines -> decoded events, 410 -> ``GoneError``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from zombiewatch.adapters.kubernetes.errors import GoneError, TransportError
from zombiewatch.adapters.kubernetes.translation import DecodedEvent, KindCodec

V = TypeVar("V")

MAX_LINE_BYTES = 64 * 1024 * 1024
"""A single object larger than this is not a pod/Job/Config: a broken stream."""


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a chunked body into newline-terminated JSON lines (no empty lines)."""
    buffer = b""
    for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        if b"\n" not in chunk:
            if len(buffer) > MAX_LINE_BYTES:
                raise TransportError("watch line exceeds the size limit")
            continue
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def iter_events(lines: Iterable[bytes], codec: KindCodec[Any, V]) -> Iterator[DecodedEvent[V]]:
    """Decode lines into watch events; ERROR 410 raises ``GoneError``.

    Other ERROR events and undecodable lines end the stream as transport
    errors: the caller reconnects from its last resourceVersion.
    """
    for line in lines:
        event = codec.decode_event(line)
        if event.error is not None:
            status = event.error
            if status.code == 410:
                raise GoneError(status.message or status.reason or "410 Gone")
            raise TransportError(
                f"watch ERROR event {status.code} {status.reason}: {status.message}"
            )
        yield event
