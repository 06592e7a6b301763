"""The JSON API's answers, and those of the webhook and /health. Decimals are strings (no
float rounding of money), times ISO-8601 UTC, and never a secret (no key hashes, passphrases
or signing secrets).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, RootModel, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from trading.domain import quantities
from trading.domain.events import FeedEvent, Severity
from trading.domain.market import BrokerPosition
from trading.domain.orders import OrderStatus
from trading.domain.plan import LegKind
from trading.domain.position import Entry
from trading.domain.records import (
    ApprovalRecord,
    Bot,
    Decision,
    OrderRecord,
    SignalEdits,
    StateChange,
    StoredSignal,
    TradeRecord,
)
from trading.domain.signals import SignalSource, SignalState
from trading.domain.values import Mode, OrderSide, OrderType, PositionSide
from trading.domain.views import PositionView, SignalView
from trading.services.accounts import AccountStatus
from trading.services.actions import ActionResult


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:  # stored times are UTC; some databases hand them back naive
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# ISO-8601 UTC in the answer: Quart's JSON encoder would write a datetime as an HTTP date.
Time = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# A quantity is a JSON number, never a string (scripts read `"quantity": 1`; an exchange
# account's 0.01 is `0.01`): exact, as a quantity has at most 15 significant digits.
Quantity = Annotated[
    Decimal,
    PlainSerializer(quantities.json_number, return_type=int | float),  # int: 1 stays 1, not 1.0
    WithJsonSchema({"type": "number"}),
]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """The one shape of every error answer."""

    error: ErrorDetail


class BotOut(BaseModel):
    bot_name: str
    symbol: str
    tradingview_ticker: str
    broker_account: str = Field(description="the account the bot trades on: Herenya, Paper or an accounts file's")
    accounts: list[str] = Field(description="every account the bot trades on (one leg each), broker_account first")
    account_sizes: dict[str, Decimal] = Field(description="per account, what the bot's quantity is multiplied by")
    account_symbols: dict[str, str] = Field(description="per account, its symbol there when it differs")
    mode: Mode
    is_active: bool
    paused: bool
    paused_reason: str | None
    needs_attention: bool
    attention_reason: str | None
    webhook_key_hint: str = Field(description="the webhook key's last 4 characters, never the key")
    requires_passphrase: bool
    requires_signature: bool
    strategy_type: str
    timeframe: str
    base_position_size: Quantity
    max_positions: int
    allow_pyramiding: bool
    exit_on_opposite_signal: bool
    stop_loss_pct: Decimal | None
    take_profit_pct: Decimal | None
    approval_timeout_minutes: int
    max_signal_age_seconds: int
    max_slippage_pct: Decimal | None
    max_daily_loss: Decimal | None
    risk_per_trade_pct: Decimal | None
    second_approval_above: int | None
    second_approval_risk_above: Decimal | None
    order_timeout_seconds: int

    @classmethod
    def of(cls, b: Bot) -> BotOut:
        c = b.config
        return cls(
            bot_name=c.bot_name,
            symbol=c.symbol,
            tradingview_ticker=c.ticker,
            broker_account=c.broker_account,
            accounts=list(c.account_names),
            account_sizes=dict(c.account_sizes or {}),
            account_symbols=dict(c.account_symbols or {}),
            mode=c.mode,
            is_active=c.is_active,
            paused=b.paused,
            paused_reason=b.paused_reason,
            needs_attention=b.needs_attention,
            attention_reason=b.attention_reason,
            webhook_key_hint=b.webhook_key_hint,
            requires_passphrase=b.passphrase_hash is not None,
            requires_signature=bool(b.signing_secret),
            strategy_type=c.strategy_type,
            timeframe=c.timeframe,
            base_position_size=c.base_position_size,
            max_positions=c.max_positions,
            allow_pyramiding=c.allow_pyramiding,
            exit_on_opposite_signal=c.exit_on_opposite_signal,
            stop_loss_pct=c.stop_loss_pct,
            take_profit_pct=c.take_profit_pct,
            approval_timeout_minutes=c.approval_timeout_minutes,
            max_signal_age_seconds=c.max_signal_age_seconds,
            max_slippage_pct=c.max_slippage_pct,
            max_daily_loss=c.max_daily_loss,
            risk_per_trade_pct=c.risk_per_trade_pct,
            second_approval_above=c.second_approval_above,
            second_approval_risk_above=c.second_approval_risk_above,
            order_timeout_seconds=c.order_timeout_seconds,
        )


class BotsOut(BaseModel):
    bots: list[BotOut]


class AccountPositionOut(BaseModel):
    symbol: str
    side: PositionSide
    quantity: Quantity = Field(
        description="contracts (or the exchange's amount) held, always positive; the side says which way"
    )
    average_price: Decimal
    unrealized_pnl: Decimal

    @classmethod
    def of(cls, p: BrokerPosition) -> AccountPositionOut:
        side = PositionSide.LONG if p.quantity > 0 else PositionSide.SHORT
        return cls(
            symbol=p.symbol,
            side=side,
            quantity=abs(p.quantity),
            average_price=p.average_price,
            unrealized_pnl=p.unrealized_pnl,
        )


class AccountOut(BaseModel):
    name: str = Field(description="what bots name in broker_account")
    broker: str = Field(description='"herenya", "paper" or "ccxt"')
    source: str = Field(description='"settings" (Herenya, Paper: the HERENYA_* and PAPER_* settings) or "file"')
    currency: str | None
    reachable: bool | None = Field(description="whether the broker answered just now; null: not configured, not tried")
    balance: Decimal | None
    equity: Decimal | None
    positions: list[AccountPositionOut] = Field(description="the broker's open positions on the account")
    problem: str | None = Field(description="why it was not reached; never a secret")

    @classmethod
    def of(cls, s: AccountStatus) -> AccountOut:
        a = s.account
        return cls(
            name=s.summary.name,
            broker=s.summary.broker,
            source=s.summary.source,
            currency=s.currency,
            reachable=s.reachable,
            balance=a.balance if a is not None else None,
            equity=a.equity if a is not None else None,
            positions=[AccountPositionOut.of(p) for p in s.positions],
            problem=s.problem,
        )


class AccountsOut(BaseModel):
    accounts: list[AccountOut]


class EntryOut(BaseModel):
    quantity: Quantity
    price: Decimal
    time: Time

    @classmethod
    def of(cls, e: Entry) -> EntryOut:
        return cls(quantity=e.quantity, price=e.price, time=e.time)


class PositionOut(BaseModel):
    bot_name: str
    symbol: str
    side: PositionSide | None
    quantity: Quantity
    average_price: Decimal | None
    entries: list[EntryOut]
    max_positions: int
    stop_loss: Decimal | None
    take_profit: Decimal | None
    last_price: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal
    currency: str
    account: str = Field(description="the account it is held on")

    @classmethod
    def of(cls, p: PositionView) -> PositionOut:
        return cls(
            bot_name=p.bot_name,
            symbol=p.symbol,
            side=p.side,
            quantity=p.quantity,
            average_price=p.average_price,
            entries=[EntryOut.of(e) for e in p.entries],
            max_positions=p.max_positions,
            stop_loss=p.stop_loss,
            take_profit=p.take_profit,
            last_price=p.last_price,
            unrealized_pnl=p.unrealized_pnl,
            realized_pnl=p.realized_pnl,
            currency=p.currency,
            account=p.account,
        )


class PositionsOut(BaseModel):
    positions: list[PositionOut]


class TradeOut(BaseModel):
    id: int | None
    bot_name: str
    symbol: str
    side: PositionSide
    quantity: Quantity
    entry_price: Decimal
    exit_price: Decimal
    realized_pnl: Decimal
    opened_at: Time | None
    closed_at: Time
    position_closed: bool
    signal_id: int | None
    client_order_id: str | None
    account: str | None = Field(description="the account it was made on")

    @classmethod
    def of(cls, t: TradeRecord) -> TradeOut:
        return cls(
            id=t.id,
            bot_name=t.bot_name,
            symbol=t.symbol,
            side=t.side,
            quantity=t.quantity,
            entry_price=t.entry_price,
            exit_price=t.exit_price,
            realized_pnl=t.realized_pnl,
            opened_at=t.opened_at,
            closed_at=t.closed_at,
            position_closed=t.position_closed,
            signal_id=t.signal_id,
            client_order_id=t.client_order_id,
            account=t.account,
        )


class TradesOut(BaseModel):
    trades: list[TradeOut]


class EditsOut(BaseModel):
    quantity: Quantity | None
    order_type: OrderType | None
    limit_price: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None

    @classmethod
    def of(cls, e: SignalEdits | None) -> EditsOut | None:
        if e is None:
            return None
        return cls(
            quantity=e.quantity,
            order_type=e.order_type,
            limit_price=e.limit_price,
            stop_loss=e.stop_loss,
            take_profit=e.take_profit,
        )


class StateChangeOut(BaseModel):
    state: SignalState
    at: Time
    cause: str
    reason: str | None

    @classmethod
    def of(cls, c: StateChange) -> StateChangeOut:
        return cls(state=c.state, at=c.at, cause=c.cause, reason=c.reason)


def _signal_fields(s: StoredSignal) -> dict[str, Any]:
    sig = s.signal
    return {
        "id": s.id,
        "bot_name": s.bot_name,
        "action": sig.action.value,
        "source": sig.source,
        "state": s.state,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "reason": s.reason,
        "price": sig.price,
        "quantity": sig.quantity,
        "stop_loss": sig.stop_loss,
        "take_profit": sig.take_profit,
        "order_type": sig.order_type,
        "alert_time": sig.time,
        "ticker": sig.ticker,
        "alert_id": sig.alert_id,
        "message": sig.message,
        "account": sig.account,
        "edits": EditsOut.of(s.edits),
        "history": [StateChangeOut.of(c) for c in s.history],
    }


class SignalOut(BaseModel):
    id: int
    bot_name: str
    action: str
    source: SignalSource
    state: SignalState
    created_at: Time
    updated_at: Time
    reason: str | None
    price: Decimal
    quantity: Quantity | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    order_type: OrderType
    alert_time: Time | None
    ticker: str | None
    alert_id: str | None
    message: str | None
    account: str | None = Field(description="the account this signal is a leg on (null: the bot's one account)")
    edits: EditsOut | None
    history: list[StateChangeOut]

    @classmethod
    def of(cls, s: StoredSignal) -> SignalOut:
        return cls(**_signal_fields(s))


class SignalsOut(BaseModel):
    signals: list[SignalOut]


class OrderOut(BaseModel):
    client_order_id: str
    leg_index: int
    leg_kind: LegKind
    position_side: PositionSide
    symbol: str
    side: OrderSide
    quantity: Quantity
    type: OrderType
    limit_price: Decimal | None
    reduce_only: bool
    status: OrderStatus
    broker_order_id: str | None
    filled_quantity: Quantity
    average_fill_price: Decimal | None
    error: str | None
    created_at: Time | None
    updated_at: Time | None

    @classmethod
    def of(cls, o: OrderRecord) -> OrderOut:
        return cls(
            client_order_id=o.client_order_id,
            leg_index=o.leg_index,
            leg_kind=o.leg_kind,
            position_side=o.position_side,
            symbol=o.symbol,
            side=o.side,
            quantity=o.quantity,
            type=o.type,
            limit_price=o.limit_price,
            reduce_only=o.reduce_only,
            status=o.status,
            broker_order_id=o.broker_order_id,
            filled_quantity=o.filled_quantity,
            average_fill_price=o.average_fill_price,
            error=o.error,
            created_at=o.created_at,
            updated_at=o.updated_at,
        )


class ApprovalOut(BaseModel):
    requested_at: Time
    expires_at: Time
    decision: Decision | None
    decided_by: str | None
    decided_by_name: str | None = Field(default=None, description="the decider's display name then")
    decided_at: Time | None
    edits: EditsOut | None
    edited_by: str | None
    first_approved_by: str | None = Field(description="the first of two approvers, while a second one is awaited")
    first_approved_at: Time | None
    reminded_at: Time | None

    @classmethod
    def of(cls, a: ApprovalRecord | None) -> ApprovalOut | None:
        if a is None:
            return None
        return cls(
            requested_at=a.requested_at,
            expires_at=a.expires_at,
            decision=a.decision,
            decided_by=a.decided_by,
            decided_by_name=a.decided_by_name,
            decided_at=a.decided_at,
            edits=EditsOut.of(a.edits),
            edited_by=a.edited_by,
            first_approved_by=a.first_approved_by,
            first_approved_at=a.first_approved_at,
            reminded_at=a.reminded_at,
        )


class SignalDetailOut(SignalOut):
    """One signal with its state history, orders and approval."""

    filled_quantity: Quantity = Field(
        description="contracts its orders filled, every leg (`quantity` is what the alert asked; null: the bot's size)"
    )
    orders: list[OrderOut]
    approval: ApprovalOut | None

    @classmethod
    def of_view(cls, v: SignalView) -> SignalDetailOut:
        return cls(
            **_signal_fields(v.signal),
            filled_quantity=sum(o.filled_quantity for o in v.orders),
            orders=[OrderOut.of(o) for o in v.orders],
            approval=ApprovalOut.of(v.approval),
        )


class ActionResultOut(BaseModel):
    """What became of an action: ok, or why not (code) in one sentence (message)."""

    ok: bool
    code: str
    message: str
    signal: SignalOut | None

    @classmethod
    def of(cls, r: ActionResult) -> ActionResultOut:
        return cls(
            ok=r.ok, code=r.code, message=r.message, signal=SignalOut.of(r.signal) if r.signal is not None else None
        )


class NoSignalOut(RootModel[ErrorOut | ActionResultOut]):
    """No such signal: an id out of range is an error; one in range is the action's result."""


class NoBotOut(RootModel[ErrorOut | ActionResultOut]):
    """No such bot: a name no bot could have is an error; any other is the action's result."""


class RefusedOut(RootModel[ErrorOut | ActionResultOut]):
    """A body the API refuses names the field (an error); one the desk refuses (over the
    instrument's maximum, say) is the action's result with code "invalid"."""


class EventOut(BaseModel):
    seq: int
    kind: str
    at: Time
    severity: Severity
    bot_name: str | None
    signal_id: int | None
    text: str
    data: dict[str, Any] = Field(description="the event's own fields (decimals and times as text)")

    @classmethod
    def of(cls, e: FeedEvent) -> EventOut:
        return cls(
            seq=e.seq,
            kind=e.kind,
            at=e.at,
            severity=e.severity,
            bot_name=e.bot_name,
            signal_id=e.signal_id,
            text=e.text,
            data=e.data,
        )


class EventsOut(BaseModel):
    events: list[EventOut]
    last: int


# ---- outside /api: the webhook and /health, documented only


class AcceptedOut(BaseModel):
    """Stored (accepted) or a repeat of a stored alert (duplicate)."""

    status: Literal["accepted", "duplicate"]
    signal_id: int
    mode: Mode | SkipJsonSchema[None] = None
    reason: str | SkipJsonSchema[None] = Field(
        default=None, description='a duplicate: why ("same id "X"", "same body within 15 minutes")'
    )
    message: str | SkipJsonSchema[None] = Field(default=None, description="a duplicate: what it repeats, in words")


class ComponentOut(BaseModel):
    ok: bool
    detail: str


class ClusterOut(BaseModel):
    process: str  # host:pid
    leader: bool
    members: int
    led_by: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "down"]
    down: list[str]
    # Only for a signed-in person or an API token: a stranger learns the status alone.
    components: dict[str, ComponentOut] | SkipJsonSchema[None] = None
    # The same: this process, whether it leads, the live processes, the leader's name.
    cluster: ClusterOut | SkipJsonSchema[None] = None
