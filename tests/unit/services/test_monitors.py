"""The stop monitor: a position whose stop the market reached is closed, once."""

from __future__ import annotations

from datetime import timedelta

from tests.support.service_rig import ALICE, BOT_NAME, SYMBOL, Rig
from trading.domain.events import ExitFailing, Notice, QuotesBack, QuotesUnavailable, TradeClosed
from trading.domain.signals import SignalAction, SignalState


async def test_the_stop_monitor_closes_a_position_whose_stop_was_hit(rig: Rig) -> None:
    bot = await rig.bot(stop_loss_pct="1")
    await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG))
    pos = await rig.position(bot)
    assert pos.stop_loss is not None and pos.average_price is not None and pos.stop_loss < pos.average_price

    assert await rig.use_cases.monitors.check_exits() == []  # the market has not reached it
    rig.broker.bid, rig.broker.ask = pos.stop_loss - 10, pos.stop_loss - 9
    (made,) = await rig.use_cases.monitors.check_exits()
    assert await rig.use_cases.monitors.check_exits() == []  # never twice for the same position
    notices = rig.published(Notice)
    assert notices and notices[-1].signal_id == made and "stop loss" in notices[-1].message

    assert await rig.run(made) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat
    (trade,) = rig.published(TradeClosed)
    assert trade.exit_price == pos.stop_loss - 10
    assert trade.realized_pnl == pos.stop_loss - 10 - pos.average_price
    assert trade.realized_pnl < 0


# --------------------------------------------------------------------------- exits seen through


async def _stopped_out(rig: Rig) -> tuple[int, int]:
    """A long position whose stop the market has gone through; the monitor's first close."""
    bot = await rig.bot(stop_loss_pct="1")
    await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG))
    pos = await rig.position(bot)
    assert pos.stop_loss is not None
    rig.broker.bid, rig.broker.ask = pos.stop_loss - 10, pos.stop_loss - 9
    rig.use_cases.monitors.retry_first = 2.0
    rig.use_cases.monitors.retry_cap = 60.0
    (first,) = await rig.use_cases.monitors.check_exits()
    return bot, first


async def _fail_and_wait(rig: Rig, signal_id: int) -> SignalState:
    """Run the exit signal with the broker refusing its order."""
    rig.broker.faults.refuse_orders = 1
    state = await rig.run(signal_id)
    assert rig.broker.faults.refuse_orders == 0  # the exit's order was the one refused
    return state


async def test_a_failed_exit_is_retried_with_backoff_until_flat_and_the_error_channel_hears_of_it(
    rig: Rig,
) -> None:
    bot, signal_id = await _stopped_out(rig)
    made = [signal_id]
    waits: list[float] = []
    for _ in range(5):
        assert await _fail_and_wait(rig, made[-1]) in (SignalState.FAILED, SignalState.REFUSED)
        assert await rig.use_cases.monitors.check_exits() == []  # the failure is seen; the retry waits for its backoff
        waits.append(rig.published(ExitFailing)[-1].retry_in if rig.published(ExitFailing) else -1)
        async with rig.db.uow() as uow:
            (watch,) = await uow.exits.list()
        assert watch.next_attempt_at is not None
        rig.clock.t = watch.next_attempt_at
        (again,) = await rig.use_cases.monitors.check_exits()
        made.append(again)
    # Told after the first failure, then every third: failures 1 and 4 of 5.
    failing = rig.published(ExitFailing)
    assert [e.failures for e in failing] == [1, 4]
    assert failing[0].severity.value == "error" and "MARKET_CLOSED" in failing[0].reason
    assert failing[0].trigger.startswith("stop loss") and failing[0].retry_in == 2.0
    assert failing[1].retry_in == 16.0  # doubling: 2, 4, 8, 16
    assert len(set(made)) == 6

    assert await rig.run(made[-1]) is SignalState.EXECUTED  # the broker takes it at last
    assert (await rig.position(bot)).is_flat
    assert await rig.use_cases.monitors.check_exits() == []
    async with rig.db.uow() as uow:
        assert await uow.exits.list() == []  # nothing left to watch
    assert len(rig.published(ExitFailing)) == 2


async def test_a_pause_or_a_close_stops_the_retries_and_a_resume_starts_afresh(rig: Rig) -> None:
    bot, signal_id = await _stopped_out(rig)
    await _fail_and_wait(rig, signal_id)
    assert await rig.use_cases.monitors.check_exits() == []
    assert (await rig.use_cases.commands.pause(BOT_NAME, ALICE)).ok
    rig.clock.t += timedelta(hours=1)
    assert await rig.use_cases.monitors.check_exits() == []  # a person stepped in: no more tries
    async with rig.db.uow() as uow:
        (watch,) = await uow.exits.list()
    assert watch.stopped == "paused by alice"

    assert (await rig.use_cases.commands.resume(BOT_NAME, ALICE)).ok
    (again,) = await rig.use_cases.monitors.check_exits()  # tried again at once
    assert again != signal_id and "try 2" in ((await rig.stored(again)).signal.message or "")
    await _fail_and_wait(rig, again)
    assert await rig.use_cases.monitors.check_exits() == []
    closing = await rig.use_cases.commands.close_position(BOT_NAME, ALICE)
    assert closing.ok
    rig.clock.t += timedelta(hours=1)
    assert await rig.use_cases.monitors.check_exits() == []
    async with rig.db.uow() as uow:
        (watch,) = await uow.exits.list()
        audit = await uow.audit.list()
    assert watch.stopped is not None and watch.stopped.startswith("closed by alice")
    assert "the stop monitor's retries stopped" in audit[0].detail
    assert closing.signal is not None
    assert await rig.run(closing.signal.id) is SignalState.EXECUTED, (await rig.stored(closing.signal.id)).reason
    assert (await rig.position(bot)).is_flat


async def test_the_retry_count_survives_a_restart(rig: Rig) -> None:
    _, signal_id = await _stopped_out(rig)
    await _fail_and_wait(rig, signal_id)
    assert await rig.use_cases.monitors.check_exits() == []
    # A new process: a new desk over the same database knows the exit is failing.
    monitors = rig.restarted().use_cases.monitors
    rig.clock.t += timedelta(seconds=2)
    (again,) = await monitors.check_exits()
    await _fail_and_wait(rig, again)
    assert await monitors.check_exits() == []
    async with rig.db.uow() as uow:
        (watch,) = await uow.exits.list()
    assert (watch.attempts, watch.failures) == (2, 2)


async def test_quotes_missing_for_three_passes_are_reported_once_and_their_return_once(rig: Rig) -> None:
    bot = await rig.bot(stop_loss_pct="1")
    await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG))
    rig.broker.faults.quote_down = True
    for _ in range(2):
        await rig.use_cases.monitors.check_exits()
    assert rig.published(QuotesUnavailable) == []
    for _ in range(4):
        await rig.use_cases.monitors.check_exits()
    (missing,) = rig.published(QuotesUnavailable)
    assert missing.passes == 3 and missing.symbol == SYMBOL and missing.severity.value == "error"
    assert "stop" in missing.text() and "not being watched" in missing.text()
    rig.broker.faults.quote_down = False
    await rig.use_cases.monitors.check_exits()
    await rig.use_cases.monitors.check_exits()
    (back,) = rig.published(QuotesBack)
    assert back.text() == f"quotes for {SYMBOL} are back: {BOT_NAME}'s stop is watched again"
    rig.broker.faults.quote_down = True
    for _ in range(2):
        await rig.use_cases.monitors.check_exits()
    assert len(rig.published(QuotesUnavailable)) == 1  # two misses in a row: not yet again


async def test_missing_quotes_for_a_position_without_a_stop_are_not_reported(rig: Rig) -> None:
    bot = await rig.bot(take_profit_pct="1")
    await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG))
    rig.broker.faults.quote_down = True
    for _ in range(5):
        await rig.use_cases.monitors.check_exits()
    assert rig.published(QuotesUnavailable) == []
