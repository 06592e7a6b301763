"""Schemathesis against the real server on loopback: generated requests for every route in
/openapi.json get no 5xx, and every answer matches the document (status, content type, schema)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from bot.broker_registry import BrokerRegistry
from bot.settings import Settings
from db.database import Database
from tests.integration.web_support import KEY, add_bot, make_deps, make_services, running
from trading.services.steps import SignalSteps
from web.app import create_app

TOKEN = "schemathesis-token-0123456789"


class Server:
    """The app with a real SQLite database, served from its own event loop in a thread, so
    schemathesis's synchronous client can call it while the test runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url: Future[str] = Future()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="openapi-server", daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return self.url.result(timeout=30)

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        db = Database(f"sqlite+aiosqlite:///{self.folder / 'signaldesk.db'}")
        try:
            await db.upgrade()
            # The settings' two accounts: Paper reached, Herenya not configured (null fields).
            brokers = BrokerRegistry(Settings(_env_file=None, database_url=db.url), db)  # type: ignore[call-arg]
            await brokers.load()
            services = make_services(db)
            app = create_app(make_deps(db, services, api_token=TOKEN, accounts=brokers.statuses))
            async with running(app) as url:
                await self._seed(db, services.use_cases.steps, url)
                self.url.set_result(url)
                await self._stop.wait()
        except BaseException as e:
            if not self.url.done():
                self.url.set_exception(e)
            raise
        finally:
            await db.dispose()

    @staticmethod
    async def _seed(db: Database, steps: SignalSteps, url: str) -> None:
        """Data for the answers to be checked against: a pending signal, an executed one, a trade."""
        await add_bot(db, mode="approve")
        await add_bot(db, bot_name="Auto_Bot", webhook_key="auto_key_12345", mode="auto")

        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for key, action in [
                (KEY, "RSI_LONG_ENTRY"),
                ("auto_key_12345", "RSI_LONG_ENTRY"),
                ("auto_key_12345", "RSI_CLOSE_LONG"),
            ]:
                now = datetime.now(UTC).isoformat()
                body = json.dumps({"action": action, "price": 53210.5, "time": now})
                answer = (await client.post(f"/webhook/{key}", content=body)).json()
                await steps.advance(answer["signal_id"])
            # Left open, so /api/positions has a position to describe.
            body = json.dumps({"action": "RSI_LONG_ENTRY", "price": 53100})
            answer = (await client.post("/webhook/auto_key_12345", content=body)).json()
            await steps.advance(answer["signal_id"])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with Server(tmp_path_factory.mktemp("openapi")) as url:
        yield url


def generated_document() -> dict[str, Any]:
    """The document the app generates from its models, read through the app itself, so the
    operations are known when pytest collects (schemathesis's lazy from_fixture does not work
    with this pytest); a test below checks the served one is the same."""

    async def read() -> dict[str, Any]:
        db = Database("sqlite+aiosqlite:///:memory:")
        try:
            client = create_app(make_deps(db)).test_client()
            document: dict[str, Any] = await (await client.get("/openapi.json")).get_json()
            return document
        finally:
            await db.dispose()

    return asyncio.run(read())


DOCUMENT = generated_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_answers_match_the_document(case: Any, server_url: str) -> None:
    # A schema cannot say everything that makes an alert usable (its age, a stop on the right
    # side of the price, a strategy's positions agreeing), so a schema-valid alert may still
    # be refused 422; every other check, and every check on the other routes, stays on.
    # Every call carries the bearer token, so a negative case whose only fault is a missing
    # Authorization header is a valid request once sent: schemathesis would call accepting it a
    # failure. Refusals of bad queries and bodies are asserted route by route in test_api*.py.
    excluded = [negative_data_rejection]
    additional = []
    if case.operation.path == "/webhook/{key}":
        excluded.append(positive_data_acceptance)
    if case.operation.path == "/api/signals/{signal_id}/approve":
        # Nor can it know a bot's instrument (at most 12 contracts on SA40): edits the document
        # allows may be refused by the desk, but never by the API's own reading of the body.
        excluded.append(positive_data_acceptance)
        additional.append(refused_by_the_desk_not_the_model)
    case.call_and_validate(
        base_url=server_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        excluded_checks=excluded,
        additional_checks=additional,
    )


def refused_by_the_desk_not_the_model(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    answer = response.json()
    assert answer.get("code") == "invalid", f"schema-valid edits refused by the API itself: {answer}"
    return None


def test_the_served_document_is_the_one_tested(server_url: str) -> None:
    assert httpx.get(f"{server_url}/openapi.json", timeout=10).json() == DOCUMENT


def test_the_document_names_every_route(server_url: str) -> None:
    document = httpx.get(f"{server_url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/webhook/{key}",
        "/health",
        "/api/bots",
        "/api/accounts",
        "/api/positions",
        "/api/trades",
        "/api/signals",
        "/api/events",
        "/api/signals/{signal_id}",
        "/api/signals/{signal_id}/approve",
        "/api/signals/{signal_id}/reject",
        "/api/orders",
        "/api/orders/{client_order_id}/cancel",
        "/api/halt",
        "/api/resume",
        "/api/bots/{name}/reconcile",
        "/api/edge",
    }


# Digits that str.isdigit() (and for some, int()) take but a whole number in a query string
# is not: "²" once reached int() and answered 500.
UNICODE_DIGITS = ["²", "②", "٣", "１", "7²", "𝟗"]
INTEGER_QUERY_PARAMETERS = [
    (path, method, parameter["name"])
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "query" and parameter["schema"].get("type") == "integer"
]


def test_the_document_has_integer_query_parameters_to_try() -> None:
    assert {(p, n) for p, _, n in INTEGER_QUERY_PARAMETERS} >= {
        ("/api/signals", "limit"),
        ("/api/trades", "limit"),
        ("/api/events", "after"),
        ("/api/events", "limit"),
    }


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
@pytest.mark.parametrize(("path", "method", "name"), INTEGER_QUERY_PARAMETERS)
def test_unicode_digits_in_integer_query_parameters_are_422(
    server_url: str, path: str, method: str, name: str, digits: str
) -> None:
    case = schema[path][method.upper()].Case(query={name: digits})
    # Every check stays on here, negative_data_rejection included: this is data the document refuses.
    response = case.call_and_validate(base_url=server_url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_query"
    assert error["message"].startswith(f"{name} must be")


def test_the_api_routes_need_the_bearer_token_and_the_others_do_not() -> None:
    assert DOCUMENT["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, operations in DOCUMENT["paths"].items():
        for operation in operations.values():
            expected = [{"bearer": []}] if path.startswith("/api/") else None
            assert operation.get("security") == expected, path
            if expected:
                assert {"401", "503"} <= set(operation["responses"]), path
