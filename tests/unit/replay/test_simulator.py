"""The replay's fills and exits, each against figures worked out by hand.

Every candle is an hour from T0; the instrument is SA40 (tick 0.5, multiplier 1). Levels
from percentages are put on the tick grid toward the entry, as the live desk does.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.unit.replay.helpers import SA40, alert, at, bot, candles, flat, rsi, run
from trading.domain.values import PositionSide
from trading.replay.simulator import IGNORED, INVALID, NO_CANDLE, REFUSED, UNFILLED, WRONG_TICKER, replay


def test_a_pyramid_of_three_entries_is_closed_by_the_target_at_the_target() -> None:
    # take_profit_pct 2: after 100 the target is 102; after 100 and 101 (average 100.5) it is
    # 102.51 -> 102.5 on the tick; after 100, 101, 102 (average 101) it is 103.02 -> 103.
    config = bot(allow_pyramiding=True, max_positions=3, take_profit_pct=2)
    bars = candles(
        (100, 100.5, 99.5, 100),
        (101, 101.5, 100.5, 101),  # high 101.5 stays under the first target, 102
        (101.5, 102, 101.5, 102),  # high 102 stays under the second target, 102.5
        (102, 103.5, 101.5, 103),  # reaches the third target, 103
        (103, 104, 102, 103),
    )
    alerts = [rsi("RSI_LONG_ENTRY", 100, 0), rsi("RSI_LONG_ENTRY", 101, 1), rsi("RSI_LONG_ENTRY", 102, 2)]
    result = run(config, alerts, bars)
    assert len(result.trades) == 1
    trade = result.trades[0]
    assert (trade.side, trade.quantity, trade.entry_price, trade.exit_price) == (PositionSide.LONG, 3, D(101), D(103))
    assert trade.pnl == D(6)  # (103 - 101) x 3
    assert trade.exit_reason == "take_profit"
    assert (trade.opened_at, trade.closed_at) == (at(0, 30), at(3))
    assert result.open_position is None and result.skipped == ()
    assert result.exposure == at(3) - at(0, 30)


def test_an_opposite_entry_closes_the_long_then_opens_the_short() -> None:
    config = bot(base_position_size=2)
    bars = candles(*flat(1, 100), (104, 105, 103, 104), (104, 105, 103, 104))
    result = run(config, [rsi("RSI_LONG_ENTRY", 100, 0), rsi("RSI_SHORT_ENTRY", 104, 1)], bars)
    [trade] = result.trades
    assert (trade.side, trade.quantity, trade.entry_price, trade.exit_price, trade.pnl) == (
        PositionSide.LONG,
        2,
        D(100),
        D(104),
        D(8),  # (104 - 100) x 2
    )
    assert trade.exit_reason == "reverse"
    pos = result.open_position
    assert pos is not None
    assert (pos.side, pos.quantity, pos.average_price, pos.mark_price, pos.unrealized_pnl) == (
        PositionSide.SHORT,
        2,
        D(104),
        D(104),
        D(0),
    )


def test_a_stop_gapped_through_closes_at_the_open_not_at_the_stop() -> None:
    config = bot(stop_loss_pct=2)  # the stop is 98
    bars = candles((100, 101, 99, 100), (97, 97.5, 96, 97), (97, 98, 96, 97))
    result = run(config, [rsi("RSI_LONG_ENTRY", 100, 0)], bars)
    [trade] = result.trades
    assert (trade.exit_price, trade.pnl, trade.exit_reason, trade.closed_at) == (D(97), D(-3), "stop_loss", at(1))


def test_a_short_stop_gapped_through_closes_at_the_open() -> None:
    config = bot(stop_loss_pct=2)  # a short at 100: the stop is 102
    bars = candles((100, 101, 99, 100), (103, 104, 102.5, 103), (103, 104, 102, 103))
    result = run(config, [rsi("RSI_SHORT_ENTRY", 100, 0)], bars)
    [trade] = result.trades
    assert (trade.side, trade.exit_price, trade.pnl, trade.exit_reason) == (
        PositionSide.SHORT,
        D(103),
        D(-3),
        "stop_loss",
    )


def test_a_candle_reaching_both_stop_and_target_closes_at_the_stop() -> None:
    config = bot(stop_loss_pct=2, take_profit_pct=2)  # stop 98, target 102
    bars = candles((100, 101, 99, 100), (100, 103, 97, 100), (100, 101, 99, 100))
    result = run(config, [rsi("RSI_LONG_ENTRY", 100, 0)], bars)
    [trade] = result.trades
    assert (trade.exit_price, trade.pnl, trade.exit_reason) == (D(98), D(-2), "stop_loss")


def test_the_entry_candle_itself_is_not_checked_for_the_stop() -> None:
    # The entry candle's low (95) is below the stop (98), but it may have come before the
    # entry; only candles after the entry are checked.
    config = bot(stop_loss_pct=2)
    bars = candles((100, 101, 95, 100), (100, 101, 99, 100))
    result = run(config, [rsi("RSI_LONG_ENTRY", 100, 0)], bars)
    assert result.trades == () and result.open_position is not None


def test_tp1_takes_its_percentage_off_at_the_alert_price() -> None:
    config = bot(base_position_size=4)
    bars = candles(*flat(1, 100), (102, 103, 101, 102), (102, 103, 101, 102))
    entry = alert(0, 30, ticker="SA40", action="buy", price="100", message="entry")
    tp1 = alert(1, 30, ticker="SA40", action="sell", price="102", message="tp1", **{"tp Close": "50"})
    result = run(config, [entry, tp1], bars)
    [trade] = result.trades
    assert (trade.quantity, trade.entry_price, trade.exit_price, trade.pnl, trade.exit_reason) == (
        2,
        D(100),
        D(102),
        D(4),  # (102 - 100) x 2
        "reduce",
    )
    pos = result.open_position
    assert pos is not None and (pos.quantity, pos.average_price) == (2, D(100))


def test_breakeven_moves_the_stop_to_the_average_entry_which_then_closes_flat() -> None:
    config = bot(stop_loss_pct=2)  # the stop starts at 98
    bars = candles(*flat(1, 100), (101, 102, 100.5, 101), (100.5, 101, 99.5, 100), (100, 101, 99, 100))
    entry = rsi("RSI_LONG_ENTRY", 100, 0)
    breakeven = alert(1, 30, ticker="SA40", action="sell", price="101", message="long breakeven")
    with_move = run(config, [entry, breakeven], bars)
    [trade] = with_move.trades
    assert (trade.exit_price, trade.pnl, trade.exit_reason, trade.closed_at) == (D(100), D(0), "stop_loss", at(2))
    # Without the breakeven alert the stop stays at 98, which no candle reaches.
    without = run(config, [entry], bars)
    assert without.trades == () and without.open_position is not None
    assert without.open_position.stop_loss == D(98)


def test_max_positions_refuses_a_fourth_entry_with_the_engines_reason() -> None:
    config = bot(allow_pyramiding=True, max_positions=3)
    bars = candles(*flat(5, 100))
    alerts = [rsi("RSI_LONG_ENTRY", 100, hour) for hour in range(4)]
    result = run(config, alerts, bars)
    [skipped] = result.skipped
    assert (skipped.outcome, skipped.action, skipped.time) == (IGNORED, "enter_long", at(3, 30))
    assert "already 3 of 3 entries (max_positions)" in skipped.reason
    assert result.open_position is not None and result.open_position.quantity == 3


def test_the_daily_loss_limit_refuses_entries_until_the_next_utc_day() -> None:
    config = bot(stop_loss_pct=2, max_daily_loss=3)
    bars = candles(*flat(1, 100), (97, 97.5, 96, 97), *flat(30, 97))
    alerts = [
        rsi("RSI_LONG_ENTRY", 100, 0),  # stopped out at the open of 01:00 for -3
        rsi("RSI_LONG_ENTRY", 97, 5),  # refused: -3 realized today, the limit is 3
        rsi("RSI_LONG_ENTRY", 97, 24),  # the next day: accepted
    ]
    result = run(config, alerts, bars)
    assert [t.pnl for t in result.trades] == [D(-3)]
    [refused] = result.skipped
    assert refused.outcome == REFUSED and refused.time == at(5, 30)
    assert refused.reason.startswith("daily loss limit reached: realized -3.0 today, limit 3")
    assert result.open_position is not None and result.open_position.average_price == D(97)


def test_market_fills_take_the_slippage_ticks_against_the_order() -> None:
    bars = candles(*flat(1, 100), (104, 105, 103, 104), (104, 105, 103, 104))
    alerts = [rsi("RSI_LONG_ENTRY", 100, 0), rsi("RSI_CLOSE_LONG", 104, 1)]
    [trade] = run(bot(), alerts, bars, slippage_ticks=2).trades
    # buys 2 x 0.5 higher, sells 2 x 0.5 lower
    assert (trade.entry_price, trade.exit_price, trade.pnl) == (D(101), D(103), D(2))


def test_an_alert_price_outside_its_candle_fills_at_the_candles_close() -> None:
    bars = candles((100, 101, 99, 100.5), (100, 101, 99, 100))
    result = run(bot(), [rsi("RSI_LONG_ENTRY", 110, 0)], bars)
    assert result.open_position is not None and result.open_position.average_price == D("100.5")


def test_the_slippage_check_refuses_an_entry_whose_candle_moved_too_far() -> None:
    bars = candles((100, 101, 99, 100.5), (100, 101, 99, 100))
    result = run(bot(max_slippage_pct="1"), [rsi("RSI_LONG_ENTRY", 110, 0)], bars)
    [refused] = result.skipped
    assert refused.outcome == REFUSED and refused.reason.startswith("price moved")


def test_a_limit_entry_fills_when_a_later_candle_trades_through_it() -> None:
    bars = candles(
        (100, 100.5, 99.5, 100),  # the alert's candle: 99.5 is below the limit, but not later
        (100, 100.5, 99, 100),  # touches 99, does not trade through
        (99.5, 100, 98.5, 99),  # trades through: filled at the limit
        (99, 104, 99, 104),
    )
    limit = alert(0, 30, ticker="SA40", action="buy", price="99", message="entry", type="limit")
    close = rsi("RSI_CLOSE_LONG", 104, 3)
    [trade] = run(bot(), [limit, close], bars).trades
    assert (trade.entry_price, trade.exit_price, trade.pnl, trade.opened_at) == (D(99), D(104), D(5), at(2))


def test_a_limit_buy_gapping_below_its_price_fills_at_the_open() -> None:
    bars = candles((100, 100.5, 99.5, 100), (98, 98.5, 97.5, 98), (98, 99, 97, 98))
    limit = alert(0, 30, ticker="SA40", action="buy", price="99", message="entry", type="limit")
    result = run(bot(), [limit], bars)
    assert result.open_position is not None and result.open_position.average_price == D(98)


def test_a_resting_limit_is_cancelled_by_the_next_alert() -> None:
    bars = candles(*flat(3, 100))
    limit = alert(0, 30, ticker="SA40", action="buy", price="90", message="entry", type="limit")
    result = run(bot(), [limit, rsi("RSI_SHORT_ENTRY", 100, 1)], bars)
    [unfilled] = result.skipped
    assert unfilled.outcome == UNFILLED and "the next alert came first" in unfilled.reason
    assert result.open_position is not None and result.open_position.side is PositionSide.SHORT


def test_unreadable_foreign_and_out_of_range_alerts_are_skipped_with_reasons() -> None:
    bars = candles(*flat(2, 100))
    alerts = [
        alert(0, 10, action="RSI_LONG_ENTRY", price="{{close}}"),
        alert(0, 20, action="RSI_LONG_ENTRY", price="100", ticker="NAS100"),
        alert(5, 0, action="RSI_LONG_ENTRY", price="100"),
        rsi("RSI_CLOSE_LONG", 100, 0, 40),
    ]
    result = run(bot(), alerts, bars)
    assert [(s.outcome, s.source) for s in result.skipped] == [
        (INVALID, "alert 0:10"),
        (WRONG_TICKER, "alert 0:20"),
        (IGNORED, "alert 0:40"),  # a close with nothing open
        (NO_CANDLE, "alert 5:00"),
    ]


def test_an_alert_at_the_close_of_the_last_candle_belongs_to_it() -> None:
    bars = candles(*flat(2, 100))
    result = run(bot(), [alert(2, 0, action="RSI_LONG_ENTRY", price="100")], bars)
    assert result.skipped == () and result.open_position is not None


def test_alerts_are_taken_in_time_order_whatever_the_file_order() -> None:
    bars = candles(*flat(1, 100), (104, 105, 103, 104), (104, 105, 103, 104))
    alerts = [rsi("RSI_CLOSE_LONG", 104, 1), rsi("RSI_LONG_ENTRY", 100, 0)]
    [trade] = run(bot(), alerts, bars).trades
    assert trade.pnl == D(4)


def test_the_same_inputs_give_the_same_result() -> None:
    config = bot(allow_pyramiding=True, max_positions=2, stop_loss_pct=1, take_profit_pct=1)
    bars = candles(*[(100 + i % 3, 102 + i % 3, 99 + i % 3, 101 + i % 3) for i in range(24)])
    alerts = [rsi("RSI_LONG_ENTRY" if h % 3 else "RSI_SHORT_ENTRY", 101 + h % 3, h) for h in range(20)]
    first, second = run(config, alerts, bars), run(config, list(alerts), list(bars))
    assert first == second and first.trades


def test_negative_slippage_and_a_single_candle_are_refused() -> None:
    bars = candles(*flat(2, 100))
    with pytest.raises(ValueError, match="must not be negative"):
        replay(bot(), SA40, [], bars, slippage_ticks=-1)
    with pytest.raises(ValueError, match="at least two candles"):
        replay(bot(), SA40, [], bars[:1])
