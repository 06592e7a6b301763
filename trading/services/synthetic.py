"""A signal made by signaldesk itself (a /close, a stop hit), queued at once with no approval;
and a bot looked up by name: reads the use cases share."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from trading.domain.records import Bot, StoredSignal
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalSource, SignalState
from trading.services.actions import Actor
from trading.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from trading.services.transitions import set_signal_state


async def queue_synthetic(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    bot: Bot,
    action: SignalAction,
    price: Decimal,
    actor: Actor,
    message: str,
    alert_id: str | None = None,
    source: SignalSource = SignalSource.COMMAND,
) -> StoredSignal:
    """The signal, stored and queued in one transaction. `bot` is the leg it is for: a bot on
    several accounts as `legs.on_account` gives it (the signal is that account's leg)."""
    now = clock.now()
    signal = synthetic_signal(bot, action, price, now, message, alert_id=alert_id, source=source)
    async with uow_factory() as uow:
        stored = await store_queued(uow, bot.id, signal, actor, now, message)
        queued = await uow.signals.get(stored.id)
        await uow.commit()
    assert queued is not None
    return queued


def synthetic_signal(
    bot: Bot,
    action: SignalAction,
    price: Decimal,
    at: datetime,
    message: str,
    *,
    alert_id: str | None = None,
    source: SignalSource = SignalSource.COMMAND,
    account: str | None = None,
) -> Signal:
    """A signal signaldesk makes itself. On a bot with several accounts it is the leg of
    `account` (default: `bot.config.broker_account`, the leg `legs.on_account` gives); on a
    one-account bot it names no account, as an alert's signal does."""
    leg = account if account is not None else bot.config.broker_account
    return Signal(
        action=action,
        price=price,
        shape=AlertShape.RSI,
        time=at,
        ticker=bot.config.ticker,
        message=message,
        alert_id=alert_id,
        source=source,
        account=leg if bot.config.accounts is not None else None,
    )


async def store_queued(
    uow: UnitOfWork, bot_id: int, signal: Signal, actor: Actor, at: datetime, reason: str
) -> StoredSignal:
    """In the caller's transaction: a signal of signaldesk's or of a person's own, stored and
    queued at once (no approval card)."""
    stored = await uow.signals.add(
        bot_id,
        signal,
        body_hash=f"{actor.id}:{at.isoformat()}",
        state=SignalState.RECEIVED,
        cause=actor.id,
        at=at,
    )
    await set_signal_state(uow, stored.id, SignalState.QUEUED, cause=actor.id, at=at, reason=reason)
    return stored


async def bot_named(uow_factory: UnitOfWorkFactory, name: str) -> Bot | None:
    async with uow_factory(read_only=True) as uow:
        return await uow.bots.get_by_name(name)
