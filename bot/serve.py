"""`signaldesk serve`: Hypercorn and everything else on one event loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from bot.app import build, start, stop
from bot.demo import next_steps, simulated_parts
from bot.settings import Settings
from bot.tradingview import Secrets

log = logging.getLogger("signaldesk.serve")

# Hypercorn's own limits, below the app's (the body timeout and the per-address cap of the
# webhook): a connection that sends nothing at all for READ_TIMEOUT is closed, an idle
# keep-alive connection after KEEP_ALIVE_TIMEOUT, and a request line plus headers larger
# than MAX_HEADER_BYTES is refused (TradingView's come to well under 2 KiB).
READ_TIMEOUT_SECONDS = 30
KEEP_ALIVE_TIMEOUT_SECONDS = 5.0
MAX_HEADER_BYTES = 8 * 1024
# Connections the kernel holds before Hypercorn accepts them (Hypercorn's default is 100): a
# bar close brings hundreds of TradingView connections at once, and a connection beyond the
# backlog waits for the sender's SYN retry, a second or more (the kernel caps it at somaxconn).
LISTEN_BACKLOG = 1024
GC_YOUNG_THRESHOLD = 10_000


def hypercorn_config(host: str, port: int) -> Config:
    """Hypercorn's configuration for `signaldesk serve` (and the tests that serve the app)."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 5.0
    config.read_timeout = READ_TIMEOUT_SECONDS
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_SECONDS
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.backlog = LISTEN_BACKLOG
    return config


async def serve(settings: Settings) -> int:
    async with simulated_parts(settings) as (effective, notes):
        return await _serve(effective, notes)


async def _serve(settings: Settings, notes: list[str]) -> int:
    app = build(settings)
    await start(app)
    # Everything loaded so far (modules, SQLAlchemy's and discord.py's tables) lives as long
    # as the process: out of the collector's sight, a full collection pauses the loop for a
    # few ms instead of 50-60 ms (measured under bench/pipeline.py).
    gc.freeze()
    # A request allocates thousands of objects and refcounting frees nearly all of them, so a
    # young-generation pass every 700 allocations (the default) finds little: about 1,500 of
    # them in a 10 s closed loop, 0.37 s of the core. Every 10,000: 32 passes, 0.10 s, each
    # still a few ms (100,000 made one pass 65 ms) and the peak RSS within 5 MB of before
    # (bench/webhook.py, docs/performance.md). The older generations keep their ratios.
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    gc.enable()  # `signaldesk` turned it off for the start (bot/cli/main.py, LONG_RUNNING)
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
    print(
        next_steps(settings, await app.use_cases.queries.bots(), _secrets_from(settings.bots_file), notes), flush=True
    )
    try:
        await hypercorn_serve(app.web, config, shutdown_trigger=web_may_stop.wait)
    finally:
        drainer.cancel()
        await stop(app)
    log.info("stopped cleanly")
    return 0


def _secrets_from(bots_file: str | None) -> dict[str, Secrets]:
    """Webhook keys and passphrases in clear from the bots file, for the banner: the
    database holds only their hashes."""
    if not bots_file:
        return {}
    from bot.bots_file import load_bots_file

    try:
        configs = load_bots_file(bots_file)
    except Exception as e:  # the banner is a courtesy; the file was already imported or refused
        log.warning("bots file %s not read for the banner: %s", bots_file, e)
        return {}
    return {c.bot_name: Secrets(webhook_key=c.webhook_key, passphrase=c.passphrase) for c in configs}
