"""Which symbols' stops and targets may rest on the exchange (CcxtBroker.places_exits, brokers/ccxt/client.py): a
derivatives market of an exchange whose `has` lists stop-market, take-profit and
reduce-only orders; never spot."""

from __future__ import annotations

from typing import Any

import pytest

from brokers.ccxt.client import CcxtBroker

ALL = {"createStopMarketOrder": True, "createTakeProfitOrder": True, "createReduceOnlyOrder": True}


class Exchange:
    """What `places_exits` reads of a ccxt exchange: `has` and the markets."""

    id = "someexchange"

    def __init__(self, has: dict[str, Any]) -> None:
        self.has = has

    async def load_markets(self) -> dict[str, Any]:
        return {
            "BTC/USDT": {"symbol": "BTC/USDT", "spot": True, "contract": False},
            "BTC/USDT:USDT": {"symbol": "BTC/USDT:USDT", "spot": False, "contract": True},
        }


@pytest.mark.parametrize(
    ("has", "symbol", "places"),
    [
        (ALL, "BTC/USDT:USDT", True),
        (ALL, "BTC/USDT", False),  # spot: nothing to reduce-only against; the monitor watches
        (ALL | {"createStopMarketOrder": False}, "BTC/USDT:USDT", False),
        (ALL | {"createTakeProfitOrder": None}, "BTC/USDT:USDT", False),
        ({k: v for k, v in ALL.items() if k != "createReduceOnlyOrder"}, "BTC/USDT:USDT", False),
    ],
)
async def test_exits_rest_on_the_exchange_only_on_derivatives_with_the_order_types(
    has: dict[str, Any], symbol: str, places: bool
) -> None:
    broker = CcxtBroker(Exchange(has), name="acct")
    assert await broker.places_exits(symbol) is places
