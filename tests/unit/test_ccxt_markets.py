"""A ccxt market's precision and limits: rounding, the instrument, the refusals before sending."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from brokers.ccxt.markets import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    exchange_client_id,
    instrument,
    order_problem,
    round_amount,
    round_price,
    step_of,
)

D = Decimal


def btc_perp(**overrides: Any) -> dict[str, Any]:
    """BTC/USDT:USDT as ccxt 4.5 loads it from Binance USD-M (tick-size precision)."""
    return {
        "id": "BTCUSDT",
        "symbol": "BTC/USDT:USDT",
        "type": "swap",
        "contract": True,
        "spot": False,
        "settle": "USDT",
        "quote": "USDT",
        "base": "BTC",
        "active": True,
        "contractSize": 1.0,
        "precision": {"amount": 0.001, "price": 0.1},
        "limits": {
            "amount": {"min": 0.001, "max": 1000.0},
            "market": {"min": 0.001, "max": 120.0},
            "price": {"min": 261.1, "max": 809484.0},
            "cost": {"min": 100.0, "max": None},
        },
    } | overrides


def test_steps_read_as_tick_sizes_or_decimal_places() -> None:
    assert step_of(0.001, TICK_SIZE) == D("0.001")
    assert step_of(3, DECIMAL_PLACES) == D("0.001")
    assert step_of(0, DECIMAL_PLACES) == D(1)
    assert step_of(None, TICK_SIZE) is None
    assert step_of(5, SIGNIFICANT_DIGITS) is None


@pytest.mark.parametrize(
    ("value", "step", "rounded"),
    [
        (D("1.23456"), D("0.001"), D("1.234")),
        (D("0.0009"), D("0.001"), D("0")),
        (D("7"), D("5"), D("5")),
        (D("12"), D("1"), D("12")),
        (D("3.3"), None, D("3.3")),
    ],
)
def test_amounts_round_down_to_the_step(value: Decimal, step: Decimal | None, rounded: Decimal) -> None:
    assert round_amount(value, step) == rounded


@pytest.mark.parametrize(
    ("value", "tick", "rounded"),
    [
        (D("65000.04"), D("0.1"), D("65000.0")),
        (D("65000.05"), D("0.1"), D("65000.1")),
        (D("1.2345"), D("0.25"), D("1.25")),
        (D("3.3"), None, D("3.3")),
    ],
)
def test_prices_round_to_the_nearest_tick(value: Decimal, tick: Decimal | None, rounded: Decimal) -> None:
    assert round_price(value, tick) == rounded


def test_the_instrument_is_the_markets_amount_step_within_its_limits() -> None:
    got = instrument(btc_perp(), TICK_SIZE)
    assert (got.symbol, got.min_quantity, got.max_quantity, got.quantity_step) == (
        "BTC/USDT:USDT",
        D("0.001"),
        120,
        D("0.001"),
    )
    assert not got.whole_contracts and got.round_down(D("0.0129")) == D("0.012")
    assert (got.tick_size, got.contract_multiplier, got.currency, got.trading_open) == (D("0.1"), D(1), "USDT", True)
    lots = instrument(btc_perp(precision={"amount": 10, "price": 0.5}, limits={"amount": {"min": 25}}), TICK_SIZE)
    assert (lots.min_quantity, lots.quantity_step, lots.max_quantity) == (30, 10, 1_000_000)
    assert instrument(btc_perp(active=False), TICK_SIZE).trading_open is False


@pytest.mark.parametrize(
    ("amount", "price", "reason"),
    [
        (D(1), D(65000), None),
        (D(1), None, None),
        (D("0.0005"), D(65000), "quantity 0.0005 is not a multiple of BTC/USDT:USDT's amount step 0.001"),
        (D(0), D(65000), "quantity 0 is below BTC/USDT:USDT's amount step"),
        (D(1001), D(65000), "quantity 1001 is above BTC/USDT:USDT's maximum amount 1000"),
        (D("0.001"), D(65000), "order value 65 is below BTC/USDT:USDT's minimum 100 USDT"),
    ],
)
def test_orders_the_exchange_would_refuse_are_refused_with_the_reason(
    amount: Decimal, price: Decimal | None, reason: str | None
) -> None:
    assert order_problem(btc_perp(), TICK_SIZE, amount, price) == reason


def test_an_inactive_market_refuses_every_order() -> None:
    assert (
        order_problem(btc_perp(active=False), TICK_SIZE, D(1), D(1))
        == "BTC/USDT:USDT is not trading on the exchange now"
    )


def test_client_ids_keep_their_form_where_the_exchange_allows_it() -> None:
    assert exchange_client_id("binanceusdm", "sd-12345-0") == "sd-12345-0"
    assert exchange_client_id("bybit", "sd-12345-0") == "sd-12345-0"
    # OKX takes letters and digits only: a digest, the same every time, 32 long.
    okx = exchange_client_id("okx", "sd-12345-0")
    assert okx == exchange_client_id("okx", "sd-12345-0") and len(okx) == 32 and okx.isalnum()
    assert okx != exchange_client_id("okx", "sd-1234-50")
    long_id = "sd-" + "9" * 40
    assert len(exchange_client_id("binanceusdm", long_id)) == 36
