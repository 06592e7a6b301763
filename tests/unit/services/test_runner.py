"""The runner moves stored signals through their life without anyone calling the desk."""

from __future__ import annotations

from tests.support.service_rig import ALICE, Rig
from trading.domain.events import ApprovalRequested
from trading.domain.records import SignalEdits
from trading.domain.signals import SignalAction, SignalState


async def test_the_runner_resumes_stored_signals_in_order_at_start(rig: Rig) -> None:
    bot = await rig.bot()
    entry = await rig.signal(bot, SignalAction.ENTER_LONG)
    close = await rig.signal(bot, SignalAction.CLOSE_LONG)
    runner = rig.runner
    assert await runner.start() == 2
    try:
        await runner.idle(10)
    finally:
        await runner.stop(1)
    assert [await rig.state(entry), await rig.state(close)] == [SignalState.EXECUTED, SignalState.EXECUTED]
    assert (await rig.position(bot)).is_flat
    assert len(await rig.use_cases.queries.trades()) == 1
    assert [o.side.value for o in rig.broker.book.values()] == ["buy", "sell"]


async def test_an_approval_wakes_the_runner_which_executes_the_edited_signal(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    runner = rig.runner
    await runner.start()
    try:
        sid = await rig.signal(bot, SignalAction.ENTER_LONG)
        runner.wake_bot(bot)  # as the intake does once the signal is stored
        await runner.idle(10)
        assert await rig.state(sid) is SignalState.PENDING_APPROVAL
        assert [e.signal_id for e in rig.published(ApprovalRequested)] == [sid]

        assert (await rig.use_cases.decisions.approve(sid, ALICE, SignalEdits(quantity=2))).ok
        await runner.idle(10)
    finally:
        await runner.stop(1)
    assert await rig.state(sid) is SignalState.EXECUTED
    assert (await rig.position(bot)).quantity == 2
