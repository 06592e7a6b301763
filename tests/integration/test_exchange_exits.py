"""Stops and targets ON the exchange (trading/services/exchange_exits.py): the services as
the process builds them, over both databases, trading through the real ccxt broker against
the loopback fake Binance USDⓈ-M (tests/support/fake_binance.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from brokers.ccxt.client import CcxtBroker
from db.database import Database
from tests.support.exchange import BTC, broker_at
from tests.support.fake_binance import FakeBinance, Order, running_fake_binance
from tests.support.service_rig import ALICE, Rig, make_rig
from trading.domain.events import Notice, Severity, TradeClosed
from trading.domain.exchange_exits import ExchangeExit, ExitKind, ExitOrderRequest, Placement
from trading.domain.market import BrokerOrderStatus, OrderRequest
from trading.domain.plan import LegKind
from trading.domain.position import Position
from trading.domain.records import SignalEdits
from trading.domain.signals import SignalAction, SignalSource, SignalState
from trading.domain.values import OrderSide
from trading.services.ports import ExitOrders

ALGO = ("POST", "/fapi/v1/algoOrder")


@dataclass
class Desk:
    rig: Rig
    fake: FakeBinance
    broker: CcxtBroker
    bot_id: int = 0

    def algo(self) -> dict[str, Order]:
        return {o.client_id: o for o in self.fake.placed() if o.algo}

    async def enter(self, action: SignalAction = SignalAction.ENTER_LONG) -> int:
        sid = await self.rig.signal(self.bot_id, action, "65000.0")
        assert await self.rig.run(sid) is SignalState.EXECUTED
        return sid

    async def record(self) -> ExchangeExit | None:
        async with self.rig.db.uow() as uow:
            found: ExchangeExit | None = await uow.exchange_exits.get(self.bot_id, BTC, account="Paper")
        return found

    async def position(self) -> Position:
        async with self.rig.db.uow() as uow:
            held: Position = await uow.positions.get(
                self.bot_id, BTC, account="Paper", multiplier=Decimal(1), for_update=False
            )
        return held


@pytest.fixture
async def desk(database: Database) -> AsyncIterator[Desk]:
    async with running_fake_binance() as (url, fake):
        broker = broker_at(url)
        try:
            d = Desk(make_rig(database, broker), fake, broker)
            d.bot_id = await d.rig.bot(
                symbol=BTC, stop_loss_pct="2", take_profit_pct="4", max_slippage_pct="5", base_position_size=1
            )
            yield d
        finally:
            await broker.aclose()


async def test_an_entry_with_stop_and_target_places_two_reduce_only_algo_orders_under_derived_ids(desk: Desk) -> None:
    sid = await desk.enter()
    algo = desk.algo()
    assert sorted(algo) == [f"sd-{sid}-1-1s", f"sd-{sid}-1-1t"]
    stop, target = algo[f"sd-{sid}-1-1s"], algo[f"sd-{sid}-1-1t"]
    assert (stop.type, stop.side, stop.quantity, stop.trigger, stop.reduce_only) == (
        "STOP_MARKET",
        "SELL",
        1,
        Decimal("63700.0"),
        True,
    )
    assert (target.type, target.side, target.quantity, target.trigger, target.reduce_only) == (
        "TAKE_PROFIT_MARKET",
        "SELL",
        1,
        Decimal("67600.0"),
        True,
    )
    record = await desk.record()
    assert record is not None and record.placement is Placement.PLACED and record.revision == 1
    # The monitor reads their status, and neither watches nor closes anything itself.
    before = desk.fake.requests.count(("GET", "/fapi/v1/algoOrder"))
    assert await desk.rig.use_cases.monitors.check_exits() == []
    assert desk.fake.requests.count(("GET", "/fapi/v1/algoOrder")) == before + 2
    # Quoted past the stop before the exchange triggers it (its trigger price is its own):
    # the exchange closes it, the monitor does not send a second close.
    desk.fake.contracts["BTCUSDT"].price = Decimal("63000.0")
    assert await desk.rig.use_cases.monitors.check_exits() == []


async def test_a_lost_answer_does_not_place_an_exit_twice(desk: Desk) -> None:
    desk.fake.faults.append(("POST", "/fapi/v1/algoOrder", "lost"))
    sid = await desk.enter()
    assert desk.fake.injected == ["lost"]
    assert sorted(desk.algo()) == [f"sd-{sid}-1-1s", f"sd-{sid}-1-1t"]  # the stop once, found by its id
    assert desk.fake.requests.count(ALGO) == 2
    # A restart that finds the record still "placing" looks them up and places nothing.
    record = await desk.record()
    assert record is not None
    async with desk.rig.db.uow() as uow:
        await uow.exchange_exits.save(record.with_placement(Placement.PLACING))
        await uow.commit()
    assert await desk.rig.restarted().use_cases.monitors.check_exits() == []
    assert desk.fake.requests.count(ALGO) == 2 and len(desk.algo()) == 2
    assert (await desk.record()) == record


async def test_the_stop_hit_on_the_exchange_is_recorded_once_and_the_target_cancelled(desk: Desk) -> None:
    sid = await desk.enter()
    desk.fake.set_price("BTCUSDT", Decimal("63600.0"))
    assert desk.fake.positions["BTCUSDT"].quantity == 0  # the exchange closed it
    assert await desk.rig.use_cases.monitors.check_exits() == []  # no close signal sent: it is closed
    assert (await desk.position()).is_flat
    assert desk.algo()[f"sd-{sid}-1-1t"].status == "CANCELED"
    assert await desk.record() is None
    async with desk.rig.db.uow() as uow:
        trades = await uow.trades.list(bot_id=desk.bot_id)
        told = await uow.signals.get(trades[0].signal_id)
    assert [(t.quantity, t.entry_price, t.exit_price, t.client_order_id) for t in trades] == [
        (1, Decimal("65000.0"), Decimal("63600.0"), f"sd-{sid}-1-1s")
    ]
    assert told is not None and told.state is SignalState.EXECUTED
    assert (told.signal.source, told.signal.message) == (SignalSource.MONITOR, "stop hit on the exchange")
    notices = [e.message for e in desk.rig.published(Notice)]
    assert "SA40_RSI_Bot: stop loss 63,700.0 hit on the exchange at 63,600.0; closed" in notices
    assert len(desk.rig.published(TradeClosed)) == 1
    # Read again (a restart, reconciliation): nothing is recorded twice, nothing is amiss.
    assert await desk.rig.restarted().use_cases.monitors.check_exits() == []
    assert await desk.rig.use_cases.reconciliation.reconcile() == []
    async with desk.rig.db.uow() as uow:
        assert len(await uow.trades.list(bot_id=desk.bot_id)) == 1


async def test_two_processes_reading_one_stop_hit_at_once_record_it_once(desk: Desk) -> None:
    """Another process's monitor (or its reconciliation) may read the same triggered stop in the
    same moment: the close is recorded once, and neither pass fails."""
    await desk.enter()
    desk.fake.set_price("BTCUSDT", Decimal("63600.0"))
    other = desk.rig.restarted()
    found = await asyncio.gather(
        desk.rig.use_cases.monitors.check_exits(),
        other.use_cases.monitors.check_exits(),
        return_exceptions=True,
    )
    assert found == [[], []], found
    assert (await desk.position()).is_flat
    async with desk.rig.db.uow() as uow:
        trades = await uow.trades.list(bot_id=desk.bot_id)
        told = [s for s in await uow.signals.list(limit=50) if s.signal.source is SignalSource.MONITOR]
    assert len(trades) == 1 and len(told) == 1


async def test_a_stop_hit_found_first_by_reconciliation_is_no_mismatch(desk: Desk) -> None:
    await desk.enter()
    desk.fake.set_price("BTCUSDT", Decimal("67700.0"))  # the target
    assert await desk.rig.use_cases.reconciliation.reconcile() == []
    assert (await desk.position()).is_flat
    notices = [e.message for e in desk.rig.published(Notice)]
    assert "SA40_RSI_Bot: take profit 67,600.0 hit on the exchange at 67,700.0; closed" in notices
    async with desk.rig.db.uow() as uow:
        trades = await uow.trades.list(bot_id=desk.bot_id)
    assert [t.exit_price for t in trades] == [Decimal("67700.0")]


async def test_a_close_by_the_desk_cancels_both(desk: Desk) -> None:
    sid = await desk.enter()
    close = await desk.rig.signal(desk.bot_id, SignalAction.CLOSE, "65000.0")
    assert await desk.rig.run(close) is SignalState.EXECUTED
    algo = desk.algo()
    assert {algo[f"sd-{sid}-1-1s"].status, algo[f"sd-{sid}-1-1t"].status} == {"CANCELED"}
    assert await desk.record() is None
    assert desk.fake.positions["BTCUSDT"].quantity == 0


async def test_a_pyramid_add_replaces_them_for_the_new_quantity(desk: Desk) -> None:
    sid = await desk.enter()
    await desk.enter()
    algo = desk.algo()
    assert {algo[f"sd-{sid}-1-1s"].status, algo[f"sd-{sid}-1-1t"].status} == {"CANCELED"}
    stop, target = algo[f"sd-{sid}-1-2s"], algo[f"sd-{sid}-1-2t"]
    assert (stop.status, stop.quantity, target.status, target.quantity) == ("NEW", 2, "NEW", 2)
    record = await desk.record()
    assert record is not None and (record.revision, record.quantity) == (2, 2)


async def test_a_refused_stop_falls_back_to_the_monitor_and_says_so(desk: Desk) -> None:
    desk.fake.refuse_algo_orders = True
    await desk.enter()
    assert desk.algo() == {}
    record = await desk.record()
    assert record is not None and record.placement is Placement.REFUSED
    errors = [e for e in desk.rig.published(Notice) if e.severity is Severity.ERROR]
    assert len(errors) == 1 and "monitor watches the stop and target instead" in errors[0].message
    desk.fake.set_price("BTCUSDT", Decimal("63600.0"))
    assert len(await desk.rig.use_cases.monitors.check_exits()) == 1  # the monitor closes it, as today


async def test_without_the_capability_the_monitor_watches_as_today(desk: Desk) -> None:
    desk.broker._exchange.has["createStopMarketOrder"] = False  # an exchange without stop-market orders
    await desk.enter()
    assert desk.algo() == {} and await desk.record() is None
    desk.fake.set_price("BTCUSDT", Decimal("63600.0"))
    made = await desk.rig.use_cases.monitors.check_exits()
    assert len(made) == 1
    assert await desk.rig.run(made[0]) is SignalState.EXECUTED
    assert (await desk.position()).is_flat


async def test_a_reversal_replaces_them_for_the_new_side(desk: Desk) -> None:
    long = await desk.enter()
    short = await desk.enter(SignalAction.ENTER_SHORT)
    opening = next(o.client_order_id for o in await desk.rig.orders(short) if o.leg_kind is LegKind.OPEN)
    algo = desk.algo()
    assert {algo[f"sd-{long}-1-1s"].status, algo[f"sd-{long}-1-1t"].status} == {"CANCELED"}
    stop, target = algo[f"{opening}-1s"], algo[f"{opening}-1t"]
    assert (stop.side, stop.trigger, target.side, target.trigger) == (
        "BUY",
        Decimal("66300.0"),
        "BUY",
        Decimal("62400.0"),
    )
    assert desk.fake.positions["BTCUSDT"].quantity == -1


async def test_a_trailing_stop_moves_the_stop_order(desk: Desk) -> None:
    await desk.rig.bot(symbol=BTC, stop_loss_pct="2", take_profit_pct="4", max_slippage_pct="5", trailing_stop_pct="2")
    sid = await desk.enter()
    desk.fake.set_price("BTCUSDT", Decimal("66000.0"))  # short of the target
    assert await desk.rig.use_cases.monitors.check_exits() == []
    position = await desk.position()
    assert position.stop_loss is not None and position.stop_loss > Decimal("63700.0")
    algo = desk.algo()
    assert algo[f"sd-{sid}-1-1s"].status == "CANCELED"
    assert (algo[f"sd-{sid}-1-2s"].status, algo[f"sd-{sid}-1-2s"].trigger) == ("NEW", position.stop_loss)
    assert algo[f"sd-{sid}-1-2t"].trigger == Decimal("67600.0")


async def test_a_stop_cancelled_on_the_exchange_by_hand_is_placed_again(desk: Desk) -> None:
    sid = await desk.enter()
    desk.algo()[f"sd-{sid}-1-1s"].status = "CANCELED"  # someone cancelled it on the exchange's site
    assert await desk.rig.use_cases.monitors.check_exits() == []
    algo = desk.algo()
    assert algo[f"sd-{sid}-1-1t"].status == "CANCELED"
    assert (algo[f"sd-{sid}-1-2s"].status, algo[f"sd-{sid}-1-2t"].status) == ("NEW", "NEW")


async def test_an_approvers_edited_stop_and_target_are_the_ones_placed(desk: Desk) -> None:
    await desk.rig.bot(symbol=BTC, stop_loss_pct="2", take_profit_pct="4", max_slippage_pct="5", mode="approve")
    sid = await desk.rig.signal(desk.bot_id, SignalAction.ENTER_LONG, "65000.0")
    assert await desk.rig.run(sid) is SignalState.PENDING_APPROVAL
    edits = SignalEdits(stop_loss=Decimal("64000.0"), take_profit=Decimal("66000.0"))
    assert (await desk.rig.use_cases.decisions.approve(sid, ALICE, edits)).ok
    assert await desk.rig.run(sid) is SignalState.EXECUTED
    algo = desk.algo()
    assert (algo[f"sd-{sid}-1-1s"].trigger, algo[f"sd-{sid}-1-1t"].trigger) == (
        Decimal("64000.0"),
        Decimal("66000.0"),
    )


async def test_the_port_places_an_exit_once_reads_its_trigger_and_cancels() -> None:
    """CcxtBroker's ExitOrders alone: a second place finds the first; a triggered stop is
    read FILLED with what its market order filled; a resting target cancels."""
    async with running_fake_binance() as (url, fake):
        broker = broker_at(url)
        try:
            assert isinstance(broker, ExitOrders) and await broker.places_exits(BTC)
            await broker.place_order(OrderRequest("sd-3-1", BTC, OrderSide.BUY, 2))
            stop = ExitOrderRequest("sd-3-1-1s", BTC, OrderSide.SELL, 2, Decimal("63000.04"), ExitKind.STOP)
            target = ExitOrderRequest("sd-3-1-1t", BTC, OrderSide.SELL, 2, Decimal("70000"), ExitKind.TARGET)
            first = await broker.place_exit(stop)
            assert await broker.place_exit(stop) == first
            await broker.place_exit(target)
            assert fake.requests.count(ALGO) == 2
            assert fake.placed()[1].trigger == Decimal("63000.0")  # rounded to the tick
            resting = await broker.find_exit("sd-3-1-1s", BTC)
            assert resting is not None and (resting.status, resting.filled_quantity) == (BrokerOrderStatus.NEW, 0)
            fake.set_price("BTCUSDT", Decimal("62990.0"))
            hit = await broker.find_exit("sd-3-1-1s", BTC)
            assert hit is not None and (hit.status, hit.filled_quantity, hit.average_fill_price) == (
                BrokerOrderStatus.FILLED,
                2,
                Decimal("62990.0"),
            )
            cancelled = await broker.cancel_exit("sd-3-1-1t", BTC)
            assert cancelled is not None and cancelled.status is BrokerOrderStatus.CANCELED
            assert await broker.find_exit("sd-3-1-9s", BTC) is None
        finally:
            await broker.aclose()
