"""The ccxt broker (the real ccxt, binanceusdm) pointed at the loopback fake Binance USDⓈ-M
(tests/support/fake_binance.py) by `api_base_url`: the account, the broker, and both
together for a test (`ccxt_on_fake_binance`; the `exchange` fixture of tests/integration)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from brokers.ccxt.client import CcxtBroker, build_exchange
from tests.support.fake_binance import API_KEY, API_SECRET, FakeBinance, running_fake_binance
from trading.domain.accounts import CcxtAccount, parse_account

BTC = "BTC/USDT:USDT"
ENV = {"BINANCE_KEY": API_KEY, "BINANCE_SECRET": API_SECRET}


def account(base_url: str, **overrides: Any) -> CcxtAccount:
    parsed = parse_account(
        {
            "name": "binance-futures",
            "broker": "ccxt",
            "exchange": "binanceusdm",
            "api_key_env": "BINANCE_KEY",
            "api_secret_env": "BINANCE_SECRET",
            "api_base_url": base_url,
            "options": {"defaultType": "future"},
        }
        | overrides
    )
    assert isinstance(parsed, CcxtAccount)
    return parsed


def broker_at(base_url: str, env: dict[str, str] = ENV, timeout: float = 1.0) -> CcxtBroker:
    acct = account(base_url)
    return CcxtBroker(
        build_exchange(acct, env, timeout=timeout),
        name=acct.name,
        secrets=env.values(),
        backoff_base=0.01,
        poll_interval=0.05,
    )


@contextlib.asynccontextmanager
async def ccxt_on_fake_binance() -> AsyncIterator[tuple[CcxtBroker, FakeBinance]]:
    async with running_fake_binance() as (url, fake):
        broker = broker_at(url)
        try:
            yield broker, fake
        finally:
            await broker.aclose()
