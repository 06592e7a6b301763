"""Approvals that decay through the services: a card expires itself on drift with the
reason; a late approval is sent as a capped, marketable limit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.support.service_rig import ALICE, Rig
from trading.domain.events import ApprovalDecided
from trading.domain.signals import SignalAction, SignalState
from trading.domain.values import OrderType
from trading.services.decisions import DRIFT_CHECK


async def test_a_card_expires_itself_once_the_quote_drifts_too_far(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", approval_max_drift_pct="0.5")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)  # at 53,210.5
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    rig.broker.bid, rig.broker.ask = Decimal(53400), Decimal(53476)  # the ask is 0.4990% away
    assert await rig.use_cases.decisions.run_due() == []
    rig.broker.bid, rig.broker.ask = Decimal(53400), Decimal(53478)  # 0.5028%
    rig.clock.t += DRIFT_CHECK
    assert await rig.use_cases.decisions.run_due() == [sid]
    stored = await rig.stored(sid)
    assert stored.state is SignalState.EXPIRED
    assert stored.reason == "the price moved 0.50% from the alert's 53,210.5 to 53,478.0 (approval_max_drift_pct 0.5)"
    assert rig.published(ApprovalDecided)[-1].decision == "expired"
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.lapse_reason == stored.reason
    late = await rig.use_cases.decisions.approve(sid, ALICE)
    assert not late.ok and rig.broker.place_calls == 0


async def test_an_approved_entry_goes_as_a_capped_limit_and_a_close_at_market(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", approve="entries", approval_limit_offset_pct="0.1")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    assert await rig.run(sid) is SignalState.EXECUTED
    (order,) = await rig.orders(sid)
    assert (order.type, order.limit_price) == (OrderType.LIMIT, Decimal("53263.5"))  # 53,210.5 + 0.1%, on the tick
    close = await rig.signal(bot, SignalAction.CLOSE)
    assert await rig.run(close) is SignalState.EXECUTED
    assert [o.type for o in await rig.orders(close)] == [OrderType.MARKET]


async def test_a_card_that_simply_ran_out_of_time_gives_no_lapse_reason(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", approval_timeout_minutes=1)
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    rig.clock.t += timedelta(minutes=2)
    assert await rig.use_cases.decisions.run_due() == [sid]
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.state == "expired" and card.lapse_reason is None


async def test_a_pending_card_carries_the_quote_its_signed_drift_and_the_time_left(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", approval_timeout_minutes=15)
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)  # at 53,210.5
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    rig.broker.bid, rig.broker.ask = Decimal(53100), Decimal(53101)  # the ask 109.5 under the alert
    rig.clock.t += timedelta(minutes=4, seconds=30)
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.expires_at is not None
    # 53,101 - 53,210.5 = -109.5, / 53,210.5 = -0.2058%; the 15 minutes from the alert, less what passed.
    assert (card.quote, card.drift_price) == (Decimal(53101), Decimal("-109.5"))
    assert card.drift_text == "-109.5 (-0.21%) below the alert"
    created = (await rig.stored(sid)).created_at
    assert card.time_left == created + timedelta(minutes=15) - rig.clock.now()
    assert timedelta(minutes=10) < card.time_left <= timedelta(minutes=10, seconds=30)
    assert (await rig.use_cases.decisions.reject(sid, ALICE)).ok
    decided = await rig.use_cases.queries.approval_card(sid)
    assert decided is not None and (decided.drift_price, decided.drift_text, decided.time_left) == (None, None, None)
