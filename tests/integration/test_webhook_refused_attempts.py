"""Refused attempts are limited on their own (issue 15, item 10): wrong passphrases, bad
signatures and unknown keys never use up the rate limit of a key's real alerts."""

from __future__ import annotations

import json
from collections import Counter
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


async def test_an_address_over_its_limit_is_refused_before_its_guess_is_judged(sqlite_database: Database) -> None:
    await add_bot(sqlite_database, passphrase="the-right-one")
    await add_bot(sqlite_database, bot_name="Other", webhook_key="other_key_0123456789abcdef0123")
    deps = make_deps(sqlite_database, failed_rate_per_ip=0.001, failed_burst_per_ip=3, failed_rate_per_key=0)
    client = create_app(deps).test_client()
    guesses = [(await post(client, "6.6.6.6", alert(n, f"guess-{n}"))).status_code for n in range(3)]
    unknown = await post(client, "6.6.6.6", alert(9, "x"), key="no_such_key_0123456789abcdef")
    # Even the right passphrase: a guesser over the limit learns nothing more.
    right = await post(client, "6.6.6.6", alert(10, "the-right-one"))
    elsewhere = await post(client, TRADINGVIEW, alert(11, "the-right-one"))
    assert guesses == [401, 401, 401]
    assert (unknown.status_code, right.status_code) == (429, 429)
    message = (await right.get_json())["error"]["message"]
    assert message.startswith("too many refused attempts from 6.6.6.6")
    assert elsewhere.status_code == 200
