"""Stop-loss / take-profit levels for an entry, and the pure check of a quote against them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from trading.domain.config import BotConfig
from trading.domain.levels import ExitKind, ExitTrigger, exit_trigger, levels_for_entry
from trading.domain.market import Quote
from trading.domain.position import Fill, Position
from trading.domain.values import PositionSide

D = Decimal
T0 = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT


def config(**overrides: Any) -> BotConfig:
    fields: dict[str, Any] = {"bot_name": "SA40_RSI_Bot", "symbol": "SA40", "webhook_key": "sa40_rsi_50849a3c"}
    fields.update(overrides)
    return BotConfig.model_validate(fields)


def test_long_levels_from_percentages_stop_below_target_above() -> None:
    cfg = config(stop_loss_pct=D("1.5"), take_profit_pct=D(3))
    assert levels_for_entry(LONG, D(1000), cfg, None, None) == (D(985), D(1030))


def test_short_levels_from_percentages_stop_above_target_below() -> None:
    cfg = config(stop_loss_pct=D("1.5"), take_profit_pct=D(3))
    assert levels_for_entry(SHORT, D(1000), cfg, None, None) == (D(1015), D(970))


def test_levels_keep_exact_decimals_without_a_tick() -> None:
    cfg = config(stop_loss_pct=D("1.5"))
    stop, target = levels_for_entry(LONG, D("53210.5"), cfg, None, None)
    assert stop == D("53210.5") * (1 - D("0.015"))
    assert target is None


def test_no_percentages_and_no_alert_levels_give_none() -> None:
    assert levels_for_entry(LONG, D(100), config(), None, None) == (None, None)


def test_the_alerts_own_levels_win_over_percentages() -> None:
    cfg = config(stop_loss_pct=D(1), take_profit_pct=D(2))
    assert levels_for_entry(LONG, D(1000), cfg, D(950), D("1100.25"), D("0.5")) == (D(950), D("1100.25"))


def test_one_alert_level_mixes_with_the_other_from_percentage() -> None:
    cfg = config(stop_loss_pct=D(1), take_profit_pct=D(2))
    assert levels_for_entry(SHORT, D(1000), cfg, D(1005), None) == (D(1005), D(980))


def test_tick_rounding_moves_levels_toward_the_entry_so_the_percentage_is_not_exceeded() -> None:
    cfg = config(stop_loss_pct=D("1.5"), take_profit_pct=D(3))
    # Long at 53210.5: raw stop 52412.3425 -> 52412.5 (up), raw target 54806.815 -> 54806.5 (down).
    assert levels_for_entry(LONG, D("53210.5"), cfg, None, None, D("0.5")) == (D("52412.5"), D("54806.5"))
    # Short: raw stop 54008.6575 -> 54008.5 (down), raw target 51614.185 -> 51614.5 (up).
    assert levels_for_entry(SHORT, D("53210.5"), cfg, None, None, D("0.5")) == (D("54008.5"), D("51614.5"))


def test_tick_rounding_never_puts_a_level_on_the_entry_itself() -> None:
    cfg = config(stop_loss_pct=D("0.01"), take_profit_pct=D("0.01"))
    # 0.01% of 100 is 0.01, well inside one tick of 0.5: the levels go one tick out instead.
    assert levels_for_entry(LONG, D(100), cfg, None, None, D("0.5")) == (D("99.5"), D("100.5"))


def test_short_target_beyond_100_percent_is_dropped_not_negative() -> None:
    cfg = config(take_profit_pct=D(150))
    assert levels_for_entry(SHORT, D(100), cfg, None, None) == (None, None)
    assert levels_for_entry(LONG, D(100), cfg, None, None) == (None, D(250))


@pytest.mark.parametrize("price", [D(0), D(-1)])
def test_non_positive_entry_price_is_refused(price: Decimal) -> None:
    with pytest.raises(ValueError, match=r"entry price .* must be positive"):
        levels_for_entry(LONG, price, config(stop_loss_pct=D(1)), None, None)


def test_non_positive_tick_is_refused() -> None:
    with pytest.raises(ValueError, match="tick size 0 must be positive"):
        levels_for_entry(LONG, D(100), config(), None, None, D(0))


def position(side: PositionSide, stop: str | None, target: str | None) -> Position:
    pos = Position.flat("SA40")
    pos.apply_fill(Fill("f1", side.opening_order_side, 1, D(100), T0))
    pos.stop_loss = D(stop) if stop is not None else None
    pos.take_profit = D(target) if target is not None else None
    return pos


def quote(bid: str, ask: str) -> Quote:
    return Quote("SA40", D(bid), D(ask), (D(bid) + D(ask)) / 2, T0)


def test_long_stop_hit_when_bid_reaches_it() -> None:
    pos = position(LONG, "95", "110")
    assert exit_trigger(pos, quote("95", "96")) == ExitTrigger(ExitKind.STOP_LOSS, D(95), D(95))
    assert exit_trigger(pos, quote("90", "96")) == ExitTrigger(ExitKind.STOP_LOSS, D(95), D(90))


def test_long_is_judged_on_the_bid_not_the_ask() -> None:
    pos = position(LONG, "95", "110")
    # The ask is through the target, the bid is not: selling would not get the target.
    assert exit_trigger(pos, quote("109.5", "110.5")) is None
    assert exit_trigger(pos, quote("95.5", "96")) is None


def test_long_target_hit_when_bid_reaches_it() -> None:
    pos = position(LONG, "95", "110")
    trig = exit_trigger(pos, quote("110", "110.5"))
    assert trig == ExitTrigger(ExitKind.TAKE_PROFIT, D(110), D(110))
    assert trig is not None and trig.kind == "take_profit"


def test_short_stop_hit_when_ask_reaches_it() -> None:
    pos = position(SHORT, "105", "90")
    assert exit_trigger(pos, quote("104.5", "105")) == ExitTrigger(ExitKind.STOP_LOSS, D(105), D(105))
    assert exit_trigger(pos, quote("105", "105.5")) == ExitTrigger(ExitKind.STOP_LOSS, D(105), D("105.5"))


def test_short_target_hit_when_ask_reaches_it() -> None:
    pos = position(SHORT, "105", "90")
    trig = exit_trigger(pos, quote("89.5", "90"))
    assert trig == ExitTrigger(ExitKind.TAKE_PROFIT, D(90), D(90))
    assert trig is not None and trig.kind == "take_profit"


def test_short_is_judged_on_the_ask_not_the_bid() -> None:
    pos = position(SHORT, "105", "90")
    assert exit_trigger(pos, quote("89", "90.5")) is None
    assert exit_trigger(pos, quote("105", "104.9")) is None  # crossed quote, ask below the stop


@pytest.mark.parametrize(("side", "stop", "target"), [(LONG, "95", "110"), (SHORT, "105", "90")])
@pytest.mark.parametrize(("bid", "ask"), [("99.5", "100"), ("100", "100.5"), ("95.5", "104.5"), ("96", "104")])
def test_nothing_triggers_inside_the_band(side: PositionSide, stop: str, target: str, bid: str, ask: str) -> None:
    assert exit_trigger(position(side, stop, target), quote(bid, ask)) is None


def test_a_position_without_levels_never_triggers() -> None:
    assert exit_trigger(position(LONG, None, None), quote("1", "2")) is None
    assert exit_trigger(position(SHORT, None, None), quote("1000", "1001")) is None


def test_only_the_set_level_triggers() -> None:
    assert exit_trigger(position(LONG, None, "110"), quote("50", "51")) is None
    assert exit_trigger(position(LONG, "95", None), quote("500", "501")) is None


def test_flat_position_never_triggers() -> None:
    pos = Position.flat("SA40")
    pos.stop_loss, pos.take_profit = D(95), D(110)  # stale levels on a flat position mean nothing
    assert exit_trigger(pos, quote("1", "2")) is None
    assert exit_trigger(pos, quote("500", "501")) is None


def test_empty_book_side_does_not_trigger_a_stop() -> None:
    assert exit_trigger(position(LONG, "95", "110"), quote("0", "101")) is None


def test_stop_is_reported_when_a_quote_hits_both_levels() -> None:
    # Levels set the wrong way round (target below stop): the protective exit is the one named.
    pos = position(LONG, "100", "90")
    trig = exit_trigger(pos, quote("95", "96"))
    assert trig is not None and trig.kind is ExitKind.STOP_LOSS
