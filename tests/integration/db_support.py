"""Builders shared by the db tests (and the durability child process)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from db.database import Database
from trading.domain.config import BotConfig
from trading.domain.records import Bot
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.values import OrderType

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def bot_config(name: str = "SA40_RSI_Bot", **overrides: Any) -> BotConfig:
    data: dict[str, Any] = {
        "bot_name": name,
        "broker_account": "Herenya",
        "symbol": "SA40",
        "mode": "approve",
        "rsi_length": 6,
        "rsi_overbought": 80,
        "rsi_oversold": 25,
        "base_position_size": 1,
        "max_positions": 3,
        "allow_pyramiding": True,
        "stop_loss_pct": "1.5",
        "take_profit_pct": "3.0",
        "webhook_key": f"{name.lower()}_50849a3c",
        "passphrase": "change-me",
        "max_daily_loss": 5000,
    }
    data.update(overrides)
    return BotConfig.parse(data)


async def add_bot(db: Database, name: str = "SA40_RSI_Bot", **overrides: Any) -> Bot:
    async with db.uow() as uow:
        bot = await uow.bots.upsert(bot_config(name, **overrides))
        await uow.commit()
    return bot


def full_signal(n: int = 1) -> Signal:
    """A signal with every field set, so a round trip that drops one shows."""
    return Signal(
        action=SignalAction.REDUCE,
        price=Decimal("53210.123456789012") + n,
        shape=AlertShape.ORDER_MESSAGE,
        time=T0 + timedelta(seconds=n),
        ticker="SA40",
        quantity=2,
        reduce_pct=Decimal("33.3"),
        stop_loss=Decimal("52000.5"),
        take_profit=Decimal("55000.25"),
        order_type=OrderType.LIMIT,
        alert_id=f"alert-{n}",
        passphrase="hunter2",
        message="tp1",
        rsi=Decimal("81.25"),
        target_position=-3,
        extras={"exchange": "JSE", "chart_url": "https://example.test/c"},
    )


def signal_time(n: int) -> datetime:
    return T0 + timedelta(milliseconds=n)
