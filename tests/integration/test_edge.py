"""GET /api/edge (issue 30, item 4): the ledger of real decisions over stored candles, on
SQLite and PostgreSQL, in the issue's JSON shape."""

from __future__ import annotations

import argparse
import io
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.cli import edge as edge_cli
from bot.settings import Settings
from db.database import Database
from db.repositories.candles import SqlCandleStore
from tests.integration.web_support import KEY, SystemClock, add_bot, make_deps, make_services
from tests.support.clock import FixedClock
from tests.support.fake_broker import FakeBroker
from trading.domain.candles import Candle, SymbolCandle, minute_of
from trading.domain.events import Event, Notice
from trading.services.ledger import Ledger, WeeklyEdgeSummary
from web.app import create_app

TOKEN = "api-token-for-edge-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def alert(action: str, price: str) -> bytes:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"action": action, "price": price, "time": now}).encode()


async def store_candles(db: Database) -> None:
    """A candle for every minute from 5 minutes ago to the next: low 53200, high 53300 (both
    alerts' prices inside), close 53250 (what the open positions are marked to)."""
    first = minute_of(datetime.now(UTC)) - timedelta(minutes=5)
    d = Decimal
    await SqlCandleStore(db).save(
        [
            SymbolCandle("SA40", Candle(first + timedelta(minutes=i), d(53250), d(53300), d(53200), d(53250)))
            for i in range(7)
        ]
    )


async def test_a_rejected_close_and_an_approved_entry_against_the_bot_alone(database: Database) -> None:
    broker = FakeBroker(bid=Decimal("53210.0"), ask=Decimal("53211.0"))
    services = make_services(database, broker)
    client = create_app(make_deps(database, services, api_token=TOKEN)).test_client()
    steps = services.use_cases.steps
    await add_bot(database, mode="approve")

    async def signal(action: str, price: str) -> int:
        response = await client.post(f"/webhook/{KEY}", data=alert(action, price))
        signal_id: int = (await response.get_json())["signal_id"]
        await steps.advance(signal_id)  # the card
        return signal_id

    entry = await signal("RSI_LONG_ENTRY", "53210.5")
    response = await client.post(f"/api/signals/{entry}/approve", headers=AUTH, data=b"")
    assert response.status_code == 200, await response.get_json()
    await steps.advance(entry)  # filled by the broker at its ask, 53211
    close = await signal("RSI_CLOSE_LONG", "53300")
    response = await client.post(f"/api/signals/{close}/reject", headers=AUTH, data=b"{}")
    assert response.status_code == 200
    await store_candles(database)

    response = await client.get("/api/edge?bot=SA40_RSI_Bot&days=7", headers=AUTH)
    answer: dict[str, Any] = await response.get_json()
    assert response.status_code == 200, answer
    # The bot alone: long 1 @53210.5 (the alert's price), closed by the rejected close @53300: +89.5.
    # The desk: long 1 @53211 still open, marked to the last close 53250: +39. Edge: 39 - 89.5.
    assert answer["bots"] == [
        {
            "bot": "SA40_RSI_Bot",
            "decisions": {"approved": 1, "edited": 0, "rejected": 1, "expired": 0},
            "desk_pnl": "39",
            "bot_alone_pnl": "89.5",
            "edge": "-50.5",
            "open_shadows": 0,
            "excluded": 0,
        }
    ]
    [approver] = answer["approvers"]
    # Without the rejection: long @53210.5 open, marked to 53250: +39.5; so it cost 39.5 - 89.5.
    assert (approver["decisions"], approver["rejections"], approver["edits"]) == (
        {"approved": 1, "edited": 0, "rejected": 1, "expired": 0},
        "-50",
        "0",
    )

    every = await (await client.get("/api/edge", headers=AUTH)).get_json()
    assert [b["bot"] for b in every["bots"]] == ["SA40_RSI_Bot"]

    # The Decisions page: the same figures, a row a decided signal linking to it, both curves.
    response = await client.get("/decisions?days=7", headers=AUTH)
    html = (await response.get_data()).decode()
    assert response.status_code == 200, html
    row = re.search(r'<tr data-bot="SA40_RSI_Bot">(.*?)</tr>', html, re.DOTALL)
    assert row is not None
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]
    assert cells == [
        "SA40_RSI_Bot", "1", "0", "1", "0", cells[5], "+39.00 ZAR", "+89.50 ZAR", "-50.50 ZAR",
        "-50.00 ZAR", "0.00 ZAR", "-0.50 ZAR", "0", "0",
    ]  # fmt: skip
    assert f'<a href="/signals/{entry}">#{entry}</a>' in html and f'<a href="/signals/{close}">#{close}</a>' in html
    chart = re.search(r"data-points='([^']*)' data-labels='([^']*)'", html)
    assert chart is not None
    assert json.loads(chart.group(2)) == ["Desk", "Bot alone"]
    # From 0 to the marks at the end: the desk +39, the bot alone +89.5 (its trade closed by the
    # rejected close, a point of its own).
    points = json.loads(chart.group(1))
    assert [p[1:] for p in points] == [[0, 0], [0, 89.5], [39, 89.5]]
    response = await client.get("/decisions?days=0", headers=AUTH)
    assert response.status_code == 422
    assert "days must be a whole number from 1 to 365" in (await response.get_data()).decode()

    # The command line: the same answer (--json), and the figures as a table.
    settings = Settings(_env_file=None, database_url=database.url)  # type: ignore[call-arg]
    out, err = io.StringIO(), io.StringIO()
    assert await edge_cli.run(settings, argparse.Namespace(bot="SA40_RSI_Bot", days=7, json=True), out, err) == 0
    assert json.loads(out.getvalue()) == answer
    out = io.StringIO()
    assert await edge_cli.run(settings, argparse.Namespace(bot=None, days=7, json=False), out, err) == 0
    text = out.getvalue()
    for line in (
        "  decisions              1 approved, 0 edited, 1 rejected, 0 expired",
        "  desk P&L               +39.00 ZAR",
        "  bot alone P&L          +89.50 ZAR",
        "  edge                   -50.50 ZAR",
        "    rejections           -50.00 ZAR",
        "    waiting              -0.50 ZAR",
        "  open shadows           0 (marked to the last candle)",
    ):
        assert line in text.splitlines(), text
    err = io.StringIO()
    assert await edge_cli.run(settings, argparse.Namespace(bot="Nope", days=7, json=False), out, err) == 2
    assert err.getvalue() == "signaldesk edge: no bot named 'Nope'\n"
    assert await edge_cli.run(settings, argparse.Namespace(bot=None, days=0, json=False), out, err) == 2

    # The weekly summary (LEDGER_WEEKLY_SUMMARY): Mondays 00:00-01:00 UTC, once a week.
    told: list[Event] = []
    clock = FixedClock(datetime(2026, 12, 7, 0, 10, tzinfo=UTC))  # a Monday
    weekly = WeeklyEdgeSummary(
        Ledger(database.uow, SqlCandleStore(database), SystemClock()), database.uow, clock, told.extend
    )
    assert await weekly() is True
    [notice] = told
    assert isinstance(notice, Notice) and notice.seq is not None  # stored in the feed, then told
    assert notice.message.splitlines()[1] == (
        "SA40_RSI_Bot: desk +39.00 ZAR vs bot alone +89.50 ZAR, edge -50.50 ZAR (rejections -50.00 ZAR, "
        "edits 0.00 ZAR, waiting -0.50 ZAR); 1 approved, 0 edited, 1 rejected, 0 expired"
    )
    assert await weekly() is False  # once a week
    clock.at = datetime(2026, 12, 8, 0, 10, tzinfo=UTC)  # a Tuesday
    assert await weekly() is False and len(told) == 1

    response = await client.get("/api/edge?bot=No_Such_Bot", headers=AUTH)
    assert (response.status_code, (await response.get_json())["error"]["code"]) == (404, "not_found")
    response = await client.get("/api/edge?days=0", headers=AUTH)
    error = (await response.get_json())["error"]
    assert (response.status_code, error["message"]) == (422, "days must be a whole number from 1 to 365, not '0'")
