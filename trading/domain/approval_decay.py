"""Approvals that decay: a card whose market has moved too far expires itself
(`approval_max_drift_pct`), and an approved entry is sent as a marketable limit at most
`approval_limit_offset_pct` from the alert's price, so a late approval never buys the top."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from trading.domain import display
from trading.domain.values import OrderSide

_HUNDRED = Decimal(100)


def timeout_reason(expires_at: datetime) -> str:
    """Why a card expired when nobody decided in time (the usual lapse, which the card's
    own expiry time already says)."""
    return f"no decision by {expires_at:%Y-%m-%d %H:%M:%S} UTC"


def drift_pct(alert_price: Decimal, quote_price: Decimal) -> Decimal:
    """How far the quote has moved from the alert's price, in percent (unsigned)."""
    return abs(quote_price - alert_price) / alert_price * _HUNDRED


def drift_expiry(
    limit: Decimal | None, alert_price: Decimal, quote_price: Decimal, tick: Decimal | None = None
) -> str | None:
    """Why a pending card expires now: the quote an entry would pay has moved further than
    `limit` percent from the alert's price; None while it has not (or no limit is set)."""
    if limit is None or alert_price <= 0:
        return None
    moved = drift_pct(alert_price, quote_price)
    if moved <= limit:
        return None
    return (
        f"the price moved {moved:.2f}% from the alert's {display.price(alert_price, tick)} "
        f"to {display.price(quote_price, tick)} (approval_max_drift_pct {limit})"
    )


def capped_limit(offset_pct: Decimal, side: OrderSide, alert_price: Decimal, tick: Decimal | None) -> Decimal:
    """The limit of an approved entry: `offset_pct` beyond the alert's price in the order's
    direction (marketable: a buy above, a sell below), to the tick toward the alert's price,
    so it is never further than asked."""
    raw = alert_price * (1 + side.sign * offset_pct / _HUNDRED)
    if tick is None or tick <= 0:
        return raw
    rounding = ROUND_FLOOR if side is OrderSide.BUY else ROUND_CEILING
    return (raw / tick).to_integral_value(rounding=rounding) * tick


def drift_words(alert_price: Decimal, quote_price: Decimal | None, tick: Decimal | None = None) -> str | None:
    """Where the quote stands against the alert's price, signed, in price and percent, as a
    trader says it: "+12.5 (+0.02%) above the alert", "at the alert's price"; None without a
    quote."""
    if quote_price is None or alert_price <= 0:
        return None
    move = quote_price - alert_price
    if move == 0:
        return "at the alert's price"
    pct = display.percent(move / alert_price * _HUNDRED)
    sign = "+" if move > 0 else "-"
    where = "above" if move > 0 else "below"
    return f"{sign}{display.price(abs(move), tick)} ({pct}) {where} the alert"


def time_left_words(left: timedelta, *, to_the_minute: bool = False) -> str:
    """A card's countdown: "4m 05s left", "1h 02m left", "expiring" once it is due.
    `to_the_minute`: "4m left", "under 1m left" (a text that changes once a minute, for a
    card that is edited to show it)."""
    seconds = int(left.total_seconds())
    if seconds <= 0:
        return "expiring"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m left"
    if to_the_minute:
        return f"{minutes}m left" if minutes else "under 1m left"
    return f"{minutes}m {seconds:02d}s left"
