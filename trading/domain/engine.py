"""The position engine: what orders a signal asks for, given the bot and its position.

`plan` is a pure function. It never sends anything: it returns ordered legs (a reversal is
close then open) or an ignore whose reason a trader can read on the approval card or in the
error channel. Quantities always respect the instrument's minimum, maximum and step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from trading.domain import quantities
from trading.domain.config import BotConfig
from trading.domain.levels import levels_for_entry
from trading.domain.market import Instrument
from trading.domain.plan import Leg, LegKind, Plan
from trading.domain.position import Position
from trading.domain.records import SignalEdits
from trading.domain.signals import Signal, SignalAction
from trading.domain.sizing import RiskSize, risk_size
from trading.domain.values import PositionSide

_HUNDRED = Decimal(100)


class PlanningError(ValueError):
    """The engine was called with inputs that do not belong together (a wiring bug, not a market event)."""


@dataclass(frozen=True, slots=True)
class _Sized:
    quantity: Decimal
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Refused:
    reason: str
    refuse: bool = False  # refused (the request cannot be met as given), not merely ignored

    def plan(self) -> Plan:
        return Plan.refuse(self.reason) if self.refuse else Plan.ignore(self.reason)


def plan(
    config: BotConfig,
    position: Position,
    signal: Signal,
    instrument: Instrument,
    edits: SignalEdits | None = None,
    equity: Decimal | None = None,
) -> Plan:
    """The legs `signal` asks for on `position`, or an ignore with the reason.

    `equity` (the account's, from the broker) is needed only by a bot that sizes entries by
    risk (`risk_per_trade_pct`); without it such an entry is refused."""
    _check_inputs(config, position, instrument)
    action = signal.action
    entry_side = action.entry_side
    if entry_side is not None:
        return _plan_entry(config, position, signal, instrument, edits, entry_side, equity)
    if action in (SignalAction.CLOSE, SignalAction.CLOSE_LONG, SignalAction.CLOSE_SHORT):
        return _plan_close(config, position, action, instrument)
    if action is SignalAction.REDUCE:
        return _plan_reduce(config, position, signal, instrument, edits)
    return _plan_breakeven(config, position, signal, instrument, edits)


def _check_inputs(config: BotConfig, position: Position, instrument: Instrument) -> None:
    if position.symbol != instrument.symbol:
        raise PlanningError(f"position is on {position.symbol!r} but the instrument is {instrument.symbol!r}")
    if config.symbol != instrument.symbol:
        raise PlanningError(
            f"bot {config.bot_name} trades {config.symbol!r} but the instrument is {instrument.symbol!r}"
        )
    if (
        instrument.quantity_step <= 0
        or instrument.min_quantity <= 0
        or instrument.max_quantity < instrument.min_quantity
    ):
        raise PlanningError(
            f"instrument {instrument.symbol} has unusable limits: min {instrument.min_quantity}, "
            f"max {instrument.max_quantity}, step {instrument.quantity_step}"
        )


# --- entries ---------------------------------------------------------------------------


def _plan_entry(
    config: BotConfig,
    position: Position,
    signal: Signal,
    instrument: Instrument,
    edits: SignalEdits | None,
    side: PositionSide,
    equity: Decimal | None,
) -> Plan:
    if signal.price <= 0:
        return Plan.ignore(f"the alert's price {signal.price} is not positive, so no entry can be planned")
    requested = _requested_quantity(config, signal, edits)
    flat = position.side is None or position.is_flat
    by_risk = _risk_sized(config, signal, edits, side, instrument, equity)
    if isinstance(by_risk, str):
        return _unsizable(config, position, signal, instrument, edits, side, by_risk)
    if by_risk is not None:
        requested = by_risk.quantity
    if flat:
        planned = _open(config, signal, instrument, edits, side, requested, summary="open", before=())
    elif position.side is side:
        planned = _add(config, position, signal, instrument, edits, side, requested)
    else:
        planned = _reverse(config, position, signal, instrument, edits, side, requested)
    if by_risk is None or not planned.is_entry:
        return planned
    notes = by_risk.notes
    if signal.quantity is not None:
        notes = (f"the alert's quantity {signal.quantity} is not used: this bot sizes entries by risk", *notes)
    return replace(planned, sizing=by_risk.arithmetic, notes=notes + planned.notes)


def _risk_sized(
    config: BotConfig,
    signal: Signal,
    edits: SignalEdits | None,
    side: PositionSide,
    instrument: Instrument,
    equity: Decimal | None,
) -> RiskSize | str | None:
    """The entry's size by risk (or why it cannot be sized); None when the bot does not size
    by risk or the approver set the quantity, whose word wins."""
    if config.risk_per_trade_pct is None or (edits is not None and edits.quantity is not None):
        return None
    given_stop = edits.stop_loss if edits is not None and edits.stop_loss is not None else signal.stop_loss
    # The stop this entry would have at the alert's price: the loss per contract is measured to it.
    stop, _ = levels_for_entry(side, signal.price, config, given_stop, None, instrument.tick_size)
    return risk_size(
        equity=equity, risk_pct=config.risk_per_trade_pct, entry_price=signal.price, stop=stop, instrument=instrument
    )


def _unsizable(
    config: BotConfig,
    position: Position,
    signal: Signal,
    instrument: Instrument,
    edits: SignalEdits | None,
    side: PositionSide,
    reason: str,
) -> Plan:
    """An entry that cannot be sized by risk is refused; what would be ignored anyway stays an
    ignore with its own reason, and the close of a reversal still goes."""
    if position.side is None or position.is_flat:
        return Plan.refuse(reason)
    if position.side is side:
        blocked = _add(config, position, signal, instrument, edits, side, quantities.ONE)
        return blocked if blocked.is_ignore else Plan.refuse(reason)
    if not config.exit_on_opposite_signal:
        return _reverse(config, position, signal, instrument, edits, side, quantities.ONE)
    closes = _close_legs(position.quantity, position.side, instrument, LegKind.CLOSE)
    return Plan(legs=closes, summary="close", notes=(f"the {side.value} entry after the close was left out: {reason}",))


def _requested_quantity(config: BotConfig, signal: Signal, edits: SignalEdits | None) -> Decimal:
    # The approver's word beats the alert's, which beats the bot's default.
    if edits is not None and edits.quantity is not None:
        return edits.quantity
    if signal.quantity is not None:
        return signal.quantity
    return config.base_position_size


def _open(
    config: BotConfig,
    signal: Signal,
    instrument: Instrument,
    edits: SignalEdits | None,
    side: PositionSide,
    requested: Decimal,
    *,
    summary: str,
    before: tuple[Leg, ...],
) -> Plan:
    sized = _size_entry(requested, quantities.ZERO, instrument, side, config.broker_account)
    if isinstance(sized, _Refused):
        return sized.plan()
    stop, target, level_notes = _entry_levels(config, signal, edits, side, signal.price, instrument)
    leg = Leg(LegKind.OPEN, side.opening_order_side, sized.quantity, side)
    return Plan(
        legs=(*before, leg),
        summary=summary,
        new_stop_loss=stop,
        new_take_profit=target,
        notes=sized.notes + level_notes,
    )


def _add(
    config: BotConfig,
    position: Position,
    signal: Signal,
    instrument: Instrument,
    edits: SignalEdits | None,
    side: PositionSide,
    requested: Decimal,
) -> Plan:
    held = position.quantity
    levels = len(position.entries)
    if not config.allow_pyramiding:
        return Plan.ignore(
            f"pyramiding is off for {config.bot_name}: already {side.value} {_contracts(held)}, "
            f"so another {side.value} entry is not added"
        )
    if levels >= config.max_positions:
        return Plan.ignore(
            f"already {levels} of {config.max_positions} entries (max_positions) for {config.bot_name}, "
            f"so another {side.value} entry is not added"
        )
    sized = _size_entry(requested, held, instrument, side, config.broker_account)
    if isinstance(sized, _Refused):
        return sized.plan()
    assert position.average_price is not None
    # Levels follow the average the position will have once this add fills at the alert's price.
    expected_average = (position.average_price * held + signal.price * sized.quantity) / (held + sized.quantity)
    stop, target, level_notes = _entry_levels(config, signal, edits, side, expected_average, instrument)
    leg = Leg(LegKind.ADD, side.opening_order_side, sized.quantity, side)
    return Plan(
        legs=(leg,),
        summary=f"add {levels + 1} of {config.max_positions}",
        new_stop_loss=stop,
        new_take_profit=target,
        notes=sized.notes + level_notes,
    )


def _reverse(
    config: BotConfig,
    position: Position,
    signal: Signal,
    instrument: Instrument,
    edits: SignalEdits | None,
    side: PositionSide,
    requested: Decimal,
) -> Plan:
    assert position.side is not None
    held_side = position.side
    if not config.exit_on_opposite_signal:
        return Plan.ignore(
            f"exit_on_opposite_signal is off for {config.bot_name}: a {side.value} entry does not close "
            f"the open {held_side.value} {_contracts(position.quantity)}"
        )
    closes = _close_legs(position.quantity, held_side, instrument, LegKind.CLOSE)
    opened = _open(config, signal, instrument, edits, side, requested, summary="reverse", before=closes)
    if opened.ignored is None:
        return opened
    # The strategy has turned: the old side goes even when the new entry cannot be sized.
    return Plan(
        legs=closes,
        summary="close",
        notes=(f"the {side.value} entry after the close was left out: {opened.ignored}",),
    )


def _size_entry(
    requested: Decimal, held: Decimal, instrument: Instrument, side: PositionSide, account: str
) -> _Sized | _Refused:
    """Fit an entry of `requested` contracts on top of `held` ones into the instrument's limits."""
    if requested <= 0:
        return _Refused(f"the requested quantity {requested} is not a positive number of contracts")
    fraction = _fraction_refusal(requested, instrument, account)
    if fraction is not None:
        return fraction
    notes: list[str] = []
    quantity = instrument.round_down(requested)
    if quantity != requested:
        if quantity < instrument.min_quantity:
            return _Refused(
                f"the requested quantity {requested} rounds down to {quantity} on the instrument's step of "
                f"{_contracts(instrument.quantity_step)}, below its minimum of {instrument.min_quantity}"
            )
        notes.append(
            f"quantity rounded down from {requested} to {quantity}: {instrument.symbol} trades in steps of "
            f"{_contracts(instrument.quantity_step)}"
        )
    if quantity < instrument.min_quantity:
        return _Refused(
            f"the requested quantity {quantity} is below {instrument.symbol}'s minimum of "
            f"{_contracts(instrument.min_quantity)}"
        )
    room = instrument.round_down(instrument.max_quantity - held)
    if quantity > room:
        if room < instrument.min_quantity:
            return _Refused(
                f"already {side.value} {_contracts(held)} and {instrument.symbol} allows at most "
                f"{_contracts(instrument.max_quantity)}, so no {side.value} entry fits"
            )
        held_note = f" and {held} are held" if held else ""
        notes.append(
            f"quantity cut from {quantity} to {room}: {instrument.symbol} allows at most "
            f"{_contracts(instrument.max_quantity)}{held_note}"
        )
        quantity = room
    return _Sized(quantity, tuple(notes))


def _entry_levels(
    config: BotConfig,
    signal: Signal,
    edits: SignalEdits | None,
    side: PositionSide,
    entry_price: Decimal,
    instrument: Instrument,
) -> tuple[Decimal | None, Decimal | None, tuple[str, ...]]:
    given_stop = edits.stop_loss if edits is not None and edits.stop_loss is not None else signal.stop_loss
    given_target = edits.take_profit if edits is not None and edits.take_profit is not None else signal.take_profit
    stop, target = levels_for_entry(side, entry_price, config, given_stop, given_target, instrument.tick_size)
    notes: list[str] = []
    # A level on the wrong side of the price would close the position the moment it opens;
    # said out loud so the approver sees it, since the alert may have meant something else.
    if stop is not None and (stop - entry_price) * side.sign >= 0:
        where = "at or above" if side is PositionSide.LONG else "at or below"
        notes.append(
            f"the stop {stop} is {where} the entry price {entry_price} for a {side.value}; it would trigger at once"
        )
    if target is not None and (target - entry_price) * side.sign <= 0:
        where = "at or below" if side is PositionSide.LONG else "at or above"
        notes.append(
            f"the target {target} is {where} the entry price {entry_price} for a {side.value}; it would trigger at once"
        )
    if target is None and given_target is None and config.take_profit_pct is not None:
        notes.append(
            f"take_profit_pct {config.take_profit_pct} puts the {side.value} target at or below zero; no target set"
        )
    return stop, target, tuple(notes)


# --- exits -----------------------------------------------------------------------------


def _plan_close(config: BotConfig, position: Position, action: SignalAction, instrument: Instrument) -> Plan:
    if position.side is None or position.is_flat:
        return Plan.ignore(f"nothing to close: {config.bot_name} has no open position on {position.symbol}")
    wanted = {SignalAction.CLOSE_LONG: PositionSide.LONG, SignalAction.CLOSE_SHORT: PositionSide.SHORT}.get(action)
    if wanted is not None and position.side is not wanted:
        return Plan.ignore(
            f"a close {wanted.value} does not apply: {config.bot_name} is {position.side.value} "
            f"{_contracts(position.quantity)} on {position.symbol}, not {wanted.value}"
        )
    return Plan(legs=_close_legs(position.quantity, position.side, instrument, LegKind.CLOSE), summary="close")


def _plan_reduce(
    config: BotConfig, position: Position, signal: Signal, instrument: Instrument, edits: SignalEdits | None
) -> Plan:
    if position.side is None or position.is_flat:
        return Plan.ignore(f"nothing to reduce: {config.bot_name} has no open position on {position.symbol}")
    reduced = _reduction(config, position, signal, instrument, edits)
    if isinstance(reduced, _Refused):
        return reduced.plan()
    legs, summary, notes = reduced
    return Plan(legs=legs, summary=summary, notes=notes)


def _plan_breakeven(
    config: BotConfig, position: Position, signal: Signal, instrument: Instrument, edits: SignalEdits | None
) -> Plan:
    if position.side is None or position.is_flat or position.average_price is None:
        return Plan.ignore(f"no breakeven: {config.bot_name} has no open position on {position.symbol}")
    # The approver may set the stop on the card; otherwise it goes to the average entry.
    stop = edits.stop_loss if edits is not None and edits.stop_loss is not None else position.average_price
    if signal.reduce_pct is None:
        return Plan(summary="breakeven", new_stop_loss=stop)
    reduced = _reduction(config, position, signal, instrument, edits)
    if isinstance(reduced, _Refused):
        return reduced.plan()
    legs, summary, notes = reduced
    if summary == "close":
        return Plan(legs=legs, summary="close", notes=(*notes, "the reduce takes the whole position; no stop to move"))
    return Plan(legs=legs, summary=f"{summary} + breakeven", new_stop_loss=stop, notes=notes)


def _reduction(
    config: BotConfig, position: Position, signal: Signal, instrument: Instrument, edits: SignalEdits | None
) -> tuple[tuple[Leg, ...], str, tuple[str, ...]] | _Refused:
    """Legs taking part of the position off: by quantity (approver's, then alert's) or by percentage."""
    assert position.side is not None
    held = position.quantity
    notes: list[str] = []
    explicit = edits.quantity if edits is not None and edits.quantity is not None else signal.quantity
    if explicit is not None:
        if explicit <= 0:
            return _Refused(f"the requested reduce quantity {explicit} is not a positive number of contracts")
        fraction = _fraction_refusal(explicit, instrument, config.broker_account)
        if fraction is not None:
            return fraction
        quantity = explicit
        if quantity < held:
            stepped = instrument.round_down(quantity)
            if stepped < max(instrument.min_quantity, instrument.quantity_step):
                return _Refused(
                    f"the requested reduce of {_contracts(quantity)} is below {instrument.symbol}'s smallest order "
                    f"(minimum {instrument.min_quantity}, step {instrument.quantity_step})"
                )
            if stepped != quantity:
                notes.append(
                    f"reduce rounded down from {quantity} to {stepped}: {instrument.symbol} trades in steps of "
                    f"{_contracts(instrument.quantity_step)}"
                )
            quantity = stepped
    elif signal.reduce_pct is not None:
        pct = signal.reduce_pct
        if not 0 < pct <= _HUNDRED:
            return _Refused(f"the reduce percentage {pct} is not between 0 (exclusive) and 100")
        # A take-profit always takes something: at least the instrument's smallest order.
        quantity = max(instrument.round_down(held * pct / _HUNDRED), _smallest_order(instrument))
    else:
        return _Refused("a reduce needs a quantity or a percentage (tp Close), and the alert gave neither")

    if quantity >= held:
        if quantity > held:
            notes.append(f"reduce of {quantity} is more than the {held} held; closing the whole position instead")
        return _close_legs(held, position.side, instrument, LegKind.CLOSE), "close", tuple(notes)
    legs = _close_legs(quantity, position.side, instrument, LegKind.REDUCE)
    return legs, f"reduce {quantity}", tuple(notes)


def _smallest_order(instrument: Instrument) -> Decimal:
    return quantities.round_up(instrument.min_quantity, instrument.quantity_step)


def _fraction_refusal(quantity: Decimal, instrument: Instrument, account: str) -> _Refused | None:
    """A fraction on a whole-contract instrument is refused, never rounded: 0.5 meant for an
    exchange account is not 0 (or 1) contracts on Herenya."""
    if not instrument.whole_contracts:
        return None
    reason = quantities.whole_contracts_refusal(quantity, instrument.symbol, account)
    return None if reason is None else _Refused(reason, refuse=True)


def _close_legs(quantity: Decimal, side: PositionSide, instrument: Instrument, kind: LegKind) -> tuple[Leg, ...]:
    """`quantity` contracts off a `side` position, split so no order exceeds the instrument maximum."""
    cap = instrument.round_down(instrument.max_quantity)
    sizes: list[Decimal] = []
    left = quantity
    while left > 0:
        chunk = min(left, cap)
        sizes.append(chunk)
        left -= chunk
    # A greedy split can leave a last piece below the minimum; move contracts into it from the
    # piece before, which stays valid because it was a full `cap`.
    if len(sizes) > 1 and sizes[-1] < instrument.min_quantity:
        shortfall = quantities.round_up(instrument.min_quantity - sizes[-1], instrument.quantity_step)
        if sizes[-2] - shortfall >= instrument.min_quantity:
            sizes[-2] -= shortfall
            sizes[-1] += shortfall
    order_side = side.closing_order_side
    return tuple(Leg(kind, order_side, size, side) for size in sizes)


def _contracts(n: Decimal) -> str:
    return f"{quantities.plain(n)} contract" if n == 1 else f"{quantities.plain(n)} contracts"
