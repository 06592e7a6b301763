"""Trailing stops, hand-computed over a path of prices: the stop at each step, never looser."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trading.domain.alerts import AlertError, parse_alert
from trading.domain.config import BotConfig, BotConfigError
from trading.domain.levels import set_levels_after_fill
from trading.domain.position import Entry, Position
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.trailing import trailed
from trading.domain.values import PositionSide

D = Decimal
T = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
TICK = D("0.5")


def config(**fields: object) -> BotConfig:
    return BotConfig.parse({"bot_name": "B", "symbol": "SA40", "webhook_key": "key_12345678", **fields})


def held(side: PositionSide, average: str, stop: str | None = None) -> Position:
    position = Position.from_entries("SA40", side, [Entry("f1", 1, D(average), T)], average_price=D(average))
    position.stop_loss = D(stop) if stop is not None else None
    return position


def walk(bot: BotConfig, position: Position, prices: list[str]) -> list[Decimal | None]:
    """The stop after each price of the path, as the monitor's passes leave it."""
    stops = []
    for price in prices:
        level = trailed(bot, position, D(price), TICK)
        if level is not None:
            position.stop_loss = level
        stops.append(position.stop_loss)
    return stops


def test_a_long_trail_of_5_percent_follows_the_best_price_and_never_loosens() -> None:
    # 5% under each price, down to the 0.5 tick: 104 -> 98.8 -> 98.5; 110 -> 104.5; 121 -> 114.95 -> 114.5.
    path = ["104", "102", "110", "108", "121", "95"]
    assert walk(config(trailing_stop_pct=5), held(PositionSide.LONG, "100", "95"), path) == [
        D("98.5"),
        D("98.5"),  # 102 would trail at 96.9: looser, kept
        D("104.5"),
        D("104.5"),
        D("114.5"),
        D("114.5"),  # the fall does not move it; the monitor closes at the stop
    ]


def test_a_short_trail_by_distance_rounds_up_away_from_the_price() -> None:
    # 3.2 above each price, up to the 0.5 tick: 98 -> 101.2 -> 101.5; 95.3 -> 98.5; 96 -> 99.2 (looser: kept).
    path = ["98", "95.3", "96", "90"]
    assert walk(config(trailing_stop_distance="3.2"), held(PositionSide.SHORT, "100"), path) == [
        D("101.5"),
        D("98.5"),
        D("98.5"),
        D("93.5"),
    ]


def test_the_trail_starts_only_once_the_trade_is_far_enough_in_profit() -> None:
    bot = config(trailing_stop_pct=2, trailing_activation_pct=3)
    # 102.9 is 2.9% up: not yet; 103 is 3%: 100.94 -> 100.5; 101 afterwards: kept (already active, and looser).
    assert walk(bot, held(PositionSide.LONG, "100"), ["101", "102.9", "103", "101", "105"]) == [
        None,
        None,
        D("100.5"),
        D("100.5"),
        D("102.5"),  # 105 x 0.98 = 102.9 -> 102.5
    ]


def test_the_entry_starts_the_trail_and_an_add_never_loosens_it() -> None:
    bot = config(trailing_stop_pct=5, stop_loss_pct=10, allow_pyramiding=True, max_positions=2)
    entry = Signal(SignalAction.ENTER_LONG, D(100), AlertShape.RSI)
    position = held(PositionSide.LONG, "100")
    assert set_levels_after_fill(position, entry, bot, None, TICK)
    assert position.stop_loss == D(95)  # the trail (95) is tighter than the 10% stop (90)
    position.stop_loss = D("104.5")  # the trail moved up meanwhile
    position.entries.append(Entry("f2", 1, D(110), T))
    position.average_price = D(105)
    set_levels_after_fill(position, entry, bot, None, TICK)
    assert position.stop_loss == D("104.5")  # 105's own levels (94.5, 99.5) would loosen it


def test_one_trail_at_a_time_and_activation_needs_a_trail() -> None:
    with pytest.raises(BotConfigError) as both:
        config(trailing_stop_pct=1, trailing_stop_distance=5)
    assert both.value.errors == ["trailing_stop_distance: give trailing_stop_pct or trailing_stop_distance, not both"]
    with pytest.raises(BotConfigError) as alone:
        config(trailing_activation_pct=1)
    assert alone.value.errors == ["trailing_activation_pct: needs trailing_stop_pct or trailing_stop_distance"]


def test_an_alerts_trailing_stop_is_kept_by_the_position_and_wins_over_the_bots() -> None:
    signal = parse_alert(b'{"action": "RSI_LONG_ENTRY", "price": 100, "trailing_stop": 2}', None)
    assert signal.trailing_stop == D(2)
    position = held(PositionSide.LONG, "100")
    assert set_levels_after_fill(position, signal, config(), None, TICK)  # a bot without a trail of its own
    assert (position.trailing_pct, position.stop_loss) == (D(2), D(98))
    assert walk(config(trailing_stop_pct=5), position, ["110"]) == [D("107.5")]  # 2% under 110: 107.8 -> 107.5


def test_an_alerts_trailing_stop_must_be_a_percentage_below_100() -> None:
    with pytest.raises(AlertError, match=r"trailing_stop.* is 100; a trailing stop is a percentage below 100"):
        parse_alert(b'{"action": "RSI_LONG_ENTRY", "price": 100, "trailing_stop": 100}', None)
