"""Execution tells broker failures apart by the port's types only: a BrokerRefusal rejects
the order for good; a BrokerUnavailable, or any exception that is no BrokerFailure (an
adapter bug), leaves its outcome unknown to be looked up. The paper broker without a quote
source fills at the alert's price, handed over in the OrderRequest."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.errors import OrderRejected
from brokers.paper import PaperBroker
from db.database import Database
from tests.support.fake_broker import FakeBroker
from tests.support.service_rig import make_rig
from trading.domain.market import BrokerOrder, OrderRequest
from trading.domain.orders import OrderStatus
from trading.domain.signals import SignalAction, SignalState
from trading.domain.values import PositionSide
from trading.services.ports import BrokerRefusal, BrokerUnavailable

pytestmark = pytest.mark.timeout(60)


class RaisingBroker(FakeBroker):
    """Raises `error` from the next place_order, before doing anything."""

    error: Exception | None = None

    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        if self.error is not None:
            error, self.error = self.error, None
            self.place_calls += 1
            raise error
        return await super().place_order(request)


class LooksFinal(Exception):
    """Duck-typed as final (`retryable = False`) but no BrokerRefusal: not a refusal."""

    retryable = False


async def test_a_refusal_of_the_port_rejects_the_order_and_fails_the_signal(sqlite_database: Database) -> None:
    broker = RaisingBroker()
    broker.error = OrderRejected("INSUFFICIENT_MARGIN", "not enough", 422, broker="Herenya")
    rig = make_rig(sqlite_database, broker)
    sid = await rig.signal(await rig.bot(), SignalAction.ENTER_LONG, "53210.5")
    assert await rig.run(sid) is SignalState.FAILED
    assert await rig.order_statuses(sid) == [OrderStatus.REJECTED]
    assert broker.place_calls == 1


@pytest.mark.parametrize(
    "error",
    [
        BrokerUnavailable("the port's own type"),
        LooksFinal("an adapter bug that says it is final"),
        RuntimeError("an adapter bug"),
    ],
    ids=["unavailable", "duck-typed-final", "plain-exception"],
)
async def test_anything_but_a_refusal_leaves_the_outcome_unknown(sqlite_database: Database, error: Exception) -> None:
    broker = RaisingBroker()
    broker.error = error
    rig = make_rig(sqlite_database, broker)
    sid = await rig.signal(await rig.bot(), SignalAction.ENTER_LONG, "53210.5")
    assert await rig.advance(sid) is SignalState.EXECUTING
    assert await rig.order_statuses(sid) == [OrderStatus.UNKNOWN]
    # Looked up by client id (not there: nothing was placed), then sent once more.
    assert await rig.run(sid) is SignalState.EXECUTED
    assert await rig.order_statuses(sid) == [OrderStatus.FILLED]
    assert broker.place_calls == 2 and broker.lookups >= 1


async def test_paper_without_a_quote_source_fills_at_each_alerts_price(sqlite_database: Database) -> None:
    paper = PaperBroker.with_unit_of_work(sqlite_database.uow, account_id="PAPER")
    rig = make_rig(sqlite_database, paper)
    bot = await rig.bot()
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG, "53000")) is SignalState.EXECUTED
    # 3 % away from the first fill: no quote, so no slippage to refuse (the fill is at the alert's price).
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG, "54590")) is SignalState.EXECUTED
    async with sqlite_database.uow() as uow:
        pos = await uow.positions.get(bot, "SA40", account="Paper", multiplier=Decimal(1), for_update=False)
    assert (pos.side, pos.quantity, pos.average_price) == (PositionSide.LONG, 2, Decimal("53795"))
    [held] = await paper.get_positions()
    assert (held.quantity, held.average_price) == (2, Decimal("53795"))
    assert await rig.run(await rig.signal(bot, SignalAction.CLOSE_LONG, "53795.5")) is SignalState.EXECUTED
    assert await paper.get_positions() == []
    assert (await paper.get_account()).balance == Decimal("100001")


async def test_paper_with_a_quote_source_fills_at_the_quote(sqlite_database: Database) -> None:
    market = FakeBroker()  # its quotes: bid 53210.0, ask 53211.0
    paper = PaperBroker.with_unit_of_work(sqlite_database.uow, account_id="PAPER", quote_source=market)
    rig = make_rig(sqlite_database, paper)
    bot = await rig.bot()
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG, "53100")) is SignalState.EXECUTED
    [held] = await paper.get_positions()
    assert (held.quantity, held.average_price, held.unrealized_pnl) == (1, Decimal("53211.0"), Decimal("-1.0"))
    # Here the quote is the market's: an alert far from it is refused as slippage.
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG, "52000")) is SignalState.REFUSED
    assert market.place_calls == 0  # the market only gave prices


def test_the_port_types_are_distinct() -> None:
    assert not issubclass(BrokerRefusal, BrokerUnavailable) and not issubclass(BrokerUnavailable, BrokerRefusal)
