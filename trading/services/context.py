"""What every use case shares: the unit of work, the brokers, the clock, the event bus,
the runner's wake-up and the bots' locks; built once by the bootstrap
(`trading/services/bootstrap.py`) and passed to each use case."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from trading.domain.engine import plan as plan_signal
from trading.domain.events import (
    Event,
)
from trading.domain.market import Instrument, Quote
from trading.domain.people import Role
from trading.domain.plan import Plan
from trading.domain.position import Position
from trading.domain.preview import Preview, preview
from trading.domain.records import AuditEntry, Bot, SignalEdits, StoredSignal
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalSource, SignalState
from trading.services.actions import ActionResult, Actor
from trading.services.execution import Checkpoint, Executor
from trading.services.locks import BotLocks
from trading.services.ports import BrokerProvider, Clock, UnitOfWorkFactory
from trading.services.transitions import set_signal_state

log = logging.getLogger("signaldesk.service")
QUOTE_TIMEOUT = 3.0  # seconds: a quote or instrument read for display gives up after this


@dataclass(frozen=True, slots=True)
class Outlook:
    """A pending signal as an approver would see it now: the plan against the position as it
    stands, the price an order would pay, and the position after with the money at risk."""

    plan: Plan
    instrument: Instrument
    quote_price: Decimal | None  # what a market order of the main leg would pay now
    preview: Preview


@dataclass(frozen=True, slots=True)
class Context:
    uow: UnitOfWorkFactory
    brokers: BrokerProvider
    clock: Clock
    publish: Callable[[list[Event]], None]
    executor: Executor
    # Called with a bot's id after a commit that gave the bot work (the runner's wake_bot).
    wake: Callable[[int], None]
    # One per bot: held by a signal's try and by reconciliation, never both at once.
    locks: BotLocks
    checkpoint: Checkpoint = lambda _point: None  # crash-test hook


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
        return self._ctx.locks.of(bot_id)

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
        self,
        bot: Bot,
        action: SignalAction,
        price: Decimal,
        actor: Actor,
        message: str,
        alert_id: str | None = None,
        source: SignalSource = SignalSource.COMMAND,
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
            source=source,
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
            await set_signal_state(uow, stored.id, SignalState.QUEUED, cause=actor.id, at=now, reason=message)
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

    async def _equity(self, bot: Bot) -> Decimal | None:
        """The account's equity for a bot that sizes entries by risk; None otherwise, or when
        the broker's account cannot be read now (the plan then says so)."""
        if bot.config.risk_per_trade_pct is None:
            return None
        try:
            async with asyncio.timeout(QUOTE_TIMEOUT):
                return (await self.executor.broker_for(bot).get_account()).equity
        except Exception as e:
            log.warning("account of %s unavailable: %r", bot.config.broker_account.value, e)
            return None

    async def _outlook(
        self,
        bot: Bot,
        signal: Signal,
        edits: SignalEdits | None,
        position: Position,
        *,
        instrument: Instrument | None = None,
        quote: Quote | None = None,
    ) -> Outlook:
        """The plan and preview of `signal` on `position` now (the position is left as it is)."""
        instrument = instrument or await self._instrument_or_none(bot) or Instrument(bot.config.symbol)
        position.multiplier = instrument.contract_multiplier
        the_plan = plan_signal(bot.config, position, signal, instrument, edits, await self._equity(bot))
        return self._preview(position, signal, edits, the_plan, instrument, quote)

    @staticmethod
    def _preview(
        position: Position,
        signal: Signal,
        edits: SignalEdits | None,
        the_plan: Plan,
        instrument: Instrument,
        quote: Quote | None,
    ) -> Outlook:
        main = the_plan.legs[-1] if the_plan.legs else None
        now_price = quote.price_for(main.side) if quote is not None and main is not None else None
        entry = (edits.limit_price if edits and edits.limit_price else None) or now_price or signal.price
        seen = preview(position, the_plan, entry, the_plan.new_stop_loss, instrument.tick_size)
        return Outlook(the_plan, instrument, now_price, seen)

    async def _mark(self, bot: Bot, position: Position) -> Decimal | None:
        """The price the position would close at now."""
        quote = await self._quote(bot)
        if quote is None or position.side is None:
            return None
        return quote.price_for(position.side.closing_order_side)
