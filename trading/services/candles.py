"""The desk keeps the prices it sees: every quote read from a broker (the stop monitor, the
approval previews, an entry's slippage check) and every fill becomes part of a one-minute
candle of its instrument (trading/domain/candles.py), written in batches and trimmed after
`CANDLE_RETENTION_DAYS`.

The brokers the services are given are wrapped (`recording_brokers`), so no use case changes
to feed the candles: what any of them reads is recorded. Writes are cheap: prices are kept in
memory and each flush stores every candle changed since the last in one statement."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from trading.domain.candles import Candle, CandleBuilder, SymbolCandle
from trading.domain.market import Account, BrokerOrder, BrokerPosition, Instrument, OrderRequest, Quote
from trading.domain.values import Mode
from trading.services.ports import Broker, BrokerProvider, Clock, UnitOfWorkFactory

log = logging.getLogger("signaldesk.candles")


class CandleStore(Protocol):
    async def save(self, candles: Sequence[SymbolCandle]) -> None:
        """Store these candles, replacing stored ones of the same symbol and minute."""
        ...

    async def between(self, symbol: str, since: datetime, until: datetime) -> list[Candle]:
        """The stored candles of `symbol` starting in [since, until), in time order."""
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
