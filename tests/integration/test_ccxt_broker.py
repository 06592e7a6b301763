"""The ccxt broker through the broker port, the real ccxt (binanceusdm) pointed at the
loopback fake Binance USDⓈ-M exchange by `api_base_url` (tests/support/fake_binance.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ccxt.base import errors as ccxt_errors

from brokers import errors
from brokers.ccxt.client import CcxtBroker, build_exchange
from tests.support.exchange import BTC, ENV, account, broker_at
from tests.support.fake_binance import API_KEY, API_SECRET, FakeBinance, running_fake_binance
from trading.domain.market import BrokerOrderStatus, OrderRequest
from trading.domain.values import OrderSide, OrderType
from trading.services import broker_errors as port


def buy(cid: str, quantity: Decimal | int = 1, **kw: Any) -> OrderRequest:
    return OrderRequest(cid, BTC, OrderSide.BUY, Decimal(quantity), **kw)


def sell(cid: str, quantity: Decimal | int = 1, **kw: Any) -> OrderRequest:
    return OrderRequest(cid, BTC, OrderSide.SELL, Decimal(quantity), **kw)


def posts(fake: FakeBinance) -> int:
    return sum(1 for r in fake.requests if r == ("POST", "/fapi/v1/order"))


async def test_instrument_quote_account_and_positions_read_from_the_exchange(
    exchange: tuple[CcxtBroker, FakeBinance],
) -> None:
    broker, fake = exchange
    instrument = await broker.get_instrument(BTC)
    assert (instrument.min_quantity, instrument.max_quantity, instrument.quantity_step) == (
        Decimal("0.001"),
        120,
        Decimal("0.001"),
    )
    assert (instrument.tick_size, instrument.currency, instrument.trading_open) == (Decimal("0.1"), "USDT", True)
    quote = await broker.get_quote(BTC)
    assert (quote.bid, quote.ask, quote.last) == (Decimal("64999.9"), Decimal("65000.1"), Decimal("65000"))
    assert await broker.get_positions() == []
    fake.wallet = Decimal(50_000)
    before = await broker.get_account()
    assert (before.currency, before.balance, before.equity) == ("USDT", Decimal(50_000), Decimal(50_000))
    await broker.place_order(buy("sd-1-0", 2))
    fake.set_price("BTCUSDT", Decimal("66000.0"))
    [position] = await broker.get_positions()
    assert (position.symbol, position.quantity, position.average_price) == (BTC, 2, Decimal("65000"))
    assert position.unrealized_pnl == Decimal(2000)
    after = await broker.get_account()
    assert after.margin_used > 0 and after.margin_available < after.balance


async def test_a_market_entry_then_a_reduce_only_close(exchange: tuple[CcxtBroker, FakeBinance]) -> None:
    broker, fake = exchange
    entry = await broker.place_order(buy("sd-7-0", 3))
    # Asked for the RESULT (not Binance's default ACK), the answer carries the fill: no read back.
    assert (entry.status, entry.filled_quantity, entry.average_fill_price) == (
        BrokerOrderStatus.FILLED,
        3,
        Decimal("65000"),
    )
    assert entry.client_order_id == "sd-7-0" and entry.order_id.startswith(BTC + "#")
    assert fake.requests.count(("GET", "/fapi/v1/order")) == 0
    assert fake.placed()[0].client_id == "sd-7-0"
    fake.set_price("BTCUSDT", Decimal("64000.0"))
    close = await broker.place_order(sell("sd-8-0", 3, reduce_only=True))
    assert close.status is BrokerOrderStatus.FILLED and close.reduce_only
    assert fake.placed()[1].reduce_only is True
    assert await broker.get_positions() == []
    assert fake.wallet == Decimal(100_000) - 3 * Decimal(1000)


async def test_fractional_amounts_are_sent_and_read_back_exactly(exchange: tuple[CcxtBroker, FakeBinance]) -> None:
    # Issue 28 item 5: 0.01 BTC, then 0.005 more, then half of it off: the exchange's amounts as they are.
    broker, fake = exchange
    entry = await broker.place_order(buy("sd-30-0", Decimal("0.01")))
    assert (entry.quantity, entry.filled_quantity) == (Decimal("0.01"), Decimal("0.01"))
    await broker.place_order(buy("sd-31-0", Decimal("0.005")))
    assert [o.quantity for o in fake.placed()] == [Decimal("0.01"), Decimal("0.005")]
    [position] = await broker.get_positions()
    assert position.quantity == Decimal("0.015") and str(position.quantity) == "0.015"
    close = await broker.place_order(sell("sd-32-0", Decimal("0.007"), reduce_only=True))
    assert close.filled_quantity == Decimal("0.007")
    [position] = await broker.get_positions()
    assert position.quantity == Decimal("0.008")
    # Off the amount step: refused with the reason, nothing sent.
    with pytest.raises(errors.OrderRejected) as off_step:
        await broker.place_order(buy("sd-33-0", Decimal("0.0125")))
    assert "0.0125 is not a multiple of the market's amount step" in str(off_step.value)
    assert posts(fake) == 3


async def test_a_market_order_answered_new_is_read_back_until_filled(exchange: tuple[CcxtBroker, FakeBinance]) -> None:
    broker, fake = exchange
    fake.answers_result = False
    order = await broker.place_order(buy("sd-21-0", 2))
    assert (order.status, order.filled_quantity, order.client_order_id) == (BrokerOrderStatus.FILLED, 2, "sd-21-0")
    assert fake.requests.count(("GET", "/fapi/v1/order")) >= 1


async def test_a_limit_order_is_rounded_to_the_tick_rests_and_is_cancelled(
    exchange: tuple[CcxtBroker, FakeBinance],
) -> None:
    broker, fake = exchange
    order = await broker.place_order(buy("sd-9-0", 1, type=OrderType.LIMIT, limit_price=Decimal("60000.04")))
    assert (order.status, order.limit_price, order.time_in_force) == (BrokerOrderStatus.NEW, Decimal("60000"), "GTC")
    assert fake.placed()[0].price == Decimal("60000.0")
    cancelled = await broker.cancel_order(order.order_id)
    assert cancelled.status is BrokerOrderStatus.CANCELED
    # Cancelling a final order is refused; the desk then reads the order back.
    with pytest.raises(errors.UnknownOrder):
        await broker.cancel_order(order.order_id)
    assert (await broker.get_order(order.order_id)).status is BrokerOrderStatus.CANCELED


async def test_amounts_outside_the_market_limits_are_refused_with_the_reason_before_sending(
    exchange: tuple[CcxtBroker, FakeBinance],
) -> None:
    broker, fake = exchange
    with pytest.raises(errors.OrderRejected) as too_big:
        await broker.place_order(buy("sd-10-0", 1001))
    assert too_big.value.code == "ORDER_LIMITS"
    assert "quantity 1001 is above BTC/USDT:USDT's maximum amount 1000" in str(too_big.value)
    fake.contracts["BTCUSDT"].min_notional = Decimal(100_000)
    await broker.aclose()
    async with running_fake_binance(fake) as (url, _):
        fresh = broker_at(url)
        try:
            with pytest.raises(errors.OrderRejected) as too_small:
                await fresh.place_order(buy("sd-11-0", 1, reference_price=Decimal(65000)))
        finally:
            await fresh.aclose()
    assert "order value 65000 is below BTC/USDT:USDT's minimum 100000 USDT" in str(too_small.value)
    assert posts(fake) == 0


async def test_exchange_refusals_arrive_by_class_through_the_rewritten_urls(
    exchange: tuple[CcxtBroker, FakeBinance],
) -> None:
    """ccxt picks Binance's error table by the real host; after api_base_url the margin and
    reduce-only refusals must still arrive as InsufficientFunds / InvalidOrder."""
    broker, fake = exchange
    with pytest.raises(errors.OrderRejected) as margin:
        await broker.place_order(buy("sd-12-0", 100))
    assert margin.value.code == "INSUFFICIENT_FUNDS" and "Margin is insufficient" in margin.value.message
    with pytest.raises(port.WouldNotReduce) as reduce:
        await broker.place_order(sell("sd-13-0", 1, reduce_only=True))
    assert reduce.value.code == "REDUCE_ONLY_REJECTED" and "-2022" in str(reduce.value)
    raw = build_exchange(account(fake.base_url), ENV, timeout=1)
    try:
        await raw.load_markets()
        with pytest.raises(ccxt_errors.InsufficientFunds):
            await raw.create_order(BTC, "market", "buy", 100, None, {"clientOrderId": "raw-1"})
        await raw.create_order(BTC, "market", "buy", 1, None, {"clientOrderId": "raw-2"})
        with pytest.raises(ccxt_errors.InvalidOrder) as duplicate:
            await raw.create_order(BTC, "market", "buy", 1, None, {"clientOrderId": "raw-2"})
        assert "-4116" in str(duplicate.value)
        with pytest.raises(ccxt_errors.InvalidOrder):
            await raw.create_order(BTC, "market", "buy", 5, None, {"clientOrderId": "raw-3", "reduceOnly": True})
    finally:
        await raw.close()


async def test_a_repeated_client_id_is_read_as_already_sent(exchange: tuple[CcxtBroker, FakeBinance]) -> None:
    broker, fake = exchange
    first = await broker.place_order(buy("sd-14-0", 2))
    again = await broker.place_order(buy("sd-14-0", 2))
    assert again.order_id == first.order_id and again.status is BrokerOrderStatus.FILLED
    assert len(fake.placed()) == 1
    with pytest.raises(errors.ClientOrderIdConflict):
        await broker.place_order(buy("sd-14-0", 5))
    assert len(fake.placed()) == 1


async def test_a_client_id_outside_the_exchanges_rules_is_sent_as_its_digest_and_read_back_as_ours(
    exchange: tuple[CcxtBroker, FakeBinance],
) -> None:
    broker, fake = exchange
    ours = "sd-" + "7" * 40  # longer than Binance's 36
    placed = await broker.place_order(buy(ours, 1))
    [sent] = fake.placed()
    assert sent.client_id != ours and len(sent.client_id) == 36 and sent.client_id.startswith("sd")
    assert placed.client_order_id == ours
    assert (await broker.get_order(placed.order_id)).client_order_id == ours
    found = await broker.find_order(ours)
    assert found is not None and found.order_id == placed.order_id


async def test_an_order_is_found_by_client_id_after_a_restart(exchange: tuple[CcxtBroker, FakeBinance]) -> None:
    broker, fake = exchange
    placed = await broker.place_order(buy("sd-15-0", 1))
    restarted = broker_at(fake.base_url)
    try:
        with pytest.raises(errors.BrokerUnavailable, match="no market is in use yet"):
            await restarted.find_order("sd-15-0")  # nowhere to look is not "never placed"
        await restarted.get_instrument(BTC)  # serve checks every bot's symbol at start-up
        found = await restarted.find_order("sd-15-0")
        assert found is not None and found.order_id == placed.order_id and found.client_order_id == "sd-15-0"
        assert await restarted.find_order("sd-16-0") is None
    finally:
        await restarted.aclose()


@pytest.mark.parametrize("fault", ["5xx", "timeout", "lost"])
async def test_a_failed_placement_is_looked_up_and_placed_exactly_once(
    exchange: tuple[CcxtBroker, FakeBinance], fault: str
) -> None:
    broker, fake = exchange
    fake.hang_seconds = 2.0
    await broker.get_instrument(BTC)
    fake.faults.append(("POST", "/fapi/v1/order", fault))
    order = await broker.place_order(buy("sd-17-0", 2))
    assert order.status is BrokerOrderStatus.FILLED and order.filled_quantity == 2
    assert [o.client_id for o in fake.placed()] == ["sd-17-0"]
    assert fake.positions["BTCUSDT"].quantity == 2
    # "lost": carried out, answer lost: found by its client id, never sent again.
    assert posts(fake) == (1 if fault == "lost" else 2)


async def test_when_every_try_fails_the_outcome_is_unknown_never_a_second_order(
    exchange: tuple[CcxtBroker, FakeBinance],
) -> None:
    broker, fake = exchange
    await broker.get_instrument(BTC)
    fake.faults.extend([("POST", "/fapi/v1/order", "5xx")] * 4 + [("GET", "/fapi/v1/order", "5xx")] * 4)
    with pytest.raises(errors.OrderOutcomeUnknown) as unknown:
        await broker.place_order(buy("sd-18-0", 1))
    assert isinstance(unknown.value, port.BrokerUnavailable)
    assert fake.placed() == []


async def test_bad_keys_are_an_authentication_refusal_naming_no_secret() -> None:
    async with running_fake_binance() as (url, _fake):
        for env in (
            {"BINANCE_KEY": "wrong-key", "BINANCE_SECRET": API_SECRET},
            {"BINANCE_KEY": API_KEY, "BINANCE_SECRET": "wrong-secret"},
        ):
            broker = broker_at(url, env)
            try:
                with pytest.raises(errors.FinalBrokerError) as refused:
                    await broker.get_account()
            finally:
                await broker.aclose()
            assert isinstance(refused.value, errors.AuthenticationFailed | errors.InvalidRequest)
            assert refused.value.code in ("AUTHENTICATION_FAILED", "BAD_REQUEST")
            assert "wrong-" not in str(refused.value) and API_SECRET not in str(refused.value)
            assert "signature=" not in str(refused.value) or "signature=***" in str(refused.value)


async def test_a_clock_off_the_exchanges_is_corrected_and_the_request_retried(
    exchange: tuple[CcxtBroker, FakeBinance],
) -> None:
    broker, fake = exchange
    fake.clock_offset_ms = 60_000  # the exchange a minute ahead: outside Binance's receive window
    account = await broker.get_account()
    assert account.balance == Decimal(100_000)
    assert fake.requests.count(("GET", "/fapi/v1/time")) == 1
    order = await broker.place_order(buy("sd-20-0", 1))
    assert order.status is BrokerOrderStatus.FILLED and len(fake.placed()) == 1


async def test_an_unlisted_symbol_is_refused_naming_it(exchange: tuple[CcxtBroker, FakeBinance]) -> None:
    broker, _fake = exchange
    with pytest.raises(errors.UnknownSymbol) as unknown:
        await broker.get_instrument("DOGE/USDT:USDT")
    assert "binanceusdm lists no market 'DOGE/USDT:USDT'" in str(unknown.value)


async def test_stop_and_take_profit_market_orders_go_to_the_algo_endpoint(
    exchange: tuple[CcxtBroker, FakeBinance],
) -> None:
    """ccxt >= 4.5 sends Binance's conditional orders to /fapi/v1/algoOrder: the fake takes
    them, checks them like orders, and fills them reduce-only when the price crosses."""
    broker, fake = exchange
    await broker.place_order(buy("sd-19-0", 2))
    raw = build_exchange(account(fake.base_url), ENV, timeout=1)
    try:
        await raw.load_markets()
        stop = await raw.create_order(
            BTC, "STOP_MARKET", "sell", 2, None, {"triggerPrice": 60000, "reduceOnly": True, "clientOrderId": "sd-19-s"}
        )
        await raw.create_order(
            BTC,
            "TAKE_PROFIT_MARKET",
            "sell",
            2,
            None,
            {"triggerPrice": 70000, "reduceOnly": True, "clientOrderId": "sd-19-t"},
        )
    finally:
        await raw.close()
    assert ("POST", "/fapi/v1/algoOrder") in fake.requests and stop["clientOrderId"] == "sd-19-s"
    fake.set_price("BTCUSDT", Decimal("59990.0"))
    assert fake.positions["BTCUSDT"].quantity == 0
    algo = {o.client_id: o for o in fake.placed() if o.algo}
    assert algo["sd-19-s"].filled == 2 and algo["sd-19-t"].filled == 0
