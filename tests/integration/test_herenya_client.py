"""The Herenya client against the simulator over real HTTP on loopback: every endpoint and
every error code of the contract, clock correction, retries, never placing an order twice."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib.abc
import json
import logging
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from brokers.errors import (
    AuthenticationFailed,
    BrokerConfigError,
    BrokerUnavailable,
    ClientOrderIdConflict,
    Forbidden,
    InvalidRequest,
    OrderNotCancelable,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    UnknownSymbol,
)
from brokers.herenya.client import HerenyaClient
from brokers.herenya.sim_config import FaultSettings, SimConfig
from brokers.herenya.sim_server import RunningSimulator, running_simulator
from tests.support.loopback import serving
from trading.domain.market import BrokerOrderStatus, OrderRequest
from trading.domain.values import OrderSide, OrderType
from trading.services import ports

pytestmark = pytest.mark.timeout(60)

FROZEN = SimConfig(seed=1, quote_step_seconds=0)  # quotes hold still unless a test moves them


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with running_simulator(FROZEN) as s:
        yield s


def make_client(sim: RunningSimulator, **overrides: Any) -> HerenyaClient:
    kwargs: dict[str, Any] = {
        "api_key": "test-key",
        "api_secret": "test-secret",
        "base_url": sim.base_url,
        "account_id": "A1",
        "timeout": 2.0,
        "retry_attempts": 2,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "settle_timeout": 2.0,
        "poll_interval": 0.05,
    }
    kwargs.update(overrides)
    return HerenyaClient(**kwargs)


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[HerenyaClient]:
    c = make_client(sim)
    yield c
    await c.aclose()


def market(cid: str, side: OrderSide, qty: int | Decimal, symbol: str = "SA40", **kw: Any) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=symbol, side=side, quantity=qty, **kw)


async def raw(
    sim: RunningSimulator,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    key: str = "test-key",
    secret: str = "test-secret",
    ts: int | None = None,
) -> httpx.Response:
    """A request signed by hand, independent of the client."""
    stamp = str(ts if ts is not None else int(time.time() * 1000))
    sig = hmac.new(secret.encode(), stamp.encode() + method.encode() + path.encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Herenya-Key": key, "X-Herenya-Timestamp": stamp, "X-Herenya-Signature": sig}
    if body:
        headers["Content-Type"] = "application/json"
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=5.0) as h:
        return await h.request(method, path, content=body, headers=headers)


def book(sim: RunningSimulator) -> list[dict[str, Any]]:
    return list(sim.state.book()["orders"])


# --------------------------------------------------------------------------- endpoints


async def test_time_needs_no_authentication(sim: RunningSimulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as h:
        r = await h.get("/v1/time")
    assert r.status_code == 200
    assert abs(r.json()["server_time"] - time.time() * 1000) < 5000


async def test_instrument(client: HerenyaClient) -> None:
    i = await client.get_instrument("SA40")
    assert (i.symbol, i.min_quantity, i.max_quantity, i.quantity_step) == ("SA40", 1, 12, 1)
    assert i.tick_size == Decimal("0.5") and i.contract_multiplier == Decimal(1)
    assert i.currency == "ZAR" and i.trading_open and "South Africa" in i.description
    us = await client.get_instrument("US30")
    assert us.currency == "USD" and us.max_quantity == 20


async def test_a_fraction_is_refused_with_the_reason_before_anything_is_sent(client: HerenyaClient) -> None:
    # Herenya trades whole contracts; its wire carries integers (issue 28 item 5).
    i = await client.get_instrument("SA40")
    assert i.whole_contracts and isinstance(i.quantity_step, Decimal)
    before = client.stats.requests
    with pytest.raises(OrderRejected) as refused:
        await client.place_order(market("sd-frac-1", OrderSide.BUY, Decimal("0.5")))
    assert refused.value.code == "QUANTITY_NOT_WHOLE"
    assert "SA40 trades whole contracts on Herenya: 0.5 is not a whole number" in str(refused.value)
    assert client.stats.requests == before
    whole = await client.place_order(market("sd-frac-2", OrderSide.BUY, Decimal(2)))
    assert whole.filled_quantity == 2 and isinstance(whole.filled_quantity, Decimal)


async def test_unknown_symbol_is_404_final(client: HerenyaClient) -> None:
    with pytest.raises(UnknownSymbol) as info:
        await client.get_instrument("NOPE")
    assert info.value.status == 404 and info.value.code == "UNKNOWN_SYMBOL" and "NOPE" in str(info.value)
    with pytest.raises(UnknownSymbol):
        await client.get_quote("NOPE")
    assert client.stats.retries == 0


async def test_quote(client: HerenyaClient, sim: RunningSimulator) -> None:
    sim.state.set_quote("SA40", Decimal("53000.0"), Decimal("53001.0"))
    q = await client.get_quote("SA40")
    assert (q.symbol, q.bid, q.ask, q.last) == ("SA40", Decimal("53000.0"), Decimal("53001.0"), Decimal("53000.5"))
    assert q.time.tzinfo is UTC and abs((datetime.now(UTC) - q.time).total_seconds()) < 5


class _ImportRecorder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        self.names.append(fullname)


async def test_a_warm_round_trip_searches_for_no_module(client: HerenyaClient) -> None:
    """A missing module is searched for on every import attempt. httpcore tries `import sniffio`
    on every request, so without sniffio installed each broker call walked the import path:
    a tenth of the client's CPU."""
    await client.get_quote("SA40")  # the first call may import what it needs
    recorder = _ImportRecorder()
    sys.meta_path.insert(0, recorder)
    try:
        await client.get_quote("SA40")
        await client.place_order(market("warm-imports-1", OrderSide.BUY, 1))
    finally:
        sys.meta_path.remove(recorder)
    assert recorder.names == []


@asynccontextmanager
async def forward_proxy(upstream: str) -> AsyncIterator[tuple[str, list[str]]]:
    """A plain HTTP forward proxy on loopback: it takes absolute-form requests and sends
    them on to `upstream` (whatever host they name), recording each target it was asked for."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "proxy-connection")}
        async with httpx.AsyncClient(base_url=upstream, trust_env=False) as h:  # not back through itself
            answer = await h.request(
                request.method, request.rel_url.raw_path_qs, headers=headers, content=await request.read()
            )
        return web.Response(status=answer.status_code, body=answer.content, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    async with serving(app) as base_url:
        yield base_url, seen


async def test_a_proxy_named_by_the_environment_is_used(sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """As httpx.AsyncClient did: HTTP(S)_PROXY is honoured and NO_PROXY bypasses it. The
    broker's host does not resolve, so only the proxy can reach it."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    async with forward_proxy(sim.base_url) as (proxy, seen):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        through = make_client(sim, base_url="http://herenya.invalid", retry_attempts=0)
        try:
            assert (await through.get_quote("SA40")).symbol == "SA40"
        finally:
            await through.aclose()
        assert seen == ["http://herenya.invalid/v1/quotes/SA40"]
        monkeypatch.setenv("NO_PROXY", "herenya.invalid")
        direct = make_client(sim, base_url="http://herenya.invalid", retry_attempts=0)
        try:
            with pytest.raises(BrokerUnavailable) as info:
                await direct.get_quote("SA40")
            assert info.value.code == "CONNECT_FAILED"
        finally:
            await direct.aclose()
        assert len(seen) == 1


async def test_account_and_no_positions_at_start(client: HerenyaClient) -> None:
    a = await client.get_account()
    assert (a.account_id, a.currency, a.balance, a.equity) == ("A1", "ZAR", Decimal("100000.00"), Decimal("100000.00"))
    assert a.margin_used == 0 and a.margin_available == Decimal("100000.00")
    assert await client.get_positions() == []


async def test_market_buy_fills_at_the_ask_and_opens_a_position(client: HerenyaClient, sim: RunningSimulator) -> None:
    sim.state.set_quote("SA40", Decimal("53210.0"), Decimal("53211.0"))
    o = await client.place_order(market("sd-1-1", OrderSide.BUY, 2))
    assert o.status is BrokerOrderStatus.FILLED and o.filled_quantity == 2
    assert o.average_fill_price == Decimal("53211") and o.side is OrderSide.BUY and o.type is OrderType.MARKET
    assert o.order_id.startswith("H-") and o.client_order_id == "sd-1-1" and o.time_in_force == "IOC"
    assert o.created_at is not None and o.created_at.tzinfo is UTC
    [p] = await client.get_positions()
    assert (p.symbol, p.quantity, p.average_price, p.unrealized_pnl) == ("SA40", 2, Decimal("53211"), Decimal("-2.00"))
    a = await client.get_account()
    assert a.balance == Decimal("100000.00") and a.equity == Decimal("99998.00")
    assert a.margin_used == Decimal("5321.00")  # 2 x 53210 (bid) x 5 %
    assert await client.get_order(o.order_id) == o
    assert await client.find_order("sd-1-1") == o
    assert await client.find_order("sd-never") is None


async def test_netting_reverse_and_balance_by_realized_pnl(client: HerenyaClient, sim: RunningSimulator) -> None:
    sim.state.set_quote("SA40", Decimal("53000.0"), Decimal("53001.0"))
    await client.place_order(market("n-1", OrderSide.BUY, 3))  # long 3 @ 53001
    sim.state.set_quote("SA40", Decimal("53101.0"), Decimal("53102.0"))
    o = await client.place_order(market("n-2", OrderSide.SELL, 5))  # closes 3 @ 53101 (+300), short 2 @ 53101
    assert o.average_fill_price == Decimal("53101")
    [p] = await client.get_positions()
    assert (p.quantity, p.average_price) == (-2, Decimal("53101"))
    assert (await client.get_account()).balance == Decimal("100300.00")
    sim.state.set_quote("SA40", Decimal("53050.0"), Decimal("53051.0"))
    await client.place_order(market("n-3", OrderSide.BUY, 2))  # short closed at 53051: (53051 - 53101) x -2 = +100
    assert await client.get_positions() == []
    a = await client.get_account()
    assert a.balance == a.equity == Decimal("100400.00") and a.margin_used == 0


async def test_limit_order_rests_then_fills_when_the_quote_crosses(
    client: HerenyaClient, sim: RunningSimulator
) -> None:
    sim.state.set_quote("SA40", Decimal("53210.0"), Decimal("53211.0"))
    req = market("l-1", OrderSide.BUY, 1, type=OrderType.LIMIT, limit_price=Decimal("53100.0"))
    o = await client.place_order(req)
    assert o.status is BrokerOrderStatus.NEW and o.time_in_force == "GTC" and o.limit_price == Decimal("53100.0")
    assert await client.get_positions() == []
    sim.state.set_quote("SA40", Decimal("53150.0"), Decimal("53151.0"))  # not yet
    assert (await client.get_order(o.order_id)).status is BrokerOrderStatus.NEW
    async with httpx.AsyncClient(base_url=sim.base_url) as h:  # the control API moves the market
        r = await h.post("/_sim/quotes/SA40", json={"bid": "53090.0", "ask": "53091.0"})
        assert r.status_code == 200
    filled = await client.get_order(o.order_id)
    assert filled.status is BrokerOrderStatus.FILLED and filled.average_fill_price == Decimal("53100")
    [p] = await client.get_positions()
    assert (p.quantity, p.average_price) == (1, Decimal("53100"))


async def test_marketable_limit_fills_at_the_quote_and_ioc_remainder_is_canceled(
    client: HerenyaClient, sim: RunningSimulator
) -> None:
    sim.state.set_quote("SA40", Decimal("53210.0"), Decimal("53211.0"))
    o = await client.place_order(market("l-2", OrderSide.BUY, 1, type=OrderType.LIMIT, limit_price=Decimal("53300")))
    assert o.status is BrokerOrderStatus.FILLED and o.average_fill_price == Decimal("53211")
    ioc = market("l-3", OrderSide.SELL, 1, type=OrderType.LIMIT, limit_price=Decimal("53300"), time_in_force="IOC")
    c = await client.place_order(ioc)
    assert c.status is BrokerOrderStatus.CANCELED and c.filled_quantity == 0 and c.average_fill_price is None


async def test_cancel_and_409_order_not_cancelable(client: HerenyaClient) -> None:
    o = await client.place_order(market("c-1", OrderSide.SELL, 1, type=OrderType.LIMIT, limit_price=Decimal("99999")))
    assert o.status is BrokerOrderStatus.NEW
    c = await client.cancel_order(o.order_id)
    assert c.status is BrokerOrderStatus.CANCELED and c.order_id == o.order_id
    with pytest.raises(OrderNotCancelable) as info:
        await client.cancel_order(o.order_id)
    assert info.value.status == 409 and info.value.code == "ORDER_NOT_CANCELABLE"


async def test_unknown_order_is_404(client: HerenyaClient, sim: RunningSimulator) -> None:
    with pytest.raises(UnknownOrder) as info:
        await client.get_order("H-999999")
    assert info.value.code == "UNKNOWN_ORDER" and info.value.status == 404
    with pytest.raises(UnknownOrder):
        await client.cancel_order("H-999999")
    # Another account's order is unknown to this one.
    other = make_client(sim, api_key="other-key", api_secret="other-secret", account_id="A2")
    try:
        theirs = await other.place_order(market("a2-1", OrderSide.BUY, 1))
    finally:
        await other.aclose()
    with pytest.raises(UnknownOrder):
        await client.get_order(theirs.order_id)
    assert await client.find_order("a2-1") is None


async def test_same_client_id_twice_places_once_and_returns_the_original(
    client: HerenyaClient, sim: RunningSimulator
) -> None:
    first = await client.place_order(market("d-1", OrderSide.BUY, 2))
    sim.state.set_quote("SA40", Decimal("1000.0"), Decimal("1001.0"))
    again = await client.place_order(market("d-1", OrderSide.BUY, 2))
    assert again == first and client.stats.duplicates == 1
    assert [o["client_order_id"] for o in book(sim)] == ["d-1"]
    [p] = await client.get_positions()
    assert p.quantity == 2


async def test_409_duplicate_body_holds_the_original_order(sim: RunningSimulator) -> None:
    body = b'{"client_order_id":"d-2","symbol":"SA40","side":"BUY","type":"MARKET","quantity":1}'
    first = await raw(sim, "POST", "/v1/accounts/A1/orders", body)
    assert first.status_code == 201
    again = await raw(sim, "POST", "/v1/accounts/A1/orders", body)
    assert again.status_code == 409
    err = again.json()["error"]
    assert err["code"] == "DUPLICATE_CLIENT_ORDER_ID" and err["order"] == first.json()


async def test_a_client_id_reused_for_another_order_is_refused(client: HerenyaClient, sim: RunningSimulator) -> None:
    await client.place_order(market("r-1", OrderSide.BUY, 2))
    with pytest.raises(ClientOrderIdConflict) as info:
        await client.place_order(market("r-1", OrderSide.SELL, 2))
    assert "r-1" in str(info.value)
    assert len(book(sim)) == 1


@pytest.mark.parametrize("qty", [0, 13, -1])
async def test_422_quantity_out_of_range(client: HerenyaClient, sim: RunningSimulator, qty: int) -> None:
    with pytest.raises(OrderRejected) as info:
        await client.place_order(market(f"q-{qty}", OrderSide.BUY, qty))
    assert info.value.code == "QUANTITY_OUT_OF_RANGE" and info.value.status == 422 and str(qty) in str(info.value)
    assert book(sim) == []


async def test_422_quantity_not_a_step_multiple() -> None:
    config = replace(FROZEN, instruments=(*FROZEN.instruments[:1], replace(FROZEN.instruments[1], quantity_step=2)))
    async with running_simulator(config) as s:
        c = make_client(s)
        try:
            with pytest.raises(OrderRejected, match="QUANTITY_OUT_OF_RANGE"):
                await c.place_order(market("s-1", OrderSide.BUY, 3, symbol="US30"))
            assert (await c.place_order(market("s-2", OrderSide.BUY, 4, symbol="US30"))).filled_quantity == 4
        finally:
            await c.aclose()


async def test_422_insufficient_margin(client: HerenyaClient, sim: RunningSimulator) -> None:
    sim.state.set_balance("A1", Decimal("2000"))  # one SA40 contract needs about 2660 at 5 %
    with pytest.raises(OrderRejected) as info:
        await client.place_order(market("m-1", OrderSide.BUY, 1))
    assert info.value.code == "INSUFFICIENT_MARGIN" and "margin" in info.value.message
    assert book(sim) == []


async def test_422_market_closed(client: HerenyaClient, sim: RunningSimulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as h:
        r = await h.post("/_sim/instruments/SA40", json={"trading_status": "CLOSED"})
        assert r.status_code == 200
    assert not (await client.get_instrument("SA40")).trading_open
    with pytest.raises(OrderRejected) as info:
        await client.place_order(market("mc-1", OrderSide.BUY, 1))
    assert info.value.code == "MARKET_CLOSED"


async def test_422_reduce_only(client: HerenyaClient, sim: RunningSimulator) -> None:
    with pytest.raises(OrderRejected) as info:
        await client.place_order(market("ro-1", OrderSide.SELL, 1, reduce_only=True))
    assert info.value.code == "REDUCE_ONLY_REJECTED"
    await client.place_order(market("ro-2", OrderSide.BUY, 2))
    with pytest.raises(OrderRejected, match="REDUCE_ONLY_REJECTED"):
        await client.place_order(market("ro-3", OrderSide.SELL, 3, reduce_only=True))  # would flip
    o = await client.place_order(market("ro-4", OrderSide.SELL, 2, reduce_only=True))
    assert o.status is BrokerOrderStatus.FILLED and o.reduce_only
    assert await client.get_positions() == []


async def test_400_invalid_request(client: HerenyaClient, sim: RunningSimulator) -> None:
    with pytest.raises(InvalidRequest) as info:
        await client.place_order(market("bad-1", OrderSide.BUY, 1, type=OrderType.LIMIT))  # no limit price
    assert info.value.status == 400 and "limit_price" in info.value.message
    with pytest.raises(InvalidRequest, match="client_order_id"):
        await client.place_order(market("has space", OrderSide.BUY, 1))
    with pytest.raises(InvalidRequest, match="tick"):
        await client.place_order(market("bad-2", OrderSide.BUY, 1, type=OrderType.LIMIT, limit_price=Decimal("1.3")))
    for body, needle in [(b"{not json", "not JSON"), (b'{"client_order_id":"x1","side":"HOLD"}', "side")]:
        r = await raw(sim, "POST", "/v1/accounts/A1/orders", body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_REQUEST"
        assert needle in r.json()["error"]["message"]
    r = await raw(sim, "GET", "/v1/accounts/A1/orders")
    assert r.status_code == 400 and "client_order_id" in r.json()["error"]["message"]
    assert book(sim) == []


# --------------------------------------------------------------------------- authentication


async def test_401_invalid_api_key_is_final(sim: RunningSimulator) -> None:
    c = make_client(sim, api_key="who-is-this")
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await c.get_account()
    finally:
        await c.aclose()
    assert info.value.code == "INVALID_API_KEY" and info.value.status == 401
    assert c.stats.requests == 1  # final: not retried


async def test_401_invalid_signature(sim: RunningSimulator) -> None:
    c = make_client(sim, api_secret="wrong-secret")
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await c.place_order(market("sig-1", OrderSide.BUY, 1))
    finally:
        await c.aclose()
    assert info.value.code == "INVALID_SIGNATURE"
    assert book(sim) == []
    # A body changed after signing is refused too.
    ts = int(time.time() * 1000)
    sig = hmac.new(b"test-secret", f"{ts}POST/v1/accounts/A1/orders{{}}".encode(), hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(base_url=sim.base_url) as h:
        r = await h.post(
            "/v1/accounts/A1/orders",
            content=b"{ }",
            headers={"X-Herenya-Key": "test-key", "X-Herenya-Timestamp": str(ts), "X-Herenya-Signature": sig},
        )
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_SIGNATURE"


async def test_401_timestamp_expired_outside_5000_ms(sim: RunningSimulator) -> None:
    def off_by(ms: int) -> int:  # taken as each request goes: a busy machine may pause between them
        return int(time.time() * 1000) + ms

    assert (await raw(sim, "GET", "/v1/accounts/A1", ts=off_by(-4000))).status_code == 200
    for offset in (-6000, 6000):
        r = await raw(sim, "GET", "/v1/accounts/A1", ts=off_by(offset))
        assert r.status_code == 401 and r.json()["error"]["code"] == "TIMESTAMP_EXPIRED"


@pytest.mark.parametrize("skew", [-10.0, 10.0])
async def test_a_local_clock_10_s_off_still_trades(sim: RunningSimulator, skew: float) -> None:
    c = make_client(sim, clock=lambda: time.time() + skew)
    try:
        o = await c.place_order(market("clk-1", OrderSide.BUY, 1))
        assert o.status is BrokerOrderStatus.FILLED
        assert c.stats.clock_syncs == 1
        assert abs(c.now_ms() - time.time() * 1000) < 1000  # corrected
        await c.get_account()
        assert c.stats.clock_syncs == 1  # the offset holds
    finally:
        await c.aclose()
    assert len(book(sim)) == 1


async def test_a_clock_that_cannot_be_corrected_fails_with_timestamp_expired(sim: RunningSimulator) -> None:
    # A clock that runs away between requests: even after the correction the stamp is stale.
    ticks = iter(range(0, 10**9, 100))
    c = make_client(sim, clock=lambda: time.time() - 10 - next(ticks))
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await c.get_account()
    finally:
        await c.aclose()
    assert info.value.code == "TIMESTAMP_EXPIRED" and c.stats.clock_syncs == 1


async def test_403_forbidden_for_an_account_the_key_does_not_own(sim: RunningSimulator) -> None:
    c = make_client(sim, account_id="A2")
    try:
        with pytest.raises(Forbidden) as info:
            await c.get_account()
        with pytest.raises(Forbidden):
            await c.place_order(market("f-1", OrderSide.BUY, 1))
    finally:
        await c.aclose()
    assert info.value.status == 403 and info.value.code == "FORBIDDEN"
    assert book(sim) == []


# --------------------------------------------------------------------------- retries and faults


async def test_429_is_retried_after_retry_after() -> None:
    config = replace(FROZEN, faults=FaultSettings(rate_limit=20, rate_burst=2))
    async with running_simulator(config) as s:
        c = make_client(s, retry_attempts=5)
        try:
            for _ in range(6):
                await c.get_quote("SA40")
            assert c.stats.retries >= 1
        finally:
            await c.aclose()
        once = make_client(s, retry_attempts=0)
        try:
            with pytest.raises(OrderNotPlaced) as info:
                for n in range(10):
                    await once.place_order(market(f"rl-{n}", OrderSide.BUY, 1))
        finally:
            await once.aclose()
        cause = info.value.__cause__
        assert isinstance(cause, RateLimited) and cause.status == 429
        assert cause.retry_after is not None and cause.retry_after > 0
        assert not info.value.ambiguous and "not placed" in str(info.value)
        # 429 means nothing was done: every order in the book was answered 201.
        assert len(s.state.orders) == n


async def test_5xx_is_retried_then_raised(sim: RunningSimulator, client: HerenyaClient) -> None:
    sim.state.faults = FaultSettings(error_rate=1.0)
    with pytest.raises(BrokerUnavailable) as info:
        await client.get_quote("SA40")
    assert info.value.status in (500, 502, 503) and info.value.retryable
    assert client.stats.requests == 3 and client.stats.retries == 2


async def test_5xx_on_every_try_of_an_order_is_outcome_unknown(sim: RunningSimulator, client: HerenyaClient) -> None:
    sim.state.faults = FaultSettings(error_rate=1.0)
    with pytest.raises(OrderOutcomeUnknown) as info:
        await client.place_order(market("u-1", OrderSide.BUY, 1))
    assert info.value.client_order_id == "u-1" and "u-1" in str(info.value) and info.value.retryable
    assert book(sim) == []


async def test_a_dropped_connection_reaches_the_client_as_a_connection_error(sim: RunningSimulator) -> None:
    sim.state.faults = FaultSettings(drop_rate=1.0)
    body = b'{"client_order_id":"drop-0","symbol":"SA40","side":"BUY","type":"MARKET","quantity":1}'
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await raw(sim, "POST", "/v1/accounts/A1/orders", body)
    assert [o["status"] for o in book(sim)] == ["FILLED"]  # placed all the same


async def test_after_a_dropped_answer_the_order_is_looked_up_not_resent(
    sim: RunningSimulator, client: HerenyaClient
) -> None:
    sim.state.faults = FaultSettings(drop_rate=1.0)
    o = await client.place_order(market("drop-1", OrderSide.BUY, 1))
    assert o.status is BrokerOrderStatus.FILLED and o.client_order_id == "drop-1"
    assert client.stats.lookups == 1 and client.stats.duplicates == 0
    assert len(book(sim)) == 1


async def test_late_visibility_resend_gets_the_original_by_409(sim: RunningSimulator, client: HerenyaClient) -> None:
    sim.state.faults = FaultSettings(drop_rate=1.0, invisible_rate=1.0, invisible_seconds=30)
    o = await client.place_order(market("inv-1", OrderSide.SELL, 2))
    assert o.status is BrokerOrderStatus.FILLED and o.quantity == 2
    assert client.stats.lookups == 1 and client.stats.duplicates == 1
    assert len(book(sim)) == 1


async def test_answers_delayed_past_the_timeout_never_place_twice(sim: RunningSimulator) -> None:
    sim.state.faults = FaultSettings(delay_rate=1.0, delay=1.0)
    c = make_client(sim, timeout=0.2)
    try:
        with pytest.raises(OrderOutcomeUnknown) as info:
            await c.place_order(market("slow-1", OrderSide.BUY, 1))
    finally:
        await c.aclose()
    assert info.value.tries == 1  # the look-up timed out too, so it stopped there
    assert isinstance(info.value.__cause__, BrokerUnavailable) and info.value.__cause__.code == "TIMEOUT"
    assert len(book(sim)) == 1  # the first try was placed; nothing after it
    sim.state.faults = FaultSettings()
    c2 = make_client(sim)
    try:
        found = await c2.find_order("slow-1")  # what the caller does with an unknown outcome
    finally:
        await c2.aclose()
    assert found is not None and found.status is BrokerOrderStatus.FILLED


async def test_connection_refused_means_not_placed() -> None:
    async with running_simulator(FROZEN) as s:
        base = s.base_url
    c = HerenyaClient(
        api_key="test-key",
        api_secret="test-secret",
        base_url=base,
        account_id="A1",
        retry_attempts=1,
        backoff_base=0.01,
    )
    try:
        with pytest.raises(OrderNotPlaced) as info:
            await c.place_order(market("cr-1", OrderSide.BUY, 1))
        assert isinstance(info.value.__cause__, BrokerUnavailable) and info.value.__cause__.code == "CONNECT_FAILED"
        assert not info.value.ambiguous
    finally:
        await c.aclose()


# --------------------------------------------------------------------------- the port's error types


@pytest.mark.parametrize(
    ("order", "code"),
    [
        ({"quantity": 13}, "QUANTITY_OUT_OF_RANGE"),
        ({"symbol": "NOPE"}, "UNKNOWN_SYMBOL"),
        ({"reduce_only": True}, "REDUCE_ONLY_REJECTED"),
    ],
)
async def test_a_refusal_is_the_ports_broker_refusal(
    client: HerenyaClient, sim: RunningSimulator, order: dict[str, Any], code: str
) -> None:
    request = market("ref-1", OrderSide.SELL, order.pop("quantity", 1), **order)
    with pytest.raises(ports.BrokerRefusal) as info:
        await client.place_order(request)
    assert isinstance(info.value, ports.BrokerFailure) and not isinstance(info.value, ports.BrokerUnavailable)
    assert info.value.code == code
    assert isinstance(info.value, ports.WouldNotReduce) is (code == "REDUCE_ONLY_REJECTED")
    assert book(sim) == []  # refused: nothing was done
    assert client.stats.retries == 0  # and not tried again


async def test_an_unavailability_is_the_ports_broker_unavailable(sim: RunningSimulator, client: HerenyaClient) -> None:
    sim.state.faults = FaultSettings(error_rate=1.0)
    with pytest.raises(ports.BrokerUnavailable) as quote:
        await client.get_quote("SA40")
    assert not isinstance(quote.value, ports.BrokerRefusal)
    with pytest.raises(ports.BrokerUnavailable) as order:
        await client.place_order(market("un-1", OrderSide.BUY, 1))
    assert isinstance(order.value, OrderOutcomeUnknown) and not isinstance(order.value, ports.BrokerRefusal)
    # Translated at the HTTP boundary: the cause is the failure the client saw, not lost.
    assert isinstance(order.value.__cause__, ports.BrokerUnavailable)


async def test_a_connect_failure_is_the_ports_broker_unavailable_from_httpx() -> None:
    async with running_simulator(FROZEN) as s:
        base = s.base_url
    c = HerenyaClient(api_key="test-key", api_secret="test-secret", base_url=base, account_id="A1", retry_attempts=0)
    try:
        with pytest.raises(ports.BrokerUnavailable) as info:
            await c.get_quote("SA40")
    finally:
        await c.aclose()
    assert info.value.code == "CONNECT_FAILED" and isinstance(info.value.__cause__, httpx.ConnectError)


async def test_an_unreadable_answer_is_the_ports_broker_unavailable() -> None:
    """An answer httpx cannot decode (a bad Content-Encoding) is translated too, not leaked as httpx's."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip at all")

    c = HerenyaClient(
        api_key="test-key",
        api_secret="test-secret",
        base_url="http://herenya.test",
        account_id="A1",
        retry_attempts=0,
        transport=httpx.MockTransport(handler),
    )
    try:
        with pytest.raises(ports.BrokerUnavailable) as info:
            await c.get_quote("SA40")
    finally:
        await c.aclose()
    assert info.value.code == "BAD_RESPONSE" and isinstance(info.value.__cause__, httpx.DecodingError)


async def test_a_market_order_answered_new_is_polled_until_filled() -> None:
    async with running_simulator(replace(FROZEN, market_fill_delay=0.3)) as s:
        c = make_client(s)
        try:
            o = await c.place_order(market("p-1", OrderSide.BUY, 3))
            assert o.status is BrokerOrderStatus.FILLED and o.filled_quantity == 3 and c.stats.polls >= 1
            short = make_client(s, settle_timeout=0.0)
            try:
                n = await short.place_order(market("p-2", OrderSide.BUY, 3))
            finally:
                await short.aclose()
            assert n.status is BrokerOrderStatus.NEW  # returned as it stood at the deadline
            seen = {n.status}
            for _ in range(40):
                now = await c.get_order(n.order_id)
                seen.add(now.status)
                if now.status is BrokerOrderStatus.FILLED:
                    break
                await asyncio.sleep(0.02)
            assert BrokerOrderStatus.FILLED in seen
        finally:
            await c.aclose()


# --------------------------------------------------------------------------- secrets


async def test_secrets_never_reach_logs_errors_or_reprs(
    sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = "live-key-abcdef123456"
    secret = "super-secret-value-xyz"
    sim.state.by_key[key] = replace(sim.state.accounts["A1"], api_key=key, api_secret=secret)
    sim.state.faults = FaultSettings(error_rate=0.5, drop_rate=0.3)
    signatures: list[str] = []

    class Spy(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if "X-Herenya-Signature" in request.headers:  # /v1/time is not signed
                signatures.append(request.headers["X-Herenya-Signature"])
            return await super().handle_async_request(request)

    c = make_client(
        sim, api_key=key, api_secret=secret, clock=lambda: time.time() - 10, retry_attempts=6, transport=Spy()
    )
    errors: list[str] = []
    try:
        for n in range(5):
            try:
                await c.place_order(market(f"sec-{n}", OrderSide.BUY, 1))
            except Exception as e:
                errors.append(repr(e) + str(e))
        wrong = make_client(sim, api_key=key, api_secret="not-" + secret)
        try:
            with pytest.raises(AuthenticationFailed) as info:
                await wrong.get_account()
            errors.append(str(info.value))
        finally:
            await wrong.aclose()
    finally:
        await c.aclose()
    assert signatures and c.stats.retries > 0 and c.stats.clock_syncs == 1, errors
    text = caplog.text + "\n".join(errors) + repr(c) + str(c.__dict__)
    assert secret not in text
    assert key not in text and key[-4:] in repr(c)
    for sig in signatures:
        assert sig not in text
    assert not re.search(r"\b[0-9a-f]{64}\b", caplog.text)


async def test_from_settings_names_what_is_missing_and_accepts_secretstr(sim: RunningSimulator) -> None:
    with pytest.raises(BrokerConfigError) as info:
        HerenyaClient.from_settings(api_key=None, api_secret=None, base_url=sim.base_url, account_id="")
    assert "HERENYA_API_KEY" in str(info.value) and "HERENYA_API_SECRET" in str(info.value)
    assert "HERENYA_ACCOUNT_ID" in str(info.value) and "HERENYA_BASE_URL" not in str(info.value)
    with pytest.raises(BrokerConfigError, match="http"):
        HerenyaClient.from_settings(api_key="k", api_secret="s", base_url="ftp://x", account_id="A1")
    c = HerenyaClient.from_settings(
        api_key=SecretStr("test-key"),
        api_secret=SecretStr("test-secret"),
        base_url=sim.base_url + "/",
        account_id="A1",
        timeout=5,
        retry_attempts=1,
    )
    try:
        assert (await c.get_account()).account_id == "A1"
        assert c.retry_attempts == 1 and c.timeout == 5
    finally:
        await c.aclose()


def test_encoded_order_is_the_contract_body() -> None:
    from brokers.herenya.wire import encode_order

    body = json.loads(encode_order(market("sd-17-1", OrderSide.BUY, 2)))
    assert body == {
        "client_order_id": "sd-17-1",
        "symbol": "SA40",
        "side": "BUY",
        "type": "MARKET",
        "quantity": 2,
        "limit_price": None,
        "reduce_only": False,
    }
    limit = json.loads(
        encode_order(
            market("x", OrderSide.SELL, 1, type=OrderType.LIMIT, limit_price=Decimal("53210.50"), time_in_force="gtc")
        )
    )
    assert (limit["side"], limit["type"], limit["limit_price"], limit["time_in_force"]) == (
        "SELL",
        "LIMIT",
        "53210.50",
        "GTC",
    )
