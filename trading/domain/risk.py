"""Risk checks run after planning and before any order: pure, one verdict per plan.

Reducing risk is always allowed: a halt, a pause or 'needs attention' refuses entries but
lets closes through (a reversal keeps only its closing legs).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from trading.domain.caps import OpenRisk, open_risk_refusal, trades_refusal
from trading.domain.config import BotConfig
from trading.domain.market import Instrument, Quote
from trading.domain.plan import Plan
from trading.domain.signals import Signal
from trading.domain.windows import outside_hours

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class RiskContext:
    config: BotConfig
    plan: Plan
    signal: Signal
    instrument: Instrument
    quote: Quote | None
    halted: bool
    paused: bool
    needs_attention: bool
    realized_today: Decimal
    age: timedelta = timedelta(0)  # how long the signal has waited to be sent, at the moment of sending
    attention_reason: str | None = None  # why the bot needs attention (a mismatch, a missed alert)
    now: datetime | None = None  # the moment of sending, for the trading windows; None: not judged
    trades_today: int = 0  # the bot's entries today (read only with max_trades_per_day)
    open_risk: OpenRisk | None = None  # the account's risk with this entry (only with max_open_risk)
    account_paused: str | None = None  # why the leg's account is paused (/pause-account), when it is


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    plan: Plan  # the plan to execute (entries dropped when only closes are allowed)
    refused: str | None = None
    pause_bot: bool = False  # the daily loss limit was reached: the bot pauses itself


def check_risk(ctx: RiskContext) -> RiskVerdict:
    plan, config = ctx.plan, ctx.config
    for leg in plan.legs:
        if not ctx.instrument.is_valid_quantity(leg.quantity):
            return RiskVerdict(
                plan,
                f"{leg.kind.value} of {leg.quantity} is outside {ctx.instrument.symbol}'s limits "
                f"({ctx.instrument.min_quantity} to {ctx.instrument.max_quantity} contracts, "
                f"step {ctx.instrument.quantity_step})",
            )
    if not ctx.instrument.trading_open and plan.legs:
        return RiskVerdict(plan, f"the market for {ctx.instrument.symbol} is closed")
    if not config.is_active:
        return RiskVerdict(plan, f"bot {config.bot_name} is inactive (is_active = false)")
    if not plan.is_entry:
        return RiskVerdict(plan)

    blocker = _entry_blocker(ctx)
    if blocker is not None:
        closes = tuple(leg for leg in plan.legs if leg.kind.reduces)
        if closes and not blocker[1]:
            note = f"entry dropped: {blocker[0]}; closing only"
            return RiskVerdict(replace(plan, legs=closes, summary="close", notes=(*plan.notes, note)))
        return RiskVerdict(plan, blocker[0], pause_bot=blocker[1])
    return RiskVerdict(plan)


def _entry_blocker(ctx: RiskContext) -> tuple[str, bool] | None:
    """Why no new entry may be made now, and whether the bot must pause itself."""
    config = ctx.config
    late = stale_entry(config, ctx.age)
    if late is not None:
        return late, False
    if ctx.halted:
        return "trading is halted: no new entries until /resume-all", False
    if ctx.paused:
        return f"bot {config.bot_name} is paused: no new entries until /resume", False
    if ctx.account_paused is not None:
        account = config.broker_account
        return (
            f"account {account} is paused ({ctx.account_paused}): no new entries on it until /resume-account {account}",
            False,
        )
    if ctx.needs_attention:
        why = ctx.attention_reason or "position mismatch"
        return (
            f"bot {config.bot_name} needs attention ({why}): no new entries until the mismatch is repaired "
            "(Adopt or Flatten on the error channel, or POST /api/bots/<name>/reconcile)",
            False,
        )
    if ctx.now is not None:
        closed = outside_hours(config.trading_hours, config.trading_timezone, config.closed_dates, ctx.now)
        if closed is not None:
            return closed, False
    too_many = trades_refusal(ctx.trades_today, config.max_trades_per_day)
    if too_many is not None:
        return too_many, False
    if config.max_daily_loss is not None and ctx.realized_today <= -config.max_daily_loss:
        return (
            f"daily loss limit reached: realized {ctx.realized_today} today, limit {config.max_daily_loss}; "
            f"bot {config.bot_name} paused",
            True,
        )
    at_risk = open_risk_refusal(config.max_open_risk, ctx.open_risk)
    if at_risk is not None:
        return at_risk, False
    if config.max_slippage_pct is not None and ctx.quote is not None and ctx.signal.price > 0:
        entry_leg = next(leg for leg in ctx.plan.legs if not leg.kind.reduces)
        now = ctx.quote.price_for(entry_leg.side)
        drift = abs(now - ctx.signal.price) / ctx.signal.price * _HUNDRED
        if drift > config.max_slippage_pct:
            shown = f"{drift:.2f}%" if drift < 10_000 else "over 10000%"
            return (
                f"price moved {shown} from the alert's {ctx.signal.price} to {now} "
                f"(max_slippage_pct {config.max_slippage_pct})",
                False,
            )
    return None


def stale_entry(config: BotConfig, age: timedelta) -> str | None:
    """Why an entry that has waited `age` must not be sent any more; None while it may.
    A late entry would open a position the market has moved away from; closes still go."""
    limit = config.max_signal_age_seconds
    if age.total_seconds() <= limit:
        return None
    return f"stale: waited {age.total_seconds():.0f} s to be sent, more than max_signal_age_seconds ({limit} s)"
