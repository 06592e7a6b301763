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

    approved = await rig.use_cases.decisions.approve(sid, ALICE, SignalEdits(quantity=3))
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
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.decided_by == ALICE.id and card.edited_by == ALICE.id


async def test_an_edit_beyond_the_instruments_maximum_is_refused(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    refused = await rig.use_cases.decisions.approve(sid, ALICE, SignalEdits(quantity=40))
    assert (refused.ok, refused.code) == (False, "invalid") and "maximum of 12" in refused.message
    assert await rig.state(sid) is SignalState.PENDING_APPROVAL


async def test_a_rejected_signal_never_executes(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    rejected = await rig.use_cases.decisions.reject(sid, ALICE)
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
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    late = await rig.use_cases.decisions.reject(sid, BOB)
    assert (late.ok, late.code) == (False, "already_decided")
    assert "approved by alice" in late.message  # the display name, not "Discord member 1"
    assert await rig.run(sid) is SignalState.EXECUTED
    assert [e.by for e in rig.published(ApprovalDecided)] == ["alice"]


async def test_only_approvers_decide_and_the_refusal_is_audited(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    refused = await rig.use_cases.decisions.approve(sid, MALLORY)
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
    assert await rig.use_cases.decisions.run_due() == [sid]
    late = await rig.use_cases.decisions.approve(sid, ALICE)
    assert not late.ok and late.code == "already_decided"
    assert await rig.run(sid) is SignalState.EXPIRED
    assert rig.broker.place_calls == 0


async def test_a_reject_keeps_its_reason_in_the_audit_the_signal_the_card_and_the_event(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    rejected = await rig.use_cases.decisions.reject(sid, ALICE, " spread\x00 too wide\n\u202e ")
    assert rejected.ok and rejected.message.endswith(": spread too wide"), rejected.message
    stored = await rig.stored(sid)
    assert (stored.state, stored.reason) == (SignalState.REJECTED, "spread too wide")
    async with rig.db.uow() as uow:
        (entry,) = await uow.audit.list()
    assert (entry.actor, entry.action, entry.detail) == (ALICE.id, "reject", "reason: spread too wide")
    (decided,) = rig.published(ApprovalDecided)
    assert decided.reason == "spread too wide" and decided.text().endswith(": spread too wide")
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.decision_reason == "spread too wide"


async def test_a_reject_without_a_reason_says_none(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    assert (await rig.use_cases.decisions.reject(sid, ALICE, "  ")).ok
    assert (await rig.stored(sid)).reason is None
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.decision_reason is None


async def test_the_decisions_of_the_last_day_are_listed_newest_first(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", approval_timeout_minutes=5)
    old = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(old)
    assert (await rig.use_cases.decisions.reject(old, BOB, "yesterday")).ok
    rig.clock.t += timedelta(hours=25)
    first = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(first)
    assert (await rig.use_cases.decisions.reject(first, ALICE, "too late")).ok
    rig.clock.t += timedelta(minutes=1)
    lapsed = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(lapsed)
    waiting = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(waiting)
    rig.clock.t += timedelta(minutes=6)
    await rig.use_cases.decisions.run_due()

    decided = await rig.use_cases.queries.recent_decisions(rig.clock.now() - timedelta(hours=24))
    assert [(d.signal_id, d.decision, d.decided_by) for d in decided] == [
        (waiting, "expired", "expiry"),
        (lapsed, "expired", "expiry"),
        (first, "rejected", ALICE.id),
    ]
    assert decided[0].reason is not None and decided[0].reason.startswith("no decision by")
    assert decided[-1].reason == "too late"
    assert decided[-1].bot_name == "SA40_RSI_Bot" and decided[-1].action == "enter_long"
    assert decided[-1].state == "rejected"
