"""Candles fetched for gaps (issue 30, item 1): the real ccxt (binanceusdm) against the
loopback fake Binance USDⓈ-M exchange fills the minutes the desk saw no price in before the
ledger reads them, on SQLite and PostgreSQL; an exchange that does not answer leaves the gap,
and the ledger leaves out (and reports) what it touches."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from db.database import Database
from db.repositories.candles import SqlCandleStore
from tests.integration.web_support import KEY, add_bot, make_deps, make_services
from tests.support.clock import FixedClock
from tests.support.exchange import BTC, broker_at
from tests.support.fake_binance import running_fake_binance
from tests.support.fake_broker import FakeBroker
from trading.domain.candles import Candle, SymbolCandle, minute_of
from trading.services.candles import CandleGaps
from trading.services.ledger import Ledger
from web.app import create_app

TOKEN = "api-token-for-gaps-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KLINES = ("GET", "/fapi/v1/klines")
D = Decimal


async def test_klines_are_read_through_the_real_ccxt_in_pages() -> None:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    given = [Candle(t0 + timedelta(minutes=m), D(100 + m), D(101 + m), D(99 + m), D("100.5") + m) for m in range(2500)]
    async with running_fake_binance() as (url, fake):
        fake.candles["BTCUSDT"] = given[:1200] + given[1201:]  # the exchange has no 10:00 (no trade)
        broker = broker_at(url)
        try:
            got = await broker.get_candles(BTC, t0 + timedelta(minutes=5), t0 + timedelta(minutes=2400))
        finally:
            await broker.aclose()
    assert got == given[5:1200] + given[1201:2400]
    # ccxt asks Binance for 1000 candles at most: three pages for 2394.
    assert fake.requests.count(KLINES) == 3


def alert(action: str, price: str) -> bytes:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"action": action, "price": price, "time": now}).encode()


async def test_a_gap_is_filled_from_the_exchange_and_one_it_cannot_fill_is_left_out_and_reported(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # An approved entry: the desk long 1 @53211 (the broker's ask), the bot alone long 1
    # @53210.5 (the alert's price), both still open, as in tests/integration/test_edge.py.
    services = make_services(database, FakeBroker(bid=D("53210.0"), ask=D("53211.0")))
    client = create_app(make_deps(database, services, api_token=TOKEN)).test_client()
    await add_bot(database, mode="approve", symbol=BTC, broker_account="binance-futures")
    opened = minute_of(datetime.now(UTC))

    async def decided(action: str, price: str, verb: str) -> None:
        response = await client.post(f"/webhook/{KEY}", data=alert(action, price))
        signal_id: int = (await response.get_json())["signal_id"]
        await services.use_cases.steps.advance(signal_id)  # the card
        response = await client.post(f"/api/signals/{signal_id}/{verb}", headers=AUTH, data=b"{}")
        assert response.status_code == 200, await response.get_json()
        await services.use_cases.steps.advance(signal_id)

    await decided("RSI_LONG_ENTRY", "53210.5", "approve")

    # The desk saw prices from 5 minutes before the entry to 9 after, but for the 4th after.
    def seen(minute: int, close: str = "53250") -> Candle:
        return Candle(opened + timedelta(minutes=minute), D(53250), D(53300), D(53200), D(close))

    store = SqlCandleStore(database)
    await store.save([SymbolCandle(BTC, seen(m)) for m in range(-5, 10) if m != 4])
    clock = FixedClock(opened + timedelta(minutes=10))
    async with running_fake_binance() as (url, fake):
        # The exchange's candles: the missing minute as the desk would have seen it, the
        # others at other prices (never written over the desk's own).
        fake.candles["BTCUSDT"] = [seen(m, "60000") for m in range(-5, 10) if m != 4] + [seen(4)]
        exchange = broker_at(url)
        gaps = CandleGaps(store, {"binance-futures": exchange}.__getitem__, clock, retention_days=90)
        ledger = Ledger(database.uow, store, clock, gaps)
        try:
            fake.faults = [("GET", "/fapi/v1/klines", "5xx")] * 4  # every try of the broker's
            with caplog.at_level(logging.WARNING, logger="signaldesk.candles"):
                [down] = (await ledger.edge("SA40_RSI_Bot", 1)).bots
            # The shadow's open long lives through the missing minute: left out, and said why.
            first = (opened + timedelta(minutes=4)).strftime("%Y-%m-%d %H:%M")
            # So is the desk's own open long, which lives through it as well.
            gap = f": no candle for 1 minute(s) of its life, the first {first} UTC"
            shadow, desk = down.ledger.excluded
            assert shadow.startswith("open long 1 opened ") and shadow.endswith(gap)
            assert desk == f"desk's open position{gap}"
            assert (down.ledger.bot_alone_pnl, down.ledger.open_shadows) == (0, 0)
            assert fake.requests.count(KLINES) == 4 and not fake.faults
            [said] = [r.getMessage() for r in caplog.records if r.name == "signaldesk.candles"]
            assert said.startswith(f"binance-futures gave no candles of {BTC} (the gap stays; said once)")
            # Asked a moment ago (the whole day's missing minutes, fewer than 1500): not asked again at once.
            await ledger.edge("SA40_RSI_Bot", 1)
            assert fake.requests.count(KLINES) == 4

            clock.advance(timedelta(minutes=5))  # the memo is over; the exchange answers now
            [filled] = (await ledger.edge("SA40_RSI_Bot", 1)).bots
        finally:
            await exchange.aclose()
    # The day's missing minutes in two pages (ccxt asks Binance for 1000 at most); the second
    # starts after the exchange's last candle, 9 minutes after the entry, and finds none.
    assert fake.requests.count(KLINES) == 6
    # Marked to the last close, 53250: the desk's long @53211 +39, the bot alone's @53210.5 +39.5.
    assert (filled.ledger.excluded, filled.ledger.open_shadows) == ((), 1)
    assert (filled.ledger.desk_pnl, filled.ledger.bot_alone_pnl, filled.ledger.edge) == (D(39), D("39.5"), D("-0.5"))
    stored = await store.between(BTC, opened - timedelta(minutes=5), opened + timedelta(minutes=10))
    assert [c.time for c in stored] == [opened + timedelta(minutes=m) for m in range(-5, 10)]
    assert {c.close for c in stored} == {D(53250)}  # the exchange's 60000s were not written over the desk's
