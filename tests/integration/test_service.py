"""The service layer end to end over a real database, with a fake broker implementing the port."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from db.database import Database
from tests.support.service_rig import ALICE, MALLORY, Rig, make_rig
from trading.domain.events import Event, Notice, PositionMismatch, SignalRefused, TradeClosed
from trading.domain.orders import OrderStatus
from trading.domain.records import SignalEdits
from trading.domain.signals import SignalAction, SignalState
from trading.domain.values import OrderType, PositionSide
from trading.services.dispatch import EventBus


@pytest.fixture
def rig(database: Database) -> Rig:
    return make_rig(database)


@pytest.fixture
def lite(sqlite_database: Database) -> Rig:
    return make_rig(sqlite_database)


async def test_auto_mode_entry_executes_once_and_opens_the_position(rig: Rig) -> None:
    bot = await rig.bot()
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.EXECUTED
    pos = await rig.position(bot)
    assert (pos.side, pos.quantity, pos.average_price) == (PositionSide.LONG, 1, Decimal("53211.0"))
    assert list(rig.broker.book) == [f"sd-{sid}-1"]
    # running it again changes nothing
    assert (await rig.use_cases.steps.advance(sid)).finished
    assert rig.broker.place_calls == 1


async def test_pyramiding_then_reversal_records_the_trade_with_realized_pnl(rig: Rig) -> None:
    bot = await rig.bot()
    for _ in range(2):
        await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG))
    rig.broker.bid, rig.broker.ask = Decimal("53300.0"), Decimal("53301.0")
    sid = await rig.signal(bot, SignalAction.ENTER_SHORT, price="53300.0")
    assert await rig.run(sid) is SignalState.EXECUTED
    pos = await rig.position(bot)
    assert (pos.side, pos.quantity, pos.average_price) == (PositionSide.SHORT, 1, Decimal("53300.0"))
    trades = await rig.use_cases.queries.trades()
    assert len(trades) == 1 and trades[0].quantity == 2
    assert trades[0].realized_pnl == (Decimal("53300.0") - Decimal("53211.0")) * 2
    assert rig.broker.net["SA40"] == -1


async def test_approve_mode_waits_then_an_approver_executes_it(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    assert rig.broker.place_calls == 0
    refused = await rig.use_cases.decisions.approve(sid, MALLORY)
    assert (refused.ok, refused.code) == (False, "forbidden")
    ok = await rig.use_cases.decisions.approve(sid, ALICE)
    assert ok.ok, ok.message
    again = await rig.use_cases.decisions.approve(sid, ALICE)
    assert again.code == "already_decided"
    assert await rig.run(sid) is SignalState.EXECUTED
    assert rig.broker.place_calls == 1
    card = await rig.use_cases.queries.approval_card(sid)
    assert card is not None
    assert (card.plan_summary, card.quantity, card.position_after) == ("open", 1, "long 1 @ 53,211.0")
    assert card.decided_by == ALICE.id and card.outcome == "buy 1 @ 53,211.0"
    async with rig.db.uow() as uow:
        audit = await uow.audit.list()
    assert any(a.actor == MALLORY.id and not a.allowed for a in audit)
    assert any(a.actor == ALICE.id and a.allowed and a.action == "approve" for a in audit)


async def test_edited_quantity_is_what_gets_ordered(lite: Rig) -> None:
    bot = await lite.bot(mode="approve")
    sid = await lite.signal(bot, SignalAction.ENTER_LONG)
    await lite.run(sid)
    bad = await lite.use_cases.decisions.edit(sid, ALICE, SignalEdits(quantity=40))
    assert bad.code == "invalid" and "maximum of 12" in bad.message
    assert (await lite.use_cases.decisions.edit(sid, ALICE, SignalEdits(quantity=3))).ok
    card = await lite.use_cases.queries.approval_card(sid)
    assert card is not None and card.quantity == 3 and card.plan_summary == "open"
    assert (await lite.use_cases.decisions.approve(sid, ALICE)).ok
    assert await lite.run(sid) is SignalState.EXECUTED
    assert lite.broker.book[f"sd-{sid}-1"].quantity == 3


async def test_reject_and_expiry_never_execute(lite: Rig) -> None:
    bot = await lite.bot(mode="approve", approval_timeout_minutes=5)
    rejected = await lite.signal(bot, SignalAction.ENTER_LONG)
    expiring = await lite.signal(bot, SignalAction.ENTER_LONG)
    await lite.run(rejected)
    await lite.run(expiring)
    assert (await lite.use_cases.decisions.reject(rejected, ALICE)).ok
    lite.clock.t += timedelta(minutes=6)
    assert await lite.use_cases.decisions.run_due() == [expiring]
    late = await lite.use_cases.decisions.approve(expiring, ALICE)
    assert not late.ok
    assert await lite.run(rejected) is SignalState.REJECTED
    assert await lite.run(expiring) is SignalState.EXPIRED
    assert lite.broker.place_calls == 0


async def test_lost_answer_is_looked_up_and_never_sent_twice(rig: Rig) -> None:
    bot = await rig.bot()
    rig.broker.faults.drop_after_place = 1
    rig.broker.faults.hide_for_lookups = 1
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    first = await rig.use_cases.steps.advance(sid)
    assert not first.finished
    async with rig.db.uow() as uow:
        (order,) = await uow.orders.list_for_signal(sid)
    assert order.status is OrderStatus.UNKNOWN
    assert await rig.run(sid) is SignalState.EXECUTED
    assert len(rig.broker.book) == 1 and rig.broker.lookups >= 1
    assert (await rig.position(bot)).quantity == 1


async def test_a_refused_order_fails_the_signal_with_the_brokers_reason(lite: Rig) -> None:
    bot = await lite.bot()
    lite.broker.faults.refuse_next = "INSUFFICIENT_MARGIN"
    sid = await lite.signal(bot, SignalAction.ENTER_LONG)
    assert await lite.run(sid) is SignalState.FAILED
    view = await lite.use_cases.queries.signal_view(sid)
    assert view is not None and "INSUFFICIENT_MARGIN" in (view.signal.reason or "")
    assert (await lite.position(bot)).is_flat


async def test_halt_refuses_entries_but_lets_closes_through(lite: Rig) -> None:
    bot = await lite.bot()
    await lite.run(await lite.signal(bot, SignalAction.ENTER_LONG))
    assert (await lite.use_cases.commands.halt(ALICE, "test")).ok
    entry = await lite.signal(bot, SignalAction.ENTER_LONG)
    assert await lite.run(entry) is SignalState.REFUSED
    assert any(isinstance(e, SignalRefused) and "halted" in e.reason for e in lite.events)
    close = await lite.signal(bot, SignalAction.CLOSE_LONG)
    assert await lite.run(close) is SignalState.EXECUTED
    assert (await lite.position(bot)).is_flat


async def test_slippage_beyond_the_limit_is_refused(lite: Rig) -> None:
    bot = await lite.bot(max_slippage_pct="0.1")
    sid = await lite.signal(bot, SignalAction.ENTER_LONG, price="52000")
    assert await lite.run(sid) is SignalState.REFUSED
    view = await lite.use_cases.queries.signal_view(sid)
    assert view is not None and "max_slippage_pct" in (view.signal.reason or "")


async def test_daily_loss_limit_pauses_the_bot(lite: Rig) -> None:
    bot = await lite.bot(max_daily_loss="50")
    await lite.run(await lite.signal(bot, SignalAction.ENTER_LONG))
    lite.broker.bid, lite.broker.ask = Decimal("53100.0"), Decimal("53101.0")
    await lite.run(await lite.signal(bot, SignalAction.CLOSE_LONG))
    sid = await lite.signal(bot, SignalAction.ENTER_LONG, price="53101")
    assert await lite.run(sid) is SignalState.REFUSED
    (stored_bot,) = await lite.use_cases.queries.bots()
    assert stored_bot.paused and "daily loss" in (stored_bot.paused_reason or "")


async def test_close_when_flat_is_ignored_with_the_reason(lite: Rig) -> None:
    bot = await lite.bot()
    sid = await lite.signal(bot, SignalAction.CLOSE_LONG)
    assert await lite.run(sid) is SignalState.IGNORED
    assert lite.broker.place_calls == 0


async def _crash_after_the_fill(rig: Rig, sid: int) -> None:
    """Run the signal until the broker has filled its order and answered, then die."""

    def die_after_fill(point: str) -> None:
        if point == "order_answered":
            raise SystemExit("simulated crash")

    crashed = make_rig(rig.db, rig.broker, checkpoint=die_after_fill)
    with pytest.raises(SystemExit):
        await crashed.use_cases.steps.advance(sid)


async def test_a_fill_not_yet_applied_is_applied_once_after_a_crash(lite: Rig) -> None:
    bot = await lite.bot()
    sid = await lite.signal(bot, SignalAction.ENTER_LONG)
    await _crash_after_the_fill(lite, sid)
    assert (await lite.position(bot)).is_flat  # the broker filled, we had not applied it yet
    async with lite.db.uow() as uow:
        (order,) = await uow.orders.list_for_signal(sid)
    assert order.status is OrderStatus.SUBMITTED  # the answer is stored with its fill, not before
    assert await lite.run(sid) is SignalState.EXECUTED
    assert (await lite.position(bot)).quantity == 1
    assert lite.broker.place_calls == 1


async def test_an_order_stored_filled_but_not_applied_is_applied_once(lite: Rig) -> None:
    """An order row that says filled while its fill is not in the position (as an earlier
    version stored answers, one transaction before applying them) is applied once."""
    bot = await lite.bot()
    sid = await lite.signal(bot, SignalAction.ENTER_LONG)
    await _crash_after_the_fill(lite, sid)
    async with lite.db.uow() as uow:
        (order,) = await uow.orders.list_for_signal(sid)
        filled = replace(order, status=OrderStatus.FILLED, filled_quantity=1, average_fill_price=Decimal("53211.0"))
        await uow.orders.update(filled)
        await uow.commit()
    assert await lite.run(sid) is SignalState.EXECUTED
    assert await lite.run(sid) is SignalState.EXECUTED
    pos = await lite.position(bot)
    assert (pos.quantity, pos.average_price) == (1, Decimal("53211.0"))
    assert lite.broker.place_calls == 1


async def test_stop_monitor_closes_once_when_the_stop_is_hit(lite: Rig) -> None:
    bot = await lite.bot(stop_loss_pct="1")
    await lite.run(await lite.signal(bot, SignalAction.ENTER_LONG))
    pos = await lite.position(bot)
    assert pos.stop_loss is not None and pos.stop_loss < pos.average_price
    lite.broker.bid, lite.broker.ask = pos.stop_loss - 10, pos.stop_loss - 9
    made = await lite.use_cases.monitors.check_exits()
    assert len(made) == 1
    assert await lite.use_cases.monitors.check_exits() == []  # never twice for the same position
    assert await lite.run(made[0]) is SignalState.EXECUTED
    trades = [e for e in lite.events if isinstance(e, TradeClosed)]
    assert len(trades) == 1
    assert trades[0].realized_pnl == (pos.stop_loss - 10 - pos.average_price) * 1


async def test_reconciliation_flags_a_mismatch_and_blocks_entries(lite: Rig) -> None:
    bot = await lite.bot()
    await lite.run(await lite.signal(bot, SignalAction.ENTER_LONG))
    lite.broker.net["SA40"] = 3  # someone traded by hand
    problems = await lite.use_cases.reconciliation.reconcile()
    assert problems and "+1" in problems[0] and "+3" in problems[0]
    assert any(isinstance(e, PositionMismatch) and e.ours == 1 and e.theirs == 3 for e in lite.events)
    sid = await lite.signal(bot, SignalAction.ENTER_LONG)
    assert await lite.run(sid) is SignalState.REFUSED
    assert (await lite.use_cases.commands.resume("SA40_RSI_Bot", ALICE)).ok
    (stored_bot,) = await lite.use_cases.queries.bots()
    assert not stored_bot.needs_attention


async def test_strategy_alert_stating_another_position_is_reported(lite: Rig) -> None:
    bot = await lite.bot()
    sid = await lite.signal(bot, SignalAction.ENTER_SHORT, quantity=1, target_position=-2)
    assert await lite.run(sid) is SignalState.EXECUTED
    mismatches = [e for e in lite.events if isinstance(e, PositionMismatch)]
    assert mismatches and mismatches[0].source == "alert" and mismatches[0].ours == -1


async def test_runner_resumes_unfinished_signals_at_start(lite: Rig) -> None:
    bot = await lite.bot()
    ids = [await lite.signal(bot, SignalAction.ENTER_LONG) for _ in range(2)]
    runner = lite.runner
    assert await runner.start() == 2
    await runner.idle(10)
    await runner.stop(1)
    assert [await lite.state(i) for i in ids] == [SignalState.EXECUTED, SignalState.EXECUTED]
    assert (await lite.position(bot)).quantity == 2


async def test_sink_failures_never_reach_trading() -> None:
    class Broken:
        async def publish(self, event: Event) -> None:
            raise RuntimeError("discord is down")

    delivered: list[Event] = []

    class Good:
        async def publish(self, event: Event) -> None:
            delivered.append(event)

    bus = EventBus(attempts=2, backoff=0.001)
    bus.add_sink("broken", Broken())
    bus.add_sink("good", Good())
    bus.publish([SignalRefused(at=datetime.now(UTC), reason="x")])
    await bus.drain(2)
    assert len(delivered) == 1
    await bus.close()


async def test_bots_sharing_a_netting_symbol_can_each_close(lite: Rig) -> None:
    alone = await lite.bot()
    await lite.run(await lite.signal(alone, SignalAction.ENTER_LONG))
    other = await lite.bot(bot_name="SA40_Other", webhook_key="sa40_other_12345678", base_position_size=2)
    await lite.run(await lite.signal(other, SignalAction.ENTER_SHORT))
    assert lite.broker.net["SA40"] == -1  # the account nets the two bots: +1 - 2
    close = await lite.signal(alone, SignalAction.CLOSE_LONG)
    # reduce-only would be refused: selling 1 does not reduce the account's -1
    assert await lite.run(close) is SignalState.EXECUTED
    assert (await lite.position(alone)).is_flat
    assert lite.broker.net["SA40"] == -2


async def test_a_lone_bots_close_stays_reduce_only(lite: Rig) -> None:
    bot = await lite.bot()
    await lite.run(await lite.signal(bot, SignalAction.ENTER_LONG))
    close = await lite.signal(bot, SignalAction.CLOSE_LONG)
    assert await lite.run(close) is SignalState.EXECUTED
    assert lite.broker.book[f"sd-{close}-1"].reduce_only


async def test_reconciliation_waits_for_a_signal_still_executing(lite: Rig) -> None:
    bot = await lite.bot()
    lite.broker.faults.drop_after_place = 1
    lite.broker.faults.hide_for_lookups = 5
    sid = await lite.signal(bot, SignalAction.ENTER_LONG)
    assert not (await lite.use_cases.steps.advance(sid)).finished  # placed at the broker, answer lost
    assert lite.broker.net["SA40"] == 1 and (await lite.position(bot)).is_flat
    assert await lite.use_cases.reconciliation.reconcile() == []  # in flight: not a mismatch
    (stored_bot,) = await lite.use_cases.queries.bots()
    assert not stored_bot.needs_attention
    assert await lite.run(sid) is SignalState.EXECUTED
    assert await lite.use_cases.reconciliation.reconcile() == []


async def test_listings_filtered_by_an_unknown_bot_name_are_empty(rig: Rig) -> None:
    bot = await rig.bot()
    await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG))
    await rig.run(await rig.signal(bot, SignalAction.CLOSE_LONG))
    assert len(await rig.use_cases.queries.trades("SA40_RSI_Bot")) == 1
    assert len(await rig.use_cases.queries.signals("SA40_RSI_Bot")) == 2
    assert (await rig.use_cases.queries.pnl("SA40_RSI_Bot")).trades == 1
    assert len(await rig.use_cases.queries.trades()) == 1  # no name: every bot
    assert await rig.use_cases.queries.trades("No_Such_Bot") == []
    assert await rig.use_cases.queries.signals("No_Such_Bot") == []
    nothing = await rig.use_cases.queries.pnl("No_Such_Bot")
    assert (nothing.trades, nothing.realized) == (0, 0)


@pytest.mark.parametrize(
    ("edits", "named"),
    [
        (SignalEdits(stop_loss=Decimal("60000")), "a long stop must be below"),  # stop above the entry
        (SignalEdits(take_profit=Decimal("100")), "a long target must be above"),
        (SignalEdits(order_type=OrderType.LIMIT, limit_price=Decimal("1E-400")), "too small to be a price"),
        (SignalEdits(order_type=OrderType.LIMIT, limit_price=Decimal("53210.3")), "not on the instrument's tick"),
        (SignalEdits(order_type=OrderType.LIMIT, limit_price=Decimal("5000")), "away from the quote"),
    ],
)
async def test_edits_are_checked_like_an_alerts_fields(rig: Rig, edits: SignalEdits, named: str) -> None:
    bot = await rig.bot(mode="approve")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    for attempt in (
        rig.use_cases.decisions.approve(sid, ALICE, edits),
        rig.use_cases.decisions.edit(sid, ALICE, edits),
    ):
        refused = await attempt
        assert (refused.ok, refused.code) == (False, "invalid")
        assert named in refused.message, refused.message
        assert len(refused.message) < 200
    assert await rig.state(sid) is SignalState.PENDING_APPROVAL  # still waiting; nothing was sent
    assert rig.broker.place_calls == 0
    ok = await rig.use_cases.decisions.approve(
        sid, ALICE, SignalEdits(stop_loss=Decimal("53000"), take_profit=Decimal("54000"))
    )
    assert ok.ok, ok.message


async def test_a_trimmed_quantity_is_said_in_the_answer_the_signal_and_the_log(rig: Rig) -> None:
    bot = await rig.bot(mode="approve")
    first = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(first)
    assert (await rig.use_cases.decisions.approve(first, ALICE)).ok
    assert await rig.run(first) is SignalState.EXECUTED  # long 1

    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    await rig.run(sid)
    answer = await rig.use_cases.decisions.approve(sid, ALICE, SignalEdits(quantity=12))
    assert answer.ok and "quantity cut from 12 to 11" in answer.message, answer.message
    assert await rig.run(sid) is SignalState.EXECUTED
    assert (await rig.position(bot)).quantity == 12
    async with rig.db.uow() as uow:
        stored = await uow.signals.get(sid)
    assert stored is not None
    executing = next(h for h in stored.history if h.state is SignalState.EXECUTING)
    assert executing.reason is not None and "quantity cut from 12 to 11" in executing.reason
    notices = [e for e in rig.events if isinstance(e, Notice) and e.signal_id == sid]
    assert notices and "quantity cut from 12 to 11" in notices[0].message


async def test_an_alert_asking_for_more_than_the_instrument_allows_is_trimmed_out_loud(rig: Rig) -> None:
    bot = await rig.bot()
    sid = await rig.signal(bot, SignalAction.ENTER_LONG, quantity=13)
    assert await rig.run(sid) is SignalState.EXECUTED
    assert (await rig.position(bot)).quantity == 12
    notices = [e for e in rig.events if isinstance(e, Notice) and e.signal_id == sid]
    assert notices and "quantity cut from 13 to 12" in notices[0].message
