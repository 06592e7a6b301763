"""An in-memory broker implementing the Broker port, with the faults the executor must survive."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from trading.domain.market import (
    Account,
    BrokerOrder,
    BrokerOrderStatus,
    BrokerPosition,
    Instrument,
    OrderRequest,
    Quote,
)
from trading.domain.values import OrderSide, OrderType
from trading.services.ports import BrokerRefusal, BrokerUnavailable, WouldNotReduce


@dataclass
class Faults:
    drop_after_place: int = 0  # the next N orders are placed but the answer is lost
    refuse_next: str | None = None  # the next order is refused with this code
    refuse_orders: int = 0  # the next N orders are refused (MARKET_CLOSED)
    hide_for_lookups: int = 0  # look-ups of a freshly placed order say "not found" this many times
    quote_down: bool = False
    down: bool = False  # every call fails as unavailable (5xx) and does nothing
    account_down: bool = False  # reading the account fails as unavailable
    # The race: this many contracts of the order fill between our decision to cancel it and
    # the cancel reaching the broker (all of what is left: the cancel then finds it final).
    fill_before_cancel: int = 0
    cancel_down: bool = False  # a cancel gets no answer (and does nothing)


@dataclass
class FakeBroker:
    name: str = "Fake"
    instrument: Instrument = field(default_factory=lambda: Instrument("SA40"))
    bid: Decimal = Decimal("53210.0")
    ask: Decimal = Decimal("53211.0")
    faults: Faults = field(default_factory=Faults)
    book: dict[str, BrokerOrder] = field(default_factory=dict)  # client id -> order
    place_calls: int = 0
    lookups: int = 0
    cancel_calls: int = 0
    net: dict[str, int] = field(default_factory=dict)
    equity: Decimal = Decimal(0)
    averages: dict[str, Decimal] = field(default_factory=dict)  # symbol -> the broker's average price
    # A limit order the quote does not reach rests (NEW) instead of filling at once, until
    # `fill` or a cancel; off by default, as the tests written before it expect.
    rest_limits: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _hidden: dict[str, int] = field(default_factory=dict)

    async def get_instrument(self, symbol: str) -> Instrument:
        self._fail_when_down()
        return replace(self.instrument, symbol=symbol)

    async def get_quote(self, symbol: str) -> Quote:
        self._fail_when_down()
        if self.faults.quote_down:
            raise BrokerUnavailable("quote service down")
        return Quote(symbol, self.bid, self.ask, (self.bid + self.ask) / 2, datetime.now(UTC))

    async def get_account(self) -> Account:
        self._fail_when_down()
        if self.faults.account_down:
            raise BrokerUnavailable("account service down")
        return Account("F1", "ZAR", self.equity, self.equity, Decimal(0), self.equity)

    async def get_positions(self) -> list[BrokerPosition]:
        self._fail_when_down()
        return [BrokerPosition(s, q, self.averages.get(s, Decimal(0)), Decimal(0)) for s, q in self.net.items() if q]

    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        self.place_calls += 1
        self._fail_when_down()
        if request.client_order_id in self.book:  # like Herenya's 409: the first order is the answer
            return self.book[request.client_order_id]
        if self.faults.refuse_orders:
            self.faults.refuse_orders -= 1
            raise BrokerRefusal("MARKET_CLOSED: refused by the fake broker")
        if self.faults.refuse_next:
            code, self.faults.refuse_next = self.faults.refuse_next, None
            raise BrokerRefusal(f"{code}: refused by the fake broker")
        net = self.net.get(request.symbol, 0)
        if request.reduce_only and not (net * request.side.sign < 0 and request.quantity <= abs(net)):
            raise WouldNotReduce(f"REDUCE_ONLY_REJECTED: would not reduce the position of {net}")
        price = self.ask if request.side is OrderSide.BUY else self.bid
        if self.rest_limits and request.type is OrderType.LIMIT and request.limit_price is not None:
            marketable = price <= request.limit_price if request.side is OrderSide.BUY else price >= request.limit_price
            if not marketable:
                resting = BrokerOrder(
                    order_id=f"F-{next(self._ids)}",
                    client_order_id=request.client_order_id,
                    symbol=request.symbol,
                    side=request.side,
                    type=request.type,
                    quantity=request.quantity,
                    status=BrokerOrderStatus.NEW,
                    filled_quantity=0,
                    average_fill_price=None,
                    limit_price=request.limit_price,
                    reduce_only=request.reduce_only,
                )
                self.book[request.client_order_id] = resting
                return resting
        order = BrokerOrder(
            order_id=f"F-{next(self._ids)}",
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            quantity=request.quantity,
            status=BrokerOrderStatus.FILLED,
            filled_quantity=request.quantity,
            average_fill_price=price,
            reduce_only=request.reduce_only,
        )
        self.book[request.client_order_id] = order
        self.net[request.symbol] = self.net.get(request.symbol, 0) + request.side.sign * request.quantity
        if self.faults.hide_for_lookups:
            self._hidden[request.client_order_id] = self.faults.hide_for_lookups
        if self.faults.drop_after_place:
            self.faults.drop_after_place -= 1
            raise BrokerUnavailable("connection lost after sending (the order was placed)")
        return order

    async def get_order(self, order_id: str) -> BrokerOrder:
        return next(o for o in self.book.values() if o.order_id == order_id)

    async def find_order(self, client_order_id: str) -> BrokerOrder | None:
        self._fail_when_down()
        self.lookups += 1
        if self._hidden.get(client_order_id, 0) > 0:
            self._hidden[client_order_id] -= 1
            return None
        return self.book.get(client_order_id)

    def fill(self, client_order_id: str, quantity: int | None = None) -> BrokerOrder:
        """Fill `quantity` more (all that is left when None) of a resting order at its limit."""
        order = self.book[client_order_id]
        assert order.status in (BrokerOrderStatus.NEW, BrokerOrderStatus.PARTIALLY_FILLED), order.status
        qty = order.quantity - order.filled_quantity if quantity is None else quantity
        price = order.limit_price or (self.ask if order.side is OrderSide.BUY else self.bid)
        cost = (order.average_fill_price or Decimal(0)) * order.filled_quantity + price * qty
        filled = order.filled_quantity + qty
        status = BrokerOrderStatus.FILLED if filled == order.quantity else BrokerOrderStatus.PARTIALLY_FILLED
        order = replace(order, status=status, filled_quantity=filled, average_fill_price=cost / filled)
        self.book[client_order_id] = order
        self.net[order.symbol] = self.net.get(order.symbol, 0) + order.side.sign * qty
        return order

    async def cancel_order(self, order_id: str) -> BrokerOrder:
        self._fail_when_down()
        self.cancel_calls += 1
        if self.faults.cancel_down:
            raise BrokerUnavailable("cancel: connection lost (nothing was done)")
        cid, order = next((c, o) for c, o in self.book.items() if o.order_id == order_id)
        if self.faults.fill_before_cancel:
            left = order.quantity - order.filled_quantity
            order = self.fill(cid, min(self.faults.fill_before_cancel, left))
            self.faults.fill_before_cancel = 0
        if order.status not in (BrokerOrderStatus.NEW, BrokerOrderStatus.PARTIALLY_FILLED):
            raise BrokerRefusal(f"ORDER_NOT_CANCELABLE: order {order_id} is already {order.status.value}")
        order = replace(order, status=BrokerOrderStatus.CANCELED)
        self.book[cid] = order
        return order

    def _fail_when_down(self) -> None:
        if self.faults.down:
            raise BrokerUnavailable("503 Service Unavailable (the fake broker is down)")

    async def aclose(self) -> None:
        return None
