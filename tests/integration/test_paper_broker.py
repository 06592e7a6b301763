"""The paper broker: fills at the quote (simulator over loopback) or the reference price,
nets positions, puts realized P&L into the balance, idempotent by client order id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from brokers.errors import (
    ClientOrderIdConflict,
    InvalidRequest,
    OrderNotCancelable,
    OrderRejected,
    UnknownOrder,
    UnknownSymbol,
)
from brokers.herenya.client import HerenyaClient
from brokers.herenya.sim_config import SimConfig
from brokers.herenya.sim_server import RunningSimulator, running_simulator
from brokers.paper import PaperBroker
from trading.domain.market import BrokerOrder, BrokerOrderStatus, OrderRequest
from trading.domain.records import PaperAccountState
from trading.domain.values import OrderSide, OrderType

pytestmark = pytest.mark.timeout(60)


class MemoryLedger:
    """The PaperLedger port in memory, for these tests."""

    def __init__(self) -> None:
        self.states: dict[str, PaperAccountState] = {}
        self.orders: dict[tuple[str, str], BrokerOrder] = {}

    async def load(self, account_id: str) -> PaperAccountState | None:
        s = self.states.get(account_id)
        # A copy, as a database would give: changes count only once saved.
        return None if s is None else replace(s, positions=dict(s.positions))

    async def save(self, state: PaperAccountState) -> None:
        self.states[state.account_id] = replace(state, positions=dict(state.positions))

    async def add_order(self, account_id: str, order: BrokerOrder) -> None:
        self.orders[(account_id, order.order_id)] = order

    async def find_order(self, account_id: str, client_order_id: str) -> BrokerOrder | None:
        for (acct, _), o in self.orders.items():
            if acct == account_id and o.client_order_id == client_order_id:
                return o
        return None

    async def get_order(self, account_id: str, order_id: str) -> BrokerOrder | None:
        return self.orders.get((account_id, order_id))


def req(cid: str, side: OrderSide, qty: int, **kw: Any) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=kw.pop("symbol", "SA40"), side=side, quantity=qty, **kw)


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger()


@pytest.fixture
def paper(ledger: MemoryLedger) -> PaperBroker:
    return PaperBroker.with_ledger(ledger, account_id="P1", starting_balance=Decimal("100000"))


async def test_fills_at_the_reference_price_and_keeps_the_book_in_the_ledger(
    paper: PaperBroker, ledger: MemoryLedger
) -> None:
    assert paper.name == "Paper"
    paper.set_reference_price("SA40", Decimal("53210.5"))
    o = await paper.place_order(req("sd-1-1", OrderSide.BUY, 2))
    assert (
        o.status is BrokerOrderStatus.FILLED and o.filled_quantity == 2 and o.average_fill_price == Decimal("53210.5")
    )
    assert ledger.states["P1"].positions == {"SA40": (2, Decimal("53210.5"))}
    assert await paper.get_order(o.order_id) == o and await paper.find_order("sd-1-1") == o
    assert await paper.find_order("nope") is None
    [p] = await paper.get_positions()
    assert (p.quantity, p.average_price, p.unrealized_pnl) == (2, Decimal("53210.5"), Decimal(0))


async def test_netting_and_realized_pnl_into_the_balance(paper: PaperBroker) -> None:
    paper.set_reference_price("SA40", Decimal("53000"))
    await paper.place_order(req("a", OrderSide.BUY, 2))
    paper.set_reference_price("SA40", Decimal("53100"))
    await paper.place_order(req("b", OrderSide.BUY, 2))  # long 4 @ 53050
    paper.set_reference_price("SA40", Decimal("53200"))
    await paper.place_order(req("c", OrderSide.SELL, 6))  # +150 x 4 = 600 realized, short 2 @ 53200
    [p] = await paper.get_positions()
    assert (p.quantity, p.average_price) == (-2, Decimal("53200"))
    paper.set_reference_price("SA40", Decimal("53150"))
    a = await paper.get_account()
    assert a.balance == Decimal("100600") and a.equity == Decimal("100700")  # short gains 50 x 2
    await paper.place_order(req("d", OrderSide.BUY, 2))
    assert await paper.get_positions() == []
    assert (await paper.get_account()).balance == Decimal("100700")


async def test_same_client_id_places_once(paper: PaperBroker, ledger: MemoryLedger) -> None:
    paper.set_reference_price("SA40", Decimal("100"))
    first = await paper.place_order(req("dup", OrderSide.BUY, 1))
    paper.set_reference_price("SA40", Decimal("200"))
    assert await paper.place_order(req("dup", OrderSide.BUY, 1)) == first
    assert len(ledger.orders) == 1 and ledger.states["P1"].positions["SA40"] == (1, Decimal("100"))
    with pytest.raises(ClientOrderIdConflict, match="dup"):
        await paper.place_order(req("dup", OrderSide.SELL, 1))


async def test_clear_errors(paper: PaperBroker, ledger: MemoryLedger) -> None:
    with pytest.raises(UnknownSymbol, match="reference price"):
        await paper.place_order(req("np", OrderSide.BUY, 1))
    paper.set_reference_price("SA40", Decimal("100"))
    with pytest.raises(OrderRejected, match="QUANTITY_OUT_OF_RANGE"):
        await paper.place_order(req("q", OrderSide.BUY, 13))
    with pytest.raises(OrderRejected, match="REDUCE_ONLY_REJECTED"):
        await paper.place_order(req("ro", OrderSide.SELL, 1, reduce_only=True))
    with pytest.raises(InvalidRequest, match="limit_price"):
        await paper.place_order(req("l", OrderSide.BUY, 1, type=OrderType.LIMIT))
    with pytest.raises(UnknownOrder):
        await paper.get_order("P-none")
    with pytest.raises(ValueError, match="positive"):
        paper.set_reference_price("SA40", Decimal("-1"))
    assert ledger.orders == {}


async def test_limit_orders_rest_fill_when_crossed_and_cancel(paper: PaperBroker) -> None:
    paper.set_reference_price("SA40", Decimal("53200"))
    ioc = await paper.place_order(
        req("i", OrderSide.BUY, 1, type=OrderType.LIMIT, limit_price=Decimal("53000"), time_in_force="IOC")
    )
    assert ioc.status is BrokerOrderStatus.CANCELED
    rest = await paper.place_order(req("r", OrderSide.BUY, 1, type=OrderType.LIMIT, limit_price=Decimal("53000")))
    assert rest.status is BrokerOrderStatus.NEW and rest.time_in_force == "GTC"
    paper.set_reference_price("SA40", Decimal("52990"))
    filled = await paper.get_order(rest.order_id)
    assert filled.status is BrokerOrderStatus.FILLED and filled.average_fill_price == Decimal("53000")
    other = await paper.place_order(req("r2", OrderSide.SELL, 1, type=OrderType.LIMIT, limit_price=Decimal("60000")))
    assert (await paper.cancel_order(other.order_id)).status is BrokerOrderStatus.CANCELED
    with pytest.raises(OrderNotCancelable):
        await paper.cancel_order(other.order_id)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with running_simulator(SimConfig(seed=3, quote_step_seconds=0)) as s:
        yield s


async def test_fills_at_the_simulator_quote_when_one_is_configured(sim: RunningSimulator, ledger: MemoryLedger) -> None:
    quotes = HerenyaClient(api_key="test-key", api_secret="test-secret", base_url=sim.base_url, account_id="A1")
    paper = PaperBroker.with_ledger(ledger, account_id="P1", quote_source=quotes)
    try:
        sim.state.set_quote("SA40", Decimal("53000.0"), Decimal("53001.0"))
        paper.set_reference_price("SA40", Decimal("1"))  # ignored: the quote source wins
        buy = await paper.place_order(req("q-1", OrderSide.BUY, 1))
        sell = await paper.place_order(req("q-2", OrderSide.SELL, 1))
        assert (buy.average_fill_price, sell.average_fill_price) == (Decimal("53001.0"), Decimal("53000.0"))
        assert (await paper.get_account()).balance == Decimal("99999.0")  # paid the spread
        assert (await paper.get_instrument("SA40")).max_quantity == 12  # from the simulator
        assert sim.state.orders == {}  # nothing was sent to the broker
    finally:
        await quotes.aclose()


async def test_paper_book_in_the_real_sqlite_database(sqlite_database: Any) -> None:
    paper = PaperBroker.with_unit_of_work(sqlite_database.uow, account_id="PAPER", starting_balance=Decimal("50000"))
    paper.set_reference_price("SA40", Decimal("53000"))
    o = await paper.place_order(req("sd-9-1", OrderSide.BUY, 3))
    paper.set_reference_price("SA40", Decimal("53010"))
    await paper.place_order(req("sd-9-2", OrderSide.SELL, 1))
    # A second broker over the same database sees the same book: it was committed.
    again = PaperBroker.with_unit_of_work(sqlite_database.uow, account_id="PAPER")
    again.set_reference_price("SA40", Decimal("53010"))
    assert await again.find_order("sd-9-1") == await paper.get_order(o.order_id)
    assert await again.place_order(req("sd-9-1", OrderSide.BUY, 3)) == o
    [p] = await again.get_positions()
    assert (p.quantity, p.average_price) == (2, Decimal("53000"))
    assert (await again.get_account()).balance == Decimal("50010")
