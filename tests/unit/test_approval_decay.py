"""Approvals that decay, hand-computed: the drift that expires a card, the capped limit."""

from __future__ import annotations

from decimal import Decimal

from trading.domain.approval_decay import capped_limit, drift_expiry
from trading.domain.values import OrderSide

D = Decimal


def test_a_card_expires_once_the_quote_has_moved_further_than_the_limit() -> None:
    # 53,210.5 -> 53,476.5 is +0.4999%: kept; -> 53,477.5 is +0.5018%: expired.
    assert drift_expiry(D("0.5"), D("53210.5"), D("53476.5"), D("0.5")) is None
    assert drift_expiry(D("0.5"), D("53210.5"), D("53477.5"), D("0.5")) == (
        "the price moved 0.50% from the alert's 53,210.5 to 53,477.5 (approval_max_drift_pct 0.5)"
    )
    assert drift_expiry(D("0.5"), D("100"), D("99.4"), None) is not None  # either way
    assert drift_expiry(None, D("100"), D("200"), None) is None


def test_the_capped_limit_is_marketable_and_never_further_than_asked() -> None:
    # A buy 0.1% above 53,210.5 is 53,263.7105, down to the 0.5 tick; a sell 0.1% below is
    # 53,157.2895, up to the tick.
    assert capped_limit(D("0.1"), OrderSide.BUY, D("53210.5"), D("0.5")) == D("53263.5")
    assert capped_limit(D("0.1"), OrderSide.SELL, D("53210.5"), D("0.5")) == D("53157.5")
    assert capped_limit(D(0), OrderSide.BUY, D("100"), None) == D(100)
