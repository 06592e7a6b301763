"""An approval card's chart (issue 30 asks for under 300 ms a card): the time to render the
PNG of 60 one-minute candles with the alert, quote, stop and target lines.

    .venv/bin/python bench/chart.py [--cards 50]

The first render also imports matplotlib (the process does that once, when Discord starts);
it is printed apart. Then p50, p99 and max over --cards renders, each on fresh candles.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.discord.chart import ChartLevels, render_chart  # noqa: E402
from trading.domain.candles import Candle  # noqa: E402

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def walk(rng: random.Random, n: int = 60) -> list[Candle]:
    price, out = 53200.0, []
    for i in range(n):
        close = price + rng.uniform(-15, 15)
        high, low = max(price, close) + rng.uniform(0, 8), min(price, close) - rng.uniform(0, 8)
        out.append(Candle(START + timedelta(minutes=i), *(Decimal(f"{p:.1f}") for p in (price, high, low, close))))
        price = close
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(7)
    levels = ChartLevels(
        alert=Decimal("53210.5"), quote=Decimal("53220"), stop=Decimal("53150"), target=Decimal("53290")
    )
    started = time.perf_counter()
    render_chart("SA40", walk(rng), levels)
    first = (time.perf_counter() - started) * 1e3
    times = []
    for _ in range(args.cards):
        candles = walk(rng)
        started = time.perf_counter()
        render_chart("SA40", candles, levels)
        times.append((time.perf_counter() - started) * 1e3)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"first render (matplotlib imported): {first:.0f} ms")
    print(
        f"{args.cards} cards: p50 {statistics.median(times):.0f} ms, p99 {p99:.0f} ms, max {times[-1]:.0f} ms (issue 30: < 300 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
