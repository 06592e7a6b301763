"""The caps, hand-computed: trades a day, the money at risk to the stops across an account,
and the daily loss that flattens."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trading.domain.caps import (
    OpenRisk,
    daily_loss_flatten,
    day_start,
    open_risk,
    open_risk_refusal,
    position_risk,
    trades_refusal,
)
from trading.domain.config import BotConfig, BotConfigError
from trading.domain.plan import Leg, LegKind, Plan
from trading.domain.position import Entry, Position
from trading.domain.values import OrderSide, PositionSide

D = Decimal
T = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def held(side: PositionSide, quantity: int, average: str, stop: str | None, multiplier: str = "1") -> Position:
    position = Position.from_entries(
        "SA40", side, [Entry("f1", quantity, D(average), T)], multiplier=D(multiplier), average_price=D(average)
    )
    position.stop_loss = D(stop) if stop is not None else None
    return position


def test_trades_a_day_say_how_many_of_how_many() -> None:
    assert trades_refusal(2, 3) is None
    assert trades_refusal(3, 3) == "3 of 3 trades today (max_trades_per_day)"
    assert trades_refusal(99, None) is None


def test_today_starts_at_midnight_in_the_bots_zone() -> None:
    # 23:30 UTC on the 6th is 01:30 on the 7th in Johannesburg: its day began at 22:00 UTC.
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert day_start(late, "Africa/Johannesburg") == datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
    assert day_start(late, "UTC") == datetime(2026, 12, 6, 0, 0, tzinfo=UTC)


def test_the_risk_of_a_position_is_to_its_stop_never_below_zero() -> None:
    assert position_risk(held(PositionSide.LONG, 2, "100", "95")) == D(10)  # (100 - 95) x 2
    assert position_risk(held(PositionSide.SHORT, 3, "100", "104", "2")) == D(24)  # (104 - 100) x 3 x 2
    assert position_risk(held(PositionSide.LONG, 2, "100", "101")) == D(0)  # the stop locks in a profit
    assert position_risk(held(PositionSide.LONG, 1, "100", None)) is None
    assert position_risk(Position.flat("SA40")) == D(0)


OPEN_2 = Plan(legs=(Leg(LegKind.OPEN, OrderSide.BUY, 2, PositionSide.LONG),), summary="open", new_stop_loss=D(97))


def test_the_account_sum_adds_the_entry_to_the_other_bots_positions() -> None:
    others = [("A", held(PositionSide.LONG, 2, "100", "95")), ("B", held(PositionSide.SHORT, 1, "50", "55"))]
    risk = open_risk("main", others, Position.flat("SA40"), OPEN_2, D(100))
    assert risk == OpenRisk("main", D(15), D(6))  # 10 + 5 now; the entry: (100 - 97) x 2
    assert open_risk_refusal(D(21), risk) is None
    assert open_risk_refusal(D(20), risk) == (
        "open risk on account main would be 21.00, above max_open_risk 20 (15.00 at risk now, this position 6.00)"
    )


def test_a_position_or_an_entry_without_a_stop_has_no_bound() -> None:
    naked = open_risk("main", [("A", held(PositionSide.LONG, 1, "100", None))], Position.flat("SA40"), OPEN_2, D(1))
    assert open_risk_refusal(D(1000), naked) == (
        "account main's money at risk has no bound: bot A holds long 1 without a stop (max_open_risk 1000)"
    )
    no_stop = Plan(legs=OPEN_2.legs, summary="open")
    assert open_risk_refusal(D(1000), open_risk("main", [], Position.flat("SA40"), no_stop, D(1))) == (
        "an entry without a stop has no bound on its risk (max_open_risk 1000 on account main)"
    )


def test_the_daily_loss_flattens_once_realized_and_open_reach_the_limit() -> None:
    assert daily_loss_flatten(D(100), True, D(-60), D(-39)) is None
    assert daily_loss_flatten(D(100), True, D(-60), D(-40)) == (
        "daily loss limit reached: -100.00 today (-60.00 realized, -40.00 open), limit 100; flattening"
    )
    assert daily_loss_flatten(D(100), False, D(-500), D(0)) is None
    assert daily_loss_flatten(None, True, D(-500), D(0)) is None


def test_flatten_on_daily_loss_needs_the_limit() -> None:
    base = {"bot_name": "B", "symbol": "SA40", "webhook_key": "key_12345678"}
    with pytest.raises(BotConfigError) as raised:
        BotConfig.parse({**base, "flatten_on_daily_loss": True})
    assert raised.value.errors == ["flatten_on_daily_loss: needs max_daily_loss (the loss at which the bot flattens)"]
    assert BotConfig.parse({**base, "flatten_on_daily_loss": True, "max_daily_loss": 100}).flatten_on_daily_loss
