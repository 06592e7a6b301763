"""A signal made by signaldesk itself (a /close, a stop hit), queued at once with no approval;
and a bot looked up by name: reads the use cases share."""

from __future__ import annotations

from decimal import Decimal

from trading.domain.records import Bot, StoredSignal
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalSource, SignalState
from trading.services.actions import Actor
from trading.services.ports import Clock, UnitOfWorkFactory
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
    """The signal, stored and queued in one transaction."""
    now = clock.now()
    signal = Signal(
        action=action,
        price=price,
        shape=AlertShape.RSI,
        time=now,
        ticker=bot.config.ticker,
        message=message,
        alert_id=alert_id,
        source=source,
    )
    async with uow_factory() as uow:
        stored = await uow.signals.add(
            bot.id,
            signal,
            body_hash=f"{actor.id}:{now.isoformat()}",
            state=SignalState.RECEIVED,
            cause=actor.id,
            at=now,
        )
        await set_signal_state(uow, stored.id, SignalState.QUEUED, cause=actor.id, at=now, reason=message)
        queued = await uow.signals.get(stored.id)
        await uow.commit()
    assert queued is not None
    return queued


async def bot_named(uow_factory: UnitOfWorkFactory, name: str) -> Bot | None:
    async with uow_factory(read_only=True) as uow:
        return await uow.bots.get_by_name(name)
