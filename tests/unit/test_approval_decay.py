"""Approvals that decay, hand-computed: the drift that expires a card, the capped limit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from trading.domain.approval_decay import capped_limit, drift_expiry, drift_words, time_left_words
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


def test_the_drift_is_told_signed_in_price_and_percent() -> None:
    # 53,476.5 - 53,210.5 = +266.0, / 53,210.5 = +0.4999% -> +0.50%; 99.4 - 100 = -0.6, -0.60%.
    assert drift_words(D("53210.5"), D("53476.5"), D("0.5")) == "+266.0 (+0.50%) above the alert"
    assert drift_words(D("100"), D("99.4"), None) == "-0.6 (-0.60%) below the alert"
    assert drift_words(D("100"), D("100.00"), None) == "at the alert's price"
    assert drift_words(D("100"), None, None) is None


def test_the_countdown_counts_minutes_and_seconds_then_hours() -> None:
    assert time_left_words(timedelta(minutes=4, seconds=5)) == "4m 05s left"
    assert time_left_words(timedelta(seconds=59, microseconds=900)) == "0m 59s left"
    assert time_left_words(timedelta(hours=1, minutes=2, seconds=30)) == "1h 02m left"
    assert time_left_words(timedelta(0)) == "expiring"
    assert time_left_words(timedelta(seconds=-3)) == "expiring"
    # On a Discord card, edited to show it: a text that changes once a minute.
    assert time_left_words(timedelta(minutes=4, seconds=59), to_the_minute=True) == "4m left"
    assert time_left_words(timedelta(seconds=59), to_the_minute=True) == "under 1m left"
