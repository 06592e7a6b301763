"""`approve = "entries"`: in approve mode only entries wait for a person; closes, reductions,
take-profits and breakevens run at once, and a reversal closes at once while only its new
entry waits on a card that says so."""

from __future__ import annotations

from decimal import Decimal

from tests.support.service_rig import ALICE, Rig
from trading.domain.approval_scope import split_close_id
from trading.domain.events import ApprovalRequested
from trading.domain.signals import SignalAction, SignalSource, SignalState
from trading.domain.values import PositionSide


async def _long(rig: Rig, bot: int, quantity: int = 2) -> None:
    """Open a long of `quantity` through a card, approved."""
    sid = await rig.signal(bot, SignalAction.ENTER_LONG, quantity=quantity)
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    assert await rig.run(sid) is SignalState.EXECUTED


async def test_exits_run_at_once_while_entries_wait(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", approve="entries")
    await _long(rig, bot, quantity=3)
    asked = len(rig.published(ApprovalRequested))

    reduce = await rig.signal(bot, SignalAction.REDUCE, reduce_pct=Decimal(50))
    assert await rig.run(reduce) is SignalState.EXECUTED
    breakeven = await rig.signal(bot, SignalAction.BREAKEVEN)
    assert await rig.run(breakeven) is SignalState.EXECUTED
    assert (await rig.position(bot)).stop_loss is not None
    close = await rig.signal(bot, SignalAction.CLOSE)
    assert await rig.run(close) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat
    assert len(rig.published(ApprovalRequested)) == asked  # no card for any of them
    queued = [c for c in (await rig.stored(close)).history if c.state is SignalState.QUEUED]
    assert [c.cause for c in queued] == ["approve entries"]

    entry = await rig.signal(bot, SignalAction.ENTER_SHORT)
    assert await rig.run(entry) is SignalState.PENDING_APPROVAL
    assert rig.broker.book.get(f"sd-{entry}-1") is None


async def test_approve_all_stays_the_default_and_a_close_waits(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    await _long(rig, bot)
    close = await rig.signal(bot, SignalAction.CLOSE)
    assert await rig.run(close) is SignalState.PENDING_APPROVAL
    assert not (await rig.position(bot)).is_flat


async def test_a_reversal_closes_at_once_and_only_the_new_entry_waits_on_a_card_that_says_so(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", approve="entries")
    await _long(rig, bot, quantity=2)

    entry = await rig.signal(bot, SignalAction.ENTER_SHORT)
    assert await rig.run(entry) is SignalState.PENDING_APPROVAL
    stored = await rig.stored(entry)
    close_id = split_close_id(stored.reason)
    assert close_id is not None and close_id != entry
    assert stored.reason == (
        f"approve entries: the long 2 is closed at once (signal #{close_id}); only the new entry waits"
    )
    closing = await rig.stored(close_id)
    assert (closing.state, closing.signal.action, closing.signal.source) == (
        SignalState.QUEUED,
        SignalAction.CLOSE,
        SignalSource.COMMAND,
    )

    # Approving before the close finished would reverse a second time: refused, the card waits.
    early = await rig.use_cases.decisions.approve(entry, ALICE)
    assert (early.ok, early.code) == (False, "not_pending")
    assert f"waits for its close (signal #{close_id}" in early.message

    card = await rig.use_cases.queries.approval_card(entry)
    assert card is not None and card.plan_summary == "open" and card.quantity == 1
    assert card.notes[0] == stored.reason

    assert await rig.run(close_id) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat
    assert (await rig.use_cases.decisions.approve(entry, ALICE)).ok
    assert await rig.run(entry) is SignalState.EXECUTED
    assert [o.leg_kind.value for o in await rig.orders(entry)] == ["open"]
    pos = await rig.position(bot)
    assert (pos.side, pos.quantity) == (PositionSide.SHORT, 1)


async def test_a_reversal_the_bot_does_not_take_waits_whole(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", approve="entries", exit_on_opposite_signal=False)
    await _long(rig, bot)
    entry = await rig.signal(bot, SignalAction.ENTER_SHORT)
    assert await rig.run(entry) is SignalState.PENDING_APPROVAL
    assert split_close_id((await rig.stored(entry)).reason) is None
    assert (await rig.stored(entry)).reason is None


async def test_a_breakeven_alone_moves_the_stop_and_completes_without_an_order(rig: Rig) -> None:
    bot = await rig.bot()
    entry = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(entry) is SignalState.EXECUTED
    placed = rig.broker.place_calls
    breakeven = await rig.signal(bot, SignalAction.BREAKEVEN)
    assert await rig.run(breakeven) is SignalState.EXECUTED
    pos = await rig.position(bot)
    assert pos.stop_loss == pos.average_price and rig.broker.place_calls == placed
    assert await rig.orders(breakeven) == []


async def test_the_split_close_carries_nothing_of_the_entry(rig: Rig) -> None:
    """A strategy alert says the position it leaves (short 1) and the entry's stop: the close
    that runs first is a close of its own, so it is not taken for a missed alert."""
    bot = await rig.bot(mode="approve", approve="entries")
    await _long(rig, bot, quantity=1)
    entry = await rig.signal(bot, SignalAction.ENTER_SHORT, target_position=-1, stop_loss=Decimal(54000))
    assert await rig.run(entry) is SignalState.PENDING_APPROVAL
    close_id = split_close_id((await rig.stored(entry)).reason)
    assert close_id is not None
    closing = (await rig.stored(close_id)).signal
    assert (closing.target_position, closing.stop_loss, closing.quantity) == (None, None, None)
    assert await rig.run(close_id) is SignalState.EXECUTED
    async with rig.db.uow() as uow:
        assert not (await uow.bots.get(bot)).needs_attention
    assert (await rig.use_cases.decisions.approve(entry, ALICE)).ok
    assert await rig.run(entry) is SignalState.EXECUTED
    pos = await rig.position(bot)
    assert (pos.side, pos.quantity, pos.stop_loss) == (PositionSide.SHORT, 1, Decimal(54000))
