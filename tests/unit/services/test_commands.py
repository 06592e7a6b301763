"""Commands from the desk: the halt (kill switch) and /close."""

from __future__ import annotations

from decimal import Decimal

from tests.support.service_rig import ALICE, BOT_NAME, MALLORY, Rig
from trading.domain.events import HaltChanged, SignalRefused, TradeClosed
from trading.domain.signals import SignalAction, SignalState


async def test_a_halt_refuses_entries_but_lets_closes_through(rig: Rig) -> None:
    bot = await rig.bot()
    await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG))
    halted = await rig.use_cases.commands.halt(ALICE, "news")
    assert halted.ok
    assert (await rig.use_cases.queries.control()).halted
    (change,) = rig.published(HaltChanged)
    assert (change.halted, change.by, change.reason) == (True, "alice", "news")

    entry = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(entry) is SignalState.REFUSED
    (refused,) = rig.published(SignalRefused)
    assert refused.signal_id == entry and "halted" in refused.reason
    assert (await rig.position(bot)).quantity == 1

    close = await rig.signal(bot, SignalAction.CLOSE_LONG)
    assert await rig.run(close) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat
    assert rig.broker.place_calls == 2


async def test_close_command_closes_the_whole_position_through_the_normal_path(rig: Rig) -> None:
    bot = await rig.bot()
    for _ in range(2):
        await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG))
    assert (await rig.position(bot)).quantity == 2

    forbidden = await rig.use_cases.commands.close_position(BOT_NAME, MALLORY)
    assert (forbidden.ok, forbidden.code) == (False, "forbidden")
    closing = await rig.use_cases.commands.close_position(BOT_NAME, ALICE)
    assert closing.ok, closing.message
    assert closing.signal is not None and closing.signal.state is SignalState.QUEUED
    assert await rig.run(closing.signal.id) is SignalState.EXECUTED

    assert (await rig.position(bot)).is_flat
    (trade,) = rig.published(TradeClosed)
    assert trade.quantity == 2 and trade.realized_pnl == (Decimal("53210.0") - Decimal("53211.0")) * 2
    assert (await rig.use_cases.commands.close_position(BOT_NAME, ALICE)).code == "invalid"  # nothing left to close
    async with rig.db.uow() as uow:
        audit = await uow.audit.list()
    assert [(a.actor, a.action, a.allowed) for a in audit] == [(ALICE.id, "close", True), (MALLORY.id, "close", False)]
