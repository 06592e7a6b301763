"""Repairing a position mismatch: the broker's net position on a symbol against the sum
of our bots' positions on it.

Two repairs, both ending with our sum equal to the broker's net:
- adopt: the repaired bot's position takes the broker's side of the difference, as one
  adjusting fill (an entry, or a reduction) at the broker's average price;
- flatten: the same adjustment first, so that our books hold what the broker holds, then
  every bot on the symbol is closed through the normal order path (one close signal each),
  which closes the broker's net.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from trading.domain import display
from trading.domain.position import Fill
from trading.domain.values import OrderSide


class RepairAction(StrEnum):
    ADOPT = "adopt"
    FLATTEN = "flatten"


@dataclass(frozen=True, slots=True)
class Adjustment:
    """What the repaired bot's position must take so that our sum is the broker's net."""

    ours: Decimal  # signed sum over the symbol's bots, before
    theirs: Decimal  # the broker's signed net
    fill: Fill | None  # None when there is no difference

    @property
    def difference(self) -> Decimal:
        return self.theirs - self.ours

    def describe(self, symbol: str) -> str:
        if self.fill is None:
            return (
                f"no difference on {symbol}: signaldesk and the broker both hold {display.signed_quantity(self.ours)}"
            )
        return (
            f"{symbol}: signaldesk held {display.signed_quantity(self.ours)}, the broker {display.signed_quantity(self.theirs)}; "
            f"adjusting fill {self.fill.side.value} {self.fill.quantity} @ {self.fill.price}"
        )


class RepairImpossible(ValueError):
    """A repair that cannot be computed (no price to book the difference at)."""


def adjustment_price(*candidates: Decimal | None) -> Decimal | None:
    """The first positive price of the candidates, in order of preference (the broker's
    average price, the quote, our own average)."""
    return next((p for p in candidates if p is not None and p > 0), None)


def adjustment(*, ours: Decimal, theirs: Decimal, price: Decimal | None, fill_id: str, at: datetime) -> Adjustment:
    """The one fill that makes `ours` (the sum of our bots on the symbol) equal `theirs`
    (the broker's net), booked at `price`."""
    difference = theirs - ours
    if difference == 0:
        return Adjustment(ours, theirs, None)
    if price is None or price <= 0:
        raise RepairImpossible(
            f"no price to book the difference of {display.signed_quantity(difference)} at: the broker gave no average price "
            "and no quote could be read"
        )
    side = OrderSide.BUY if difference > 0 else OrderSide.SELL
    return Adjustment(ours, theirs, Fill(fill_id, side, abs(difference), price, at))
