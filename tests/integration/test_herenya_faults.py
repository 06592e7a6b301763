"""The fault-injection run: 1,000 orders through 30 % injected faults, each placed exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal

import pytest

from brokers.errors import OrderNotPlaced, OrderOutcomeUnknown
from brokers.herenya.client import HerenyaClient
from brokers.herenya.sim_config import FaultSettings, SimAccount, SimConfig
from brokers.herenya.sim_server import running_simulator
from trading.domain.market import BrokerOrder, OrderRequest
from trading.domain.values import OrderSide

ORDERS = 1000
CONCURRENCY = 25
# 30 % of requests go wrong: 12 % answered 500/502/503, 8 % answered after the client gave
# up, 10 % (of order placements) dropped after the order was placed; on top of that 30 % of
# orders stay invisible to client-id look-ups for half a second.
FAULTS = FaultSettings(
    error_rate=0.12,
    delay_rate=0.08,
    delay=0.45,
    drop_rate=0.10,
    invisible_rate=0.30,
    invisible_seconds=0.5,
)
CLIENT_TIMEOUT = 0.3


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_every_order_is_placed_exactly_once_through_injected_faults() -> None:
    config = SimConfig(
        accounts=(SimAccount("A1", "test-key", "test-secret", balance=Decimal("10000000")),),
        faults=FAULTS,
        seed=20240601,
        quote_step_seconds=0.05,
    )
    async with running_simulator(config) as sim:
        client = HerenyaClient(
            api_key="test-key",
            api_secret="test-secret",
            base_url=sim.base_url,
            account_id="A1",
            timeout=CLIENT_TIMEOUT,
            retry_attempts=5,
            backoff_base=0.02,
            backoff_max=0.2,
            max_connections=CONCURRENCY,
        )
        gate = asyncio.Semaphore(CONCURRENCY)
        results: dict[str, BrokerOrder] = {}
        outcome_unknown = Counter[str]()

        async def place(n: int) -> None:
            request = OrderRequest(
                client_order_id=f"sd-{n}-1",
                symbol="SA40",
                side=OrderSide.BUY if n % 2 else OrderSide.SELL,
                quantity=1 + n % 3,
            )
            async with gate:
                # What the execution layer does with an unknown outcome: keep the order and
                # ask again with the same client id (never a new one).
                for _ in range(10):
                    try:
                        results[request.client_order_id] = await client.place_order(request)
                        return
                    except (OrderOutcomeUnknown, OrderNotPlaced) as e:
                        outcome_unknown[type(e).__name__] += 1
                        await asyncio.sleep(0.1)
                raise AssertionError(f"{request.client_order_id} never settled")

        started = time.perf_counter()
        try:
            await asyncio.gather(*(place(n) for n in range(ORDERS)))
        finally:
            await client.aclose()
        elapsed = time.perf_counter() - started

        book = sim.state.book()["orders"]
        per_client_id = Counter(o["client_order_id"] for o in book)
        expected = {f"sd-{n}-1" for n in range(ORDERS)}
        assert set(per_client_id) == expected, "an order is missing or unexpected"
        assert max(per_client_id.values()) == 1, "an order was placed twice"
        assert len(book) == ORDERS
        by_cid = {o["client_order_id"]: o for o in book}
        for cid, order in results.items():
            assert order.order_id == by_cid[cid]["order_id"]
            assert order.quantity == by_cid[cid]["quantity"] and order.side.value.upper() == by_cid[cid]["side"]
        assert all(o["status"] == "FILLED" for o in book)

        s = client.stats
        print(
            f"\nfault-injection run: {ORDERS} orders, {CONCURRENCY} at a time, {elapsed:.1f} s;"
            f" {s.requests} requests, {s.retries} retries, {s.lookups} look-ups,"
            f" {s.duplicates} answered 409 with the original, {s.polls} polls,"
            f" outcome-unknown raised {sum(outcome_unknown.values())} times {dict(outcome_unknown)};"
            f" book: {len(book)} orders, one per client id;"
            f" faults injected: {dict(sim.state.injected)}"
        )
        # The faults really happened: the run must have needed both retries and look-ups.
        assert s.retries > 0.2 * ORDERS and s.lookups > 0.1 * ORDERS and s.duplicates > 0
        assert all(sim.state.injected[kind] > 0 for kind in ("error", "delay", "drop", "invisible"))
