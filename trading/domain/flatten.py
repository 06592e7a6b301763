"""When the monitor closes a bot's open position by a rule of the bot's rather than a level:
at the end of a trading window (`flatten_at_window_end`), or once the day's loss reaches
`max_daily_loss` (`flatten_on_daily_loss`). The live monitor and the replay both ask here."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from trading.domain.caps import daily_loss_flatten
from trading.domain.config import BotConfig
from trading.domain.position import Position
from trading.domain.trailing import trails
from trading.domain.windows import outside_hours


def monitored(config: BotConfig) -> bool:
    """Whether the monitor watches the bot's open position even without a stop or target
    (a trailing stop starts from none until its activation)."""
    return config.flatten_at_window_end or config.flatten_on_daily_loss or trails(config)


def window_end(config: BotConfig, at: datetime) -> str | None:
    """Why a position the bot still holds at `at` is closed now (its trading window has
    ended, or the day is closed); None when it may stay open."""
    if not config.flatten_at_window_end:
        return None
    closed = outside_hours(config.trading_hours, config.trading_timezone, config.closed_dates, at)
    return f"trading window ended ({closed})" if closed is not None else None


def daily_loss(config: BotConfig, realized_today: Decimal, position: Position, mark: Decimal) -> str | None:
    """Why the position is closed (and the bot paused) now: today's realized P&L plus the
    position's at `mark` has reached `max_daily_loss`; None otherwise."""
    return daily_loss_flatten(
        config.max_daily_loss, config.flatten_on_daily_loss, realized_today, position.unrealized_pnl(mark)
    )
