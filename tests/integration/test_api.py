"""The JSON API with the real Desk over a real SQLite database, through Quart's test client."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import quart.typing
from quart import Quart

from db.database import Database
from tests.integration.web_support import KEY, add_bot, make_deps, make_services
from trading.services.actions import Actor
from trading.services.bootstrap import Services
from web.app import create_app

TOKEN = "api-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def alert(action: str = "RSI_LONG_ENTRY", **fields: Any) -> bytes:
    return json.dumps({"action": action, "price": 53210.5, "time": now_iso()} | fields).encode()


class Setup:
    def __init__(self, db: Database, app: Quart, services: Services) -> None:
        self.db = db
        self.app = app
        self.use_cases = services.use_cases
        self.steps = services.use_cases.steps
        self.client: quart.typing.TestClientProtocol = app.test_client()

    async def signal(self, action: str = "RSI_LONG_ENTRY", **fields: Any) -> int:
        response = await self.client.post(f"/webhook/{KEY}", data=alert(action, **fields))
        answer = await response.get_json()
        assert response.status_code == 200, answer
        signal_id: int = answer["signal_id"]
        return signal_id

    async def get(self, path: str) -> tuple[int, Any]:
        response = await self.client.get(path, headers=AUTH)
        return response.status_code, await response.get_json()

    async def post(self, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response = await self.client.post(path, headers=AUTH, data=data)
        return response.status_code, await response.get_json()


@pytest.fixture
async def setup(sqlite_database: Database) -> Setup:
    services = make_services(sqlite_database)
    return Setup(sqlite_database, create_app(make_deps(sqlite_database, services, api_token=TOKEN)), services)


ROUTES = [
    ("GET", "/api/bots"),
    ("GET", "/api/positions"),
    ("GET", "/api/trades"),
    ("GET", "/api/signals"),
    ("GET", "/api/signals/1"),
    ("POST", "/api/signals/1/approve"),
    ("POST", "/api/signals/1/reject"),
    ("POST", "/api/halt"),
    ("POST", "/api/resume"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_without_a_break_glass_token_that_token_opens_nothing(
    sqlite_database: Database, method: str, path: str
) -> None:
    # People's own tokens and sessions still work (tests/integration/test_web_auth.py).
    client = create_app(make_deps(sqlite_database, api_token=None)).test_client()
    response = await client.open(path, method=method, headers=AUTH)
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
async def test_a_missing_or_wrong_token_is_401(setup: Setup, method: str, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await setup.client.open(path, method=method, headers=headers)
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_bots_are_listed_without_secrets(setup: Setup) -> None:
    await add_bot(setup.db, passphrase="pass-phrase-123", signing_secret="signing-secret-456")
    response = await setup.client.get("/api/bots", headers=AUTH)
    text = (await response.get_data()).decode()
    [bot] = json.loads(text)["bots"]
    assert bot["bot_name"] == "SA40_RSI_Bot"
    assert bot["webhook_key_hint"] == "****9a3c"
    assert (bot["requires_passphrase"], bot["requires_signature"]) == (True, True)
    assert bot["max_slippage_pct"] == "0.5"
    for secret in (KEY, "pass-phrase-123", "signing-secret-456"):
        assert secret not in text


async def test_approve_flow_with_edits_and_first_decision_wins(setup: Setup) -> None:
    await add_bot(setup.db, mode="approve")
    signal_id = await setup.signal()
    await setup.steps.advance(signal_id)

    status, listed = await setup.get("/api/signals?state=pending_approval&bot=SA40_RSI_Bot")
    assert status == 200
    assert [s["id"] for s in listed["signals"]] == [signal_id]
    assert listed["signals"][0]["price"] == "53210.5"

    status, detail = await setup.get(f"/api/signals/{signal_id}")
    assert status == 200
    assert (detail["id"], detail["bot_name"], detail["action"], detail["state"]) == (
        signal_id,
        "SA40_RSI_Bot",
        "enter_long",
        "pending_approval",
    )
    assert [h["state"] for h in detail["history"]] == ["received", "pending_approval"]
    assert detail["history"][0]["cause"] == "webhook"
    assert detail["created_at"].endswith("Z")
    assert detail["orders"] == []
    assert detail["approval"]["decision"] is None

    status, approved = await setup.post(f"/api/signals/{signal_id}/approve", {"quantity": 2, "stop_loss": 52000})
    assert status == 200, approved
    assert approved["ok"] is True
    assert approved["code"] == "ok"

    status, again = await setup.post(f"/api/signals/{signal_id}/reject")
    assert status == 409
    assert again["ok"] is False
    assert again["code"] == "already_decided"

    status, detail = await setup.get(f"/api/signals/{signal_id}")
    assert detail["approval"]["decision"] == "approved"
    assert detail["approval"]["decided_by"]
    assert detail["approval"]["edits"]["quantity"] == 2


async def test_reject(setup: Setup) -> None:
    await add_bot(setup.db, mode="approve")
    signal_id = await setup.signal()
    await setup.steps.advance(signal_id)

    status, rejected = await setup.post(f"/api/signals/{signal_id}/reject", {})
    assert (status, rejected["ok"]) == (200, True)
    status, detail = await setup.get(f"/api/signals/{signal_id}")
    assert detail["state"] == "rejected"


async def test_reject_with_a_reason_keeps_it_on_the_signal(setup: Setup) -> None:
    await add_bot(setup.db, mode="approve")
    signal_id = await setup.signal()
    await setup.steps.advance(signal_id)

    status, rejected = await setup.post(f"/api/signals/{signal_id}/reject", {"reason": "news in 5 min\u0007"})
    assert (status, rejected["ok"]) == (200, True) and rejected["message"].endswith(": news in 5 min")
    status, detail = await setup.get(f"/api/signals/{signal_id}")
    assert (detail["state"], detail["reason"]) == ("rejected", "news in 5 min")
    assert detail["history"][-1]["reason"] == "news in 5 min"


@pytest.mark.parametrize(
    ("body", "words"),
    [({"reason": "x" * 501}, "at most 500 characters"), ({"reason": 7}, "at most 500 characters")],
)
async def test_a_reject_reason_that_is_not_short_text_is_422(setup: Setup, body: dict[str, Any], words: str) -> None:
    status, answer = await setup.post("/api/signals/1/reject", body)
    assert status == 422 and words in answer["error"]["message"], answer


@pytest.mark.parametrize(
    ("body", "words"),
    [
        # The rules themselves, through every face: tests/unit/test_input_rules.py.
        ({"quantity": 0}, '"quantity" must be a number above 0 and at most 1,000,000 with at most 8 decimals'),
        ({"limit_price": 53000}, '"limit_price" goes only with "order_type" \'limit\''),
        ({"qty": 2}, "unknown field(s) qty"),
    ],
)
async def test_bad_edits_are_422_naming_the_field(setup: Setup, body: dict[str, Any], words: str) -> None:
    status, answer = await setup.post("/api/signals/1/approve", body)
    assert status == 422
    assert answer["error"]["code"] == "invalid_edits"
    assert words in answer["error"]["message"]


async def test_a_body_that_is_not_json_is_400(setup: Setup) -> None:
    status, answer = await setup.post("/api/signals/1/approve", raw=b"quantity=2")
    assert (status, answer["error"]["code"]) == (400, "not_json")


async def test_reject_takes_no_edits(setup: Setup) -> None:
    status, answer = await setup.post("/api/signals/1/reject", {"quantity": 2})
    assert status == 422
    assert 'reject takes only "reason" (got quantity)' in answer["error"]["message"]


async def test_unknown_signal_is_404(setup: Setup) -> None:
    for path in ("/api/signals/424242", "/api/signals/99999999999999999999", "/api/signals/abc"):
        status, answer = await setup.get(path)
        assert status == 404, path
        assert answer["error"]["code"] == "not_found"
    status, answer = await setup.post("/api/signals/424242/approve")
    assert (status, answer["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("query", "words"),
    [("state=bogus", "state must be one of received"), ("limit=0", "limit must be"), ("limit=x", "limit must be")],
)
async def test_bad_queries_are_422(setup: Setup, query: str, words: str) -> None:
    status, answer = await setup.get(f"/api/signals?{query}")
    assert (status, answer["error"]["code"]) == (422, "invalid_query")
    assert words in answer["error"]["message"]


async def test_positions_and_trades_after_an_auto_round_trip(setup: Setup) -> None:
    await add_bot(setup.db, mode="auto")
    opened = await setup.signal("RSI_LONG_ENTRY")
    await setup.steps.advance(opened)

    status, answer = await setup.get("/api/positions")
    assert status == 200
    [position] = answer["positions"]
    assert (position["bot_name"], position["symbol"], position["side"], position["quantity"]) == (
        "SA40_RSI_Bot",
        "SA40",
        "long",
        1,
    )
    assert Decimal(position["average_price"]) > 0
    assert len(position["entries"]) == 1
    assert set(position) >= {"stop_loss", "take_profit", "unrealized_pnl"}

    closed = await setup.signal("RSI_CLOSE_LONG", price=53480.0)
    await setup.steps.advance(closed)
    status, answer = await setup.get("/api/trades?bot=SA40_RSI_Bot&limit=5")
    assert status == 200
    [trade] = answer["trades"]
    assert (trade["side"], trade["quantity"], trade["position_closed"]) == ("long", 1, True)
    assert isinstance(trade["realized_pnl"], str)
    assert trade["closed_at"].endswith("Z")

    status, detail = await setup.get(f"/api/signals/{closed}")
    assert detail["state"] == "executed"
    assert [o["client_order_id"] for o in detail["orders"]] == [f"sd-{closed}-1"]
    # The close asked for no quantity (the whole position); what it did is said once it did it.
    assert (detail["quantity"], detail["filled_quantity"]) == (None, 1)


async def test_halt_and_resume(setup: Setup) -> None:
    status, halted = await setup.post("/api/halt", {"reason": "fat finger"})
    assert (status, halted["ok"]) == (200, True)
    assert (await setup.use_cases.queries.control()).halted is True
    assert (await setup.use_cases.queries.control()).reason == "fat finger"

    status, answer = await setup.post("/api/halt", {"reason": ["x"]})
    assert status == 422
    assert '"reason" must be text' in answer["error"]["message"]

    status, resumed = await setup.post("/api/resume")
    assert (status, resumed["ok"]) == (200, True)
    assert (await setup.use_cases.queries.control()).halted is False


async def test_above_the_second_approval_size_the_api_token_counts_as_one_person(setup: Setup) -> None:
    await add_bot(setup.db, mode="approve", second_approval_above=1)
    signal_id = await setup.signal(quantity=2)
    await setup.steps.advance(signal_id)

    status, first = await setup.post(f"/api/signals/{signal_id}/approve")
    assert status == 200, first
    assert first["message"] == (
        f"signal #{signal_id} approved 1 of 2 by the admin token; it needs a second approver "
        "(2 contracts is above second_approval_above (1))"
    )
    status, detail = await setup.get(f"/api/signals/{signal_id}")
    assert detail["state"] == "pending_approval"
    assert (detail["approval"]["decision"], detail["approval"]["first_approved_by"]) == (None, "api:break-glass")
    assert detail["approval"]["first_approved_at"].endswith("Z")

    status, again = await setup.post(f"/api/signals/{signal_id}/approve")
    assert (status, again["ok"], again["code"]) == (409, False, "same_approver")
    assert "it needs a second approval from a different person" in again["message"]

    # A second person (a Discord member) makes it two; the stored first approval is read back.
    second = await setup.use_cases.decisions.approve(signal_id, Actor("discord:42", "bob", can_approve=True))
    assert second.ok, second.message
    status, detail = await setup.get(f"/api/signals/{signal_id}")
    assert (detail["approval"]["decision"], detail["approval"]["decided_by"]) == ("approved", "discord:42")
    assert detail["approval"]["first_approved_by"] == "api:break-glass"

    status, bots = await setup.get("/api/bots")
    assert bots["bots"][0]["second_approval_above"] == 1 and bots["bots"][0]["risk_per_trade_pct"] is None


async def test_reconcile_refuses_bad_bodies_and_unknown_bots_and_says_when_nothing_is_wrong(setup: Setup) -> None:
    await add_bot(setup.db)
    status, answer = await setup.post("/api/bots/SA40_RSI_Bot/reconcile")
    assert (status, answer["error"]["code"]) == (422, "invalid_body")
    assert '"action": Field required' in answer["error"]["message"]
    status, answer = await setup.post("/api/bots/SA40_RSI_Bot/reconcile", {"action": "merge"})
    assert status == 422 and "\"action\" is 'merge'; it must be" in answer["error"]["message"]
    status, answer = await setup.post("/api/bots/SA40_RSI_Bot/reconcile", {"action": "adopt", "x": 1})
    assert status == 422 and 'reconcile takes "action"' in answer["error"]["message"]

    status, answer = await setup.post("/api/bots/Nobody/reconcile", {"action": "adopt"})
    assert (status, answer["code"]) == (404, "not_found")
    status, answer = await setup.post("/api/bots/no%20such/reconcile", {"action": "adopt"})
    assert (status, answer["error"]["code"]) == (404, "not_found")

    status, answer = await setup.post("/api/bots/SA40_RSI_Bot/reconcile", {"action": "flatten"})
    assert (status, answer["ok"], answer["code"]) == (409, False, "no_mismatch")
    assert "nothing to repair on SA40" in answer["message"]
