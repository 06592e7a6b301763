"""What the service layer stores and reads back through the repositories."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from trading.domain.config import BotConfig
from trading.domain.orders import OrderStatus
from trading.domain.plan import LegKind
from trading.domain.position import ClosedTrade
from trading.domain.signals import Signal, SignalState
from trading.domain.values import OrderSide, OrderType, PositionSide


@dataclass(frozen=True, slots=True)
class Bot:
    """A stored bot. `config` carries no secrets: webhook_key is the masked hint
    ("****abcd") and passphrase / signing_secret are None; the hashes are here instead."""

    id: int
    config: BotConfig
    webhook_key_hash: str
    webhook_key_hint: str  # last 4 characters, for display
    passphrase_hash: str | None = None
    signing_secret: str | None = None  # needed in clear to verify HMAC signatures
    paused: bool = False
    paused_reason: str | None = None
    needs_attention: bool = False
    attention_reason: str | None = None

    @property
    def name(self) -> str:
        return self.config.bot_name


@dataclass(frozen=True, slots=True)
class StateChange:
    state: SignalState
    at: datetime
    cause: str  # who or what: "webhook", "discord:<user id>", "api", "expiry", "engine", ...
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SignalEdits:
    """What an approver changed before approving."""

    quantity: Decimal | None = None
    order_type: OrderType | None = None
    limit_price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class NewSignal:
    """A signal to store with its first state change: what SignalRepository.add takes, as
    one item of add_many."""

    bot_id: int
    signal: Signal
    body_hash: str
    state: SignalState
    cause: str
    at: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DuplicateProbe:
    """An alert to look for an earlier copy of (find_duplicates): a signal of the same bot
    with the same alert id (ever), or with the same body hash received at or after `since`."""

    bot_id: int
    alert_id: str | None
    body_hash: str
    since: datetime


@dataclass(frozen=True, slots=True)
class StoredSignal:
    id: int
    bot_id: int
    bot_name: str
    signal: Signal
    state: SignalState
    created_at: datetime
    updated_at: datetime
    reason: str | None = None  # why it was ignored, refused or failed
    edits: SignalEdits | None = None
    history: tuple[StateChange, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderRecord:
    signal_id: int
    bot_id: int
    client_order_id: str
    leg_index: int
    leg_kind: LegKind
    position_side: PositionSide
    symbol: str
    side: OrderSide
    quantity: Decimal
    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reduce_only: bool = False
    status: OrderStatus = OrderStatus.NEW
    broker_order_id: str | None = None
    filled_quantity: Decimal = Decimal(0)
    average_fill_price: Decimal | None = None
    applied_quantity: Decimal = Decimal(0)  # how much of filled_quantity has been applied to the position
    applied_cost: Decimal = Decimal(0)  # sum of price x qty applied, to derive the next fill's price
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class TradeRecord:
    bot_id: int
    bot_name: str
    symbol: str
    side: PositionSide
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    realized_pnl: Decimal
    opened_at: datetime | None
    closed_at: datetime
    position_closed: bool
    signal_id: int | None = None
    client_order_id: str | None = None
    id: int | None = None
    account: str | None = None  # the account it was made on (None: stored before accounts)


def trade_of(
    closed: ClosedTrade,
    bot_id: int,
    bot_name: str,
    symbol: str,
    *,
    client_order_id: str,
    signal_id: int | None = None,
    account: str | None = None,
) -> TradeRecord:
    """The trade history row of a trade a fill closed."""
    return TradeRecord(
        bot_id=bot_id,
        bot_name=bot_name,
        symbol=symbol,
        side=closed.side,
        quantity=closed.quantity,
        entry_price=closed.entry_price,
        exit_price=closed.exit_price,
        realized_pnl=closed.realized_pnl,
        opened_at=closed.opened_at,
        closed_at=closed.closed_at,
        position_closed=closed.position_closed,
        signal_id=signal_id,
        client_order_id=client_order_id,
        account=account,
    )


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    signal_id: int
    requested_at: datetime
    expires_at: datetime
    channel_id: int | None = None
    message_id: int | None = None
    decision: Decision | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    edits: SignalEdits | None = None
    decided_by_name: str | None = None  # the decider's display name then (a Discord member's)
    edited_by: str | None = None
    # Above a bot's second-approval size or risk, the first of two approvers: recorded here
    # (so it survives a restart) while the card waits for a second, different one.
    first_approved_by: str | None = None
    first_approved_at: datetime | None = None
    reminded_at: datetime | None = None  # when the approvers were reminded (once, at half the wait)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str  # "discord:<user id> (<name>)", "api", "cli"
    action: str  # "approve", "reject", "edit", "close", "halt", ...
    target: str  # "signal:17", "bot:SA40_RSI_Bot", "all"
    allowed: bool
    detail: str = ""
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebhookLogEntry:
    received_at: datetime
    client_ip: str
    status: int
    outcome: str  # "accepted", "duplicate", "refused"
    reason: str | None
    body: str  # with the passphrase removed
    bot_id: int | None = None
    signal_id: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class WebhookLogFilter:
    """Which webhook-log rows to read (the web desk's Webhook log page): every field is optional."""

    bot_id: int | None = None
    status: int | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    before_id: int | None = None  # the next page: rows older than this one


@dataclass(frozen=True, slots=True)
class FillRecord:
    """A broker fill as stored, with the order it filled."""

    client_order_id: str
    fill_id: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    time: datetime


@dataclass(frozen=True, slots=True)
class DayRealized:
    """A bot's realized P&L over one UTC day (the realized_by_day table)."""

    bot_id: int
    day: datetime  # the day's UTC midnight
    realized: Decimal


@dataclass(frozen=True, slots=True)
class BotTradeTotals:
    bot_id: int
    trades: int
    wins: int
    losses: int
    realized: Decimal
    account: str | None = None  # the account the trades were made on (None: before accounts)


@dataclass(frozen=True, slots=True)
class ControlState:
    halted: bool = False
    halted_by: str | None = None
    halted_at: datetime | None = None
    reason: str | None = None
    # Accounts paused on their own (/pause-account): name -> why. Their legs' entries are
    # refused with the reason; the halt is apart from them.
    paused_accounts: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PaperAccountState:
    """The paper broker's book, kept in the database through the PaperLedger port."""

    account_id: str
    currency: str
    balance: Decimal
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # symbol -> (signed qty, avg)
