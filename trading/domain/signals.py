"""A normalized signal (what an alert asks for) and the life of a stored signal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from trading.domain.values import OrderType, PositionSide


class AlertShape(StrEnum):
    RSI = "rsi"  # {"action": "RSI_LONG_ENTRY", ...}
    ORDER_MESSAGE = "order_message"  # {"action": "buy", "message": "entry", ...}
    STRATEGY = "strategy"  # {{strategy.order.action}} / {{strategy.market_position}} ...


class SignalSource(StrEnum):
    """Who made the signal: an alert, a person's own order, the stop/target monitor, a command."""

    WEBHOOK = "webhook"
    MANUAL = "manual"  # a free-form order (/order, POST /api/orders)
    MONITOR = "monitor"  # a stop or target hit
    COMMAND = "command"  # /close and its kind


class SignalAction(StrEnum):
    ENTER_LONG = "enter_long"
    ENTER_SHORT = "enter_short"
    CLOSE_LONG = "close_long"
    CLOSE_SHORT = "close_short"
    CLOSE = "close"  # close whatever is open ("exit")
    REDUCE = "reduce"  # take reduce_pct percent (tpN) or `quantity` contracts off
    BREAKEVEN = "breakeven"  # move the stop to the average entry (optionally reduce first)

    @property
    def entry_side(self) -> PositionSide | None:
        if self is SignalAction.ENTER_LONG:
            return PositionSide.LONG
        if self is SignalAction.ENTER_SHORT:
            return PositionSide.SHORT
        return None

    @property
    def is_entry(self) -> bool:
        return self.entry_side is not None

    @staticmethod
    def enter(side: PositionSide) -> SignalAction:
        return SignalAction.ENTER_LONG if side is PositionSide.LONG else SignalAction.ENTER_SHORT


@dataclass(frozen=True, slots=True)
class Signal:
    """What one alert asks for, independent of the shape it came in."""

    action: SignalAction
    price: Decimal
    shape: AlertShape
    time: datetime | None = None
    ticker: str | None = None
    quantity: Decimal | None = None  # the alert's own quantity, when it carries one
    reduce_pct: Decimal | None = None  # for REDUCE / BREAKEVEN from "tpN" with "tp Close"
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    alert_id: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    message: str | None = None  # the raw action / message word, for display
    rsi: Decimal | None = None
    # Strategy-placeholder alerts state the position the strategy believes it holds
    # after this order (signed contracts); compared with ours to spot a missed alert.
    target_position: Decimal | None = None
    extras: dict[str, str] = field(default_factory=dict)
    source: SignalSource = SignalSource.WEBHOOK
    # An entry's own trailing stop, in percent (`"trailing_stop"`): wins over the bot's trail.
    trailing_stop: Decimal | None = None
    # The accounts the alert asks for ("accounts": ["prop"]), a subset of the bot's; None: all.
    accounts: tuple[str, ...] | None = None
    # The account this signal is a leg on (trading/domain/legs.py); None: the bot's only one.
    account: str | None = None


class SignalState(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELED = "canceled"  # its resting order was cancelled by a person
    IGNORED = "ignored"
    REFUSED = "refused"

    @property
    def is_final(self) -> bool:
        return not SIGNAL_TRANSITIONS[self]


SIGNAL_TRANSITIONS: dict[SignalState, frozenset[SignalState]] = {
    SignalState.RECEIVED: frozenset(
        {SignalState.QUEUED, SignalState.PENDING_APPROVAL, SignalState.IGNORED, SignalState.REFUSED}
    ),
    SignalState.PENDING_APPROVAL: frozenset(
        {SignalState.APPROVED, SignalState.REJECTED, SignalState.EXPIRED, SignalState.REFUSED}
    ),
    SignalState.APPROVED: frozenset({SignalState.QUEUED, SignalState.REFUSED, SignalState.EXPIRED}),
    SignalState.QUEUED: frozenset(
        {SignalState.EXECUTING, SignalState.REFUSED, SignalState.IGNORED, SignalState.FAILED}
    ),
    # expired: its resting limit order reached the bot's order_timeout_seconds and was
    # cancelled; canceled: a person cancelled it. Whatever had filled stays in the position.
    SignalState.EXECUTING: frozenset(
        {
            SignalState.EXECUTED,
            SignalState.FAILED,
            SignalState.REFUSED,
            SignalState.IGNORED,
            SignalState.EXPIRED,
            SignalState.CANCELED,
        }
    ),
    SignalState.EXECUTED: frozenset(),
    SignalState.FAILED: frozenset(),
    SignalState.REJECTED: frozenset(),
    SignalState.EXPIRED: frozenset(),
    SignalState.CANCELED: frozenset(),
    SignalState.IGNORED: frozenset(),
    SignalState.REFUSED: frozenset(),
}


_SOURCES = {
    target: frozenset(source for source, targets in SIGNAL_TRANSITIONS.items() if target in targets)
    for target in SignalState
}


class IllegalSignalTransition(ValueError):
    def __init__(self, current: SignalState, target: SignalState) -> None:
        super().__init__(f"a signal cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


def check_signal_transition(current: SignalState, target: SignalState) -> None:
    if target not in SIGNAL_TRANSITIONS[current]:
        raise IllegalSignalTransition(current, target)


def signal_sources(target: SignalState) -> frozenset[SignalState]:
    """The states a signal may move to `target` from."""
    return _SOURCES[target]


def check_signal_path(current: SignalState, targets: Sequence[SignalState]) -> None:
    """Every step of a move through `targets` is allowed, the first from `current`."""
    if not targets:
        raise ValueError("a move needs at least one step")
    for target in targets:
        check_signal_transition(current, target)
        current = target
