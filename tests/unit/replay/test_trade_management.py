"""Replay honours the trade-management fields of issue 29 with the live desk's rules."""

from __future__ import annotations

from tests.unit.replay.helpers import bot, candles, flat, rsi, run


def test_approve_entries_replays_as_approve_all_since_every_alert_counts_as_approved() -> None:
    bars = candles(*flat(1, 100), (104, 105, 103, 104), *flat(2, 104))
    alerts = [rsi("RSI_LONG_ENTRY", 100, 0), rsi("RSI_SHORT_ENTRY", 104, 1), rsi("RSI_CLOSE_SHORT", 104, 2)]
    every = run(bot(mode="approve", approve="all", base_position_size=2), alerts, bars)
    entries = run(bot(mode="approve", approve="entries", base_position_size=2), alerts, bars)
    assert entries.trades == every.trades and len(entries.trades) == 2
    assert entries.skipped == every.skipped == ()
