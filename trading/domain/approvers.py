"""How many approvers a plan needs: one, or two different people above a size or a risk.

Only entries (open, add, the open of a reversal) can need two: a close or a reduce takes
risk off, and must never wait for a second person.
"""

from __future__ import annotations

from decimal import Decimal

from trading.domain import display
from trading.domain.config import BotConfig
from trading.domain.plan import LegKind, Plan


def second_approval_reason(config: BotConfig, plan: Plan, risk: Decimal | None, currency: str) -> str | None:
    """Why this plan needs a second, different approver; None when one is enough.
    `risk` is the money at risk to the stop (the approval preview's); None when there is no stop."""
    entries = [leg for leg in plan.legs if leg.kind in (LegKind.OPEN, LegKind.ADD)]
    if not entries or plan.is_ignore:
        return None
    quantity = sum(leg.quantity for leg in entries)
    limit = config.second_approval_above
    if limit is not None and quantity > limit:
        return f"{quantity} contracts is above second_approval_above ({limit})"
    risk_limit = config.second_approval_risk_above
    if risk_limit is not None:
        if risk is None:
            limit_text = display.risk(risk_limit, currency)
            return f"no stop, so the money at risk has no bound (second_approval_risk_above {limit_text})"
        if risk > risk_limit:
            return (
                f"{display.risk(risk, currency)} at risk is above second_approval_risk_above "
                f"({display.risk(risk_limit, currency)})"
            ).replace("  ", " ")
    return None


def approvers_needed(reason: str | None) -> int:
    return 1 if reason is None else 2
