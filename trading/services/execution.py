"""Executing one stored signal: plan, risk checks, orders, fills, position.

Every step is its own transaction, so a crash between any two steps leaves a state the
next run finishes from. The steps: the plan with its order rows (the signal `executing`);
the send; the broker's final answer stored together with its fill applied to the position
and trade history, and for the last leg the signal completed. A signal in `executing` has
its order rows; an order that may have been sent (submitted / unknown) is looked up at the
broker by client order id before anything is sent again; an order row that says filled
beyond what was applied is applied from the row (fill ids are unique, so nothing applies
twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from trading.domain import display
from trading.domain.approval_decay import capped_limit
from trading.domain.approval_scope import runs_unapproved, why_unapproved
from trading.domain.caps import day_start as day_start_in
from trading.domain.caps import open_risk
from trading.domain.engine import plan as plan_signal
from trading.domain.events import (
    BotStateChanged,
    Event,
    ExecutionFailed,
    Notice,
    OrderCancelled,
    OrderPlaced,
    PositionMismatch,
    SignalIgnored,
    SignalRefused,
    StopMoved,
)
from trading.domain.legs import account_of, on_account, sized_on_account
from trading.domain.levels import set_levels_after_fill
from trading.domain.market import BrokerOrder, Instrument, OrderRequest, Quote
from trading.domain.orders import OrderStatus, client_order_id, from_broker, transition
from trading.domain.plan import Leg, LegKind
from trading.domain.position import Fill, Position, fill_id
from trading.domain.records import Bot, OrderRecord, SignalEdits, StateChange, StoredSignal
from trading.domain.risk import RiskContext, check_risk, stale_entry
from trading.domain.signals import SignalState
from trading.domain.values import ZERO, OrderType
from trading.services.exchange_exits import ExchangeExits
from trading.services.ports import (
    Broker,
    BrokerFailure,
    BrokerProvider,
    BrokerRefusal,
    Clock,
    UnitOfWork,
    UnitOfWorkFactory,
    WouldNotReduce,
)
from trading.services.positions import apply_fill, position_of
from trading.services.transitions import move_signal, set_signal_state
from trading.services.watchlist import Watchlist

log = logging.getLogger("signaldesk.execution")

# States from which a signal may start executing (received: an auto-mode bot's, straight from intake).
READY = (SignalState.RECEIVED, SignalState.APPROVED, SignalState.QUEUED)

Checkpoint = Callable[[str], None]  # called at named points; the crash tests kill the process there

# An order's `error` when signaldesk asked the broker to cancel it, stored before the broker
# hears of it, so the signal ends the same way whenever the process stops in between.
TIMED_OUT = "timed out"  # the bot's order_timeout_seconds passed
CANCELLED_BY = "cancelled by"  # a person: "cancelled by alice"


@dataclass(frozen=True, slots=True)
class Footing:
    """What a signal's start needs from the database, read before any write transaction."""

    position: Position  # the bot's, as it stands (its multiplier set from the instrument at the start)
    halted: bool
    waited_since: datetime  # since when the signal has waited to be sent
    realized_today: Decimal  # the bot's realized P&L today (read only when it has a daily loss limit)
    shared: bool  # another bot trades the symbol on the same account (read only with an open position)
    trades_today: int = 0  # the bot's entries today (read only with max_trades_per_day)
    # The open positions of the other bots on the account, by bot name (only with max_open_risk).
    others: tuple[tuple[str, Position], ...] = ()
    account_paused: str | None = None  # why the leg's account is paused (/pause-account), when it is


@dataclass(frozen=True, slots=True)
class RunResult:
    finished: bool  # the signal reached a final state (or was not ours to move)
    retry_after: float | None = None  # seconds until the next try, when not finished
    note: str = ""


class Executor:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        brokers: BrokerProvider,
        clock: Clock,
        publish: Callable[[list[Event]], None],
        *,
        checkpoint: Checkpoint | None = None,
        retry_delay: float = 2.0,
        watchlist: Watchlist | None = None,
        position_in_doubt: Callable[[int], None] = lambda _bot_id: None,
    ) -> None:
        """`watchlist`: the stop monitor's picture of the open positions, told after every
        commit that changes a position. `position_in_doubt`: called with a bot's id when the
        broker says a close of it would not reduce its position: the two pictures differ
        (the runner reconciles that symbol at once)."""
        self._uow = uow_factory
        self._brokers = brokers
        self._clock = clock
        self._publish = publish
        self._checkpoint = checkpoint or (lambda _point: None)
        self._retry_delay = retry_delay
        self.watchlist = watchlist if watchlist is not None else Watchlist()
        self._instruments: dict[tuple[str, str], Instrument] = {}
        self._position_in_doubt = position_in_doubt
        # client order id -> events of a final answer, published once `_apply` has stored it
        self._unsaved: dict[str, list[Event]] = {}
        # client order id -> who asked to cancel it (the signal's state change names them)
        self._cancel_causes: dict[str, str] = {}
        # Stops and targets resting on the exchange, where the broker can hold them.
        self.exchange_exits = ExchangeExits(uow_factory, brokers, clock, publish, self.watchlist, self.instrument)

    # ------------------------------------------------------------------ instruments & quotes

    async def instrument(self, broker: Broker, symbol: str) -> Instrument:
        key = (broker.name, symbol)
        cached = self._instruments.get(key)
        if cached is not None:
            return cached
        instrument = await broker.get_instrument(symbol)
        self._instruments[key] = instrument
        async with self._uow() as uow:
            await uow.instruments.upsert(instrument)
            await uow.commit()
        return instrument

    def broker_for(self, bot: Bot) -> Broker:
        return self._brokers(bot.config.broker_account)

    # ------------------------------------------------------------------ the run

    async def run_stored(self, stored: StoredSignal, bot: Bot, footing: Footing | None = None) -> RunResult:
        """Execute a signal that is ready: received by an auto-mode bot, approved, queued or
        already executing (then it is finished from its order rows). `footing`: what its
        start needs from the database, when the caller read it with the signal."""
        bot = _leg(bot, stored)
        if stored.state in READY:
            started = await self._start(stored, bot, footing)
            if isinstance(started, RunResult):
                return started
            orders, position = started
            result = await self._drive(stored, bot, orders, position=position)
        elif stored.state is not SignalState.EXECUTING:
            return RunResult(True, note=f"signal is {stored.state.value}")
        else:
            result = await self._drive(stored, bot, None)
        # The stop and target on the exchange follow the position (a no-op for other brokers).
        try:
            await self.exchange_exits.align(bot)
        except Exception:
            # The signal's outcome stands; the monitor's next pass aligns them again.
            log.exception("%s: exits on the exchange not aligned after signal %s", bot.name, stored.id)
        return result

    async def read_footing(self, uow: UnitOfWork, stored: StoredSignal, bot: Bot) -> Footing:
        """What starting `stored` needs from the database, read in `uow` (a read-only one,
        outside any write transaction: the position changes only in this bot's lane)."""
        bot = _leg(bot, stored)
        account = bot.config.broker_account
        now = self._clock.now()
        position = await uow.positions.get(
            bot.id, bot.config.symbol, account=account, multiplier=Decimal(1), for_update=False
        )
        control = await uow.control.get()
        waited_since = await _waiting_since(uow, stored)
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        # Only the daily loss limit needs today's trades, and reading them grows with the day.
        # A bot on several accounts has a daily loss limit on each.
        realized_today = (
            await uow.trades.realized_since(bot.id, day_start, account=account if bot.config.accounts else None)
            if bot.config.max_daily_loss is not None
            else ZERO
        )
        # Only a plan that reduces (which needs an open position) asks whether the symbol is shared.
        shared = not position.is_flat and await uow.bots.shares_symbol(bot)
        # The caps (trading/domain/caps.py) read only for a bot that sets them.
        config = bot.config
        entry = stored.signal.action.is_entry
        trades_today = 0
        if entry and config.max_trades_per_day is not None:
            trades_today = await uow.orders.entries_since(bot.id, day_start_in(now, config.trading_timezone))
        others: tuple[tuple[str, Position], ...] = ()
        if entry and config.max_open_risk is not None:
            # Every bot's leg on this account, but this one's.
            on_account = {b.id: b for b in await uow.bots.list() if account in b.config.account_names}
            others = tuple(
                (on_account[bot_id].name, held)
                for bot_id, held in await uow.positions.list_open()
                if bot_id in on_account and held.account in (account, None) and bot_id != bot.id
            )
        return Footing(
            position,
            control.halted,
            waited_since,
            realized_today,
            shared,
            trades_today,
            others,
            control.paused_accounts.get(account),
        )

    async def _start(
        self, stored: StoredSignal, bot: Bot, footing: Footing | None
    ) -> RunResult | tuple[list[OrderRecord], Position]:
        """Plan and check; on success the signal is `executing` with its order rows stored
        (returned, with the position they were planned on). The reads come first (`footing`,
        when the caller read it already); then one write transaction: the signal's move, its
        order rows, its events."""
        config = bot.config
        if stored.state is SignalState.RECEIVED and not runs_unapproved(
            config.mode, config.approve, stored.signal.action
        ):
            return RunResult(True, note="an approve-mode bot's signal needs an approval first")
        broker = self.broker_for(bot)
        signal = stored.signal
        try:
            instrument = await self.instrument(broker, bot.config.symbol)
        except Exception as e:
            if _is_refusal(e):
                return await self._finish(stored, bot, SignalState.FAILED, f"instrument {bot.config.symbol}: {e}")
            log.warning("signal %s: instrument look-up failed, will retry: %r", stored.id, e)
            return RunResult(False, self._retry_delay, "instrument unavailable")

        quote: Quote | None = None
        if signal.action.is_entry:
            try:
                quote = await broker.get_quote(bot.config.symbol)
            except Exception as e:
                log.warning("signal %s: no quote for %s: %r", stored.id, bot.config.symbol, e)
        equity: Decimal | None = None
        if signal.action.is_entry and bot.config.risk_per_trade_pct is not None:
            # A bot that sizes by risk needs the account's equity; a broker that cannot say
            # now is asked again, one that refuses leaves the entry to be refused with the reason.
            try:
                equity = (await broker.get_account()).equity
            except Exception as e:
                if not _is_refusal(e):
                    log.warning("signal %s: account unavailable, will retry: %r", stored.id, e)
                    return RunResult(False, self._retry_delay, "account unavailable")
                log.warning("signal %s: account refused: %r", stored.id, e)

        signal, scaled = sized_on_account(signal, bot.config, instrument, stored.edits)
        now = self._clock.now()
        if footing is None:
            async with self._uow(read_only=True) as uow:
                footing = await self.read_footing(uow, stored, bot)
        position = footing.position
        position.multiplier = instrument.contract_multiplier
        the_plan = plan_signal(bot.config, position, signal, instrument, stored.edits, equity)
        verdict = None
        shared = False
        if not the_plan.is_ignore:
            verdict = check_risk(
                RiskContext(
                    config=bot.config,
                    plan=the_plan,
                    signal=signal,
                    instrument=instrument,
                    quote=quote,
                    halted=footing.halted,
                    paused=bot.paused,
                    needs_attention=bot.needs_attention,
                    attention_reason=bot.attention_reason,
                    account_paused=footing.account_paused,
                    realized_today=footing.realized_today,
                    age=now - footing.waited_since,
                    now=now,
                    trades_today=footing.trades_today,
                    open_risk=open_risk(bot.config.broker_account, footing.others, position, the_plan, signal.price)
                    if bot.config.max_open_risk is not None and the_plan.is_entry
                    else None,
                )
            )
            # A netting account holds one position per symbol. When several bots trade the
            # same symbol there, one bot's close may not reduce the account's net position,
            # and the broker would refuse it as reduce-only; our own position is the guard then.
            shared = footing.shared
        # What moved the signal into the queue, when it was not there yet.
        queued = (
            []
            if stored.state is SignalState.QUEUED
            else [
                StateChange(
                    SignalState.QUEUED,
                    now,
                    "approved" if stored.state is SignalState.APPROVED else why_unapproved(bot.config.mode),
                )
            ]
        )
        if verdict is None or verdict.refused is not None:
            reason: str
            if verdict is None:
                reason = _on_account(bot, the_plan.ignored or "nothing to do")
                # A rule said no (an entry sized by risk without a stop), or there is nothing to do.
                final = SignalState.REFUSED if the_plan.refused else SignalState.IGNORED
                cause = "risk" if the_plan.refused else "engine"
                kind = SignalRefused if the_plan.refused else SignalIgnored
                events: list[Event] = [kind(at=now, bot_name=bot.name, signal_id=stored.id, reason=reason)]
                pause = False
            else:
                reason = _on_account(bot, verdict.refused or "refused")
                final, cause, pause = SignalState.REFUSED, "risk", verdict.pause_bot
                events = [SignalRefused(at=now, bot_name=bot.name, signal_id=stored.id, reason=reason)]
                if pause:
                    events.append(BotStateChanged(at=now, bot_name=bot.name, change="paused", reason=reason))
            async with self._uow() as uow:
                steps = [*queued, StateChange(final, now, cause, reason)]
                if not await move_signal(uow, stored.id, steps, from_state=stored.state):
                    return RunResult(True, note="moved on meanwhile")
                if pause:
                    await uow.bots.set_paused(bot.id, True, reason)
                uow.emit(events)
                await uow.commit()
            self._publish(uow.emitted)
            return RunResult(True, note=reason)

        the_plan = verdict.plan
        # What the plan changed from what was asked (a quantity trimmed to the instrument's
        # or the pyramid's room, an entry dropped) is said, not done silently.
        changed = "; ".join([*([scaled] if scaled else []), *the_plan.notes])
        doing = f"{the_plan.summary}: {changed}" if changed else the_plan.summary
        rows = []
        for index, leg in enumerate(the_plan.legs, start=1):
            cap = None
            offset = bot.config.approval_limit_offset_pct
            if stored.state is SignalState.APPROVED and offset is not None:
                cap = capped_limit(offset, leg.side, signal.price, instrument.tick_size)
            row = _order_row(stored, bot, leg, index, stored.edits, now, cap)
            if shared and row.reduce_only:
                row = replace(row, reduce_only=False)
            if index == 1:
                # About to be sent. Recovery looks a submitted order up before sending it,
                # so this is as safe as a separate new -> submitted step, one turn cheaper.
                row = replace(row, status=transition(row.status, OrderStatus.SUBMITTED))
            rows.append(row)
        async with self._uow() as uow:
            steps = [*queued, StateChange(SignalState.EXECUTING, now, "engine", doing or None)]
            if not await move_signal(uow, stored.id, steps, from_state=stored.state):
                return RunResult(True, note="moved on meanwhile")
            stored_rows = await uow.orders.add_many(rows)
            if changed:
                log.info("signal %s for %s: %s", stored.id, bot.name, doing)
                uow.emit(
                    [Notice(at=now, bot_name=bot.name, signal_id=stored.id, message=f"signal #{stored.id}: {doing}")]
                )
            moved = False
            if not rows:
                # A stop move alone (a breakeven): nothing to send, so it completes here.
                completed, moved = await self._complete(uow, stored, bot, instrument, position, now)
                if moved:
                    await uow.positions.save(bot.id, position)
                uow.emit(completed)
            await uow.commit()
        if not rows:
            if moved:
                self.watchlist.changed()
            self._publish(uow.emitted)
            return RunResult(True, note=doing)
        self._checkpoint("order_stored")
        self._publish(uow.emitted)
        return stored_rows, position

    async def _drive(
        self,
        stored: StoredSignal,
        bot: Bot,
        orders: list[OrderRecord] | None,
        settled_now: dict[str, OrderRecord] | None = None,
        *,
        position: Position | None = None,
    ) -> RunResult:
        """Bring every order of an executing signal to a final, applied state, in leg order.
        `settled_now`: orders whose final answer was just read from the broker, not yet stored.
        `position`: the bot's position as this run just read it (else it is read when needed)."""
        broker = self.broker_for(bot)
        started_now = orders is not None
        if orders is None:
            async with self._uow(read_only=True) as uow:
                orders = await uow.orders.list_for_signal(stored.id)
        instrument = await self.instrument(broker, bot.config.symbol)
        fresh = {o.client_order_id for o in orders if o.status is OrderStatus.SUBMITTED} if started_now else set()
        legs = sorted(orders, key=lambda o: o.leg_index)
        for row in legs:
            settled = (settled_now or {}).get(row.client_order_id) or await self._settle(
                row, broker, stored, bot, row.client_order_id in fresh
            )
            if settled is None:
                return RunResult(False, self._retry_delay, "order not final yet (resting, or its outcome unknown)")
            if position is None:
                async with self._uow(read_only=True) as uow:
                    position = await position_of(uow, bot, instrument.contract_multiplier)
            order, done = await self._apply(settled, bot, instrument, stored, position, last=row is legs[-1])
            if order.status is not OrderStatus.FILLED:
                cancelled = _cancel_verdict(order)
                if cancelled is not None:
                    state, cause = cancelled
                    cause = self._cancel_causes.pop(order.client_order_id, cause)
                    return await self._finish_cancelled(stored, bot, instrument, order, state, cause)
                never_sent = order.status is OrderStatus.CANCELED and (order.error or "").startswith("not sent")
                first = row is legs[0]
                # An entry held back before anything of the signal reached the broker is a refusal.
                state = SignalState.REFUSED if never_sent and first else SignalState.FAILED
                return await self._finish(stored, bot, state, _shortfall(order))
            if done is not None:
                return done
        raise AssertionError(f"signal {stored.id}: its last leg was applied without completing it")

    async def _settle(
        self, order: OrderRecord, broker: Broker, stored: StoredSignal, bot: Bot, fresh: bool = False
    ) -> OrderRecord | None:
        """The order as the broker has it, final; None when that cannot be known yet.
        `fresh`: marked submitted by this run just now, so it cannot be at the broker yet."""
        if order.status.is_final:
            return order
        if order.status is OrderStatus.NEW:
            order = await self._save_order(replace(order, status=transition(order.status, OrderStatus.SUBMITTED)))
            fresh = True
        if fresh:
            self._checkpoint("before_send")
            return await self._send(order, broker, stored)
        # submitted / unknown / partially filled: it may be at the broker; ask before sending again
        try:
            found = await broker.find_order(order.client_order_id)
        except Exception as e:
            log.warning("look-up of %s failed: %r", order.client_order_id, e)
            return None
        if found is None:
            if not order.leg_kind.reduces:
                # Never placed, and an entry: sent now it would be sent late; closes still go.
                async with self._uow() as uow:
                    since = await _waiting_since(uow, stored)
                now = self._clock.now()
                late = stale_entry(bot.config, now - since)
                if late is not None:
                    status = transition(order.status, OrderStatus.CANCELED)
                    return await self._save_order(
                        replace(order, status=status, error=f"not sent: {late}", updated_at=now)
                    )
            if order.status is OrderStatus.UNKNOWN:
                order = await self._save_order(replace(order, status=transition(order.status, OrderStatus.SUBMITTED)))
            log.info("order %s was never placed; sending it now", order.client_order_id)
            return await self._send(order, broker, stored)
        if not found.status.is_final:
            try:
                found = await broker.get_order(found.order_id)
            except Exception as e:
                log.warning("polling %s failed: %r", order.client_order_id, e)
        order = await self._record_answer(order, found, stored.bot_name)
        if order.status.is_final:
            return order
        if order.error is not None and order.error.startswith((TIMED_OUT, CANCELLED_BY)):
            # Asked to cancel before, and still open: the cancel did not get through; ask again.
            return await self._cancel_at_broker(order, broker, stored.bot_name, order.error)
        timeout = bot.config.order_timeout_seconds
        if order.type is OrderType.LIMIT and order.created_at is not None:
            waited = (self._clock.now() - order.created_at).total_seconds()
            if waited >= timeout:
                why = f"{TIMED_OUT} after {timeout} s (order_timeout_seconds)"
                return await self._cancel_at_broker(order, broker, stored.bot_name, why)
        return None

    async def cancel(
        self, stored: StoredSignal, bot: Bot, client_order_id: str, by_name: str, by_id: str
    ) -> RunResult | tuple[str, str]:
        """Cancel a signal's resting order at the broker for a person, then finish the signal
        from the broker's truth: what filled before the cancel stays in the position; an
        order that filled in full completes the signal as usual. The caller holds the bot's
        lock. (refusal code, why) when nothing was done."""
        bot = _leg(bot, stored)
        broker = self.broker_for(bot)
        why = f"{CANCELLED_BY} {by_name}"
        async with self._uow() as uow:
            order = await uow.orders.get(client_order_id)
        if order is None or order.signal_id != stored.id:
            return "not_found", f"there is no order {client_order_id} on signal #{stored.id}"
        if order.status.is_final:
            return "not_pending", f"order {client_order_id} is already {order.status.value}"
        if order.broker_order_id is None:
            if order.status is OrderStatus.NEW:
                # Never sent (a later leg): nothing at the broker to cancel.
                self._cancel_causes[client_order_id] = by_id
                now = self._clock.now()
                await self._save_order(
                    replace(order, status=transition(order.status, OrderStatus.CANCELED), error=why, updated_at=now)
                )
                return await self._drive(stored, bot, None)
            try:
                found = await broker.find_order(client_order_id)
            except Exception as e:
                return "failed", f"the broker could not be asked about order {client_order_id}: {e}"
            if found is None:
                return "failed", f"order {client_order_id} is not at the broker (yet); try again in a moment"
            order = await self._record_answer(order, found, stored.bot_name)
            if order.status.is_final:
                return await self._drive(stored, bot, None)
        # Kept until the signal ends: a cancel the broker does not confirm is asked again by
        # the next run, which still names who asked.
        self._cancel_causes[client_order_id] = by_id
        settled = await self._cancel_at_broker(order, broker, stored.bot_name, why)
        if settled is None:
            return "failed", f"the broker did not confirm the cancel of {client_order_id}; it will be tried again"
        result = await self._drive(stored, bot, None, {client_order_id: settled})
        if result.finished:
            self._cancel_causes.pop(client_order_id, None)  # a fill beat the cancel: nobody's to name
        return result

    async def _cancel_at_broker(
        self, order: OrderRecord, broker: Broker, bot_name: str, why: str
    ) -> OrderRecord | None:
        """Ask the broker to cancel a resting order, then read the order back: the broker's
        truth, whatever raced the cancel (a fill, a partial fill). The final order, or None
        when the broker could not be reached (the next run asks again)."""
        broker_id = order.broker_order_id
        assert broker_id is not None, f"{order.client_order_id} has no broker order id to cancel"
        # The intent first: if the process stops after the broker cancelled, the signal still
        # ends as cancelled, not failed.
        order = await self._save_order(replace(order, error=why, updated_at=self._clock.now()))
        try:
            await broker.cancel_order(broker_id)
        except Exception as e:
            if not _is_refusal(e):
                log.warning("cancel of %s: no answer, will ask again: %r", order.client_order_id, e)
                return None
            # Not cancelable: already final at the broker (filled, most likely); read below.
            log.info("cancel of %s refused (%s); reading the order back", order.client_order_id, e)
        try:
            truth = await broker.get_order(broker_id)
        except Exception as e:
            log.warning("reading %s back after its cancel failed: %r", order.client_order_id, e)
            return None
        answered = await self._record_answer(order, truth, bot_name)
        if not answered.status.is_final:
            return None
        if answered.status is OrderStatus.FILLED:
            # Filled before the cancel reached it: nothing was cancelled.
            answered = replace(answered, error=None)
        log.info(
            "order %s %s: %s of %s filled",
            order.client_order_id,
            answered.status.value,
            answered.filled_quantity,
            answered.quantity,
        )
        return answered

    async def _send(self, order: OrderRecord, broker: Broker, stored: StoredSignal) -> OrderRecord | None:
        request = OrderRequest(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            type=order.type,
            limit_price=order.limit_price,
            reduce_only=order.reduce_only,
            reference_price=stored.signal.price,
        )
        try:
            answer = await broker.place_order(request)
        except Exception as e:
            if isinstance(e, WouldNotReduce):
                self._position_in_doubt(order.bot_id)
            if not _is_refusal(e):
                # Anything else may have reached the broker: keep the order as unknown, look it up next run.
                log.warning("order %s outcome unknown: %r", order.client_order_id, e)
                await self._save_order(
                    replace(order, status=transition(order.status, OrderStatus.UNKNOWN), error=str(e)[:500])
                )
                return None
            now = self._clock.now()
            await self._save_order(
                replace(order, status=transition(order.status, OrderStatus.REJECTED), error=str(e), updated_at=now)
            )
            return replace(order, status=OrderStatus.REJECTED, error=str(e))
        self._checkpoint("order_answered")
        order = await self._record_answer(order, answer, stored.bot_name)
        return order if order.status.is_final else None

    async def _record_answer(self, order: OrderRecord, answer: BrokerOrder, bot_name: str) -> OrderRecord:
        """The order as the broker answered. A final answer is stored by `_apply`, in the
        transaction that applies its fills (one turn at the database, and an order row
        never says filled while the position does not have the fill yet); any other is
        stored now."""
        status = from_broker(answer.status)
        if status is not order.status:
            status = transition(order.status, status)
        updated = replace(
            order,
            status=status,
            broker_order_id=answer.order_id,
            filled_quantity=answer.filled_quantity,
            average_fill_price=answer.average_fill_price,
            error=answer.reject_reason if status is OrderStatus.REJECTED else order.error,
            updated_at=self._clock.now(),
        )
        # Told once per change, not at every poll of a resting order.
        placed: list[Event] = []
        if status is not order.status or answer.order_id != order.broker_order_id:
            placed.append(
                OrderPlaced(
                    at=self._clock.now(),
                    bot_name=bot_name,
                    signal_id=order.signal_id,
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    side=order.side.value,
                    quantity=order.quantity,
                    status=status.value,
                )
            )
        if status.is_final:
            self._unsaved[order.client_order_id] = placed
        else:
            await self._save_order(updated, placed)
        return updated

    async def _save_order(self, order: OrderRecord, events: list[Event] | None = None) -> OrderRecord:
        async with self._uow() as uow:
            await uow.orders.update(order)
            uow.emit(events or [])
            await uow.commit()
        self._publish(uow.emitted)
        return order

    async def _apply(
        self,
        order: OrderRecord,
        bot: Bot,
        instrument: Instrument,
        stored: StoredSignal,
        position: Position,
        *,
        last: bool,
    ) -> tuple[OrderRecord, RunResult | None]:
        """Store the order's final state and apply what the broker filled that we have not
        applied yet to `position` (the bot's, as read by this run; changed in place), with the
        trade it closed; for the last leg, filled, also complete the signal. One transaction:
        the order row, the position and the signal's state never disagree, whenever the
        process stops. The RunResult when the signal is complete."""
        now = self._clock.now()
        events: list[Event] = self._unsaved.pop(order.client_order_id, [])
        applied = order
        done: RunResult | None = None
        was_flat = position.is_flat
        changed = False  # the position, to be saved once whatever changed it
        async with self._uow() as uow:
            delta = order.filled_quantity - order.applied_quantity
            if delta > 0 and order.average_fill_price is not None:
                total_cost = order.average_fill_price * order.filled_quantity
                price = (total_cost - order.applied_cost) / delta
                fill = Fill(fill_id(order.client_order_id, order.filled_quantity), order.side, delta, price, now)
                applied = replace(
                    order, applied_quantity=order.filled_quantity, applied_cost=total_cost, updated_at=now
                )
                made = await apply_fill(
                    uow,
                    position,
                    fill,
                    bot=bot,
                    signal_id=stored.id,
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    account=bot.config.broker_account,
                    instrument=instrument,
                )
                if made is not None:
                    changed = True
                    events.extend(made)
            await uow.orders.update(applied)
            if last and applied.status is OrderStatus.FILLED:
                done = RunResult(True)
                completed, moved = await self._complete(uow, stored, bot, instrument, position, now)
                events.extend(completed)
                changed = changed or moved
            if changed:
                await uow.positions.save(bot.id, position, was_flat=was_flat)
            uow.emit(events)
            await uow.commit()
        if changed:
            self.watchlist.changed()
        self._publish(uow.emitted)
        return applied, done

    async def _complete(
        self,
        uow: UnitOfWork,
        stored: StoredSignal,
        bot: Bot,
        instrument: Instrument,
        position: Position,
        now: datetime,
    ) -> tuple[list[Event], bool]:
        """Inside `_apply`'s transaction: the signal executed, and the stop and target for
        the position as it is now filled (set on `position`, saved by the caller). The events
        of it, and whether the stop or target moved."""
        events: list[Event] = []
        signal = stored.signal
        executed = StateChange(SignalState.EXECUTED, now, "engine")
        if not await move_signal(uow, stored.id, [executed], from_state=SignalState.EXECUTING):
            return events, False
        moved = set_levels_after_fill(position, signal, bot.config, stored.edits, instrument.tick_size)
        if moved:
            events.append(_stop_moved(position, stored.id, bot, now))
        if signal.target_position is not None and signal.target_position != position.signed_quantity:
            # A missed alert: the strategy holds what we do not. New entries stop until a
            # person repairs it (adopt or flatten), as a broker mismatch does.
            await uow.bots.set_needs_attention(
                bot.id,
                True,
                f"missed alert: signal #{stored.id}'s strategy holds {display.signed_quantity(signal.target_position)} "
                f"{bot.config.symbol}, signaldesk {display.signed_quantity(position.signed_quantity)}",
            )
            events.append(
                PositionMismatch(
                    at=now,
                    bot_name=bot.name,
                    signal_id=stored.id,
                    symbol=bot.config.symbol,
                    ours=position.signed_quantity,
                    theirs=signal.target_position,
                    source="alert",
                )
            )
        return events, moved

    async def _finish_cancelled(
        self, stored: StoredSignal, bot: Bot, instrument: Instrument, order: OrderRecord, state: SignalState, cause: str
    ) -> RunResult:
        """A resting order signaldesk cancelled (its timeout, or a person): the signal ends
        `state` with the reason; an entry that partly filled keeps its fill, and gets the
        stop and target the whole entry would have had, in the same transaction."""
        now = self._clock.now()
        reason = _cancel_reason(order, instrument.tick_size)
        events: list[Event] = []
        levels = order.filled_quantity and not order.leg_kind.reduces
        position: Position | None = None
        if levels:
            async with self._uow(read_only=True) as uow:
                position = await position_of(uow, bot, instrument.contract_multiplier)
        async with self._uow() as uow:
            ended = StateChange(state, now, cause, reason)
            if not await move_signal(uow, stored.id, [ended], from_state=SignalState.EXECUTING):
                return RunResult(True, note="moved on meanwhile")
            if position is not None and set_levels_after_fill(
                position, stored.signal, bot.config, stored.edits, instrument.tick_size
            ):
                await uow.positions.save(bot.id, position)
                events.append(_stop_moved(position, stored.id, bot, now))
            events.append(
                OrderCancelled(
                    at=now,
                    bot_name=bot.name,
                    signal_id=stored.id,
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    side=order.side.value,
                    quantity=order.quantity,
                    filled_quantity=order.filled_quantity,
                    reason=reason,
                )
            )
            uow.emit(events)
            await uow.commit()
        if position is not None:
            self.watchlist.changed()
        self._publish(uow.emitted)
        return RunResult(True, note=reason)

    async def _finish(self, stored: StoredSignal, bot: Bot, state: SignalState, reason: str) -> RunResult:
        reason = _on_account(bot, reason)
        now = self._clock.now()
        event = SignalRefused if state is SignalState.REFUSED else ExecutionFailed
        async with self._uow() as uow:
            await set_signal_state(uow, stored.id, state, cause="engine", at=now, reason=reason)
            uow.emit([event(at=now, bot_name=bot.name, signal_id=stored.id, reason=reason)])
            await uow.commit()
        self._publish(uow.emitted)
        return RunResult(True, note=reason)


def _on_account(bot: Bot, reason: str) -> str:
    """A leg's reason names its account (the error channel says which account failed)."""
    if bot.config.accounts is None or reason.startswith("account "):
        return reason
    return f"account {bot.config.broker_account}: {reason}"


def _leg(bot: Bot, stored: StoredSignal) -> Bot:
    """The bot as the signal's leg trades: its account and that account's symbol."""
    return on_account(bot, account_of(stored.signal, bot.config))


def _order_row(
    stored: StoredSignal,
    bot: Bot,
    leg: Leg,
    index: int,
    edits: SignalEdits | None,
    now: datetime,
    cap: Decimal | None = None,
) -> OrderRecord:
    """`cap`: an approved entry's limit by approval_limit_offset_pct, for what would go at market."""
    order_type = OrderType.MARKET
    limit_price: Decimal | None = None
    if leg.kind in (LegKind.OPEN, LegKind.ADD):
        if edits is not None and edits.order_type is OrderType.LIMIT:
            order_type, limit_price = OrderType.LIMIT, edits.limit_price or stored.signal.price
        elif stored.signal.order_type is OrderType.LIMIT:
            order_type, limit_price = OrderType.LIMIT, stored.signal.price
        elif cap is not None and (edits is None or edits.order_type is not OrderType.MARKET):
            order_type, limit_price = OrderType.LIMIT, cap
    return OrderRecord(
        signal_id=stored.id,
        bot_id=bot.id,
        client_order_id=client_order_id(stored.id, index),
        leg_index=index,
        leg_kind=leg.kind,
        position_side=leg.position_side,
        symbol=bot.config.symbol,
        side=leg.side,
        quantity=leg.quantity,
        type=order_type,
        limit_price=limit_price,
        reduce_only=leg.reduce_only,
        status=OrderStatus.NEW,
        created_at=now,
        updated_at=now,
    )


def _stop_moved(position: Position, signal_id: int, bot: Bot, now: datetime) -> StopMoved:
    return StopMoved(
        at=now,
        bot_name=bot.name,
        signal_id=signal_id,
        symbol=bot.config.symbol,
        stop_loss=position.stop_loss,
        take_profit=position.take_profit,
    )


def _cancel_verdict(order: OrderRecord) -> tuple[SignalState, str] | None:
    """(the signal's final state, the cause) when signaldesk cancelled this order itself."""
    if order.status is not OrderStatus.CANCELED or order.error is None:
        return None
    if order.error.startswith(TIMED_OUT):
        return SignalState.EXPIRED, "timeout"
    if order.error.startswith(CANCELLED_BY):
        return SignalState.CANCELED, "cancel"
    return None


def _cancel_reason(order: OrderRecord, tick: Decimal) -> str:
    what = f"order {order.client_order_id} ({order.leg_kind.value} {order.side.value} {order.quantity})"
    if order.filled_quantity == 0:
        return f"{what} {order.error}: nothing filled"
    return (
        f"{what} {order.error}: {order.filled_quantity} of {order.quantity} filled"
        f" @ {display.price(order.average_fill_price, tick)}, kept in the position"
    )


def _shortfall(order: OrderRecord) -> str:
    what = f"order {order.client_order_id} ({order.leg_kind.value} {order.side.value} {order.quantity})"
    if order.status is OrderStatus.REJECTED:
        return f"{what} was rejected: {order.error or 'no reason given'}"
    if order.status is OrderStatus.CANCELED and order.error and order.filled_quantity == 0:
        return f"{what} {order.error}"
    return f"{what} ended {order.status.value} with {order.filled_quantity} of {order.quantity} filled"


def _is_refusal(e: Exception) -> bool:
    """The broker answered and did nothing (final). Anything else leaves the outcome unknown:
    a BrokerUnavailable, or an exception that is no BrokerFailure at all (a bug in the adapter)."""
    if not isinstance(e, BrokerFailure):
        log.error("broker raised %r, which is no BrokerFailure (an adapter bug): outcome treated as unknown", e)
    return isinstance(e, BrokerRefusal)


async def _waiting_since(uow: UnitOfWork, stored: StoredSignal) -> datetime:
    """Since when the signal has been waiting to be sent: its approval, when a person
    approved it; else the alert's own time (or its arrival, when it stated none)."""
    if stored.state is not SignalState.RECEIVED:
        approval = await uow.approvals.get(stored.id)
        if approval is not None and approval.decided_at is not None:
            return approval.decided_at
    return stored.signal.time or stored.created_at
