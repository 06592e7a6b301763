"""Replay honours the trade-management fields of issue 29 with the live desk's rules."""

from __future__ import annotations

from decimal import Decimal as D

from tests.unit.replay.helpers import at, bot, candles, flat, rsi, run


def test_approve_entries_replays_as_approve_all_since_every_alert_counts_as_approved() -> None:
    bars = candles(*flat(1, 100), (104, 105, 103, 104), *flat(2, 104))
    alerts = [rsi("RSI_LONG_ENTRY", 100, 0), rsi("RSI_SHORT_ENTRY", 104, 1), rsi("RSI_CLOSE_SHORT", 104, 2)]
    every = run(bot(mode="approve", approve="all", base_position_size=2), alerts, bars)
    entries = run(bot(mode="approve", approve="entries", base_position_size=2), alerts, bars)
    assert entries.trades == every.trades and len(entries.trades) == 2
    assert entries.skipped == every.skipped == ()


def test_trading_windows_refuse_entries_outside_and_flatten_at_the_first_candle_after_the_end() -> None:
    # T0 is Monday 5 January 2026, 00:00 UTC; hourly candles.
    config = bot(trading_hours=["Mon-Fri 08:00-16:30"], flatten_at_window_end=True)
    bars = candles(*flat(17, 100), (103, 104, 102, 103), *flat(2, 103))
    alerts = [rsi("RSI_LONG_ENTRY", 100, 5), rsi("RSI_LONG_ENTRY", 100, 9)]
    result = run(config, alerts, bars)
    [refused] = result.skipped
    assert (refused.outcome, refused.time, refused.reason) == (
        "refused",
        at(5, 30),
        "outside trading hours Mon-Fri 08:00-16:30 UTC",
    )
    # Held through the 16:00 candle (16:00 is inside); the 17:00 candle starts outside: closed at its open.
    [trade] = result.trades
    assert (trade.exit_reason, trade.closed_at, trade.exit_price, trade.pnl) == ("window_end", at(17), D(103), D(3))
    assert result.open_position is None

    kept = run(bot(trading_hours=["Mon-Fri 08:00-16:30"]), alerts, bars)
    assert kept.trades == () and kept.open_position is not None
