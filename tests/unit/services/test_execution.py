"""Executing signals: what a trader sees of an auto-mode bot's entries and closes."""

from __future__ import annotations

from decimal import Decimal

from tests.support.service_rig import BOT_NAME, SYMBOL, Rig
from trading.domain.events import ExecutionFailed, OrderFilled, TradeClosed
from trading.domain.orders import OrderStatus
from trading.domain.signals import SignalAction, SignalState
from trading.domain.values import PositionSide


async def test_an_auto_mode_entry_then_close_goes_flat_with_the_trade_and_its_pnl(rig: Rig) -> None:
    bot = await rig.bot()
    entry = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(entry) is SignalState.EXECUTED
    pos = await rig.position(bot)
    # bought at the ask
    assert (pos.side, pos.quantity, pos.average_price) == (PositionSide.LONG, 1, Decimal("53211.0"))

    rig.broker.bid, rig.broker.ask = Decimal("53300.0"), Decimal("53301.0")
    close = await rig.signal(bot, SignalAction.CLOSE_LONG, price="53300.0")
    assert await rig.run(close) is SignalState.EXECUTED

    assert (await rig.position(bot)).is_flat
    assert rig.broker.net[SYMBOL] == 0
    (trade,) = await rig.use_cases.queries.trades()
    assert (trade.side, trade.quantity, trade.entry_price, trade.exit_price) == (
        PositionSide.LONG,
        1,
        Decimal("53211.0"),
        Decimal("53300.0"),
    )
    assert trade.realized_pnl == Decimal("89.0") and trade.signal_id == close
    assert [(e.side, e.quantity, e.price) for e in rig.published(OrderFilled)] == [
        ("buy", 1, Decimal("53211.0")),
        ("sell", 1, Decimal("53300.0")),
    ]
    (closed,) = rig.published(TradeClosed)
    assert closed.realized_pnl == Decimal("89.0") and closed.position_closed
    assert (await rig.use_cases.queries.pnl(BOT_NAME)).realized == Decimal("89.0")
    history = [change.state for change in (await rig.stored(close)).history]
    assert history == [SignalState.RECEIVED, SignalState.QUEUED, SignalState.EXECUTING, SignalState.EXECUTED]


async def test_a_signal_run_again_once_executed_changes_nothing(rig: Rig) -> None:
    bot = await rig.bot()
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.EXECUTED
    assert (await rig.use_cases.steps.advance(sid)).finished
    assert rig.broker.place_calls == 1
    assert (await rig.position(bot)).quantity == 1


async def test_a_broker_refusal_fails_the_signal_with_the_brokers_reason(rig: Rig) -> None:
    bot = await rig.bot()
    rig.broker.faults.refuse_next = "INSUFFICIENT_MARGIN"
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.FAILED
    stored = await rig.stored(sid)
    assert stored.reason is not None and "INSUFFICIENT_MARGIN" in stored.reason
    (order,) = await rig.orders(sid)
    assert order.status is OrderStatus.REJECTED
    (failed,) = rig.published(ExecutionFailed)
    assert failed.signal_id == sid and "INSUFFICIENT_MARGIN" in failed.reason
    assert (await rig.position(bot)).is_flat
    assert rig.published(OrderFilled) == []


async def test_an_order_whose_answer_was_lost_is_looked_up_and_applied_once(rig: Rig) -> None:
    bot = await rig.bot()
    rig.broker.faults.drop_after_place = 1  # placed at the broker, the answer never arrives
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)

    first = await rig.use_cases.steps.advance(sid)
    assert not first.finished
    assert await rig.state(sid) is SignalState.EXECUTING
    (order,) = await rig.orders(sid)
    assert order.status is OrderStatus.UNKNOWN
    assert (await rig.position(bot)).is_flat  # nothing applied on a lost answer

    assert await rig.run(sid) is SignalState.EXECUTED
    assert await rig.run(sid) is SignalState.EXECUTED
    assert rig.broker.place_calls == 1 and rig.broker.lookups >= 1  # looked up, never sent again
    pos = await rig.position(bot)
    assert (pos.quantity, pos.average_price) == (1, Decimal("53211.0"))
    assert len(rig.published(OrderFilled)) == 1
    (order,) = await rig.orders(sid)
    assert (order.status, order.filled_quantity, order.applied_quantity) == (OrderStatus.FILLED, 1, 1)


async def test_a_close_with_nothing_open_is_ignored_and_never_sent(rig: Rig) -> None:
    bot = await rig.bot()
    sid = await rig.signal(bot, SignalAction.CLOSE_LONG)
    assert await rig.run(sid) is SignalState.IGNORED
    assert (await rig.stored(sid)).reason
    assert rig.broker.place_calls == 0
