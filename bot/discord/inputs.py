"""What users type, parsed into domain values with errors worded for an ephemeral reply."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from trading.domain.records import SignalEdits
from trading.domain.typed import TypedValueError, shown, typed_price, typed_quantity
from trading.domain.values import OrderType

PERIODS = ("today", "week", "month", "all")


class InputError(ValueError):
    """A value a user typed that cannot be used; the message says which and why."""


def _decimal(label: str, text: str) -> Decimal | None:
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"{label} must be a number, not {shown(text)}.") from None
    if not value.is_finite() or value <= 0:
        raise InputError(f"{label} must be a positive number, not {shown(text)}.")
    try:
        return typed_price(label, text)  # the bounds every face of the desk has (1e999999 is a number too)
    except TypedValueError as e:
        raise InputError(f"{e}.") from None


def parse_price(label: str, text: str | None) -> Decimal | None:
    """A price a user typed (None or empty: none given)."""
    return _decimal(label, text) if text is not None else None


def parse_edits(quantity: str, order_type: str, limit_price: str, stop_loss: str, take_profit: str) -> SignalEdits:
    """The Edit modal's five boxes as SignalEdits. An empty box leaves that value as the
    card has it (SignalEdits cannot say "remove the stop", so empty never means that)."""
    qty: int | None = None
    q = quantity.strip()
    if q:
        try:
            qty = typed_quantity("Quantity", q)
        except TypedValueError as e:
            raise InputError(f"{e}.") from None
    kind: OrderType | None = None
    t = order_type.strip().lower()
    if t:
        try:
            kind = OrderType(t)
        except ValueError:
            raise InputError(f"Order type must be 'market' or 'limit', not {shown(order_type.strip())}.") from None
    limit = _decimal("Limit price", limit_price)
    stop = _decimal("Stop", stop_loss)
    target = _decimal("Target", take_profit)
    if kind is OrderType.LIMIT and limit is None:
        raise InputError("A limit order needs a limit price.")
    if kind is OrderType.MARKET:
        # A market order pays the quote; a limit price left in the box would be misleading.
        limit = None
    return SignalEdits(quantity=qty, order_type=kind, limit_price=limit, stop_loss=stop, take_profit=target)


def period_start(period: str, now: datetime) -> tuple[datetime | None, str]:
    """Where a /pnl period begins (UTC calendar boundaries) and how to name it."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "today":
        return midnight, "today"
    if period == "week":
        return midnight - timedelta(days=midnight.weekday()), "this week"
    if period == "month":
        return midnight.replace(day=1), "this month"
    if period == "all":
        return None, "all time"
    raise InputError(f"Period must be one of {', '.join(PERIODS)}, not {period!r}.")
