"""Spot markets through the ccxt broker: a sell that would open a short is refused with
the reason before anything is sent; positions are the balances of the traded bases."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from brokers import errors
from brokers.ccxt.client import CcxtBroker
from brokers.ccxt.markets import TICK_SIZE
from trading.domain.market import BrokerPosition, OrderRequest
from trading.domain.values import OrderSide

SPOT = {
    "id": "BTCUSDT",
    "symbol": "BTC/USDT",
    "type": "spot",
    "spot": True,
    "contract": False,
    "base": "BTC",
    "quote": "USDT",
    "active": True,
    "precision": {"amount": 0.00001, "price": 0.01},
    "limits": {"amount": {"min": 0.00001, "max": 9000}, "cost": {"min": 5}},
}


class SpotExchange:
    """What the broker asks of a ccxt spot exchange, answered from memory."""

    id = "binance"
    precisionMode = TICK_SIZE
    has: dict[str, Any] = {"fetchPositions": False, "fetchBidsAsks": False}

    def __init__(self) -> None:
        self.created: list[tuple[Any, ...]] = []

    async def load_markets(self) -> dict[str, Any]:
        return {"BTC/USDT": SPOT}

    async def fetch_balance(self) -> dict[str, Any]:
        return {"total": {"BTC": 2.0, "USDT": 1500.5}, "free": {"USDT": 1500.5}, "used": {"USDT": 0}}

    async def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol, "bid": 64999.99, "ask": 65000.01, "last": 65000.0, "timestamp": 1_800_000_000_000}

    async def create_order(self, *args: Any) -> dict[str, Any]:
        self.created.append(args)
        raise AssertionError("nothing may be sent")

    async def close(self) -> None:
        return None


async def test_a_spot_sell_that_would_open_a_short_is_refused_before_sending() -> None:
    exchange = SpotExchange()
    broker = CcxtBroker(exchange, name="binance-spot")
    with pytest.raises(errors.OrderRejected) as refused:
        await broker.place_order(OrderRequest("sd-1-0", "BTC/USDT", OrderSide.SELL, 1))
    assert refused.value.code == "SPOT_SHORT"
    assert "BTC/USDT is a spot market: a sell that opens a short is not possible" in str(refused.value)
    assert exchange.created == []


async def test_spot_positions_are_the_balances_of_the_markets_in_use() -> None:
    broker = CcxtBroker(SpotExchange(), name="binance-spot")
    assert await broker.get_positions() == []  # no market in use yet
    await broker.get_instrument("BTC/USDT")
    assert await broker.get_positions() == [BrokerPosition("BTC/USDT", 2, Decimal(0), Decimal(0))]
    account = await broker.get_account()
    assert (account.currency, account.balance, account.margin_available) == (
        "USDT",
        Decimal("1500.5"),
        Decimal("1500.5"),
    )
    quote = await broker.get_quote("BTC/USDT")
    assert (quote.bid, quote.ask) == (Decimal("64999.99"), Decimal("65000.01"))
