"""Stops and targets on the exchange through ccxt: the port's `ExitOrders` for `CcxtBroker`.

A stop is ccxt's unified market order with `stopLossPrice`, a target one with
`takeProfitPrice`, both reduce-only: Binance USDⓈ-M makes them STOP_MARKET /
TAKE_PROFIT_MARKET orders on its algo-order endpoint (ccxt >= 4.5), which is also where
they are read and cancelled (`trigger: True`). A triggered Binance algo order carries no
fill of its own: the market order it became (`actualOrderId`) is read for that.

Exactly once as for orders: an exit is looked up by its client id before it is sent, and
again after a failure whose outcome is unknown or a refusal that may be a repeated id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ccxt.base import errors as ccxt_errors

from brokers.ccxt import markets
from brokers.errors import BrokerError, OrderOutcomeUnknown, RetryableBrokerError, UnknownOrder
from trading.domain.exchange_exits import ExitKind, ExitOrderRequest
from trading.domain.market import BrokerOrder, BrokerOrderStatus

if TYPE_CHECKING:
    from brokers.ccxt.client import CcxtBroker

log = logging.getLogger("brokers.ccxt")

_TRIGGER = {"trigger": True}
# What `exchange.has` must say for exits to rest on the exchange.
_NEEDED = ("createStopMarketOrder", "createTakeProfitOrder", "createReduceOnlyOrder")
# Refusals that may mean "this client id was used already": look the exit up before failing.
_MAYBE_DUPLICATE = frozenset({"DUPLICATE_CLIENT_ORDER_ID", "INVALID_ORDER", "BAD_REQUEST", "EXCHANGE_ERROR"})


async def places_exits(broker: CcxtBroker, symbol: str) -> bool:
    """Whether `symbol`'s exits can rest on this exchange: a derivatives market (a spot
    balance has nothing to reduce-only against) and the order types in `exchange.has`."""
    has = broker._exchange.has
    if not all(has.get(name) for name in _NEEDED):
        return False
    return bool((await broker.market(symbol)).get("contract"))


async def place_exit(broker: CcxtBroker, request: ExitOrderRequest) -> BrokerOrder:
    market = await broker.market(request.symbol)
    cid = request.client_order_id
    sent = markets.exchange_client_id(broker.exchange_id, cid)
    broker._remember(cid, sent, request.symbol)
    mode = broker._exchange.precisionMode
    precision = market.get("precision") or {}
    amount = markets.round_amount(Decimal(request.quantity), markets.step_of(precision.get("amount"), mode))
    trigger = markets.round_price(request.trigger_price, markets.step_of(precision.get("price"), mode))
    level = "stopLossPrice" if request.kind is ExitKind.STOP else "takeProfitPrice"
    params: dict[str, Any] = {"clientOrderId": sent, "reduceOnly": True, level: float(trigger)}
    failures = 0
    while True:
        found = await find_exit(broker, cid, request.symbol)
        if found is not None:
            return found
        try:
            raw = await broker._exchange.create_order(
                request.symbol, "market", request.side.value, float(amount), None, params
            )
        except ccxt_errors.BaseError as e:
            error = broker._error(e)
            if isinstance(error, RetryableBrokerError):
                failures += 1
                if failures > broker.retry_attempts:
                    raise OrderOutcomeUnknown(
                        cid, f"exit {cid}: outcome unknown after {failures} tries ({error})", broker=broker.name
                    ) from e
                log.warning("%s exit %s failed (%s), try %d", broker.name, cid, error.code, failures)
                await broker._backoff(failures, error)
                continue  # looked up first: it may have been placed
            if error.code in _MAYBE_DUPLICATE:
                found = await find_exit(broker, cid, request.symbol)
                if found is not None:
                    return found
            raise error from e
        return _exit_order(broker, raw, cid, None)


async def find_exit(broker: CcxtBroker, client_order_id: str, symbol: str) -> BrokerOrder | None:
    sent = markets.exchange_client_id(broker.exchange_id, client_order_id)
    try:
        raw = await broker._call(broker._exchange.fetch_order, None, symbol, {"clientOrderId": sent, **_TRIGGER})
    except UnknownOrder:
        return None
    actual: Mapping[str, Any] | None = None
    info = raw.get("info") or {}
    actual_id = info.get("actualOrderId")
    if raw.get("status") == "closed" and not raw.get("filled") and actual_id not in (None, "", "0", 0):
        # Triggered: what it closed is on the market order it became.
        actual = await broker._call(broker._exchange.fetch_order, str(actual_id), symbol)
    return _exit_order(broker, raw, client_order_id, actual)


async def cancel_exit(broker: CcxtBroker, client_order_id: str, symbol: str) -> BrokerOrder | None:
    sent = markets.exchange_client_id(broker.exchange_id, client_order_id)
    try:
        await broker._call(broker._exchange.cancel_order, None, symbol, {"clientOrderId": sent, **_TRIGGER})
    except UnknownOrder:
        pass  # not resting any more (triggered, cancelled, or never placed): read what it is
    except BrokerError as e:
        if isinstance(e, RetryableBrokerError):
            raise
        log.info("%s: cancel of exit %s refused (%s); reading it", broker.name, client_order_id, e)
    return await find_exit(broker, client_order_id, symbol)


def _exit_order(
    broker: CcxtBroker, raw: Mapping[str, Any], client_order_id: str, actual: Mapping[str, Any] | None
) -> BrokerOrder:
    """The exit as the port's order: a resting one NEW; a triggered one FILLED with what its
    close filled (CANCELED when it filled nothing: nothing was left to reduce). Final with
    nothing filled means it closed nothing."""
    order = broker._order(raw, client_order_id)
    if actual is None:
        return replace(order, reduce_only=True)
    filled = broker._order(actual, client_order_id)
    status = BrokerOrderStatus.FILLED if filled.filled_quantity > 0 else BrokerOrderStatus.CANCELED
    if not filled.status.is_final:
        status = BrokerOrderStatus.PARTIALLY_FILLED if filled.filled_quantity else BrokerOrderStatus.NEW
    return BrokerOrder(
        order_id=order.order_id,
        client_order_id=client_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        quantity=order.quantity,
        status=status,
        filled_quantity=filled.filled_quantity,
        average_fill_price=filled.average_fill_price,
        reduce_only=True,
        created_at=order.created_at,
        updated_at=filled.updated_at,
    )
