"""A person's own orders and resting orders: the timeout, the cancel, the cancel that races
a fill, and the free-form order through the same engine and checks."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.support.service_rig import ALICE, BOT_NAME, MALLORY, SYMBOL, Rig
from trading.domain.events import Notice, OrderCancelled, StopMoved
from trading.domain.manual import OrderTicket
from trading.domain.market import BrokerOrderStatus
from trading.domain.orders import OrderStatus
from trading.domain.records import AuditEntry
from trading.domain.signals import SignalAction, SignalSource, SignalState
from trading.domain.values import OrderSide, OrderType, PositionSide


async def resting_entry(rig: Rig, quantity: int = 3, **bot: object) -> tuple[int, int, str]:
    """A bot whose long limit entry at 53000 rests (the ask is 53211): (bot, signal, client id)."""
    rig.broker.rest_limits = True
    bot_id = await rig.bot(**bot)
    sid = await rig.signal(
        bot_id, SignalAction.ENTER_LONG, price="53000.0", order_type=OrderType.LIMIT, quantity=quantity
    )
    result = await rig.use_cases.steps.advance(sid)
    assert not result.finished
    (order,) = await rig.orders(sid)
    assert order.status is OrderStatus.SUBMITTED and order.broker_order_id is not None
    assert rig.broker.book[order.client_order_id].status is BrokerOrderStatus.NEW
    return bot_id, sid, order.client_order_id


async def audit(rig: Rig) -> list[AuditEntry]:
    async with rig.db.uow() as uow:
        return list(reversed(await uow.audit.list()))


def causes(history: tuple[object, ...]) -> list[tuple[str, str]]:
    return [(h.state.value, h.cause) for h in history]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- the timeout


async def test_a_resting_limit_order_is_polled_until_its_timeout_then_cancelled_and_the_signal_expires(
    rig: Rig,
) -> None:
    bot_id, sid, cid = await resting_entry(rig, order_timeout_seconds=120)
    rig.clock.t += timedelta(seconds=119)
    assert not (await rig.use_cases.steps.advance(sid)).finished
    assert rig.broker.cancel_calls == 0 and await rig.state(sid) is SignalState.EXECUTING

    rig.clock.t += timedelta(seconds=2)
    assert (await rig.use_cases.steps.advance(sid)).finished
    stored = await rig.stored(sid)
    assert stored.state is SignalState.EXPIRED
    assert stored.reason == f"order {cid} (open buy 3) timed out after 120 s (order_timeout_seconds): nothing filled"
    assert causes(stored.history)[-1] == ("expired", "timeout")
    (order,) = await rig.orders(sid)
    assert order.status is OrderStatus.CANCELED and order.filled_quantity == 0
    assert rig.broker.book[cid].status is BrokerOrderStatus.CANCELED and rig.broker.cancel_calls == 1
    assert (await rig.position(bot_id)).is_flat
    (told,) = rig.published(OrderCancelled)
    assert told.signal_id == sid and told.filled_quantity == 0 and "timed out" in told.text()


async def test_a_partly_filled_order_that_times_out_keeps_its_fill_with_stop_and_target(rig: Rig) -> None:
    bot_id, sid, cid = await resting_entry(rig, stop_loss_pct="1.0", take_profit_pct="2.0")
    rig.broker.fill(cid, 1)
    assert not (await rig.use_cases.steps.advance(sid)).finished
    (order,) = await rig.orders(sid)
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_quantity == 1

    rig.clock.t += timedelta(seconds=300)  # the default order_timeout_seconds
    assert await rig.run(sid) is SignalState.EXPIRED
    stored = await rig.stored(sid)
    assert stored.reason is not None and "1 of 3 filled @ 53,000.0, kept in the position" in stored.reason
    pos = await rig.position(bot_id)
    assert (pos.side, pos.quantity, pos.average_price) == (PositionSide.LONG, 1, Decimal("53000.0"))
    assert (pos.stop_loss, pos.take_profit) == (Decimal("52470.0"), Decimal("54060.0"))
    assert rig.broker.net[SYMBOL] == pos.quantity
    assert rig.published(StopMoved)[-1].stop_loss == Decimal("52470.0")


async def test_a_fill_racing_the_timeout_cancel_completes_the_signal_as_executed(rig: Rig) -> None:
    bot_id, sid, _cid = await resting_entry(rig)
    rig.clock.t += timedelta(seconds=301)
    rig.broker.faults.fill_before_cancel = 3  # it fills as our cancel is on its way
    assert await rig.run(sid) is SignalState.EXECUTED
    (order,) = await rig.orders(sid)
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 3 and order.error is None
    pos = await rig.position(bot_id)
    assert pos.quantity == 3 == rig.broker.net[SYMBOL]
    assert rig.published(OrderCancelled) == []


# ---------------------------------------------------------------------- a person's cancel


async def test_an_approver_cancels_a_resting_order_audited_and_named_in_the_history(rig: Rig) -> None:
    bot_id, sid, cid = await resting_entry(rig)
    result = await rig.use_cases.orders.cancel_order(cid, ALICE)
    assert result.ok, result.message
    assert result.message == f"order {cid} cancelled: 0 of 3 filled; signal #{sid} canceled"
    stored = await rig.stored(sid)
    assert stored.state is SignalState.CANCELED
    assert causes(stored.history)[-1] == ("canceled", ALICE.id)
    assert stored.reason == f"order {cid} (open buy 3) cancelled by alice: nothing filled"
    assert rig.broker.book[cid].status is BrokerOrderStatus.CANCELED
    assert (await rig.position(bot_id)).is_flat
    assert [(a.actor, a.action, a.target, a.allowed) for a in await audit(rig)] == [
        (ALICE.id, "cancel", f"order:{cid}", True)
    ]
    again = await rig.use_cases.orders.cancel_order(cid, ALICE)
    assert (again.ok, again.code) == (False, "not_pending") and "canceled" in again.message
    assert rig.broker.cancel_calls == 1


@pytest.mark.parametrize(("raced", "state"), [(3, SignalState.EXECUTED), (2, SignalState.CANCELED)])
async def test_a_cancel_racing_a_fill_ends_with_the_brokers_truth(rig: Rig, raced: int, state: SignalState) -> None:
    bot_id, sid, cid = await resting_entry(rig)
    rig.broker.faults.fill_before_cancel = raced  # between our decision and the cancel reaching the broker
    result = await rig.use_cases.orders.cancel_order(cid, ALICE)
    assert await rig.state(sid) is state
    pos = await rig.position(bot_id)
    assert pos.quantity == raced == rig.broker.net[SYMBOL] == rig.broker.book[cid].filled_quantity
    (order,) = await rig.orders(sid)
    assert order.filled_quantity == order.applied_quantity == raced
    if raced == 3:
        assert (result.ok, result.code) == (False, "not_pending")
        assert result.message.startswith(f"too late: order {cid} was already filled at the broker (3 of 3 filled")
    else:
        assert result.ok and "2 of 3 filled @ 53,000.0, kept in the position" in result.message
    # The lane finds nothing left to do.
    assert (await rig.use_cases.steps.advance(sid)).finished and (await rig.position(bot_id)).quantity == raced


async def test_a_cancel_the_broker_does_not_confirm_is_asked_again_by_the_next_run(rig: Rig) -> None:
    _bot_id, sid, cid = await resting_entry(rig)
    rig.broker.faults.cancel_down = True
    result = await rig.use_cases.orders.cancel_order(cid, ALICE)
    assert (result.ok, result.code) == (False, "failed") and "did not confirm" in result.message
    assert await rig.state(sid) is SignalState.EXECUTING
    rig.broker.faults.cancel_down = False
    assert await rig.run(sid) is SignalState.CANCELED
    assert causes((await rig.stored(sid)).history)[-1] == ("canceled", ALICE.id)


async def test_cancel_refusals(rig: Rig) -> None:
    _bot_id, sid, cid = await resting_entry(rig)
    refused = await rig.use_cases.orders.cancel_order(cid, MALLORY)
    assert (refused.ok, refused.code) == (False, "forbidden")
    assert refused.message == "mallory may not cancel orders: approvers only"
    missing = await rig.use_cases.orders.cancel_order("sd-404-1", ALICE)
    assert (missing.ok, missing.code, missing.message) == (False, "not_found", "there is no order sd-404-1")
    assert [(a.actor, a.allowed) for a in await audit(rig)] == [(MALLORY.id, False), (ALICE.id, False)]
    assert rig.broker.cancel_calls == 0 and await rig.state(sid) is SignalState.EXECUTING


# ---------------------------------------------------------------------- free-form orders


def ticket(**over: object) -> OrderTicket:
    fields: dict[str, object] = {"bot": BOT_NAME, "side": OrderSide.BUY, "quantity": 2}
    return OrderTicket(**(fields | over))  # type: ignore[arg-type]


async def test_a_free_form_order_is_a_manual_signal_through_the_same_engine(rig: Rig) -> None:
    bot_id = await rig.bot()
    t = ticket(stop_loss=Decimal("52900"), take_profit=Decimal("53800"))
    seen = await rig.use_cases.orders.preview_order(t, ALICE)
    assert seen.result.ok and seen.card is not None
    card = seen.card
    assert (card.plan_summary, card.quantity, card.alert_price) == ("open", 2, Decimal("53211.0"))
    assert (card.position_before, card.position_after) == ("flat", "long 2 @ 53,211.0")
    assert (card.stop_loss, card.take_profit, card.risk_to_stop) == (
        Decimal("52900"),
        Decimal("53800"),
        Decimal("622.0"),
    )
    async with rig.db.uow() as uow:
        assert await uow.signals.list() == []  # a preview stores nothing

    result = await rig.use_cases.orders.place_order(t, ALICE)
    assert result.ok and result.signal is not None
    sid = result.signal.id
    assert result.message == f"order queued as signal #{sid}: open buy 2 market, stop 52900, target 53800"
    stored = await rig.stored(sid)
    assert stored.signal.source is SignalSource.MANUAL and stored.state is SignalState.QUEUED
    assert causes(stored.history) == [("received", ALICE.id), ("queued", ALICE.id)]
    assert await rig.run(sid) is SignalState.EXECUTED
    pos = await rig.position(bot_id)
    assert (pos.side, pos.quantity, pos.stop_loss, pos.take_profit) == (
        PositionSide.LONG,
        2,
        Decimal("52900"),
        Decimal("53800"),
    )
    assert [(a.actor, a.action, a.allowed) for a in await audit(rig)] == [(ALICE.id, "order", True)]
    assert any(n.signal_id == sid and "order by alice" in n.message for n in rig.published(Notice))

    # sell while long: the engine reverses, as it would for an alert
    seen = await rig.use_cases.orders.preview_order(ticket(side=OrderSide.SELL, quantity=1), ALICE)
    assert seen.card is not None and seen.card.plan_summary == "reverse"


async def test_a_free_form_limit_order_rests_and_can_be_cancelled(rig: Rig) -> None:
    rig.broker.rest_limits = True
    await rig.bot()
    result = await rig.use_cases.orders.place_order(
        ticket(order_type=OrderType.LIMIT, limit_price=Decimal("53000.0")), ALICE
    )
    assert result.ok and result.signal is not None
    sid = result.signal.id
    assert not (await rig.use_cases.steps.advance(sid)).finished
    (order,) = await rig.orders(sid)
    assert (order.type, order.limit_price) == (OrderType.LIMIT, Decimal("53000.0"))
    assert (await rig.use_cases.orders.cancel_order(order.client_order_id, ALICE)).ok
    assert await rig.state(sid) is SignalState.CANCELED


@pytest.mark.parametrize(
    ("over", "field", "message"),
    [
        ({"stop_loss": Decimal("53300")}, "stop_loss", "a long stop must be below the price 53211.0"),
        ({"side": OrderSide.SELL, "take_profit": Decimal("53300")}, "take_profit", "a short target must be below"),
        ({"quantity": 13}, "quantity", "over SA40's maximum of 12 contracts"),
        ({"order_type": OrderType.LIMIT}, "limit_price", "a limit order needs a limit_price"),
        ({"limit_price": Decimal("53000")}, "limit_price", "goes with type limit"),
        (
            {"order_type": OrderType.LIMIT, "limit_price": Decimal("53000.3")},
            "limit_price",
            "not on the instrument's tick of 0.5",
        ),
        ({"take_profit": Decimal("900000")}, "take_profit", "away from the quote"),
    ],
)
async def test_a_free_form_order_with_bad_fields_is_refused_naming_the_field(
    rig: Rig, over: dict[str, object], field: str, message: str
) -> None:
    await rig.bot()
    result = await rig.use_cases.orders.place_order(ticket(**over), ALICE)
    assert (result.ok, result.code) == (False, "invalid")
    assert field in result.message and message in result.message
    async with rig.db.uow() as uow:
        assert await uow.signals.list() == []
    [entry] = await audit(rig)
    assert (entry.action, entry.allowed) == ("order", False) and message in entry.detail


async def test_a_free_form_order_meets_the_risk_checks(rig: Rig) -> None:
    await rig.bot()
    assert (await rig.use_cases.commands.halt(ALICE, "news")).ok
    halted = await rig.use_cases.orders.place_order(ticket(), ALICE)
    assert (halted.ok, halted.code) == (False, "halted") and "trading is halted" in halted.message
    assert (await rig.use_cases.commands.resume_all(ALICE)).ok

    assert (await rig.use_cases.commands.pause(BOT_NAME, ALICE)).ok
    paused = await rig.use_cases.orders.place_order(ticket(), ALICE)
    assert (paused.ok, paused.code) == (False, "refused") and f"bot {BOT_NAME} is paused" in paused.message
    assert (await rig.use_cases.commands.resume(BOT_NAME, ALICE)).ok

    for _ in range(3):  # max_positions 3
        placed = await rig.use_cases.orders.place_order(ticket(quantity=1), ALICE)
        assert placed.signal is not None and await rig.run(placed.signal.id) is SignalState.EXECUTED
    full = await rig.use_cases.orders.place_order(ticket(quantity=1), ALICE)
    assert (full.ok, full.code) == (False, "invalid") and full.message.startswith("nothing to do:")
    async with rig.db.uow() as uow:
        assert len(await uow.signals.list()) == 3


async def test_a_free_form_order_by_a_non_approver_or_for_no_bot_is_refused(rig: Rig) -> None:
    await rig.bot()
    refused = await rig.use_cases.orders.place_order(ticket(), MALLORY)
    assert (refused.ok, refused.code) == (False, "forbidden")
    assert refused.message == "mallory may not place orders: approvers only"
    seen = await rig.use_cases.orders.preview_order(ticket(), MALLORY)
    assert seen.card is None and seen.result.code == "forbidden"
    missing = await rig.use_cases.orders.place_order(ticket(bot="Nope"), ALICE)
    assert (missing.ok, missing.code) == (False, "not_found")
    assert [(a.actor, a.allowed) for a in await audit(rig)] == [
        (MALLORY.id, False),
        (MALLORY.id, False),
        (ALICE.id, False),
    ]
    async with rig.db.uow() as uow:
        assert await uow.signals.list() == []
