"""Stop-loss and take-profit levels: where they sit for an entry, and whether a quote hits them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from trading.domain.config import BotConfig
from trading.domain.market import Quote
from trading.domain.position import Position
from trading.domain.records import SignalEdits
from trading.domain.signals import Signal, SignalAction
from trading.domain.trailing import trailed, trails
from trading.domain.values import PositionSide

_HUNDRED = Decimal(100)


class ExitKind(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


@dataclass(frozen=True, slots=True)
class ExitTrigger:
    kind: ExitKind  # which level was hit
    level: Decimal  # the level as set on the position
    price: Decimal  # the quote price that reached it (bid for a long, ask for a short)


def levels_for_entry(
    side: PositionSide,
    entry_price: Decimal,
    config: BotConfig,
    signal_stop: Decimal | None,
    signal_target: Decimal | None,
    tick_size: Decimal | None = None,
) -> tuple[Decimal | None, Decimal | None]:
    """(stop, target) for a position entered at `entry_price` on `side`.

    A level the alert (or the approver) gave wins and is kept exactly as given; otherwise it is
    `stop_loss_pct` / `take_profit_pct` percent away from the entry, or None when the bot sets
    no percentage. With `tick_size`, percentage levels are put on the tick grid.
    """
    if entry_price <= 0:
        raise ValueError(f"entry price {entry_price} must be positive to place stop and target levels")
    if tick_size is not None and tick_size <= 0:
        raise ValueError(f"tick size {tick_size} must be positive")

    stop = signal_stop
    if stop is None and config.stop_loss_pct is not None:
        raw = entry_price * (1 - side.sign * config.stop_loss_pct / _HUNDRED)
        stop = _on_tick(raw, entry_price, tick_size)
    target = signal_target
    if target is None and config.take_profit_pct is not None:
        raw = entry_price * (1 + side.sign * config.take_profit_pct / _HUNDRED)
        # take_profit_pct may exceed 100, which puts a short's target at or below zero: a
        # price that can never trade, so no target rather than a meaningless one.
        target = _on_tick(raw, entry_price, tick_size) if raw > 0 else None
    return stop, target


def set_levels_after_fill(
    position: Position,
    signal: Signal,
    config: BotConfig,
    edits: SignalEdits | None,
    tick_size: Decimal | None,
) -> bool:
    """Set the stop and target of `position` as it stands once `signal` has filled: a
    breakeven moves the stop to the average entry; an entry places both for the new average
    (the approver's edits, else the alert's levels, else the bot's percentages). Whether
    anything was set. The live desk and the replay both call this."""
    if signal.action is SignalAction.BREAKEVEN and position.average_price is not None:
        position.stop_loss = position.average_price
        return True
    if signal.action.is_entry and position.side is not None and position.average_price is not None:
        before = position.stop_loss  # an add's: the stop of the position it adds to
        if signal.trailing_stop is not None:
            position.trailing_pct = signal.trailing_stop
        stop, target = levels_for_entry(
            position.side,
            position.average_price,
            config,
            edits.stop_loss if edits and edits.stop_loss is not None else signal.stop_loss,
            edits.take_profit if edits and edits.take_profit is not None else signal.take_profit,
            tick_size,
        )
        position.stop_loss, position.take_profit = stop, target
        # A trailing stop starts at the trail from the entry, when that is tighter (and active),
        # and an add never loosens the trail it joins.
        position.stop_loss = trailed(config, position, position.average_price, tick_size) or position.stop_loss
        looser = position.stop_loss is None or (
            before is not None and (before - position.stop_loss) * position.side.sign > 0
        )
        if trails(config, position) and before is not None and looser:
            position.stop_loss = before
        return position.stop_loss is not None or target is not None
    return False


def _on_tick(level: Decimal, entry_price: Decimal, tick_size: Decimal | None) -> Decimal:
    # Rounded toward the entry, so the configured percentage is never exceeded (neither more
    # risk than stop_loss_pct nor a target further than take_profit_pct); but a level that
    # would land on the entry itself is rounded outward instead, since it would trigger at once.
    if tick_size is None:
        return level
    below = level < entry_price
    toward, away = (ROUND_CEILING, ROUND_FLOOR) if below else (ROUND_FLOOR, ROUND_CEILING)
    snapped = (level / tick_size).to_integral_value(rounding=toward) * tick_size
    if snapped == entry_price:
        snapped = (level / tick_size).to_integral_value(rounding=away) * tick_size
    return snapped


def exit_trigger(position: Position, quote: Quote) -> ExitTrigger | None:
    """The level `quote` hits on `position`, if any; the stop is reported when both are hit.

    A long is closed by selling, so it is judged on the bid; a short on the ask. A side of the
    quote that is not positive means no price there (an empty book) and never triggers.
    """
    if position.side is None or position.is_flat:
        return None
    stop, target = position.stop_loss, position.take_profit
    if position.side is PositionSide.LONG:
        price = quote.bid
        if price <= 0:
            return None
        if stop is not None and price <= stop:
            return ExitTrigger(ExitKind.STOP_LOSS, stop, price)
        if target is not None and price >= target:
            return ExitTrigger(ExitKind.TAKE_PROFIT, target, price)
        return None
    price = quote.ask
    if price <= 0:
        return None
    if stop is not None and price >= stop:
        return ExitTrigger(ExitKind.STOP_LOSS, stop, price)
    if target is not None and price <= target:
        return ExitTrigger(ExitKind.TAKE_PROFIT, target, price)
    return None


# A price further than this from the quote is a typo or a broken feed, not a trading decision.
FAR_FROM_QUOTE = Decimal(50)  # percent
# The smallest price anything trades at; 1E-400 parses as a positive Decimal but is no price.
MIN_PRICE_EXPONENT = -8


def level_problem(
    side: PositionSide,
    price: Decimal,
    stop: Decimal | None,
    target: Decimal | None,
    names: tuple[str, str] = ("stop_loss", "take_profit"),
) -> tuple[str, str] | None:
    """(field, what is wrong) when a stop or target sits on the wrong side of `price` for a
    position on `side`; None when both are fine. One rule for alerts, edits and orders: a
    stop on the wrong side would close the position at a loss on the first quote."""
    stop_name, target_name = names
    below, above = ("below", "above") if side is PositionSide.LONG else ("above", "below")
    if stop is not None and (stop - price) * side.sign >= 0:
        return stop_name, f"{stop_name} is {stop}; a {side.value} stop must be {below} the price {price}"
    if target is not None and (target - price) * side.sign <= 0:
        return target_name, f"{target_name} is {target}; a {side.value} target must be {above} the price {price}"
    return None


def price_problem(name: str, price: Decimal, tick_size: Decimal | None, reference: Decimal | None) -> str | None:
    """What is wrong with `price` as a price to send or hold: not above zero, too small to
    be real, off the instrument's tick, or absurdly far from `reference` (the quote now).
    None when it is fine. The reasons stay short: never a 400-digit number back."""
    if not price.is_finite() or price <= 0:
        return f"{name} must be a positive price"
    if price.adjusted() < MIN_PRICE_EXPONENT:
        return f"{name} {price:.3E} is too small to be a price"
    if tick_size is not None and tick_size > 0 and price % tick_size != 0:
        return f"{name} {price} is not on the instrument's tick of {tick_size}"
    if reference is not None and reference > 0:
        distance = abs(price - reference) / reference * _HUNDRED
        if distance > FAR_FROM_QUOTE:
            shown = f"{distance:.0f}" if distance < 10_000 else "over 10000"
            return f"{name} {price} is {shown}% away from the quote {reference}; at most {FAR_FROM_QUOTE}% is taken"
    return None
