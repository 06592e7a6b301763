"""POST /api/orders (a free-form order) and POST /api/orders/<client_order_id>/cancel, with
the real Desk over a real database and the in-memory broker, through Quart's test client."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import quart.typing

from db.database import Database
from tests.integration.web_support import SystemClock, add_bot, make_deps, make_services
from tests.support.fake_broker import FakeBroker
from trading.domain.manual import OrderTicket
from trading.domain.signals import SignalState
from trading.services.actions import ActionResult, Actor
from trading.services.bootstrap import Services, bootstrap
from trading.services.orders import Orders
from web.app import create_app

TOKEN = "api-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VIEWER = Actor("api:viewer", "viewer", can_approve=False)


class ViewerOrders:
    """A person's own orders as a viewer's own API token reaches them (the web desk's
    per-person tokens): the route hands the actor through unchanged, so the use case's
    refusal is the answer."""

    def __init__(self, orders: Orders) -> None:
        self.orders = orders

    async def place_order(self, ticket: OrderTicket, actor: Actor) -> ActionResult:
        return await self.orders.place_order(ticket, VIEWER)

    async def cancel_order(self, client_order_id: str, actor: Actor) -> ActionResult:
        return await self.orders.cancel_order(client_order_id, VIEWER)


class Api:
    def __init__(self, db: Database, broker: FakeBroker, services: Services, use_cases: Any = None) -> None:
        """`use_cases`: what the web calls, when not the services' own."""
        self.db = db
        self.broker = broker
        self.use_cases = services.use_cases
        self.steps = services.use_cases.steps
        self.client: quart.typing.TestClientProtocol = create_app(
            make_deps(db, api_token=TOKEN, use_cases=use_cases or services.use_cases)
        ).test_client()

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else b""
        response = await self.client.post(path, headers=AUTH, data=data)
        return response.status_code, await response.get_json()

    async def run(self, signal_id: int) -> SignalState:
        for _ in range(5):
            if (await self.steps.advance(signal_id)).finished:
                break
        async with self.db.uow(read_only=True) as uow:
            stored = await uow.signals.get(signal_id)
        assert stored is not None
        return stored.state


@pytest.fixture
async def api(database: Database) -> Api:
    await add_bot(database, max_positions=3, allow_pyramiding=True, stop_loss_pct="1.0")
    broker = FakeBroker(rest_limits=True)
    return Api(database, broker, make_services(database, broker))


async def test_a_free_form_order_is_queued_as_a_manual_signal_and_executes(api: Api) -> None:
    status, answer = await api.post("/api/orders", {"bot": "SA40_RSI_Bot", "side": "buy", "quantity": 2})
    assert status == 200, answer
    assert answer["ok"] and answer["code"] == "ok"
    signal = answer["signal"]
    assert (signal["source"], signal["state"], signal["action"], signal["quantity"]) == (
        "manual",
        "queued",
        "enter_long",
        2,
    )
    assert answer["message"] == f"order queued as signal #{signal['id']}: open buy 2 market"
    assert await api.run(signal["id"]) is SignalState.EXECUTED
    view = await api.use_cases.queries.positions("SA40_RSI_Bot")
    assert (view[0].quantity, view[0].stop_loss) == (2, Decimal("52679.0"))  # 1% under 53211.0, toward it on the tick
    async with api.db.uow(read_only=True) as uow:
        [entry] = await uow.audit.list()
    assert (entry.actor, entry.action, entry.allowed) == ("api:break-glass", "order", True)


async def test_a_free_form_order_refused(api: Api) -> None:
    # levels on the wrong side: the desk's rule, 422 naming the field
    status, answer = await api.post(
        "/api/orders", {"bot": "SA40_RSI_Bot", "side": "sell", "quantity": 1, "stop_loss": 53000}
    )
    assert status == 422 and answer["code"] == "invalid"
    assert answer["message"] == "stop_loss is 53000; a short stop must be above the price 53210.0"
    # the body's shape: 422 naming the field
    status, answer = await api.post(
        "/api/orders", {"bot": "SA40_RSI_Bot", "side": "buy", "quantity": 1, "type": "limit"}
    )
    assert status == 422 and answer["error"]["code"] == "invalid_order"
    assert '"limit_price"' in answer["error"]["message"]
    status, answer = await api.post("/api/orders", {"bot": "SA40_RSI_Bot", "side": "hold", "quantity": 1})
    assert status == 422 and answer["error"]["message"] == "\"side\" must be 'buy' or 'sell', not 'hold'"
    # no such bot
    status, answer = await api.post("/api/orders", {"bot": "Nope", "side": "buy", "quantity": 1})
    assert (status, answer["code"]) == (404, "not_found")
    # halted: the same risk check as an alert's
    assert (await api.post("/api/halt", {"reason": "news"}))[0] == 200
    status, answer = await api.post("/api/orders", {"bot": "SA40_RSI_Bot", "side": "buy", "quantity": 1})
    assert (status, answer["code"]) == (409, "halted")
    assert answer["message"] == "refused: trading is halted: no new entries until /resume-all"
    async with api.db.uow(read_only=True) as uow:
        assert await uow.signals.list() == []
        audit = [(a.action, a.allowed) for a in reversed(await uow.audit.list())]
    assert audit == [("order", False), ("order", False), ("halt", True), ("order", False)]


async def test_orders_by_a_viewer_are_forbidden_and_audited(sqlite_database: Database) -> None:
    await add_bot(sqlite_database)
    broker = FakeBroker(rest_limits=True)
    clock = SystemClock()
    services = bootstrap(sqlite_database.uow, lambda _name: broker, clock, lambda _events: None)
    viewer = replace(services.use_cases, orders=ViewerOrders(services.use_cases.orders))
    api = Api(sqlite_database, broker, services, viewer)
    status, answer = await api.post("/api/orders", {"bot": "SA40_RSI_Bot", "side": "buy", "quantity": 1})
    assert (status, answer["code"]) == (403, "forbidden")
    assert answer["message"] == "viewer may not place orders: approvers only"
    status, answer = await api.post("/api/orders/sd-1-1/cancel")
    assert (status, answer["code"]) == (403, "forbidden")
    async with sqlite_database.uow(read_only=True) as uow:
        audit = [(a.actor, a.action, a.allowed) for a in reversed(await uow.audit.list())]
    assert audit == [("api:viewer", "order", False), ("api:viewer", "cancel", False)]


async def resting(api: Api, quantity: int = 3) -> tuple[int, str]:
    body = {"bot": "SA40_RSI_Bot", "side": "buy", "quantity": quantity, "type": "limit", "limit_price": 53000}
    status, answer = await api.post("/api/orders", body)
    assert status == 200, answer
    sid = answer["signal"]["id"]
    assert not (await api.steps.advance(sid)).finished  # resting at the broker
    return sid, f"sd-{sid}-1"


async def test_cancel_a_resting_order_through_the_api(api: Api) -> None:
    sid, cid = await resting(api)
    status, answer = await api.post(f"/api/orders/{cid}/cancel", {})
    assert status == 200, answer
    assert answer["message"] == f"order {cid} cancelled: 0 of 3 filled; signal #{sid} canceled"
    assert answer["signal"]["state"] == "canceled"
    assert answer["signal"]["history"][-1]["cause"] == "api:break-glass"
    status, answer = await api.post(f"/api/orders/{cid}/cancel")
    assert (status, answer["code"]) == (409, "not_pending")
    status, answer = await api.post("/api/orders/sd-999-1/cancel")
    assert (status, answer["code"]) == (404, "not_found")
    status, answer = await api.post("/api/orders/no%20such/cancel")
    assert (status, answer["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(("raced", "status", "state"), [(3, 409, "executed"), (1, 200, "canceled")])
async def test_a_cancel_that_races_a_fill_ends_with_the_brokers_truth(
    api: Api, raced: int, status: int, state: str
) -> None:
    _sid, cid = await resting(api)
    api.broker.faults.fill_before_cancel = raced
    got, answer = await api.post(f"/api/orders/{cid}/cancel")
    assert got == status, answer
    assert answer["signal"]["state"] == state
    [view] = await api.use_cases.queries.positions("SA40_RSI_Bot")
    assert view.quantity == raced == api.broker.net["SA40"]
    assert view.stop_loss == Decimal("52470.0")  # 1% under 53000, on the tick, for what filled
