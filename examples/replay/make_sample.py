"""Writes the sample replay data set next to this file: candles.csv and alerts.csv.

Deterministic (a seeded random walk), so running it again gives the same bytes; a test checks
that the committed files are what this script writes. Usage:

    .venv/bin/python examples/replay/make_sample.py [OUTPUT_DIR]

The candles are 300 hourly SA40 bars in TradingView's chart-data export layout
(time,open,high,low,close,Volume,RSI, time in Unix seconds). The alerts are what an RSI(6)
strategy with 80/25 thresholds on those bars would send, in TradingView's alert-log export
layout (Alert ID,Ticker,Name,Description,Time, the JSON message in Description): an entry
when RSI crosses under the oversold / over the overbought line (pyramiding while it stays
there), a close when it crosses back through 50, plus an "order + message" tp1 and a
breakeven, one alert for another ticker and one that TradingView sent with an unreplaced
placeholder, so the report shows both kinds of skipped alerts.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

SEED = 19
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
BARS = 300
TICK = Decimal("0.5")
RSI_LENGTH = 6
OVERSOLD, OVERBOUGHT = Decimal(25), Decimal(80)


def candles(rng: random.Random) -> list[tuple[datetime, Decimal, Decimal, Decimal, Decimal, int]]:
    out = []
    close_ticks = 150_000  # 75000.0 in ticks of 0.5
    for i in range(BARS):
        open_ticks = close_ticks + (rng.choice((-2, -1, 0, 0, 1, 2)) if i else 0)
        drift = rng.gauss(0, 120)
        close_ticks = max(1000, int(open_ticks + drift))
        high_ticks = max(open_ticks, close_ticks) + int(abs(rng.gauss(0, 30)))
        low_ticks = min(open_ticks, close_ticks) - int(abs(rng.gauss(0, 30)))
        t = START + timedelta(hours=i)
        out.append(
            (t, open_ticks * TICK, high_ticks * TICK, low_ticks * TICK, close_ticks * TICK, rng.randint(50, 500))
        )
    return out


def rsi(closes: list[Decimal], length: int) -> list[Decimal | None]:
    """Wilder's RSI, as TradingView's ta.rsi computes it."""
    values: list[Decimal | None] = [None] * len(closes)
    gain = loss = Decimal(0)
    for i in range(1, len(closes)):
        change = closes[i] - closes[i - 1]
        up, down = max(change, Decimal(0)), max(-change, Decimal(0))
        if i <= length:
            gain += up / length
            loss += down / length
            if i < length:
                continue
        else:
            gain = (gain * (length - 1) + up) / length
            loss = (loss * (length - 1) + down) / length
        values[i] = Decimal(100) if loss == 0 else (100 - 100 / (1 + gain / loss)).quantize(Decimal("0.01"))
    return values


def alerts(bars: list[tuple[datetime, Decimal, Decimal, Decimal, Decimal, int]]) -> list[tuple[datetime, str, str]]:
    """(time, ticker, message) in time order; sent at the bar's close, with its close price."""
    closes = [b[4] for b in bars]
    levels = rsi(closes, RSI_LENGTH)
    out: list[tuple[datetime, str, str]] = []
    side = None
    special = 0
    for i in range(1, len(bars)):
        value, before = levels[i], levels[i - 1]
        if value is None or before is None:
            continue
        at = bars[i][0] + timedelta(hours=1)  # the bar's close
        price = str(closes[i])
        body: dict[str, object] | None = None
        if value < OVERSOLD:
            body = {"action": "RSI_LONG_ENTRY", "ticker": "SA40", "price": price, "rsi": str(value)}
            side = "long"
        elif value > OVERBOUGHT:
            body = {"action": "RSI_SHORT_ENTRY", "ticker": "SA40", "price": price, "rsi": str(value)}
            side = "short"
        elif side == "long" and before < 50 <= value:
            body = {"action": "RSI_CLOSE_LONG", "ticker": "SA40", "price": price, "rsi": str(value)}
            side = None
        elif side == "short" and before > 50 >= value:
            body = {"action": "RSI_CLOSE_SHORT", "ticker": "SA40", "price": price, "rsi": str(value)}
            side = None
        elif side is not None and special < 2 and 40 <= value <= 60:
            # the order + message shape: a take-profit of half, then a breakeven
            word = "tp1" if special == 0 else "long breakeven" if side == "long" else "short breakeven"
            action = "sell" if side == "long" else "buy"
            body = {"ticker": "SA40", "action": action, "price": price, "message": word, "tp Close": "50"}
            special += 1
        if body is not None:
            out.append((at, "SA40", json.dumps(body)))
    # another instrument's alert, and one TradingView sent with a placeholder left in it
    out.append((bars[100][0] + timedelta(minutes=20), "JSE:TOP40", '{"action": "RSI_LONG_ENTRY", "price": 71000}'))
    out.append((bars[200][0] + timedelta(minutes=40), "SA40", '{"action": "RSI_LONG_ENTRY", "price": {{close}}}'))
    out.sort(key=lambda item: item[0])
    return out


def write(directory: Path) -> None:
    rng = random.Random(SEED)
    bars = candles(rng)
    levels = rsi([b[4] for b in bars], RSI_LENGTH)
    with (directory / "candles.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["time", "open", "high", "low", "close", "Volume", "RSI"])
        for (t, o, h, lo, c, v), r in zip(bars, levels, strict=True):
            w.writerow([int(t.timestamp()), o, h, lo, c, v, "" if r is None else r])
    with (directory / "alerts.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["Alert ID", "Ticker", "Name", "Description", "Time"])
        for n, (t, ticker, message) in enumerate(alerts(bars), start=1):
            w.writerow([1_900_000 + n, ticker, "RSI(6) 80/25", message, t.strftime("%Y-%m-%dT%H:%M:%SZ")])


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
