"""Caps that hold a bad day: trades a day (`max_trades_per_day`), the money at risk to the
stops across an account's bots (`max_open_risk`), and the daily loss that flattens
(`flatten_on_daily_loss`). Pure: the live desk and the replay both judge by these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from trading.domain import display
from trading.domain.plan import Plan
from trading.domain.position import Position
from trading.domain.preview import preview
from trading.domain.values import ZERO
from trading.domain.windows import zone


def day_start(at: datetime, timezone: str) -> datetime:
    """The start of `at`'s day in the bot's zone: where "today" begins for the trade count."""
    local = at.astimezone(zone(timezone))
    return datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)


def trading_day(at: datetime, timezone: str) -> date:
    return at.astimezone(zone(timezone)).date()


def trades_refusal(trades_today: int, limit: int | None) -> str | None:
    """Why one more entry today is one too many ("3 of 3 trades today"); None while allowed."""
    if limit is None or trades_today < limit:
        return None
    return f"{trades_today} of {limit} trades today (max_trades_per_day)"


def position_risk(position: Position) -> Decimal | None:
    """Money lost if the position's stop is hit (0 once the stop locks in a profit or the
    position is flat); None without a stop: its risk has no bound."""
    if position.side is None or position.is_flat or position.average_price is None:
        return ZERO
    if position.stop_loss is None:
        return None
    per_contract = (position.average_price - position.stop_loss) * position.side.sign
    return max(per_contract, ZERO) * position.quantity * position.multiplier


@dataclass(frozen=True, slots=True)
class OpenRisk:
    """The account's money at risk to the stops if an entry is made."""

    account: str
    others: Decimal  # the other bots' positions on the account
    entry: Decimal | None  # this bot's position once the entry filled; None without a stop
    unbounded: str | None = None  # a bot on the account holding a position without a stop


def open_risk(
    account: str, others: Sequence[tuple[str, Position]], position: Position, plan: Plan, price: Decimal
) -> OpenRisk:
    """`others`: the open positions of the account's other bots, by bot name; `position`:
    this bot's, before `plan` (its legs filled at `price`, its stop the plan's)."""
    total = ZERO
    unbounded = None
    for name, held in others:
        risk = position_risk(held)
        if risk is None:
            unbounded = unbounded or f"bot {name} holds {held.side} {held.quantity} without a stop"
        else:
            total += risk
    entry = preview(position, plan, price, plan.new_stop_loss).risk_to_stop if plan.new_stop_loss else None
    return OpenRisk(account, total, entry, unbounded)


def open_risk_refusal(limit: Decimal | None, risk: OpenRisk | None) -> str | None:
    """Why the entry would put more than `limit` at risk on the account; None when it fits."""
    if limit is None or risk is None:
        return None
    if risk.unbounded is not None:
        return f"account {risk.account}'s money at risk has no bound: {risk.unbounded} (max_open_risk {limit})"
    if risk.entry is None:
        return f"an entry without a stop has no bound on its risk (max_open_risk {limit} on account {risk.account})"
    total = risk.others + risk.entry
    if total <= limit:
        return None
    return (
        f"open risk on account {risk.account} would be {_money(total)}, above max_open_risk {limit} "
        f"({_money(risk.others)} at risk now, this position {_money(risk.entry)})"
    )


def daily_loss_flatten(
    limit: Decimal | None, flatten: bool, realized_today: Decimal, open_pnl: Decimal | None
) -> str | None:
    """Why the bot's open position is closed now (`flatten_on_daily_loss`): today's realized
    P&L plus the open position's at the quote has reached `max_daily_loss`; None otherwise."""
    if not flatten or limit is None:
        return None
    total = realized_today + (open_pnl or ZERO)
    if total > -limit:
        return None
    return (
        f"daily loss limit reached: {_money(total)} today ({_money(realized_today)} realized, "
        f"{_money(open_pnl or ZERO)} open), limit {limit}; flattening"
    )


def _money(value: Decimal) -> str:
    return display.amount(value)
