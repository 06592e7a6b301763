"""Small builders for replay tests: hourly candles, alerts at given minutes, a bot config."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from trading.domain.candles import Candle
from trading.domain.config import BotConfig
from trading.domain.market import Instrument
from trading.replay.inputs import AlertRecord
from trading.replay.simulator import ReplayResult, replay

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday
SA40 = Instrument("SA40")  # min 1, max 12, step 1, tick 0.5, multiplier 1


def at(hour: int, minute: int = 0) -> datetime:
    return T0 + timedelta(hours=hour, minutes=minute)


def candles(*ohlc: tuple[object, object, object, object]) -> list[Candle]:
    """Hourly candles from T0, each given as (open, high, low, close)."""
    return [Candle(at(i), *(Decimal(str(p)) for p in bar)) for i, bar in enumerate(ohlc)]  # type: ignore[arg-type]


def flat(n: int, price: object = 100) -> list[tuple[object, object, object, object]]:
    p = Decimal(str(price))
    return [(p, p + 1, p - 1, p)] * n


def alert(hour: int, minute: int, **body: Any) -> AlertRecord:
    return AlertRecord(at(hour, minute), json.dumps(body).encode(), f"alert {hour}:{minute:02d}")


def rsi(action: str, price: object, hour: int, minute: int = 30, **extra: Any) -> AlertRecord:
    return alert(hour, minute, action=action, price=str(price), **extra)


def bot(**overrides: Any) -> BotConfig:
    fields: dict[str, Any] = {
        "bot_name": "Replay_Test",
        "symbol": "SA40",
        "webhook_key": "replay_test_key",
        "mode": "auto",
        "max_slippage_pct": None,
    }
    fields.update(overrides)
    return BotConfig.parse(fields)


def run(config: BotConfig, alerts: list[AlertRecord], bars: list[Candle], **kw: Any) -> ReplayResult:
    return replay(config, SA40, alerts, bars, **kw)
