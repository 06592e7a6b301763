"""Nothing accepted is stranded when senders hang up: the real `signaldesk serve` takes
hundreds of alerts from clients that close their connection right after sending the body
(as TradingView does when an answer is slow). Every body that arrived whole is stored, and
every stored signal reaches a final state while the server runs, not at the next restart.
The bound is generous: the one bot executes its 300 signals one at a time, each with its
durable commits; what is measured here is that none is left behind.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.procs import Processes, now_iso, processes, sim_config, wait_until

pytestmark = pytest.mark.slow

ALERTS = 300
KEY = "hangup_paper_bot_key_0123456789abcdef"
FINAL = {"executed", "refused", "ignored", "failed", "rejected", "expired"}


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def send_and_hang_up(base_url: str, body: dict[str, Any]) -> None:
    url = urlsplit(base_url)
    payload = json.dumps(body).encode()
    head = (
        f"POST /webhook/{KEY} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(head + payload)
    # closed at once: the answer is never read


def test_alerts_from_senders_that_hang_up_all_reach_a_final_state(procs: Processes, tmp_path: Path) -> None:
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={"SA40": "53210.5"}))
    sim.set_quote("SA40", "53210", "53211")
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}", sim)
    procs.import_bots(
        env,
        [
            {
                "bot_name": "Hangup_Paper",
                "symbol": "SA40",
                "broker_account": "Paper",
                "mode": "auto",
                "base_position_size": 1,
                "max_positions": 3,
                "allow_pyramiding": True,
                "webhook_key": KEY,
                "max_slippage_pct": "1.0",
            }
        ],
    )
    serve = procs.serve(env)
    bodies = [
        {
            "action": "RSI_LONG_ENTRY" if n % 2 == 0 else "RSI_CLOSE_LONG",
            "price": "53210.5",
            "time": now_iso(),
            "id": f"hangup-{n}",
        }
        for n in range(ALERTS)
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda b: send_and_hang_up(serve.base_url, b), bodies))

    def all_final() -> list[dict[str, Any]] | None:
        signals = serve.signals(limit=500)
        stored_by_now = len(signals) > 0 and time.monotonic() - started > 1.0
        return signals if stored_by_now and all(s["state"] in FINAL for s in signals) else None

    try:
        signals = wait_until(all_final, 90.0, "every stored signal to reach a final state", interval=0.25)
    except TimeoutError:
        states = Counter(s["state"] for s in serve.signals(limit=500))
        raise AssertionError(f"signals left unfinished: {states}\n{serve.process.output()}") from None
    states = Counter(s["state"] for s in signals)
    # A body that arrived whole is stored, whatever the sender did next.
    assert len(signals) == ALERTS, states
    assert states["executed"] > 0, states
