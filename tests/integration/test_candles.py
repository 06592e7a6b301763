"""The desk keeps the prices it sees (issue 30, item 1): quotes and fills read through the
brokers become one-minute candles, written in one statement a flush, trimmed by the
retention, exported in the layout `signaldesk replay --candles` reads."""

from __future__ import annotations

import argparse
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import event

from bot.cli import candles as candles_cli
from bot.settings import Settings
from db.database import Database
from db.repositories.candles import SqlCandleStore
from tests.integration.web_support import add_bot
from tests.support.fake_broker import FakeBroker
from trading.domain.candles import Candle
from trading.domain.market import OrderRequest, Quote
from trading.domain.values import OrderSide
from trading.replay.inputs import read_candles
from trading.services.candles import CandleRecorder, CandleSampler, CandleTrimmer, recording_brokers

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


def d(text: str) -> Decimal:
    return Decimal(text)


def count_statements(database: Database) -> list[str]:
    seen: list[str] = []

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement.split()[0].upper())

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    return seen


async def test_quotes_and_fills_through_the_brokers_become_stored_candles(database: Database) -> None:
    clock = Clock()
    store = SqlCandleStore(database)
    recorder = CandleRecorder(store, clock)
    fake = FakeBroker(bid=d("100"), ask=d("102"))  # last: the mid, 101
    brokers = recording_brokers(lambda _account: fake, recorder)

    await brokers("Paper").get_quote("SA40")  # 09:00:00 101
    clock.at = T0 + timedelta(seconds=30)
    fake.bid, fake.ask = d("104"), d("106")
    await brokers("Paper").get_quote("SA40")  # 09:00:30 105
    statements = count_statements(database)
    assert await recorder.flush() == 1
    # One INSERT for the flush, whatever the number of candles, in one transaction.
    assert [s for s in statements if s in ("INSERT", "UPDATE")] == ["INSERT"]

    clock.at = T0 + timedelta(seconds=50)
    fake.bid, fake.ask = d("96"), d("98")
    await brokers("Paper").get_quote("SA40")  # 09:00:50 97: the stored minute 0 is replaced
    clock.at = T0 + timedelta(minutes=2, seconds=5)  # minute 1 has no quote
    order = await brokers("Paper").place_order(OrderRequest("sd-1-0", "SA40", OrderSide.BUY, 1))
    assert order.average_fill_price == d("98")  # the fake fills a buy at the ask
    statements.clear()
    assert await recorder.flush() == 2
    assert [s for s in statements if s in ("INSERT", "UPDATE")] == ["INSERT"]
    assert await recorder.flush() == 0  # nothing new: nothing written

    stored = await store.between("SA40", T0, T0 + timedelta(minutes=5))
    assert stored == [
        Candle(T0, d("101"), d("105"), d("97"), d("97")),
        Candle(T0 + timedelta(minutes=2), d("98"), d("98"), d("98"), d("98")),
    ]
    assert await store.between("US30", T0, T0 + timedelta(minutes=5)) == []


async def test_the_retention_trims_old_candles_and_zero_keeps_them(database: Database) -> None:
    clock = Clock()
    store = SqlCandleStore(database)
    recorder = CandleRecorder(store, clock)
    fake = FakeBroker(bid=d("100"), ask=d("100"))
    brokers = recording_brokers(lambda _account: fake, recorder)
    for days_ago in (91, 89):
        clock.at = T0 - timedelta(days=days_ago)
        await brokers("Paper").get_quote("SA40")
    await recorder.flush()
    clock.at = T0
    assert await CandleTrimmer(store, clock, 0)() == 0
    assert await CandleTrimmer(store, clock, 90)() == 1
    left = await store.between("SA40", T0 - timedelta(days=100), T0)
    assert [c.time for c in left] == [T0 - timedelta(days=89)]


async def test_export_writes_what_replay_reads_and_refuses_a_bad_range(database: Database) -> None:
    store = SqlCandleStore(database)
    fake = FakeBroker(bid=d("75000"), ask=d("75001"))
    clock = Clock()
    recorder = CandleRecorder(store, clock)
    brokers = recording_brokers(lambda _account: fake, recorder)
    for minute in range(3):
        clock.at = T0 + timedelta(minutes=minute)
        fake.bid += 10
        fake.ask += 10
        await brokers("Paper").get_quote("SA40")
    await recorder.flush()
    settings = Settings(_env_file=None, database_url=database.url)  # type: ignore[call-arg]

    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(symbol="sa40", since="2026-03-02T09:01:00Z", until="2026-03-02T10:00")
    assert await candles_cli.run(settings, args, out, err) == 0
    exported = read_candles(out.getvalue())
    assert [(c.time, c.close) for c in exported] == [
        (T0 + timedelta(minutes=1), d("75020.5")),
        (T0 + timedelta(minutes=2), d("75030.5")),
    ]

    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(symbol="SA40", since="2026-03-02T10:00:00Z", until="2026-03-02T09:00:00Z")
    assert await candles_cli.run(settings, args, out, err) == 2
    assert err.getvalue().strip() == (
        "signaldesk candles: --to 2026-03-02T09:00:00+00:00 is not after --from 2026-03-02T10:00:00+00:00"
    )
    args = argparse.Namespace(symbol="SA40", since="yesterday", until="2026-03-02T09:00:00Z")
    err = io.StringIO()
    assert await candles_cli.run(settings, args, io.StringIO(), err) == 2
    assert "--from: 'yesterday' is neither Unix seconds nor an ISO-8601 time" in err.getvalue()


async def test_the_sampler_quotes_the_instruments_people_decide_on(database: Database) -> None:
    clock = Clock()
    store = SqlCandleStore(database)
    recorder = CandleRecorder(store, clock)
    fake = FakeBroker(bid=d("100"), ask=d("100"))
    asked: list[str] = []
    original = fake.get_quote

    async def get_quote(symbol: str) -> Quote:
        asked.append(symbol)
        return await original(symbol)

    fake.get_quote = get_quote  # type: ignore[method-assign]
    brokers = recording_brokers(lambda _account: fake, recorder)
    await add_bot(database, mode="approve")  # SA40: its decisions have shadows to follow
    await add_bot(database, bot_name="US30_Auto", symbol="US30", webhook_key="us30_auto_key_0123456789", mode="auto")
    assert await CandleSampler(database.uow, brokers)() == 1
    assert asked == ["SA40"]  # the auto bot has no card and no shadow: not sampled
    await recorder.flush()
    assert [c.close for c in await store.between("SA40", T0, T0 + timedelta(minutes=1))] == [d("100")]
