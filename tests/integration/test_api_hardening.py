"""What an adversarial probe of the API found (issue 15: items 5, 8 and 11 for /api):
Unicode digits in integer query parameters, duplicate JSON keys in bodies, the headers of
every /api answer, and a request framed by both Content-Length and Transfer-Encoding."""

from __future__ import annotations

import asyncio
import json

import pytest
import quart.typing

from db.database import Database
from tests.integration.web_support import KEY, add_bot, make_deps, make_services, running
from trading.services.bootstrap import Services
from web.app import create_app

TOKEN = "hardening-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def desk_and_client(sqlite_database: Database) -> tuple[Services, quart.typing.TestClientProtocol]:
    services = make_services(sqlite_database)
    return services, create_app(make_deps(sqlite_database, services, api_token=TOKEN)).test_client()


@pytest.fixture
def client(desk_and_client: tuple[Services, quart.typing.TestClientProtocol]) -> quart.typing.TestClientProtocol:
    return desk_and_client[1]


# ---- item 5: Unicode digits ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/api/signals", "limit", "²"),
        ("/api/trades", "limit", "²"),
        ("/api/events", "after", "②"),
        ("/api/events", "limit", "٣"),  # int() takes Arabic-Indic digits; the API does not
        ("/api/signals", "limit", "１"),  # nor fullwidth ones
        ("/api/trades", "limit", "1_0"),  # nor Python's digit separators
        ("/api/events", "after", " 3"),
    ],
)
async def test_unicode_digits_in_a_query_are_422_naming_the_parameter(
    client: quart.typing.TestClientProtocol, path: str, name: str, value: str
) -> None:
    response = await client.get(path, headers=AUTH, query_string={name: value})
    assert response.status_code == 422
    error = (await response.get_json())["error"]
    assert error["code"] == "invalid_query"
    assert error["message"].startswith(f"{name} must be a whole number")
    assert repr(value) in error["message"]


async def test_ascii_digits_still_work(client: quart.typing.TestClientProtocol) -> None:
    for path, query in [
        ("/api/signals", {"limit": "5"}),
        ("/api/trades", {"limit": "500"}),
        ("/api/events", {"after": "0"}),
    ]:
        response = await client.get(path, headers=AUTH, query_string=query)
        assert response.status_code == 200, (path, await response.get_json())


async def test_an_unknown_query_parameter_is_named(client: quart.typing.TestClientProtocol) -> None:
    response = await client.get("/api/signals", headers=AUTH, query_string={"bots": "x"})
    assert response.status_code == 422
    message = (await response.get_json())["error"]["message"]
    assert message == "unknown query parameter(s) bots; this route takes bot, state, limit"


# ---- item 8: duplicate JSON keys -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/api/signals/1/approve", b'{"quantity": 1, "quantity": 12}', "quantity"),
        ("/api/signals/1/approve", b'{"stop_loss": 52000, "take_profit": 54000, "stop_loss": 60000}', "stop_loss"),
        ("/api/halt", b'{"reason": "a", "reason": "b"}', "reason"),
        ("/api/signals/1/reject", b'{"x": {"y": 1, "y": 2}}', "y"),
    ],
)
async def test_a_key_given_twice_is_refused_naming_it(
    desk_and_client: tuple[Services, quart.typing.TestClientProtocol], path: str, body: bytes, key: str
) -> None:
    services, client = desk_and_client
    queries = services.use_cases.queries
    response = await client.post(path, headers=AUTH, data=body)
    assert response.status_code == 422
    assert (await response.get_json())["error"] == {
        "code": "duplicate_field",
        "message": f'field "{key}" appears twice in the body; send each field once',
    }
    assert (await queries.control()).halted is False


async def test_the_twice_given_quantity_buys_nothing(
    sqlite_database: Database, desk_and_client: tuple[Services, quart.typing.TestClientProtocol]
) -> None:
    services, client = desk_and_client
    queries = services.use_cases.queries
    await add_bot(sqlite_database, mode="approve")
    answer = await client.post(
        f"/webhook/{KEY}", data=json.dumps({"action": "RSI_LONG_ENTRY", "price": 53210.5}).encode()
    )
    signal_id = (await answer.get_json())["signal_id"]
    await services.use_cases.steps.advance(signal_id)

    response = await client.post(
        f"/api/signals/{signal_id}/approve", headers=AUTH, data=b'{"quantity":1,"quantity":12}'
    )
    assert response.status_code == 422
    view = await queries.signal_view(signal_id)
    assert view is not None and view.signal.state.value == "pending_approval"
    assert view.orders == ()


async def test_a_body_is_read_as_json_whatever_its_content_type(client: quart.typing.TestClientProtocol) -> None:
    # What `curl -d` sends: application/x-www-form-urlencoded.
    headers = AUTH | {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post("/api/halt", headers=headers, data=b'{"reason": "from curl"}')
    assert response.status_code == 200, await response.get_json()


# ---- item 11: headers and framing ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/bots", None, 200),
        ("GET", "/api/signals?limit=%C2%B2", None, 422),
        ("GET", "/api/signals/424242", None, 404),
        ("GET", "/api/no-such-route", None, 404),
        ("POST", "/api/halt", b"not json", 400),
        ("POST", "/api/halt", b'{"reason": "' + b"x" * 70_000 + b'"}', 413),
        ("POST", "/api/resume", b"{}", 200),
    ],
)
async def test_every_api_answer_is_nosniff_and_no_store(
    client: quart.typing.TestClientProtocol, method: str, path: str, body: bytes | None, status: int
) -> None:
    response = await client.open(path, method=method, headers=AUTH, data=body)
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("configured", "status"), [(None, 401), (TOKEN, 401)])
async def test_refusals_before_the_route_are_nosniff_and_no_store_too(
    sqlite_database: Database, configured: str | None, status: int
) -> None:
    client = create_app(make_deps(sqlite_database, api_token=configured)).test_client()
    response = await client.get("/api/positions", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


async def _raw_exchange(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()  # the server closes the connection after refusing
    finally:
        writer.close()
        await writer.wait_closed()


def _both_framings(path: str, body: bytes, extra: str = "") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{extra}"
        f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head.encode() + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


async def test_content_length_with_transfer_encoding_is_400_over_real_hypercorn(
    sqlite_database: Database,
) -> None:
    # Hypercorn (h11) lets such a request through, Transfer-Encoding winning; a proxy in
    # front may have read it by Content-Length instead, so the app refuses it.
    await add_bot(sqlite_database, mode="auto")
    deps = make_deps(sqlite_database, api_token=TOKEN)
    async with running(create_app(deps)) as url:
        halt = await _raw_exchange(
            url, _both_framings("/api/halt", b'{"reason": "smuggled"}', f"Authorization: Bearer {TOKEN}\r\n")
        )
        alert = json.dumps({"action": "RSI_LONG_ENTRY", "price": 53210.5}).encode()
        webhook = await _raw_exchange(url, _both_framings(f"/webhook/{KEY}", alert))
    for answer in (halt, webhook):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), answer
        assert json.loads(body)["error"]["code"] == "ambiguous_length"
    assert b"x-content-type-options: nosniff" in halt.lower()
    assert (await deps.use_cases.queries.control()).halted is False
    assert await deps.use_cases.queries.signals(None, None, limit=10) == []
