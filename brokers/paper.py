"""The paper broker: the Broker port without a broker, its book kept through the PaperLedger port.

Prices come from a quote source (the QuoteSource port, wired at start-up: the Herenya client
when HERENYA_BASE_URL is set). Without one there is no market: an order fills at its own
`reference_price` (execution sets the alert's price), an order without one is refused
(NO_PRICE), and `get_quote` raises QuoteUnavailable (a BrokerUnavailable), so the slippage
check and the stop monitor see no quote rather than a made-up one.
MARKET orders fill at once at the quote (buys at the ask, sells at the bid). LIMIT orders
fill at once when marketable; otherwise an IOC one is canceled and a GTC/DAY one rests and
fills at its limit when a later look-up finds the price crossed. Positions net per symbol;
realized P&L goes into the balance. Placing is idempotent by client order id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TypedDict, Unpack

from brokers.errors import (
    InvalidRequest,
    OrderNotCancelable,
    OrderRejected,
    QuoteUnavailable,
    ReduceOnlyRejected,
    UnknownOrder,
    the_order_asked_for,
)
from trading.domain import quantities
from trading.domain.market import (
    Account,
    BrokerOrder,
    BrokerOrderStatus,
    BrokerPosition,
    Instrument,
    OrderRequest,
    Quote,
)
from trading.domain.records import PaperAccountState
from trading.domain.values import BrokerName, OrderSide, OrderType
from trading.services.clock import SystemClock
from trading.services.ports import InstrumentSource, PaperLedger, QuoteSource, UnitOfWork

BROKER = BrokerName.PAPER.value

LedgerOpener = Callable[[], AbstractAsyncContextManager[PaperLedger]]


class PaperOptions(TypedDict, total=False):
    """PaperBroker's keyword arguments, for its constructors over a ledger."""

    account_id: str
    currency: str
    starting_balance: Decimal
    quote_source: QuoteSource | None
    instrument_source: InstrumentSource | None
    instruments: Mapping[str, Instrument] | None
    margin_rate: Decimal
    clock: Callable[[], datetime]


class PaperBroker:
    name: str = BROKER

    def __init__(
        self,
        open_ledger: LedgerOpener,
        *,
        account_id: str = "PAPER",
        currency: str = "ZAR",
        starting_balance: Decimal = Decimal("100000"),
        quote_source: QuoteSource | None = None,
        instrument_source: InstrumentSource | None = None,
        instruments: Mapping[str, Instrument] | None = None,
        margin_rate: Decimal = Decimal(0),
        clock: Callable[[], datetime] = SystemClock().now,
    ) -> None:
        self._open = open_ledger
        self.account_id = account_id
        self.currency = currency
        self.starting_balance = starting_balance
        self.quote_source = quote_source
        self.instrument_source = instrument_source
        self.instruments = dict(instruments or {})
        self.margin_rate = margin_rate
        self._clock = clock
        # One book per account: load, change and save must not interleave.
        self._lock = asyncio.Lock()

    @classmethod
    def with_ledger(cls, ledger: PaperLedger, **kwargs: Unpack[PaperOptions]) -> PaperBroker:
        """Over a ledger that needs no transaction (an in-memory one)."""

        @asynccontextmanager
        async def opener() -> AsyncIterator[PaperLedger]:
            yield ledger

        return cls(opener, **kwargs)

    @classmethod
    def with_unit_of_work(cls, uow_factory: Callable[[], UnitOfWork], **kwargs: Unpack[PaperOptions]) -> PaperBroker:
        """Over the database: every call is one transaction, committed when it succeeds."""

        @asynccontextmanager
        async def opener() -> AsyncIterator[PaperLedger]:
            async with uow_factory() as uow:
                yield uow.paper
                await uow.commit()

        return cls(opener, **kwargs)

    def __repr__(self) -> str:
        return f"PaperBroker(account_id={self.account_id!r}, quote_source={type(self.quote_source).__name__})"

    async def aclose(self) -> None:
        return None

    # ------------------------------------------------------------------- market data

    async def get_instrument(self, symbol: str) -> Instrument:
        if symbol in self.instruments:
            return self.instruments[symbol]
        if self.instrument_source is not None:
            return await self.instrument_source.get_instrument(symbol)
        # No specification known: the domain's defaults (Herenya's SA40 contract: 1 to 12, step 1).
        return Instrument(symbol=symbol)

    async def get_quote(self, symbol: str) -> Quote:
        if self.quote_source is None:
            raise QuoteUnavailable(
                "NO_QUOTE",
                f"no quote for {symbol}: the paper broker has no quote source (HERENYA_BASE_URL is not set);"
                " it fills at each order's reference price",
                broker=BROKER,
            )
        return await self.quote_source.get_quote(symbol)

    async def _market_for(self, request: OrderRequest) -> Quote:
        """The market an order meets: the quote source's, else the order's reference price."""
        if self.quote_source is not None:
            return await self.quote_source.get_quote(request.symbol)
        price = request.reference_price
        if price is None:
            raise OrderRejected(
                "NO_PRICE",
                f"no price for {request.symbol}: the paper broker has no quote source and the order"
                " carries no reference_price",
                broker=BROKER,
            )
        if not price.is_finite() or price <= 0:
            raise InvalidRequest(
                "INVALID_REQUEST", f"reference_price must be a positive price, got {price}", broker=BROKER
            )
        return Quote(symbol=request.symbol, bid=price, ask=price, last=price, time=self._clock())

    # ------------------------------------------------------------------- account

    async def _state(self, ledger: PaperLedger) -> PaperAccountState:
        state = await ledger.load(self.account_id)
        if state is None:
            state = PaperAccountState(self.account_id, self.currency, self.starting_balance, {})
        return state

    async def _mark(self, symbol: str, quantity: Decimal, average: Decimal) -> Decimal:
        """What the position would close at now; its own average when no price is known."""
        try:
            quote = await self.get_quote(symbol)
        except QuoteUnavailable:
            return average
        return quote.bid if quantity > 0 else quote.ask

    async def get_positions(self) -> list[BrokerPosition]:
        async with self._open() as ledger:
            state = await self._state(ledger)
        out = []
        for symbol, (quantity, average) in sorted(state.positions.items()):
            if quantity:
                mult = (await self.get_instrument(symbol)).contract_multiplier
                mark = await self._mark(symbol, quantity, average)
                out.append(BrokerPosition(symbol, quantity, average, (mark - average) * quantity * mult))
        return out

    async def get_account(self) -> Account:
        async with self._open() as ledger:
            state = await self._state(ledger)
        equity, used = state.balance, Decimal(0)
        for symbol, (quantity, average) in state.positions.items():
            if quantity:
                mult = (await self.get_instrument(symbol)).contract_multiplier
                mark = await self._mark(symbol, quantity, average)
                equity += (mark - average) * quantity * mult
                used += abs(quantity) * mark * mult * self.margin_rate
        return Account(self.account_id, state.currency, state.balance, equity, used, equity - used)

    # ------------------------------------------------------------------- orders

    def _check(self, request: OrderRequest, instrument: Instrument) -> None:
        if (fraction := quantities.whole_contracts_refusal(request.quantity, request.symbol, "paper")) is not None:
            raise OrderRejected("QUANTITY_NOT_WHOLE", fraction, broker=BROKER)
        if not instrument.is_valid_quantity(request.quantity):
            raise OrderRejected(
                "QUANTITY_OUT_OF_RANGE",
                f"quantity {request.quantity} is outside {instrument.min_quantity}..{instrument.max_quantity}"
                f" or not a multiple of {instrument.quantity_step}",
                broker=BROKER,
            )
        if request.type is OrderType.LIMIT and (request.limit_price is None or request.limit_price <= 0):
            raise InvalidRequest("INVALID_REQUEST", "a LIMIT order needs a positive limit_price", broker=BROKER)
        if request.type is OrderType.MARKET and request.limit_price is not None:
            raise InvalidRequest("INVALID_REQUEST", "a MARKET order takes no limit_price", broker=BROKER)
        tif = request.time_in_force
        if tif is not None and tif.upper() not in ("GTC", "IOC", "DAY"):
            raise InvalidRequest(
                "INVALID_REQUEST", f"time_in_force must be GTC, IOC or DAY, got {tif!r}", broker=BROKER
            )
        if not instrument.trading_open:
            raise OrderRejected("MARKET_CLOSED", f"{instrument.symbol} is not trading now", broker=BROKER)

    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        instrument = await self.get_instrument(request.symbol)
        async with self._lock, self._open() as ledger:
            existing = await ledger.find_order(self.account_id, request.client_order_id)
            if existing is not None:
                the_order_asked_for(request, existing, broker=BROKER, held="in the paper book")
                return await self._work(ledger, existing)
            self._check(request, instrument)
            state = await self._state(ledger)
            held = state.positions.get(request.symbol, (Decimal(0), Decimal(0)))[0]
            signed = request.quantity * request.side.sign
            if request.reduce_only and not (held and (held > 0) != (signed > 0) and abs(signed) <= abs(held)):
                raise ReduceOnlyRejected(
                    "REDUCE_ONLY_REJECTED",
                    f"reduce-only {request.side.value} {request.quantity} would not reduce the position of {held}",
                    broker=BROKER,
                )
            quote = await self._market_for(request)
            now = self._clock()
            tif = (request.time_in_force or ("IOC" if request.type is OrderType.MARKET else "GTC")).upper()
            order = BrokerOrder(
                order_id="P-" + uuid.uuid4().hex[:16],
                client_order_id=request.client_order_id,
                symbol=request.symbol,
                side=request.side,
                type=request.type,
                quantity=request.quantity,
                status=BrokerOrderStatus.NEW,
                limit_price=request.limit_price,
                time_in_force=tif,
                reduce_only=request.reduce_only,
                created_at=now,
                updated_at=now,
            )
            touch = quote.price_for(request.side)
            if request.type is OrderType.MARKET or self._crossed(order, touch):
                order = self._fill(state, order, touch, instrument)
                await ledger.save(state)
            elif tif == "IOC":
                order = replace(order, status=BrokerOrderStatus.CANCELED, reject_reason="IOC limit not fillable")
            await ledger.add_order(self.account_id, order)
            return order

    @staticmethod
    def _crossed(order: BrokerOrder, touch: Decimal) -> bool:
        assert order.limit_price is not None
        return touch <= order.limit_price if order.side is OrderSide.BUY else touch >= order.limit_price

    def _fill(
        self, state: PaperAccountState, order: BrokerOrder, price: Decimal, instrument: Instrument
    ) -> BrokerOrder:
        """Apply the whole order at `price` to the book: same direction averages in, the
        opposite realizes P&L on what it closes into the balance and opens the rest."""
        signed = order.quantity * order.side.sign
        held, average = state.positions.get(order.symbol, (Decimal(0), Decimal(0)))
        if held == 0 or (held > 0) == (signed > 0):
            total = abs(held) + abs(signed)
            average = (average * abs(held) + price * abs(signed)) / total
            held += signed
        else:
            closing = min(abs(signed), abs(held))
            direction = 1 if held > 0 else -1
            state.balance += (price - average) * closing * direction * instrument.contract_multiplier
            held += signed
            if held == 0:
                average = Decimal(0)
            elif (held > 0) != (direction > 0):
                average = price
        if held:
            state.positions[order.symbol] = (held, average)
        else:
            state.positions.pop(order.symbol, None)
        return replace(
            order,
            status=BrokerOrderStatus.FILLED,
            filled_quantity=order.quantity,
            average_fill_price=price,
            updated_at=self._clock(),
        )

    async def _work(self, ledger: PaperLedger, order: BrokerOrder) -> BrokerOrder:
        """Fill a resting limit order whose price has been crossed since; otherwise as is."""
        if order.status.is_final or order.type is not OrderType.LIMIT:
            return order
        try:
            quote = await self.get_quote(order.symbol)
        except QuoteUnavailable:
            return order
        if not self._crossed(order, quote.price_for(order.side)):
            return order
        limit = order.limit_price
        assert limit is not None
        state = await self._state(ledger)
        instrument = await self.get_instrument(order.symbol)
        held = state.positions.get(order.symbol, (Decimal(0), Decimal(0)))[0]
        signed = order.quantity * order.side.sign
        if order.reduce_only and not (held and (held > 0) != (signed > 0) and abs(signed) <= abs(held)):
            order = replace(
                order,
                status=BrokerOrderStatus.CANCELED,
                reject_reason="REDUCE_ONLY_REJECTED: the position changed while the order rested",
                updated_at=self._clock(),
            )
        else:
            order = self._fill(state, order, limit, instrument)
            await ledger.save(state)
        await ledger.add_order(self.account_id, order)
        return order

    async def get_order(self, order_id: str) -> BrokerOrder:
        async with self._lock, self._open() as ledger:
            order = await ledger.get_order(self.account_id, order_id)
            if order is None:
                raise UnknownOrder(
                    "UNKNOWN_ORDER", f"no order {order_id!r} on account {self.account_id}", broker=BROKER
                )
            return await self._work(ledger, order)

    async def find_order(self, client_order_id: str) -> BrokerOrder | None:
        async with self._lock, self._open() as ledger:
            order = await ledger.find_order(self.account_id, client_order_id)
            return None if order is None else await self._work(ledger, order)

    async def cancel_order(self, order_id: str) -> BrokerOrder:
        async with self._lock, self._open() as ledger:
            order = await ledger.get_order(self.account_id, order_id)
            if order is None:
                raise UnknownOrder(
                    "UNKNOWN_ORDER", f"no order {order_id!r} on account {self.account_id}", broker=BROKER
                )
            order = await self._work(ledger, order)
            if order.status.is_final:
                raise OrderNotCancelable(
                    "ORDER_NOT_CANCELABLE", f"order {order_id} is already {order.status.value}", broker=BROKER
                )
            order = replace(order, status=BrokerOrderStatus.CANCELED, updated_at=self._clock())
            await ledger.add_order(self.account_id, order)
            return order
