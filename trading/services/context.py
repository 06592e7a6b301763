"""What every use case shares: the unit of work, the brokers, the clock, the event bus,
and the runner's wake-up; built once at start-up and passed to each use case."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from trading.domain.events import (
    Event,
)
from trading.domain.market import Instrument, Quote
from trading.domain.people import Role
from trading.domain.position import Position
from trading.domain.records import AuditEntry, Bot, StoredSignal
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalState
from trading.services.actions import ActionResult, Actor
from trading.services.execution import Executor
from trading.services.ports import BrokerProvider, Clock, UnitOfWorkFactory

log = logging.getLogger("signaldesk.service")
QUOTE_TIMEOUT = 3.0  # seconds: a quote or instrument read for display gives up after this


@dataclass
class Context:
    uow: UnitOfWorkFactory
    brokers: BrokerProvider
    clock: Clock
    publish: Callable[[list[Event]], None]
    executor: Executor
    # Called with a bot's id after a commit that gave the bot work (the runner's wake_bot).
    wake: Callable[[int], None] = lambda _bot_id: None
    checkpoint: Callable[[str], None] = lambda _point: None  # crash-test hook
    # One per bot: held by a signal's try and by reconciliation, never both at once.
    bot_locks: dict[int, asyncio.Lock] = field(default_factory=dict)


class UseCase:
    """The base of each use case: its dependencies, and the small reads they all need."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def _uow(self) -> UnitOfWorkFactory:
        return self._ctx.uow

    @property
    def _brokers(self) -> BrokerProvider:
        return self._ctx.brokers

    @property
    def _clock(self) -> Clock:
        return self._ctx.clock

    @property
    def _publish(self) -> Callable[[list[Event]], None]:
        return self._ctx.publish

    @property
    def executor(self) -> Executor:
        return self._ctx.executor

    def wake(self, bot_id: int) -> None:
        self._ctx.wake(bot_id)

    def checkpoint(self, point: str) -> None:
        self._ctx.checkpoint(point)

    def _bot_lock(self, bot_id: int) -> asyncio.Lock:
        return self._ctx.bot_locks.setdefault(bot_id, asyncio.Lock())

    async def _unless_allowed(
        self, actor: Actor, need: Role, action: str, target: str, what: str
    ) -> ActionResult | None:
        """The refusal (audited) when `actor` may not do what `need` allows; None when they may.

        People (actors with a role) need `need`; Discord members (no role) need only be
        approvers, for every desk command, as before there were roles."""
        if actor.may(need):
            return None
        if actor.role is None:
            await self._audit(actor, action, target, False, "not an approver")
            return ActionResult(False, f"{actor.name} may not {what}: approvers only", "forbidden")
        await self._audit(actor, action, target, False, f"role {actor.role.value}; needs {need.value}")
        return ActionResult(
            False, f"{actor.name} may not {what}: {need.value}s only (their role is {actor.role.value})", "forbidden"
        )

    async def _audit(self, actor: Actor, action: str, target: str, allowed: bool, detail: str) -> None:
        async with self._uow() as uow:
            await uow.audit.add(AuditEntry(actor.id, action, target, allowed, detail, self._clock.now()))
            await uow.commit()

    async def _synthetic(
        self, bot: Bot, action: SignalAction, price: Decimal, actor: Actor, message: str, alert_id: str | None = None
    ) -> StoredSignal:
        """A signal made by signaldesk itself (a /close, a stop hit): queued at once, no approval."""
        now = self._clock.now()
        signal = Signal(
            action=action,
            price=price,
            shape=AlertShape.RSI,
            time=now,
            ticker=bot.config.ticker,
            message=message,
            alert_id=alert_id,
        )
        async with self._uow() as uow:
            stored = await uow.signals.add(
                bot.id,
                signal,
                body_hash=f"{actor.id}:{now.isoformat()}",
                state=SignalState.RECEIVED,
                cause=actor.id,
                at=now,
            )
            await uow.signals.set_state(stored.id, SignalState.QUEUED, cause=actor.id, at=now, reason=message)
            queued = await uow.signals.get(stored.id)
            await uow.commit()
        assert queued is not None
        return queued

    async def _bot(self, name: str) -> Bot | None:
        async with self._uow(read_only=True) as uow:
            return await uow.bots.get_by_name(name)

    async def _instrument_or_none(self, bot: Bot) -> Instrument | None:
        try:
            async with asyncio.timeout(QUOTE_TIMEOUT):
                return await self.executor.instrument(self.executor.broker_for(bot), bot.config.symbol)
        except Exception as e:
            log.warning("instrument %s unavailable: %r", bot.config.symbol, e)
            return None

    async def _quote(self, bot: Bot) -> Quote | None:
        try:
            async with asyncio.timeout(QUOTE_TIMEOUT):
                return await self.executor.broker_for(bot).get_quote(bot.config.symbol)
        except Exception as e:
            log.warning("quote %s unavailable: %r", bot.config.symbol, e)
            return None

    async def _mark(self, bot: Bot, position: Position) -> Decimal | None:
        """The price the position would close at now."""
        quote = await self._quote(bot)
        if quote is None or position.side is None:
            return None
        return quote.price_for(position.side.closing_order_side)
