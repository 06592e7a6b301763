"""Read models for the front-ends: what a card, an embed or a JSON answer shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from trading.domain.position import Entry
from trading.domain.records import (
    ApprovalRecord,
    Bot,
    FillRecord,
    OrderRecord,
    SignalEdits,
    StoredSignal,
    TradeRecord,
    WebhookLogEntry,
)
from trading.domain.values import OrderType, PositionSide


@dataclass(frozen=True, slots=True)
class PositionView:
    bot_name: str
    symbol: str
    side: PositionSide | None
    quantity: Decimal
    average_price: Decimal | None
    entries: tuple[Entry, ...]
    max_positions: int
    stop_loss: Decimal | None
    take_profit: Decimal | None
    last_price: Decimal | None  # None when no quote could be had
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal
    currency: str
    tick_size: Decimal | None = None  # the instrument's, for display; None when not known
    account: str = ""  # the account it is held on


@dataclass(frozen=True, slots=True)
class PnlView:
    bot_name: str | None  # None: every bot
    since: datetime | None  # None: all time
    realized: Decimal
    unrealized: Decimal | None
    trades: int
    wins: int
    losses: int
    currency: str
    ticks: Mapping[str, Decimal] = field(default_factory=dict)  # symbol → tick, for display


@dataclass(frozen=True, slots=True)
class SignalView:
    signal: StoredSignal
    orders: tuple[OrderRecord, ...]
    approval: ApprovalRecord | None
    fills: tuple[FillRecord, ...] = ()
    webhook: WebhookLogEntry | None = None  # the request that made it ("why didn't my alert trade?")
    tick_size: Decimal | None = None  # the bot's instrument's, for display


@dataclass(frozen=True, slots=True)
class BotStatus:
    """One bot on the overview: its settings, flags, today's realized P&L and its position now."""

    bot: Bot
    realized_today: Decimal
    currency: str
    unrealized: Decimal | None = Decimal(0)  # now, at the quote; None: open, and no quote could be had
    position: str = "flat"  # "long 2 @ 53,210.5"
    open_quantity: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class DayTotal:
    """Every bot's day in one currency: realized today, unrealized now, contracts open."""

    currency: str
    realized_today: Decimal
    unrealized: Decimal | None  # None: some open position has no quote now
    open_positions: int


def day_totals(statuses: Sequence[BotStatus]) -> tuple[DayTotal, ...]:
    """The overview's total row, one per currency (amounts in two currencies never add)."""
    totals: dict[str, DayTotal] = {}
    for s in statuses:
        was = totals.get(s.currency, DayTotal(s.currency, Decimal(0), Decimal(0), 0))
        unrealized = None if was.unrealized is None or s.unrealized is None else was.unrealized + s.unrealized
        totals[s.currency] = DayTotal(
            s.currency,
            was.realized_today + s.realized_today,
            unrealized,
            was.open_positions + (1 if s.open_quantity else 0),
        )
    return tuple(totals[c] for c in sorted(totals))


@dataclass(frozen=True, slots=True)
class AccountView:
    """A broker account as the broker tells it now, or why it could not be read."""

    broker: str
    account_id: str | None
    currency: str
    balance: Decimal | None
    equity: Decimal | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class BotPnl:
    bot_name: str
    trades: int
    wins: int
    losses: int
    realized: Decimal


@dataclass(frozen=True, slots=True)
class DayPnl:
    day: datetime  # UTC midnight
    realized: Decimal  # every bot's, that day
    equity: Decimal  # realized since the first day shown, through this day


@dataclass(frozen=True, slots=True)
class TradesReport:
    """The Trades page: P&L by bot (all time), by day with its running total, the latest trades."""

    by_bot: tuple[BotPnl, ...]
    by_day: tuple[DayPnl, ...]
    recent: tuple[TradeRecord, ...]
    ticks: Mapping[str, Decimal] = field(default_factory=dict)  # symbol → tick, for display
    currency: str = ""  # the bots' currency when they share one
    # Realized P&L, running total, a point per closed trade (UTC), from 0 at the first open.
    curve: tuple[tuple[datetime, Decimal], ...] = ()
    # The same totals by broker account (all time), every bot's trades on it together.
    by_account: tuple[AccountPnl, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountPnl:
    account: str
    trades: int
    wins: int
    losses: int
    realized: Decimal


@dataclass(frozen=True, slots=True)
class DecisionView:
    """A decided approval, for the list of recent decisions: who decided what, when, why, and
    where the signal stands now."""

    signal_id: int
    bot_name: str
    action: str  # the alert's action, e.g. "enter_long"
    decision: str  # approved / rejected / expired
    decided_by: str  # an actor id ("web:bob", "discord:1234", "expiry")
    decided_at: datetime
    reason: str | None  # the approver's reason (a reject's), or the signal's reason for its state
    state: str  # the signal's state now
    decided_by_name: str | None = None  # the decider's display name then (a Discord member's)


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One account's line on the card of an alert for a bot on several accounts."""

    signal_id: int  # the leg's signal
    account: str
    quantity: Decimal  # as scaled for the account (0 when nothing to do)
    position_before: str
    position_after: str
    risk_to_stop: Decimal | None  # in `currency`
    currency: str
    state: str  # the leg's signal's state
    outcome: str | None = None  # what filled, or why it ended


@dataclass(frozen=True, slots=True)
class ApprovalCard:
    """Everything an approval card shows; built by the service, drawn by bot/."""

    signal_id: int
    bot_name: str
    symbol: str
    action: str  # the alert's action, e.g. "enter_long"
    plan_summary: str  # "open", "add 2 of 3", "close", "reverse", "ignore", ...
    ignored_reason: str | None
    quantity: Decimal  # contracts of the plan's main leg (0 when nothing to do)
    order_type: OrderType
    limit_price: Decimal | None
    alert_price: Decimal
    quote: Decimal | None  # the price a market order would pay now; None when unknown
    drift_pct: Decimal | None  # (quote - alert price) / alert price x 100
    stop_loss: Decimal | None
    take_profit: Decimal | None
    risk_to_stop: Decimal | None  # money lost if the stop is hit, in `currency`
    currency: str
    position_before: str  # "flat", "long 1 @ 53210.5"
    position_after: str
    expires_at: datetime | None
    state: str  # the signal's state
    edits: SignalEdits | None
    edited_by: str | None
    decided_by: str | None
    decided_at: datetime | None
    outcome: str | None  # "filled 2 @ 53211.0", the error, "expired", ...
    notes: tuple[str, ...] = ()
    refused: bool = False  # ignored_reason is a refusal by a rule (risk sizing without a stop)
    sizing: str | None = None  # the risk-sizing arithmetic, when the bot sizes by risk
    account: str | None = None  # the account this card's signal is a leg on (a bot on several accounts)
    # The accounts of its alert's legs still awaiting a decision (this one's first): the
    # approver may approve some of them only.
    leg_accounts: tuple[str, ...] = ()
    # Two approvers: why this card needs them (None: one is enough) and who approved first.
    second_approval_reason: str | None = None
    first_approved_by: str | None = None
    first_approved_at: datetime | None = None
    # The alert's context, when it carried it.
    chart_url: str | None = None
    rsi: Decimal | None = None
    timeframe: str | None = None
    decided_by_name: str | None = None  # the decider's display name then (a Discord member's)

    @property
    def approvals_needed(self) -> int:
        return 1 if self.second_approval_reason is None else 2

    alert_id: str | None = None  # the alert's own id, as sent (untrusted text: escape it)
    alert_extras: tuple[tuple[str, str], ...] = ()  # exchange, subaccount, chart_url, as sent
    tick_size: Decimal | None = None  # the instrument's, for display; None when not known
    decision_reason: str | None = None  # the approver's reason for a reject (their words: escape it)
    # Why a card expired before its time (its quote drifted: approval_max_drift_pct); None otherwise.
    lapse_reason: str | None = None
    # While pending, what decays (approvals that decay): the quote's move from the alert's
    # price (quote - alert price, signed), in a trader's words, and the time left to decide.
    drift_price: Decimal | None = None
    drift_text: str | None = None  # "+266.0 (+0.50%) above the alert"
    time_left: timedelta | None = None
    # A bot on several accounts: its first leg's card lists every leg's line (the legs' order);
    # another leg posts no card of its own, `card_of` naming the signal whose card shows it.
    account_lines: tuple[AccountLine, ...] = ()
    card_of: int | None = None
