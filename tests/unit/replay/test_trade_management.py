"""Replay honours the trade-management fields of issue 29 with the live desk's rules."""

from __future__ import annotations

from decimal import Decimal as D

from tests.unit.replay.helpers import at, bot, candles, flat, rsi, run
from trading.replay.inputs import apply_overrides


def test_approval_fields_replay_as_approve_all_since_every_alert_counts_as_approved_at_once() -> None:
    bars = candles(*flat(1, 100), (104, 105, 103, 104), *flat(2, 104))
    alerts = [rsi("RSI_LONG_ENTRY", 100, 0), rsi("RSI_SHORT_ENTRY", 104, 1), rsi("RSI_CLOSE_SHORT", 104, 2)]
    every = run(bot(mode="approve", approve="all", base_position_size=2), alerts, bars)
    entries = run(bot(mode="approve", approve="entries", base_position_size=2), alerts, bars)
    decaying = run(
        bot(mode="approve", base_position_size=2, approval_max_drift_pct="0.1", approval_limit_offset_pct="0.1"),
        alerts,
        bars,
    )
    assert entries.trades == every.trades == decaying.trades and len(entries.trades) == 2
    assert entries.skipped == every.skipped == decaying.skipped == ()


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


def test_max_trades_per_day_refuses_the_third_entry_of_a_day_and_allows_it_the_next() -> None:
    config = bot(max_trades_per_day=2)
    bars = candles(*flat(30, 100))
    alerts = [
        rsi("RSI_LONG_ENTRY", 100, 1),
        rsi("RSI_CLOSE_LONG", 100, 2),
        rsi("RSI_LONG_ENTRY", 100, 3),
        rsi("RSI_CLOSE_LONG", 100, 4),
        rsi("RSI_LONG_ENTRY", 100, 5),  # the third of Monday
        rsi("RSI_LONG_ENTRY", 100, 25),  # Tuesday
    ]
    result = run(config, alerts, bars)
    [refused] = result.skipped
    assert (refused.time, refused.reason) == (at(5, 30), "2 of 2 trades today (max_trades_per_day)")
    assert len(result.trades) == 2 and result.open_position is not None


def test_max_open_risk_refuses_an_entry_whose_stop_risks_more() -> None:
    bars = candles(*flat(4, 100))
    alerts = [rsi("RSI_LONG_ENTRY", 100, 1)]
    # One contract at 100 with a 5% stop (95): 5.00 at risk.
    assert run(bot(stop_loss_pct=5, max_open_risk=5), alerts, bars).skipped == ()
    [refused] = run(bot(stop_loss_pct=5, max_open_risk=4), alerts, bars).skipped
    assert refused.reason.startswith("open risk on account Paper would be 5.00, above max_open_risk 4")


def test_flatten_on_daily_loss_closes_at_the_first_open_where_the_day_reaches_the_limit() -> None:
    config = bot(max_daily_loss=5, flatten_on_daily_loss=True)
    bars = candles(*flat(2, 100), (97, 98, 96, 97), (94, 95, 93, 94), *flat(3, 94))
    result = run(config, [rsi("RSI_LONG_ENTRY", 100, 0), rsi("RSI_LONG_ENTRY", 94, 5)], bars)
    # At 02:00 the open is 97 (-3, kept); at 03:00 it is 94 (-6): closed there; later entries refused.
    [trade] = result.trades
    assert (trade.exit_reason, trade.closed_at, trade.exit_price, trade.pnl) == ("daily_loss", at(3), D(94), D(-6))
    [refused] = result.skipped
    assert refused.reason.startswith("daily loss limit reached")


def test_a_trailing_stop_ratchets_with_each_candles_high_then_closes_at_the_trail() -> None:
    config = bot(trailing_stop_pct=5)
    bars = candles(*flat(1, 100), (105, 110, 104, 109), (109, 112, 106, 111), (110, 111, 105, 106), *flat(2, 106))
    result = run(config, [rsi("RSI_LONG_ENTRY", 100, 0)], bars)
    # Entry 100: trail 95. 01:00 high 110 -> 104.5; 02:00 high 112 -> 106.4 -> 106 (tick 0.5), its low 106
    # not below; 03:00 low 105 reaches 106: closed there.
    [trade] = result.trades
    assert (trade.exit_reason, trade.closed_at, trade.exit_price, trade.pnl) == ("stop_loss", at(3), D(106), D(6))


def test_replay_set_takes_windows_and_dates_as_text() -> None:
    changed = apply_overrides(
        bot(),
        {"trading_hours": "Mon-Fri 08:00-16:30; Sun 22:00-02:00", "closed_dates": "2026-12-25, 2027-01-01"},
    )
    assert changed.trading_hours == ("Mon-Fri 08:00-16:30", "Sun 22:00-02:00")
    assert [d.isoformat() for d in changed.closed_dates or ()] == ["2026-12-25", "2027-01-01"]
