"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from brokers.ccxt.client import CcxtBroker
from tests.support.exchange import ccxt_on_fake_binance
from tests.support.fake_binance import FakeBinance


@pytest.fixture
async def exchange() -> AsyncIterator[tuple[CcxtBroker, FakeBinance]]:
    """The ccxt broker on a fresh loopback fake Binance USDⓈ-M, and the fake."""
    async with ccxt_on_fake_binance() as pair:
        yield pair
