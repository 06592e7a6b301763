"""A bar close over real HTTP at the default settings: TradingView sends every user's alerts
from four addresses, so 300 alerts for 60 bots arrive at once from one address, and every one
is answered 200 and stored (none refused by the per-address cap or rate limits)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.settings import Settings
from db.database import Database
from tests.integration.web_support import make_deps, running
from trading.domain.config import BotConfig
from web.app import create_app

BOTS = 60
ALERTS = 300


def defaults(**overrides: Any) -> dict[str, Any]:
    """The webhook's limits as `signaldesk serve` sets them from an empty environment."""
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    return s.webhook.model_dump() | overrides


async def test_a_bar_close_of_300_alerts_from_one_address_is_all_answered_200(database: Database) -> None:
    async with database.uow() as uow:
        for n in range(BOTS):
            await uow.bots.upsert(
                BotConfig.parse({"bot_name": f"BOT{n}", "symbol": f"SYM{n}", "webhook_key": f"bot{n}_key_0123456789"})
            )
        await uow.commit()
    now = datetime.now(UTC).isoformat()
    deps = make_deps(database, **defaults())
    # As many connections at once as alerts: the server sees the whole burst in flight.
    limits = httpx.Limits(max_connections=ALERTS, max_keepalive_connections=0)
    async with (
        running(create_app(deps), served_as_in_production=True) as url,
        httpx.AsyncClient(timeout=30, limits=limits) as client,
    ):
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{url}/webhook/bot{i % BOTS}_key_0123456789",
                    content=json.dumps({"action": "RSI_LONG_ENTRY", "price": 100 + i, "time": now}),
                    headers={"Content-Type": "application/json"},
                )
                for i in range(ALERTS)
            )
        )
        await deps.intake.aclose()

    refused = [(a.status_code, a.text[:200]) for a in answers if a.status_code != 200]
    assert refused == []
    assert {a.json()["status"] for a in answers} == {"accepted"}
    async with database.uow(read_only=True) as uow:
        assert len(await uow.signals.list(limit=1000)) == ALERTS
        assert [r.status for r in await uow.webhook_logs.list(limit=1000)] == [200] * ALERTS
