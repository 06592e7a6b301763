"""What the desk shows: bots, positions, trades, P&L, signals and approval cards.

Read-only: nothing here changes state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby

from trading.domain import display
from trading.domain.approval_decay import drift_words, timeout_reason
from trading.domain.approval_scope import split_close_id
from trading.domain.approvers import second_approval_reason
from trading.domain.legs import account_of, on_account
from trading.domain.market import Instrument
from trading.domain.plan import Leg, Plan
from trading.domain.position import Position
from trading.domain.preview import describe
from trading.domain.records import (
    ApprovalRecord,
    AuditEntry,
    Bot,
    BotTradeTotals,
    ControlState,
    OrderRecord,
    StoredSignal,
    TradeRecord,
    WebhookLogEntry,
    WebhookLogFilter,
)
from trading.domain.signals import SignalState
from trading.domain.trailing import trail_words
from trading.domain.views import (
    AccountLine,
    AccountPnl,
    AccountView,
    ApprovalCard,
    BotPnl,
    BotStatus,
    DayPnl,
    DecisionView,
    PnlView,
    PositionView,
    SignalView,
    TradesReport,
)
from trading.domain.wording import state_words
from trading.services.context import UseCase
from trading.services.market_view import QUOTE_TIMEOUT, log
from trading.services.ports import UnitOfWork
from trading.services.positions import position_of
from trading.services.second_approval import second_approval_of
from trading.services.synthetic import bot_named

# The equity curve draws at most this many of the latest trades (its start is the total before them).
CURVE_TRADES = 2000

# Accepted and not finished: the runner picks these up again at the next start.
IN_FLIGHT = (SignalState.RECEIVED, SignalState.APPROVED, SignalState.QUEUED, SignalState.EXECUTING)


class Queries(UseCase):
    """Read models for the front-ends."""

    async def bots(self) -> list[Bot]:
        async with self._uow(read_only=True) as uow:
            return await uow.bots.list()

    async def control(self) -> ControlState:
        async with self._uow(read_only=True) as uow:
            return await uow.control.get()

    async def positions(self, bot_name: str | None = None, account: str | None = None) -> list[PositionView]:
        """Each bot's position on each of its accounts (open ones only, unless one bot is
        asked for); with `account`, those held on it."""
        async with self._uow(read_only=True) as uow:
            legs = [
                on_account(b, a)
                for b in await uow.bots.list()
                if bot_name is None or b.name == bot_name
                for a in b.config.account_names
                if account is None or a.lower() == account.lower()
            ]
            held = [
                (
                    b,
                    await uow.positions.get(
                        b.id, b.config.symbol, account=b.config.broker_account, multiplier=Decimal(1), for_update=False
                    ),
                )
                for b in legs
            ]
        views = []
        for bot, pos in held:
            if pos.is_flat and bot_name is None:
                continue
            instrument = await self._market.instrument_or_none(bot)
            if instrument is not None:
                pos.multiplier = instrument.contract_multiplier
            mark = await self._market.mark(bot, pos) if not pos.is_flat else None
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
                    tick_size=instrument.tick_size if instrument else None,
                    account=bot.config.broker_account,
                )
            )
        return views

    async def trades(
        self, bot_name: str | None = None, limit: int = 20, account: str | None = None
    ) -> list[TradeRecord]:
        """Closed trades, newest first; with `account`, those made on it."""
        async with self._uow(read_only=True) as uow:
            return await uow.trades.list(bot_id=await _bot_filter(uow, bot_name), limit=limit, account=account)

    async def pnl(
        self, bot_name: str | None = None, since: datetime | None = None, account: str | None = None
    ) -> PnlView:
        """Realized and unrealized P&L; with `account`, of the trades and positions on it."""
        async with self._uow(read_only=True) as uow:
            trades = await uow.trades.list(
                bot_id=await _bot_filter(uow, bot_name), since=since, limit=100_000, account=account
            )
        unrealized: Decimal | None = Decimal(0)
        currency = ""
        ticks = await self._ticks({t.bot_name for t in trades})
        for view in await self.positions(bot_name, account):
            currency = currency or view.currency
            if view.unrealized_pnl is None:
                unrealized = None
            elif unrealized is not None:
                unrealized += view.unrealized_pnl
        if not currency and trades:
            bot = await bot_named(self._uow, trades[0].bot_name)
            instrument = await self._market.instrument_or_none(bot) if bot else None
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
            ticks=ticks,
        )

    async def signals(
        self, bot_name: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[StoredSignal]:
        async with self._uow(read_only=True) as uow:
            bot_id = await _bot_filter(uow, bot_name)
            return await uow.signals.list(bot_id=bot_id, state=SignalState(state) if state else None, limit=limit)

    async def unfinished(self) -> tuple[int, int]:
        """(signals in flight, signals awaiting approval): what a stop leaves behind."""
        async with self._uow(read_only=True) as uow:
            flight = await uow.signals.ids_in_states(IN_FLIGHT)
            waiting = await uow.signals.ids_in_states((SignalState.PENDING_APPROVAL,))
        return len(flight), len(waiting)

    async def signal_view(self, signal_id: int) -> SignalView | None:
        async with self._uow(read_only=True) as uow:
            stored = await uow.signals.get(signal_id)
            if stored is None:
                return None
            orders = await uow.orders.list_for_signal(signal_id)
            approval = await uow.approvals.get(signal_id)
            fills = await uow.positions.fills_for_orders([o.client_order_id for o in orders])
            webhook = await uow.webhook_logs.for_signal(signal_id)
            bot = await uow.bots.get_by_name(stored.bot_name)
        instrument = await self._market.instrument_or_none(bot) if bot is not None else None
        tick = instrument.tick_size if instrument is not None else None
        return SignalView(stored, tuple(orders), approval, tuple(fills), webhook, tick)

    async def signal_list(
        self,
        bot_name: str | None = None,
        state: str | None = None,
        *,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[StoredSignal]:
        """Signals newest first, without their state histories (a listing's rows)."""
        async with self._uow(read_only=True) as uow:
            bot_id = await _bot_filter(uow, bot_name)
            return await uow.signals.list(
                bot_id=bot_id,
                state=SignalState(state) if state else None,
                limit=limit,
                before_id=before_id,
                history=False,
            )

    async def pending_cards(self) -> list[ApprovalCard]:
        """The cards of every signal awaiting a decision, oldest first."""
        async with self._uow(read_only=True) as uow:
            pending = await uow.approvals.list_pending()
            # In one unit of work: on SQLite, opening one per card costs more than its reads.
            inputs = [found for a in pending if (found := await _card_inputs(uow, a.signal_id)) is not None]
        cards = [await self._alert_card(await self._card(*found), found[2]) for found in inputs]
        waiting = {c.signal_id for c in cards if c.state == SignalState.PENDING_APPROVAL.value}
        # One card per alert: a leg whose alert's first leg still waits is shown on that card.
        return [c for c in cards if c.signal_id in waiting and c.card_of not in waiting]

    async def recent_decisions(self, since: datetime, limit: int = 50) -> list[DecisionView]:
        """Approvals decided since `since`, newest first, with where each signal stands now."""
        async with self._uow(read_only=True) as uow:
            decided = await uow.approvals.list_decided(since, limit=limit)
            found = [(a, await uow.signals.get(a.signal_id, history=False)) for a in decided]
        return [
            DecisionView(
                signal_id=a.signal_id,
                bot_name=stored.bot_name,
                action=stored.signal.action.value,
                decision=a.decision.value,
                decided_by=a.decided_by or "someone",
                decided_at=a.decided_at,
                reason=stored.reason,
                state=stored.state.value,
                decided_by_name=a.decided_by_name,
            )
            for a, stored in found
            if stored is not None and a.decision is not None and a.decided_at is not None
        ]

    async def bot_statuses(self, now: datetime) -> list[BotStatus]:
        """Every bot with its flags, the P&L it realized since today's UTC midnight, and its
        position with what it would make closed at the quote now."""
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        async with self._uow(read_only=True) as uow:
            bots = await uow.bots.list()
            today = [await uow.trades.realized_since(b.id, midnight) for b in bots]
            instruments = {b.config.symbol: await uow.instruments.get(b.config.symbol) for b in bots}
            # A bot on several accounts shows its first account's position here (Positions has each).
            held = [
                await uow.positions.get(
                    b.id, b.config.symbol, account=b.config.broker_account, multiplier=Decimal(1), for_update=False
                )
                for b in bots
            ]
        for bot, position in zip(bots, held, strict=True):
            if (instrument := instruments[bot.config.symbol]) is not None:
                position.multiplier = instrument.contract_multiplier
        # The quotes together: one slow broker costs one timeout, not one per bot.
        marks = await asyncio.gather(
            *(self._market.mark(b, p) for b, p in zip(bots, held, strict=True) if not p.is_flat)
        )
        marked = iter(marks)
        statuses = []
        for bot, realized, position in zip(bots, today, held, strict=True):
            instrument = instruments[bot.config.symbol]
            unrealized: Decimal | None = Decimal(0)
            if not position.is_flat:
                mark = next(marked)
                unrealized = position.unrealized_pnl(mark) if mark is not None else None
            statuses.append(
                BotStatus(
                    bot,
                    realized,
                    instrument.currency if instrument else "",
                    unrealized=unrealized,
                    position=describe(position, instrument.tick_size if instrument else None),
                    open_quantity=position.quantity,
                )
            )
        return statuses

    async def accounts(self) -> list[AccountView]:
        """Balance and equity of each broker account the bots trade on, as the broker tells
        them now; an account that cannot be read says why."""
        seen: dict[str, Bot] = {}
        async with self._uow(read_only=True) as uow:
            for bot in await uow.bots.list():
                for name in bot.config.account_names:
                    seen.setdefault(name, on_account(bot, name))
        views = []
        for name, bot in sorted(seen.items()):
            try:
                async with asyncio.timeout(QUOTE_TIMEOUT):
                    account = await self.executor.broker_for(bot).get_account()
            except Exception as e:
                log.warning("account of %s unavailable: %r", name, e)
                # The kind only: a broker's message may quote its URL or account number.
                why = f"no answer in {QUOTE_TIMEOUT:g} s" if isinstance(e, TimeoutError) else type(e).__name__
                views.append(AccountView(name, None, "", None, None, f"could not be read now ({why})"))
                continue
            views.append(AccountView(name, account.account_id, account.currency, account.balance, account.equity))
        return views

    async def trades_report(self, *, since: datetime | None = None, recent: int = 50) -> TradesReport:
        async with self._uow(read_only=True) as uow:
            bots = await uow.bots.list()
            names = {b.id: b.name for b in bots}
            accounts_of = {b.id: b.config.broker_account for b in bots}
            totals = await uow.trades.totals_by_bot()
            days = await uow.trades.realized_by_day(since=since)
            latest = await uow.trades.list(limit=recent)
            drawn = await uow.trades.list(since=since, limit=CURVE_TRADES)
        by_day: list[DayPnl] = []
        equity = Decimal(0)
        for day in days:
            equity += day.realized
            if by_day and by_day[-1].day == day.day:
                last = by_day[-1]
                by_day[-1] = DayPnl(day.day, last.realized + day.realized, equity)
            else:
                by_day.append(DayPnl(day.day, day.realized, equity))
        by_bot = tuple(
            BotPnl(names.get(bot_id, f"bot {bot_id}"), *_summed(rows))
            for bot_id, rows in groupby(totals, key=lambda t: t.bot_id)  # in bot order
        )
        on: dict[str, list[BotTradeTotals]] = {}
        for t in totals:
            # Trades stored before accounts were made on the bot's one account.
            on.setdefault(t.account or accounts_of.get(t.bot_id, "?"), []).append(t)
        by_account = tuple(AccountPnl(account, *_summed(rows)) for account, rows in sorted(on.items()))
        curve = _curve(drawn[::-1], sum((t.realized for t in totals), Decimal(0)) if since is None else None)
        instruments = [i for b in bots if (i := await self._market.instrument_or_none(b)) is not None]
        currencies = {i.currency for i in instruments}
        return TradesReport(
            by_bot,
            tuple(by_day),
            tuple(latest),
            ticks={i.symbol: i.tick_size for i in instruments},
            currency=currencies.pop() if len(currencies) == 1 else "",
            curve=curve,
            by_account=by_account,
        )

    async def _ticks(self, bot_names: set[str]) -> dict[str, Decimal]:
        """symbol → tick of the named bots' instruments (those the broker could tell)."""
        ticks: dict[str, Decimal] = {}
        for name in sorted(bot_names):
            bot = await bot_named(self._uow, name)
            instrument = await self._market.instrument_or_none(bot) if bot is not None else None
            if instrument is not None:
                ticks[instrument.symbol] = instrument.tick_size
        return ticks

    async def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        async with self._uow(read_only=True) as uow:
            return await uow.audit.list(limit=limit)

    async def webhook_log(
        self,
        bot_name: str | None = None,
        *,
        status: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[WebhookLogEntry]:
        """Webhook requests newest first; bodies as stored (the passphrase already masked)."""
        async with self._uow(read_only=True) as uow:
            bot_id = await _bot_filter(uow, bot_name)
            where = WebhookLogFilter(bot_id=bot_id, status=status, since=since, until=until, before_id=before_id)
            return await uow.webhook_logs.search(where, limit=limit)

    async def _pending_leg_accounts(self, stored: StoredSignal, bot: Bot) -> tuple[str, ...]:
        """The accounts of the alert's legs awaiting a decision, this signal's first; none for
        a bot on one account."""
        if bot.config.accounts is None:
            return ()
        async with self._uow(read_only=True) as uow:
            legs = [await uow.signals.get(i, history=False) for i in await uow.signals.legs_of(stored.id)]
        waiting = [
            account_of(s.signal, bot.config)
            for s in legs
            if s is not None and s.state is SignalState.PENDING_APPROVAL and s.id != stored.id
        ]
        return (bot.config.broker_account, *waiting)

    async def approval_card(self, signal_id: int) -> ApprovalCard | None:
        async with self._uow(read_only=True) as uow:
            found = await _card_inputs(uow, signal_id)
        return await self._alert_card(await self._card(*found), found[2]) if found is not None else None

    async def card_owner(self, signal_id: int) -> int:
        """The signal whose card shows this one: itself, or for a leg of a bot on several
        accounts its alert's first leg (one card per alert)."""
        async with self._uow(read_only=True) as uow:
            stored = await uow.signals.get(signal_id, history=False)
            bot = await uow.bots.get(stored.bot_id) if stored is not None else None
            if bot is None or bot.config.accounts is None:
                return signal_id
            return await _first_asking(uow, await uow.signals.legs_of(signal_id)) or signal_id

    async def _alert_card(self, card: ApprovalCard, bot: Bot) -> ApprovalCard:
        """A leg's card as the alert's one card: the first leg's lists every account's line;
        another leg's names the first (`card_of`) and lists none."""
        if bot.config.accounts is None:
            return card
        async with self._uow(read_only=True) as uow:
            ids = await uow.signals.legs_of(card.signal_id)
            owner = await _first_asking(uow, ids)
            if owner is not None and owner != card.signal_id:
                return replace(card, card_of=owner)
            others = [found for i in ids if i != card.signal_id and (found := await _card_inputs(uow, i)) is not None]
        if not others:
            return card
        cards = [card, *[await self._card(*found) for found in others]]
        cards.sort(key=lambda c: c.signal_id)  # the legs' order
        return replace(card, account_lines=tuple(_account_line(c) for c in cards))

    async def _card(
        self,
        signal_id: int,
        stored: StoredSignal,
        bot: Bot,
        approval: ApprovalRecord | None,
        orders: list[OrderRecord],
        position: Position,
    ) -> ApprovalCard:
        instrument = await self._market.instrument_or_none(bot) or Instrument(bot.config.symbol)
        position.multiplier = instrument.contract_multiplier
        signal, edits = stored.signal, stored.edits
        pending = stored.state in (SignalState.PENDING_APPROVAL, SignalState.RECEIVED)
        instrument = await self._market.instrument_or_none(bot) or Instrument(bot.config.symbol)
        # A reversal split in approve-entries mode: the card holds the new entry only, from flat.
        split = next((h.reason for h in stored.history if h.state is SignalState.PENDING_APPROVAL), None)
        split = split if split_close_id(split) is not None else None
        if split is not None and pending:
            position = Position.flat(bot.config.symbol, instrument.contract_multiplier)
        quote = await self._market.quote(bot) if pending else None
        outlook = await self._market.outlook(bot, signal, edits, position, instrument=instrument, quote=quote)
        the_plan = outlook.plan
        if orders:
            # Decided and sent: show what ran, not a fresh plan against the position it made.
            ran = next((h.reason for h in stored.history if h.state is SignalState.EXECUTING and h.reason), None)
            legs = tuple(Leg(o.leg_kind, o.side, o.quantity, o.position_side) for o in orders)
            the_plan = replace(the_plan, legs=legs, summary=ran or the_plan.summary, ignored=None, refused=False)
            outlook = self._market.preview(position, signal, edits, the_plan, instrument, quote)
        main = next((leg for leg in reversed(the_plan.legs)), None)
        now_price = outlook.quote_price
        drift = (now_price - signal.price) / signal.price * 100 if now_price is not None and signal.price else None
        stop = the_plan.new_stop_loss
        target = the_plan.new_take_profit
        seen = outlook.preview
        before, after, risk = seen.before, seen.after, seen.risk_to_stop
        if orders:  # the position already holds these orders' fills: show it as it stands now
            before, after, risk = "", seen.before, None
        second = (
            second_approval_reason(bot.config, the_plan, risk, instrument.currency)
            if stored.state is SignalState.PENDING_APPROVAL
            else None
        )
        if second is None and stored.state is SignalState.PENDING_APPROVAL and bot.config.accounts is not None:
            # A leg: the thresholds apply to its alert's total over the accounts, as approving does.
            second = await second_approval_of(self._uow, self._market, signal_id, None)
        filled = [o for o in orders if o.filled_quantity]
        outcome = None
        if filled:
            outcome = "; ".join(
                f"{o.side.value} {display.quantity(o.filled_quantity)} @ "
                f"{display.price(o.average_fill_price, instrument.tick_size)}"
                for o in filled
            )
        if stored.state in (
            SignalState.FAILED,
            SignalState.REFUSED,
            SignalState.IGNORED,
            SignalState.EXPIRED,
            SignalState.CANCELED,
        ):
            outcome = f"{state_words(stored.state.value)}: {stored.reason}" + (f" ({outcome})" if outcome else "")
        decay = self._decay(stored, approval, now_price, instrument.tick_size)
        return ApprovalCard(
            signal_id=signal_id,
            bot_name=bot.name,
            symbol=bot.config.symbol,
            action=signal.action.value,
            plan_summary=the_plan.summary,
            ignored_reason=the_plan.ignored,
            quantity=main.quantity if main else Decimal(0),
            order_type=(edits.order_type if edits and edits.order_type else signal.order_type),
            limit_price=edits.limit_price if edits else None,
            alert_price=signal.price,
            quote=now_price,
            drift_pct=drift.quantize(Decimal("0.01")) if drift is not None else None,
            stop_loss=stop,
            take_profit=target,
            risk_to_stop=risk,
            currency=instrument.currency,
            tick_size=instrument.tick_size,
            position_before=before,
            position_after=after,
            expires_at=approval.expires_at if approval else None,
            state=stored.state.value,
            edits=edits,
            edited_by=approval.edited_by if approval else None,
            decided_by=approval.decided_by if approval else None,
            decided_by_name=approval.decided_by_name if approval else None,
            decided_at=approval.decided_at if approval else None,
            outcome=outcome,
            notes=_card_notes(split, the_plan, bot, signal.price, instrument.tick_size, pending),
            refused=the_plan.refused,
            sizing=the_plan.sizing,
            second_approval_reason=second,
            first_approved_by=approval.first_approved_by if approval else None,
            first_approved_at=approval.first_approved_at if approval else None,
            chart_url=signal.extras.get("chart_url"),
            rsi=signal.rsi,
            timeframe=signal.extras.get("interval") or signal.extras.get("timeframe") or bot.config.timeframe,
            alert_id=signal.alert_id,
            alert_extras=tuple(sorted(signal.extras.items())),
            decision_reason=stored.reason if stored.state is SignalState.REJECTED else None,
            lapse_reason=_lapse_reason(stored, approval),
            account=bot.config.broker_account if bot.config.accounts is not None else None,
            leg_accounts=await self._pending_leg_accounts(stored, bot) if pending else (),
            drift_price=decay[0],
            drift_text=decay[1],
            time_left=decay[2],
        )

    def _decay(
        self, stored: StoredSignal, approval: ApprovalRecord | None, quote: Decimal | None, tick: Decimal | None
    ) -> tuple[Decimal | None, str | None, timedelta | None]:
        """A pending card's live part: the quote's move from the alert's price (signed, and in
        words) and the time left to decide."""
        if stored.state is not SignalState.PENDING_APPROVAL:
            return None, None, None
        alert = stored.signal.price
        return (
            quote - alert if quote is not None else None,
            drift_words(alert, quote, tick),
            approval.expires_at - self._clock.now() if approval is not None else None,
        )


async def _first_asking(uow: UnitOfWork, leg_ids: list[int]) -> int | None:
    """The alert's card's signal: its first leg that asked for approval (a leg refused before
    asking, its account paused, has no card to carry the others)."""
    for i in leg_ids:
        if await uow.approvals.get(i) is not None:
            return i
    return None


def _account_line(card: ApprovalCard) -> AccountLine:
    return AccountLine(
        signal_id=card.signal_id,
        account=card.account or "",
        quantity=card.quantity,
        position_before=card.position_before,
        position_after=card.position_after,
        risk_to_stop=card.risk_to_stop,
        currency=card.currency,
        state=card.state,
        outcome=card.outcome,
    )


def _lapse_reason(stored: StoredSignal, approval: ApprovalRecord | None) -> str | None:
    """Why the card expired, when not simply for want of a decision in time."""
    if approval is None or stored.state is not SignalState.EXPIRED or approval.decided_by != "expiry":
        return None
    return stored.reason if stored.reason != timeout_reason(approval.expires_at) else None


def _card_notes(
    split: str | None, the_plan: Plan, bot: Bot, price: Decimal, tick: Decimal | None, pending: bool
) -> tuple[str, ...]:
    """The card's notes: a reversal split's first, then the plan's, then the trail an entry
    will have."""
    notes = (split,) if split is not None else ()
    opening = next((leg for leg in the_plan.legs if not leg.kind.reduces), None)
    trail = trail_words(bot.config, opening.position_side, price, tick) if pending and opening else None
    return (*notes, *the_plan.notes, *((trail,) if trail is not None else ()))


def _curve(trades: list[TradeRecord], total: Decimal | None) -> tuple[tuple[datetime, Decimal], ...]:
    """Realized P&L, running total, at each trade's close (oldest first), from the total
    before them (0, or what the trades older than those drawn made) at the first one's open."""
    if not trades:
        return ()
    first = trades[0]
    equity = Decimal(0) if total is None else total - sum((t.realized_pnl for t in trades), Decimal(0))
    points = [(first.opened_at or first.closed_at, equity)]
    for t in trades:
        equity += t.realized_pnl
        points.append((t.closed_at, equity))
    return tuple(points)


CardInputs = tuple[int, StoredSignal, Bot, ApprovalRecord | None, list[OrderRecord], Position]


async def _card_inputs(uow: UnitOfWork, signal_id: int) -> CardInputs | None:
    """What an approval card is drawn from, read in the caller's unit of work."""
    stored = await uow.signals.get(signal_id)
    if stored is None:
        return None
    whole = await uow.bots.get(stored.bot_id)
    if whole is None:
        return None
    bot = on_account(whole, account_of(stored.signal, whole.config))  # the leg the signal is for
    approval = await uow.approvals.get(signal_id)
    orders = await uow.orders.list_for_signal(signal_id)
    position = await position_of(uow, bot)
    return signal_id, stored, bot, approval, orders, position


# Matches no row: an unknown bot name filters a listing down to nothing.
_NO_SUCH_BOT = -1


async def _bot_filter(uow: UnitOfWork, bot_name: str | None) -> int | None:
    """The bot id to filter a listing by: None for every bot; for a name no bot has, an id
    no row carries, so the listing comes out empty."""
    if bot_name is None:
        return None
    bot = await uow.bots.get_by_name(bot_name)
    return bot.id if bot is not None else _NO_SUCH_BOT


def _summed(rows: Iterable[BotTradeTotals]) -> tuple[int, int, int, Decimal]:
    """Trades, wins, losses and realized P&L of these totals together."""
    rows = list(rows)
    return (
        sum(r.trades for r in rows),
        sum(r.wins for r in rows),
        sum(r.losses for r in rows),
        sum((r.realized for r in rows), Decimal(0)),
    )
