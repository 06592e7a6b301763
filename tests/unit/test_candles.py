"""One-minute candles from the prices the desk sees (issue 30, item 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trading.domain.candles import Candle, CandleBuilder, candles_from_prices, missing_minutes
from trading.replay.inputs import candles_csv, read_candles

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minute: int, second: int = 0) -> datetime:
    return T0 + timedelta(minutes=minute, seconds=second)


def d(text: str) -> Decimal:
    return Decimal(text)


def test_candles_from_a_sequence_of_quotes_and_a_quiet_minute_has_none() -> None:
    quotes = [
        (at(0, 5), d("100")),  # minute 0 opens at 100
        (at(0, 20), d("103")),  # its high
        (at(0, 40), d("98.5")),  # its low
        (at(0, 59), d("101")),  # its close
        (at(1, 0), d("101.5")),  # minute 1: one quote is the whole candle
        # minute 2: no quote, so no candle
        (at(3, 10), d("99")),
        (at(3, 50), d("99")),  # the same price again changes nothing but the close
        (at(3, 55), d("100.5")),
    ]
    assert candles_from_prices(quotes) == [
        Candle(at(0), d("100"), d("103"), d("98.5"), d("101")),
        Candle(at(1), d("101.5"), d("101.5"), d("101.5"), d("101.5")),
        Candle(at(3), d("99"), d("100.5"), d("99"), d("100.5")),
    ]
    assert missing_minutes(candles_from_prices(quotes), at(0), at(3, 30)) == [at(2)]


def test_a_builder_hands_out_only_what_changed_and_keeps_one_minute_a_symbol() -> None:
    builder = CandleBuilder()
    builder.add("SA40", d("10"), at(0, 1))
    builder.add("US30", d("500"), at(0, 2))
    first = builder.take_changed()
    assert [(c.symbol, c.candle.close) for c in first] == [("SA40", d("10")), ("US30", d("500"))]
    assert builder.take_changed() == []  # nothing new
    builder.add("SA40", d("12"), at(0, 30))  # the same minute again: the whole candle is handed out
    builder.add("SA40", d("11"), at(1, 0))
    again = builder.take_changed()
    assert [c.candle for c in again] == [
        Candle(at(0), d("10"), d("12"), d("10"), d("12")),
        Candle(at(1), d("11"), d("11"), d("11"), d("11")),
    ]
    # Minute 0 of SA40 is complete and forgotten: a late price for it does not reopen it
    # (a partial candle would replace the stored one).
    builder.add("SA40", d("1"), at(0, 59))
    assert builder.take_changed() == []


def test_a_zero_or_missing_price_is_no_price() -> None:
    builder = CandleBuilder()
    builder.add("SA40", d("0"), at(0))
    builder.add("SA40", Decimal("NaN"), at(0))
    assert builder.take_changed() == []


def test_the_export_layout_is_what_replay_reads() -> None:
    candles = [
        Candle(at(0), d("75000.5"), d("75010"), d("74990"), d("75005")),
        Candle(at(1), d("75005"), d("75006"), d("75001.25"), d("75002")),
    ]
    text = candles_csv(candles)
    assert text.splitlines()[0] == "time,open,high,low,close"
    assert text.splitlines()[1] == "2026-03-02T09:00:00+00:00,75000.5,75010,74990,75005"
    assert read_candles(text) == candles


def test_a_builder_never_holds_more_than_its_bound_when_nothing_is_taken() -> None:
    builder = CandleBuilder(most=3)
    for minute in range(5):
        builder.add("SA40", d("10") + minute, at(minute))
    assert [c.candle.time for c in builder.take_changed()] == [at(2), at(3), at(4)]
