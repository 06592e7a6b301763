"""The desk's record of a bot's position: read as it stands, and a broker's fill applied to
it once (its id is kept with the position), with the events it makes and the trade it
closes. One step for every place that records a fill: an order's answer (execution) and a
stop or target the exchange filled on its own."""

from __future__ import annotations

from decimal import Decimal

from trading.domain.events import Event, OrderFilled, trade_closed
from trading.domain.market import Instrument
from trading.domain.position import Fill, Position
from trading.domain.records import Bot, trade_of
from trading.services.ports import UnitOfWork


async def position_of(uow: UnitOfWork, bot: Bot, multiplier: Decimal = Decimal(1)) -> Position:
    """The bot's position on its own account and symbol, read as it stands (no row lock)."""
    return await uow.positions.get(
        bot.id, bot.config.symbol, account=bot.config.broker_account, multiplier=multiplier, for_update=False
    )


async def apply_fill(
    uow: UnitOfWork,
    position: Position,
    fill: Fill,
    *,
    bot: Bot,
    signal_id: int,
    client_order_id: str,
    symbol: str,
    account: str | None,
    instrument: Instrument,
) -> list[Event] | None:
    """`fill` applied to `position` (changed in place) and the closed trade stored, in `uow`;
    the events (the fill, then the trade). None when the fill was applied before: nothing
    changed."""
    if not await uow.positions.add_fill(bot.id, client_order_id, fill):
        return None
    outcome = position.apply_fill(fill)
    events: list[Event] = [
        OrderFilled(
            at=fill.time,
            bot_name=bot.name,
            signal_id=signal_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=fill.side.value,
            quantity=fill.quantity,
            price=fill.price,
            tick_size=instrument.tick_size,
        )
    ]
    if outcome.closed is not None:
        trade = trade_of(
            outcome.closed,
            bot.id,
            bot.name,
            symbol,
            client_order_id=client_order_id,
            signal_id=signal_id,
            account=account,
        )
        await uow.trades.add(trade)
        events.append(trade_closed(trade, fill.time, instrument.currency, instrument.tick_size))
    return events
