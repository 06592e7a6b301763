"""Approve-mode bots: a signal waits for a person, who approves (perhaps edited) or rejects it."""

from __future__ import annotations

from datetime import timedelta

from tests.support.service_rig import ALICE, BOB, MALLORY, Rig
from trading.domain.events import ApprovalDecided, ApprovalRequested
from trading.domain.records import SignalEdits
from trading.domain.signals import SignalAction, SignalState
from trading.domain.values import PositionSide


async def test_an_approved_signal_with_an_edited_quantity_orders_that_quantity(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    (asked,) = rig.published(ApprovalRequested)
    assert asked.signal_id == sid and asked.expires_at > rig.clock.now()
    assert rig.broker.place_calls == 0

    approved = await rig.desk.approve(sid, ALICE, SignalEdits(quantity=3))
    assert approved.ok, approved.message
    assert await rig.run(sid) is SignalState.EXECUTED

    assert rig.broker.book[f"sd-{sid}-1"].quantity == 3
    pos = await rig.position(bot)
    assert (pos.side, pos.quantity) == (PositionSide.LONG, 3)
    stored = await rig.stored(sid)
    assert stored.edits == SignalEdits(quantity=3)
    assert [(c.state, c.cause) for c in stored.history][:3] == [
        (SignalState.RECEIVED, "webhook"),
        (SignalState.PENDING_APPROVAL, "approve mode"),
        (SignalState.APPROVED, ALICE.id),
    ]
    (decided,) = rig.published(ApprovalDecided)
    assert (decided.decision, decided.by) == ("approved", "alice")
    card = await rig.desk.approval_card(sid)
    assert card is not None and card.decided_by == ALICE.id and card.edited_by == ALICE.id


async def test_an_edit_beyond_the_instruments_maximum_is_refused(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    refused = await rig.desk.approve(sid, ALICE, SignalEdits(quantity=40))
    assert (refused.ok, refused.code) == (False, "invalid") and "maximum of 12" in refused.message
    assert await rig.state(sid) is SignalState.PENDING_APPROVAL


async def test_a_rejected_signal_never_executes(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    rejected = await rig.desk.reject(sid, ALICE)
    assert rejected.ok, rejected.message
    assert await rig.run(sid) is SignalState.REJECTED
    assert rig.broker.place_calls == 0
    assert (await rig.position(bot)).is_flat
    (decided,) = rig.published(ApprovalDecided)
    assert (decided.signal_id, decided.decision, decided.by) == (sid, "rejected", "alice")


async def test_a_second_decision_is_refused_naming_who_decided_first(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    assert (await rig.desk.approve(sid, ALICE)).ok
    late = await rig.desk.reject(sid, BOB)
    assert (late.ok, late.code) == (False, "already_decided")
    assert ALICE.id in late.message and "approved" in late.message
    assert await rig.run(sid) is SignalState.EXECUTED
    assert [e.by for e in rig.published(ApprovalDecided)] == ["alice"]


async def test_only_approvers_decide_and_the_refusal_is_audited(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    refused = await rig.desk.approve(sid, MALLORY)
    assert (refused.ok, refused.code) == (False, "forbidden")
    assert await rig.state(sid) is SignalState.PENDING_APPROVAL
    async with rig.db.uow() as uow:
        audit = await uow.audit.list()
    assert [(a.actor, a.action, a.allowed) for a in audit] == [(MALLORY.id, "approve", False)]


async def test_an_approval_left_past_its_time_expires_and_cannot_be_approved(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", approval_timeout_minutes=5)
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    rig.clock.t += timedelta(minutes=6)
    assert await rig.desk.expire_due() == [sid]
    late = await rig.desk.approve(sid, ALICE)
    assert not late.ok and late.code == "already_decided"
    assert await rig.run(sid) is SignalState.EXPIRED
    assert rig.broker.place_calls == 0
