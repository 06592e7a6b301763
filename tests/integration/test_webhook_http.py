"""POST /webhook/<key> over real HTTP on loopback: Hypercorn, the real app, a real SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.database import Database
from tests.integration.web_support import KEY, SystemClock, add_bot, make_deps, running
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.records import WebhookLogEntry
from trading.services.intake import Intake
from web.app import create_app
from web.deps import Draining
from web.errors import status_for

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "alerts"


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def sample(name: str) -> tuple[bytes, str]:
    """A sample body with its "time" set to now (when it is JSON with a time), and its content type."""
    raw = (SAMPLES / name).read_bytes()
    if name.endswith(".json"):
        data = json.loads(raw)
        if "time" in data:
            data["time"] = now_iso()
        return json.dumps(data).encode(), "application/json"
    return raw, "text/plain; charset=utf-8"


def sample_names() -> list[str]:
    """Every sample, good and bad; a missing or empty folder fails collection, never skips."""
    assert SAMPLES.is_dir(), f"sample alerts folder {SAMPLES} is missing"
    names = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".json", ".txt"))
    assert any(n.startswith("bad_") for n in names), f"no bad_* samples in {SAMPLES}"
    assert any(not n.startswith("bad_") for n in names), f"no good samples in {SAMPLES}"
    return names


async def logs(db: Database) -> list[WebhookLogEntry]:
    async with db.uow() as uow:
        return list(reversed(await uow.webhook_logs.list(limit=1000)))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


def body(**fields: Any) -> bytes:
    return json.dumps({"action": "RSI_LONG_ENTRY", "price": 53210.5, "time": now_iso()} | fields).encode()


@pytest.mark.parametrize("name", sample_names())
async def test_every_sample_is_answered_as_its_name_says(
    sqlite_database: Database, client: httpx.AsyncClient, name: str
) -> None:
    await add_bot(sqlite_database)
    raw, content_type = sample(name)
    async with running(create_app(make_deps(sqlite_database))) as url:
        response = await client.post(f"{url}/webhook/{KEY}", content=raw, headers={"Content-Type": content_type})

    answer = response.json()
    expected = re.match(r"bad_(\d{3})_", name)
    if expected:
        assert response.status_code == int(expected.group(1)), answer
        assert set(answer) == {"error"}
        assert answer["error"]["code"] and answer["error"]["message"]
        [row] = await logs(sqlite_database)
        assert (row.status, row.outcome) == (int(expected.group(1)), "refused")
        assert row.reason is not None and answer["error"]["code"] in row.reason
    else:
        assert response.status_code == 200, answer
        assert answer["status"] == "accepted"
        assert answer["mode"] == "auto"
        assert isinstance(answer["signal_id"], int)
        [row] = await logs(sqlite_database)
        assert (row.status, row.outcome, row.signal_id) == (200, "accepted", answer["signal_id"])
        assert "change-me" not in row.body


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("bad_422_missing_price.json", "price"),
        ("bad_422_placeholder_string.json", "price"),
        ("bad_422_unknown_action.json", "action"),
        ("bad_422_unreplaced_placeholder.txt", "price"),
    ],
)
async def test_422_messages_name_the_field(
    sqlite_database: Database, client: httpx.AsyncClient, name: str, field: str
) -> None:
    await add_bot(sqlite_database)
    raw, content_type = sample(name)
    async with running(create_app(make_deps(sqlite_database))) as url:
        response = await client.post(f"{url}/webhook/{KEY}", content=raw, headers={"Content-Type": content_type})
    assert response.status_code == 422
    assert f'"{field}"' in response.json()["error"]["message"]


async def test_json_sent_as_text_plain_is_accepted(sqlite_database: Database, client: httpx.AsyncClient) -> None:
    await add_bot(sqlite_database)
    async with running(create_app(make_deps(sqlite_database))) as url:
        response = await client.post(f"{url}/webhook/{KEY}", content=body(), headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.json()["status"]) == (200, "accepted")


async def test_answers_are_json_no_cache_keeps(sqlite_database: Database, client: httpx.AsyncClient) -> None:
    await add_bot(sqlite_database)
    async with running(create_app(make_deps(sqlite_database))) as url:
        accepted = await client.post(f"{url}/webhook/{KEY}", content=body())
        refused = await client.post(f"{url}/webhook/{KEY}", content=b"{not json")
    assert (accepted.status_code, refused.status_code) == (200, 400)
    for answer in (accepted, refused):
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"
        assert "Content-Security-Policy" not in answer.headers  # a page's header: this is no page


async def test_unknown_key_and_wrong_passphrase_get_one_answer(
    sqlite_database: Database, client: httpx.AsyncClient
) -> None:
    await add_bot(sqlite_database, passphrase="change-me")
    async with running(create_app(make_deps(sqlite_database))) as url:
        unknown = await client.post(f"{url}/webhook/not_a_key_at_all", content=body(passphrase="change-me"))
        wrong = await client.post(f"{url}/webhook/{KEY}", content=body(passphrase="nope"))
        missing = await client.post(f"{url}/webhook/{KEY}", content=body())
    assert unknown.status_code == wrong.status_code == missing.status_code == 401
    assert unknown.json() == wrong.json() == missing.json()
    assert unknown.json()["error"]["code"] == "unauthorized"


async def test_100_identical_concurrent_alerts_create_one_signal(
    sqlite_database: Database, client: httpx.AsyncClient
) -> None:
    bot = await add_bot(sqlite_database)
    raw = body(id="SA40-concurrent-1")
    woken: list[int] = []
    limits = httpx.Limits(max_connections=100)
    intake = Intake(
        sqlite_database.uow, SystemClock(), wake=woken.append, status_of=status_for, passphrases=TEST_PASSPHRASES
    )
    async with (
        running(create_app(make_deps(sqlite_database, intake=intake))) as url,
        httpx.AsyncClient(timeout=30, limits=limits) as many,
    ):
        answers = await asyncio.gather(*(many.post(f"{url}/webhook/{KEY}", content=raw) for _ in range(100)))

    assert all(a.status_code == 200 for a in answers)
    statuses = [a.json()["status"] for a in answers]
    assert statuses.count("accepted") == 1
    assert statuses.count("duplicate") == 99
    assert len({a.json()["signal_id"] for a in answers}) == 1
    repeat = next(a.json() for a in answers if a.json()["status"] == "duplicate")
    assert repeat["reason"] == 'same id "SA40-concurrent-1"'
    assert repeat["message"] == (
        f'this alert repeats signal {repeat["signal_id"]} (same id "SA40-concurrent-1"); nothing new was created'
    )
    assert woken == [bot.id]  # once, for the one accepted signal
    async with sqlite_database.uow() as uow:
        assert len(await uow.signals.list(limit=1000)) == 1
    assert len(await logs(sqlite_database)) == 100


async def test_body_over_the_limit_is_413_without_being_stored(
    sqlite_database: Database, client: httpx.AsyncClient
) -> None:
    await add_bot(sqlite_database)
    padding = " " * (64 * 1024)
    big = body(note=padding)
    assert len(big) > 64 * 1024

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the server must stop on the bytes it actually receives.
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    async with running(create_app(make_deps(sqlite_database))) as url:
        declared = await client.post(f"{url}/webhook/{KEY}", content=big)
        streamed = await client.post(f"{url}/webhook/{KEY}", content=chunks())
        just_fits = await client.post(f"{url}/webhook/{KEY}", content=body(note=" " * (60 * 1024)))

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
        assert "65536 bytes" in response.json()["error"]["message"]
    assert just_fits.status_code == 200
    rows = await logs(sqlite_database)
    assert [(r.status, r.outcome) for r in rows] == [(413, "refused"), (413, "refused"), (200, "accepted")]


async def test_rate_limit_per_address_answers_429_with_retry_after(
    sqlite_database: Database, client: httpx.AsyncClient
) -> None:
    await add_bot(sqlite_database)
    deps = make_deps(sqlite_database, rate_per_ip=0.5, burst_per_ip=3)
    async with running(create_app(deps)) as url:
        answers = [await client.post(f"{url}/webhook/{KEY}", content=body(price=53210 + i)) for i in range(4)]
        answers.append(await client.post(f"{url}/webhook/no_such_key_0123456789", content=body(price=53300)))
    # Over the address's limit, only a request that fails to verify is refused: TradingView
    # sends every user's alerts from four addresses (issue 25, item 1).
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    answers = answers[1:]
    assert answers[3].json()["error"]["code"] == "rate_limited"
    assert "127.0.0.1" in answers[3].json()["error"]["message"]
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert (await logs(sqlite_database))[-1].status == 429


async def test_rate_limit_per_key_leaves_other_keys_alone(sqlite_database: Database, client: httpx.AsyncClient) -> None:
    await add_bot(sqlite_database)
    await add_bot(sqlite_database, bot_name="Other", webhook_key="other_key_9876")
    deps = make_deps(sqlite_database, rate_per_key=0.5, burst_per_key=2)
    async with running(create_app(deps)) as url:
        first = [await client.post(f"{url}/webhook/{KEY}", content=body(price=53210 + i)) for i in range(3)]
        other = await client.post(f"{url}/webhook/other_key_9876", content=body())
    assert [a.status_code for a in first] == [200, 200, 429]
    assert "webhook key" in first[2].json()["error"]["message"]
    assert other.status_code == 200


async def test_allowlist_refuses_other_addresses(sqlite_database: Database, client: httpx.AsyncClient) -> None:
    await add_bot(sqlite_database)
    async with running(create_app(make_deps(sqlite_database, ip_allowlist=["52.89.214.238"]))) as url:
        refused = await client.post(f"{url}/webhook/{KEY}", content=body())
    async with running(create_app(make_deps(sqlite_database, ip_allowlist=["127.0.0.0/8"]))) as url:
        allowed = await client.post(f"{url}/webhook/{KEY}", content=body())
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "address_not_allowed",
        "message": "alerts are not taken from address 127.0.0.1",
    }
    assert allowed.status_code == 200


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    sqlite_database: Database, client: httpx.AsyncClient
) -> None:
    await add_bot(sqlite_database)
    tv = "52.89.214.238"
    spoofed = {"X-Forwarded-For": f"6.6.6.6, {tv}"}
    async with running(create_app(make_deps(sqlite_database, ip_allowlist=[tv]))) as url:
        untrusted = await client.post(f"{url}/webhook/{KEY}", content=body(), headers={"X-Forwarded-For": tv})
    deps = make_deps(sqlite_database, ip_allowlist=[tv], trusted_proxies=["127.0.0.1"])
    async with running(create_app(deps)) as url:
        trusted = await client.post(f"{url}/webhook/{KEY}", content=body(price=1), headers=spoofed)
        forged_only = await client.post(
            f"{url}/webhook/{KEY}", content=body(price=2), headers={"X-Forwarded-For": f"{tv}, 6.6.6.6"}
        )

    assert untrusted.status_code == 403  # the header is ignored: the peer is not a trusted proxy
    assert trusted.status_code == 200  # the proxy's own hop (rightmost) is TradingView
    assert forged_only.status_code == 403  # the client wrote the TradingView address; the proxy saw 6.6.6.6
    assert [r.client_ip for r in await logs(sqlite_database)] == ["127.0.0.1", tv, "6.6.6.6"]


async def test_signed_alerts_over_http(sqlite_database: Database, client: httpx.AsyncClient) -> None:
    secret = "signing-secret-for-tests"
    await add_bot(sqlite_database, signing_secret=secret)
    raw = body()
    stamp = str(int(datetime.now(UTC).timestamp()))
    signature = "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    async with running(create_app(make_deps(sqlite_database))) as url:
        unsigned = await client.post(f"{url}/webhook/{KEY}", content=raw)
        signed = await client.post(
            f"{url}/webhook/{KEY}",
            content=raw,
            headers={"X-Signature": signature, "X-Signature-Timestamp": stamp},
        )
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (401, "bad_signature")
    assert (signed.status_code, signed.json()["status"]) == (200, "accepted")


async def test_draining_answers_503_and_logs_it(sqlite_database: Database, client: httpx.AsyncClient) -> None:
    await add_bot(sqlite_database)
    draining = Draining()
    async with running(create_app(make_deps(sqlite_database, draining=draining))) as url:
        before = await client.post(f"{url}/webhook/{KEY}", content=body(price=1))
        draining.set()
        during = await client.post(f"{url}/webhook/{KEY}", content=body(price=2))
    assert before.status_code == 200
    assert (during.status_code, during.json()["error"]["code"]) == (503, "shutting_down")
    assert [(r.status, r.outcome) for r in await logs(sqlite_database)] == [(200, "accepted"), (503, "refused")]


async def test_a_failing_wake_does_not_spoil_the_answer(
    sqlite_database: Database, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await add_bot(sqlite_database)

    def broken(bot_id: int) -> None:
        raise RuntimeError(f"runner gone ({bot_id})")

    intake = Intake(sqlite_database.uow, SystemClock(), wake=broken, status_of=status_for, passphrases=TEST_PASSPHRASES)
    async with running(create_app(make_deps(sqlite_database, intake=intake))) as url:
        response = await client.post(f"{url}/webhook/{KEY}", content=body())
    assert (response.status_code, response.json()["status"]) == (200, "accepted")
    async with sqlite_database.uow() as uow:
        assert [s.id for s in await uow.signals.list()] == [response.json()["signal_id"]]
    assert "runner gone" in caplog.text


async def test_database_down_answers_503_not_accepted(
    sqlite_database: Database, client: httpx.AsyncClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = Database(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db")
    deps = make_deps(sqlite_database)
    deps.intake = Intake(gone.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    try:
        async with running(create_app(deps)) as url:
            response = await client.post(f"{url}/webhook/{KEY}", content=body())
    finally:
        await gone.dispose()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert "not accepted" in response.json()["error"]["message"]
    assert any("alert not stored" in r.getMessage() for r in caplog.records)


async def test_refusals_are_logged_without_the_key_or_passphrase(
    sqlite_database: Database, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await add_bot(sqlite_database, passphrase="change-me-secret")
    caplog.set_level("INFO", logger="signaldesk")
    async with running(create_app(make_deps(sqlite_database))) as url:
        await client.post(f"{url}/webhook/{KEY}", content=body(passphrase="wrong-passphrase-x"))
        await client.post(f"{url}/webhook/{KEY}", content=body(passphrase="change-me-secret"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused 401 unauthorized" in text
    assert "…9a3c" in text
    for secret in (KEY, "change-me-secret", "wrong-passphrase-x"):
        assert secret not in text


async def test_wrong_method_gets_a_json_error(sqlite_database: Database, client: httpx.AsyncClient) -> None:
    async with running(create_app(make_deps(sqlite_database))) as url:
        response = await client.get(f"{url}/webhook/{KEY}")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]
