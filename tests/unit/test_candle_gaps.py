"""The gaps in the stored candles filled from an exchange that offers candles (issue 30,
item 1: "where the broker offers candles (CCXT's fetch_ohlcv), fetched for gaps")."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.support.clock import FixedClock
from trading.domain.candles import Candle, SymbolCandle
from trading.services.broker_errors import BrokerUnavailable
from trading.services.candles import CandleGaps, candle_source

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY_MINUTES = 24 * 60


def at(minute: int, second: int = 0) -> datetime:
    return T0 + timedelta(minutes=minute, seconds=second)


def candle(minute: int, price: int = 100) -> Candle:
    p = Decimal(price)
    return Candle(at(minute), p, p + 1, p - 1, p)


class MemoryStore:
    """The candle store's part the gaps use, in memory."""

    def __init__(self, minutes: Sequence[int] = ()) -> None:
        self.candles = {at(m): candle(m, 200) for m in minutes}  # the desk's own: price 200
        self.writes = 0

    def stored(self, since: datetime, until: datetime) -> list[Candle]:
        return [c for t, c in sorted(self.candles.items()) if since <= t < until]

    async def add_missing(self, candles: Sequence[SymbolCandle]) -> None:
        self.writes += 1
        for c in candles:
            self.candles.setdefault(c.candle.time, c.candle)


class Exchange:
    """A candle source: a candle at price 100 for every minute asked but `quiet` ones."""

    offers_candles = True

    def __init__(self, quiet: Sequence[int] = (), fails: bool = False) -> None:
        self.quiet = {at(m) for m in quiet}
        self.fails = fails
        self.asked: list[tuple[datetime, datetime]] = []

    async def get_candles(self, symbol: str, since: datetime, until: datetime) -> list[Candle]:
        self.asked.append((since, until))
        if self.fails:
            raise BrokerUnavailable("HTTP_503", "exchange down")
        out, t = [], since
        while t < until:
            if t not in self.quiet:
                out.append(Candle(t, Decimal(100), Decimal(101), Decimal(99), Decimal(100)))
            t += timedelta(minutes=1)
        return out


class Herenya:
    async def get_quote(self, symbol: str) -> None: ...


async def fill(gaps: CandleGaps, store: MemoryStore, accounts: Sequence[str] = ("ex",), until: int = 60) -> int:
    return await gaps.fill(accounts, "BTC", store.stored(at(-DAY_MINUTES), at(until)), at(-DAY_MINUTES), at(until))


async def test_only_the_minutes_missing_within_the_retention_and_before_the_current_one_are_fetched() -> None:
    store = MemoryStore(minutes=[0, 1, 2, 5, 6, 8, 9])
    exchange = Exchange()
    clock = FixedClock(at(12, 30))
    # A retention of 10 minutes: candles before 09:02:30 are trimmed, so 09:03 is the first asked.
    gaps = CandleGaps(store, lambda _: exchange, clock, retention_days=10 / DAY_MINUTES)
    assert await fill(gaps, store) == 5
    # One request from the oldest missing minute through the last complete one (12 is still being seen).
    assert exchange.asked == [(at(3), at(12))]
    # Stored: the five missing minutes (3, 4, 7, 10, 11); the desk's own candles are left as they were.
    assert sorted(t.minute for t, c in store.candles.items() if c.close == 100) == [3, 4, 7, 10, 11]
    assert sorted(t.minute for t, c in store.candles.items() if c.close == 200) == [0, 1, 2, 5, 6, 8, 9]
    assert store.writes == 1
    # Nothing left to fill: nothing asked.
    assert await fill(gaps, store) == 0
    assert len(exchange.asked) == 1


async def test_at_most_n_minutes_a_request_newest_first_and_not_asked_again_within_the_memo() -> None:
    store = MemoryStore(minutes=[])
    exchange = Exchange(quiet=[8])  # the exchange has no candle of 09:08 either
    clock = FixedClock(at(10))
    gaps = CandleGaps(store, lambda _: exchange, clock, retention_days=11 / DAY_MINUTES, most=3)
    assert await fill(gaps, store) == 2  # 7 and 9 (8: none)
    assert await fill(gaps, store) == 3  # 4, 5, 6: 8 was asked a moment ago
    assert exchange.asked == [(at(7), at(10)), (at(4), at(7))]
    clock.advance(timedelta(minutes=5))  # now 09:15: the memo of the first request is over
    assert await fill(gaps, store) == 3  # 12, 13, 14
    assert await fill(gaps, store) == 2  # 10, 11 (9 is stored)
    # 09:08 asked again (the exchange still has none); 09:04 (the retention) through 09:14 are stored.
    assert await fill(gaps, store) == 0
    assert await fill(gaps, store) == 0  # and not asked again now
    assert exchange.asked[2:] == [(at(12), at(15)), (at(10), at(12)), (at(8), at(9))]


async def test_a_failing_exchange_leaves_the_gap_logs_once_and_another_account_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore(minutes=[m for m in range(-10, 3) if m != 1])
    broken, working = Exchange(fails=True), Exchange()
    clock = FixedClock(at(3))
    sources = {"broken": broken, "working": working}
    gaps = CandleGaps(store, sources.__getitem__, clock, retention_days=10 / DAY_MINUTES, memo=timedelta(minutes=1))
    with caplog.at_level(logging.WARNING, logger="signaldesk.candles"):
        assert await fill(gaps, store, accounts=["broken"]) == 0
        assert at(1) not in store.candles and store.writes == 0
        clock.advance(timedelta(minutes=2))
        assert await fill(gaps, store, accounts=["broken", "working"]) == 3  # 1, 3 and 4 from the other
    assert len(broken.asked) == 2 and working.asked == [(at(1), at(5))]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith("broken gave no candles of BTC (the gap stays; said once)")
    assert "exchange down" in said[0]


async def test_brokers_without_candles_are_not_asked() -> None:
    store = MemoryStore()
    closed = Exchange()
    closed.offers_candles = False  # an exchange whose ccxt class has no fetchOHLCV

    def brokers(name: str) -> object:
        if name == "unbuilt":
            raise LookupError("no account named 'unbuilt'")
        return {"herenya": Herenya(), "closed": closed}[name]

    assert candle_source(Herenya()) is None and candle_source(closed) is None
    gaps = CandleGaps(store, brokers, FixedClock(at(5)), retention_days=90)
    assert await fill(gaps, store, accounts=["herenya", "closed", "unbuilt"]) == 0
    assert closed.asked == [] and store.writes == 0
