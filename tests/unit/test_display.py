"""Numbers as every face shows them: rounded once, for display, by one module."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from trading.domain import display
from trading.domain.plan import Leg, LegKind, Plan
from trading.domain.position import Fill, Position
from trading.domain.preview import preview
from trading.domain.values import OrderSide, PositionSide

T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)
TICK = Decimal("0.5")


def test_a_price_goes_to_the_places_of_the_tick() -> None:
    assert display.price(Decimal("53210.83333333333333333333333"), TICK) == "53,210.8"
    assert display.price(Decimal("53211.166666666667"), TICK) == "53,211.2"
    assert display.price(Decimal("53211"), TICK) == "53,211.0"
    assert display.price(Decimal("1.23456"), Decimal("0.25")) == "1.23"
    assert display.price(Decimal("53210.5"), Decimal(5)) == "53,210"  # half-even
    assert display.price(Decimal("53211"), TICK, grouped=False) == "53211.0"


def test_a_price_without_a_known_tick_is_shown_as_quoted() -> None:
    assert display.price(Decimal("53210.5")) == "53,210.5"
    assert display.price(Decimal("5.321E+4")) == "53,210"
    assert display.price(Decimal("0.0001")) == "0.0001"
    assert display.price(Decimal("53211.0")) == "53,211.0"
    assert display.price(Decimal("53210.83333333333333")) == "53,210.83333333"
    assert display.price(None) == "—"


def test_money_goes_to_the_currency_places_and_never_reads_minus_zero() -> None:
    assert display.money(Decimal("1234.5"), "ZAR") == "+1,234.50 ZAR"
    assert display.money(Decimal("-0.500000000001"), "ZAR") == "-0.50 ZAR"
    assert display.money(Decimal("-0.004"), "ZAR") == "0.00 ZAR"
    assert display.money(Decimal("1234.5"), "JPY") == "+1,234 JPY"
    assert display.money(Decimal("1.2345"), "KWD") == "+1.234 KWD"
    assert display.money(Decimal("12"), "ZAR", signed=False) == "12.00 ZAR"
    assert display.amount(Decimal("-1234.5"), "ZAR", grouped=False) == "-1234.50"
    huge = Decimal("12345678901234567890123456.123456789012")  # the widest a column holds
    assert display.money(huge, "ZAR") == "+12,345,678,901,234,567,890,123,456.12 ZAR"
    assert display.price(huge) == "12,345,678,901,234,567,890,123,456.12345679"


def test_an_amount_at_risk_is_positive() -> None:
    assert display.risk(Decimal("-2393.5"), "ZAR") == "2,393.50 ZAR"
    assert display.risk(Decimal("2393.5"), "ZAR") == "2,393.50 ZAR"
    assert display.risk(None, "ZAR") == "—"


def test_quantities_percentages_and_positions() -> None:
    assert display.quantity(1200) == "1,200"
    assert display.percent(Decimal("0.0366")) == "+0.04%"
    assert display.percent(Decimal("-1.5")) == "-1.50%"
    assert display.position("long", 3, Decimal("53210.8333333333"), TICK) == "long 3 @ 53,210.8"
    assert display.position(None, 0, None) == "flat"


def test_the_approval_preview_rounds_the_average_to_the_tick() -> None:
    held = Position.flat("SA40")
    held.apply_fill(Fill("f1", OrderSide.BUY, 1, Decimal("53211.5"), T0))
    plan = Plan(legs=(Leg(LegKind.ADD, OrderSide.BUY, 2, PositionSide.LONG),), summary="add 2 of 3")
    seen = preview(held, plan, Decimal("53210.5"), Decimal("53000"), TICK)
    assert (seen.before, seen.after) == ("long 1 @ 53,211.5", "long 3 @ 53,210.8")
