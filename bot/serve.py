"""`signaldesk serve`: Hypercorn and everything else on one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from bot.settings import Settings
from web.app import create_app

log = logging.getLogger("signaldesk.serve")


async def serve(settings: Settings) -> int:
    app = create_app()
    config = Config()
    config.bind = [f"{settings.signaldesk_host}:{settings.signaldesk_port}"]
    config.accesslog = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("serving on http://%s:%s", settings.signaldesk_host, settings.signaldesk_port)
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    log.info("stopped")
    return 0
