"""``zombiewatch run``: the daemon's main coroutine, with signal handling."""

from __future__ import annotations

import asyncio
import logging
import signal

from zombiewatch.app.container import Container
from zombiewatch.app.logs import configure_logging, log_event
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import Settings

log = logging.getLogger(__name__)


def build_container(settings: Settings) -> Container:
    container = Container()
    container.settings.override(settings)
    return container


async def run_daemon(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; return the process exit code."""
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        runtime = Runtime(build_container(settings))
        await runtime.start()
    except Exception as exc:  # configuration the adapters refuse (kubeconfig, TLS files...)
        log_event(log, logging.ERROR, "start_failed", error=f"{type(exc).__name__}: {exc}")
        return 1
    await stop.wait()
    log_event(log, logging.INFO, "stopping", why="signal")
    await runtime.stop()
    return 0
