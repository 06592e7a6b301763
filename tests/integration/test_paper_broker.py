"""The paper broker: fills at its quote source's quote (the simulator over loopback) or,
with no quote source, at each order's reference price; nets positions, puts realized P&L
into the balance, idempotent by client order id; raises the broker port's error types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from brokers.errors import (
    ClientOrderIdConflict,
    InvalidRequest,
    OrderNotCancelable,
    OrderRejected,
    QuoteUnavailable,
    UnknownOrder,
)
from brokers.herenya.client import HerenyaClient
from brokers.herenya.sim_config import SimConfig
from brokers.herenya.sim_server import RunningSimulator, running_simulator
from brokers.paper import PaperBroker
from trading.domain.market import BrokerOrder, BrokerOrderStatus, OrderRequest, Quote
from trading.domain.records import PaperAccountState
from trading.domain.values import OrderSide, OrderType
from trading.services.ports import BrokerRefusal, BrokerUnavailable, QuoteSource, WouldNotReduce

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


def req(cid: str, side: OrderSide, qty: int, at: str | None = None, **kw: Any) -> OrderRequest:
    """An order; `at` is its reference price (the alert's price)."""
    return OrderRequest(
        client_order_id=cid,
        symbol=kw.pop("symbol", "SA40"),
        side=side,
        quantity=qty,
        reference_price=None if at is None else Decimal(at),
        **kw,
    )


class FixedQuotes:
    """The QuoteSource port over prices a test sets."""

    def __init__(self) -> None:
        self.prices: dict[str, tuple[Decimal, Decimal]] = {}

    def set(self, symbol: str, bid: str, ask: str | None = None) -> None:
        self.prices[symbol] = (Decimal(bid), Decimal(ask or bid))

    async def get_quote(self, symbol: str) -> Quote:
        bid, ask = self.prices[symbol]
        return Quote(symbol, bid, ask, (bid + ask) / 2, datetime.now(UTC))


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
    o = await paper.place_order(req("sd-1-1", OrderSide.BUY, 2, at="53210.5"))
    assert (
        o.status is BrokerOrderStatus.FILLED and o.filled_quantity == 2 and o.average_fill_price == Decimal("53210.5")
    )
    assert ledger.states["P1"].positions == {"SA40": (2, Decimal("53210.5"))}
    assert await paper.get_order(o.order_id) == o and await paper.find_order("sd-1-1") == o
    assert await paper.find_order("nope") is None
    [p] = await paper.get_positions()
    assert (p.quantity, p.average_price, p.unrealized_pnl) == (2, Decimal("53210.5"), Decimal(0))


async def test_without_a_quote_source_there_is_no_quote_only_reference_prices(paper: PaperBroker) -> None:
    """No market: get_quote raises the port's BrokerUnavailable naming the problem (so the
    slippage check and the stop monitor see no quote rather than a made-up one), an order
    without a reference price is refused, and positions are marked at their average."""
    with pytest.raises(QuoteUnavailable, match="no quote source") as info:
        await paper.get_quote("SA40")
    assert isinstance(info.value, BrokerUnavailable) and info.value.code == "NO_QUOTE"
    with pytest.raises(OrderRejected, match=r"NO_PRICE.*reference_price") as refused:
        await paper.place_order(req("np", OrderSide.BUY, 1))
    assert isinstance(refused.value, BrokerRefusal)
    await paper.place_order(req("a", OrderSide.BUY, 1, at="53000"))
    await paper.place_order(req("b", OrderSide.BUY, 1, at="53100"))
    with pytest.raises(QuoteUnavailable):  # a fill is no quote either
        await paper.get_quote("SA40")
    [p] = await paper.get_positions()
    assert (p.quantity, p.average_price, p.unrealized_pnl) == (2, Decimal("53050"), Decimal(0))
    a = await paper.get_account()
    assert a.balance == a.equity == Decimal("100000")


async def test_netting_and_realized_pnl_into_the_balance(paper: PaperBroker) -> None:
    await paper.place_order(req("a", OrderSide.BUY, 2, at="53000"))
    await paper.place_order(req("b", OrderSide.BUY, 2, at="53100"))  # long 4 @ 53050
    await paper.place_order(req("c", OrderSide.SELL, 6, at="53200"))  # +150 x 4 = 600 realized, short 2 @ 53200
    [p] = await paper.get_positions()
    assert (p.quantity, p.average_price) == (-2, Decimal("53200"))
    a = await paper.get_account()
    assert a.balance == a.equity == Decimal("100600")  # no quote: marked at its average
    await paper.place_order(req("d", OrderSide.BUY, 2, at="53150"))
    assert await paper.get_positions() == []
    assert (await paper.get_account()).balance == Decimal("100700")


async def test_marks_at_the_quote_source(ledger: MemoryLedger) -> None:
    quotes = FixedQuotes()
    source: QuoteSource = quotes  # the port
    paper = PaperBroker.with_ledger(ledger, account_id="P1", quote_source=source)
    quotes.set("SA40", "53200")
    await paper.place_order(req("c", OrderSide.SELL, 2, at="1"))  # the reference price is ignored
    quotes.set("SA40", "53150")
    a = await paper.get_account()
    assert a.balance == Decimal("100000") and a.equity == Decimal("100100")  # short gains 50 x 2
    [p] = await paper.get_positions()
    assert (p.quantity, p.average_price, p.unrealized_pnl) == (-2, Decimal("53200"), Decimal("100"))
    assert (await paper.get_quote("SA40")).bid == Decimal("53150")


async def test_same_client_id_places_once(paper: PaperBroker, ledger: MemoryLedger) -> None:
    first = await paper.place_order(req("dup", OrderSide.BUY, 1, at="100"))
    assert await paper.place_order(req("dup", OrderSide.BUY, 1, at="200")) == first
    assert len(ledger.orders) == 1 and ledger.states["P1"].positions["SA40"] == (1, Decimal("100"))
    with pytest.raises(ClientOrderIdConflict, match="dup"):
        await paper.place_order(req("dup", OrderSide.SELL, 1, at="100"))


async def test_clear_errors(paper: PaperBroker, ledger: MemoryLedger) -> None:
    with pytest.raises(OrderRejected, match="reference_price"):
        await paper.place_order(req("np", OrderSide.BUY, 1))
    with pytest.raises(OrderRejected, match="QUANTITY_OUT_OF_RANGE"):
        await paper.place_order(req("q", OrderSide.BUY, 13, at="100"))
    with pytest.raises(OrderRejected, match="REDUCE_ONLY_REJECTED"):
        await paper.place_order(req("ro", OrderSide.SELL, 1, at="100", reduce_only=True))
    with pytest.raises(WouldNotReduce):
        await paper.place_order(req("ro", OrderSide.SELL, 1, at="100", reduce_only=True))
    with pytest.raises(InvalidRequest, match="limit_price"):
        await paper.place_order(req("l", OrderSide.BUY, 1, at="100", type=OrderType.LIMIT))
    with pytest.raises(UnknownOrder):
        await paper.get_order("P-none")
    with pytest.raises(InvalidRequest, match="positive"):
        await paper.place_order(req("neg", OrderSide.BUY, 1, at="-1"))
    assert ledger.orders == {}


async def test_every_error_is_a_port_refusal(paper: PaperBroker) -> None:
    """The broker answered and did nothing: each is the port's BrokerRefusal, never a BrokerUnavailable."""
    for request in (
        req("np", OrderSide.BUY, 1),
        req("q", OrderSide.BUY, 13, at="100"),
        req("ro", OrderSide.SELL, 1, at="100", reduce_only=True),
        req("l", OrderSide.BUY, 1, at="100", type=OrderType.LIMIT),
    ):
        with pytest.raises(BrokerRefusal) as info:
            await paper.place_order(request)
        assert not isinstance(info.value, BrokerUnavailable)
    with pytest.raises(BrokerRefusal):
        await paper.get_order("P-none")


async def test_limit_orders_rest_fill_when_crossed_and_cancel(ledger: MemoryLedger) -> None:
    quotes = FixedQuotes()
    paper = PaperBroker.with_ledger(ledger, account_id="P1", quote_source=quotes)
    quotes.set("SA40", "53200")
    ioc = await paper.place_order(
        req("i", OrderSide.BUY, 1, type=OrderType.LIMIT, limit_price=Decimal("53000"), time_in_force="IOC")
    )
    assert ioc.status is BrokerOrderStatus.CANCELED
    rest = await paper.place_order(req("r", OrderSide.BUY, 1, type=OrderType.LIMIT, limit_price=Decimal("53000")))
    assert rest.status is BrokerOrderStatus.NEW and rest.time_in_force == "GTC"
    quotes.set("SA40", "52990")
    filled = await paper.get_order(rest.order_id)
    assert filled.status is BrokerOrderStatus.FILLED and filled.average_fill_price == Decimal("53000")
    other = await paper.place_order(req("r2", OrderSide.SELL, 1, type=OrderType.LIMIT, limit_price=Decimal("60000")))
    assert (await paper.cancel_order(other.order_id)).status is BrokerOrderStatus.CANCELED
    with pytest.raises(OrderNotCancelable):
        await paper.cancel_order(other.order_id)


async def test_limit_orders_without_a_quote_source(paper: PaperBroker) -> None:
    """Marketable at the reference price: filled at once; otherwise IOC cancels and GTC rests."""
    ioc = await paper.place_order(
        req("i", OrderSide.BUY, 1, at="53200", type=OrderType.LIMIT, limit_price=Decimal("53000"), time_in_force="IOC")
    )
    assert ioc.status is BrokerOrderStatus.CANCELED
    rest = await paper.place_order(
        req("r", OrderSide.BUY, 1, at="53200", type=OrderType.LIMIT, limit_price=Decimal("53000"))
    )
    assert rest.status is BrokerOrderStatus.NEW
    assert (await paper.get_order(rest.order_id)).status is BrokerOrderStatus.NEW  # no quote: it keeps resting
    now = await paper.place_order(
        req("m", OrderSide.BUY, 1, at="52990", type=OrderType.LIMIT, limit_price=Decimal("53000"))
    )
    assert now.status is BrokerOrderStatus.FILLED and now.average_fill_price == Decimal("52990")


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with running_simulator(SimConfig(seed=3, quote_step_seconds=0)) as s:
        yield s


async def test_fills_at_the_simulator_quote_when_one_is_configured(sim: RunningSimulator, ledger: MemoryLedger) -> None:
    quotes = HerenyaClient(api_key="test-key", api_secret="test-secret", base_url=sim.base_url, account_id="A1")
    paper = PaperBroker.with_ledger(ledger, account_id="P1", quote_source=quotes, instrument_source=quotes)
    try:
        sim.state.set_quote("SA40", Decimal("53000.0"), Decimal("53001.0"))
        buy = await paper.place_order(req("q-1", OrderSide.BUY, 1, at="1"))  # the quote source wins
        sell = await paper.place_order(req("q-2", OrderSide.SELL, 1))
        assert (buy.average_fill_price, sell.average_fill_price) == (Decimal("53001.0"), Decimal("53000.0"))
        assert (await paper.get_account()).balance == Decimal("99999.0")  # paid the spread
        assert (await paper.get_instrument("SA40")).max_quantity == 12  # from the simulator
        assert sim.state.orders == {}  # nothing was sent to the broker
    finally:
        await quotes.aclose()


async def test_paper_book_in_the_real_sqlite_database(sqlite_database: Any) -> None:
    paper = PaperBroker.with_unit_of_work(sqlite_database.uow, account_id="PAPER", starting_balance=Decimal("50000"))
    o = await paper.place_order(req("sd-9-1", OrderSide.BUY, 3, at="53000"))
    await paper.place_order(req("sd-9-2", OrderSide.SELL, 1, at="53010"))
    # A second broker over the same database sees the same book: it was committed.
    again = PaperBroker.with_unit_of_work(sqlite_database.uow, account_id="PAPER")
    assert await again.find_order("sd-9-1") == await paper.get_order(o.order_id)
    assert await again.place_order(req("sd-9-1", OrderSide.BUY, 3, at="53010")) == o
    [p] = await again.get_positions()
    assert (p.quantity, p.average_price) == (2, Decimal("53000"))
    assert (await again.get_account()).balance == Decimal("50010")
