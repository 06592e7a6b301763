"""A correct alert always gets through (issue 25, item 1). TradingView sends every user's
alerts from four shared addresses, so the failures of "an address" are other people's
failures. Over the real `signaldesk serve` with its default limits of refused attempts,
1,000 failing requests (wrong passphrases for a real key, unknown keys) interleaved with
100 correct alerts, all from 127.0.0.1: every correct alert is accepted, and the failing
ones are answered 429 once over the limit.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.procs import Processes, now_iso, processes, sim_config
from web.limits import WebhookLimits

pytestmark = pytest.mark.slow

KEY = "shared_sender_bot_key_0123456789abcdef"
PASSPHRASE = "the-right-passphrase"
CORRECT = 100
FAILING = 1000


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def test_correct_alerts_get_through_a_flood_of_failures_from_their_address(procs: Processes, tmp_path: Path) -> None:
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={"SA40": "53210.5"}))
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}", sim)
    procs.import_bots(
        env,
        [
            {
                "bot_name": "Shared_Sender",
                "symbol": "SA40",
                "broker_account": "Paper",
                "mode": "auto",
                "base_position_size": 1,
                "max_positions": 3,
                "allow_pyramiding": True,
                "webhook_key": KEY,
                "passphrase": PASSPHRASE,
                "max_slippage_pct": "1.0",
            }
        ],
    )
    serve = procs.serve(env)
    defaults = WebhookLimits.model_fields
    rate = float(defaults["failed_rate_per_ip"].default)
    burst = int(defaults["failed_burst_per_ip"].default)

    correct: list[httpx.Response] = []
    failing: list[int] = []
    started = time.monotonic()
    with httpx.Client(base_url=serve.base_url, timeout=10.0) as http:
        for n in range(CORRECT + FAILING):
            if n % 11 == 0:  # every 11th: a correct alert
                body = {"action": "RSI_LONG_ENTRY", "price": "53210.5", "time": now_iso(), "id": f"ok-{n}"}
                correct.append(http.post(f"/webhook/{KEY}", json=body | {"passphrase": PASSPHRASE}))
                continue
            body = {"action": "RSI_LONG_ENTRY", "price": "53210.5", "time": now_iso(), "passphrase": f"guess-{n}"}
            key = KEY if n % 2 else f"unknown_{secrets.token_hex(16)}"  # wrong passphrases and unknown keys
            failing.append(http.post(f"/webhook/{key}", json=body).status_code)
    elapsed = time.monotonic() - started

    assert len(correct) == CORRECT and len(failing) == FAILING
    answers = Counter((r.status_code, r.json().get("status")) for r in correct)
    assert answers == Counter({(200, "accepted"): CORRECT}), [r.text for r in correct if r.status_code != 200][:3]
    assert set(failing) <= {401, 429}, Counter(failing)
    # The address's burst of refused attempts is answered 401; from then on every failing
    # request is answered 429, but for the tokens that came back while the test ran.
    first_429 = failing.index(429)
    assert first_429 == burst, failing[: burst + 5]
    refilled = int(rate * elapsed) + 1
    assert failing[first_429:].count(401) <= refilled, (Counter(failing), elapsed)
    assert len(serve.signals()) == CORRECT
