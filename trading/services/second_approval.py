"""How many approvers a signal needs, as it would be sent now: one, or two different people
above the bot's size or risk thresholds. A leg of a bot on several accounts is judged by its
alert's total, so that splitting a trade over accounts never avoids a second person. Used by
the decisions (the rule) and the approval card (what it says)."""

from __future__ import annotations

from decimal import Decimal

from trading.domain.approvers import second_approval_reason
from trading.domain.legs import account_of, on_account
from trading.domain.plan import Leg, Plan
from trading.domain.records import SignalEdits
from trading.services.market_view import MarketView
from trading.services.ports import UnitOfWorkFactory
from trading.services.positions import position_of


async def second_approval_of(
    uow_factory: UnitOfWorkFactory, market: MarketView, signal_id: int, edits: SignalEdits | None
) -> str | None:
    """Why approving this signal as it would be sent needs two different approvers; None
    when one is enough (the bot sets no threshold, or the plan is under both). A leg of a
    bot on several accounts is judged by its alert's total: every leg's entries and money
    at risk added up (so that splitting a trade over accounts never avoids a second person)."""
    async with uow_factory(read_only=True) as uow:
        stored = await uow.signals.get(signal_id, history=False)
        whole = await uow.bots.get(stored.bot_id) if stored else None
        if stored is None or whole is None:
            return None
        config = whole.config
        if config.second_approval_above is None and config.second_approval_risk_above is None:
            return None
        ids = await uow.signals.legs_of(signal_id) if config.accounts is not None else [signal_id]
        legs = [s for i in ids if (s := await uow.signals.get(i, history=False)) is not None]
        held = []
        for leg in legs:
            bot = on_account(whole, account_of(leg.signal, config))
            position = await position_of(uow, bot)
            held.append((leg, bot, position))
    entries: list[Leg] = []
    risk: Decimal | None = Decimal(0)
    currency = ""
    for leg, bot, position in held:
        # The edits are the approver's for the signal asked about; its siblings keep theirs.
        effective = (edits if edits is not None else leg.edits) if leg.id == signal_id else leg.edits
        outlook = await market.outlook(bot, leg.signal, effective, position, quote=await market.quote(bot))
        if outlook.plan.is_ignore or not outlook.plan.is_entry:
            continue  # nothing, or risk taken off: never counted towards a second approver
        entries.extend(outlook.plan.legs)
        at_risk = outlook.preview.risk_to_stop
        risk = None if risk is None or at_risk is None else risk + at_risk
        currency = currency or outlook.instrument.currency
    return second_approval_reason(config, Plan(legs=tuple(entries)), risk, currency)
