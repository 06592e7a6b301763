"""What an approver sees before deciding: the position as it would stand after the plan,
and the money at risk to the stop. Computed here once, for every front-end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from trading.domain import display
from trading.domain.plan import Plan
from trading.domain.position import Fill, Position

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Preview:
    before: str  # "long 2 @ 53210.5", or "flat"
    after: str
    risk_to_stop: Decimal | None  # money lost if the stop is hit after an entry; None without a stop


def describe(position: Position, tick: Decimal | None = None) -> str:
    """'long 3 @ 53,210.8' (the average to the tick), or 'flat'."""
    side = position.side.value if position.side is not None else None
    return display.position(side, position.quantity, position.average_price, tick)


def preview(
    position: Position, plan: Plan, price: Decimal, stop: Decimal | None, tick: Decimal | None = None
) -> Preview:
    """The position after every leg of `plan` filled at `price`, and what the stop would
    cost it. `position` is left as it is."""
    after = Position(
        position.symbol, position.multiplier, position.side, list(position.entries), position.average_price
    )
    for index, leg in enumerate(plan.legs):
        after.apply_fill(Fill(f"preview-{index}", leg.side, leg.quantity, price, position.opened_at or _EPOCH))
    main = plan.legs[-1] if plan.legs else None
    risk = None
    if stop is not None and main is not None and not main.kind.reduces and after.average_price is not None:
        risk = abs(after.average_price - stop) * after.quantity * position.multiplier
    return Preview(describe(position, tick), describe(after, tick), risk)
