"""The service layer: every use case a front-end or a background task runs.

Each method owns its transactions (`async with uow: ...; await uow.commit()`) and hands the
events it recorded to the bus after the commit. Execution itself is in trading/execution.py;
the Runner (trading/runner.py) moves stored signals through their life.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trading.domain.engine import plan as plan_signal
from trading.domain.events import (
    ApprovalDecided,
    ApprovalRequested,
    BotStateChanged,
    Event,
    HaltChanged,
    Notice,
    PositionMismatch,
)
from trading.domain.levels import exit_trigger
from trading.domain.market import Instrument, Quote
from trading.domain.plan import Leg
from trading.domain.position import Fill, Position
from trading.domain.records import AuditEntry, Bot, ControlState, Decision, SignalEdits, StoredSignal, TradeRecord
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalState
from trading.domain.values import Mode, OrderType
from trading.domain.views import ApprovalCard, PnlView, PositionView, SignalView
from trading.services.actions import ActionResult, Actor, DeskAPI
from trading.services.execution import Executor, RunResult
from trading.services.ports import BrokerProvider, Clock, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("signaldesk.service")

QUOTE_TIMEOUT = 3.0


class Desk(DeskAPI):
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        brokers: BrokerProvider,
        clock: Clock,
        publish: Callable[[list[Event]], None],
        executor: Executor,
        *,
        wake: Callable[[int], None] | None = None,
    ) -> None:
        self._uow = uow_factory
        self._brokers = brokers
        self._clock = clock
        self._publish = publish
        self.executor = executor
        self.wake: Callable[[int], None] = wake or (lambda _sid: None)
        self.checkpoint: Callable[[str], None] = lambda _point: None  # crash-test hook
        # One signal at a time per bot, in arrival order (asyncio.Lock is FIFO). Admission is
        # serialized so that two workers picking up a bot's signals 5 and 6 queue for the
        # bot's lock in that order, whichever of them reaches the database first.
        self._bot_locks: dict[int, asyncio.Lock] = {}
        self._admission = asyncio.Lock()

    # ================================================================== signal life

    async def advance(self, signal_id: int) -> RunResult:
        """Move a stored signal as far as it can go now (the Runner calls this)."""
        async with self._admission:
            async with self._uow() as uow:
                stored = await uow.signals.get(signal_id, history=False)
                bot = await uow.bots.get(stored.bot_id) if stored else None
            if stored is None or bot is None:
                return RunResult(True, note="no such signal")
            quote = self.executor.prefetch_quote(stored, bot)
            lock = self._bot_locks.setdefault(bot.id, asyncio.Lock())
            turn = asyncio.ensure_future(lock.acquire())
            await asyncio.sleep(0)  # the acquire runs now: our place in the bot's queue is taken
            waited = not turn.done()
        if waited and quote is not None:
            quote.cancel()  # it will be stale by our turn: the executor fetches a fresh one
            quote = None
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                lock.release()
            else:
                turn.cancel()
            if quote is not None:
                quote.cancel()
            raise
        try:
            # Had we waited, an earlier signal may have moved this one (e.g. a /close): read again.
            return await self._advance(signal_id, bot, None if waited else stored, quote)
        finally:
            lock.release()

    async def _advance(
        self, signal_id: int, bot: Bot, stored: StoredSignal | None, quote: asyncio.Task[Quote] | None = None
    ) -> RunResult:
        if stored is None:
            async with self._uow() as uow:
                stored = await uow.signals.get(signal_id, history=False)
        if stored is None:
            return RunResult(True, note="no such signal")
        if stored.state is SignalState.RECEIVED and bot.config.mode is Mode.APPROVE:
            await self._request_approval(stored, bot)
            return RunResult(True, note="awaiting approval")
        return await self.executor.run_stored(stored, bot, quote)

    async def _request_approval(self, stored: StoredSignal, bot: Bot) -> None:
        now = self._clock.now()
        expires = stored.created_at + timedelta(minutes=bot.config.approval_timeout_minutes)
        async with self._uow() as uow:
            current = await uow.signals.get(stored.id, for_update=True)
            if current is None or current.state is not SignalState.RECEIVED:
                return
            await uow.approvals.create(stored.id, now, expires)
            await uow.signals.set_state(stored.id, SignalState.PENDING_APPROVAL, cause="approve mode", at=now)
            await uow.commit()
        self._publish([ApprovalRequested(at=now, bot_name=bot.name, signal_id=stored.id, expires_at=expires)])

    async def expire_due(self) -> list[int]:
        """Pending approvals past their time become expired and never execute."""
        now = self._clock.now()
        async with self._uow() as uow:
            pending = await uow.approvals.list_pending()
        expired: list[int] = []
        for approval in pending:
            if approval.expires_at > now:
                continue
            async with self._uow() as uow:
                stored = await uow.signals.get(approval.signal_id, for_update=True)
                if stored is None or stored.state is not SignalState.PENDING_APPROVAL:
                    continue
                if not await uow.approvals.decide(approval.signal_id, Decision.EXPIRED, "expiry", now):
                    continue
                await uow.signals.set_state(
                    approval.signal_id,
                    SignalState.EXPIRED,
                    cause="expiry",
                    at=now,
                    reason=f"no decision by {approval.expires_at:%Y-%m-%d %H:%M:%S} UTC",
                )
                await uow.commit()
            expired.append(approval.signal_id)
            self._publish(
                [
                    ApprovalDecided(
                        at=now, bot_name=stored.bot_name, signal_id=stored.id, decision="expired", by="expiry"
                    )
                ]
            )
        return expired

    # ================================================================== decisions

    async def approve(self, signal_id: int, actor: Actor, edits: SignalEdits | None = None) -> ActionResult:
        return await self._decide(signal_id, actor, Decision.APPROVED, edits)

    async def reject(self, signal_id: int, actor: Actor) -> ActionResult:
        return await self._decide(signal_id, actor, Decision.REJECTED, None)

    async def _decide(
        self, signal_id: int, actor: Actor, decision: Decision, edits: SignalEdits | None
    ) -> ActionResult:
        verb = "approve" if decision is Decision.APPROVED else "reject"
        target = f"signal:{signal_id}"
        if refused := await self._unless_approver(actor, verb, target, f"{verb} signals"):
            return refused
        if edits is not None:
            problem = await self._check_edits(signal_id, edits)
            if problem:
                return ActionResult(False, problem, "invalid")
        now = self._clock.now()
        async with self._uow() as uow:
            stored = await uow.signals.get(signal_id, for_update=True, history=False)
            approval = await uow.approvals.get(signal_id)
            if stored is None or approval is None:
                return ActionResult(False, f"signal #{signal_id} has no approval request", "not_found")
            if approval.decision is not None:
                by = approval.decided_by or "someone"
                return ActionResult(
                    False, f"signal #{signal_id} was already {approval.decision.value} by {by}", "already_decided"
                )
            if stored.state is not SignalState.PENDING_APPROVAL:
                return ActionResult(False, f"signal #{signal_id} is {stored.state.value}", "not_pending")
            control = await uow.control.get()
            if control.halted and decision is Decision.APPROVED:
                return ActionResult(
                    False, "trading is halted: approvals are frozen until /resume-all", "halted", stored
                )
            if now >= approval.expires_at:
                return ActionResult(
                    False, f"signal #{signal_id} expired at {approval.expires_at:%H:%M:%S} UTC", "expired"
                )
            if not await uow.approvals.decide(signal_id, decision, actor.id, now):
                return ActionResult(False, f"signal #{signal_id} was already decided", "already_decided")
            if edits is not None:
                await uow.approvals.set_edits(signal_id, edits, actor.id)
                await uow.signals.set_edits(signal_id, edits)
            state = SignalState.APPROVED if decision is Decision.APPROVED else SignalState.REJECTED
            await uow.signals.set_state(signal_id, state, cause=actor.id, at=now)
            updated = await uow.signals.get(signal_id)
            assert updated is not None
            await uow.audit.add(AuditEntry(actor.id, verb, target, True, _edits_text(edits), now))
            await uow.commit()
        self._publish(
            [
                ApprovalDecided(
                    at=now, bot_name=stored.bot_name, signal_id=signal_id, decision=decision.value, by=actor.name
                )
            ]
        )
        if decision is Decision.APPROVED:
            self.checkpoint("approved")
            self.wake(signal_id)
            return ActionResult(True, f"signal #{signal_id} approved by {actor.name}; executing", signal=updated)
        return ActionResult(True, f"signal #{signal_id} rejected by {actor.name}", signal=updated)

    async def edit(self, signal_id: int, actor: Actor, edits: SignalEdits) -> ActionResult:
        target = f"signal:{signal_id}"
        if refused := await self._unless_approver(actor, "edit", target, "edit signals"):
            return refused
        problem = await self._check_edits(signal_id, edits)
        if problem:
            return ActionResult(False, problem, "invalid")
        now = self._clock.now()
        async with self._uow() as uow:
            stored = await uow.signals.get(signal_id, for_update=True)
            approval = await uow.approvals.get(signal_id)
            if stored is None or approval is None:
                return ActionResult(False, f"signal #{signal_id} has no approval request", "not_found")
            if stored.state is not SignalState.PENDING_APPROVAL or approval.decision is not None:
                return ActionResult(
                    False, f"signal #{signal_id} is {stored.state.value}; too late to edit", "not_pending"
                )
            await uow.approvals.set_edits(signal_id, edits, actor.id)
            await uow.signals.set_edits(signal_id, edits)
            await uow.audit.add(AuditEntry(actor.id, "edit", target, True, _edits_text(edits), now))
            await uow.commit()
        self._publish(
            [
                Notice(
                    at=now,
                    bot_name=stored.bot_name,
                    signal_id=signal_id,
                    message=f"signal #{signal_id} edited by {actor.name}: {_edits_text(edits)}",
                )
            ]
        )
        return ActionResult(True, f"signal #{signal_id} edited; it still waits for approval", signal=stored)

    async def _check_edits(self, signal_id: int, edits: SignalEdits) -> str | None:
        if edits.quantity is not None and edits.quantity < 1:
            return f"quantity must be a whole number of contracts, at least 1 (got {edits.quantity})"
        for name, value in (
            ("limit price", edits.limit_price),
            ("stop", edits.stop_loss),
            ("target", edits.take_profit),
        ):
            if value is not None and value <= 0:
                return f"{name} must be a positive price (got {value})"
        if edits.order_type is OrderType.LIMIT and edits.limit_price is None:
            return "a limit order needs a limit price"
        if edits.quantity is not None:
            async with self._uow() as uow:
                stored = await uow.signals.get(signal_id)
                bot = await uow.bots.get(stored.bot_id) if stored else None
            if bot is not None:
                instrument = await self._instrument_or_none(bot)
                if instrument is not None and edits.quantity > instrument.max_quantity:
                    return (
                        f"quantity {edits.quantity} is over {instrument.symbol}'s maximum of "
                        f"{instrument.max_quantity} contracts"
                    )
        return None

    # ================================================================== commands

    async def close_position(self, bot_name: str, actor: Actor) -> ActionResult:
        if refused := await self._unless_approver(actor, "close", f"bot:{bot_name}", "close positions"):
            return refused
        bot = await self._bot(bot_name)
        if bot is None:
            return ActionResult(False, f"no bot named {bot_name!r}", "not_found")
        async with self._uow() as uow:
            pos = await uow.positions.get(bot.id, bot.config.symbol, multiplier=Decimal(1), for_update=False)
        if pos.is_flat:
            return ActionResult(False, f"{bot_name} has no open position", "invalid")
        price = await self._mark(bot, pos) or pos.average_price or Decimal(1)
        stored = await self._synthetic(bot, SignalAction.CLOSE, price, actor, f"close by {actor.name}")
        await self._audit(actor, "close", f"bot:{bot_name}", True, f"signal #{stored.id}")
        self.wake(stored.id)
        return ActionResult(
            True, f"closing {bot_name}'s {pos.side} {pos.quantity} (signal #{stored.id})", signal=stored
        )

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

    async def pause(self, bot_name: str, actor: Actor, reason: str | None = None) -> ActionResult:
        return await self._bot_change(bot_name, actor, "pause", reason)

    async def resume(self, bot_name: str, actor: Actor) -> ActionResult:
        return await self._bot_change(bot_name, actor, "resume", None)

    async def set_mode(self, bot_name: str, mode: Mode, actor: Actor) -> ActionResult:
        return await self._bot_change(bot_name, actor, f"mode {mode.value}", None, mode)

    async def _bot_change(
        self, bot_name: str, actor: Actor, change: str, reason: str | None, mode: Mode | None = None
    ) -> ActionResult:
        verb = change.split()[0]
        if refused := await self._unless_approver(actor, verb, f"bot:{bot_name}", f"{verb} bots"):
            return refused
        now = self._clock.now()
        async with self._uow() as uow:
            bot = await uow.bots.get_by_name(bot_name)
            if bot is None:
                return ActionResult(False, f"no bot named {bot_name!r}", "not_found")
            if mode is not None:
                await uow.bots.set_mode(bot.id, mode)
            elif verb == "pause":
                await uow.bots.set_paused(bot.id, True, reason or f"paused by {actor.name}")
            else:
                await uow.bots.set_paused(bot.id, False, None)
                await uow.bots.set_needs_attention(bot.id, False, None)
            await uow.audit.add(AuditEntry(actor.id, verb, f"bot:{bot_name}", True, change, now))
            await uow.commit()
        done = {"pause": "paused", "resume": "resumed"}.get(verb, change)
        self._publish([BotStateChanged(at=now, bot_name=bot_name, change=done, reason=reason, by=actor.name)])
        return ActionResult(True, f"{bot_name} {done}")

    async def halt(self, actor: Actor, reason: str | None = None) -> ActionResult:
        return await self._set_halt(actor, True, reason)

    async def resume_all(self, actor: Actor) -> ActionResult:
        return await self._set_halt(actor, False, None)

    async def _set_halt(self, actor: Actor, halted: bool, reason: str | None) -> ActionResult:
        verb = "halt" if halted else "resume-all"
        if refused := await self._unless_approver(actor, verb, "all", verb):
            return refused
        now = self._clock.now()
        async with self._uow() as uow:
            state = ControlState(halted, actor.id, now, reason) if halted else ControlState()
            await uow.control.set(state)
            await uow.audit.add(AuditEntry(actor.id, verb, "all", True, reason or "", now))
            await uow.commit()
        self._publish([HaltChanged(at=now, halted=halted, by=actor.name, reason=reason)])
        if halted:
            return ActionResult(True, "trading halted: no new entries; closes still allowed; approvals frozen", "ok")
        return ActionResult(True, "trading resumed", "ok")

    async def _unless_approver(self, actor: Actor, action: str, target: str, what: str) -> ActionResult | None:
        """The refusal (audited) when `actor` is not an approver; None when they are."""
        if actor.can_approve:
            return None
        await self._audit(actor, action, target, False, "not an approver")
        return ActionResult(False, f"{actor.name} may not {what}: approvers only", "forbidden")

    async def _audit(self, actor: Actor, action: str, target: str, allowed: bool, detail: str) -> None:
        async with self._uow() as uow:
            await uow.audit.add(AuditEntry(actor.id, action, target, allowed, detail, self._clock.now()))
            await uow.commit()

    # ================================================================== background checks

    async def check_exits(self) -> list[int]:
        """Close positions whose stop or target the quote has reached (once per position)."""
        made: list[int] = []
        async with self._uow() as uow:
            open_positions = await uow.positions.list_open()
            bots = {b.id: b for b in await uow.bots.list()}
        for bot_id, position in open_positions:
            bot = bots.get(bot_id)
            if bot is None or (position.stop_loss is None and position.take_profit is None):
                continue
            quote = await self._quote(bot)
            if quote is None:
                continue
            trigger = exit_trigger(position, quote)
            if trigger is None:
                continue
            opened = position.opened_at.isoformat() if position.opened_at else "?"
            alert_id = f"exit:{bot_id}:{position.symbol}:{opened}"
            async with self._uow() as uow:
                seen = await uow.signals.find_duplicate(
                    bot_id, alert_id=alert_id, body_hash="-", since=self._clock.now()
                )
            if seen is not None:
                continue
            actor = Actor("monitor", "stop monitor", True)
            message = f"{trigger.kind.value.replace('_', ' ')} {trigger.level} hit at {trigger.price}"
            stored = await self._synthetic(bot, SignalAction.CLOSE, trigger.price, actor, message, alert_id)
            made.append(stored.id)
            self._publish(
                [
                    Notice(
                        at=self._clock.now(),
                        bot_name=bot.name,
                        signal_id=stored.id,
                        message=f"{bot.name}: {message}; closing",
                    )
                ]
            )
            self.wake(stored.id)
        return made

    async def reconcile(self) -> list[str]:
        """Compare each broker's net positions with the sum of ours; flag the bots on a mismatch.

        The bots of a broker are locked meanwhile, so no fill can land between reading the
        broker and reading us; a symbol with a signal still executing (an order whose outcome
        is being looked up) is left for the next round rather than reported falsely.
        """
        async with self._uow() as uow:
            bots = [b for b in await uow.bots.list() if b.config.is_active]
        by_broker: dict[str, list[Bot]] = {}
        for bot in bots:
            by_broker.setdefault(bot.config.broker_account.value, []).append(bot)
        problems: list[str] = []
        for broker_name, members in by_broker.items():
            locks = [self._bot_locks.setdefault(b.id, asyncio.Lock()) for b in sorted(members, key=lambda b: b.id)]
            for lock in locks:
                await lock.acquire()
            try:
                problems += await self._reconcile_broker(broker_name, members)
            finally:
                for lock in locks:
                    lock.release()
        return problems

    async def _reconcile_broker(self, broker_name: str, members: list[Bot]) -> list[str]:
        try:
            theirs = {p.symbol: p.quantity for p in await self._brokers(broker_name).get_positions()}
        except Exception as e:
            log.warning("reconciliation: %s positions unavailable: %r", broker_name, e)
            return []
        ours: dict[str, int] = {}
        busy: set[str] = set()
        async with self._uow() as uow:
            in_flight = set(await uow.signals.ids_in_states([SignalState.EXECUTING]))
            for bot in members:
                symbol = bot.config.symbol
                pos = await uow.positions.get(bot.id, symbol, multiplier=Decimal(1), for_update=False)
                ours[symbol] = ours.get(symbol, 0) + pos.signed_quantity
                if in_flight and await uow.signals.list(bot_id=bot.id, state=SignalState.EXECUTING, limit=1):
                    busy.add(symbol)
        problems: list[str] = []
        for symbol, qty in ours.items():
            held = theirs.get(symbol, 0)
            if held == qty or symbol in busy:
                continue
            now = self._clock.now()
            events: list[Event] = []
            reason = f"{broker_name} holds {held:+d} {symbol}, signaldesk {qty:+d}"
            async with self._uow() as uow:
                for bot in members:
                    if bot.config.symbol != symbol:
                        continue
                    await uow.bots.set_needs_attention(bot.id, True, reason)
                    events.append(
                        PositionMismatch(
                            at=now, bot_name=bot.name, symbol=symbol, ours=qty, theirs=held, source="broker"
                        )
                    )
                await uow.commit()
            problems.append(f"{broker_name} {symbol}: ours {qty:+d}, broker {held:+d}")
            self._publish(events)
        return problems

    # ================================================================== queries

    async def bots(self) -> list[Bot]:
        async with self._uow(read_only=True) as uow:
            return await uow.bots.list()

    async def control(self) -> ControlState:
        async with self._uow(read_only=True) as uow:
            return await uow.control.get()

    async def positions(self, bot_name: str | None = None) -> list[PositionView]:
        async with self._uow(read_only=True) as uow:
            bots = [b for b in await uow.bots.list() if bot_name is None or b.name == bot_name]
            held = [
                (b, await uow.positions.get(b.id, b.config.symbol, multiplier=Decimal(1), for_update=False))
                for b in bots
            ]
        views = []
        for bot, pos in held:
            if pos.is_flat and bot_name is None:
                continue
            instrument = await self._instrument_or_none(bot)
            if instrument is not None:
                pos.multiplier = instrument.contract_multiplier
            mark = await self._mark(bot, pos) if not pos.is_flat else None
            views.append(
                PositionView(
                    bot_name=bot.name,
                    symbol=bot.config.symbol,
                    side=pos.side,
                    quantity=pos.quantity,
                    average_price=pos.average_price,
                    entries=tuple(pos.entries),
                    max_positions=bot.config.max_positions,
                    stop_loss=pos.stop_loss,
                    take_profit=pos.take_profit,
                    last_price=mark,
                    unrealized_pnl=pos.unrealized_pnl(mark) if mark is not None else None,
                    realized_pnl=pos.realized_pnl,
                    currency=instrument.currency if instrument else "",
                )
            )
        return views

    async def trades(self, bot_name: str | None = None, limit: int = 20) -> list[TradeRecord]:
        async with self._uow(read_only=True) as uow:
            return await uow.trades.list(bot_id=await _bot_filter(uow, bot_name), limit=limit)

    async def pnl(self, bot_name: str | None = None, since: datetime | None = None) -> PnlView:
        async with self._uow(read_only=True) as uow:
            trades = await uow.trades.list(bot_id=await _bot_filter(uow, bot_name), since=since, limit=100_000)
        unrealized: Decimal | None = Decimal(0)
        currency = ""
        for view in await self.positions(bot_name):
            currency = currency or view.currency
            if view.unrealized_pnl is None:
                unrealized = None
            elif unrealized is not None:
                unrealized += view.unrealized_pnl
        if not currency and trades:
            bot = await self._bot(trades[0].bot_name)
            instrument = await self._instrument_or_none(bot) if bot else None
            currency = instrument.currency if instrument else ""
        return PnlView(
            bot_name=bot_name,
            since=since,
            realized=sum((t.realized_pnl for t in trades), Decimal(0)),
            unrealized=unrealized,
            trades=len(trades),
            wins=sum(1 for t in trades if t.realized_pnl > 0),
            losses=sum(1 for t in trades if t.realized_pnl < 0),
            currency=currency,
        )

    async def signals(
        self, bot_name: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[StoredSignal]:
        async with self._uow(read_only=True) as uow:
            bot_id = await _bot_filter(uow, bot_name)
            return await uow.signals.list(bot_id=bot_id, state=SignalState(state) if state else None, limit=limit)

    async def signal_view(self, signal_id: int) -> SignalView | None:
        async with self._uow(read_only=True) as uow:
            stored = await uow.signals.get(signal_id)
            if stored is None:
                return None
            orders = await uow.orders.list_for_signal(signal_id)
            approval = await uow.approvals.get(signal_id)
        return SignalView(stored, tuple(orders), approval)

    async def record_card_message(self, signal_id: int, channel_id: int, message_id: int) -> None:
        async with self._uow() as uow:
            await uow.approvals.set_message(signal_id, channel_id, message_id)
            await uow.commit()

    async def approval_card(self, signal_id: int) -> ApprovalCard | None:
        async with self._uow(read_only=True) as uow:
            stored = await uow.signals.get(signal_id)
            if stored is None:
                return None
            bot = await uow.bots.get(stored.bot_id)
            approval = await uow.approvals.get(signal_id)
            orders = await uow.orders.list_for_signal(signal_id)
            if bot is None:
                return None
            position = await uow.positions.get(bot.id, bot.config.symbol, multiplier=Decimal(1), for_update=False)
        instrument = await self._instrument_or_none(bot) or Instrument(bot.config.symbol)
        position.multiplier = instrument.contract_multiplier
        signal, edits = stored.signal, stored.edits
        the_plan = plan_signal(bot.config, position, signal, instrument, edits)
        if orders:
            # Decided and sent: show what ran, not a fresh plan against the position it made.
            ran = next((h.reason for h in stored.history if h.state is SignalState.EXECUTING and h.reason), None)
            legs = tuple(Leg(o.leg_kind, o.side, o.quantity, o.position_side) for o in orders)
            the_plan = replace(the_plan, legs=legs, summary=ran or the_plan.summary, ignored=None)
        main = next((leg for leg in reversed(the_plan.legs)), None)
        quote = await self._quote(bot) if stored.state in (SignalState.PENDING_APPROVAL, SignalState.RECEIVED) else None
        now_price = quote.price_for(main.side) if quote is not None and main is not None else None
        drift = (now_price - signal.price) / signal.price * 100 if now_price is not None and signal.price else None
        stop = the_plan.new_stop_loss
        target = the_plan.new_take_profit
        risk = None
        if stop is not None and main is not None and not main.kind.reduces:
            entry = (edits.limit_price if edits and edits.limit_price else None) or now_price or signal.price
            held = position.quantity if position.side is main.position_side else 0
            avg_after = entry
            if held and position.average_price is not None:
                avg_after = (position.average_price * held + entry * main.quantity) / (held + main.quantity)
            risk = abs(avg_after - stop) * (held + main.quantity) * instrument.contract_multiplier
        before = _describe(position.side.value if position.side else None, position.quantity, position.average_price)
        if orders:  # the position already holds these orders' fills: show it as it stands now
            before, after = "", before
        else:
            after = _position_after(position, the_plan.legs, signal.price)
        filled = [o for o in orders if o.filled_quantity]
        outcome = None
        if filled:
            outcome = "; ".join(f"{o.side.value} {o.filled_quantity} @ {o.average_fill_price}" for o in filled)
        if stored.state in (SignalState.FAILED, SignalState.REFUSED, SignalState.IGNORED, SignalState.EXPIRED):
            outcome = f"{stored.state.value}: {stored.reason}" + (f" ({outcome})" if outcome else "")
        return ApprovalCard(
            signal_id=signal_id,
            bot_name=bot.name,
            symbol=bot.config.symbol,
            action=signal.action.value,
            plan_summary=the_plan.summary,
            ignored_reason=the_plan.ignored,
            quantity=main.quantity if main else 0,
            order_type=(edits.order_type if edits and edits.order_type else signal.order_type),
            limit_price=edits.limit_price if edits else None,
            alert_price=signal.price,
            quote=now_price,
            drift_pct=drift.quantize(Decimal("0.01")) if drift is not None else None,
            stop_loss=stop,
            take_profit=target,
            risk_to_stop=risk,
            currency=instrument.currency,
            position_before=before,
            position_after=after,
            expires_at=approval.expires_at if approval else None,
            state=stored.state.value,
            edits=edits,
            edited_by=approval.edited_by if approval else None,
            decided_by=approval.decided_by if approval else None,
            decided_at=approval.decided_at if approval else None,
            outcome=outcome,
            notes=the_plan.notes,
        )

    # ================================================================== helpers

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


def _describe(side: str | None, quantity: int, average: Decimal | None) -> str:
    if side is None or quantity == 0:
        return "flat"
    return f"{side} {quantity} @ {average.normalize() if average is not None else '?'}"


def _position_after(position: Position, legs: tuple[Leg, ...], price: Decimal) -> str:
    """The position as it would stand if every leg filled at `price` (for the card)."""
    sim = Position(position.symbol, position.multiplier, position.side, list(position.entries), position.average_price)
    for index, leg in enumerate(legs):
        sim.apply_fill(Fill(f"preview-{index}", leg.side, leg.quantity, price, position.opened_at or _EPOCH))
    return _describe(sim.side.value if sim.side else None, sim.quantity, sim.average_price)


def _edits_text(edits: SignalEdits | None) -> str:
    if edits is None:
        return ""
    parts = [
        f"{name} {value.value if isinstance(value, OrderType) else value}"
        for name, value in (
            ("quantity", edits.quantity),
            ("type", edits.order_type),
            ("limit", edits.limit_price),
            ("stop", edits.stop_loss),
            ("target", edits.take_profit),
        )
        if value is not None
    ]
    return ", ".join(parts)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Matches no row: an unknown bot name filters a listing down to nothing.
_NO_SUCH_BOT = -1


async def _bot_filter(uow: UnitOfWork, bot_name: str | None) -> int | None:
    """The bot id to filter a listing by: None for every bot; for a name no bot has, an id
    no row carries, so the listing comes out empty."""
    if bot_name is None:
        return None
    bot = await uow.bots.get_by_name(bot_name)
    return bot.id if bot is not None else _NO_SUCH_BOT
