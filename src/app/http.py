"""A tiny asyncio HTTP server for /healthz, /readyz and /metrics.

Three GET endpoints do not justify a web framework dependency; this server
reads one request line and the headers, answers and closes the connection.
It runs on the daemon's own event loop, so it cannot report healthy while the
loop is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from zombiewatch.app.logs import log_event
from zombiewatch.domain.ports import StartError

log = logging.getLogger(__name__)

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_MAX_HEADER_LINES = 100


class OpsServer:
    """Serves health, readiness and metrics from callables the app provides (a ``Lifecycle``)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        ready: Callable[[], tuple[bool, str]],
        metrics: Callable[[], bytes],
    ) -> None:
        self._host = host
        self._port = port
        self._ready = ready
        self._metrics = metrics
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self._host, self._port)
        except OSError as exc:  # the port is taken, the address is not ours
            raise StartError("http", f"{self._host}:{self._port}: {exc}") from exc
        log_event(log, logging.INFO, "http_listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def route(self, method: str, path: str) -> tuple[int, str, bytes]:
        """The answer to one request: (status, content type, body)."""
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            ready, why = self._ready()
            return (200 if ready else 503), "text/plain", (why + "\n").encode()
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4; charset=utf-8", self._metrics()
        return 404, "text/plain", b"not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request_line = (await reader.readline()).decode("latin-1").split()
                for _ in range(_MAX_HEADER_LINES):
                    if (await reader.readline()) in (b"\r\n", b"\n", b""):
                        break
            method, path = [*request_line, "", ""][:2]
            status, ctype, body = self.route(method, path)
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            writer.write(head + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await writer.wait_closed()

