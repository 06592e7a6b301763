"""When the monitor closes a bot's open position by a rule of the bot's rather than a level:
at the end of a trading window (`flatten_at_window_end`). The live monitor and the replay
both ask here."""

from __future__ import annotations

from datetime import datetime

from trading.domain.config import BotConfig
from trading.domain.windows import outside_hours


def monitored(config: BotConfig) -> bool:
    """Whether the monitor watches the bot's open position even without a stop or target."""
    return config.flatten_at_window_end


def window_end(config: BotConfig, at: datetime) -> str | None:
    """Why a position the bot still holds at `at` is closed now (its trading window has
    ended, or the day is closed); None when it may stay open."""
    if not config.flatten_at_window_end:
        return None
    closed = outside_hours(config.trading_hours, config.trading_timezone, config.closed_dates, at)
    return f"trading window ended ({closed})" if closed is not None else None
