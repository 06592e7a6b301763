"""`signaldesk serve`: Hypercorn and everything else on one event loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from bot.app import build, start, stop
from bot.settings import Settings

log = logging.getLogger("signaldesk.serve")

# Hypercorn's own limits, below the app's (the body timeout and the per-address cap of the
# webhook): a connection that sends nothing at all for READ_TIMEOUT is closed, an idle
# keep-alive connection after KEEP_ALIVE_TIMEOUT, and a request line plus headers larger
# than MAX_HEADER_BYTES is refused (TradingView's come to well under 2 KiB).
READ_TIMEOUT_SECONDS = 30
KEEP_ALIVE_TIMEOUT_SECONDS = 5.0
MAX_HEADER_BYTES = 8 * 1024


def hypercorn_config(host: str, port: int) -> Config:
    """Hypercorn's configuration for `signaldesk serve` (and the tests that serve the app)."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 5.0
    config.read_timeout = READ_TIMEOUT_SECONDS
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_SECONDS
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    return config


async def serve(settings: Settings) -> int:
    app = build(settings)
    await start(app)
    # Everything loaded so far (modules, SQLAlchemy's and discord.py's tables) lives as long
    # as the process: out of the collector's sight, a full collection pauses the loop for a
    # few ms instead of 50-60 ms (measured under bench/pipeline.py).
    gc.freeze()
    config = hypercorn_config(settings.signaldesk_host, settings.signaldesk_port)

    stopping = asyncio.Event()
    web_may_stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    async def drain_then_stop() -> None:
        await stopping.wait()
        log.info("stopping: new webhooks get 503; finishing the signal in hand")
        app.draining.set()
        await app.runner.stop()
        web_may_stop.set()

    drainer = loop.create_task(drain_then_stop())
    log.info("serving on http://%s:%s", settings.signaldesk_host, settings.signaldesk_port)
    try:
        await hypercorn_serve(app.web, config, shutdown_trigger=web_may_stop.wait)
    finally:
        drainer.cancel()
        await stop(app)
    log.info("stopped cleanly")
    return 0
