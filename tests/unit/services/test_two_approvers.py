"""Two approvers above a bot's size or risk (issue 17 item 5), and the one reminder at half
the expiry (item 9), over the fake unit of work: the first Approve is recorded with the
approval (a restart keeps it), the same person cannot approve twice, one Reject ends it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.support.service_rig import ALICE, BOB, MALLORY, Rig
from trading.domain.events import ApprovalDecided, ApprovalProgress, ApprovalReminder
from trading.domain.records import SignalEdits
from trading.domain.signals import SignalAction, SignalState

CAROL_BY_API = ALICE.__class__("api", "API", can_approve=True)


async def pending(rig: Rig, quantity: int = 3, **bot: object) -> int:
    bot_id = await rig.bot(mode="approve", **({"second_approval_above": 2} | bot))
    sid = await rig.signal(bot_id, SignalAction.ENTER_LONG, quantity=quantity)
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    return sid


async def approval(rig: Rig, sid: int):  # type: ignore[no-untyped-def]
    async with rig.db.uow() as uow:
        return await uow.approvals.get(sid)


async def test_above_the_size_the_first_approve_is_1_of_2_and_the_second_person_executes(rig: Rig) -> None:
    sid = await pending(rig)
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.approvals_needed == 2
    assert card.second_approval_reason == "3 contracts is above second_approval_above (2)"

    first = await rig.use_cases.decisions.approve(sid, ALICE)
    assert first.ok and first.message == (
        f"signal #{sid} approved 1 of 2 by alice; it needs a second approver "
        "(3 contracts is above second_approval_above (2))"
    )
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    assert rig.broker.place_calls == 0
    stored = await approval(rig, sid)
    assert (stored.first_approved_by, stored.decision) == (ALICE.id, None)
    [progress] = rig.published(ApprovalProgress)
    assert (progress.signal_id, progress.by) == (sid, "alice")
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.first_approved_by == ALICE.id and card.state == "pending_approval"

    again = await rig.use_cases.decisions.approve(sid, ALICE)
    assert (again.ok, again.code) == (False, "same_approver")
    assert again.message == (
        f"alice already approved signal #{sid} (1 of 2); it needs a second approval from a different person"
    )

    second = await rig.use_cases.decisions.approve(sid, BOB)
    assert second.ok and "approved by bob (2 of 2)" in second.message
    assert await rig.run(sid) is SignalState.EXECUTED
    assert rig.broker.book[f"sd-{sid}-1"].quantity == 3
    assert [(e.decision, e.by) for e in rig.published(ApprovalDecided)] == [("approved", "bob")]
    async with rig.db.uow() as uow:
        audit = [(a.actor, a.action, a.allowed, a.detail) for a in await uow.audit.list()]
    assert (ALICE.id, "approve", True, "1 of 2: 3 contracts is above second_approval_above (2)") in audit
    assert (ALICE.id, "approve", False, "already approved 1 of 2") in audit
    assert (BOB.id, "approve", True, f"2 of 2 (first {ALICE.id})") in audit
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and (card.decided_by, card.first_approved_by) == (BOB.id, ALICE.id)


async def test_at_or_below_the_size_one_approver_is_enough(rig: Rig) -> None:
    sid = await pending(rig, quantity=2)
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.approvals_needed == 1
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    assert await rig.run(sid) is SignalState.EXECUTED
    assert rig.published(ApprovalProgress) == []


async def test_one_reject_after_the_first_approval_ends_it(rig: Rig) -> None:
    sid = await pending(rig)
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    rejected = await rig.use_cases.decisions.reject(sid, BOB)
    assert rejected.ok
    assert await rig.run(sid) is SignalState.REJECTED
    late = await rig.use_cases.decisions.approve(sid, BOB)
    assert (late.ok, late.code) == (False, "already_decided")
    assert rig.broker.place_calls == 0


async def test_the_first_approval_survives_a_restart(rig: Rig) -> None:
    sid = await pending(rig)
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    # A new process: a new Desk over the same database.
    restarted = rig.restarted().use_cases
    assert (await restarted.decisions.approve(sid, ALICE)).code == "same_approver"
    assert (await restarted.decisions.approve(sid, BOB)).ok
    assert await rig.run(sid) is SignalState.EXECUTED


async def test_the_api_token_counts_as_one_person(rig: Rig) -> None:
    sid = await pending(rig)
    assert (await rig.use_cases.decisions.approve(sid, CAROL_BY_API)).ok
    assert (await rig.use_cases.decisions.approve(sid, CAROL_BY_API)).code == "same_approver"
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    assert await rig.run(sid) is SignalState.EXECUTED


async def test_an_edit_after_the_first_approval_withdraws_it(rig: Rig) -> None:
    sid = await pending(rig)
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    edited = await rig.use_cases.decisions.edit(sid, BOB, SignalEdits(quantity=4))
    assert edited.ok and "the first approval (by Discord member 1) was withdrawn" in edited.message
    assert (await approval(rig, sid)).first_approved_by is None
    # Bob's approval of the edited trade is now the first of two; Alice's makes the second.
    assert "1 of 2" in (await rig.use_cases.decisions.approve(sid, BOB)).message
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    assert await rig.run(sid) is SignalState.EXECUTED
    assert rig.broker.book[f"sd-{sid}-1"].quantity == 4


async def test_above_the_money_at_risk_two_are_needed(rig: Rig) -> None:
    # 1 contract bought at the ask 53211.0 with its stop at 52600.5 risks 610.5 ZAR.
    bot_id = await rig.bot(mode="approve", second_approval_risk_above="600")
    sid = await rig.signal(bot_id, SignalAction.ENTER_LONG, stop_loss=Decimal("52600.5"))
    await rig.run(sid)
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None and card.risk_to_stop == Decimal("610.5")
    assert card.second_approval_reason == "610.50 ZAR at risk is above second_approval_risk_above (600.00 ZAR)"
    assert "1 of 2" in (await rig.use_cases.decisions.approve(sid, ALICE)).message
    assert (await rig.use_cases.decisions.approve(sid, BOB)).ok
    assert await rig.run(sid) is SignalState.EXECUTED


async def test_a_non_approver_is_still_refused_first(rig: Rig) -> None:
    sid = await pending(rig)
    assert (await rig.use_cases.decisions.approve(sid, MALLORY)).code == "forbidden"
    assert (await approval(rig, sid)).first_approved_by is None


# --- the reminder at half the expiry ------------------------------------------------------


async def test_a_card_is_reminded_once_at_half_its_expiry_then_expires(rig: Rig) -> None:
    bot_id = await rig.bot(mode="approve", approval_timeout_minutes=10)
    sid = await rig.signal(bot_id, SignalAction.ENTER_LONG)
    await rig.run(sid)
    requested = (await approval(rig, sid)).requested_at
    rig.clock.t = requested + timedelta(minutes=4, seconds=59)
    assert await rig.use_cases.decisions.run_due() == [] and rig.published(ApprovalReminder) == []
    rig.clock.t = requested + timedelta(minutes=5, seconds=1)
    assert await rig.use_cases.decisions.run_due() == []
    [reminder] = rig.published(ApprovalReminder)
    assert reminder.signal_id == sid and reminder.expires_at == (await approval(rig, sid)).expires_at
    assert (await approval(rig, sid)).reminded_at == rig.clock.t
    # Once: neither the next check nor a restarted process reminds again.
    assert await rig.use_cases.decisions.remind_due() == []
    restarted = rig.restarted().use_cases
    assert await restarted.decisions.remind_due() == []
    assert len(rig.published(ApprovalReminder)) == 1
    rig.clock.t = requested + timedelta(minutes=11)
    assert await restarted.decisions.run_due() == [sid]
    assert len(rig.published(ApprovalReminder)) == 1


async def test_a_decided_card_is_not_reminded(rig: Rig) -> None:
    bot_id = await rig.bot(mode="approve", approval_timeout_minutes=10)
    sid = await rig.signal(bot_id, SignalAction.ENTER_LONG)
    await rig.run(sid)
    assert (await rig.use_cases.decisions.reject(sid, ALICE)).ok
    rig.clock.t += timedelta(minutes=6)
    assert await rig.use_cases.decisions.remind_due() == []
