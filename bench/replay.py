"""Replay speed: 10,000 alerts over 100,000 candles (issue 19 asks for under 10 s).

Generates a seeded random walk of one-minute candles and RSI-style alerts as the files a
trader would give `signaldesk replay` (chart-data CSV, alert-log JSON lines), then times
reading them and replaying them through the domain. Prints alerts/s and candles/s.

    .venv/bin/python bench/replay.py [--alerts 10000] [--candles 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta

from trading.domain.config import BotConfig
from trading.domain.market import Instrument
from trading.replay.inputs import read_alerts, read_candles
from trading.replay.simulator import replay

START = datetime(2026, 1, 5, tzinfo=UTC)
ACTIONS = (
    "RSI_LONG_ENTRY",
    "RSI_LONG_ENTRY",
    "RSI_SHORT_ENTRY",
    "RSI_SHORT_ENTRY",
    "RSI_CLOSE_LONG",
    "RSI_CLOSE_SHORT",
)


def make_data(n_alerts: int, n_candles: int, seed: int = 19) -> tuple[str, str]:
    rng = random.Random(seed)
    rows = ["time,open,high,low,close,Volume"]
    closes = []
    close = 150_000  # ticks of 0.5
    start = int(START.timestamp())
    for i in range(n_candles):
        o = close
        close = max(1000, o + int(rng.gauss(0, 20)))
        h = max(o, close) + int(abs(rng.gauss(0, 10)))
        lo = min(o, close) - int(abs(rng.gauss(0, 10)))
        rows.append(f"{start + 60 * i},{o / 2},{h / 2},{lo / 2},{close / 2},{rng.randint(1, 99)}")
        closes.append(close / 2)
    lines = []
    step = n_candles / n_alerts
    for k in range(n_alerts):
        bar = int(k * step)
        at = START + timedelta(minutes=bar, seconds=30)
        body = {"action": rng.choice(ACTIONS), "ticker": "SA40", "price": str(closes[bar])}
        lines.append(json.dumps({"time": at.isoformat(), "body": body}))
    return "\n".join(rows) + "\n", "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--candles", type=int, default=100_000)
    args = parser.parse_args()
    candle_text, alert_text = make_data(args.alerts, args.candles)
    config = BotConfig.parse(
        {
            "bot_name": "Bench",
            "symbol": "SA40",
            "webhook_key": "bench_replay_key",
            "allow_pyramiding": True,
            "max_positions": 3,
            "stop_loss_pct": "0.05",
            "take_profit_pct": "0.1",
            "max_daily_loss": "5000",
        }
    )
    started = time.perf_counter()
    candles = read_candles(candle_text)
    alerts = read_alerts(alert_text)
    read = time.perf_counter()
    result = replay(config, Instrument("SA40"), alerts, candles)
    done = time.perf_counter()
    total = done - started
    print(f"replay: {len(alerts)} alerts over {len(candles)} candles in {total:.2f} s")
    print(f"  reading: {read - started:.2f} s, replaying: {done - read:.2f} s")
    print(f"  {len(alerts) / total:,.0f} alerts/s, {len(candles) / total:,.0f} candles/s")
    print(f"  {len(result.trades)} trades, {len(result.skipped)} alerts not acted on")


if __name__ == "__main__":
    main()
