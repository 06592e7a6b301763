"""Shared by the web tests: the real app over a real database, served by Hypercorn on a
free loopback port, with the real Desk on an in-memory broker."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from bot.serve import hypercorn_config
from db.database import Database
from db.repositories.candles import SqlCandleStore
from tests.support.fake_broker import FakeBroker
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.config import BotConfig
from trading.domain.records import Bot
from trading.services.bootstrap import Services, bootstrap
from trading.services.feed import EventFeed
from trading.services.intake import Intake
from trading.services.ledger import Ledger
from trading.services.people import People
from web.deps import WebDeps
from web.errors import status_for
from web.limits import WebhookLimits

KEY = "sa40_rsi_50849a3c"
SECRET_KEY = "test-secret-key-for-session-cookies-0123456789"
# argon2id at its lightest: the tests check the logic, not the cost (production uses the defaults).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def make_services(db: Database, broker: FakeBroker | None = None) -> Services:
    """The services as the process builds them (runner not started): the use cases the web
    calls, and a test runs a signal with (`use_cases.steps.advance`)."""
    the_broker = broker or FakeBroker()
    return bootstrap(db.uow, lambda _name: the_broker, SystemClock(), lambda _events: None, retry_delay=0.01)


def make_people(db: Database) -> People:
    return People(db.uow, SystemClock(), hasher=CHEAP_HASHER)


# The webhook's limits the tests start from: none but the body's size and time.
OPEN_LIMITS = {
    "rate_per_key": 0,
    "rate_per_ip": 0,
    "max_connections_per_ip": 0,
    "failed_rate_per_ip": 0,
    "failed_rate_per_key": 0,
}


def make_deps(db: Database, services: Services | None = None, **overrides: Any) -> WebDeps:
    """`overrides`: WebDeps fields, and webhook limits (WebhookLimits fields) by name.
    `services`: whose use cases the web calls (new ones when None)."""
    limits = {name: overrides.pop(name) for name in list(overrides) if name in WebhookLimits.model_fields}
    values: dict[str, Any] = {
        "intake": Intake(db.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES),
        "use_cases": (services or make_services(db)).use_cases,
        "webhook": WebhookLimits.model_validate(OPEN_LIMITS | limits),
        "people": make_people(db),
        "feed": EventFeed(db.uow),
        "ledger": Ledger(db.uow, SqlCandleStore(db), SystemClock()),
        "candles": SqlCandleStore(db),
        "secret_key": SECRET_KEY,
    }
    values.update(overrides)
    return WebDeps(**values)


async def add_bot(db: Database, **overrides: Any) -> Bot:
    config = BotConfig.parse(
        {"bot_name": "SA40_RSI_Bot", "symbol": "SA40", "webhook_key": KEY, "mode": "auto"} | overrides
    )
    async with db.uow() as uow:
        bot = await uow.bots.upsert(config)
        await uow.commit()
    return bot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def running(app: Quart, *, served_as_in_production: bool = False) -> AsyncIterator[str]:
    """The app served by Hypercorn on 127.0.0.1 until the block ends; yields its base URL.
    `served_as_in_production`: with `signaldesk serve`'s Hypercorn configuration."""
    port = free_port()
    config = hypercorn_config("127.0.0.1", port) if served_as_in_production else Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.graceful_timeout = 1.0
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                await writer.wait_closed()
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
