"""Stops and targets resting on the exchange (where the account's broker has the port's
`ExitOrders`): placed after an entry fills, replaced when the position or a level changes,
cancelled when the desk closes it; a close the exchange made is recorded as the desk's.

Who calls it, always holding the bot's lock:
- the executor, after each try at a signal (an entry filled, an add, a reduce, a close, a
  reversal, an approver's edited levels): the orders are brought in line with the position;
- the stop monitor, every pass, for each open position with a stop or target: the orders'
  status is read by client id (two cheap reads a pass); a triggered one is recorded as the
  close it was, with its cause ("stop hit on the exchange"), and the other is cancelled (OCO
  by hand). The monitor then does not watch that position's levels (no double close). It
  still moves a trailing stop, and the move replaces the order on the exchange;
- reconciliation, before it reads the exchange's positions: a close the exchange made since
  the monitor's last pass is recorded first rather than reported as a mismatch, and orders
  left by a position closed while the exchange was unreachable are cancelled.

Exactly once: the record (client ids derived from the opening entry's, and a revision) is
stored before anything is sent; each order is looked up by its client id before it is sent;
a close is recorded under the exit order's client id (its fill id and the alert id of the
signal that tells of it), so a crash between the exchange and the commit records it once.

When the exchange refuses an exit, the position is not left unprotected in silence: the
orders of that revision are cancelled, the record says so, the monitor watches the levels
as it does for any broker, and the error channel hears why.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import StrEnum

from trading.domain import display
from trading.domain.events import Event, Notice, Severity
from trading.domain.exchange_exits import ExchangeExit, ExitKind, Placement, wanted
from trading.domain.market import BrokerOrder, Instrument
from trading.domain.orders import OrderStatus
from trading.domain.plan import LegKind
from trading.domain.position import Fill, Position, fill_id
from trading.domain.records import Bot, OrderRecord, StateChange
from trading.domain.signals import SignalAction, SignalSource, SignalState
from trading.services.actions import Actor
from trading.services.ports import (
    Broker,
    BrokerFailure,
    BrokerProvider,
    BrokerRefusal,
    Clock,
    ExitOrders,
    UnitOfWorkFactory,
)
from trading.services.positions import apply_fill, position_of
from trading.services.synthetic import store_queued, synthetic_signal
from trading.services.transitions import move_signal
from trading.services.watchlist import Watchlist

log = logging.getLogger("signaldesk.exchange_exits")

EXCHANGE = Actor("exchange", "the exchange", True)


class ExitsAt(StrEnum):
    """Who holds a position's stop and target after a call."""

    MONITOR = "monitor"  # signaldesk's monitor watches them (no capability, refused, or not placed yet)
    EXCHANGE = "exchange"  # they rest on the exchange
    CLOSED = "closed"  # the exchange closed the position (in part or all): read it again


class ExchangeExits:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        brokers: BrokerProvider,
        clock: Clock,
        publish: Callable[[list[Event]], None],
        watchlist: Watchlist,
        instrument: Callable[[Broker, str], Awaitable[Instrument]],
    ) -> None:
        self._uow = uow_factory
        self._brokers = brokers
        self._clock = clock
        self._publish = publish
        self._watchlist = watchlist
        self._instrument = instrument

    def may_hold(self, bot: Bot) -> bool:
        """Whether the bot's broker has the capability at all (no I/O): callers skip the
        lock and the call for the others."""
        return self._exit_orders(bot) is not None

    def _exit_orders(self, bot: Bot) -> ExitOrders | None:
        """The bot's broker as ExitOrders, through a wrapper that passes on what it wraps
        (the candle recorder's `wrapped`); None without the capability."""
        broker: object = self._brokers(bot.config.broker_account)
        while not isinstance(broker, ExitOrders):
            broker = getattr(broker, "wrapped", None)
            if broker is None:
                return None
        return broker

    async def align(self, bot: Bot, *, poll: bool = False) -> ExitsAt:
        """Bring the exit orders on the exchange in line with the bot's position (`bot` as the
        leg trades: its account, its symbol there): placed, replaced or cancelled. With `poll`,
        first read whether the exchange triggered one, and record the close. The caller holds
        the bot's lock. Never raises a broker failure: what could not be done now is done at
        the next call (the monitor's pass)."""
        broker = self._exit_orders(bot)
        if broker is None:
            return ExitsAt.MONITOR
        symbol = bot.config.symbol
        try:
            if not await broker.places_exits(symbol):
                return ExitsAt.MONITOR
            closed = False
            for _ in range(3):  # a close recorded on the way changes the position: look again
                position, record = await self._read(bot)
                if record is None and (
                    position.is_flat or (position.stop_loss is None and position.take_profit is None)
                ):
                    return ExitsAt.CLOSED if closed else ExitsAt.MONITOR
                gone = False
                if poll and record is not None and record.placement is Placement.PLACED:
                    found, gone = await self._poll(bot, broker, record)
                    if found:
                        closed, poll = True, False
                        continue
                if record is not None and record.fits(position) and not gone:
                    if record.placement is Placement.REFUSED:
                        return ExitsAt.CLOSED if closed else ExitsAt.MONITOR
                    if record.placement is Placement.PLACING:
                        placed = await self._place(bot, broker, record)
                        return ExitsAt.CLOSED if closed else placed
                    return ExitsAt.CLOSED if closed else ExitsAt.EXCHANGE
                if record is not None and await self._cancel(bot, broker, record):
                    closed = True
                    continue
                want = wanted(bot.id, position, record)
                async with self._uow() as uow:
                    if want is None:
                        await uow.exchange_exits.delete(bot.id, symbol, account=bot.config.broker_account)
                    else:
                        await uow.exchange_exits.save(want)
                    await uow.commit()
                if want is None:
                    return ExitsAt.CLOSED if closed else ExitsAt.MONITOR
                placed = await self._place(bot, broker, want)
                return ExitsAt.CLOSED if closed else placed
            return ExitsAt.CLOSED
        except BrokerFailure as e:
            log.warning("%s: exits on %s not brought in line now: %s", bot.name, bot.config.broker_account, e)
            async with self._uow(read_only=True) as uow:
                record = await uow.exchange_exits.get(bot.id, symbol, account=bot.config.broker_account)
            resting = record is not None and record.placement is Placement.PLACED
            return ExitsAt.EXCHANGE if resting else ExitsAt.MONITOR

    async def _read(self, bot: Bot) -> tuple[Position, ExchangeExit | None]:
        instrument = await self._instrument(self._brokers(bot.config.broker_account), bot.config.symbol)
        async with self._uow(read_only=True) as uow:
            position = await position_of(uow, bot, instrument.contract_multiplier)
            record = await uow.exchange_exits.get(bot.id, bot.config.symbol, account=bot.config.broker_account)
        return position, record

    async def _poll(self, bot: Bot, broker: ExitOrders, record: ExchangeExit) -> tuple[bool, bool]:
        """Read the record's orders: (a close was recorded, an order is gone without a fill)."""
        gone = False
        for kind, cid in record.client_ids.items():
            order = await broker.find_exit(cid, record.symbol)
            if order is not None and order.filled_quantity > 0 and order.status.is_final:
                await self._record_close(bot, record, kind, order)
                return True, False
            if order is None or order.status.is_final:
                gone = True  # cancelled on the exchange, or triggered with nothing to close
        return False, gone

    async def _cancel(self, bot: Bot, broker: ExitOrders, record: ExchangeExit) -> bool:
        """Cancel the record's orders; True when one had closed (part of) the position first
        (recorded here)."""
        closed = False
        for kind, cid in record.client_ids.items():
            order = await broker.cancel_exit(cid, record.symbol)
            if order is not None and order.filled_quantity > 0 and order.status.is_final:
                closed = await self._record_close(bot, record, kind, order) or closed
        return closed

    async def _place(self, bot: Bot, broker: ExitOrders, record: ExchangeExit) -> ExitsAt:
        placed: list[str] = []
        for request in record.requests():
            try:
                await broker.place_exit(request)
            except BrokerRefusal as e:
                await self._refused(bot, broker, record, request.kind, placed, str(e))
                return ExitsAt.MONITOR
            placed.append(request.client_order_id)
        async with self._uow() as uow:
            await uow.exchange_exits.save(record.with_placement(Placement.PLACED))
            await uow.commit()
        self._watchlist.changed()
        return ExitsAt.EXCHANGE

    async def _refused(
        self, bot: Bot, broker: ExitOrders, record: ExchangeExit, kind: ExitKind, placed: list[str], why: str
    ) -> None:
        """The exchange would not take an exit: the monitor watches both levels instead (the
        other one is cancelled, so the position is not closed twice), and the error channel
        hears of it."""
        for cid in placed:
            try:
                await broker.cancel_exit(cid, record.symbol)
            except BrokerFailure as e:
                log.warning("%s: cancel of exit %s failed: %s (reduce-only: it cannot close twice)", bot.name, cid, e)
        now = self._clock.now()
        message = (
            f"{bot.name}: the {kind.label} at {record.level(kind)} could not be placed on "
            f"{bot.config.broker_account} ({why}); signaldesk's monitor watches the stop and target instead"
        )
        async with self._uow() as uow:
            await uow.exchange_exits.save(record.with_placement(Placement.REFUSED, why[:500]))
            uow.emit([Notice(at=now, bot_name=bot.name, message=message, severity=Severity.ERROR)])
            await uow.commit()
        self._watchlist.changed()
        self._publish(uow.emitted)

    async def _record_close(self, bot: Bot, record: ExchangeExit, kind: ExitKind, order: BrokerOrder) -> bool:
        """The close the exchange made, recorded once (its client id is the fill's and the
        signal's alert id): a signal of the monitor that tells of it, executed, with the order,
        the fill on the position and the trade. False when it was recorded before."""
        broker = self._brokers(bot.config.broker_account)
        instrument = await self._instrument(broker, record.symbol)
        now = self._clock.now()
        cid = order.client_order_id
        price = order.average_fill_price
        if price is None:
            log.warning("%s: exit %s filled without a price; read again at the next pass", bot.name, cid)
            return False
        cause = f"{kind.label} hit on the exchange"
        alert_id = f"exchange-exit:{cid}"
        events: list[Event] = []
        async with self._uow() as uow:
            if await uow.signals.find_duplicate(bot.id, alert_id=alert_id, body_hash="-", since=now) is not None:
                return False
            position = await uow.positions.get(
                bot.id, record.symbol, account=record.account, multiplier=instrument.contract_multiplier
            )
            if position.side is None or position.side.closing_order_side is not order.side:
                log.warning("%s: exit %s filled but %s holds nothing it closes", bot.name, cid, record.symbol)
                return False
            quantity = min(order.filled_quantity, position.quantity)
            signal = synthetic_signal(
                bot,
                SignalAction.CLOSE,
                price,
                now,
                cause,
                alert_id=alert_id,
                source=SignalSource.MONITOR,
                account=record.account,
            )
            stored = await store_queued(uow, bot.id, signal, EXCHANGE, now, cause)
            steps = [
                StateChange(SignalState.EXECUTING, now, EXCHANGE.id, cause),
                StateChange(SignalState.EXECUTED, now, EXCHANGE.id, cause),
            ]
            await move_signal(uow, stored.id, steps, from_state=SignalState.QUEUED)
            await uow.orders.add(
                OrderRecord(
                    signal_id=stored.id,
                    bot_id=bot.id,
                    client_order_id=cid,
                    leg_index=0,
                    leg_kind=LegKind.CLOSE if quantity == position.quantity else LegKind.REDUCE,
                    position_side=position.side,
                    symbol=record.symbol,
                    side=order.side,
                    quantity=order.quantity,
                    reduce_only=True,
                    status=OrderStatus.FILLED,
                    broker_order_id=order.order_id,
                    filled_quantity=quantity,
                    average_fill_price=price,
                    applied_quantity=quantity,
                    applied_cost=price * quantity,
                    created_at=now,
                    updated_at=now,
                )
            )
            fill = Fill(fill_id(cid, quantity), order.side, quantity, price, now)
            made = await apply_fill(
                uow,
                position,
                fill,
                bot=bot,
                signal_id=stored.id,
                client_order_id=cid,
                symbol=record.symbol,
                account=record.account,
                instrument=instrument,
            )
            if made is not None:
                events.extend(made)
                await uow.positions.save(bot.id, position)
            events.insert(
                0,
                Notice(
                    at=now,
                    bot_name=bot.name,
                    signal_id=stored.id,
                    message=_told(bot, kind, record, price, instrument.tick_size),
                ),
            )
            uow.emit(events)
            await uow.commit()
        self._watchlist.changed()
        self._publish(uow.emitted)
        return True


def _told(bot: Bot, kind: ExitKind, record: ExchangeExit, price: Decimal, tick: Decimal) -> str:
    level = display.price(record.level(kind), tick)
    name = "stop loss" if kind is ExitKind.STOP else "take profit"
    return f"{bot.name}: {name} {level} hit on the exchange at {display.price(price, tick)}; closed"
