"""One-minute candles (open, high, low, close) built from the prices the desk sees.

A candle covers [start, start + 1 minute) of UTC time; it exists only for a minute in which
at least one price was seen (a quiet minute has no candle: nothing is guessed)."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

MINUTE = timedelta(minutes=1)
# An approval card's chart (Discord's PNG, the web desk's live chart): the last hour of
# candles, drawn from 5 on (fewer: the card says so and keeps its chart link).
CHART_CANDLES = 60
CHART_MIN_CANDLES = 5


@dataclass(frozen=True, slots=True)
class Candle:
    time: datetime  # the candle's start
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    def with_price(self, price: Decimal) -> Candle:
        """This candle once `price` was seen after everything it already holds."""
        return Candle(self.time, self.open, max(self.high, price), min(self.low, price), price)


@dataclass(frozen=True, slots=True)
class SymbolCandle:
    symbol: str
    candle: Candle


def minute_of(at: datetime) -> datetime:
    """The start of the UTC minute that holds `at` (a timezone-aware time)."""
    if at.tzinfo is None:
        raise ValueError(f"naive time {at.isoformat()}: give it a timezone")
    return at.astimezone(UTC).replace(second=0, microsecond=0)


class CandleBuilder:
    """Prices in, in the order seen; the candles they changed out (`take_changed`). Only the
    newest minute of each symbol is kept once taken, so memory stays one candle a symbol; and
    never more than `most` candles while none are taken (a process that does not write them,
    a follower, drops its oldest)."""

    def __init__(self, most: int = 10_000) -> None:
        self._most = most
        self._candles: dict[tuple[str, datetime], Candle] = {}
        self._changed: set[tuple[str, datetime]] = set()
        self._newest: dict[str, datetime] = {}

    def add(self, symbol: str, price: Decimal, at: datetime) -> None:
        if not price.is_finite() or price <= 0:
            return  # not a price: a broker's placeholder for "no trade yet"
        minute = minute_of(at)
        newest = self._newest.get(symbol)
        if newest is not None and minute < newest and (symbol, minute) not in self._candles:
            return  # a late price for a minute already written out: its candle is not reopened
        key = (symbol, minute)
        known = self._candles.get(key)
        self._candles[key] = (
            known.with_price(price) if known is not None else Candle(minute, price, price, price, price)
        )
        self._changed.add(key)
        if newest is None or minute > newest:
            self._newest[symbol] = minute
        if len(self._candles) > self._most:
            for oldest in sorted(self._candles, key=lambda k: k[1])[: len(self._candles) - self._most]:
                del self._candles[oldest]
                self._changed.discard(oldest)

    def take_changed(self) -> list[SymbolCandle]:
        """The candles changed since the last take, by symbol then time; minutes older than
        their symbol's newest are then forgotten (they are complete)."""
        changed = sorted(self._changed)
        self._changed = set()
        taken = [SymbolCandle(symbol, self._candles[(symbol, minute)]) for symbol, minute in changed]
        for key in [k for k in self._candles if k[1] < self._newest[k[0]]]:
            del self._candles[key]
        return taken


def candles_from_prices(prices: Iterable[tuple[datetime, Decimal]]) -> list[Candle]:
    """The one-minute candles of one instrument's prices (in the order seen), in time order."""
    builder = CandleBuilder()
    for at, price in prices:
        builder.add("", price, at)
    return sorted((c.candle for c in builder.take_changed()), key=lambda c: c.time)


def missing_minutes(
    candles: Iterable[Candle] | AbstractSet[datetime], start: datetime, end: datetime
) -> list[datetime]:
    """The minutes from `start`'s through `end`'s (inclusive) that have no candle (given as
    the candles, or the set of their starts)."""
    have = candles if isinstance(candles, AbstractSet) else {c.time for c in candles}
    missing: list[datetime] = []
    minute, last = minute_of(start), minute_of(end)
    while minute <= last:
        if minute not in have:
            missing.append(minute)
        minute += MINUTE
    return missing
