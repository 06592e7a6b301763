"""The desk keeps the prices it sees: every quote read from a broker (the stop monitor, the
approval previews, an entry's slippage check) and every fill becomes part of a one-minute
candle of its instrument (trading/domain/candles.py), written in batches and trimmed after
`CANDLE_RETENTION_DAYS`. Where the desk saw no price, an exchange that offers candles fills
the gap (`CandleGaps`, before the ledger reads them).

The brokers the services are given are wrapped (`recording_brokers`), so no use case changes
to feed the candles: what any of them reads is recorded. Writes are cheap: prices are kept in
memory and each flush stores every candle changed since the last in one statement."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from trading.domain.candles import MINUTE, Candle, CandleBuilder, SymbolCandle, minute_of
from trading.domain.market import Account, BrokerOrder, BrokerPosition, Instrument, OrderRequest, Quote
from trading.domain.values import Mode
from trading.services.ports import Broker, BrokerProvider, CandleSource, Clock, UnitOfWorkFactory

log = logging.getLogger("signaldesk.candles")


class CandleStore(Protocol):
    async def save(self, candles: Sequence[SymbolCandle]) -> None:
        """Store these candles, replacing stored ones of the same symbol and minute."""
        ...

    async def between(self, symbol: str, since: datetime, until: datetime) -> list[Candle]:
        """The stored candles of `symbol` starting in [since, until), in time order."""
        ...

    async def add_missing(self, candles: Sequence[SymbolCandle]) -> None:
        """Store the candles of minutes the store has none of; stored ones stay as they are."""
        ...

    async def delete_older_than(self, cutoff: datetime) -> int: ...


class CandleRecorder:
    """Prices in (`see`), candles out to the store (`flush`, a housekeeping job)."""

    def __init__(self, store: CandleStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._builder = CandleBuilder()

    def see(self, quote: Quote) -> None:
        """A quote read now: its last price, at the time it was read (a quiet market's quote
        carries the time of its last trade, and the candle is of the minute the desk saw it)."""
        self._builder.add(quote.symbol, quote.last, self._clock.now())

    def see_fill(self, order: BrokerOrder) -> None:
        if order.filled_quantity > 0 and order.average_fill_price is not None:
            self._builder.add(order.symbol, order.average_fill_price, self._clock.now())

    async def flush(self) -> int:
        """Store the candles changed since the last flush; how many. A failed write keeps
        nothing back: the next flush writes the minutes changed after it."""
        changed = self._builder.take_changed()
        try:
            await self._store.save(changed)
        except Exception as e:
            log.warning("%d candle(s) not stored: %r", len(changed), e)
            return 0
        return len(changed)


class CandleTrimmer:
    def __init__(self, store: CandleStore, clock: Clock, retention_days: float) -> None:
        self._store = store
        self._clock = clock
        self._days = retention_days

    async def __call__(self) -> int:
        """Delete the candles older than the retention (0: kept forever); how many."""
        if self._days <= 0:
            return 0
        deleted = await self._store.delete_older_than(self._clock.now() - timedelta(days=self._days))
        if deleted:
            log.info("candles trimmed: %d deleted", deleted)
        return deleted


# At most this many minutes are asked of an exchange a request (one page of Binance's), and
# minutes asked are not asked again for GAP_MEMO, whatever the answer was.
GAP_MINUTES = 1500
GAP_MEMO = timedelta(minutes=5)
GAP_TIMEOUT_SECONDS = 10.0


def candle_source(broker: object) -> CandleSource | None:
    """The broker as a source of candles, or None when it offers none (Herenya, paper, an
    exchange without candles)."""
    return broker if isinstance(broker, CandleSource) and broker.offers_candles else None


class CandleGaps:
    """Fills the gaps in the stored candles with the exchange's own, before they are read.

    Only the minutes the store lacks, within the retention and before the current minute
    (still being seen), are fetched: the newest `most` first, in one request's span (the
    source pages); what is asked is remembered for `memo`, answered or not, so a gap the
    exchange cannot fill is not asked again at every read. Fetched candles never replace
    the desk's own (`add_missing`; a later flush of the desk's replaces them instead). A
    source that fails leaves the gap, logged once until it answers again."""

    def __init__(
        self,
        store: CandleStore,
        brokers: Callable[[str], object],
        clock: Clock,
        retention_days: float,
        *,
        most: int = GAP_MINUTES,
        memo: timedelta = GAP_MEMO,
        timeout: float = GAP_TIMEOUT_SECONDS,
    ) -> None:
        self._store = store
        self._brokers = brokers
        self._clock = clock
        self._retention = timedelta(days=retention_days) if retention_days > 0 else None
        self._most = most
        self._memo = memo
        self._timeout = timeout
        self._asked: dict[str, list[tuple[datetime, datetime, datetime]]] = {}  # symbol: (when, since, until)
        self._failing: set[str] = set()

    async def fill(
        self, accounts: Iterable[str], symbol: str, stored: Iterable[Candle], since: datetime, until: datetime
    ) -> int:
        """Fetch and store the candles of `symbol` missing from `stored` (what the store holds
        of [since, until)) from the first of `accounts` whose broker is a source that
        answers; how many were stored."""
        sources = [(account, source) for account in accounts if (source := self._source(account)) is not None]
        if not sources:
            return 0
        now = self._clock.now()
        first = _ceil_minute(since)
        if self._retention is not None:
            first = max(first, _ceil_minute(now - self._retention))
        end = min(_ceil_minute(until), minute_of(now))
        wanted = self.missing(symbol, (c.time for c in stored), first, end, now)
        if not wanted:
            return 0
        span = (wanted[0], wanted[-1] + MINUTE)
        self._asked.setdefault(symbol, []).append((now, *span))
        chosen = set(wanted)
        for account, source in sources:
            try:
                got = await asyncio.wait_for(source.get_candles(symbol, *span), self._timeout)
            except Exception as e:
                if account not in self._failing:
                    self._failing.add(account)
                    log.warning("%s gave no candles of %s (the gap stays; said once): %r", account, symbol, e)
                continue
            if account in self._failing:
                self._failing.discard(account)
                log.info("%s gives candles again", account)
            fresh = [SymbolCandle(symbol, c) for c in got if c.time in chosen]
            await self._store.add_missing(fresh)
            return len(fresh)
        return 0

    def missing(
        self, symbol: str, have: Iterable[datetime], first: datetime, end: datetime, now: datetime
    ) -> list[datetime]:
        """The minutes in [first, end) not in `have` (the stored candles' starts) nor asked
        within the memo: the newest one and those before it within `most` minutes, in time
        order. Walks the gaps between the stored candles, newest first, so a full store of
        the retention costs one pass over its starts, never a look-up a minute."""
        kept = [entry for entry in self._asked.get(symbol, []) if now - entry[0] < self._memo]
        self._asked[symbol] = kept
        asked = [(s, u) for _, s, u in kept]
        found: list[datetime] = []
        newest = end - MINUTE  # the newest minute not yet looked at
        for start in [*sorted((t for t in have if first <= t < end), reverse=True), first - MINUTE]:
            minute = newest
            while minute > start:  # the gap between this stored candle and the one after it
                if found and found[0] - minute >= self._most * MINUTE:
                    found.reverse()
                    return found
                if not any(s <= minute < u for s, u in asked):
                    found.append(minute)
                minute -= MINUTE
            newest = start - MINUTE
        found.reverse()
        return found

    def _source(self, account: str) -> CandleSource | None:
        try:
            return candle_source(self._brokers(account))
        except Exception as e:  # an account that cannot be built has no candles to give
            log.debug("account %s: no candle source: %r", account, e)
            return None


def _ceil_minute(at: datetime) -> datetime:
    start = minute_of(at)
    return start if start == at else start + MINUTE


class CandleSampler:
    """Reads a quote for every instrument a person decides on: those with an approval card
    waiting, and those of the active bots in approve mode, whose decisions have shadows to
    follow (the stop monitor reads only open positions' quotes). Run more often than once a
    minute, so every minute has its candle."""

    def __init__(self, uow: UnitOfWorkFactory, brokers: BrokerProvider) -> None:
        self._uow = uow
        self._brokers = brokers

    async def __call__(self) -> int:
        async with self._uow(read_only=True) as uow:
            bots = {b.id: b for b in await uow.bots.list()}
            wanted = {
                (b.config.broker_account, b.config.symbol): None
                for b in bots.values()
                if b.config.is_active and b.config.mode is Mode.APPROVE
            }
            for approval in await uow.approvals.list_pending():
                signal = await uow.signals.get(approval.signal_id, history=False)
                bot = bots.get(signal.bot_id) if signal is not None else None
                if bot is not None:
                    wanted[(bot.config.broker_account, bot.config.symbol)] = None
        read = 0
        for account, symbol in wanted:
            try:
                await self._brokers(account).get_quote(symbol)  # recorded by the wrapper
                read += 1
            except Exception as e:
                log.debug("no quote for %s: %r", symbol, e)
        return read


def recording_brokers(brokers: BrokerProvider, recorder: CandleRecorder) -> BrokerProvider:
    """`brokers`, whose quotes and fills `recorder` sees."""

    def provide(account: str) -> Broker:
        return RecordingBroker(brokers(account), recorder)

    return provide


class RecordingBroker:
    """A broker whose quotes and fills are also handed to the candle recorder."""

    def __init__(self, inner: Broker, recorder: CandleRecorder) -> None:
        self._inner = inner
        self._recorder = recorder
        self.name = inner.name
        self.wrapped = inner  # for its optional capabilities (exits on the exchange)

    async def get_instrument(self, symbol: str) -> Instrument:
        return await self._inner.get_instrument(symbol)

    async def get_quote(self, symbol: str) -> Quote:
        quote = await self._inner.get_quote(symbol)
        self._recorder.see(quote)
        return quote

    async def get_account(self) -> Account:
        return await self._inner.get_account()

    async def get_positions(self) -> list[BrokerPosition]:
        return await self._inner.get_positions()

    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        order = await self._inner.place_order(request)
        self._recorder.see_fill(order)
        return order

    async def get_order(self, order_id: str) -> BrokerOrder:
        # Not recorded: a fill read back later is a price of an earlier minute.
        return await self._inner.get_order(order_id)

    async def find_order(self, client_order_id: str) -> BrokerOrder | None:
        return await self._inner.find_order(client_order_id)

    async def cancel_order(self, order_id: str) -> BrokerOrder:
        return await self._inner.cancel_order(order_id)

    async def aclose(self) -> None:
        await self._inner.aclose()
