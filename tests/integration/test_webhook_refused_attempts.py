"""Refused attempts are limited on their own (issue 15, item 10): wrong passphrases, bad
signatures and unknown keys never use up the rate limit of a key's real alerts. And the
failure limits refuse only failing requests (issue 25, item 1): an alert whose key and
passphrase (and signature) verify is taken from any address, however many failures came
from it."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import quart.typing

from db.database import Database
from tests.integration.web_support import KEY, add_bot, make_deps
from web.app import create_app

TRADINGVIEW = "52.89.214.238"


def alert(n: int, passphrase: str) -> bytes:
    return json.dumps({"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": f"a{n}", "passphrase": passphrase}).encode()


async def post(client: quart.typing.TestClientProtocol, address: str, body: bytes, key: str = KEY) -> Any:
    return await client.post(
        f"/webhook/{key}",
        data=body,
        headers={"Content-Type": "application/json"},
        scope_base={"client": (address, 40000)},
    )


async def test_a_flood_of_wrong_passphrases_does_not_starve_the_good_alerts(sqlite_database: Database) -> None:
    await add_bot(sqlite_database, passphrase="the-right-one")
    deps = make_deps(
        sqlite_database,
        rate_per_key=0.001,
        burst_per_key=1000,  # exactly the good alerts' worth
        failed_rate_per_ip=0.001,
        failed_burst_per_ip=10,
        failed_rate_per_key=0.001,
        failed_burst_per_key=30,
    )
    client = create_app(deps).test_client()
    good: Counter[int] = Counter()
    bad: list[int] = []
    for n in range(1000):
        good[(await post(client, TRADINGVIEW, alert(n, "the-right-one"))).status_code] += 1
        # Spread over 50 addresses, so the key's own limit of refused attempts is what stops them.
        bad.append((await post(client, f"6.6.6.{n % 50}", alert(n, f"guess-{n}"))).status_code)
    assert good == Counter({200: 1000})
    assert bad == [401] * 30 + [429] * 970


async def test_an_address_over_its_limit_refuses_its_failures_never_a_correct_alert(sqlite_database: Database) -> None:
    # Issue 25, item 1: TradingView sends every user's alerts from four shared addresses, so
    # an address's failures are other people's failures too.
    await add_bot(sqlite_database, passphrase="the-right-one")
    await add_bot(sqlite_database, bot_name="Other", webhook_key="other_key_0123456789abcdef0123")
    deps = make_deps(sqlite_database, failed_rate_per_ip=0.001, failed_burst_per_ip=3, failed_rate_per_key=0)
    client = create_app(deps).test_client()
    guesses = [(await post(client, TRADINGVIEW, alert(n, f"guess-{n}"))).status_code for n in range(3)]
    unknown = await post(client, TRADINGVIEW, alert(9, "x"), key="no_such_key_0123456789abcdef")
    wrong = await post(client, TRADINGVIEW, alert(10, "guess-again"))
    garbled = await post(client, TRADINGVIEW, b"{not json")
    right = await post(client, TRADINGVIEW, alert(11, "the-right-one"))
    assert guesses == [401, 401, 401]
    assert (unknown.status_code, wrong.status_code, garbled.status_code) == (429, 429, 429)
    message = (await wrong.get_json())["error"]["message"]
    assert message.startswith(f"too many refused attempts from {TRADINGVIEW}")
    assert int(wrong.headers["Retry-After"]) >= 1

    # The same answer for a known key and an unknown one: the limit tells a guesser nothing
    # (but for the wait, which shrinks between the two requests: "retry in 1000.0 s", "999.9 s").
    def without_the_wait(text: str) -> str:
        return re.sub(r"retry in [0-9.]+ s$", "retry in N s", text)

    assert without_the_wait((await unknown.get_json())["error"]["message"]) == without_the_wait(message)
    assert re.search(r"retry in [0-9.]+ s$", message), message
    assert right.status_code == 200
    # The webhook log records what was answered.
    async with sqlite_database.uow() as uow:
        statuses = [e.status for e in reversed(await uow.webhook_logs.list())]
    assert statuses == [401, 401, 401, 429, 429, 429, 200]


async def test_a_signed_bot_over_the_limit_takes_a_good_signature_and_refuses_a_bad_one(
    sqlite_database: Database,
) -> None:
    secret = "signing-secret-for-tests"
    await add_bot(sqlite_database, passphrase="the-right-one", signing_secret=secret)
    deps = make_deps(sqlite_database, failed_rate_per_ip=0.001, failed_burst_per_ip=1, failed_rate_per_key=0)
    client = create_app(deps).test_client()

    async def signed(n: int, good: bool) -> int:
        raw = alert(n, "the-right-one")
        stamp = str(int(datetime.now(UTC).timestamp()))
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        response = await client.post(
            f"/webhook/{KEY}",
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Signature": "sha256=" + (mac if good else "0" * 64),
                "X-Signature-Timestamp": stamp,
            },
            scope_base={"client": (TRADINGVIEW, 40000)},
        )
        return int(response.status_code)

    # The right passphrase with a bad signature does not verify: it counts as a failure.
    assert [await signed(0, good=False), await signed(1, good=False), await signed(2, good=True)] == [401, 429, 200]


async def test_a_verified_alert_refused_for_its_own_reasons_is_answered_as_such_over_the_limit(
    sqlite_database: Database,
) -> None:
    await add_bot(sqlite_database, passphrase="the-right-one")
    deps = make_deps(sqlite_database, failed_rate_per_ip=0.001, failed_burst_per_ip=1, failed_rate_per_key=0)
    client = create_app(deps).test_client()
    assert (await post(client, TRADINGVIEW, alert(0, "guess"))).status_code == 401
    wrong_ticker = json.dumps({**json.loads(alert(1, "the-right-one")), "ticker": "XYZ"}).encode()
    response = await post(client, TRADINGVIEW, wrong_ticker)
    # Verified (its key and passphrase are right): its own refusal, not the failure limit's.
    assert (response.status_code, (await response.get_json())["error"]["code"]) == (422, "wrong_ticker")
