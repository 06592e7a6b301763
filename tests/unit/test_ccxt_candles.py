"""The ccxt broker as a source of candles (issue 30, item 1): `fetch_ohlcv` paged from the
last candle given until the span is covered, whatever page size the exchange keeps to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from brokers.ccxt.client import CcxtBroker
from brokers.ccxt.markets import TICK_SIZE
from trading.domain.candles import Candle
from trading.services.candles import candle_source

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MS = int(T0.timestamp() * 1000)


def ms(minute: int) -> int:
    return MS + minute * 60_000


class OhlcvExchange:
    """An exchange that gives at most `page` candles a request, as many do (ccxt asks at
    most 1000 of Binance whatever the limit), from the rows it holds."""

    id = "someexchange"
    precisionMode = TICK_SIZE

    def __init__(self, rows: list[list[Any]], page: int, has: bool = True) -> None:
        self.rows, self.page = rows, page
        self.has: dict[str, Any] = {"fetchOHLCV": has}
        self.timeframes = {"1m": "1m", "1h": "1h"}
        self.calls: list[tuple[Any, ...]] = []

    async def load_markets(self) -> dict[str, Any]:
        return {"BTC/USDT:USDT": {"id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "contract": True}}

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int, limit: int, params: dict[str, Any]
    ) -> list[list[Any]]:
        self.calls.append((symbol, timeframe, since, limit, params))
        until = params["until"]
        return [r for r in self.rows if since <= r[0] <= until][: min(limit, self.page)]


async def test_candles_are_paged_from_the_last_one_given_until_the_span_is_covered() -> None:
    # Minutes 0..6 but 2 (no trade then) and 5 (prices not known: skipped); 7 is past the span.
    rows = [[ms(m), 100 + m, 101.5 + m, 99.25 + m, 100.5 + m, 3.0] for m in (0, 1, 3, 4, 6, 7)]
    rows.insert(4, [ms(5), None, None, None, None, 0.0])
    exchange = OhlcvExchange(rows, page=2)
    broker = CcxtBroker(exchange, name="ex")
    candles = await broker.get_candles("BTC/USDT:USDT", T0, T0 + timedelta(minutes=7))
    assert [c.time for c in candles] == [T0 + timedelta(minutes=m) for m in (0, 1, 3, 4, 6)]
    assert candles[0] == Candle(T0, Decimal("100"), Decimal("101.5"), Decimal("99.25"), Decimal("100.5"))
    # Each page starts after the last candle given (its limit: the minutes left), up to the
    # span's end; the third page's last candle is the span's last minute, so no fourth.
    assert [(c[2], c[3], c[4]) for c in exchange.calls] == [
        (ms(0), 7, {"until": ms(7) - 1}),
        (ms(2), 5, {"until": ms(7) - 1}),
        (ms(5), 2, {"until": ms(7) - 1}),
    ]
    assert all(c[:2] == ("BTC/USDT:USDT", "1m") for c in exchange.calls)
    assert candle_source(broker) is broker


async def test_an_exchange_without_one_minute_candles_is_not_a_source() -> None:
    assert candle_source(CcxtBroker(OhlcvExchange([], page=10, has=False), name="ex")) is None
    hourly = OhlcvExchange([], page=10)
    hourly.timeframes = {"1h": "1h"}
    assert candle_source(CcxtBroker(hourly, name="ex")) is None
