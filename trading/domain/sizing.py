"""Sizing an entry by risk: the contracts whose loss at the stop is a set share of equity.

contracts = equity x risk_per_trade_pct / 100 / (stop distance x contract multiplier),
rounded down to the instrument's step and clamped to its minimum and maximum. Pure: the
service reads the equity from the broker's account and passes it in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from trading.domain import display
from trading.domain.market import Instrument

_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class RiskSize:
    quantity: Decimal
    arithmetic: str  # the sum, as a trader checks it on the card
    notes: tuple[str, ...] = ()


def risk_size(
    *,
    equity: Decimal | None,
    risk_pct: Decimal,
    entry_price: Decimal,
    stop: Decimal | None,
    instrument: Instrument,
) -> RiskSize | str:
    """The risk-sized quantity with its arithmetic, or why the entry cannot be sized (a str)."""
    if stop is None:
        return (
            f"risk_per_trade_pct {display.number(risk_pct)} sizes entries from the stop, and this entry has none "
            "(give the alert a stop, or set stop_loss_pct on the bot)"
        )
    if equity is None:
        return "risk_per_trade_pct needs the account's equity, and the broker's account could not be read"
    if equity <= 0:
        return f"the account's equity is {display.number(equity)} {instrument.currency}: nothing to risk"
    distance = abs(entry_price - stop)
    if distance == 0:
        return f"the stop {display.number(stop)} is at the entry price: the risk per contract would be zero"
    multiplier = instrument.contract_multiplier
    budget = equity * risk_pct / _HUNDRED
    per_contract = distance * multiplier
    raw = budget / per_contract
    quantity = instrument.round_down(raw)
    currency = instrument.currency

    def cash(value: Decimal) -> str:
        return display.money(value, currency, signed=False)

    sum_text = (
        f"{display.number(risk_pct)}% of equity {cash(equity)} = {cash(budget)}; "
        f"stop distance {display.number(distance)} × multiplier {display.number(multiplier)} = {cash(per_contract)} "
        f"per contract; {display.amount(budget, currency)} ÷ {display.amount(per_contract, currency)} = "
        f"{raw.quantize(_CENT, rounding=ROUND_FLOOR)}"
    )
    notes: list[str] = []
    if quantity < instrument.min_quantity:
        notes.append(
            f"risk sizing gives {quantity}, below {instrument.symbol}'s minimum of {instrument.min_quantity}: "
            f"{instrument.min_quantity} risks {cash(per_contract * instrument.min_quantity)}, "
            f"more than the {cash(budget)} budget"
        )
        quantity = instrument.min_quantity
    elif quantity > instrument.max_quantity:
        notes.append(f"risk sizing gives {quantity}, cut to {instrument.symbol}'s maximum of {instrument.max_quantity}")
        quantity = instrument.round_down(instrument.max_quantity)
    shown = "contract" if quantity == 1 else "contracts"
    return RiskSize(quantity, f"{sum_text} → {quantity} {shown}", tuple(notes))
