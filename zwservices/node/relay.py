"""A loopback TCP relay between the machine and the node's private network namespace.

Run as a script (standard library only) so it needs nothing but the interpreter:

- ``--to-node``: listens on 127.0.0.1 (an ephemeral port, written to ``--port-file``) in the
  machine's namespace and forwards to ``127.0.0.1:<port>`` inside the node (the API server);
- ``--to-host ADDR:PORT=HOSTPORT``: listens on ``ADDR:PORT`` inside the node (the node IP,
  which pods reach over their bridge) and forwards to ``127.0.0.1:HOSTPORT`` on the machine
  (Kafka's pod listener).

A socket belongs to the network namespace its creating thread was in, so the single-threaded
relay ``setns()``es to the node to create node-side sockets and back at once. No traffic
leaves loopback or the node's namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

CLONE_NEWNET = 0x40000000
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)


def setns(fd: int) -> None:
    """``setns(fd, CLONE_NEWNET)`` (``os.setns`` needs Python 3.12)."""
    if _LIBC.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class Namespaces:
    """File descriptors of both namespaces; ``socket_in`` makes a socket in either."""

    def __init__(self, node_netns: Path) -> None:
        self.host = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.node = os.open(str(node_netns), os.O_RDONLY)

    def socket_in(self, node: bool) -> socket.socket:
        if not node:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        else:
            setns(self.node)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                setns(self.host)
        sock.setblocking(False)
        return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


def _handler(ns: Namespaces, node_side: bool,
             target: tuple[str, int]) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                                  Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        out = ns.socket_in(node_side)
        try:
            await asyncio.wait_for(loop.sock_connect(out, target), timeout=10)
        except (OSError, TimeoutError):
            out.close()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(sock=out)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    return handle


def _listener(ns: Namespaces, node: bool, addr: tuple[str, int]) -> socket.socket:
    sock = ns.socket_in(node)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(addr)
    sock.listen(128)
    return sock


async def serve(args: argparse.Namespace) -> None:
    ns = Namespaces(Path(args.netns))
    servers = []
    api = _listener(ns, False, ("127.0.0.1", 0))
    servers.append(await asyncio.start_server(
        _handler(ns, True, ("127.0.0.1", args.to_node)), sock=api))
    for spec in args.to_host:
        listen, host_port = spec.split("=")
        addr, port = listen.rsplit(":", 1)
        sock = _listener(ns, True, (addr, int(port)))
        servers.append(await asyncio.start_server(
            _handler(ns, False, ("127.0.0.1", int(host_port))), sock=sock))
    port_file = Path(args.port_file)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(f"{api.getsockname()[1]}\n")
    tmp.replace(port_file)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--netns", required=True)
    parser.add_argument("--to-node", type=int, required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--to-host", action="append", default=[])
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
